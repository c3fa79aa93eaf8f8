"""Rules baseline: a points scorecard (fit + engagement, decay, caps, grades, bands) from YAML,
hand-written or learned from data (:func:`learn_scorecard`)."""

from leadml.rules._config import ScorecardConfig
from leadml.rules._inputs import input_columns, scorecard_inputs
from leadml.rules._learn import LearnReport, compare_scorecards, learn_scorecard, write_scorecard
from leadml.rules._scorecard import PointsScorecard, load_rules

__all__ = [
    "LearnReport",
    "PointsScorecard",
    "ScorecardConfig",
    "compare_scorecards",
    "input_columns",
    "learn_scorecard",
    "load_rules",
    "scorecard_inputs",
    "write_scorecard",
]
