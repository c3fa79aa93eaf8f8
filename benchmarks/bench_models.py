"""Model-quality benchmark: the training protocol on the data shapes real CRMs have.

Synthetic shapes (``leadml.datasets.make_crm``; the generator's true probabilities are the named
reference: the best any model could do with what is observable):

  - ``weekly``: the demo, 20k leads, a cut-off every 7 days for every open lead;
  - ``one_per_lead``: one decision time per lead, drawn independently of its outcome
    (``CRMData.sample_cutoffs``), at several CRM sizes;
  - ``drift``: the daily conversion hazard rises 5x over the last third (the base rate doubles);
  - ``late_tracking``: conversions are recorded only from the middle of the history on.

Real data (flat mode): X Education (pre-contact columns, and all columns to show the leakage) and
UCI bank marketing (chronological, without ``duration``), with calibration-in-the-large where the
base rate moves from 5 % to 31 %.

Per run: rows labelled and used, the backtest's test rows, AUC of every model and of the truth,
LightGBM's ECE and mean prediction / observed rate on the backtest's test rows, and the shipped
(production) model's mean prediction / observed rate on the latest labelled block.

Real datasets are read from ``$LEADML_SHARED_DATASETS`` (default ``../shared/datasets``); a
missing folder is reported and skipped. Usage:

    python benchmarks/bench_models.py [--only weekly|one_per_lead|drift|late_tracking|x-education|bank]
                                      [--seeds 0 1] [--sizes 20000 100000] [--n-boot 200]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from leadml.datasets import make_crm
from leadml.evaluation import calibration_in_the_large
from leadml.modeling import train, train_flat

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LEADML_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))
X_LEAKY = [
    "Tags",
    "Lead Quality",
    "Lead Profile",
    "Asymmetrique Activity Index",
    "Asymmetrique Profile Index",
    "Asymmetrique Activity Score",
    "Asymmetrique Profile Score",
    "Last Notable Activity",
]
BANK_MACRO = ["emp.var.rate", "cons.price.idx", "cons.conf.idx", "euribor3m", "nr.employed"]
PUBLISHED_BANK = {"auc": 0.645, "pr_auc": 0.459, "lift_20": 1.76}
SHAPES = ("weekly", "one_per_lead", "drift", "late_tracking")


def _md(df: pd.DataFrame, index: bool = True) -> str:
    """A markdown table (no tabulate dependency)."""
    frame = df.reset_index() if index else df
    cells = [[f"{v:.4f}" if isinstance(v, float) else str(v) for v in r] for r in frame.to_numpy()]
    head = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells])


def _latest_citl(res: Any) -> float:
    """The shipped model's mean prediction / observed rate on its latest (calibration) block."""
    ts = res.training_set
    block = res.model.metadata["production"]["blocks"]["calibration"]
    frm = block["from"]
    latest = (
        ts[ts["order"] >= int(frm.split()[1])]
        if str(frm).startswith("row ")
        else ts[ts["as_of"] >= pd.Timestamp(frm)]
    )
    return calibration_in_the_large(latest["label"].to_numpy(), res.model.predict_proba(latest))


def synthetic(shape: str, size: int, seed: int, n_boot: int) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if shape == "drift":
        kw["rate_shift"] = 5.0
    if shape == "late_tracking":
        kw["conversions_from_day"] = 210
    crm = make_crm(size, seed=seed, **kw)
    reference = crm.truth.rename(columns={"p_true": "p"})
    sched: dict[str, Any] = {"every": crm.every, "start": crm.start}
    if shape == "one_per_lead":
        cut = crm.sample_cutoffs(per_lead=1, seed=seed)
        sched = {"cutoffs": cut[["lead_id", "as_of"]]}
    t = time.perf_counter()
    res = train(
        crm.leads,
        crm.events,
        crm.conversions,
        horizon=crm.horizon,
        observed_until=crm.observed_until,
        rules=ROOT / "models" / "scorecard.yaml",
        reference=reference,
        n_boot=n_boot,
        seed=seed,
        **sched,
    )
    seconds = time.perf_counter() - t
    m = res.report.metrics
    summ = res.split_summary.set_index("part")
    ts = res.training_set
    unseen = res.report.subsets.query(
        "subset == 'leads never seen in training' and model == 'lightgbm'"
    )
    left = summ.loc[[p for p in summ.index if p.startswith("left out")], "rows"].sum()
    recent = res.backtest_model.metadata["production"]["blocks"].get("recent", {})
    return {
        "shape": shape,
        "leads": size,
        "seed": seed,
        "labelled rows": len(ts),
        "left out": int(left),
        "gap rows": int((ts["window"] == "gap").sum()),
        "used / outside gap": res.split_summary.attrs["backtest_share"],
        "test rows": int(res.report.info["rows"]),
        "test conv.": int(res.report.info["conversions"]),
        "truth AUC": m.loc["reference", "auc"],
        "LightGBM AUC": m.loc["lightgbm", "auc"],
        "gap to truth": m.loc["reference", "auc"] - m.loc["lightgbm", "auc"],
        "logistic AUC": m.loc["logistic", "auc"],
        "rules AUC": m.loc["rules", "auc"],
        "ECE": m.loc["lightgbm", "ece"],
        "truth ECE": m.loc["reference", "ece"],
        "test mean p / rate": m.loc["lightgbm", "citl"],
        "shipped mean p / rate (latest block)": _latest_citl(res),
        "unseen leads AUC": float(unseen["auc"].iloc[0]) if len(unseen) else float("nan"),
        "recent-rate z (backtest)": recent.get("z", float("nan")),
        "recent-rate applied": bool(recent.get("applied", False)),
        "seconds": seconds,
    }


def _show(title: str, res: Any, seconds: float, extra: str = "") -> None:
    cols = ["auc", "pr_auc", "log_loss", "brier", "ece", "citl", "lift_10", "lift_20", "capture_20"]
    rep = res.report
    table = rep.metrics[cols].copy()
    iv = rep.intervals.set_index(["model", "metric"]) if len(rep.intervals) else None
    if iv is not None:
        table["auc_95ci"] = [
            f"[{iv.loc[(m, 'auc'), 'low']:.3f}, {iv.loc[(m, 'auc'), 'high']:.3f}]"
            for m in table.index
        ]
    print(f"\n## {title}  ({seconds:.1f} s){extra}")
    print(
        f"test rows {rep.info['rows']:,}, conversions {rep.info['conversions']:,} "
        f"({rep.info['label_rate']:.2%}); shipped model mean p / rate on the latest block "
        f"{_latest_citl(res):.3f}"
    )
    print(_md(table.round(4)))


def x_education(n_boot: int) -> list[tuple[str, Any, float]]:
    """The X Education runs (printed), returned as ``(name, result, seconds)``."""
    out: list[tuple[str, Any, float]] = []
    path = SHARED / "x-education-leads" / "Leads.csv"
    if not path.exists():
        print(f"\n## X Education: skipped ({path} not found)")
        return out
    df = pd.read_csv(path)
    for name, exclude in [
        ("pre-contact columns only", ["Lead Number", *X_LEAKY]),
        ("all columns (LEAKY: sales fills these in after contact)", ["Lead Number"]),
    ]:
        t = time.perf_counter()
        res = train_flat(
            df,
            label="Converted",
            id_column="Prospect ID",
            exclude=exclude,
            na_values=["Select"],
            split="random",  # the table has no time column; one row per lead
            rules=ROOT / "models" / "scorecard_x_education.yaml",
            n_boot=n_boot,
        )
        _show(f"X Education, {name}", res, time.perf_counter() - t)
        out.append((name, res, time.perf_counter() - t))
    return out


def bank(n_boot: int) -> list[tuple[str, Any, float]]:
    """The bank-marketing runs (printed), returned as ``(name, result, seconds)``."""
    out: list[tuple[str, Any, float]] = []
    path = SHARED / "uci-bank-marketing" / "bank-additional-full.csv"
    if not path.exists():
        print(f"\n## bank marketing: skipped ({path} not found)")
        return out
    df = pd.read_csv(path, sep=";")
    print(f"\npublished leakage-safe figures (chronological, no duration): {PUBLISHED_BANK}")
    for name, exclude in [
        ("all columns but duration", ["duration"]),
        ("without macro-economic indicators", ["duration", *BANK_MACRO]),
    ]:
        t = time.perf_counter()
        res = train_flat(
            df,
            label="y",
            positive="yes",
            exclude=exclude,
            split="order",  # rows are in date order
            rules=ROOT / "models" / "scorecard_bank_marketing.yaml",
            n_boot=n_boot,
        )
        _show(f"bank marketing, {name}", res, time.perf_counter() - t)
        out.append((name, res, time.perf_counter() - t))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", choices=[*SHAPES, "x-education", "bank"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[20_000, 100_000],
        help="CRM sizes (leads) for one_per_lead",
    )
    ap.add_argument("--n-boot", type=int, default=200)
    args = ap.parse_args()
    pd.set_option("display.width", 250)
    rows = []
    for shape in SHAPES:
        if args.only not in (None, shape):
            continue
        sizes = args.sizes if shape == "one_per_lead" else [20_000]
        for size in sizes:
            for seed in args.seeds:
                r = synthetic(shape, size, seed, args.n_boot)
                rows.append(r)
                print(pd.Series(r).to_string(), flush=True)
    if rows:
        table = pd.DataFrame(rows)
        print("\n## Synthetic shapes\n")
        print(_md(table.round(4), index=False))
    if args.only in (None, "x-education"):
        x_education(args.n_boot)
    if args.only in (None, "bank"):
        bank(args.n_boot)


if __name__ == "__main__":
    main()
