"""leadml: open, inspectable predictive lead scoring.

The names a data scientist uses, in one place:

    import leadml

    crm = leadml.make_crm(5_000, seed=0)
    res = leadml.train(crm.leads, crm.events, crm.conversions, every="7d",
                       rules="models/scorecard.yaml")
    model = leadml.load_model("models:/leadml@champion")   # or a model folder

The subpackages (``leadml.features``, ``leadml.modeling``, ``leadml.evaluation``, ...) hold the
rest. Names are imported on first use, so ``import leadml`` stays cheap (a scoring process does
not pay for MLflow or the training code it does not call).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from leadml._version import __version__

_EXPORTS = {
    # data
    "make_crm": "leadml.datasets",
    "CRMData": "leadml.datasets",
    "read_table": "leadml.schema",
    "validate_lead_data": "leadml.schema",
    "ColumnMapping": "leadml.schema",
    # point-in-time features
    "FeatureSpec": "leadml.features",
    "make_cutoffs": "leadml.features",
    "build_features": "leadml.features",
    "build_training_set": "leadml.features",
    "write_training_set": "leadml.features",
    # leakage audit
    "audit_flat": "leadml.audit",
    "audit_events": "leadml.audit",
    "AuditReport": "leadml.audit",
    # rules
    "PointsScorecard": "leadml.rules",
    "ScorecardConfig": "leadml.rules",
    # training and the model
    "train": "leadml.modeling",
    "train_flat": "leadml.modeling",
    "TrainConfig": "leadml.modeling",
    "TrainResult": "leadml.modeling",
    "evaluate_model": "leadml.modeling",
    "LeadScoringModel": "leadml.modeling",
    # evaluation
    "compare_models": "leadml.evaluation",
    "ComparisonReport": "leadml.evaluation",
    # MLflow and loading
    "load_model": "leadml.tracking",
    "model_identity": "leadml.tracking",
    "log_training": "leadml.tracking",
    "promote": "leadml.tracking",
    "rollback": "leadml.tracking",
    "score_spark": "leadml.tracking",
    # scoring outputs
    "account_rollup": "leadml.scoring",
    "capacity_threshold": "leadml.scoring",
    # errors
    "LeadmlError": "leadml.exceptions",
    "DataContractError": "leadml.exceptions",
    "ConfigError": "leadml.exceptions",
}

__all__ = [
    "AuditReport",
    "CRMData",
    "ColumnMapping",
    "ComparisonReport",
    "ConfigError",
    "DataContractError",
    "FeatureSpec",
    "LeadScoringModel",
    "LeadmlError",
    "PointsScorecard",
    "ScorecardConfig",
    "TrainConfig",
    "TrainResult",
    "__version__",
    "account_rollup",
    "audit_events",
    "audit_flat",
    "build_features",
    "build_training_set",
    "capacity_threshold",
    "compare_models",
    "evaluate_model",
    "load_model",
    "log_training",
    "make_crm",
    "make_cutoffs",
    "model_identity",
    "promote",
    "read_table",
    "rollback",
    "score_spark",
    "train",
    "train_flat",
    "validate_lead_data",
    "write_training_set",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'leadml' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from leadml.audit import AuditReport, audit_events, audit_flat
    from leadml.datasets import CRMData, make_crm
    from leadml.evaluation import ComparisonReport, compare_models
    from leadml.exceptions import ConfigError, DataContractError, LeadmlError
    from leadml.features import (
        FeatureSpec,
        build_features,
        build_training_set,
        make_cutoffs,
        write_training_set,
    )
    from leadml.modeling import (
        LeadScoringModel,
        TrainConfig,
        TrainResult,
        evaluate_model,
        train,
        train_flat,
    )
    from leadml.rules import PointsScorecard, ScorecardConfig
    from leadml.schema import ColumnMapping, read_table, validate_lead_data
    from leadml.scoring import account_rollup, capacity_threshold
    from leadml.tracking import (
        load_model,
        log_training,
        model_identity,
        promote,
        rollback,
        score_spark,
    )
