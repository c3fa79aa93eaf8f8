"""Reasons a sales rep can read: exact tree contributions, grouped and worded, plus global drivers."""

from leadml.explain._explainer import REASON_COLUMNS, Explainer, reason_columns
from leadml.explain._trees import TreeExplainer, feature_matrix
from leadml.explain._wording import DEFAULT_WORDING, Group, describe, feature_groups

__all__ = [
    "DEFAULT_WORDING",
    "REASON_COLUMNS",
    "Explainer",
    "Group",
    "TreeExplainer",
    "describe",
    "feature_groups",
    "feature_matrix",
    "reason_columns",
]
