"""The data contract: tables, column mapping, reading and validation."""

from leadml.schema._contract import (
    CONVERSIONS,
    CUTOFFS,
    EVENTS,
    LEADS,
    LeadData,
    TableSpec,
    to_utc,
    validate_conversions,
    validate_cutoffs,
    validate_events,
    validate_lead_data,
    validate_leads,
)
from leadml.schema._io import read_table
from leadml.schema._mapping import ColumnMapping

__all__ = [
    "CONVERSIONS",
    "CUTOFFS",
    "EVENTS",
    "LEADS",
    "ColumnMapping",
    "LeadData",
    "TableSpec",
    "read_table",
    "to_utc",
    "validate_conversions",
    "validate_cutoffs",
    "validate_events",
    "validate_lead_data",
    "validate_leads",
]
