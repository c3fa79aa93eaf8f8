"""The Spark engine: the same plan and kernels as DuckDB, distributed (``engine="spark"``).

Nothing here redefines a measure. A build on Spark runs the plan of :mod:`leadml.features._plan`
(the same SQL text as DuckDB, on Spark SQL with double-quoted identifiers) and the two per-row
steps after it, the pivot of windowed counts and the accumulation of all-history aggregates over
each lead's cut-offs (the families' kernels, :mod:`leadml.features._families`), in ``applyInPandas`` over buckets of whole
leads, calling the same compiled kernels. The scorecard's measures
(:func:`leadml.features.event_measures`) run their one query on Spark SQL the same way.

What stays on one machine: the leads, the conversions and the cut-offs (one row per lead or per
cut-off) and the resulting training set, which is what is trained on. The event log never
leaves Spark: it is read from Parquet, a Spark table or a Spark DataFrame, validated on Spark
(the same checks and errors as in memory) and joined there. See ``docs/spark.md``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadml.exceptions import ConfigError, DataContractError, RowsExcludedWarning
from leadml.features._spec import FeatureSpec
from leadml.features._time import to_us
from leadml.schema import EVENTS, ColumnMapping, UnknownLeads, check_columns, examples

__all__ = [
    "SparkEvents",
    "is_spark_frame",
    "run_plan_spark",
    "run_sql_spark",
    "spark_event_columns",
    "spark_events",
    "spark_frame",
    "spark_safe_pandas",
    "spark_session",
    "spark_unknown_leads",
]

ROWS_PER_BUCKET = 50_000  # cut-off rows per applyInPandas group (whole leads in each)


def _require_pyspark() -> Any:
    try:
        import pyspark
    except ImportError:  # pragma: no cover - the extra is installed by make test
        raise ConfigError(
            "engine='spark' needs PySpark: pip install 'leadml[spark]' (and Java 17+)."
        ) from None
    return pyspark


def spark_session(master: str | None = None) -> Any:
    """The active SparkSession, or a local one (``master``, else ``$LEADML_SPARK_MASTER``, else
    ``local[2]``; driver memory ``$LEADML_SPARK_DRIVER_MEMORY``, default 4g; tables in
    ``$LEADML_SPARK_WAREHOUSE`` if set) configured for leadml: UTC session time zone, Arrow
    transfers, double-quoted identifiers.

    An existing session is reused as it is, but for the settings leadml's SQL depends on, which
    are set on it (they are session settings, not cluster ones).
    """
    _require_pyspark()
    from pyspark.sql import SparkSession

    # PySpark 4 warns on every conversion that pandas 3 is "not fully supported"; leadml's use
    # of it is tested on pandas 3 (tests/features/test_spark.py), so the warning is noise here
    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
    )
    # ... and its pandas conversions use what pandas 3 deprecates (copy=, Series.values)
    warnings.filterwarnings("ignore", message="The copy keyword is deprecated", module="pyspark")
    warnings.filterwarnings("ignore", message="Series.values returning an ndarray")

    spark = SparkSession.getActiveSession()
    if spark is None:
        # the Python workers run this interpreter (its packages), unless told otherwise
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = (
            SparkSession.builder.master(master or os.environ.get("LEADML_SPARK_MASTER", "local[2]"))
            .appName("leadml")
            .config("spark.sql.shuffle.partitions", "8")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            # the Python workers' copy of the pandas-3 warning (see below)
            .config(
                "spark.executorEnv.PYTHONWARNINGS",
                "ignore:PySpark does not yet fully support pandas:FutureWarning",
            )
            .config("spark.driver.memory", os.environ.get("LEADML_SPARK_DRIVER_MEMORY", "4g"))
        )
        if os.environ.get("LEADML_SPARK_WAREHOUSE"):
            builder = builder.config(
                "spark.sql.warehouse.dir", os.environ["LEADML_SPARK_WAREHOUSE"]
            )
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
        for key, value in _SESSION_CONF.items():  # a session leadml started is leadml's
            spark.conf.set(key, value)
    return spark


@contextlib.contextmanager
def leadml_conf(spark: Any) -> Iterator[Any]:
    """The session settings leadml's SQL depends on, for the duration of a build on someone
    else's session (a notebook's, a cluster's); their own values are restored afterwards."""
    before = {k: spark.conf.get(k, None) for k in _SESSION_CONF}
    for key, value in _SESSION_CONF.items():
        spark.conf.set(key, value)
    try:
        yield spark
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


_SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.ansi.doubleQuotedIdentifiers": "true",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
}


def is_spark_frame(obj: object) -> bool:
    """Whether ``obj`` is a PySpark DataFrame (without importing PySpark when it is not)."""
    return type(obj).__module__.startswith("pyspark.") and hasattr(obj, "sparkSession")


# -------------------------------------------------------------------------------- the events
@dataclass
class SparkEvents:
    """A validated event log on Spark: ``df`` has ``lead_id`` (string), ``ts_us`` (bigint,
    microseconds since the epoch, UTC), ``event_type`` and ``detail`` (strings)."""

    df: Any
    n_events: int
    latest: pd.Timestamp | None
    dropped: int = 0


def spark_frame(src: Any, spark: Any, what: str = "events") -> Any:
    """A Spark DataFrame of ``src``: a Spark or pandas DataFrame, a Parquet file or folder, a CSV
    file, or the name of a Spark table."""
    if is_spark_frame(src):
        return src
    if isinstance(src, pd.DataFrame):
        return spark.createDataFrame(spark_safe_pandas(src))
    path = Path(str(src))
    if not path.exists():
        if isinstance(src, str) and spark.catalog.tableExists(src):
            return spark.table(src)
        raise DataContractError(
            f"{what}: {src} is neither a file, a folder nor a Spark table. Fix: pass a Parquet "
            "file, a folder of Parquet files, a table name or a Spark DataFrame."
        )
    name = path.name.lower()
    if path.is_dir():
        if not any(path.glob("**/*.parquet")):
            raise DataContractError(
                f"{what}: the folder {path} holds no .parquet files. Fix: point at the Parquet "
                "file(s) of the event log."
            )
        return spark.read.option("recursiveFileLookup", "true").parquet(str(path))
    if name.endswith((".parquet", ".pq")):
        return spark.read.parquet(str(path))
    if name.endswith((".csv", ".csv.gz")):
        return spark.read.option("header", "true").csv(str(path))
    raise DataContractError(
        f"{what}: unsupported file type {path.suffix!r} for {path}. Fix: use .parquet (or a "
        "folder of Parquet files) or .csv."
    )


def spark_safe_pandas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy Spark's Arrow conversion accepts: text and categories as object strings."""
    out = df.copy()
    for c in out.columns:
        dt = out[c].dtype
        if isinstance(dt, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dt):
            out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


def spark_events(
    source: Any,
    leads: pd.DataFrame,
    *,
    mapping: ColumnMapping | None = None,
    unknown_leads: UnknownLeads = "error",
    detail: bool = True,
    spark: Any = None,
) -> SparkEvents:
    """Read and validate an event log on Spark against validated ``leads`` (pandas).

    ``source``: a Spark DataFrame, a pandas DataFrame, a Parquet file or folder, a CSV file or
    a Spark table name. The checks are those of :func:`leadml.schema.validate_events`: required
    columns (after ``mapping``), no missing lead id, timestamp or event type, timestamps that
    parse, lead ids known to ``leads`` (``unknown_leads``: ``error``, ``drop`` with a warning
    that counts them, or ``ignore``). Each error names the column, a count and example lead ids.
    """
    spark = spark or spark_session()
    with leadml_conf(spark):
        return _spark_events(source, leads, mapping, unknown_leads, detail, spark)


def _spark_events(
    source: Any,
    leads: pd.DataFrame,
    mapping: ColumnMapping | None,
    unknown_leads: UnknownLeads,
    detail: bool,
    spark: Any,
) -> SparkEvents:
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    raw = spark_frame(source, spark)
    m = mapping or ColumnMapping({})
    head = m.apply("events", pd.DataFrame(columns=list(raw.columns)))
    check_columns(head, EVENTS)
    renamed = dict(zip(head.columns, raw.columns, strict=True))
    cols = [
        F.col(f"`{renamed['lead_id']}`").cast("string").alias("lead_id"),
        F.col(f"`{renamed['timestamp']}`").alias("raw_ts"),
        F.col(f"`{renamed['event_type']}`").cast("string").alias("event_type"),
        (
            F.col(f"`{renamed['detail']}`").cast("string")
            if detail and "detail" in renamed
            else F.lit(None).cast("string")
        ).alias("detail"),
    ]
    ev = raw.select(*cols)
    ts_type = ev.schema["raw_ts"].dataType
    if isinstance(ts_type, T.TimestampType | T.TimestampNTZType | T.DateType):
        # naive times are UTC (the session time zone), as in memory
        ts = F.unix_micros(F.col("raw_ts").cast("timestamp"))
    elif isinstance(ts_type, T.StringType):
        ts = F.unix_micros(F.try_to_timestamp(F.col("raw_ts")))
    elif isinstance(ts_type, T.NumericType):
        raise DataContractError(
            "events.timestamp: numeric (Unix) times are not read on Spark. Fix: store the "
            "column as a timestamp, or cast it with to_timestamp() before passing the DataFrame."
        )
    else:
        raise DataContractError(
            f"events.timestamp: unsupported Spark type {ts_type.simpleString()}. Fix: use a "
            "timestamp column (or ISO 8601 text)."
        )
    ev = ev.withColumn("ts_us", ts)
    checks = ev.agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(F.col("lead_id").isNull().cast("int")).alias("no_lead"),
        F.sum(F.col("raw_ts").isNull().cast("int")).alias("no_ts"),
        F.sum((F.col("raw_ts").isNotNull() & F.col("ts_us").isNull()).cast("int")).alias("bad_ts"),
        F.sum(F.col("event_type").isNull().cast("int")).alias("no_type"),
        F.max("ts_us").alias("latest"),
    ).collect()[0]

    def ids(cond: Any) -> str:
        rows = ev.where(cond).select("lead_id", "raw_ts").limit(5).collect()
        return examples([r["lead_id"] for r in rows])

    if checks["no_lead"]:
        raise DataContractError(
            f"events.lead_id: {checks['no_lead']} missing value(s). Fix: every row needs a lead id."
        )
    if checks["no_ts"]:
        raise DataContractError(
            f"events.timestamp: {checks['no_ts']} missing timestamp(s) at lead ids "
            f"{ids(F.col('raw_ts').isNull())}. Fix: fill them or remove those rows before calling "
            "leadml."
        )
    if checks["bad_ts"]:
        bad = ev.where(F.col("ts_us").isNull()).select("lead_id", "raw_ts").limit(5).collect()
        raise DataContractError(
            f"events.timestamp: {checks['bad_ts']} value(s) are not timestamps, e.g. "
            f"{examples([r['raw_ts'] for r in bad])} at lead ids {examples([r['lead_id'] for r in bad])}. "
            "Fix: use ISO 8601 text (2024-05-01T10:00:00Z) or a timestamp column."
        )
    if checks["no_type"]:
        raise DataContractError(
            f"events.event_type: {checks['no_type']} missing value(s) at lead ids "
            f"{ids(F.col('event_type').isNull())}. Fix: every event needs a type."
        )
    ev = ev.drop("raw_ts")
    known = spark.createDataFrame(
        pd.DataFrame({"lead_id": leads["lead_id"].astype(str).to_numpy(dtype=object)}),
        schema="lead_id string",
    )
    n = int(checks["n"])
    n_unknown = spark_unknown_leads(ev, known, unknown_leads)
    if unknown_leads != "error":
        ev = ev.join(F.broadcast(known), "lead_id", "left_semi")
    latest = None
    if checks["latest"] is not None:
        latest = pd.Timestamp(int(checks["latest"]), unit="us", tz="UTC")
    return SparkEvents(df=ev, n_events=n - n_unknown, latest=latest, dropped=n_unknown)


def spark_unknown_leads(events: Any, known: Any, unknown_leads: UnknownLeads) -> int:
    """Events (a Spark DataFrame with a string ``lead_id``) of leads not in ``known`` (the same,
    one row per lead): refused (``"error"``, naming some), reported with a warning that counts
    them (``"drop"``), or not looked for (``"ignore"``). Returns how many there are; the caller
    keeps only the known leads' events."""
    from pyspark.sql import functions as F

    if unknown_leads == "ignore":
        return 0
    unknown = events.join(F.broadcast(known), "lead_id", "left_anti")
    n_unknown = int(unknown.count())
    if n_unknown:
        some = examples(
            [r["lead_id"] for r in unknown.select("lead_id").distinct().limit(5).collect()]
        )
        if unknown_leads == "error":
            raise DataContractError(
                f"events.lead_id: {n_unknown} row(s) reference leads not in the leads table: "
                f"{some}. Fix: add those leads, or pass unknown_leads='drop' (CLI: "
                "--drop-unknown-leads) to drop them with a report."
            )
        warnings.warn(
            f"events: dropped {n_unknown} row(s) of unknown leads ({some}).",
            RowsExcludedWarning,
            stacklevel=3,
        )
    return n_unknown


def pandas_events(events: pd.DataFrame, spark: Any = None) -> SparkEvents:
    """An already validated in-memory events table handed to Spark."""
    spark = spark or spark_session()
    pdf = pd.DataFrame(
        {
            "lead_id": events["lead_id"].astype(str).to_numpy(dtype=object),
            "ts_us": to_us(events["timestamp"]) if len(events) else np.zeros(0, np.int64),
            "event_type": events["event_type"].astype(object).to_numpy(),
            "detail": (
                events["detail"].astype(object).where(events["detail"].notna(), None).to_numpy()
                if "detail" in events.columns
                else np.full(len(events), None, dtype=object)
            ),
        }
    )
    df = spark.createDataFrame(pdf, schema=_EVENTS_SCHEMA)
    latest = events["timestamp"].max() if len(events) else None
    return SparkEvents(df=df, n_events=len(events), latest=latest)


_EVENTS_SCHEMA = "lead_id string, ts_us bigint, event_type string, detail string"


def event_counts(events: SparkEvents, before: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
    """Events per type and per (type, detail) before ``before``: what a FeatureSpec's
    vocabularies are fitted from (:meth:`FeatureSpec.fit_counts`), counted on Spark."""
    from pyspark.sql import functions as F

    seen = events.df.where(F.col("ts_us") < int(to_us(pd.Series([before]))[0]))
    tc = seen.groupBy("event_type").count().toPandas()
    pc = seen.where(F.col("detail").isNotNull()).groupBy("event_type", "detail").count().toPandas()
    types = pd.Series(tc["count"].to_numpy(dtype="int64"), index=tc["event_type"].astype(str))
    pairs = pd.Series(
        pc["count"].to_numpy(dtype="int64"),
        index=pd.MultiIndex.from_arrays(
            [pc["event_type"].astype(str), pc["detail"].astype(str)], names=["event_type", "detail"]
        ),
    )
    return types, pairs


# ----------------------------------------------------------------------------- the plan on Spark
_PLAN_SCHEMAS = {
    "lm_c": "row_id bigint, lead_key int, as_of_us bigint",
    "lm_leads": "lead_id string, lead_key int, created_us bigint, account_key int",
    "lm_types": "event_type string, type_id int",
    "lm_pairs": "event_type string, detail string, pair_id int",
    "lm_u": "cut_idx bigint, lead_key int, as_of_us bigint, prev_us bigint",
    "lm_cut": "row_id bigint, lead_id string, as_of_us bigint",
}


def _frame(spark: Any, name: str, df: Any) -> Any:
    if is_spark_frame(df):
        return df
    if isinstance(df, SparkEvents):
        return df.df
    pdf = df.copy()
    if "lead_id" in pdf.columns:
        pdf["lead_id"] = pdf["lead_id"].astype(str).to_numpy(dtype=object)
    schema = _PLAN_SCHEMAS.get(name, _EVENTS_SCHEMA if name == "lm_events" else None)
    return spark.createDataFrame(spark_safe_pandas(pdf), schema=schema)


def run_plan_spark(
    plan: dict[str, Any], tables: dict[str, Any], *, spark: Any = None
) -> tuple[dict[str, Any], list[Any]]:
    """The plan's stages persisted and its queries as Spark DataFrames (not collected), and the
    persisted frames to unpersist when done."""
    spark = spark or spark_session()
    for name, df in tables.items():
        _frame(spark, name, df).createOrReplaceTempView(name)
    cached = []
    for name, sql in plan["stages"]:
        stage = spark.sql(sql).persist()
        stage.createOrReplaceTempView(name)
        cached.append(stage)
    return {name: spark.sql(sql) for name, sql in plan["queries"].items()}, cached


def run_sql_spark(sql: str, tables: dict[str, Any], *, spark: Any = None) -> pd.DataFrame:
    """Run one query over ``tables`` on Spark SQL and collect it (the scorecard's measures)."""
    spark = spark or spark_session()
    with leadml_conf(spark):
        for name, df in tables.items():
            _frame(spark, name, df).createOrReplaceTempView(name)
        return spark.sql(sql).toPandas()


def _collect(df: Any) -> pd.DataFrame:
    """A Spark result on the driver, by way of Parquet files: ``toPandas`` gathers every Arrow
    batch in the driver JVM's heap first, which runs out of memory long before the training set
    is too big for pandas; files written by the executors are read by pyarrow instead."""
    import shutil
    import tempfile

    import pyarrow.parquet as pq

    shared = os.environ.get("LEADML_SPARK_TMP")
    if not shared and not str(df.sparkSession.sparkContext.master).startswith("local"):
        # on a cluster the executors cannot write to the driver's disk: set LEADML_SPARK_TMP to
        # a folder both see (a shared mount) to collect large results this way
        return df.toPandas()
    base = shared or tempfile.gettempdir()
    folder = Path(tempfile.mkdtemp(prefix="leadml-spark-", dir=base))
    try:
        df.write.mode("overwrite").parquet(str(folder / "out"))
        return pq.read_table(folder / "out").to_pandas()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------- the per-lead bookkeeping
_LONG_SCHEMA = (
    "bucket int, tag int, lead_key int, row_id bigint, as_of_us bigint, type_id int, "
    "pair_id int, wbin int, n double, last_us double, dec double"
)


def _bucket_frame(spec: FeatureSpec, feature_cols: Sequence[str]) -> Any:
    """The function ``applyInPandas`` calls on each bucket of whole leads: the cut-off rows
    (tag 0), their long window counts (tag 1) and bucket aggregates (tag 2) in, one row per
    cut-off with the pivoted and accumulated columns out."""

    def run(g: pd.DataFrame) -> pd.DataFrame:
        from leadml.features._builder import distinct_cutoffs
        from leadml.features._families import history, windowed

        tag = g["tag"].to_numpy()
        c = g.loc[tag == 0].sort_values("row_id", kind="stable")
        row_id = c["row_id"].to_numpy(dtype=np.int64)
        lead = c["lead_key"].to_numpy(dtype=np.int64)
        as_of = c["as_of_us"].to_numpy(dtype=np.int64)
        parts = [pd.DataFrame({"row_id": row_id})]
        counts = g.loc[tag == 1]
        if len(counts):
            counts = counts.assign(row_id=np.searchsorted(row_id, counts["row_id"].to_numpy()))
        parts.append(windowed.pivot_counts(spec, counts if len(counts) else None, len(c)))
        u_lead, u_as_of, _, u_of_row = distinct_cutoffs(lead, as_of)
        hist = g.loc[tag == 2]
        if len(hist):
            where = pd.MultiIndex.from_arrays([u_lead, u_as_of]).get_indexer(
                pd.MultiIndex.from_arrays(
                    [hist["lead_key"].to_numpy(np.int64), hist["as_of_us"].to_numpy(np.int64)]
                )
            )
            if (where < 0).any():
                raise RuntimeError("leadml internal error: a bucket aggregate has no cut-off.")
            hist = hist.assign(cut_idx=where)
        parts.append(
            history.history_features(
                spec, hist if len(hist) else None, u_lead, u_as_of, u_of_row, as_of
            )
        )
        out = pd.concat([p.reset_index(drop=True) for p in parts], axis=1)
        return out[["row_id", *feature_cols]]

    return run


def spark_event_columns(
    spec: FeatureSpec,
    tables: dict[str, Any],
    n_rows: int,
    *,
    spark: Any = None,
) -> pd.DataFrame:
    """The spec's event and account columns computed on Spark, one row per cut-off row
    (``row_id`` order), from the plan's input ``tables`` (``lm_events`` a Spark DataFrame or
    :class:`SparkEvents`; the others small pandas tables)."""
    spark = spark or spark_session()
    with leadml_conf(spark):
        return _event_columns(spec, tables, n_rows, spark)


def _event_columns(
    spec: FeatureSpec, tables: dict[str, Any], n_rows: int, spark: Any
) -> pd.DataFrame:
    from pyspark.sql import functions as F

    from leadml.features._plan import PLAN_KINDS, build_plan

    plan = build_plan(spec)
    frames, cached = run_plan_spark(plan, tables, spark=spark)
    try:
        meta = spec.feature_meta_
        kept = [n for n, m in meta.items() if m["kind"] in PLAN_KINDS]
        n_buckets = max(1, -(-n_rows // ROWS_PER_BUCKET), spark.sparkContext.defaultParallelism)
        cut = spark.table("lm_c")
        bucket = (F.col("lead_key") % n_buckets).cast("int")
        nul = {
            c: F.lit(None).cast(t)
            for c, t in (
                ("row_id", "bigint"),
                ("as_of_us", "bigint"),
                ("type_id", "int"),
                ("pair_id", "int"),
                ("wbin", "int"),
                ("n", "double"),
                ("last_us", "double"),
                ("dec", "double"),
            )
        }

        def tagged(df: Any, tag: int, **cols: Any) -> Any:
            sel = {**nul, **cols}
            return df.select(
                bucket.alias("bucket"),
                F.lit(tag).alias("tag"),
                F.col("lead_key").cast("int").alias("lead_key"),
                *[sel[c].alias(c) for c in nul],
            )

        longs = [
            tagged(cut, 0, row_id=F.col("row_id"), as_of_us=F.col("as_of_us")),
        ]
        if "counts" in frames:
            counts = frames["counts"].join(cut.select("row_id", "lead_key"), "row_id")
            longs.append(
                tagged(
                    counts,
                    1,
                    row_id=F.col("row_id"),
                    type_id=F.col("type_id").cast("int"),
                    pair_id=F.col("pair_id").cast("int"),
                    wbin=F.col("wbin").cast("int"),
                    n=F.col("n").cast("double"),
                )
            )
        if "history" in frames:
            hist = frames["history"].join(
                spark.table("lm_u").select("cut_idx", "lead_key", "as_of_us"), "cut_idx"
            )
            longs.append(
                tagged(
                    hist,
                    2,
                    as_of_us=F.col("as_of_us"),
                    type_id=F.col("type_id").cast("int"),
                    pair_id=F.col("pair_id").cast("int"),
                    n=F.col("n").cast("double"),
                    last_us=F.col("last_us").cast("double"),
                    dec=F.col("dec").cast("double"),
                )
            )
        long = longs[0]
        for other in longs[1:]:
            long = long.unionByName(other)
        schema = ", ".join(["row_id bigint", *(f"`{n}` double" for n in kept)])
        result = long.groupBy("bucket").applyInPandas(_bucket_frame(spec, kept), schema=schema)
        if "features" in frames:
            result = result.join(frames["features"], "row_id", "left")
        out = _collect(result)
    finally:
        for df in cached:
            df.unpersist()
    if len(out) != n_rows:
        raise RuntimeError(
            f"leadml internal error: Spark returned {len(out)} feature rows for {n_rows} cut-offs."
        )
    out = out.sort_values("row_id", kind="stable").reset_index(drop=True)
    if not np.array_equal(out["row_id"].to_numpy(), np.arange(n_rows)):
        raise RuntimeError("leadml internal error: Spark did not return one row per cut-off.")
    return out.drop(columns="row_id").astype("float64")
