"""Point-in-time feature tables and training sets."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from leadml.exceptions import ConfigError, RowsExcludedWarning
from leadml.features._engines import Engine, choose_engine, run_plan
from leadml.features._families import accounts, history, windowed
from leadml.features._measures import spec_event_features
from leadml.features._plan import DAY_US, FAR_PAST, build_plan
from leadml.features._spec import FeatureSpec
from leadml.features._time import make_cutoffs, parse_duration, to_us
from leadml.schema import (
    LeadData,
    UnknownLeads,
    empty_conversions,
    empty_events,
    examples,
    positions,
    validate_conversions,
    validate_cutoffs,
    validate_lead_data,
    validate_leads,
)

__all__ = ["build_features", "build_training_set", "label_rows"]


def _as_data(
    leads: pd.DataFrame | LeadData,
    events: pd.DataFrame | None,
    conversions: pd.DataFrame | None,
    unknown_leads: UnknownLeads,
) -> LeadData:
    if isinstance(leads, LeadData):
        return leads
    return validate_lead_data(leads, events, conversions, unknown_leads=unknown_leads)


def build_features(
    spec: FeatureSpec,
    leads: pd.DataFrame | LeadData,
    events: pd.DataFrame | None = None,
    cutoffs: pd.DataFrame | None = None,
    *,
    engine: Engine = "auto",
    unknown_leads: UnknownLeads = "error",
) -> pd.DataFrame:
    """Features of a fitted ``spec`` at each cut-off: ``lead_id, as_of`` then ``spec.feature_names_``.

    One row per cut-off, in the order given. Only events strictly before each ``as_of`` are
    used, so a complete event log and one cut at ``as_of`` give the same features. ``engine``:
    ``"auto"`` (by input size), ``"duckdb"`` or ``"numpy"``, which give the same values
    (:mod:`leadml.features._engines`).
    """
    spec.check_is_fitted()
    data = _as_data(leads, events, None, unknown_leads)
    if cutoffs is None:
        raise ConfigError("build_features: pass cutoffs (lead_id, as_of).")
    cut = validate_cutoffs(cutoffs, data.leads)
    return compute_features(spec, data, cut, engine=engine)


def compute_features(
    spec: FeatureSpec,
    data: LeadData,
    cut: pd.DataFrame,
    *,
    engine: Engine = "auto",
    spark_events: Any = None,
) -> pd.DataFrame:
    """:func:`build_features` on already validated ``data`` and cut-offs ``cut`` (``lead_id,
    as_of``, every lead known): what the training job and the scorer call after validating once.

    With ``engine="spark"``, ``spark_events`` (a :class:`leadml.features._spark.SparkEvents`)
    holds the event log on Spark in place of ``data.events``.
    """
    cut = cut.reset_index(drop=True)
    out = pd.DataFrame(
        {
            "lead_id": cut["lead_id"].to_numpy(),
            # a Series, not .to_numpy(): that would make an object array of Timestamps
            "as_of": cut["as_of"].astype("datetime64[us, UTC]"),
        }
    )
    prof = spec.profile_frame(data.leads, out["lead_id"])
    parts = [out, prof]
    if spec.behaviour:
        as_of_us = to_us(out["as_of"])
        created_us = to_us(data.leads["created_at"])
        pos = positions(out["lead_id"], data.leads["lead_id"])
        age = pd.DataFrame({"lead_age_days": (as_of_us - created_us[pos]) / DAY_US})
        if choose_engine(engine, len(out), len(data.events)) == "numpy":
            parts += [
                age,
                spec_event_features(spec, data, out, engine="numpy"),
                accounts.numpy_features(spec, data.leads, data.events, out),
            ]
            res = pd.concat(parts, axis=1)
            return res[["lead_id", "as_of", *spec.feature_names_]]
        u_lead, u_as_of, u_prev, u_of_row = distinct_cutoffs(pos, as_of_us)
        tables = _plan_tables(spec, data, pos, as_of_us, created_us, spark_events is None)
        tables["lm_u"] = pd.DataFrame(
            {
                "cut_idx": np.arange(len(u_lead), dtype=np.int64),
                "lead_key": u_lead.astype(np.int32),
                "as_of_us": u_as_of,
                "prev_us": u_prev,
            }
        )
        if engine == "spark":
            from leadml.features._spark import pandas_events, spark_event_columns

            on_spark: dict[str, Any] = dict(tables)
            on_spark["lm_events"] = spark_events or pandas_events(data.events)
            cols = spark_event_columns(spec, on_spark, len(out))
            res = pd.concat([*parts, age, cols], axis=1)
            return res[["lead_id", "as_of", *spec.feature_names_]]
        frames = run_plan(build_plan(spec), tables, engine="duckdb")
        parts.append(age)
        parts.append(windowed.pivot_counts(spec, frames.get("counts"), len(out)))
        parts.append(
            history.history_features(
                spec, frames.get("history"), u_lead, u_as_of, u_of_row, as_of_us
            )
        )
        if "features" in frames:
            feats = frames["features"]
            if len(feats) != len(out) or not np.array_equal(
                feats["row_id"].to_numpy(), np.arange(len(out))
            ):
                raise RuntimeError(
                    "leadml internal error: the feature query did not return one row per cut-off."
                )
            beh = [n for n in spec.feature_names_ if n in feats.columns]
            parts.append(feats[beh].reset_index(drop=True).astype("float64"))
    res = pd.concat(parts, axis=1)
    return res[["lead_id", "as_of", *spec.feature_names_]]


def _plan_tables(
    spec: FeatureSpec,
    data: LeadData,
    lead_key: np.ndarray,
    as_of_us: np.ndarray,
    created_us: np.ndarray,
    with_events: bool = True,
) -> dict[str, pd.DataFrame]:
    """The input tables of :func:`leadml.features._plan.build_plan` (but ``lm_u``, and but
    ``lm_events`` unless ``with_events``); ``lead_key`` is each cut-off's lead as a position in
    ``data.leads``."""
    leads = data.leads
    codes = np.full(len(leads), -1, dtype=np.int64)
    if "account_id" in leads.columns:
        codes = pd.factorize(leads["account_id"].astype("object"), use_na_sentinel=True)[0]
    account_key = pd.arrays.IntegerArray(codes.astype("int32"), mask=codes < 0)
    tables = {
        "lm_c": pd.DataFrame(
            {
                "row_id": np.arange(len(lead_key), dtype=np.int64),
                "lead_key": lead_key.astype(np.int32),
                "as_of_us": as_of_us,
            }
        ),
        "lm_leads": pd.DataFrame(
            {
                "lead_id": leads["lead_id"].to_numpy(),
                "lead_key": np.arange(len(leads), dtype="int32"),
                "created_us": created_us,
                "account_key": account_key,
            }
        ),
        "lm_types": pd.DataFrame(
            {
                "event_type": pd.Series(spec.event_types_, dtype=object),
                "type_id": np.arange(len(spec.event_types_), dtype="int32"),
            }
        ),
        "lm_pairs": pd.DataFrame(
            {
                "event_type": pd.Series([t for t, _ in spec.details_], dtype=object),
                "detail": pd.Series([d for _, d in spec.details_], dtype=object),
                "pair_id": np.arange(len(spec.details_), dtype="int32"),
            }
        ),
    }
    if with_events:
        tables["lm_events"] = events_table(data)
    return tables


def distinct_cutoffs(
    lead_key: np.ndarray, as_of_us: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (lead, as_of) cut-offs sorted by lead then time: their lead key, as_of, the
    lead's previous cut-off (``FAR_PAST`` for its first) and, per input row, its index."""
    order = np.lexsort((as_of_us, lead_key))
    lk, t = lead_key[order], as_of_us[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (lk[1:] != lk[:-1]) | (t[1:] != t[:-1])
    u_lead, u_as_of = lk[new], t[new]
    u_of_row = np.empty(len(order), dtype=np.int64)
    u_of_row[order] = np.cumsum(new) - 1
    u_prev = np.full(len(u_lead), FAR_PAST, dtype=np.int64)
    same = np.zeros(len(u_lead), dtype=bool)
    same[1:] = u_lead[1:] == u_lead[:-1]
    u_prev[1:][same[1:]] = u_as_of[:-1][same[1:]]
    return u_lead, u_as_of, u_prev, u_of_row


def label_rows(
    cut: pd.DataFrame,
    conversions: pd.DataFrame,
    *,
    horizon: pd.Timedelta,
    observed_until: pd.Timestamp,
) -> pd.DataFrame:
    """``label`` (nullable Int8; missing when censored) and ``censored`` for each cut-off row."""
    conv = (
        cut["lead_id"].map(conversions.set_index("lead_id")["converted_at"])
        if len(conversions)
        else None
    )
    censored = (cut["as_of"] + horizon > observed_until).to_numpy()
    if conv is None:
        lab = np.zeros(len(cut), dtype=bool)
    else:
        lab = (
            ((conv > cut["as_of"]) & (conv <= cut["as_of"] + horizon))
            .fillna(False)
            .to_numpy(dtype=bool)
        )
    label = pd.array(lab.astype("int8"), dtype="Int8")
    label[censored] = pd.NA
    return pd.DataFrame({"label": label, "censored": censored}, index=cut.index)


def build_training_set(
    leads: pd.DataFrame | LeadData,
    events: pd.DataFrame | None = None,
    conversions: pd.DataFrame | None = None,
    *,
    horizon: str | int | pd.Timedelta,
    cutoffs: pd.DataFrame | None = None,
    every: str | int | pd.Timedelta | None = None,
    spec: FeatureSpec | None = None,
    start: str | pd.Timestamp | None = None,
    max_age: str | int | pd.Timedelta | None = None,
    observed_until: str | pd.Timestamp | None = None,
    unknown_leads: UnknownLeads = "error",
    engine: Engine = "auto",
) -> pd.DataFrame:
    """One row per (lead, cut-off): ``lead_id, as_of``, the features, ``label`` and ``censored``.

    Semantics (exact):

    - features at cut-off ``t`` see only events with ``timestamp < t``;
    - ``label`` is 1 iff ``t < converted_at <= t + horizon``;
    - rows whose lead converted at or before ``t`` or was created after ``t`` are not training
      rows: with explicit ``cutoffs`` they are excluded with a :class:`RowsExcludedWarning`
      that counts them; a schedule (``every``) never generates them;
    - rows with ``t + horizon > observed_until`` are ``censored``: their ``label`` is missing
      (``<NA>``), they are kept for scoring and must not be used to train or evaluate.

    Parameters
    ----------
    leads, events, conversions : DataFrame or LeadData
        Contract tables (``leads`` may be an already validated :class:`LeadData`). With
        ``engine="spark"``, ``events`` may also be a Spark DataFrame, a Parquet file or folder,
        or a Spark table name: it is then read, validated and joined on Spark, never in memory.
    horizon : duration
        ``"30d"``, 30 (days) or a Timedelta.
    cutoffs : DataFrame, optional
        Explicit ``lead_id, as_of`` rows. Exactly one of ``cutoffs`` and ``every``.
    every : duration, optional
        Generate cut-offs every so often (see :func:`make_cutoffs`).
    spec : FeatureSpec, optional
        Fitted in place on data known before the last cut-off if it is not fitted yet; a fitted
        spec is reused unchanged (pass the training spec to build a test or scoring set).
    observed_until : timestamp, optional
        End of the data, for censoring. Defaults to the latest timestamp in any table.

    Returns
    -------
    DataFrame
        Rows in the order of ``cutoffs`` (after exclusions), or sorted by ``(as_of, lead_id)``
        for a schedule. ``spec.feature_names_`` are the feature columns.
    """
    h = parse_duration(horizon, name="horizon")
    if engine == "spark" and events is not None and not isinstance(events, pd.DataFrame):
        return spark_training_set(
            leads,
            events,
            conversions,
            horizon=h,
            cutoffs=cutoffs,
            every=every,
            spec=spec,
            start=start,
            max_age=max_age,
            observed_until=observed_until,
            unknown_leads=unknown_leads,
        )[0]
    data = _as_data(leads, events, conversions, unknown_leads)
    cut, end = training_cutoffs(
        data,
        cutoffs=cutoffs,
        every=every,
        start=start,
        max_age=max_age,
        observed_until=observed_until,
        caller="build_training_set",
    )
    spec = spec if spec is not None else FeatureSpec()
    if not spec.fitted_:
        last = cut["as_of"].max()
        spec.fit(
            data.leads.loc[data.leads["created_at"] <= last],
            data.events.loc[data.events["timestamp"] < last],
        )
    feats = compute_features(spec, data, cut, engine=engine)
    lab = label_rows(feats[["lead_id", "as_of"]], data.conversions, horizon=h, observed_until=end)
    return pd.concat([feats, lab], axis=1)


def spark_training_set(
    leads: pd.DataFrame | LeadData,
    events: Any,
    conversions: pd.DataFrame | None,
    *,
    horizon: pd.Timedelta,
    cutoffs: pd.DataFrame | None,
    every: str | int | pd.Timedelta | None,
    spec: FeatureSpec | None,
    start: str | pd.Timestamp | None,
    max_age: str | int | pd.Timedelta | None,
    observed_until: str | pd.Timestamp | None,
    unknown_leads: UnknownLeads,
    mapping: Any = None,
) -> tuple[pd.DataFrame, Any]:
    """:func:`build_training_set` with the event log on Spark (see its ``events``), and the
    validated :class:`leadml.features._spark.SparkEvents`."""
    from leadml.features._spark import event_counts, spark_events

    base = leads if isinstance(leads, LeadData) else None
    lv = base.leads if base is not None else validate_leads(leads)  # type: ignore[arg-type]
    if base is not None:
        cv = base.conversions
    elif conversions is not None:
        cv = validate_conversions(conversions, lv, unknown_leads=unknown_leads)
    else:
        cv = empty_conversions()
        cv["lead_id"] = cv["lead_id"].astype(lv["lead_id"].dtype)
    sev = spark_events(events, lv, mapping=mapping, unknown_leads=unknown_leads)
    data = LeadData(leads=lv, events=empty_events(), conversions=cv)
    end = observed_until
    if end is None:
        end = data.observed_until if sev.latest is None else max(data.observed_until, sev.latest)
    cut, end_ts = training_cutoffs(
        data,
        cutoffs=cutoffs,
        every=every,
        start=start,
        max_age=max_age,
        observed_until=end,
        caller="build_training_set",
    )
    spec = spec if spec is not None else FeatureSpec()
    if not spec.fitted_:
        last = cut["as_of"].max()
        spec.fit_counts(lv.loc[lv["created_at"] <= last], *event_counts(sev, last))
    feats = compute_features(spec, data, cut, engine="spark", spark_events=sev)
    lab = label_rows(
        feats[["lead_id", "as_of"]], data.conversions, horizon=horizon, observed_until=end_ts
    )
    return pd.concat([feats, lab], axis=1), sev


def training_cutoffs(
    data: LeadData,
    *,
    cutoffs: pd.DataFrame | None,
    every: str | int | pd.Timedelta | None,
    start: str | pd.Timestamp | None = None,
    max_age: str | int | pd.Timedelta | None = None,
    observed_until: str | pd.Timestamp | None = None,
    caller: str = "build_training_set",
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The training cut-offs (a schedule, or explicit ones minus non-training rows, reported) and
    the end of the data used for censoring."""
    end = data.observed_until if observed_until is None else pd.Timestamp(observed_until)
    if end.tzinfo is None:
        end = end.tz_localize("UTC")
    if (cutoffs is None) == (every is None):
        raise ConfigError(
            f"{caller}: pass exactly one of cutoffs= (a table) and every= (a schedule)."
        )
    if every is not None:
        cut = make_cutoffs(
            data.leads, data.conversions, every=every, start=start, end=end, max_age=max_age
        )
    else:
        assert cutoffs is not None
        cut = _exclude_invalid(validate_cutoffs(cutoffs, data.leads), data)
    return cut, end


def event_tables(data: LeadData, cut: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """``lm_cut`` (``row_id, lead_id, as_of_us``) and ``lm_events`` (see :func:`events_table`):
    the hand-off of cut-offs and events to the scorecard's SQL."""
    return {
        "lm_cut": pd.DataFrame(
            {
                "row_id": np.arange(len(cut), dtype="int64"),
                "lead_id": cut["lead_id"].reset_index(drop=True),
                "as_of_us": to_us(cut["as_of"]),
            }
        ),
        "lm_events": events_table(data),
    }


def events_table(data: LeadData) -> pd.DataFrame:
    """``lm_events`` (``lead_id, ts_us, event_type, detail``): the events handed to SQL."""
    return pd.DataFrame(
        {
            "lead_id": data.events["lead_id"].reset_index(drop=True),
            "ts_us": to_us(data.events["timestamp"]),
            "event_type": data.events["event_type"].reset_index(drop=True),
            "detail": data.events["detail"].reset_index(drop=True),
        }
    )


def cutoff_exclusions(cut: pd.DataFrame, data: LeadData) -> dict[str, np.ndarray]:
    """Per validated explicit cut-off: why it is not a training row (masks ``not_created``,
    ``converted``, ``lost``: before the lead was created, at or after it converted, at or after
    it was lost without converting)."""
    as_of = to_us(cut["as_of"])
    pos = positions(cut["lead_id"], data.leads["lead_id"])  # validated: all known
    not_yet = to_us(data.leads["created_at"])[pos] > as_of
    done = np.zeros(len(cut), dtype=bool)
    if len(data.conversions):
        cpos = positions(cut["lead_id"], data.conversions["lead_id"])
        conv_us = to_us(data.conversions["converted_at"])
        has = cpos >= 0
        done[has] = conv_us[cpos[has]] <= as_of[has]
    lost = np.zeros(len(cut), dtype=bool)
    if "lost_at" in data.leads.columns:
        lost_at = data.leads["lost_at"].to_numpy()[pos]
        has = ~pd.isna(lost_at)
        lost[has] = to_us(pd.Series(lost_at[has]).astype("datetime64[us, UTC]")) <= as_of[has]
        lost &= ~done
    return {"not_created": not_yet, "converted": done, "lost": lost}


def _exclude_invalid(cut: pd.DataFrame, data: LeadData) -> pd.DataFrame:
    why = cutoff_exclusions(cut, data)
    not_yet, done, lost = why["not_created"], why["converted"], why["lost"]
    drop = not_yet | done | lost
    if drop.any():
        warnings.warn(
            f"cutoffs: excluded {int(drop.sum())} of {len(cut)} row(s) that are not training rows: "
            f"{int(not_yet.sum())} before the lead was created (lead ids "
            f"{examples(cut.loc[not_yet, 'lead_id'].tolist()) or '-'}), {int(done.sum())} at or after "
            f"the lead converted (lead ids {examples(cut.loc[done, 'lead_id'].tolist()) or '-'}), "
            f"{int(lost.sum())} at or after the lead was lost (lead ids "
            f"{examples(cut.loc[lost, 'lead_id'].tolist()) or '-'}). "
            "To score such rows use build_features or the model's score().",
            RowsExcludedWarning,
            stacklevel=3,
        )
    return cut.loc[~drop].reset_index(drop=True)
