"""Rules baseline: a points scorecard (fit + engagement, decay, caps, grades, bands) from YAML."""

from leadml.rules._config import ScorecardConfig
from leadml.rules._inputs import input_columns, scorecard_inputs
from leadml.rules._scorecard import PointsScorecard, load_rules

__all__ = ["PointsScorecard", "ScorecardConfig", "input_columns", "load_rules", "scorecard_inputs"]
