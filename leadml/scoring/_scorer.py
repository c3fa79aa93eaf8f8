"""Scoring, owned in one place: validate once, cut once, compute the measures once, predict,
explain, attach the audit columns.

``model`` is the fitted bundle (:class:`leadml.modeling.LeadScoringModel`): its spec, scorecard,
score scale, calibrated predictions and explainer. This module only calls down, into
``features`` (the point-in-time measures), ``rules`` (the scorecard's inputs), ``explain`` and
``schema``; the bundle's ``score``/``explain``/``features`` methods call these functions.
"""

from __future__ import annotations

import warnings
from typing import Any, Protocol

import numpy as np
import pandas as pd

from leadml import _progress
from leadml.exceptions import ConfigError, DataContractError, RowsExcludedWarning
from leadml.features import Engine, FeatureSpec, compute_features
from leadml.rules import PointsScorecard, scorecard_inputs
from leadml.schema import (
    FLAT_TIME,
    LeadData,
    UnknownLeads,
    examples,
    parse_instant,
    validate_cutoffs,
    validate_lead_data,
)

__all__ = [
    "GLOBAL_SEGMENT",
    "SCORE_COLUMNS",
    "SEGMENT_COLUMN",
    "STATUS_LOST",
    "STATUS_NOT_CREATED",
    "STATUS_OPEN",
    "ScoringModel",
    "compute_measures",
    "empty_scores",
    "explain_lead",
    "explain_leads",
    "requested_cutoffs",
    "score_leads",
    "segment_routes",
    "validate_inputs",
]

STATUS_OPEN, STATUS_LOST = "open", "lost"
GLOBAL_SEGMENT = "global"
"""``model_segment`` of a row scored by the global model of a per-segment model."""
SEGMENT_COLUMN = "model_segment"
"""The score column (per-segment models only) naming the model that produced each score."""
SCORE_COLUMNS = [
    "lead_id",
    "as_of",
    "p_convert",
    "score",
    "grade",
    "band",
    "fit_score",
    "engagement_score",
    "status",
]


class ScoringModel(Protocol):
    """What scoring needs of a fitted model."""

    spec: FeatureSpec
    scorecard: PointsScorecard
    scale: Any

    @property
    def is_flat(self) -> bool: ...

    @property
    def explainer(self) -> Any: ...

    @property
    def kind(self) -> str: ...

    def probabilities(self, X: pd.DataFrame, rules_x: pd.DataFrame) -> np.ndarray: ...

    @property
    def segment_column(self) -> str | None: ...

    @property
    def segments(self) -> dict[str, Any]: ...


def segment_routes(
    column: str | None, segments: Any, leads: pd.DataFrame, lead_ids: pd.Series
) -> np.ndarray:
    """Which model scores each row: the text of the lead's ``column`` value where ``segments``
    (the segment values that have a model) holds it, else :data:`GLOBAL_SEGMENT` (a missing,
    unseen or small segment). Without a segment column every row is ``"global"`` (leads without
    the column at all: the same, with a warning)."""
    out = np.full(len(lead_ids), GLOBAL_SEGMENT, dtype=object)
    if column is None or not len(segments):
        return out
    if column not in leads.columns:
        warnings.warn(
            f"score: the leads have no {column!r} column, by which this model routes leads to its "
            f"per-segment models ({', '.join(sorted(segments))}): every lead is scored by the "
            f"global model. Fix: pass the {column!r} column with the leads.",
            RowsExcludedWarning,
            stacklevel=4,
        )
        return out
    text = segment_text(leads, column, lead_ids)
    hit = pd.Series(text).isin(list(segments)).to_numpy(dtype=bool)
    out[hit] = text[hit]
    return out


def segment_text(leads: pd.DataFrame, column: str, lead_ids: pd.Series) -> np.ndarray:
    """The text of each row's lead's ``column`` value (None where missing): the key by which
    segments are chosen at training time and routed at scoring time."""
    values = pd.Series(leads[column].to_numpy(), index=leads["lead_id"].to_numpy())
    v = pd.Series(lead_ids.to_numpy()).map(values)
    return np.array([None if pd.isna(x) else str(x) for x in v], dtype=object)


def _routed(model: ScoringModel, data: LeadData, feats: pd.DataFrame) -> np.ndarray:
    return segment_routes(model.segment_column, model.segments, data.leads, feats["lead_id"])


def _parts(model: ScoringModel, routes: np.ndarray) -> list[tuple[Any, np.ndarray]]:
    """``(model, row mask)`` per model that scores some row (the global one first)."""
    out: list[tuple[Any, np.ndarray]] = [(model, routes == GLOBAL_SEGMENT)]
    out += [(model.segments[k], routes == k) for k in sorted(set(routes) - {GLOBAL_SEGMENT})]
    return [(m, mask) for m, mask in out if mask.any()] or out[:1]  # no rows: the global one


def validate_inputs(
    model: ScoringModel,
    leads: pd.DataFrame | LeadData,
    events: pd.DataFrame | None,
    unknown_leads: UnknownLeads,
) -> LeadData:
    """Validate the leads and events once: for an event model, events of leads not being scored
    are ignored (they are inputs to no requested row); a flat model needs ``lead_id`` only."""
    if isinstance(leads, LeadData):
        return leads
    if model.is_flat:
        if "lead_id" not in leads.columns:
            raise DataContractError(
                f"leads: column 'lead_id' missing; received {list(leads.columns)[:10]}. Fix: "
                "rename the id column (flat model)."
            )
        lf = leads.copy()
        if "created_at" not in lf.columns:
            lf["created_at"] = FLAT_TIME
        return validate_lead_data(lf, None, None)
    # events of leads not being scored are not inputs to any requested row: scoring a few
    # leads with the full event log is the normal case (unknown_leads applies to cut-offs)
    return validate_lead_data(leads, events, None, unknown_leads="ignore")


def requested_cutoffs(
    model: ScoringModel,
    data: LeadData,
    as_of: str | pd.Timestamp | None,
    cutoffs: pd.DataFrame | None,
    unknown_leads: UnknownLeads = "error",
) -> pd.DataFrame:
    """The rows to score, once: ``cutoffs`` (validated, in order) or every lead at ``as_of``."""
    if as_of is not None and cutoffs is not None:
        raise ConfigError("score: pass as_of= or cutoffs=, not both.")
    if cutoffs is not None:
        return validate_cutoffs(cutoffs, data.leads, unknown_leads=unknown_leads).reset_index(
            drop=True
        )
    if as_of is None:
        if model.is_flat:
            return pd.DataFrame(
                {
                    "lead_id": data.leads["lead_id"].to_numpy(),
                    "as_of": pd.Series(
                        pd.NaT, index=range(len(data.leads)), dtype="datetime64[us, UTC]"
                    ),
                }
            )
        raise ConfigError(
            "score: pass as_of= (one time for every lead, e.g. now) or cutoffs= (lead_id, as_of)."
        )
    t = parse_instant(as_of, what="as_of")
    return pd.DataFrame(
        {
            "lead_id": data.leads["lead_id"].to_numpy(),
            "as_of": pd.Series([t] * len(data.leads), dtype="datetime64[us, UTC]"),
        }
    )


def compute_measures(
    model: ScoringModel, data: LeadData, cut: pd.DataFrame, *, engine: Engine = "auto"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The model's features and the scorecard's inputs at each row of ``cut``, in order, on one
    engine (``auto``: by input size; ``duckdb``; ``numpy``)."""
    if model.is_flat:
        feats = pd.concat(
            [cut[["lead_id", "as_of"]], model.spec.profile_frame(data.leads, cut["lead_id"])],
            axis=1,
        )
    else:
        feats = compute_features(model.spec, data, cut, engine=engine)
    rules_x = scorecard_inputs(model.scorecard.config_, data, cut, engine=engine)
    return feats, rules_x


def score_leads(
    model: ScoringModel,
    leads: pd.DataFrame | LeadData,
    events: pd.DataFrame | None = None,
    *,
    as_of: str | pd.Timestamp | None = None,
    cutoffs: pd.DataFrame | None = None,
    unknown_leads: UnknownLeads = "error",
    reasons: int = 0,
    engine: Engine = "auto",
) -> pd.DataFrame:
    """Score leads: one row per requested (lead, as_of), in the order requested.

    Parameters
    ----------
    leads : DataFrame
        Lead profiles (``lead_id``, ``created_at`` and the profile columns used in training;
        missing values and unseen categories are fine).
    events : DataFrame, optional
        Events (``lead_id, timestamp, event_type[, detail]``). Only events strictly before
        each ``as_of`` are used, so a complete log and one cut at ``as_of`` give the same
        scores. Leads without events are scored.
    as_of : timestamp, optional
        Score every lead in ``leads`` at this time (rows in the order of ``leads``).
    cutoffs : DataFrame, optional
        ``lead_id, as_of`` rows to score (rows in this order).
    reasons : int
        With ``k > 0``, add the top-``k`` reasons up (``reason_1..k``) and down
        (``reason_neg_1..k``) from the LightGBM contributions, worded for a sales rep, and
        ``scorecard_reasons`` (the rules that fired, with their points).
    engine : {"auto", "duckdb", "numpy"}
        Which engine computes the point-in-time measures (same values; ``auto`` picks NumPy
        for a few cut-offs).

    Returns
    -------
    DataFrame
        ``lead_id, as_of, p_convert`` (calibrated probability of converting within the
        horizon), ``score`` (0-100: percentile of ``p_convert`` among the leads scored at
        training time), ``grade`` (scorecard fit letter x engagement digit, e.g. ``A1``),
        ``band`` (from ``score``, e.g. hot/warm/cold), ``fit_score`` and
        ``engagement_score`` (scorecard points), ``status`` (``"lost"`` when the lead was
        closed without converting at or before ``as_of``, from ``leads.lost_at``;
        ``"not_created"`` when ``as_of`` is before the lead's ``created_at``: such rows get no
        probability, score, grade or band, and a warning counts them; else ``"open"``).
        No leads at all give an empty table with these columns.
    """
    if isinstance(leads, pd.DataFrame) and len(leads) == 0:
        if cutoffs is not None and len(cutoffs):
            raise DataContractError(
                f"cutoffs: {len(cutoffs)} row(s) to score but the leads table is empty. Fix: "
                "pass the leads the cut-offs refer to."
            )
        return empty_scores(reasons)
    _progress.stage("validating the leads and events")
    data = validate_inputs(model, leads, events, unknown_leads)
    cut = requested_cutoffs(model, data, as_of, cutoffs, unknown_leads)
    _progress.stage(f"features of {len(cut):,} rows")
    feats, rules_x = compute_measures(model, data, cut, engine=engine)
    _progress.stage(
        f"scoring {len(feats):,} rows" + (f", {reasons} reasons each" if reasons else "")
    )
    routes = _routed(model, data, feats)
    parts = _parts(model, routes)
    p = np.empty(len(feats), dtype=float)
    for m, mask in parts:  # each row by the model of its segment (the global one elsewhere)
        p[mask] = m.probabilities(feats.loc[mask], rules_x.loc[mask])
    score = model.scale.score(p)  # one scale: a score means the same whichever model gave it
    pts = model.scorecard.points(rules_x)
    grades = model.scorecard.grades(rules_x, points=pts)
    out = pd.DataFrame(
        {
            "lead_id": feats["lead_id"].to_numpy(),
            "as_of": _utc(feats["as_of"]),
            "p_convert": p,
            "score": score,
            "grade": grades["grade"].to_numpy(),
            "band": model.scale.band(score),
            "fit_score": pts["fit_points"].to_numpy(),
            "engagement_score": pts["engagement_points"].to_numpy(),
            "status": _status(data.leads, feats),
        }
    )
    if model.segment_column is not None:
        out[SEGMENT_COLUMN] = routes
    if reasons:
        if model.kind == "rules":
            wide = _scorecard_reasons(model.scorecard, pts, reasons)
        else:  # the reasons of the model that scored the row
            wide = pd.concat(
                [
                    m.explainer.reasons(
                        feats.loc[mask].reset_index(drop=True), k=reasons, structured=False
                    )[0].set_axis(np.flatnonzero(mask))
                    for m, mask in parts
                ]
            ).sort_index()
            wide = wide.reset_index(drop=True)
        out = pd.concat([out, wide], axis=1)
        out["scorecard_reasons"] = model.scorecard.reasons_text(pts)
    if len(out) != len(cut):
        raise RuntimeError("leadml internal error: scoring changed the number of rows.")
    return _flag_not_created(out, data.leads, feats)


def explain_leads(
    model: ScoringModel,
    leads: pd.DataFrame | LeadData,
    events: pd.DataFrame | None = None,
    *,
    as_of: str | pd.Timestamp | None = None,
    cutoffs: pd.DataFrame | None = None,
    k: int = 3,
    unknown_leads: UnknownLeads = "error",
    engine: Engine = "auto",
) -> pd.DataFrame:
    """Structured reasons: one row per (lead, as_of, direction, rank) with ``group, label,
    feature, value, contribution`` (log-odds), ``effect`` (probability) and ``text``."""
    data = validate_inputs(model, leads, events, unknown_leads)
    cut = requested_cutoffs(model, data, as_of, cutoffs, unknown_leads)
    feats, _ = compute_measures(model, data, cut, engine=engine)
    longs = []
    for m, mask in _parts(model, _routed(model, data, feats)):
        _, part = m.explainer.reasons(feats.loc[mask].reset_index(drop=True), k=k)
        part["row"] = np.flatnonzero(mask)[part["row"].to_numpy()]
        longs.append(part)
    long = longs[0] if len(longs) == 1 else pd.concat(longs, ignore_index=True)
    if len(longs) > 1:  # rows in order, as one model would give them
        long = long.sort_values("row", kind="stable").reset_index(drop=True)
    ids = feats[["lead_id", "as_of"]].reset_index(drop=True)
    long.insert(0, "lead_id", ids["lead_id"].to_numpy()[long["row"].to_numpy()])
    long.insert(1, "as_of", _utc(ids["as_of"]).iloc[long["row"].to_numpy()].to_numpy())
    return long.drop(columns=["row"])


def explain_lead(
    model: ScoringModel,
    leads: pd.DataFrame | LeadData,
    events: pd.DataFrame | None = None,
    *,
    lead_id: Any,
    as_of: str | pd.Timestamp | None = None,
    top: int = 8,
    engine: Engine = "auto",
) -> Any:
    """One lead at ``as_of``, reason by reason, by the model that scores it (its segment's model
    for a per-segment model): a :class:`leadml.explain.LeadExplanation` to draw with
    :func:`leadml.explain.reasons_waterfall`."""
    lead = str(lead_id)
    lf = leads.leads if isinstance(leads, LeadData) else leads
    one = lf[lf["lead_id"].astype(str) == lead]
    if one.empty:
        raise DataContractError(
            f"explain_lead: lead {lead!r} is not in the leads table (e.g. "
            f"{examples(lf['lead_id'].astype(str).tolist())}). Fix: pass a lead_id of these leads."
        )
    # every lead stays an input (account measures count the other leads of the account)
    data = validate_inputs(model, leads, events, "error")
    if as_of is None or model.is_flat:
        cut = requested_cutoffs(model, data, as_of, None)
        cut = cut[cut["lead_id"].astype(str) == lead].reset_index(drop=True)
    else:
        wanted = pd.DataFrame({"lead_id": [one["lead_id"].iat[0]], "as_of": [as_of]})
        cut = requested_cutoffs(model, data, None, wanted)
    feats, _ = compute_measures(model, data, cut, engine=engine)
    ((m, _mask),) = _parts(model, _routed(model, data, feats))
    return m.explainer.explain_lead(feats, 0, top=top)


def _scorecard_reasons(scorecard: PointsScorecard, pts: pd.DataFrame, k: int) -> pd.DataFrame:
    """The reason columns of a rules model: the rules that gave the most points up and down, in
    the scorecard's words (``"demo_request (+40 points)"``)."""
    names = [r.name for _, r in scorecard.config_.rules]
    P = pts[names].to_numpy(dtype=float)
    n = len(P)
    wide: dict[str, np.ndarray] = {}
    for prefix, sign in (("reason_", 1.0), ("reason_neg_", -1.0)):
        order = np.argsort(-sign * P, axis=1, kind="stable")
        for rank in range(k):
            col = np.full(n, "", dtype=object)
            if rank < P.shape[1]:
                j = order[:, rank]
                v = P[np.arange(n), j]
                for i in np.flatnonzero(v * sign > 0):
                    col[i] = f"{names[j[i]]} ({v[i]:+.0f} points)"
            wide[f"{prefix}{rank + 1}"] = col
    return pd.DataFrame(wide)


def empty_scores(reasons: int) -> pd.DataFrame:
    """No rows, the score columns (with ``reasons`` text columns)."""
    cols: dict[str, Any] = {
        "lead_id": pd.Series([], dtype=object),
        "as_of": pd.Series([], dtype="datetime64[us, UTC]"),
        "p_convert": pd.Series([], dtype=float),
        "score": pd.Series([], dtype="int64"),
        "grade": pd.Series([], dtype=object),
        "band": pd.Series([], dtype=object),
        "fit_score": pd.Series([], dtype=float),
        "engagement_score": pd.Series([], dtype=float),
        "status": pd.Series([], dtype=object),
    }
    for i in range(1, reasons + 1):
        cols[f"reason_{i}"] = pd.Series([], dtype=object)
    for i in range(1, reasons + 1):
        cols[f"reason_neg_{i}"] = pd.Series([], dtype=object)
    if reasons:
        cols["scorecard_reasons"] = pd.Series([], dtype=object)
    return pd.DataFrame(cols)


STATUS_NOT_CREATED = "not_created"


def _flag_not_created(out: pd.DataFrame, leads: pd.DataFrame, feats: pd.DataFrame) -> pd.DataFrame:
    """Rows whose ``as_of`` is before the lead existed are never scored as normal: no probability,
    score, grade, band or reasons, ``status = "not_created"``, and a warning that counts them."""
    if "lead_age_days" not in feats.columns:
        return out
    early = (feats["lead_age_days"].to_numpy(dtype=float) < 0) & feats["as_of"].notna().to_numpy()
    if not early.any():
        return out
    out = out.copy()
    out["score"] = out["score"].astype("Int64")
    out.loc[early, "score"] = pd.NA
    out.loc[early, ["p_convert", "fit_score", "engagement_score"]] = np.nan
    text = [
        c
        for c in out.columns
        if c in ("grade", "band", "scorecard_reasons") or c.startswith("reason")
    ]
    out.loc[early, text] = None
    out.loc[early, "status"] = STATUS_NOT_CREATED
    warnings.warn(
        f"score: {int(early.sum())} of {len(out)} row(s) ask for a score before the lead was "
        f"created (lead ids {examples(out.loc[early, 'lead_id'].tolist())}): not scored, "
        'status "not_created". Fix: score them at or after created_at.',
        RowsExcludedWarning,
        stacklevel=3,
    )
    return out


def _status(leads: pd.DataFrame, feats: pd.DataFrame) -> np.ndarray:
    """``"lost"`` where the lead was closed without converting at or before ``as_of``
    (``leads.lost_at``), else ``"open"``."""
    out = np.full(len(feats), STATUS_OPEN, dtype=object)
    if "lost_at" not in leads.columns or feats["as_of"].isna().all():
        return out
    lost = pd.Series(leads["lost_at"].to_numpy(), index=leads["lead_id"].to_numpy())
    lost_at = feats["lead_id"].map(lost).astype("datetime64[us, UTC]").reset_index(drop=True)
    out[(lost_at <= _utc(feats["as_of"])).fillna(False).to_numpy(dtype=bool)] = STATUS_LOST
    return out


def _utc(s: pd.Series) -> pd.Series:
    """``as_of`` as ``datetime64[us, UTC]`` (missing for flat models), index reset."""
    s = s.reset_index(drop=True)
    if getattr(s.dt, "tz", None) is None:
        s = s.dt.tz_localize("UTC")
    return s.astype("datetime64[us, UTC]")
