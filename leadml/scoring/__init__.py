"""Scoring: validate once, cut once, compute the measures once, predict, explain, attach the audit
columns (``score_leads``, ``explain_leads``); and what comes after the scores (account roll-ups,
capacity-aware thresholds, atomic writers)."""

from leadml.io import write_table
from leadml.scoring._batches import BatchScores, write_scores
from leadml.scoring._outputs import account_rollup, capacity_threshold
from leadml.scoring._scorer import (
    GLOBAL_SEGMENT,
    SCORE_COLUMNS,
    SEGMENT_COLUMN,
    STATUS_LOST,
    STATUS_NOT_CREATED,
    STATUS_OPEN,
    ScoringModel,
    compute_measures,
    empty_scores,
    explain_lead,
    explain_leads,
    requested_cutoffs,
    score_leads,
    segment_routes,
    segment_text,
    validate_inputs,
)

__all__ = [
    "GLOBAL_SEGMENT",
    "SCORE_COLUMNS",
    "SEGMENT_COLUMN",
    "STATUS_LOST",
    "STATUS_NOT_CREATED",
    "STATUS_OPEN",
    "BatchScores",
    "ScoringModel",
    "account_rollup",
    "capacity_threshold",
    "compute_measures",
    "empty_scores",
    "explain_lead",
    "explain_leads",
    "requested_cutoffs",
    "score_leads",
    "segment_routes",
    "segment_text",
    "validate_inputs",
    "write_scores",
    "write_table",
]
