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
from leadml.schema._times import (
    EPOCH_UNITS,
    PLAUSIBLE,
    TEXT_FORMATS,
    parse_instant,
    parse_times,
)

__all__ = [
    "CONVERSIONS",
    "CUTOFFS",
    "EPOCH_UNITS",
    "EVENTS",
    "LEADS",
    "PLAUSIBLE",
    "TEXT_FORMATS",
    "ColumnMapping",
    "LeadData",
    "TableSpec",
    "parse_instant",
    "parse_times",
    "read_table",
    "to_utc",
    "validate_conversions",
    "validate_cutoffs",
    "validate_events",
    "validate_lead_data",
    "validate_leads",
]
