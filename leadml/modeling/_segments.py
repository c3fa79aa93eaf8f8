"""Per-segment models: one model per segment value where the backtest says it beats the global one.

With ``TrainConfig.segment`` (a profile column: lead source, campaign, product line), ``train`` and
``train_flat`` call :func:`choose_segments` after their backtest:

1. **minimum data**: a segment value is tried when the backtest's training rows of that segment
   hold ``segments.converted_leads`` converted and ``segments.unconverted_leads`` not-converted
   leads, and its test rows ``segments.min_test_conversions`` conversions;
2. **backtest**: the same procedure (LightGBM + calibration, the same feature spec) is fitted on
   that segment's training rows and compared with the global backtest model on the SAME test rows
   (that segment's): it is kept when its log loss is lower by at least
   ``segments.min_log_loss_gain`` (relative) and its AUC not lower by more than
   ``segments.auc_tolerance``;
3. **production fit**: every kept segment's model is refitted on all of that segment's labelled
   history. Leads of any other value (small, unseen, missing, or a segment whose model lost) are
   scored by the global model.

The routing, in the backtest as at scoring time, is :func:`leadml.scoring.segment_routes`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leadml.evaluation import metric_table
from leadml.exceptions import ConfigError, LeadmlError
from leadml.modeling._bundle import LeadScoringModel
from leadml.modeling._config import SegmentsConfig
from leadml.scoring import GLOBAL_SEGMENT, segment_routes

__all__ = [
    "CHOICE_COLUMNS",
    "SEGMENT_METRICS",
    "SegmentChoice",
    "check_segment_column",
    "choose_segments",
]

SEGMENT_METRICS = ["auc", "log_loss", "ece"]
MAX_SEGMENTS = 50
"""More distinct values than this and the column is no segment column (an id or a number)."""
KEPT, GLOBAL = "segment model", GLOBAL_SEGMENT
MISSING = "(missing)"
"""The segment row of leads without a value (always scored by the global model)."""
CHOICE_COLUMNS = [
    "segment",
    "train_rows",
    "train_converted_leads",
    "train_unconverted_leads",
    "test_rows",
    "test_conversions",
    *(f"global_{m}" for m in SEGMENT_METRICS),
    *(f"segment_{m}" for m in SEGMENT_METRICS),
    "choice",
    "why",
]


@dataclass
class SegmentChoice:
    """What the backtest chose per segment, and the production models of the kept ones.

    Attributes
    ----------
    column : str
        The segment column.
    table : DataFrame
        One row per segment value (:data:`CHOICE_COLUMNS`): rows and conversions, the global and
        the segment model's AUC / log loss / ECE on the same test rows, ``choice`` (``"segment
        model"`` or ``"global"``) and ``why``.
    routed : DataFrame
        The global model vs the routed scores (each test row by the model of its segment) on all
        test rows: ``model, rows, conversions`` and the metrics.
    models : dict
        The production models of the kept segments (fitted on all their labelled rows).
    notes : list of str
    """

    column: str
    table: pd.DataFrame
    routed: pd.DataFrame
    models: dict[str, LeadScoringModel] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def kept(self) -> list[str]:
        return sorted(self.models)


def check_segment_column(column: str, frame: pd.DataFrame, *, table: str = "leads") -> None:
    """A segment column the table does not have is a clear error, with a "did you mean"; so is
    one with more than :data:`MAX_SEGMENTS` distinct values (an id, a number, a free-text field:
    no segment of it could hold enough data for a model of its own)."""
    if column in frame.columns:
        values = frame[column].dropna()
        n = int(values.nunique())
        if n > MAX_SEGMENTS:
            top = values.astype(str).value_counts().index[:5].tolist()
            raise ConfigError(
                f"segment: column {table}.{column!r} has {n:,} distinct values (e.g. {top}); a "
                f"segment column has at most {MAX_SEGMENTS} (a lead source, campaign, product "
                "line). Fix: segment on a coarser column, or bin this one into a new column "
                "(e.g. company size bands) first."
            )
        return
    close = difflib.get_close_matches(column, [str(c) for c in frame.columns], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(
        f"segment: column {column!r} is not in the {table} table{hint}; received "
        f"{list(frame.columns)[:20]}. Fix: segment= a profile column of the {table} (after the "
        "column mapping), e.g. lead_source."
    )


def _metrics(y: np.ndarray, preds: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    if not len(y) or y.min() == y.max():
        return {k: dict.fromkeys(SEGMENT_METRICS, np.nan) for k in preds}
    tab = metric_table(y, preds, metrics=SEGMENT_METRICS)
    arr = tab.loc[list(preds), SEGMENT_METRICS].to_numpy(dtype=float)
    return {
        k: dict(zip(SEGMENT_METRICS, map(float, arr[i]), strict=True)) for i, k in enumerate(preds)
    }


def choose_segments(
    values: np.ndarray,
    *,
    frame: pd.DataFrame,
    column: str,
    lead_ids: pd.Series,
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    features: pd.DataFrame,
    global_model: LeadScoringModel,
    fit_backtest: Callable[[np.ndarray, np.ndarray], LeadScoringModel],
    fit_production: Callable[[np.ndarray], LeadScoringModel],
    config: SegmentsConfig,
) -> SegmentChoice:
    """Try a model per segment value in the backtest; refit the kept ones on all rows.

    Parameters
    ----------
    values : ndarray
        Each labelled row's segment value (text, None where missing).
    frame, column, lead_ids
        The table holding the segment column (``lead_id`` and ``column``) and each row's lead:
        the routed scores use :func:`leadml.scoring.segment_routes` on them, as scoring does.
    y, train, test : ndarray
        Labels and the backtest's training and test masks (over the labelled rows).
    features : DataFrame
        The backtest model's features of every labelled row.
    global_model : LeadScoringModel
        The backtest's global model (the procedure at the origin).
    fit_backtest : callable
        ``(rows, segment)`` masks -> the procedure fitted on the segment's backtest training rows
        (the global backtest model's spec).
    fit_production : callable
        Segment mask -> the procedure fitted on all of the segment's labelled rows (the
        production spec).
    """
    y = np.asarray(y, dtype=np.int64)
    groups = lead_ids.to_numpy()
    p_global = np.full(len(y), np.nan)
    p_global[test] = global_model.predict_proba(features.loc[test])
    has = np.array([v is not None for v in values], dtype=bool)
    names = sorted({str(v) for v in values[has]})
    recs: list[dict[str, Any]] = []
    backtest_models: dict[str, LeadScoringModel] = {}
    notes: list[str] = []
    need = config
    for name in names:
        seg = values == name
        tr, te = train & seg, test & seg
        per_lead = pd.Series(y[tr]).groupby(groups[tr], sort=False).max()
        conv, unconv = int(per_lead.sum()), int((per_lead == 0).sum())
        rec: dict[str, Any] = {
            "segment": name,
            "train_rows": int(tr.sum()),
            "train_converted_leads": conv,
            "train_unconverted_leads": unconv,
            "test_rows": int(te.sum()),
            "test_conversions": int(y[te].sum()),
        }
        g = _metrics(y[te], {"global": p_global[te]})["global"]
        rec.update({f"global_{m}": v for m, v in g.items()})
        rec.update({f"segment_{m}": np.nan for m in SEGMENT_METRICS})
        rec["choice"] = GLOBAL
        if conv < need.converted_leads or unconv < need.unconverted_leads:
            rec["why"] = (
                f"too little data: {conv} converted and {unconv} not-converted leads in the "
                f"backtest's training rows (need {need.converted_leads} and "
                f"{need.unconverted_leads})"
            )
        elif rec["test_conversions"] < need.min_test_conversions or y[te].min() == 1:
            rec["why"] = (
                f"too little test data: {rec['test_conversions']} conversions in "
                f"{rec['test_rows']} test rows (need {need.min_test_conversions} and a "
                "non-conversion) to judge a segment model"
            )
        else:
            try:
                m = fit_backtest(tr, seg)
            except LeadmlError as exc:
                rec["why"] = f"could not fit: {exc}"
            else:
                p_seg = m.predict_proba(features.loc[te])
                s = _metrics(y[te], {"segment": p_seg})["segment"]
                rec.update({f"segment_{k}": v for k, v in s.items()})
                better = s["log_loss"] < g["log_loss"] * (1 - need.min_log_loss_gain)
                not_worse = s["auc"] >= g["auc"] - need.auc_tolerance
                detail = (
                    f"log loss {s['log_loss']:.4f} vs global {g['log_loss']:.4f}, AUC "
                    f"{s['auc']:.3f} vs {g['auc']:.3f}"
                )
                if better and not_worse:
                    rec["choice"] = KEPT
                    rec["why"] = f"kept: backtest better ({detail})"
                    backtest_models[name] = m
                else:
                    rec["why"] = (
                        f"backtest not better by {need.min_log_loss_gain:.0%} ({detail})"
                        if s["log_loss"] < g["log_loss"] and not_worse
                        else f"backtest worse ({detail})"
                    )
        recs.append(rec)
    if (~has).any():
        te = test & ~has
        g = _metrics(y[te], {"global": p_global[te]})["global"]
        recs.append(
            {
                "segment": MISSING,
                "train_rows": int((train & ~has).sum()),
                "train_converted_leads": np.nan,
                "train_unconverted_leads": np.nan,
                "test_rows": int(te.sum()),
                "test_conversions": int(y[te].sum()),
                **{f"global_{m}": v for m, v in g.items()},
                **{f"segment_{m}": np.nan for m in SEGMENT_METRICS},
                "choice": GLOBAL,
                "why": f"no {column} value: the global model",
            }
        )
    table = pd.DataFrame(recs, columns=CHOICE_COLUMNS)
    # the routed scores on all test rows: each row by the model of its segment, as scoring does
    routes = segment_routes(column, backtest_models, frame, lead_ids)
    p_routed = p_global.copy()
    for name, m in backtest_models.items():
        mask = test & (routes == name)
        p_routed[mask] = m.predict_proba(features.loc[mask])
    both = _metrics(y[test], {"global": p_global[test], "routed": p_routed[test]})
    routed = pd.DataFrame(
        [
            {
                "model": k,
                "rows": int(test.sum()),
                "conversions": int(y[test].sum()),
                "segment_models": len(backtest_models) if k == "routed" else 0,
                **v,
            }
            for k, v in both.items()
        ]
    )
    models: dict[str, LeadScoringModel] = {}
    for name in sorted(backtest_models):
        try:
            m = fit_production(values == name)
        except LeadmlError as exc:  # the backtest's winner cannot be shipped: the global model
            notes.append(f"segment {name!r}: the production fit failed ({exc}); global model used")
            continue
        m.metadata.update({"segment": {"column": column, "value": name}})
        models[name] = m
    kept = sorted(models)
    notes.append(
        f"segments by {column!r}: {len(kept)} of {len(names)} value(s) with their own model"
        + (f" ({', '.join(kept)})" if kept else "")
        + f"; routed log loss {both['routed']['log_loss']:.4f} vs global "
        f"{both['global']['log_loss']:.4f} on all {int(test.sum()):,} test rows"
    )
    return SegmentChoice(column=column, table=table, routed=routed, models=models, notes=notes)
