"""Learned scorecard benchmark: how much of LightGBM's lift over the hand-written rules a learned
points table keeps, on the same out-of-time test rows.

On a synthetic CRM (``leadml.datasets.make_crm``) with a weekly schedule, ``leadml.train`` runs its
backtest with the hand-written scorecard (``models/scorecard.yaml``) as the rules baseline; that
gives the origin ``T`` and the test rows (``as_of >= T``) on which the rules, the logistic regression
and LightGBM are compared. The scorecard is then learned with ``learn_scorecard(..., until=T)``
(only labels known at ``T``), once fitted to the labels and once distilled from LightGBM, and
each is scored on the same test rows with its points-to-probability mapping fitted on the rows
known at ``T``, as ``train`` fits its rules baseline (the script rebuilds the rows and checks them by
re-scoring the hand-written scorecard to train's AUC; if that check fails it runs ``train`` again
with the learned scorecard as the rules baseline instead).

Share of LightGBM's lift kept = ``(m_learned - m_hand) / (m_lgbm - m_hand)`` for ``m`` = AUC and
top-decile lift. Flat mode (X Education) is not covered: ``learn_scorecard`` needs the
events-and-cut-offs contract. Usage:

    python benchmarks/bench_scorecard.py [--n-leads 20000] [--every 7d] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from leadml.datasets import make_crm
from leadml.evaluation import metric_table
from leadml.features import label_rows, make_cutoffs, parse_duration
from leadml.modeling import train
from leadml.rules import PointsScorecard, learn_scorecard, load_rules, write_scorecard
from leadml.schema import validate_lead_data

ROOT = Path(__file__).resolve().parents[1]
HAND = ROOT / "models" / "scorecard.yaml"
METRICS = ["auc", "ece", "log_loss", "lift_10"]


def _rows(tables: tuple, every: str, horizon: str, origin: pd.Timestamp) -> tuple:
    """The backtest's training rows (label known at the origin) and test rows, rebuilt."""
    data = validate_lead_data(*tables)
    h = parse_duration(horizon, name="horizon")
    cut = make_cutoffs(data.leads, data.conversions, every=every, end=data.observed_until)
    lab = label_rows(cut, data.conversions, horizon=h, observed_until=data.observed_until)
    rows = cut.loc[~lab["censored"].to_numpy(), ["lead_id", "as_of"]].reset_index(drop=True)
    rows["label"] = lab.loc[~lab["censored"], "label"].to_numpy(dtype=float)
    return data, rows.loc[rows["as_of"] + h <= origin], rows.loc[rows["as_of"] >= origin]


def _scorecard_p(config: object, data: object, fit_rows: pd.DataFrame, test: pd.DataFrame):
    sc = PointsScorecard(rules=config)
    sc.fit(sc.build_inputs(data, cutoffs=fit_rows[["lead_id", "as_of"]]), fit_rows["label"])
    return sc.predict_proba(sc.build_inputs(data, cutoffs=test[["lead_id", "as_of"]]))[:, 1]


def run(n_leads: int, every: str, horizon: str, seed: int, out: Path | None) -> pd.DataFrame:
    crm = make_crm(n_leads, seed=seed)
    tables = (crm.leads, crm.events, crm.conversions)
    common = {"every": every, "horizon": horizon, "n_boot": 0, "seed": seed}

    t0 = time.perf_counter()
    hand = train(*tables, rules=str(HAND), **common)
    t_train = time.perf_counter() - t0
    origin = pd.Timestamp(hand.report.info["origin"])
    print(f"backtest origin {origin:%Y-%m-%d}; test rows {hand.report.info['rows']:,}; "
          f"train (hand-written rules) {t_train:.0f} s")  # fmt: skip
    data, fit_rows, test = _rows(tables, every, horizon, origin)
    y = test["label"].to_numpy()
    # re-scored on the rebuilt test rows, the hand-written scorecard must give train's AUC (the
    # AUC does not depend on the points-to-probability mapping): that checks the rows are the same.
    # Every scorecard then gets its mapping fitted the same way here, on all rows known at T.
    mine = metric_table(y, {"hand": _scorecard_p(str(HAND), data, fit_rows, test)})
    same = (
        len(test) == hand.report.info["rows"]
        and abs(mine.loc["hand", "auc"] - hand.report.metrics.loc["rules", "auc"]) < 1e-9
    )
    print(f"rebuilt test rows {len(test):,} (train's: {hand.report.info['rows']:,}); hand-written "
          f"AUC {mine.loc['hand', 'auc']:.4f} vs train's {hand.report.metrics.loc['rules', 'auc']:.4f}"
          f"{'' if same else ': not the same rows, learned scorecards go through train()'}")  # fmt: skip

    rows = {
        "hand-written scorecard": mine.loc["hand", METRICS]
        if same
        else hand.report.metrics.loc["rules", METRICS]
    }
    times: dict[str, float] = {}
    for label, distill in (("learned scorecard", False), ("distilled scorecard", True)):
        t0 = time.perf_counter()
        config, report = learn_scorecard(
            *tables, every=every, horizon=horizon, until=origin, seed=seed, distill=distill,
            name=label.split()[0],
        )  # fmt: skip
        times[label] = time.perf_counter() - t0
        if out is not None:
            write_scorecard(config, out / f"{label.split()[0]}_at_origin.yaml")
        if same:
            p = _scorecard_p(config, data, fit_rows, test)
            rows[label] = metric_table(y, {label: p}, metrics=METRICS).loc[label]
        else:
            res = train(*tables, rules=config.to_dict(), **common)
            if pd.Timestamp(res.report.info["origin"]) != origin:
                raise RuntimeError("the backtest origin moved between runs: rows not comparable")
            rows[label] = res.report.metrics.loc["rules", METRICS]
        n_rules = len(load_rules(config).rules)
        print(f"{label}: learned in {times[label]:.0f} s from {report.rows['rows']:,} rows "
              f"(cut-offs up to {report.rows['to']:%Y-%m-%d}), {n_rules} rules")  # fmt: skip
    rows["logistic regression"] = hand.report.metrics.loc["logistic", METRICS]
    rows["LightGBM"] = hand.report.metrics.loc["lightgbm", METRICS]
    table = pd.DataFrame(rows).T
    h, g = table.loc["hand-written scorecard"], table.loc["LightGBM"]
    for m in ("auc", "lift_10"):
        table[f"kept_{m}"] = (table[m] - h[m]) / (g[m] - h[m])
    table.attrs.update(origin=origin, test_rows=hand.report.info["rows"],
                       conversions=hand.report.info["conversions"], times=times)  # fmt: skip
    return table


def markdown(table: pd.DataFrame) -> str:
    head = "| model | AUC | ECE | log loss | lift top 10 % | share of LightGBM's AUC gain kept | share of its lift gain kept |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for name, r in table.iterrows():
        kept = "" if name in ("hand-written scorecard", "LightGBM") else (
            f"{r['kept_auc']:.0%} | {r['kept_lift_10']:.0%}"
        )  # fmt: skip
        kept = kept or " | "
        lines.append(
            f"| {name} | {r['auc']:.3f} | {r['ece']:.4f} | {r['log_loss']:.4f} | "
            f"{r['lift_10']:.2f} | {kept} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-leads", type=int, default=20_000)
    ap.add_argument("--every", default="7d")
    ap.add_argument("--horizon", default="30d")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="Folder for the learned YAML files.")
    args = ap.parse_args()
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    table = run(args.n_leads, args.every, args.horizon, args.seed, args.out)
    a = table.attrs
    print(f"\nmake_crm({args.n_leads:,}, seed={args.seed}), every {args.every}, horizon "
          f"{args.horizon}; test rows as_of >= {a['origin']:%Y-%m-%d}: {a['test_rows']:,} rows, "
          f"{a['conversions']:,} conversions\n")  # fmt: skip
    print(markdown(table))


if __name__ == "__main__":
    main()
