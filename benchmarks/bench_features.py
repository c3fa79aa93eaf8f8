"""Training-set build benchmark: leadml (generated SQL on DuckDB) vs named baselines, same run.

Baselines:
  (a) pandas: a vectorised implementation of the same features (merge events to cut-offs,
      filter, groupby/unstack; no Python loop over leads) -- values must be identical;
  (b) hand-written DuckDB: one query for a subset (event counts per type in each window,
      total counts, days since the last event), compared with leadml on those columns.

Each implementation runs in a fresh subprocess that reads the same Parquet inputs and reports
its wall time and peak resident memory (VmHWM). Usage:

    python benchmarks/bench_features.py --sizes 1m 10m
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

DAY_US = 86_400_000_000
SIZES = {
    "quick": (1_500, 200),  # the suite's --quick smoke run
    "1m": (17_000, 420),
    "10m": (130_000, 540),
    "100m": (1_000_000, 800),
}
CHUNK_LEADS = 100_000  # the 100M size is generated in chunks of this many leads (ids prefixed)
ONE_GO_LEADS = 200_000  # up to this many leads, one make_crm call


def events_path(d: Path) -> Path:
    """The events: one Parquet file, or a folder of them (the 100M-event size)."""
    return d / "events" if (d / "events").is_dir() else d / "events.parquet"


# ----------------------------------------------------------------------------- implementations
def run_leadml(d: Path) -> pd.DataFrame:
    from leadml.features import FeatureSpec, build_features

    spec = FeatureSpec.from_json(d / "spec.json")
    return build_features(
        spec,
        pd.read_parquet(d / "leads.parquet"),
        pd.read_parquet(events_path(d)),
        pd.read_parquet(d / "cut.parquet"),
    )


def run_leadml_parts(d: Path, spec_file: str = "spec.json") -> Path:
    """leadml's part-by-part build (``write_training_set``), streamed to Parquet; also labels."""
    from leadml.features import FeatureSpec, write_training_set

    out = d / f"out_leadml_parts_{spec_file.removesuffix('.json')}.parquet"
    write_training_set(
        out,
        d / "leads.parquet",
        events_path(d),
        d / "conversions.parquet",
        cutoffs=d / "cut.parquet",
        horizon="30d",
        spec=FeatureSpec.from_json(d / spec_file),
    )
    return out


def run_leadml_shared(d: Path) -> pd.DataFrame:
    """leadml with a spec holding only the hand-written query's features (plus profile columns
    and lead age, which the query does not compute)."""
    from leadml.features import FeatureSpec, build_features

    spec = FeatureSpec.from_json(d / "spec_shared.json")
    return build_features(
        spec,
        pd.read_parquet(d / "leads.parquet"),
        pd.read_parquet(events_path(d)),
        pd.read_parquet(d / "cut.parquet"),
    )


def run_pandas(d: Path) -> pd.DataFrame:
    from leadml.features import FeatureSpec

    spec = FeatureSpec.from_json(d / "spec.json")
    leads, cut = (pd.read_parquet(d / f"{n}.parquet") for n in ("leads", "cut"))
    events = pd.read_parquet(events_path(d))
    return pandas_features(spec, leads, events, cut)


def pandas_features(
    spec, leads: pd.DataFrame, events: pd.DataFrame, cut: pd.DataFrame
) -> pd.DataFrame:
    """The same features as leadml, written the way a competent data scientist would in pandas."""
    types = {t: i for i, t in enumerate(spec.event_types_)}
    pairs = pd.DataFrame(spec.details_, columns=["event_type", "detail"]).assign(
        pair_id=lambda x: np.arange(len(x))
    )
    ev = pd.DataFrame(
        {
            "lead_id": events["lead_id"].to_numpy(),
            "ts": events["timestamp"].astype("datetime64[us, UTC]").astype("int64").to_numpy(),
            "type_id": events["event_type"].map(types).fillna(-1).astype("int64").to_numpy(),
        }
    )
    ev["pair_id"] = (
        events.merge(pairs, on=["event_type", "detail"], how="left")["pair_id"]
        .fillna(-1)
        .astype("int64")
        .to_numpy()
    )
    c = pd.DataFrame(
        {
            "row_id": np.arange(len(cut)),
            "lead_id": cut["lead_id"].to_numpy(),
            "as_of": cut["as_of"].astype("datetime64[us, UTC]").astype("int64").to_numpy(),
        }
    )
    j = c.merge(ev, on="lead_id")
    j = j[j["ts"] < j["as_of"]]
    j["age"] = j["as_of"] - j["ts"]
    n = len(c)
    out: dict[str, np.ndarray] = {}

    def per_row(s: pd.Series, fill: float = 0.0) -> np.ndarray:
        return s.reindex(np.arange(n), fill_value=fill).to_numpy(dtype=float)

    def per_row_key(
        df: pd.DataFrame, key: str, keys: int, agg: str, col: str | None = None, fill: float = 0.0
    ) -> np.ndarray:
        g = df[df[key] >= 0].groupby(["row_id", key])
        s = g.size() if agg == "size" else getattr(g[col], agg)()
        wide = s.unstack(fill_value=np.nan).reindex(index=np.arange(n), columns=np.arange(keys))
        return (
            wide.fillna(fill).to_numpy(dtype=float)
            if not np.isnan(fill)
            else wide.to_numpy(dtype=float)
        )

    meta = spec.feature_meta_
    by_window = {}
    for w in sorted({m["window"] for m in meta.values() if m["kind"] in ("count", "active_days")}):
        jw = j[j["age"] <= w * DAY_US]
        by_window[w] = (
            per_row(jw.groupby("row_id").size()),
            per_row_key(jw, "type_id", len(types), "size"),
            per_row_key(jw, "pair_id", len(pairs), "size"),
            per_row(jw.assign(day=jw["ts"] // DAY_US).groupby("row_id")["day"].nunique()),
        )
    ever_t = per_row_key(j, "type_id", len(types), "size")
    ever_p = per_row_key(j, "pair_id", len(pairs), "size")
    last_all = per_row(j.groupby("row_id")["ts"].max(), np.nan)
    last_t = per_row_key(j, "type_id", len(types), "max", "ts", np.nan)
    j["dec"] = np.exp2(-j["age"] / (spec.half_life_days * DAY_US))
    dec_all = per_row(j.groupby("row_id")["dec"].sum())
    dec_t = per_row_key(j, "type_id", len(types), "sum", "dec")
    as_of = c["as_of"].to_numpy()
    if spec.has_accounts_:
        # per distinct (account, as_of), then subtract the lead's own contribution
        acc = leads[["lead_id", "account_id"]].dropna()
        created = (
            leads.set_index("lead_id")["created_at"].astype("datetime64[us, UTC]").astype("int64")
        )
        ca = c.merge(acc, on="lead_id", how="left")
        has_acc = ca["account_id"].notna().to_numpy()
        keys = ca.loc[has_acc, ["account_id", "as_of"]].drop_duplicates()
        mem = acc.assign(created=acc["lead_id"].map(created).to_numpy())
        kl = keys.merge(mem, on="account_id")
        n_leads = (
            kl[kl["created"] <= kl["as_of"]]
            .groupby(["account_id", "as_of"])
            .size()
            .rename("a_leads")
        )
        aw = spec.account_window * DAY_US
        ea = ev[["lead_id", "ts"]].merge(acc, on="lead_id")
        ke = keys.merge(ea, on="account_id")
        ke = ke[(ke["ts"] < ke["as_of"]) & (ke["ts"] >= ke["as_of"] - aw)]
        g = ke.groupby(["account_id", "as_of"])
        agg = pd.concat(
            [n_leads, g.size().rename("a_events"), g["lead_id"].nunique().rename("a_active")],
            axis=1,
        ).fillna(0)
        own = per_row(j[j["age"] <= aw].groupby("row_id").size())
        row_acc = (
            ca[["account_id", "as_of"]]
            .merge(agg, left_on=["account_id", "as_of"], right_index=True, how="left")
            .fillna(0)
        )
        self_created = (c["lead_id"].map(created).to_numpy() <= as_of).astype(float)
        acc_cols = {
            "account_leads": row_acc["a_leads"].to_numpy(float) - self_created,
            "account_events": row_acc["a_events"].to_numpy(float) - own,
            "account_active": row_acc["a_active"].to_numpy(float) - (own > 0),
        }
    for name, m in meta.items():
        k = m["kind"]
        if k == "lead_age":
            created = (
                leads.set_index("lead_id")["created_at"]
                .astype("datetime64[us, UTC]")
                .astype("int64")
            )
            out[name] = (as_of - c["lead_id"].map(created).to_numpy()) / DAY_US
        elif k == "count":
            tot, bt, bp, _ = by_window[m["window"]]
            out[name] = (
                tot
                if m["event_type"] is None
                else bp[
                    :,
                    pairs.index[
                        (pairs["event_type"] == m["event_type"]) & (pairs["detail"] == m["detail"])
                    ][0],
                ]
                if m["detail"] is not None
                else bt[:, types[m["event_type"]]]
            )
        elif k == "active_days":
            out[name] = by_window[m["window"]][3]
        elif k == "trend":
            w = m["window"] * DAY_US
            a = j["age"]
            out[name] = per_row(j[a <= w].groupby("row_id").size()) - per_row(
                j[(a > w) & (a <= 2 * w)].groupby("row_id").size()
            )
        elif k == "recency":
            last = last_all if m["event_type"] is None else last_t[:, types[m["event_type"]]]
            out[name] = (as_of - last) / DAY_US
        elif k == "count_ever":
            out[name] = (
                ever_t[:, types[m["event_type"]]]
                if m["detail"] is None
                else ever_p[
                    :,
                    int(
                        pairs.index[
                            (pairs["event_type"] == m["event_type"])
                            & (pairs["detail"] == m["detail"])
                        ][0]
                    ),
                ]
            )
        elif k == "decay":
            out[name] = dec_all if m["event_type"] is None else dec_t[:, types[m["event_type"]]]
        elif k in ("account_leads", "account_active", "account_events"):
            out[name] = np.where(has_acc, acc_cols[k], np.nan)
    return pd.DataFrame(out)


def handwritten_sql(types: list[str], windows: list[int]) -> str:
    cols = []
    for w in windows:
        cols.append(
            f"COUNT(*) FILTER (WHERE e.timestamp >= c.as_of - INTERVAL {w} DAY) AS n_events_{w}d"
        )
        for t in types:
            cols.append(
                f"COUNT(*) FILTER (WHERE e.event_type = '{t}' AND e.timestamp >= c.as_of - INTERVAL {w} DAY) AS n_{t}_{w}d"
            )
    last = [
        "date_diff('microsecond', MAX(e.timestamp), c.as_of) / 86400000000.0 AS days_since_last_event"
    ]
    last += [
        f"date_diff('microsecond', MAX(e.timestamp) FILTER (WHERE e.event_type = '{t}'), c.as_of) / 86400000000.0 AS days_since_last_{t}"
        for t in types
    ]
    return f"""SELECT c.row_id, c.lead_id, c.as_of, {", ".join(cols)}, {", ".join(last)}
FROM cut c LEFT JOIN events e ON e.lead_id = c.lead_id AND e.timestamp < c.as_of
GROUP BY c.row_id, c.lead_id, c.as_of ORDER BY c.row_id"""


def run_handwritten(d: Path) -> pd.DataFrame:
    import duckdb

    from leadml.features import FeatureSpec

    spec = FeatureSpec.from_json(d / "spec.json")
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    ev = events_path(d)
    ev_glob = ev / "*.parquet" if ev.is_dir() else ev
    con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet('{ev_glob}')")
    con.execute(
        f"CREATE VIEW cut AS SELECT row_number() OVER () - 1 AS row_id, * FROM read_parquet('{d / 'cut.parquet'}')"
    )
    return (
        con.sql(handwritten_sql(spec.event_types_, list(spec.windows))).df().drop(columns="row_id")
    )


def run_polars(d: Path) -> pd.DataFrame:
    """Baseline (c), a user's likely alternative: the hand-written query's features in polars
    (lazy: join each cut-off to its lead's earlier events, one group-by with a conditional
    aggregate per feature)."""
    import polars as pl

    from leadml.features import FeatureSpec

    spec = FeatureSpec.from_json(d / "spec.json")
    ev = events_path(d)
    events = pl.scan_parquet(str(ev / "*.parquet") if ev.is_dir() else str(ev)).select(
        "lead_id", "timestamp", "event_type"
    )
    cut = pl.scan_parquet(str(d / "cut.parquet")).with_row_index("row_id")
    # a left join keeps the cut-offs of leads without earlier events; each aggregate sees only
    # the events before its cut-off
    j = cut.join(events, on="lead_id", how="left")
    seen = pl.col("timestamp") < pl.col("as_of")
    aggs = []
    for w in spec.windows:
        inside = seen & (pl.col("timestamp") >= pl.col("as_of") - pl.duration(days=w))
        aggs.append(inside.fill_null(False).sum().cast(pl.Float64).alias(f"n_events_{w}d"))
        for t in spec.event_types_:
            hit = inside & (pl.col("event_type") == t)
            aggs.append(hit.fill_null(False).sum().cast(pl.Float64).alias(f"n_{t}_{w}d"))
    day_us = 86_400_000_000.0

    def since(cond: pl.Expr) -> pl.Expr:
        last = pl.col("timestamp").filter(cond.fill_null(False)).max()
        return (pl.col("as_of").first() - last).dt.total_microseconds() / day_us

    aggs.append(since(seen).alias("days_since_last_event"))
    for t in spec.event_types_:
        aggs.append(since(seen & (pl.col("event_type") == t)).alias(f"days_since_last_{t}"))
    out = (
        j.group_by("row_id", "lead_id", "as_of")
        .agg(aggs)
        .sort("row_id")
        .collect(engine="streaming")
    )
    return out.drop("row_id").to_pandas()


def run_spark(d: Path) -> Path:
    """leadml on local Spark (``write_training_set(engine="spark")``, local[2]): the events are
    read from the Parquet files, validated and joined on Spark; includes the JVM start."""
    from leadml.features import FeatureSpec, write_training_set

    out = d / "out_spark.parquet"
    write_training_set(
        out,
        d / "leads.parquet",
        events_path(d),
        d / "conversions.parquet",
        cutoffs=d / "cut.parquet",
        horizon="30d",
        spec=FeatureSpec.from_json(d / "spec.json"),
        engine="spark",
    )
    return out


RUNNERS = {
    "leadml": run_leadml,
    "leadml_shared": run_leadml_shared,
    "leadml_parts": run_leadml_parts,
    "leadml_parts_shared": lambda d: run_leadml_parts(d, "spec_shared.json"),
    "pandas": run_pandas,
    "handwritten": run_handwritten,
    "polars": run_polars,
    "spark": run_spark,
}
SHARED = {"families": ("counts", "recency"), "max_details": 0}  # what the query computes


class _TreeSampler:
    """Peak resident memory of this process and its children (the JVM of Spark), sampled."""

    def __init__(self) -> None:
        import threading

        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.wait(0.2):
            total = 0
            for p in [me, *me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
            self.peak = max(self.peak, total)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 1024**3


def child(name: str, d: Path) -> None:
    sampler = _TreeSampler() if name == "spark" else None
    t0 = time.perf_counter()
    df = RUNNERS[name](d)
    secs = time.perf_counter() - t0  # a part-by-part build has already written its file
    if isinstance(df, pd.DataFrame):
        df.to_parquet(d / f"out_{name}.parquet")
        rows = len(df)
    else:
        rows = pq.ParquetFile(df).metadata.num_rows
    peak = _peak_gib()
    if sampler is not None:  # Spark: the driver's Python plus the JVM it started
        peak = max(peak, sampler.stop())
    print(json.dumps({"seconds": secs, "peak_gib": peak, "rows": rows}))


def _peak_gib() -> float:
    """This process's peak resident memory. VmHWM starts afresh at exec; ``ru_maxrss`` does not
    (on Linux it keeps the parent's resident size at fork, which holds the generated data)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024**2  # kB -> GiB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def measure(name: str, d: Path) -> dict:
    res = subprocess.run(
        [sys.executable, __file__, "--child", name, str(d)],
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        return {
            "error": res.stderr.strip().splitlines()[-1] if res.stderr else f"exit {res.returncode}"
        }
    return json.loads(res.stdout.strip().splitlines()[-1])


def prepare(size: str, d: Path, every: int, max_age: int) -> dict:
    from leadml.datasets import make_crm
    from leadml.features import FeatureSpec, make_cutoffs

    n_leads, days = SIZES[size]
    if n_leads <= ONE_GO_LEADS:
        crm = make_crm(n_leads, days=days, seed=0)
        leads, events, conv = crm.leads, crm.events, crm.conversions
        start, end = crm.start, crm.observed_until
        events.to_parquet(d / "events.parquet")
        n_events = len(events)
    else:  # chunk by chunk, so the generator itself fits in memory; ids prefixed per chunk
        from concurrent.futures import ProcessPoolExecutor

        (d / "events").mkdir()
        n_chunks = -(-n_leads // CHUNK_LEADS)
        jobs = [(k, min(CHUNK_LEADS, n_leads - k * CHUNK_LEADS), days, d) for k in range(n_chunks)]
        with ProcessPoolExecutor(max_workers=2) as pool:  # the chunks are independent
            done = list(pool.map(_chunk, *zip(*jobs, strict=True)))
        leads = pd.concat([x[0] for x in done], ignore_index=True)
        conv = pd.concat([x[1] for x in done], ignore_index=True)
        n_events = sum(x[2] for x in done)
        start, end = done[-1][3], done[-1][4]
        events = None
    cut = make_cutoffs(leads, conv, every=f"{every}d", start=start, end=end, max_age=f"{max_age}d")
    leads.to_parquet(d / "leads.parquet")
    conv.to_parquet(d / "conversions.parquet")
    cut.to_parquet(d / "cut.parquet")
    for name, kw in (("spec.json", {}), ("spec_shared.json", SHARED)):
        spec = FeatureSpec(**kw)  # type: ignore[arg-type]
        if events is not None:
            spec.fit(leads, events)
        else:
            tc, pc = _vocab_counts(d / "events")
            spec.fit_counts(leads, tc, pc)
        spec.to_json(d / name)
    return {"leads": len(leads), "events": n_events, "cutoffs": len(cut)}


def _chunk(k: int, n: int, days: int, d: Path) -> tuple:
    """Chunk ``k`` of a chunked size: its events written, its leads and conversions returned."""
    from leadml.datasets import make_crm

    crm = make_crm(n, days=days, seed=k)
    p = f"c{k}-"
    crm.events.assign(lead_id=p + crm.events["lead_id"].astype(str)).to_parquet(
        d / "events" / f"part-{k:02d}.parquet"
    )
    leads = crm.leads.assign(
        lead_id=p + crm.leads["lead_id"].astype(str),
        account_id=(p + crm.leads["account_id"].astype(str)).where(crm.leads["account_id"].notna()),
    )
    conv = crm.conversions.assign(lead_id=p + crm.conversions["lead_id"].astype(str))
    print(f"  generated chunk {k}: {len(crm.events):,} events", flush=True)
    return leads, conv, len(crm.events), crm.start, crm.observed_until


def _vocab_counts(folder: Path) -> tuple[pd.Series, pd.Series]:
    import duckdb

    src = f"read_parquet('{folder / '*.parquet'}')"
    con = duckdb.connect()
    t = con.sql(f"SELECT event_type, COUNT(*) AS n FROM {src} GROUP BY 1").df()
    p = con.sql(
        f"SELECT event_type, detail, COUNT(*) AS n FROM {src} WHERE detail IS NOT NULL GROUP BY 1, 2"
    ).df()
    return (
        t.set_index("event_type")["n"],
        p.set_index(["event_type", "detail"])["n"],
    )


def _report(size: str, d: Path, info: dict, a: argparse.Namespace) -> None:
    print(
        f"\n== {size}: {info['events']:,} events, {info['leads']:,} leads, "
        f"{info['cutoffs']:,} cut-offs (every {a.every}d, max age {a.max_age}d)",
        flush=True,
    )
    names = []
    if info["events"] <= a.in_memory_max:
        names += ["leadml", "leadml_shared"]
    if a.parts or info["events"] > a.in_memory_max:
        names += ["leadml_parts", "leadml_parts_shared"]
    if info["events"] <= a.skip_pandas_above:
        names.append("pandas")
    names.append("handwritten")
    res = {}
    for k in names:
        res[k] = v = measure(k, d)
        print(
            f"  {k:20s} "
            + (
                f"{v['seconds']:8.1f} s  peak {v['peak_gib']:.2f} GiB  rows {v['rows']:,}"
                if "seconds" in v
                else f"failed: {v['error']}"
            ),
            flush=True,
        )
    if "seconds" in res.get("pandas", {}) and "seconds" in res.get("leadml", {}):
        ours = pd.read_parquet(d / "out_leadml.parquet")
        theirs = pd.read_parquet(d / "out_pandas.parquet")
        cols = list(theirs.columns)
        x, y = ours[cols].to_numpy(float), theirs[cols].to_numpy(float)
        diff = np.nanmax(np.abs(x - y) / np.maximum(1.0, np.abs(y)))
        same_nan = bool((np.isnan(x) == np.isnan(y)).all())
        print(
            f"  pandas / leadml time: {res['pandas']['seconds'] / res['leadml']['seconds']:.2f}x   "
            f"values: max rel diff {diff:.2e}, same missing: {same_nan} ({len(cols)} columns)"
        )
    if "seconds" not in res["handwritten"]:
        return
    keys = ["lead_id", "as_of"]
    hw = pd.read_parquet(d / "out_handwritten.parquet")
    cols = [c for c in hw.columns if c not in (*keys, "row_id")]
    hw = hw.sort_values(keys).reset_index(drop=True)
    files = {
        "leadml": "out_leadml.parquet",
        "leadml_shared": "out_leadml_shared.parquet",
        "leadml_parts": "out_leadml_parts_spec.parquet",
        "leadml_parts_shared": "out_leadml_parts_spec_shared.parquet",
    }
    for name, f in files.items():
        if "seconds" not in res.get(name, {}):
            continue
        n_feat = len(pq.ParquetFile(d / f).schema_arrow.names)
        got = pd.read_parquet(d / f, columns=[*keys, *cols]).sort_values(keys)
        x, y = got[cols].to_numpy(float), hw[cols].to_numpy(float)
        diff = np.nanmax(np.abs(x - y))
        same_nan = bool((np.isnan(x) == np.isnan(y)).all())
        same_keys = bool((got[keys].reset_index(drop=True) == hw[keys]).all().all())
        print(
            f"  {name} / hand-written time: "
            f"{res[name]['seconds'] / res['handwritten']['seconds']:.2f}x "
            f"(leadml writes {n_feat} columns, the query computes {len(cols)} features); "
            f"shared values max abs diff {diff:.2e}, same missing: {same_nan}, same rows: {same_keys}"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=["1m", "10m"], choices=list(SIZES))
    ap.add_argument("--every", type=int, default=7, help="cut-off spacing in days")
    ap.add_argument("--max-age", type=int, default=365, help="score leads up to this age (days)")
    ap.add_argument("--skip-pandas-above", type=int, default=20_000_000, help="events")
    ap.add_argument(
        "--in-memory-max", type=int, default=20_000_000, help="events; above: only parts"
    )
    ap.add_argument("--parts", action="store_true", help="also run the part-by-part build")
    ap.add_argument("--keep", type=Path, help="generate into (or reuse) this folder")
    ap.add_argument("--child", nargs=2, metavar=("IMPL", "DIR"))
    a = ap.parse_args()
    if a.child:
        child(a.child[0], Path(a.child[1]))
        return
    for size in a.sizes:
        if a.keep is not None:
            d = a.keep / f"{size}_every{a.every}_age{a.max_age}"
            if not (d / "info.json").exists():
                d.mkdir(parents=True, exist_ok=True)
                (d / "info.json").write_text(json.dumps(prepare(size, d, a.every, a.max_age)))
            _report(size, d, json.loads((d / "info.json").read_text()), a)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            _report(size, d, prepare(size, d, a.every, a.max_age), a)


if __name__ == "__main__":
    main()
