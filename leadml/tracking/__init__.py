"""MLflow integration: tracking, the leadml pyfunc model, registry aliases (optional for the API)."""

from leadml.tracking._mlflow import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION,
    load_model,
    load_registered,
    log_evaluation,
    log_training,
    promote,
    resolve_tracking_uri,
    rollback,
)
from leadml.tracking._pyfunc import INPUT_DOC, model_identity, records_from_tables, score_records

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "INPUT_DOC",
    "PREVIOUS_CHAMPION",
    "load_model",
    "load_registered",
    "log_evaluation",
    "log_training",
    "model_identity",
    "promote",
    "records_from_tables",
    "resolve_tracking_uri",
    "rollback",
    "score_records",
]
