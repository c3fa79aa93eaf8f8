"""Model-quality benchmark: rules vs logistic regression vs LightGBM, same rows, same run.

Datasets:
  - synthetic CRM (leadml.datasets.make_crm) with the generator's true probabilities as a named
    reference (the best any model could do with what is observable);
  - X Education leads (flat mode), once with pre-contact columns only and once with every column,
    to show the leakage of columns filled in by sales after contact;
  - UCI bank marketing (flat mode) without ``duration``, split by row order (chronological),
    against the published leakage-safe figures (ROC-AUC 0.645, PR-AUC 0.459, top-20 % lift 1.76).

Real datasets are read from ``$LEADML_SHARED_DATASETS`` (default ``../shared/datasets``); a
missing folder is reported and skipped. Usage:

    python benchmarks/bench_models.py [--only synthetic|x-education|bank] [--n-boot 200]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pandas as pd

from leadml.datasets import make_crm
from leadml.evaluation import roc_auc
from leadml.modeling import train, train_flat

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LEADML_SHARED_DATASETS", ROOT.parent / "shared" / "datasets"))
COLS = ["auc", "pr_auc", "log_loss", "brier", "ece", "lift_10", "lift_20", "capture_20"]
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


def _show(title: str, res, seconds: float, extra: str = "") -> pd.DataFrame:
    rep = res.report
    table = rep.metrics[COLS].copy()
    iv = rep.intervals.set_index(["model", "metric"]) if len(rep.intervals) else None
    if iv is not None:
        table["auc_95ci"] = [
            f"[{iv.loc[(m, 'auc'), 'low']:.3f}, {iv.loc[(m, 'auc'), 'high']:.3f}]"
            for m in table.index
        ]
    print(f"\n## {title}  ({seconds:.1f} s){extra}")
    print(
        f"test rows {rep.info['rows']:,}, conversions {rep.info['conversions']:,} "
        f"({rep.info['label_rate']:.2%})"
    )
    print(table.round(4).to_string())
    return table


def synthetic(n_boot: int) -> None:
    crm = make_crm(20_000, seed=0)
    t = time.perf_counter()
    res = train(
        crm.leads,
        crm.events,
        crm.conversions,
        horizon=crm.horizon,
        every=crm.every,
        start=crm.start,
        observed_until=crm.observed_until,
        rules=ROOT / "models" / "scorecard.yaml",
        reference=crm.truth.rename(columns={"p_true": "p"}),
        n_boot=n_boot,
    )
    _show(
        "synthetic CRM (20k leads, weekly cut-offs, 30-day horizon)", res, time.perf_counter() - t
    )


def x_education(n_boot: int) -> None:
    path = SHARED / "x-education-leads" / "Leads.csv"
    if not path.exists():
        print(f"\n## X Education: skipped ({path} not found)")
        return
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


def bank(n_boot: int) -> None:
    path = SHARED / "uci-bank-marketing" / "bank-additional-full.csv"
    if not path.exists():
        print(f"\n## bank marketing: skipped ({path} not found)")
        return
    df = pd.read_csv(path, sep=";")
    print(f"\npublished leakage-safe figures (chronological, no duration): {PUBLISHED_BANK}")
    for name, exclude, search in [
        ("all columns but duration", ["duration"], False),
        ("without macro-economic indicators", ["duration", *BANK_MACRO], False),
        ("without macro-economic indicators, with the search", ["duration", *BANK_MACRO], True),
    ]:
        t = time.perf_counter()
        res = train_flat(
            df,
            label="y",
            positive="yes",
            exclude=exclude,
            split="order",  # rows are in date order
            rules=ROOT / "models" / "scorecard_bank_marketing.yaml",
            search=search,
            n_boot=n_boot,
        )
        ts = res.training_set
        valid = ts[ts["window"] == "valid"]
        v_auc = roc_auc(valid["label"], res.model.predict_proba(valid))
        _show(
            f"bank marketing, {name}",
            res,
            time.perf_counter() - t,
            extra=f"  [validation-window LightGBM AUC {v_auc:.3f}, log loss "
            f"{res.fit_info.valid_log_loss:.4f}]",
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", choices=["synthetic", "x-education", "bank"])
    ap.add_argument("--n-boot", type=int, default=200)
    args = ap.parse_args()
    pd.set_option("display.width", 200)
    runs = {"synthetic": synthetic, "x-education": x_education, "bank": bank}
    for name, fn in runs.items():
        if args.only in (None, name):
            fn(args.n_boot)


if __name__ == "__main__":
    main()
