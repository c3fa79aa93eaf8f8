"""Leakage audit: checks that catch a column filled in after the outcome before it ships."""

from leadml.audit._separation import SEVERE_AUC, WARN_AUC, separation

__all__ = ["SEVERE_AUC", "WARN_AUC", "separation"]
