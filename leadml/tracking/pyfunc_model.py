"""The leadml MLflow model (models-from-code): wraps a LeadScoringModel directory.

MLflow copies this file into the logged model and calls :func:`mlflow.models.set_model` on it.
Input: one row per lead to score (see :data:`leadml.tracking.INPUT_DOC`); output: the scoring
table with reasons, plus ``model_name`` and ``model_version``.
"""

from __future__ import annotations

import mlflow
from mlflow.pyfunc import PythonModel


class LeadmlPyfunc(PythonModel):
    """Scores leads with the LeadScoringModel stored in the ``leadml_model`` artifact."""

    def load_context(self, context):  # type: ignore[no-untyped-def]
        from leadml.modeling import LeadScoringModel

        self.model = LeadScoringModel.load(context.artifacts["leadml_model"])

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        from leadml.tracking._pyfunc import score_records

        return score_records(self.model, model_input, params or {})


mlflow.models.set_model(LeadmlPyfunc())
