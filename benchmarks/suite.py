"""The parts of the suite. Each takes a :class:`~benchmarks._suite.Ctx` and returns a
:class:`~benchmarks._suite.Part` whose markdown replaces its block in ``benchmarks/README.md``.

Every baseline is measured in the same run as leadml, on the same data; times are medians of
``ctx.runs`` runs unless a table says otherwise.
"""

from __future__ import annotations

import json
import logging
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._suite import Ctx, Part, fresh_process, median_of, ratio, secs, table, timed

# ----------------------------------------------------------------------------- 1. features
FEATURE_PLAN = [  # size, cut-off spacing (days), max lead age (days), contenders
    ("1m", 7, 365, ["leadml", "leadml_shared", "pandas", "handwritten", "polars"]),
    (
        "10m",
        28,
        180,
        ["leadml", "leadml_shared", "leadml_parts", "pandas", "handwritten", "polars", "spark"],
    ),
    ("100m", 28, 90, ["leadml_parts", "leadml_parts_shared", "handwritten", "polars"]),
]
# the slowest contenders run once (noted in the table): the whole suite stays within 45 minutes
ONE_RUN = {("10m", "pandas"): 1, ("10m", "spark"): 1} | {
    ("100m", n): 1 for n in ("leadml_parts", "leadml_parts_shared", "handwritten", "polars")
}
# the smoke run (tests/test_benchmarks.py) leaves Spark out: its JVM start is a quarter of the run,
# and Spark's values are checked against DuckDB's in tests/features/test_spark.py
QUICK_PLAN = [("quick", 7, 365, ["leadml", "leadml_shared", "pandas", "handwritten", "polars"])]
LABELS = {
    "leadml": "leadml (DuckDB, in memory)",
    "leadml_shared": "leadml, only the shared features",
    "leadml_parts": "leadml in parts (`write_training_set`)",
    "leadml_parts_shared": "leadml in parts, only the shared features",
    "pandas": "pandas reference (baseline)",
    "handwritten": "hand-written DuckDB query (baseline, 40 features)",
    "polars": "polars, lazy (baseline, the same 40 features)",
    "spark": 'leadml on local Spark (`engine="spark"`, local[2], incl. JVM start)',
}
OUTPUT = {
    "leadml": "out_leadml.parquet",
    "leadml_shared": "out_leadml_shared.parquet",
    "leadml_parts": "out_leadml_parts_spec.parquet",
    "leadml_parts_shared": "out_leadml_parts_spec_shared.parquet",
    "handwritten": "out_handwritten.parquet",
    "polars": "out_polars.parquet",
    "spark": "out_spark.parquet",
}
KEYS = ["lead_id", "as_of"]


def _prepared(ctx: Ctx, size: str, every: int, max_age: int) -> tuple[Path, dict]:
    from benchmarks import bench_features as bf

    d = ctx.data_dir / f"features-{size}-every{every}-age{max_age}"
    info_file = d / "info.json"
    if info_file.exists():
        ctx.log(f"features {size}: reusing the data in {d}")
        return d, json.loads(info_file.read_text())
    if d.exists():
        import shutil

        shutil.rmtree(d)
    d.mkdir(parents=True)
    ctx.log(f"features {size}: generating the data in {d}")
    info = bf.prepare(size, d, every, max_age)
    info_file.write_text(json.dumps(info))
    return d, info


def _diff(d: Path, a: str, b: str, cols: list[str] | None = None) -> tuple[float, bool]:
    """Max absolute difference and same-missing of two outputs on ``cols`` (default: the
    columns they share), rows matched by (lead_id, as_of)."""
    x = pd.read_parquet(d / OUTPUT[a]).sort_values(KEYS).reset_index(drop=True)
    y = pd.read_parquet(d / OUTPUT[b]).sort_values(KEYS).reset_index(drop=True)
    if len(x) != len(y) or not (x[KEYS] == y[KEYS]).all().all():
        return float("inf"), False
    cols = cols or [
        c for c in y.columns if c in x.columns and c not in (*KEYS, "label", "censored")
    ]
    xv = x[cols].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    yv = y[cols].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    same = bool((np.isnan(xv) == np.isnan(yv)).all())
    d_ = np.abs(xv - yv)
    return (float(np.nanmax(d_)) if np.isfinite(d_).any() else 0.0), same


def features(ctx: Ctx) -> Part:
    from benchmarks import bench_features as bf

    t0 = time.perf_counter()
    plan = QUICK_PLAN if ctx.quick else FEATURE_PLAN
    rows, checks, ratios = [], [], {}
    for size, every, max_age, names in plan:
        d, info = _prepared(ctx, size, every, max_age)
        res: dict[str, dict[str, Any]] = {}
        for name in names:
            runs = ONE_RUN.get((size, name), ctx.runs)
            out = [bf.measure(name, d) for _ in range(runs)]
            ok = [o for o in out if "seconds" in o]
            if not ok:
                res[name] = {"error": out[0].get("error", "failed")}
                ctx.log(f"  {size} {name}: failed: {res[name]['error']}")
                continue
            res[name] = {
                "seconds": statistics.median(o["seconds"] for o in ok),
                "peak_gib": max(o["peak_gib"] for o in ok),
                "rows": ok[0]["rows"],
                "runs": len(ok),
            }
            ctx.log(f"  {size} {name}: {res[name]['seconds']:.2f} s ({len(ok)} runs)")
        t = {k: v.get("seconds") for k, v in res.items()}
        ours = t.get("leadml") or t.get("leadml_parts")
        first = True
        for name in names:
            v = res[name]
            if "seconds" not in v:
                rows.append(["", "", "", LABELS[name], f"failed: {v['error']}", "", "", "", "", ""])
                continue
            me = v["seconds"]
            shared = name.endswith("_shared")
            vs_pandas = (
                t["pandas"] / me
                if t.get("pandas") and name.startswith("leadml") and not shared
                else None
            )
            vs_hw = me / t["handwritten"] if t.get("handwritten") and name != "pandas" else None
            vs_polars = t["polars"] / me if t.get("polars") and name.startswith("leadml") else None
            vs_duck = me / ours if name == "spark" and ours else None
            rows.append(
                [
                    f"{info['events']:,}" if first else "",
                    f"{info['leads']:,}" if first else "",
                    f"{info['cutoffs']:,} (every {every} d, age <= {max_age} d)" if first else "",
                    LABELS[name] + (" (1 run)" if v["runs"] == 1 and ctx.runs > 1 else ""),
                    secs(me),
                    f"{v['peak_gib']:.2f} GiB",
                    ratio(vs_pandas, faster=True),
                    ratio(vs_hw),
                    ratio(vs_polars, faster=True),
                    ratio(vs_duck),
                ]
            )
            first = False
            for key, val in (("vs_pandas", vs_pandas), ("vs_handwritten", vs_hw),
                             ("vs_polars", vs_polars), ("spark_vs_duckdb", vs_duck)):  # fmt: skip
                if val is not None:
                    ratios[f"{size}.{name}.{key}"] = val
        # values: every contender against leadml on what they share
        base = "leadml" if "seconds" in res.get("leadml", {}) else "leadml_parts"
        if "seconds" in res.get(base, {}):
            hw_cols = None
            if "seconds" in res.get("handwritten", {}):
                hw = pd.read_parquet(d / OUTPUT["handwritten"])
                hw_cols = [c for c in hw.columns if c not in (*KEYS, "row_id")]
            for other in ("handwritten", "polars", "spark", "leadml_parts"):
                if other == base or "seconds" not in res.get(other, {}):
                    continue
                cols = hw_cols if other in ("handwritten", "polars") else None
                diff, same = _diff(d, other, base, cols)
                n = len(cols) if cols else "all"
                checks.append(f"{size}: {other} vs {base} on {n} feature columns: max abs "
                              f"difference {diff:.1e}, same missing values: {same}")  # fmt: skip
            if "seconds" in res.get("pandas", {}) and base == "leadml":
                ours_df = pd.read_parquet(d / OUTPUT["leadml"])
                theirs = pd.read_parquet(d / "out_pandas.parquet")
                cols = list(theirs.columns)
                x, y = ours_df[cols].to_numpy(float), theirs[cols].to_numpy(float)
                rel = float(np.nanmax(np.abs(x - y) / np.maximum(1.0, np.abs(y))))
                same = bool((np.isnan(x) == np.isnan(y)).all())
                checks.append(f"{size}: leadml vs pandas on {len(cols)} event features: max "
                              f"relative difference {rel:.1e}, same missing values: {same}")  # fmt: skip
    md = table(
        [
            "events",
            "leads",
            "cut-offs",
            "contender",
            "time",
            "peak memory",
            "speed-up vs pandas",
            "time / hand-written",
            "speed-up vs polars",
            "time / DuckDB",
        ],
        rows,
    )
    runs_note = (
        f"median of {ctx.runs} run(s) unless marked (1 run). Speed-up: the baseline's time over "
        "leadml's (below 1: leadml is slower); time ratio: leadml's time over the baseline's. "
        "The hand-written query and polars compute 40 features, leadml 164 (the shared rows "
        "compute the same 40 plus the profile columns)"
    )
    md += "\n\nTimes: " + runs_note + ", each in a fresh process reading the same Parquet files. "
    md += "Values:\n\n" + "\n".join(f"- {c}" for c in checks)
    return Part("features", "Training-set build", "python -m benchmarks --only features",
                md, time.perf_counter() - t0, ratios)  # fmt: skip


# ----------------------------------------------------------------------------- 2. training
class _Stages(logging.Handler):
    """Wall time of each stage ``leadml.train`` announces on the ``leadml.progress`` logger."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.marks: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(record, "leadml_kind", None) == "stage":
            self.marks.append((time.perf_counter(), record.getMessage()))

    def durations(self, end: float) -> list[tuple[str, float]]:
        ends = [m[0] for m in self.marks[1:]] + [end]
        return [(msg, e - t) for (t, msg), e in zip(self.marks, ends, strict=True)]


def training(ctx: Ctx) -> Part:
    import lightgbm as lgb

    from leadml.datasets import make_crm
    from leadml.evaluation import recent_block_start
    from leadml.features import build_training_set, to_us
    from leadml.modeling import TrainConfig, train
    from leadml.modeling._procedure import fit_procedure

    t0 = time.perf_counter()
    n_leads, days = (1_500, 200) if ctx.quick else (10_000, 420)
    crm = make_crm(n_leads, days=days, seed=0)
    rules = "models/scorecard.yaml"
    stages = _Stages()
    log = logging.getLogger("leadml.progress")
    log.addHandler(stages)
    log.setLevel(logging.INFO)
    try:
        t_train, res = timed(lambda: train(crm.leads, crm.events, crm.conversions, every="7d",
                                           horizon="30d", rules=rules, n_boot=0))  # fmt: skip
    finally:
        log.removeHandler(stages)
    end = stages.marks[0][0] + t_train if stages.marks else time.perf_counter()
    phases = stages.durations(end)
    # the production matrix, as train builds it
    model = res.model
    spec = model.spec
    ts = build_training_set(crm.leads, crm.events, crm.conversions, horizon="30d", every="7d",
                            spec=spec)  # fmt: skip
    ts = ts[~ts["censored"]].reset_index(drop=True)
    X = ts[spec.feature_names_]
    y = ts["label"].to_numpy(dtype=np.int64)
    t = to_us(ts["as_of"])
    rules_x = model.scorecard.build_inputs(crm.leads, crm.events, ts[["lead_id", "as_of"]])
    cfg = TrainConfig()
    gap = 30 * 86_400_000_000

    lgb_parts: list[float] = []  # per run: leadml's two LightGBM fits alone (from its stages)

    def leadml_fit() -> float:
        h = _Stages()
        log.addHandler(h)
        try:
            s, _ = timed(lambda: fit_procedure(X, rules_x, y, t, spec=spec,
                                               rules=model.scorecard.config_, config=cfg, gap=gap))  # fmt: skip
        finally:
            log.removeHandler(h)
        end = h.marks[0][0] + s if h.marks else 0.0
        lgb_parts.append(sum(d for m, d in h.durations(end)
                             if m.startswith(("LightGBM on", "refit:"))))  # fmt: skip
        return s

    fitted = fit_procedure(X, rules_x, y, t, spec=spec, rules=model.scorecard.config_, config=cfg,
                           gap=gap)  # fmt: skip
    params = dict(fitted.fit_info.params)
    cal = cfg.calibration
    start, _ = recent_block_start(t, y, share=cal.share, min_conversions=cal.min_conversions,
                                  max_share=cal.max_share)  # fmt: skip
    C, F = t >= start, (t + gap <= start) & (t < start)
    cats = spec.categorical_features_

    def bare_fit() -> float:
        def go() -> None:
            p = {**params, "metric": "binary_logloss"}
            dtrain = lgb.Dataset(X[F], label=y[F], categorical_feature=cats, free_raw_data=False)
            dvalid = lgb.Dataset(X[C], label=y[C], reference=dtrain, free_raw_data=False)
            b = lgb.train(p, dtrain, num_boost_round=3000, valid_sets=[dvalid],
                          callbacks=[lgb.early_stopping(150, verbose=False)])  # fmt: skip
            lgb.train(params, lgb.Dataset(X, label=y, categorical_feature=cats),
                      num_boost_round=b.best_iteration)  # fmt: skip

        return timed(go)[0]

    def one_fit() -> float:
        n = fitted.fit_info.best_iteration
        return timed(lambda: lgb.train(params, lgb.Dataset(X, label=y, categorical_feature=cats),
                                       num_boost_round=n))[0]  # fmt: skip

    log.setLevel(logging.INFO)
    t_leadml, _ = median_of(leadml_fit, ctx.runs)
    t_bare, _ = median_of(bare_fit, ctx.runs)
    t_one, _ = median_of(one_fit, ctx.runs)
    t_lgb = statistics.median(lgb_parts)
    overhead = t_lgb / t_bare - 1
    md = (
        f"{len(X):,} labelled rows x {len(spec.feature_names_)} features ({n_leads:,} leads, weekly "
        f"cut-offs), {fitted.fit_info.best_iteration} trees after early stopping; median of "
        f"{ctx.runs} runs, same parameters, same rows, same machine.\n\n"
    )
    md += table(
        ["what", "time", "vs bare LightGBM"],
        [
            [
                "bare `lightgbm.train`: early-stopped fit on the fitting block + refit on all rows "
                "(the two fits the procedure makes)",
                secs(t_bare),
                "1.00x",
            ],
            [
                "leadml's LightGBM fits (the same two fits inside `fit_procedure`, with its data "
                "checks and categorical handling)",
                secs(t_lgb),
                f"{t_lgb / t_bare:.2f}x (overhead {overhead:+.1%})",
            ],
            [
                "leadml's whole production fit (those fits plus the logistic baseline, the "
                "calibration of every model and the scorecard's probability mapping)",
                secs(t_leadml),
                f"{t_leadml / t_bare:.2f}x",
            ],
            [
                "one `lightgbm.train` on all rows with that many trees (no model selection)",
                secs(t_one),
                f"{t_one / t_bare:.2f}x",
            ],
        ],
    )
    md += (
        "\n\nTarget: leadml's overhead on the LightGBM fits under 10 %: "
        f"**{'met' if overhead < 0.10 else 'not met'}** "
    )
    md += (
        f"({overhead:+.1%}).\n\n`leadml.train` end to end, {secs(t_train)}, by stage (one run):\n\n"
    )
    md += table(["stage", "time", "share"],
                [[m, secs(s), f"{s / t_train:.0%}"] for m, s in phases])  # fmt: skip
    md += ("\n\nThe backtest's extra fits are the stage that fits the procedure at the backtest "
           "origin; they are what makes the reported figures honest (out of time) and are not "
           "part of the production fit.")  # fmt: skip
    ratios = {"overhead": overhead, "production_fit_vs_bare": t_leadml / t_bare}
    return Part("training", "Training", "python -m benchmarks --only training", md,
                time.perf_counter() - t0, ratios)  # fmt: skip


# ------------------------------------------------------------------------- 3. explanations
def explain(ctx: Ctx) -> Part:
    from benchmarks import bench_explain

    t0 = time.perf_counter()
    rows = 2_000 if ctx.quick else 30_000
    n_leads = 1_500 if ctx.quick else 10_000
    r = bench_explain.run(rows, n_leads=n_leads, latency_runs=20 if ctx.quick else 100)
    body = [[name, f"{t:.2f}", f"{thr:,.0f}", ratio(vs_s), ratio(vs_l)]
            for name, t, thr, vs_s, vs_l in r["contenders"]]  # fmt: skip
    md = (
        f"{r['rows']:,} rows, {r['trees']} trees, {r['features']} features; throughput = probability "
        f"plus top-3 reasons up and down with their text (the reason step, {r['reason_s']:.2f} s, "
        f"and `predict`, {r['predict_s']:.2f} s, are the same code for every contender).\n\n"
    )
    md += table(["contender", "contributions (s)", "explained rows/s", "vs shap.TreeExplainer",
                 "vs pred_contrib"], body)  # fmt: skip
    md += "\n\nExactness: " + ", ".join(
        f"max |leadml - {k}| = {v:.1e}" for k, v in r["diffs"].items()
    )
    md += (f" (log-odds).\n\nSingle-lead latency (`LeadScoringModel.score(..., reasons=3)`, one lead "
           f"with {r['lead_events']} events): **p50 {r['p50_ms']:.1f} ms, p90 {r['p90_ms']:.1f} ms**.")  # fmt: skip
    ratios = {f"{n}.vs_shap": v for n, _, _, v, _ in r["contenders"]}
    ratios["p50_ms"] = r["p50_ms"]
    return Part("explain", "Explained scoring", "python -m benchmarks --only explain", md,
                time.perf_counter() - t0, ratios)  # fmt: skip


# ------------------------------------------------------------------------ 4. batch scoring
SCORE_CHILD = """
import json, sys, time
from pathlib import Path
import pandas as pd
from leadml import load_model
from leadml.scoring import write_scores
d, how, batch = Path({d!r}), {how!r}, {batch}
leads = pd.read_parquet(d / "leads.parquet")
events = pd.read_parquet(d / "events.parquet")
model = load_model(d / "model")
as_of = pd.Timestamp({as_of!r})
t0 = time.perf_counter()
if how == "one call":
    s = model.score(leads, events, as_of=as_of, reasons=3)
    s.to_parquet(d / "scores_one.parquet")
    n = len(s)
else:
    n = write_scores(model, leads, events, d / "scores_batches.parquet", as_of=as_of, reasons=3,
                     batch_leads=batch).rows
secs = time.perf_counter() - t0
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024**2
print(json.dumps({{"seconds": secs, "peak_gib": peak, "rows": n}}))
"""


def scoring(ctx: Ctx) -> Part:
    from leadml.datasets import make_crm
    from leadml.modeling import train

    t0 = time.perf_counter()
    n_leads = 6_000 if ctx.quick else 1_000_000
    d = ctx.data_dir / f"scoring-{n_leads}"
    info_file = d / "info.json"
    if not info_file.exists():
        d.mkdir(parents=True, exist_ok=True)
        ctx.log(f"scoring: generating {n_leads:,} leads in {d}")
        # one scoring day: leads created in the last 120 days and their events; 1M leads are ten
        # copies of a 100k-lead CRM with prefixed lead and account ids (generating 1M leads
        # directly takes ten times longer and gives the same kind of data)
        chunk = min(n_leads, 100_000)
        crm = make_crm(chunk, days=120, seed=5)
        copies = n_leads // chunk
        leads = pd.concat([crm.leads.assign(
            lead_id=f"c{k}-" + crm.leads["lead_id"].astype(str),
            account_id=(f"c{k}-" + crm.leads["account_id"].astype(str)).where(crm.leads["account_id"].notna()),
        ) for k in range(copies)], ignore_index=True)  # fmt: skip
        events = pd.concat([crm.events.assign(lead_id=f"c{k}-" + crm.events["lead_id"].astype(str))
                            for k in range(copies)], ignore_index=True)  # fmt: skip
        leads.to_parquet(d / "leads.parquet")
        events.to_parquet(d / "events.parquet")
        del leads, events
        small = (
            make_crm(2_500, days=300, seed=6) if ctx.quick else make_crm(3_000, days=300, seed=6)
        )
        res = train(small.leads, small.events, small.conversions, every="7d", horizon="30d",
                    rules="models/scorecard.yaml", n_boot=0)  # fmt: skip
        res.model.save(d / "model")
        info = {"leads": copies * len(crm.leads), "events": copies * len(crm.events),
                "as_of": str(crm.observed_until)}  # fmt: skip
        info_file.write_text(json.dumps(info))
    info = json.loads(info_file.read_text())
    contenders = [("one call", "`model.score` on all leads at once", 0)]
    contenders += [(f"batches of {b:,}", f"`write_scores`, batches of {b:,} leads", b)
                   for b in ((2_000,) if ctx.quick else (100_000,))]  # fmt: skip
    rows, ratios = [], {}
    base: dict[str, Any] | None = None
    for key, label, b in contenders:
        code = SCORE_CHILD.format(d=str(d), how="one call" if b == 0 else "batches", batch=b,
                                  as_of=info["as_of"])  # fmt: skip
        out = [fresh_process(code) for _ in range(1 if not ctx.quick else ctx.runs)]
        ok = [o for o in out if "seconds" in o]
        if not ok:
            rows.append([label, f"failed: {out[0].get('error')}", "", "", ""])
            continue
        s = statistics.median(o["seconds"] for o in ok)
        peak = max(o["peak_gib"] for o in ok)
        base = base or {"s": s, "peak": peak}
        rows.append([label, secs(s), f"{ok[0]['rows'] / s:,.0f}", f"{peak:.2f} GiB",
                     f"{peak / base['peak']:.2f}x"])  # fmt: skip
        ratios[f"{key}.peak_vs_one_call"] = peak / base["peak"]
    md = (f"{info['leads']:,} leads, {info['events']:,} events, scored at one time with 3 reasons "
          "each, Parquet out; each contender in a fresh process (time excludes reading the inputs; "
          "peak memory includes them).\n\n")  # fmt: skip
    md += table(["contender", "time", "leads/s", "peak memory", "memory vs one call"], rows)
    return Part("scoring", "Batch scoring", "python -m benchmarks --only scoring", md,
                time.perf_counter() - t0, ratios)  # fmt: skip


# ------------------------------------------------------------------------- 5. model quality
def quality(ctx: Ctx) -> Part:
    from benchmarks import bench_models as bm

    t0 = time.perf_counter()
    n_boot = 0 if ctx.quick else 100
    plan = [("weekly", 2_000)] if ctx.quick else [
        ("weekly", 20_000), ("one_per_lead", 100_000), ("drift", 20_000)
    ]  # fmt: skip
    rows = []
    for shape, size in plan:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = bm.synthetic(shape, size, 0, n_boot)
        rows.append([shape, f"{size:,}", f"{r['test rows']:,}", f"{r['test conv.']:,}",
                     f"{r['truth AUC']:.3f}", f"{r['LightGBM AUC']:.3f}", f"{r['gap to truth']:.4f}",
                     f"{r['logistic AUC']:.3f}", f"{r['rules AUC']:.3f}", f"{r['ECE']:.4f}",
                     f"{r['test mean p / rate']:.3f}", f"{r['seconds']:.0f}"])  # fmt: skip
    md = "Synthetic CRM against the generator's true probabilities (seed 0; the backtest's test rows):\n\n"
    md += table(["shape", "leads", "test rows", "test conv.", "truth AUC", "LightGBM AUC",
                 "gap to truth", "logistic", "rules", "ECE", "mean p / rate", "s"], rows)  # fmt: skip
    real = []
    if not ctx.quick:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for data, runs in (
                ("X Education", bm.x_education(n_boot)),
                ("bank marketing", bm.bank(n_boot)),
            ):
                for name, res, s in runs:
                    m = res.report.metrics
                    for model in ("rules", "logistic", "lightgbm"):
                        real.append([data, name, model, f"{m.loc[model, 'auc']:.3f}",
                                     f"{m.loc[model, 'pr_auc']:.3f}", f"{m.loc[model, 'log_loss']:.3f}",
                                     f"{m.loc[model, 'ece']:.3f}", f"{m.loc[model, 'citl']:.3f}",
                                     f"{s:.0f}"])  # fmt: skip
    if real:
        md += "\n\nThe shared real datasets (flat mode; see the notes below on their leakage traps):\n\n"
        md += table(["dataset", "columns", "model", "ROC AUC", "PR AUC", "log loss", "ECE",
                     "mean p / rate", "s"], real)  # fmt: skip
    elif not ctx.quick:
        md += "\n\nThe shared real datasets were not found (../shared/datasets): not run."
    return Part(
        "quality",
        "Model quality",
        "python -m benchmarks --only quality",
        md,
        time.perf_counter() - t0,
        {},
    )


PARTS = {
    "features": features,
    "training": training,
    "explain": explain,
    "scoring": scoring,
    "quality": quality,
}


def tmp_data_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="leadml-bench-"))


# ------------------------------------------------------------- 6. sampling before training
def sampling(ctx: Ctx) -> Part:
    """What training on a sample of leads costs in AUC: the scale-out story trains on one
    machine, so a training set built on Spark may have to be sampled (by lead, which keeps the
    base rate and every lead's rows together). Each sample trains on the data before a split
    date; every model is scored on the same later rows of all leads."""
    from sklearn.metrics import roc_auc_score

    from leadml.datasets import make_crm
    from leadml.features import build_training_set
    from leadml.modeling import train

    t0 = time.perf_counter()
    n, days = (2_400, 300) if ctx.quick else (10_000, 420)
    crm = make_crm(n, days=days, seed=0)
    split = crm.observed_until - pd.Timedelta(days=90)
    full = build_training_set(crm.leads, crm.events, crm.conversions, horizon="30d", every="7d",
                              start=crm.start, observed_until=crm.observed_until)  # fmt: skip
    test = full.loc[(full["as_of"] >= split) & ~full["censored"], [*KEYS, "label"]]
    test = test.reset_index(drop=True)
    truth = test.merge(crm.truth, on=KEYS, how="left")["p_true"]
    y = test["label"].to_numpy(dtype=int)
    rows = [["generator's true probability", "", "", "", f"{roc_auc_score(y, truth):.3f}", "", "",
             ""]]  # fmt: skip
    aucs = {}
    for frac in (1.0, 0.5) if ctx.quick else (1.0, 0.5, 0.25, 0.1):
        ids = crm.leads["lead_id"].sample(frac=frac, random_state=0)
        keep = crm.leads["lead_id"].isin(ids)
        sub = (crm.leads[keep], crm.events[crm.events["lead_id"].isin(ids)],
               crm.conversions[crm.conversions["lead_id"].isin(ids)])  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s, res = timed(lambda sub=sub: train(*sub, every="7d", horizon="30d", start=crm.start,
                                                 observed_until=split, n_boot=0))  # fmt: skip
        p = res.model.score(crm.leads, crm.events, cutoffs=test[KEYS])["p_convert"].to_numpy()
        aucs[frac] = roc_auc_score(y, p)
        conv = int((res.training_set["label"] == 1).sum())
        rows.append([f"{frac:.0%} of the leads", f"{int(keep.sum()):,}",
                     f"{len(res.training_set):,}", f"{conv:,}", f"{aucs[frac]:.3f}",
                     f"{aucs[frac] - aucs[1.0]:+.3f}", f"{p.mean() / y.mean():.2f}", secs(s)])  # fmt: skip
    md = (f"{n:,} leads, weekly cut-offs; trained on the data before {split:%Y-%m-%d}, tested on "
          f"the {len(test):,} labelled rows of all leads from then on ({int(y.sum()):,} "
          "conversions). One run per fraction.\n\n")  # fmt: skip
    md += table(["trained on", "leads", "training rows", "training conversions", "test AUC",
                 "vs all leads",
                 "mean p / rate", "train time"], rows)  # fmt: skip
    return Part("sampling", "Sampling before training", "python -m benchmarks --only sampling",
                md, time.perf_counter() - t0, {f"auc_{k}": v for k, v in aucs.items()})  # fmt: skip


PARTS["sampling"] = sampling
