"""Leakage audit: checks that catch a column filled in after the outcome before it ships."""

from leadml.audit._events import audit_events, fast_audit
from leadml.audit._flat import audit_flat
from leadml.audit._report import EXIT_FINDINGS, SEVERITIES, AuditReport
from leadml.audit._separation import SEVERE_AUC, WARN_AUC, separation

__all__ = [
    "EXIT_FINDINGS",
    "SEVERE_AUC",
    "SEVERITIES",
    "WARN_AUC",
    "AuditReport",
    "audit_events",
    "audit_flat",
    "fast_audit",
    "separation",
]
