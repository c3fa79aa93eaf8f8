"""MLflow integration: tracking, the leadml pyfunc model, registry aliases (optional for the API)."""

from leadml.tracking._mlflow import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION,
    load_model,
    load_registered,
    log_evaluation,
    log_model_run,
    log_rules_model,
    log_to_run,
    log_training,
    promote,
    register_version,
    resolve_tracking_uri,
    rollback,
    version_info,
)
from leadml.tracking._pyfunc import INPUT_DOC, model_identity, records_from_tables, score_records
from leadml.tracking._registry import (
    RegistryError,
    alias_history,
    aliases,
    champion_periods,
    move_aliases,
    registry_client,
)
from leadml.tracking._spark import score_spark

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "INPUT_DOC",
    "PREVIOUS_CHAMPION",
    "RegistryError",
    "alias_history",
    "aliases",
    "champion_periods",
    "load_model",
    "load_registered",
    "log_evaluation",
    "log_model_run",
    "log_rules_model",
    "log_to_run",
    "log_training",
    "model_identity",
    "move_aliases",
    "promote",
    "records_from_tables",
    "register_version",
    "registry_client",
    "resolve_tracking_uri",
    "rollback",
    "score_records",
    "score_spark",
    "version_info",
]
