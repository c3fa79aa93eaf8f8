"""The input shape of the MLflow model and its conversion to leadml's tables."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from leadml.exceptions import DataContractError

__all__ = ["INPUT_DOC", "model_identity", "records_from_tables", "score_records"]

INPUT_DOC = """\
One row per lead to score (a batch is several rows; one lead is one row):

- ``lead_id`` (string) and ``created_at`` (ISO 8601 timestamp, UTC if no zone);
- ``as_of`` (ISO 8601, optional): when to score; missing -> now (UTC);
- the profile columns the model was trained on (missing values are fine);
- ``account_id`` (string, optional) when the model has account roll-ups: they are computed
  from the leads of that account in the same request;
- ``events`` (string, optional): a JSON array of the lead's events,
  ``[{"timestamp": "...", "event_type": "page_view", "detail": "/pricing"}, ...]``;
  only events strictly before ``as_of`` count.

A flat model (``train_flat``: one row per lead, no events, no time) takes ``lead_id`` and the
profile columns only; ``created_at``, ``as_of`` and ``events`` do not apply to it (``events`` is
an error, ``as_of`` is echoed).

Parameters (``params``): ``reasons`` (int, default 3): reasons per direction.
Output: ``lead_id, as_of, p_convert, score, grade, band, fit_score, engagement_score``,
``reason_1..k``, ``reason_neg_1..k``, ``scorecard_reasons``, ``model_name``, ``model_version``.
"""


def records_from_tables(
    leads: pd.DataFrame, events: pd.DataFrame | None = None, as_of: Any = None
) -> pd.DataFrame:
    """Build the MLflow model's input (one row per lead, events as JSON) from contract tables."""
    out = leads.copy()
    if "created_at" in out.columns:  # a flat model's leads need none
        out["created_at"] = pd.to_datetime(out["created_at"], utc=True).dt.strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"
        )
    if as_of is not None:
        out["as_of"] = pd.Timestamp(as_of).isoformat()
    if events is not None:
        ev = events.copy()
        ev["timestamp"] = pd.to_datetime(ev["timestamp"], utc=True).dt.strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"
        )
        cols = [c for c in ("timestamp", "event_type", "detail") if c in ev.columns]
        groups = {
            k: json.dumps(g[cols].astype(object).where(g[cols].notna(), None).to_dict("records"))
            for k, g in ev.groupby("lead_id", sort=False)
        }
        out["events"] = out["lead_id"].map(groups).fillna("[]")
    for c in out.columns:
        if isinstance(out[c].dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(
            out[c].dtype
        ):
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out.reset_index(drop=True)


def _flat_tables(df: pd.DataFrame) -> tuple[pd.DataFrame, None, pd.DataFrame | None]:
    """A flat model's input: ``lead_id`` and the profile columns; ``as_of`` is only echoed."""
    if "lead_id" not in df.columns:
        raise DataContractError(
            f"model input: column 'lead_id' missing; received {list(df.columns)[:12]}. Fix: "
            "send one row per lead with lead_id and the profile columns (a flat model)."
        )
    if "events" in df.columns:
        given = df["events"].map(lambda v: v is not None and v == v and v not in ("", "[]"))
        if given.any():
            raise DataContractError(
                "model input.events: this is a flat model (one row per lead, trained without "
                f"events); leads {df.loc[given, 'lead_id'].head(5).tolist()} have events. Fix: "
                "send the profile columns only, or score with a model trained on events."
            )
    leads = df.drop(columns=[c for c in ("events", "as_of") if c in df.columns])
    cut = None
    if "as_of" in df.columns:
        cut = pd.DataFrame(
            {"lead_id": df["lead_id"], "as_of": pd.to_datetime(df["as_of"], utc=True)}
        )
    return leads, None, cut


def _tables(model_input: Any) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    df = pd.DataFrame(model_input).reset_index(drop=True)
    for col in ("lead_id", "created_at"):
        if col not in df.columns:
            raise DataContractError(
                f"model input: column {col!r} missing; received {list(df.columns)[:12]}. "
                "Fix: send one row per lead with lead_id, created_at, the profile columns and "
                "optionally as_of and events (JSON)."
            )
    now = pd.Timestamp.now(tz="UTC")
    as_of = (
        pd.to_datetime(df["as_of"], utc=True, format="ISO8601")
        if "as_of" in df.columns
        else pd.Series(pd.NaT, index=df.index)
    ).fillna(now)
    rows: list[dict[str, Any]] = []
    if "events" in df.columns:
        for lead, raw in zip(df["lead_id"], df["events"], strict=True):
            if raw is None or (isinstance(raw, float) and np.isnan(raw)) or raw == "":
                continue
            try:
                items = json.loads(raw) if isinstance(raw, str) else list(raw)
            except (TypeError, ValueError) as exc:
                raise DataContractError(
                    f"model input.events: lead {lead!r}: not a JSON array of events ({exc}). Fix: "
                    'send [{"timestamp": "...", "event_type": "...", "detail": "..."}].'
                ) from None
            for it in items:
                rows.append({"lead_id": lead, **it})
    events = pd.DataFrame(rows, columns=["lead_id", "timestamp", "event_type", "detail"])
    if len(events):
        events["timestamp"] = pd.to_datetime(events["timestamp"], utc=True, format="ISO8601")
    else:
        events["timestamp"] = pd.Series(dtype="datetime64[us, UTC]")
    leads = df.drop(columns=[c for c in ("events", "as_of") if c in df.columns])
    cut = pd.DataFrame({"lead_id": df["lead_id"], "as_of": as_of})
    return leads, events, cut


def score_records(model: Any, model_input: Any, params: dict[str, Any]) -> pd.DataFrame:
    """Score the MLflow input rows with a LeadScoringModel; one output row per input row."""
    k = int(params.get("reasons", 3))
    if getattr(model, "is_flat", False):
        df = pd.DataFrame(model_input).reset_index(drop=True)
        leads, _, flat_cut = _flat_tables(df)
        scores = model.score(leads, cutoffs=flat_cut, reasons=k)
        if flat_cut is None:  # a flat model has no time: no as_of unless one was sent
            scores = scores.drop(columns="as_of")
    else:
        leads, events, cut = _tables(model_input)
        scores = model.score(leads, events, cutoffs=cut, reasons=k)
    if "as_of" in scores.columns:
        scores["as_of"] = scores["as_of"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    scores["model_name"], scores["model_version"] = model_identity(model)
    return scores


def model_identity(model: Any) -> tuple[str, str]:
    """``(model_name, model_version)`` recorded on every score, one rule for the CLI, the Python
    API and the MLflow pyfunc / REST server: the registry's name and version when the model came
    from the registry, else the MLflow run (``run:ID``) it was logged in, else the folder it was
    loaded from and when it was trained."""
    meta = model.metadata
    name, version = meta.get("registered_name"), meta.get("registered_version")
    if name and version:
        return str(name), str(version)
    if meta.get("mlflow_run_id"):
        return str(name or ""), f"run:{meta['mlflow_run_id']}"
    return str(getattr(model, "source", None) or ""), f"trained {meta.get('trained_at', '?')}"
