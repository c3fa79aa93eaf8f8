"""Scoring outputs: account roll-ups, capacity-aware thresholds, atomic writers."""

from leadml.io import write_table
from leadml.scoring._outputs import account_rollup, capacity_threshold

__all__ = ["account_rollup", "capacity_threshold", "write_table"]
