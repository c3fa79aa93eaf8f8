"""Reasons a sales rep can read: exact tree contributions, grouped and worded, one lead's
waterfall, plus global drivers."""

from leadml.explain._explainer import REASON_COLUMNS, Explainer, reason_columns
from leadml.explain._trees import TreeExplainer, feature_matrix
from leadml.explain._waterfall import STEP_COLUMNS, LeadExplanation, reasons_waterfall
from leadml.explain._wording import DEFAULT_WORDING, Group, describe, feature_groups

__all__ = [
    "DEFAULT_WORDING",
    "REASON_COLUMNS",
    "STEP_COLUMNS",
    "Explainer",
    "Group",
    "LeadExplanation",
    "TreeExplainer",
    "describe",
    "feature_groups",
    "feature_matrix",
    "reason_columns",
    "reasons_waterfall",
]
