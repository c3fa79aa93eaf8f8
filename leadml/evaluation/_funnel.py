"""How are our leads moving: conversion by grade (or band) and by stage, per scoring cohort.

Past scores (``lead_id, as_of, grade, band, ...`` as ``leadml score`` writes them) are grouped into
cohorts by the week (or month) of ``as_of``; each lead counts once per cohort (its first score
there). A conversion counts for a score when it happened in the score's window
``(as_of, as_of + horizon]`` AND by the report date ``until``: nothing is known before it
happened. A lead whose window is still open at ``until`` and has not converted is *still open*
(censored), never a non-conversion. The outcome join is the one ``leadml monitor`` uses
(:func:`outcome_labels`, :func:`cohort_start`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from leadml.exceptions import ConfigError, DataContractError
from leadml.features import parse_duration
from leadml.schema import examples

__all__ = ["FunnelReport", "cohort_start", "funnel", "outcome_labels"]

FUNNEL_PERIODS = ("week", "month")


def outcome_labels(
    scores: pd.DataFrame, conversions: pd.DataFrame, horizon: pd.Timedelta, until: pd.Timestamp
) -> pd.DataFrame:
    """``label`` (converted in ``(as_of, as_of + horizon]``), ``closed`` (the window has ended by
    ``until``), ``converted_before`` (already converted at ``as_of``), ``converted_at`` (the
    lead's first conversion, NaT without one)."""
    first = conversions.groupby("lead_id")["converted_at"].min()
    conv = pd.Series(first.reindex(scores["lead_id"].to_numpy()).to_numpy(), index=scores.index)
    conv = pd.to_datetime(conv, utc=True)
    out = scores.copy()
    out["closed"] = (out["as_of"] + horizon <= until).to_numpy()
    out["converted_before"] = (conv <= out["as_of"]).fillna(False).to_numpy()
    out["label"] = (
        ((conv > out["as_of"]) & (conv <= out["as_of"] + horizon)).fillna(False).astype(int)
    )
    out["converted_at"] = conv
    return out


def cohort_start(t: pd.Series, period: pd.Timedelta | str) -> pd.Series:
    """Cohorts of ``period`` anchored on a Monday (weeks run Monday to Sunday); ``"month"``:
    calendar months (UTC)."""
    if isinstance(period, str) and period == "month":
        u = t.dt.tz_convert("UTC")
        return pd.to_datetime(
            {"year": u.dt.year, "month": u.dt.month, "day": np.ones(len(u), dtype=int)}, utc=True
        )
    if isinstance(period, str):
        period = pd.Timedelta(days=7) if period == "week" else parse_duration(period)
    anchor = pd.Timestamp("2000-01-03", tz="UTC")  # a Monday
    k = np.floor((t - anchor) / period).astype(int)
    return anchor + k * period


@dataclass
class FunnelReport:
    """What :func:`funnel` returns.

    Attributes
    ----------
    by_group : DataFrame
        One row per (cohort, grade or band): ``leads`` (still in the funnel when scored: a lead
        that had already converted is counted apart in ``converted_before``, a row scored before
        the lead existed, ``status`` ``not_created``, is left out and counted in ``info``),
        ``share`` of the cohort, ``converted``
        (known by the report date), ``still_open`` (window open, not converted yet),
        ``conversion_rate`` (``converted / leads`` once no lead of the row is still open, else
        missing) and ``converted_so_far`` (``converted / leads``: a lower bound while open).
    by_stage : DataFrame
        With a stage history: one row per (cohort, stage) in stage order: ``leads`` of the
        cohort, ``reached`` (entered the stage by the end of the window and by the report
        date), ``reached_share`` and ``step_rate`` (reached / reached at the previous stage).
    info : dict
        Horizon, period, report date, rows and leads.
    """

    by_group: pd.DataFrame
    by_stage: pd.DataFrame = field(default_factory=pd.DataFrame)
    info: dict[str, Any] = field(default_factory=dict)

    def to_markdown(self) -> str:
        i = self.info
        lines = [
            f"# Funnel by {i['period']} (horizon {i['horizon']}, known by {str(i['until'])[:19]})",
            "",
            f"{i['leads']:,} leads in {i['cohorts']} cohorts; a conversion counts when it came "
            "within the horizon of the score and by the report date; still_open leads are not "
            "counted as non-conversions. Left out: "
            f"{i.get('converted_before', 0):,} scores of leads that had already converted, "
            f"{i.get('not_created', 0):,} scored before the lead was created.",
            "",
            f"## Conversion by {i['group']}",
            "",
            _md(self.by_group),
            "",
        ]
        if len(self.by_stage):
            lines += ["## Conversion by stage", "", _md(self.by_stage), ""]
        return "\n".join(lines)

    def write(self, path: str | Path) -> Path:
        """``.md``: the markdown page; ``.csv``: the grade table (and ``<name>_stages.csv``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".md":
            path.write_text(self.to_markdown())
        elif path.suffix == ".csv":
            self.by_group.to_csv(path, index=False)
            if len(self.by_stage):
                self.by_stage.to_csv(path.with_name(f"{path.stem}_stages.csv"), index=False)
        else:
            raise ConfigError(f"funnel --out {path}: expected a .csv or .md file name.")
        return path


def _md(df: pd.DataFrame) -> str:
    d = df.copy()
    for c in d.columns:
        if pd.api.types.is_datetime64_any_dtype(d[c]):
            d[c] = d[c].dt.strftime("%Y-%m-%d")
        elif pd.api.types.is_float_dtype(d[c]):
            d[c] = d[c].map(lambda v: "" if pd.isna(v) else f"{v:.3f}")
    head = "| " + " | ".join(map(str, d.columns)) + " |"
    sep = "|" + "---|" * len(d.columns)
    body = ["| " + " | ".join(map(str, r)) + " |" for r in d.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def _times(frame: pd.DataFrame, column: str, table: str) -> pd.Series:
    s = pd.to_datetime(frame[column], utc=True, errors="coerce", format="ISO8601")
    bad = s.isna() & frame[column].notna()
    if bad.any():
        raise DataContractError(
            f"{table}.{column}: {int(bad.sum())} value(s) are not times (lead ids "
            f"{examples(frame.loc[bad, 'lead_id'].tolist())}). Fix: ISO 8601 times."
        )
    return s


def _need(frame: pd.DataFrame, columns: tuple[str, ...], table: str, fix: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataContractError(
            f"{table}: column(s) {missing} missing; received {list(frame.columns)[:12]}. Fix: {fix}"
        )


def funnel(
    scores: pd.DataFrame,
    conversions: pd.DataFrame,
    *,
    stages: pd.DataFrame | None = None,
    by: Literal["week", "month"] = "week",
    horizon: str | pd.Timedelta = "30d",
    until: str | pd.Timestamp | None = None,
    group: str = "grade",
    stage_order: list[str] | None = None,
) -> FunnelReport:
    """Conversion by grade (or band) and by stage per scoring cohort.

    Parameters
    ----------
    scores : DataFrame
        Past scores: ``lead_id, as_of`` and the ``group`` column (``grade`` or ``band``).
    conversions : DataFrame
        ``lead_id, converted_at`` (first conversion per lead).
    stages : DataFrame, optional
        Stage history ``lead_id, stage, entered_at`` (e.g. new -> MQL -> SQL -> opportunity ->
        won); stages ordered by ``stage_order`` or by their first ``entered_at``.
    by : {"week", "month"}
        Cohorts by the week (Monday to Sunday, UTC) or calendar month of ``as_of``.
    horizon : duration
        The score's window: a conversion counts when it comes within it.
    until : time, optional
        The report date: nothing after it is known (default: the latest time in the inputs).

    Examples
    --------
    >>> s = pd.DataFrame({"lead_id": ["a", "b"], "as_of": pd.to_datetime(["2025-01-06"] * 2,
    ...                   utc=True), "grade": ["A1", "B2"]})
    >>> c = pd.DataFrame({"lead_id": ["a"], "converted_at": pd.to_datetime(["2025-01-10"], utc=True)})
    >>> funnel(s, c, until="2025-03-01").by_group[["grade", "leads", "converted"]].values.tolist()
    [['A1', 1, 1], ['B2', 1, 0]]
    """
    if by not in FUNNEL_PERIODS:
        raise ConfigError(f"funnel: by must be one of {list(FUNNEL_PERIODS)}, got {by!r}.")
    _need(scores, ("lead_id", "as_of", group), "scores", "pass the files leadml score wrote.")
    _need(conversions, ("lead_id", "converted_at"), "conversions", "lead_id, converted_at.")
    h = parse_duration(horizon, name="horizon")
    sc = scores[["lead_id", "as_of", group]].copy()
    # rows scored before the lead existed are no leads of that cohort (leadml score marks them)
    not_created = (
        scores["status"].astype("object").eq("not_created").to_numpy(dtype=bool)
        if "status" in scores.columns
        else np.zeros(len(sc), dtype=bool)
    )
    sc = sc[~not_created]
    sc["lead_id"] = sc["lead_id"].astype(str)
    sc["as_of"] = _times(sc, "as_of", "scores")
    if sc["as_of"].isna().any():
        bad = sc["as_of"].isna()
        raise DataContractError(
            f"scores.as_of: {int(bad.sum())} row(s) have no time (lead ids "
            f"{examples(sc.loc[bad, 'lead_id'].tolist())}); a cohort needs the scoring time. Fix: "
            "use an event model's scores, or add as_of."
        )
    conv = conversions[["lead_id", "converted_at"]].copy()
    conv["lead_id"] = conv["lead_id"].astype(str)
    conv["converted_at"] = _times(conv, "converted_at", "conversions")
    st = None
    if stages is not None:
        _need(stages, ("lead_id", "stage", "entered_at"), "stages", "lead_id, stage, entered_at.")
        st = stages[["lead_id", "stage", "entered_at"]].copy()
        st["lead_id"] = st["lead_id"].astype(str)
        st["entered_at"] = _times(st, "entered_at", "stages")
    if until is None:
        cands = [sc["as_of"].max(), conv["converted_at"].max()]
        if st is not None:
            cands.append(st["entered_at"].max())
        end = max(c for c in cands if pd.notna(c))
    else:
        end = pd.Timestamp(until)
        end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    sc = sc[sc["as_of"] <= end]
    sc["cohort"] = cohort_start(sc["as_of"], by)
    # a lead counts once per cohort: its first score there
    sc = sc.sort_values(["cohort", "as_of"], kind="stable").drop_duplicates(["cohort", "lead_id"])
    sc = sc.reset_index(drop=True)
    lab = outcome_labels(sc, conv, h, end)
    known = (lab["label"] == 1) & (lab["converted_at"] <= end)  # never before it happened
    lab["converted"] = known.astype(int)
    lab["still_open"] = (~lab["closed"] & ~known & ~lab["converted_before"]).astype(int)
    # a lead that had converted at or before its score is no longer in the funnel: counted apart
    lab["open"] = (~lab["converted_before"].astype(bool)).astype(int)
    g = lab.groupby(["cohort", group], sort=True, dropna=False)
    by_group = g.agg(
        leads=("open", "sum"),
        converted=("converted", "sum"),
        still_open=("still_open", "sum"),
        converted_before=("converted_before", "sum"),
    ).reset_index()
    size = by_group.groupby("cohort")["leads"].transform("sum")
    by_group.insert(3, "share", by_group["leads"] / size)
    by_group["converted_so_far"] = by_group["converted"] / by_group["leads"].where(
        by_group["leads"] > 0
    )
    by_group["conversion_rate"] = by_group["converted_so_far"].where(by_group["still_open"] == 0)
    for c in ("leads", "converted", "still_open", "converted_before"):
        by_group[c] = by_group[c].astype(int)
    by_stage = pd.DataFrame()
    if st is not None:
        by_stage = _stages(lab[lab["open"] == 1], st, h, end, stage_order)
    info = {
        "period": by,
        "horizon": str(horizon),
        "until": str(end),
        "group": group,
        "leads": int(lab["open"].sum()),
        "converted_before": int(lab["converted_before"].sum()),
        "not_created": int(not_created.sum()),
        "cohorts": int(lab["cohort"].nunique()),
    }
    return FunnelReport(by_group=by_group, by_stage=by_stage, info=info)


def _stages(
    lab: pd.DataFrame,
    st: pd.DataFrame,
    h: pd.Timedelta,
    end: pd.Timestamp,
    order: list[str] | None,
) -> pd.DataFrame:
    """Per cohort and stage: the cohort's leads that had entered the stage by the end of their
    window (and by the report date)."""
    names = order or list(st.sort_values("entered_at", kind="stable")["stage"].drop_duplicates())
    unknown = sorted(set(st["stage"]) - set(names))
    if unknown:
        raise DataContractError(
            f"stages.stage: value(s) {unknown[:5]} not in the stage order {names}. Fix: list every "
            "stage in the order."
        )
    first = st.groupby(["stage", "lead_id"])["entered_at"].min()
    by_name = {k: first.loc[k] for k in first.index.get_level_values("stage").unique()}
    recs = []
    for cohort, c in lab.groupby("cohort", sort=True):
        window_end = c["as_of"] + h
        limit = window_end.where(window_end <= end, end)
        prev = None
        for name in names:
            entered = pd.to_datetime(
                c["lead_id"].map(by_name[name]) if name in by_name else c["as_of"] * np.nan,
                utc=True,
            )
            reached = int((entered <= limit).fillna(False).sum())
            recs.append(
                {
                    "cohort": cohort,
                    "stage": name,
                    "leads": len(c),
                    "reached": reached,
                    "reached_share": reached / len(c),
                    "step_rate": np.nan if prev is None or prev == 0 else reached / prev,
                }
            )
            prev = reached
    return pd.DataFrame(recs)
