"""Per-segment models: does a model per lead source beat the global one where it should, and only there?

Two synthetic CRMs (``leadml.datasets.make_crm``) of the same size and seed, trained with
``segment="lead_source"``:

  - ``reversed``: ``make_crm(reversed_source="website_organic")``: the leads of that source convert
    for the opposite profile reasons (their fit effects are negated and doubled); every other source
    shares the same drivers;
  - ``same drivers``: the default generator, where sources differ only in their initial intent.

Per run: the backtest's per-segment table (rows, conversions, global vs segment AUC / log loss / ECE
on the same test rows, the choice and why), and the routed scores (each test row by the model of its
segment) vs the global model on all test rows. Usage:

    python -m benchmarks.bench_segments [--n-leads 8000] [--days 360] [--every 14d] [--seed 0]
                                         [--out segments.md]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import pandas as pd

from leadml.datasets import make_crm
from leadml.modeling import train

SEGMENT_COLUMNS = [
    "segment",
    "test_rows",
    "test_conversions",
    "global_auc",
    "segment_auc",
    "global_log_loss",
    "segment_log_loss",
    "global_ece",
    "segment_ece",
    "choice",
    "why",
]


def _md(df: pd.DataFrame) -> str:
    """A markdown table (no tabulate dependency)."""
    cells = df.copy()
    for c in cells.columns:
        if pd.api.types.is_float_dtype(cells[c]):
            cells[c] = cells[c].map(lambda v: "" if pd.isna(v) else f"{v:.4f}")
    head = "| " + " | ".join(map(str, cells.columns)) + " |"
    sep = "|" + "---|" * len(cells.columns)
    rows = ["| " + " | ".join(str(v) for v in r) + " |" for r in cells.itertuples(index=False)]
    return "\n".join([head, sep, *rows])


def run(
    name: str, *, n_leads: int, days: int, every: str, seed: int, reversed_source: str | None
) -> str:
    crm = make_crm(n_leads, days=days, seed=seed, reversed_source=reversed_source)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = train(
            crm.leads,
            crm.events,
            crm.conversions,
            every=every,
            segment="lead_source",
            n_boot=0,
            seed=seed,
        )
    seconds = time.perf_counter() - t0
    seg = res.report.segments[SEGMENT_COLUMNS].copy()
    seg["why"] = seg["why"].str.replace("|", "/", regex=False)
    routed = res.report.segments_routed
    return "\n".join(
        [
            f"#### {name} ({n_leads:,} leads, {days} days, every {every}, seed {seed}; "
            f"trained in {seconds:.0f} s)",
            "",
            _md(seg),
            "",
            _md(routed),
            "",
            f"kept: {', '.join(res.model.segments) or 'none'}",
            "",
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-leads", type=int, default=8000)
    ap.add_argument("--days", type=int, default=360)
    ap.add_argument("--every", default="14d")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    parts = [
        run(name, n_leads=a.n_leads, days=a.days, every=a.every, seed=a.seed, reversed_source=src)
        for name, src in (("reversed", "website_organic"), ("same drivers", None))
    ]
    text = "\n".join(parts)
    print(text)
    if a.out is not None:
        a.out.write_text(text)


if __name__ == "__main__":
    main()
