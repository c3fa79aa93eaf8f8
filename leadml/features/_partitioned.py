"""Training sets larger than memory: partition by account, build each part, stream to Parquet.

Features of a lead need only its own events and those of the other leads of its account, so
leads are split into parts by account (a lead without an account is its own group) and every
part is built exactly as :func:`build_training_set` would build it, with one vocabulary fitted on
the whole data. Memory is bounded by the largest part, not by the event log:

1. the leads, conversions and cut-offs are read and validated whole (they are small);
2. one streaming DuckDB pass joins every event to its lead's part and writes each part to its own
   Parquet file (DuckDB spills to disk past ``memory_limit``); events of unknown leads go to a
   part of their own and are reported (an error by default);
3. the latest event time (the default end of the data) is read from the parts; for text
   timestamps, from a pass over the validated parts instead;
4. when the spec is not fitted yet, a pass counts events per type and (type, detail) pair before
   the last cut-off, and the vocabulary is fitted from those counts;
5. each part's events are validated (the same checks as in memory), its rows are built and
   appended to the output Parquet file, then freed.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadml._files import ParquetParts
from leadml.exceptions import ConfigError, DataContractError, RowsExcludedWarning
from leadml.features._builder import Engine, compute_features, label_rows, training_cutoffs
from leadml.features._spec import FeatureSpec
from leadml.features._time import parse_duration
from leadml.schema import (
    EVENTS,
    ColumnMapping,
    LeadData,
    UnknownLeads,
    check_columns,
    empty_events,
    examples,
    isin,
    positions,
    read_table,
    validate_conversions,
    validate_events,
    validate_leads,
)

__all__ = ["PartitionedBuild", "write_training_set"]

EVENTS_PER_PART = 4_000_000


@dataclass
class PartitionedBuild:
    """What :func:`write_training_set` wrote."""

    path: Path
    rows: int
    partitions: int
    events: int
    leads: int
    censored: int
    positives: int
    feature_names: list[str]
    seconds: float
    rows_per_part: list[int] = field(default_factory=list)

    @property
    def label_rate(self) -> float:
        usable = self.rows - self.censored
        return self.positives / usable if usable else float("nan")


def _source_sql(
    src: str | Path | pd.DataFrame, con: Any, mapping: ColumnMapping, *, detail: bool = True
) -> str:
    """A SELECT over the events source with contract column names (``detail`` only if asked:
    a fitted spec without (type, detail) pairs never reads it)."""
    if isinstance(src, pd.DataFrame):
        con.register("lm_src_df", src)
        rel = "lm_src_df"
    else:
        path = Path(src)
        if not path.exists():
            raise DataContractError(f"events: file not found: {path}. Fix: check the path.")
        name = path.name.lower()
        if path.is_dir():  # a dataset of Parquet files
            files = sorted(path.glob("**/*.parquet"))
            if not files:
                raise DataContractError(
                    f"events: the folder {path} holds no .parquet files. Fix: point at the "
                    "Parquet file(s) of the event log."
                )
            name, path = "x.parquet", path / "**" / "*.parquet"
        quoted = str(path).replace("'", "''")
        if name.endswith((".parquet", ".pq")):
            rel = f"read_parquet('{quoted}')"
        elif name.endswith((".csv", ".csv.gz", ".tsv", ".txt")):
            rel = f"read_csv('{quoted}', header = true)"
        else:
            raise DataContractError(
                f"events: unsupported file type {path.suffix!r} for {path}. "
                "Fix: use .csv or .parquet (or a folder of .parquet files)."
            )
    cols = [d[0] for d in con.sql(f"SELECT * FROM {rel} LIMIT 0").description]
    head = mapping.apply("events", pd.DataFrame(columns=cols))
    check_columns(head, EVENTS)  # the same missing/misnamed-column error as in memory
    renamed = dict(zip(head.columns, cols, strict=True))
    wanted = ("lead_id", "timestamp", "event_type", *(("detail",) if detail else ()))
    keep = [c for c in wanted if c in renamed]
    select = ", ".join(f'"{renamed[c]}" AS {c}' for c in keep)
    return f"SELECT {select} FROM {rel}"


def _parts_of(leads: pd.DataFrame, n_parts: int) -> np.ndarray:
    """Part of each lead: a stable hash of its account (or of its id when it has none)."""
    if n_parts == 1:
        return np.zeros(len(leads), dtype=np.int64)
    key = leads["lead_id"].astype(str)
    if "account_id" in leads.columns:
        acc = leads["account_id"]
        key = ("a:" + acc.astype(str)).where(acc.notna(), "l:" + key)
    h = pd.util.hash_pandas_object(key.reset_index(drop=True), index=False).to_numpy()
    return (h % np.uint64(n_parts)).astype(np.int64)


def write_training_set(
    out: str | Path,
    leads: str | Path | pd.DataFrame,
    events: str | Path | pd.DataFrame,
    conversions: str | Path | pd.DataFrame | None = None,
    *,
    horizon: str | int | pd.Timedelta,
    cutoffs: str | Path | pd.DataFrame | None = None,
    every: str | int | pd.Timedelta | None = None,
    spec: FeatureSpec | None = None,
    start: str | pd.Timestamp | None = None,
    max_age: str | int | pd.Timedelta | None = None,
    observed_until: str | pd.Timestamp | None = None,
    unknown_leads: UnknownLeads = "error",
    partitions: int | None = None,
    mapping: ColumnMapping | Mapping[str, Mapping[str, str]] | None = None,
    memory_limit: str = "3GB",
    work_dir: str | Path | None = None,
    engine: Engine = "duckdb",
    progress: Any = None,
) -> PartitionedBuild:
    """Build a training set part by part and write it to a Parquet file; for event logs that do
    not fit in memory. Same rows, features and labels as :func:`build_training_set`.

    Parameters
    ----------
    out : path
        The Parquet file to write (written to a temporary name, then renamed).
    leads, conversions, cutoffs : path or DataFrame
        Held in memory (one row per lead / conversion / cut-off).
    events : path or DataFrame
        Parquet or CSV file, or a folder of Parquet files (never loaded whole), or a DataFrame;
        with ``engine="spark"`` also a Spark DataFrame or a Spark table name.
    partitions : int, optional
        Number of parts; default: one per ~4M events. Leads of one account are always in the
        same part, so account roll-ups are exact.
    memory_limit : str
        DuckDB's memory limit for the partitioning pass (it spills to ``work_dir`` beyond it).
    work_dir : path, optional
        Where the parts are written (default: a temporary directory next to ``out``); removed
        at the end.
    engine : "duckdb" or "spark"
        ``"spark"``: the event log is read, validated and joined on Spark (the active session,
        or a local one) instead of in parts; the training set is collected and written.
    progress : callable, optional
        Called as ``progress(step: str, done: int, total: int)``.

    Returns
    -------
    PartitionedBuild
        Rows written (the output is never shorter than the cut-offs without a warning saying
        why), parts, label counts, feature names and time. Rows are grouped by part; within a
        part they keep the order of the cut-offs (a schedule is sorted by ``(as_of, lead_id)``).
    """
    import pyarrow as pa

    t0 = time.perf_counter()
    h = parse_duration(horizon, name="horizon")
    m = mapping if isinstance(mapping, ColumnMapping) else ColumnMapping(dict(mapping or {}))
    if partitions is not None and partitions < 1:
        raise ConfigError(f"write_training_set: partitions must be >= 1, got {partitions}.")
    out = Path(out)
    if out.suffix.lower() != ".parquet":
        raise ConfigError(f"write_training_set: {out} must be a .parquet file.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tick = progress or (lambda step, done, total: None)

    lv = validate_leads(m.apply("leads", read_table(leads, table="leads")))
    cv = (
        validate_conversions(
            m.apply("conversions", read_table(conversions, table="conversions")),
            lv,
            unknown_leads=unknown_leads,
        )
        if conversions is not None
        else None
    )
    if engine == "spark":
        if partitions is not None:
            raise ConfigError(
                "write_training_set: partitions is for the DuckDB engine; Spark distributes the "
                "event log itself. Fix: leave partitions out with engine='spark'."
            )
        return _write_spark(
            out,
            LeadData(
                leads=lv,
                events=empty_events(),
                conversions=cv if cv is not None else _no_conversions(lv),
            ),
            events,
            horizon=h,
            cutoffs=None
            if cutoffs is None
            else m.apply("cutoffs", read_table(cutoffs, table="cutoffs")),
            every=every,
            spec=spec,
            start=start,
            max_age=max_age,
            observed_until=observed_until,
            unknown_leads=unknown_leads,
            mapping=m,
            t0=t0,
        )
    work = Path(tempfile.mkdtemp(prefix=".leadml-parts-", dir=work_dir or out.parent))
    try:
        spec = spec if spec is not None else FeatureSpec()
        n_events, n_parts, part, ev_end = _scatter_events(
            events,
            lv,
            work,
            mapping=m,
            detail=not spec.fitted_ or bool(spec.details_),
            partitions=partitions,
            unknown_leads=unknown_leads,
            want_end=observed_until is None,
            memory_limit=memory_limit,
            tick=tick,
        )
        native_end = ev_end is not None or observed_until is not None

        def part_events(k: int) -> pd.DataFrame:
            """Part ``k``'s events, validated like an in-memory events table."""
            d = work / "events" / f"part={k}"
            if d.exists():
                raw = pd.read_parquet(d).drop(columns="part", errors="ignore")
                ev = validate_events(raw, lv.loc[part == k], unknown_leads="error")
            else:
                ev = empty_events()
                ev["lead_id"] = ev["lead_id"].astype(lv["lead_id"].dtype)
            if "detail" not in ev.columns:
                ev["detail"] = None
            return ev

        if not native_end:  # pass 1 (text timestamps, or no events): latest event
            for k in range(n_parts):
                ev = part_events(k)
                if len(ev):
                    t = ev["timestamp"].max()
                    ev_end = t if ev_end is None else max(ev_end, t)
                tick("reading event times", k + 1, n_parts)
        data = LeadData(
            leads=lv,
            events=empty_events(),
            conversions=cv if cv is not None else _no_conversions(lv),
        )
        end = observed_until
        if end is None:
            end = data.observed_until if ev_end is None else max(data.observed_until, ev_end)
        cut_in = (
            None if cutoffs is None else m.apply("cutoffs", read_table(cutoffs, table="cutoffs"))
        )
        cut, end_ts = training_cutoffs(
            data,
            cutoffs=cut_in,
            every=every,
            start=start,
            max_age=max_age,
            observed_until=end,
            caller="write_training_set",
        )
        if not spec.fitted_:  # pass 2: vocabulary from counts before the last cut-off
            last = cut["as_of"].max()
            tc: pd.Series | None = None
            pc: pd.Series | None = None
            for k in range(n_parts):
                ev = part_events(k)
                t, pv = FeatureSpec.event_counts(ev.loc[ev["timestamp"] < last])
                tc = t if tc is None else tc.add(t, fill_value=0)
                if pv is not None:
                    pc = pv if pc is None else pc.add(pv, fill_value=0)
                tick("counting event types", k + 1, n_parts)
            spec.fit_counts(
                lv.loc[lv["created_at"] <= last],
                (tc if tc is not None else pd.Series(dtype="int64")).astype("int64"),
                None if pc is None else pc.astype("int64"),
            )
        # pass 3: build and append
        cut_part = part[positions(cut["lead_id"], lv["lead_id"])]
        rows = censored = positives = 0
        per_part: list[int] = []

        def empty() -> pa.Table:  # no rows at all: still a file with the right columns
            feats0 = compute_features(spec, data, cut.iloc[:0], engine=engine)
            lab0 = label_rows(feats0, data.conversions, horizon=h, observed_until=end_ts)
            return _to_arrow(pd.concat([feats0, lab0], axis=1))

        with ParquetParts(out) as parts:
            for k in range(n_parts):
                ck = cut.loc[cut_part == k].reset_index(drop=True)
                per_part.append(len(ck))
                if len(ck) == 0:
                    tick("building features", k + 1, n_parts)
                    continue
                mine = part == k
                dk = LeadData(
                    leads=lv.loc[mine].reset_index(drop=True),
                    events=part_events(k),
                    conversions=data.conversions.loc[
                        isin(data.conversions["lead_id"], lv.loc[mine, "lead_id"])
                    ].reset_index(drop=True),
                )
                feats = compute_features(spec, dk, ck, engine=engine)
                lab = label_rows(
                    feats[["lead_id", "as_of"]], dk.conversions, horizon=h, observed_until=end_ts
                )
                ts = pd.concat([feats, lab], axis=1)
                parts.write(_to_arrow(ts))
                rows += len(ts)
                censored += int(ts["censored"].sum())
                positives += int((ts["label"] == 1).sum())
                del feats, lab, ts, dk
                tick("building features", k + 1, n_parts)
            parts.finish(empty)
        if rows != len(cut):
            raise RuntimeError("leadml internal error: parts lost rows.")
        return PartitionedBuild(
            path=out,
            rows=rows,
            partitions=n_parts,
            events=n_events,
            leads=len(lv),
            censored=censored,
            positives=positives,
            feature_names=list(spec.feature_names_),
            seconds=time.perf_counter() - t0,
            rows_per_part=per_part,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write_spark(
    out: Path,
    data: LeadData,
    events: Any,
    *,
    t0: float,
    **kwargs: Any,
) -> PartitionedBuild:
    """:func:`write_training_set` with ``engine="spark"``: the event log is read, validated and
    joined on Spark (:func:`leadml.features._builder.spark_training_set`); the training set, one
    row per cut-off, is collected and written to ``out``."""
    import pyarrow.parquet as pq

    from leadml.features._builder import spark_training_set

    spec = kwargs.pop("spec") or FeatureSpec()
    ts, sev = spark_training_set(data, events, None, spec=spec, **kwargs)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        pq.write_table(_to_arrow(ts), tmp)
        tmp.replace(out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return PartitionedBuild(
        path=out,
        rows=len(ts),
        partitions=1,
        events=sev.n_events,
        leads=len(data.leads),
        censored=int(ts["censored"].sum()),
        positives=int((ts["label"] == 1).sum()),
        feature_names=list(spec.feature_names_),
        seconds=time.perf_counter() - t0,
        rows_per_part=[len(ts)],
    )


def _scatter_events(
    events: str | Path | pd.DataFrame,
    lv: pd.DataFrame,
    work: Path,
    *,
    mapping: ColumnMapping,
    detail: bool,
    partitions: int | None,
    unknown_leads: UnknownLeads,
    want_end: bool,
    memory_limit: str,
    tick: Any,
) -> tuple[int, int, np.ndarray, pd.Timestamp | None]:
    """Write each part's events to ``work/events/part=K`` in one streaming DuckDB pass.

    Returns the number of events and of parts, the part of each lead, and (when ``want_end`` and the
    timestamps are a timestamp type) the latest event time; ``None`` means a pass over the
    validated parts must find it.
    """
    import duckdb

    with duckdb.connect(
        config={"memory_limit": memory_limit, "temp_directory": str(work / "spill")}
    ) as con:
        con.execute("SET enable_progress_bar = false")
        src = _source_sql(events, con, mapping, detail=detail)
        n_events = int(con.sql(f"SELECT COUNT(*) FROM ({src})").fetchall()[0][0])
        n_parts = partitions or max(1, math.ceil(n_events / EVENTS_PER_PART))
        part = _parts_of(lv, n_parts)
        keys = pd.DataFrame({"lead_key": lv["lead_id"].astype(str).to_numpy(), "part": part})
        con.register("lm_parts", keys)
        tick("partitioning events", 0, 1)
        id_type = str(con.sql(f"SELECT lead_id FROM ({src}) LIMIT 0").types[0]).upper()
        key = "s.lead_id" if id_type == "VARCHAR" else "CAST(s.lead_id AS VARCHAR)"
        con.execute(  # events of unknown leads go to part -1
            f"COPY (SELECT s.*, COALESCE(p.part, -1) AS part FROM ({src}) s "
            f"LEFT JOIN lm_parts p ON {key} = p.lead_key) "
            f"TO '{work / 'events'}' (FORMAT parquet, PARTITION_BY (part), COMPRESSION lz4_raw)"
        )
        tick("partitioning events", 1, 1)
        _unknown_events(work / "events" / "part=-1", unknown_leads)
        ts_type = str(con.sql(f"SELECT timestamp FROM ({src}) LIMIT 0").types[0]).upper()
        if not (want_end and ts_type.startswith("TIMESTAMP")):
            return n_events, n_parts, part, None
        parts_glob = str(work / "events" / "part=*" / "*.parquet").replace("'", "''")
        got = con.sql(  # epoch microseconds: naive timestamps are UTC, as in the contract
            f"SELECT epoch_us(MAX(timestamp)) FROM read_parquet('{parts_glob}')"
        ).fetchall()
    end = None if got[0][0] is None else pd.Timestamp(int(got[0][0]), unit="us", tz="UTC")
    return n_events, n_parts, part, end


def _unknown_events(folder: Path, unknown_leads: UnknownLeads) -> None:
    """Raise (or warn, with ``"drop"``) about events whose lead is not in the leads table."""
    if not folder.exists():
        return
    bad = pd.read_parquet(folder, columns=["lead_id"])["lead_id"].astype(str)
    ids = sorted(bad.unique())
    n_rows, n_ids = len(bad), len(ids)
    shutil.rmtree(folder, ignore_errors=True)
    if unknown_leads != "drop":
        raise DataContractError(
            f"events.lead_id: {n_rows} row(s) refer to {n_ids} lead id(s) that are not in the "
            f"leads table: {examples(ids)}. Fix: add those leads, or pass unknown_leads='drop' "
            "(CLI: --drop-unknown-leads) to drop these rows with a report."
        )
    warnings.warn(
        f"events: dropped {n_rows} row(s) for {n_ids} lead id(s) not in the leads table: "
        f"{examples(ids)}.",
        RowsExcludedWarning,
        stacklevel=3,
    )


def _to_arrow(df: pd.DataFrame) -> Any:
    import pyarrow as pa

    with warnings.catch_warnings():
        # pyarrow reads tz-aware columns through Series.values, which pandas 3 deprecates
        warnings.filterwarnings("ignore", message=".*Series.values.*")
        return pa.Table.from_pandas(df, preserve_index=False)


def _no_conversions(lv: pd.DataFrame) -> pd.DataFrame:
    from leadml.schema import empty_conversions

    cv = empty_conversions()
    cv["lead_id"] = cv["lead_id"].astype(lv["lead_id"].dtype)
    return cv
