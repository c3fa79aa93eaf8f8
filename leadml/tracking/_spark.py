"""Batch scoring on Spark with a saved or registered model, reasons included.

:func:`score_spark` scores a Spark DataFrame of leads (and one of their events) with a model
folder, a :class:`~leadml.modeling.LeadScoringModel` or ``models:/NAME@champion``. The model is
loaded once on the driver (so a missing model or alias fails before any Spark job), shipped to
the executors, and each executor scores whole accounts at a time with the very same
``model.score`` an in-process call uses (``cogroup(...).applyInPandas`` of the leads and events
of a bucket of accounts), so the scores, grades and reasons equal the in-process ones.

Nothing is dropped silently: events of leads that are not in the leads table are counted and
refused (``unknown_leads="error"``, the default) or dropped with a warning that counts them, and
the output has one row per input lead (checked when ``check_rows=True``, the default).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from leadml.exceptions import DataContractError

__all__ = ["score_spark"]

LEADS_PER_BUCKET = 20_000


def _spark_type(dtype: Any) -> str:
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "bigint"
    if pd.api.types.is_float_dtype(dtype):
        return "double"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamp"
    return "string"


def score_spark(
    model: Any,
    leads: Any,
    events: Any = None,
    *,
    as_of: str | pd.Timestamp | None = None,
    reasons: int = 3,
    unknown_leads: str = "error",
    tracking_uri: str | None = None,
    check_rows: bool = True,
    spark: Any = None,
) -> Any:
    """Score ``leads`` (a Spark or pandas DataFrame, one row per lead, contract columns) with
    ``model`` on Spark; returns a Spark DataFrame with the columns of ``model.score`` (``lead_id,
    as_of, p_convert, score, grade, band, ...``, ``reason_1..k``, ``reason_neg_1..k``) plus
    ``model_name`` and ``model_version``.

    ``events``: their events (Spark or pandas DataFrame, Parquet path or Spark table), or None.
    ``as_of``: one scoring time for every lead (default: now, taken once on the driver); a lead
    table with an ``as_of`` column is scored at each row's own time instead.
    """
    from pyspark.sql import functions as F

    from leadml.features import (
        spark_frame,
        spark_safe_pandas,
        spark_session,
        spark_unknown_leads,
    )
    from leadml.tracking._mlflow import load_model
    from leadml.tracking._pyfunc import model_identity

    spark = spark or spark_session()
    if isinstance(model, str) or hasattr(model, "__fspath__"):
        model = load_model(model, tracking_uri=tracking_uri)
    name, version = model_identity(model)
    lead_df = spark_frame(leads, spark, "leads")
    for col in ("lead_id", "created_at"):
        if col not in lead_df.columns:
            raise DataContractError(
                f"leads: column {col!r} missing; have {lead_df.columns[:12]}. Fix: one row per "
                "lead with lead_id, created_at and the profile columns."
            )
    per_row = "as_of" in lead_df.columns
    when = None if per_row else pd.Timestamp(as_of or pd.Timestamp.now(tz="UTC"))
    if when is not None and when.tzinfo is None:
        when = when.tz_localize("UTC")
    by_account = bool(getattr(model.spec, "has_accounts_", False)) and (
        "account_id" in lead_df.columns
    )
    key = F.coalesce(F.col("account_id").cast("string"), F.col("lead_id").cast("string"))
    if not by_account:
        key = F.col("lead_id").cast("string")
    n_leads = lead_df.count()
    n_buckets = max(spark.sparkContext.defaultParallelism, -(-n_leads // LEADS_PER_BUCKET))
    keys = lead_df.select(F.col("lead_id").cast("string").alias("lead_id"), key.alias("_key"))
    lead_df = lead_df.withColumn("_bucket", F.pmod(F.hash(key), F.lit(n_buckets)))
    ev_cols = ["lead_id", "timestamp", "event_type", "detail"]
    if events is not None:
        ev_df = spark_frame(events, spark, "events")
        missing = [c for c in ev_cols[:3] if c not in ev_df.columns]
        if missing:
            raise DataContractError(
                f"events: column(s) {missing} missing; have {ev_df.columns[:12]}. Fix: events "
                "need lead_id, timestamp, event_type (and optionally detail)."
            )
        if "detail" not in ev_df.columns:
            ev_df = ev_df.withColumn("detail", F.lit(None).cast("string"))
        ev_df = ev_df.select(*ev_cols).withColumn("lead_id", F.col("lead_id").cast("string"))
        spark_unknown_leads(ev_df, keys.select("lead_id"), unknown_leads)  # type: ignore[arg-type]
        ev_df = (
            ev_df.join(keys, "lead_id")
            .withColumn("_bucket", F.pmod(F.hash(F.col("_key")), F.lit(n_buckets)))
            .drop("_key")
        )
    else:
        ev_df = spark.createDataFrame(
            [], "lead_id string, timestamp timestamp, event_type string, detail string, _bucket int"
        )
    # the output schema, from scoring the first lead on the driver (a bad model or bad input
    # fails here, before the job)
    probe = lead_df.limit(1).toPandas()
    out_cols = _output_columns(model, probe, when, reasons)
    id_type = lead_df.schema["lead_id"].dataType.simpleString()
    schema = ", ".join(f"`{c}` {id_type if c == 'lead_id' else t}" for c, t in out_cols.items())

    def score_bucket(lp: pd.DataFrame, ep: pd.DataFrame) -> pd.DataFrame:
        lp = lp.drop(columns="_bucket")
        if len(lp) == 0:
            return pd.DataFrame({c: pd.Series([], dtype=object) for c in out_cols})
        ev = (
            ep.drop(columns="_bucket").assign(lead_id=ep["lead_id"].astype(lp["lead_id"].dtype))
            if len(ep)
            else None
        )
        scores = _score(model, lp, ev, when, reasons)
        scores["model_name"], scores["model_version"] = name, version
        return spark_safe_pandas(scores[list(out_cols)])

    result = (
        lead_df.groupBy("_bucket")
        .cogroup(ev_df.groupBy("_bucket"))
        .applyInPandas(score_bucket, schema=schema)
    )
    if check_rows:
        result = result.persist()
        n_out = result.count()
        if n_out != n_leads:
            raise RuntimeError(
                f"leadml internal error: Spark scored {n_out} rows for {n_leads} leads."
            )
    return result


def _score(
    model: Any,
    leads: pd.DataFrame,
    events: pd.DataFrame | None,
    when: pd.Timestamp | None,
    reasons: int,
) -> pd.DataFrame:
    """``model.score`` on one bucket, as an in-process call would make it."""
    if when is None:
        cut = pd.DataFrame({"lead_id": leads["lead_id"], "as_of": leads["as_of"]})
        return model.score(leads.drop(columns="as_of"), events, cutoffs=cut, reasons=reasons)
    return model.score(leads, events, as_of=when, reasons=reasons)


def _output_columns(
    model: Any, probe: pd.DataFrame, when: pd.Timestamp | None, reasons: int
) -> dict[str, str]:
    from leadml.features import spark_safe_pandas

    scores = _score(model, spark_safe_pandas(probe.drop(columns="_bucket")), None, when, reasons)
    cols = {c: _spark_type(scores[c].dtype) for c in scores.columns}
    cols["model_name"] = cols["model_version"] = "string"
    return cols
