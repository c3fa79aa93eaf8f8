"""Conversion models: LightGBM training, calibration, the LeadScoringModel bundle, training jobs."""

from leadml.modeling._bundle import SCORE_COLUMNS, LeadScoringModel, library_versions
from leadml.modeling._calibration import Calibrator, ScoreScale, fit_calibrator
from leadml.modeling._lgbm import (
    DEFAULT_PARAMS,
    SEARCH_GRID,
    FitInfo,
    default_params,
    train_booster,
)
from leadml.modeling._linear import LogisticBaseline
from leadml.modeling._train import DEFAULT_BANDS, TrainResult, evaluate_model, train, train_flat

__all__ = [
    "DEFAULT_BANDS",
    "DEFAULT_PARAMS",
    "SCORE_COLUMNS",
    "SEARCH_GRID",
    "Calibrator",
    "FitInfo",
    "LeadScoringModel",
    "LogisticBaseline",
    "ScoreScale",
    "TrainResult",
    "default_params",
    "evaluate_model",
    "fit_calibrator",
    "library_versions",
    "train",
    "train_booster",
    "train_flat",
]
