"""Conversion models: the training protocol, LightGBM, calibration, the LeadScoringModel bundle."""

from leadml.modeling._bundle import SCORE_COLUMNS, LeadScoringModel, library_versions
from leadml.modeling._calibration import (
    ISOTONIC_MIN_POSITIVES,
    ISOTONIC_MIN_ROWS,
    PLATT_MIN_CLASS,
    Calibrator,
    ScoreScale,
    fit_calibrator,
)
from leadml.modeling._config import (
    DEFAULT_BANDS,
    BacktestConfig,
    CalibrationConfig,
    FeaturesConfig,
    LightGBMConfig,
    MinDataConfig,
    SegmentsConfig,
    TrainConfig,
    describe_validation_error,
)
from leadml.modeling._lgbm import (
    DEFAULT_PARAMS,
    SEARCH_GRID,
    FitInfo,
    default_params,
    refit_booster,
    train_booster,
)
from leadml.modeling._linear import LogisticBaseline
from leadml.modeling._procedure import Fitted, fit_procedure
from leadml.modeling._train import (
    NotEnoughDataError,
    TrainResult,
    check_min_data,
    evaluate_model,
    labelled_rows,
    rules_model,
    train,
    train_flat,
)

__all__ = [
    "DEFAULT_BANDS",
    "DEFAULT_PARAMS",
    "ISOTONIC_MIN_POSITIVES",
    "ISOTONIC_MIN_ROWS",
    "PLATT_MIN_CLASS",
    "SCORE_COLUMNS",
    "SEARCH_GRID",
    "BacktestConfig",
    "CalibrationConfig",
    "Calibrator",
    "FeaturesConfig",
    "FitInfo",
    "Fitted",
    "LeadScoringModel",
    "LightGBMConfig",
    "LogisticBaseline",
    "MinDataConfig",
    "NotEnoughDataError",
    "ScoreScale",
    "SegmentsConfig",
    "TrainConfig",
    "TrainResult",
    "check_min_data",
    "default_params",
    "describe_validation_error",
    "evaluate_model",
    "fit_calibrator",
    "fit_procedure",
    "labelled_rows",
    "library_versions",
    "refit_booster",
    "rules_model",
    "train",
    "train_booster",
    "train_flat",
]
