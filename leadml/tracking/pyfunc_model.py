"""The leadml MLflow model (models-from-code): wraps a LeadScoringModel directory.

MLflow copies this file into the logged model and calls :func:`mlflow.models.set_model` on it.
Input: one row per lead to score (see :data:`leadml.tracking.INPUT_DOC`); output: the scoring
table with reasons, plus ``model_name`` and ``model_version``.
"""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class LeadmlPyfunc(PythonModel):
    """Scores leads with the LeadScoringModel stored in the ``leadml_model`` artifact."""

    def load_context(self, context):  # type: ignore[no-untyped-def]
        from leadml.tracking._mlflow import load_model, registered_version_of_run

        self.model = load_model(context.artifacts["leadml_model"])
        meta = self.model.metadata
        if meta.get("registered_name") and meta.get("mlflow_run_id"):
            # the version is assigned after the model is logged: look it up once, at load
            version = registered_version_of_run(meta["registered_name"], meta["mlflow_run_id"])
            if version is not None:
                meta["registered_version"] = version

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        # A pandas type hint: MLflow infers no schema from it and validates nothing beyond the
        # logged signature (the input is one row per lead, with optional event lists).
        from leadml.tracking._pyfunc import score_records

        return score_records(self.model, model_input, params or {})


mlflow.models.set_model(LeadmlPyfunc())
