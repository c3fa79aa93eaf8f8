"""Explained-scoring benchmark: leadml's exact tree contributions vs shap.TreeExplainer and
LightGBM pred_contrib, same model, same rows, same run.

Model: 300 trees, 31 leaves, LightGBM defaults otherwise, on ~60 lead features of the synthetic
CRM (counts, recencies, decayed engagement, profile categories). Rows: 100k scoring rows.

Throughput is "probability plus top-3 reasons": contributions, grouping into reasons, top-3 up
and down per lead with their text. The grouping/top-k/text step is the same code for every
contender (timed once on leadml's contributions and added to each); the probability comes from
``booster.predict`` for every contender. Exactness: max |difference| of the contributions in
log-odds. Also the single-lead latency of ``LeadScoringModel.score(..., reasons=3)`` for one lead
with 200 events. Usage:

    python benchmarks/bench_explain.py [--rows 100000] [--skip-shap]
"""

from __future__ import annotations

import argparse
import time
import warnings

import lightgbm as lgb
import numpy as np
import pandas as pd

from leadml.datasets import make_crm
from leadml.explain import Explainer, TreeExplainer
from leadml.features import FeatureSpec, build_training_set
from leadml.modeling import train


def _time(fn, repeat: int = 1):
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--skip-shap", action="store_true", help="skip shap.TreeExplainer (slow)")
    args = ap.parse_args()
    run(args.rows, skip_shap=args.skip_shap)


def run(
    rows: int, *, skip_shap: bool = False, n_leads: int = 20_000, latency_runs: int = 50
) -> dict:
    """The benchmark; prints as it goes and returns its figures (for ``python -m benchmarks``)."""
    result: dict = {"rows": rows}
    crm = make_crm(n_leads, seed=0)
    spec = FeatureSpec(windows=(7, 30), max_event_types=8, max_details=4)
    ts = build_training_set(
        crm.leads,
        crm.events,
        crm.conversions,
        horizon="30d",
        every="7d",
        start=crm.start,
        observed_until=crm.observed_until,
        spec=spec,
    )
    ts = ts[~ts["censored"]].reset_index(drop=True)
    names = spec.feature_names_
    booster = lgb.train(
        {
            "objective": "binary",
            "num_leaves": 31,
            "learning_rate": 0.05,
            "verbose": -1,
            "deterministic": True,
            "seed": 0,
        },
        lgb.Dataset(
            ts[names], ts["label"].astype(int), categorical_feature=spec.categorical_features_
        ),
        num_boost_round=300,
    )
    X = ts[names].sample(rows, random_state=0, replace=len(ts) < rows).reset_index(drop=True)
    depth = [
        len(leaf.tests)
        for t in __import__("leadml.explain._trees", fromlist=["x"]).parse_trees(
            booster.model_to_string()
        )
        for leaf in t.leaves
    ]
    print(
        f"model: {booster.num_trees()} trees, 31 leaves, {len(names)} features; "
        f"distinct features per leaf path: mean {np.mean(depth):.1f}, max {max(depth)}; rows: {len(X):,}"
    )

    t_build, te = _time(lambda: TreeExplainer(booster))
    te.shap_values(X.iloc[:200])  # compile (cached on disk after the first run)
    t_build2, te = _time(lambda: TreeExplainer(booster))
    t_ours, ours = _time(lambda: te.shap_values(X))
    t_pred, _ = _time(lambda: booster.predict(X, raw_score=True))

    # the reason step (grouping, top-3 up and down, text), identical for every contender
    from leadml.modeling import Calibrator

    ex = Explainer(booster, Calibrator("sigmoid", a=1.0, b=0.0), spec)
    ex._trees = te
    t_reasons_total, (wide, _) = _time(lambda: ex.reasons(X, k=3))
    t_post = max(t_reasons_total - t_ours, 0.0)
    print(
        f"leadml: table build {t_build2:.2f} s (first build incl. compile {t_build:.2f} s), "
        f"contributions {t_ours:.2f} s, reasons step {t_post:.2f} s, predict {t_pred:.2f} s"
    )

    rows_ = [("leadml (exact, compiled, tables)", t_ours)]
    t_lgb, ref = _time(lambda: booster.predict(X, pred_contrib=True))
    rows_.append(("LightGBM pred_contrib", t_lgb))
    diffs = {"LightGBM pred_contrib": float(np.abs(ours - ref).max())}
    if not skip_shap:
        import shap

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_shap, sv = _time(lambda: shap.TreeExplainer(booster).shap_values(X))
        sv = np.asarray(sv)
        sv = sv[-1] if sv.ndim == 3 else sv
        rows_.append(("shap.TreeExplainer", t_shap))
        diffs["shap.TreeExplainer"] = float(np.abs(ours[:, :-1] - sv).max())
    base = dict(rows_)
    print(
        f"\n{'contender':36s} {'contrib s':>10s} {'explained rows/s':>17s} {'vs shap':>8s} {'vs lgbm':>8s}"
    )
    result["contenders"] = []
    for name, t in rows_:
        thr = len(X) / (t + t_post + t_pred)
        vs_shap = (base.get("shap.TreeExplainer", np.nan) + t_post + t_pred) / (t + t_post + t_pred)
        vs_lgb = (base["LightGBM pred_contrib"] + t_post + t_pred) / (t + t_post + t_pred)
        print(f"{name:36s} {t:10.2f} {thr:17,.0f} {vs_shap:8.2f} {vs_lgb:8.2f}")
        result["contenders"].append((name, t, thr, vs_shap, vs_lgb))
    result.update(diffs=diffs, reason_s=t_post, predict_s=t_pred)
    for k, v in diffs.items():
        print(f"max |leadml - {k}| = {v:.2e} (log-odds)")
    print(f"reasons filled: {(wide['reason_1'] != '').mean():.1%} of rows have a top reason up")

    # single-lead latency through LeadScoringModel.score, reasons included
    res = train(
        crm.leads,
        crm.events,
        crm.conversions,
        horizon="30d",
        every="7d",
        start=crm.start,
        observed_until=crm.observed_until,
        n_boot=0,
    )
    model = res.model
    counts = crm.events["lead_id"].value_counts()
    lead_id = counts.index[int(np.argmin(np.abs(counts.to_numpy() - 200)))]
    lead = crm.leads[crm.leads["lead_id"] == lead_id]
    events = crm.events[crm.events["lead_id"] == lead_id]
    for _ in range(3):
        model.score(lead, events, as_of=crm.observed_until, reasons=3)
    lat = []
    for _ in range(latency_runs):
        t = time.perf_counter()
        model.score(lead, events, as_of=crm.observed_until, reasons=3)
        lat.append(time.perf_counter() - t)
    lat_ms = np.array(lat) * 1000
    print(
        f"\nsingle lead ({len(events)} events, reasons=3): p50 {np.median(lat_ms):.1f} ms, "
        f"p90 {np.percentile(lat_ms, 90):.1f} ms (target p50 <= 20 ms)"
    )
    result.update(
        p50_ms=float(np.median(lat_ms)),
        p90_ms=float(np.percentile(lat_ms, 90)),
        lead_events=len(events),
        trees=booster.num_trees(),
        features=len(names),
    )
    return result


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    main()
