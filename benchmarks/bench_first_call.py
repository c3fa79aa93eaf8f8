"""First call: a NEW process that loads a saved model and scores one lead with reasons.

What an application, a cron job or the first REST request pays. Each contender runs in a fresh
subprocess, timed from process start to the scores printed (median of ``--runs``), after one warm-up
run so the on-disk caches (the compiled explanation kernel in the user cache folder, the OS file
cache) are as they are on a machine after the first run. Named baselines measured in the same run:

- ``python -c pass``: the interpreter alone;
- ``import stack``: importing pandas, NumPy, LightGBM, DuckDB, numba and scikit-learn, and nothing
  else (the floor the issue names: no scoring path can start faster than its imports).

Target (reliability issue): one lead with reasons in a new process in under 3 s, end to end.

Usage: ``python benchmarks/bench_first_call.py [--runs 5]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

PY = sys.executable

SCORE_ONE = """
import pandas as pd
from leadml.modeling import LeadScoringModel
m = LeadScoringModel.load({model!r})
leads = pd.read_parquet({leads!r})
events = pd.read_parquet({events!r})
out = m.score(leads, events, as_of={as_of!r}, reasons=3)
print(out[["lead_id", "p_convert", "reason_1"]].to_string())
"""


def _prepare(work: Path) -> dict[str, str]:
    from leadml.datasets import make_crm
    from leadml.modeling import train

    crm = make_crm(3000, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = train(crm.leads, crm.events, crm.conversions, every="7d", n_boot=0)
    model = res.model.save(work / "model", overwrite=True)
    lead = crm.leads.iloc[[-1]]
    lead.to_parquet(work / "lead.parquet")
    crm.events[crm.events["lead_id"].isin(lead["lead_id"])].to_parquet(work / "events.parquet")
    as_of = str(crm.observed_until)
    return {
        "model": str(model),
        "leads": str(work / "lead.parquet"),
        "events": str(work / "events.parquet"),
        "as_of": as_of,
    }


def _time(cmd: list[str], runs: int) -> list[float]:
    subprocess.run(cmd, check=True, capture_output=True)  # warm-up
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = _prepare(Path(tmp))
        leadml_bin = str(Path(PY).parent / "leadml")
        contenders = {
            "python -c pass": [PY, "-c", "pass"],
            "import stack (pandas, numpy, lightgbm, duckdb, numba, sklearn)": [
                PY,
                "-c",
                "import pandas, numpy, lightgbm, duckdb, numba, sklearn",
            ],
            "leadml: load model + score 1 lead with 3 reasons (Python)": [
                PY,
                "-c",
                SCORE_ONE.format(**paths),
            ],
            "leadml score (CLI, 1 lead, 3 reasons, CSV out)": [
                leadml_bin,
                "--quiet",
                "score",
                "--model",
                paths["model"],
                "--leads",
                paths["leads"],
                "--events",
                paths["events"],
                "--as-of",
                paths["as_of"],
                "--out",
                str(Path(tmp) / "scores.csv"),
            ],
        }
        results = {name: _time(cmd, args.runs) for name, cmd in contenders.items()}
    floor = statistics.median(
        results["import stack (pandas, numpy, lightgbm, duckdb, numba, sklearn)"]
    )
    print("\n| contender | median (s) | min | max | vs import stack |\n|---|---|---|---|---|")
    for name, ts in results.items():
        med = statistics.median(ts)
        print(f"| {name} | {med:.2f} | {min(ts):.2f} | {max(ts):.2f} | {med / floor:.2f}x |")
    py = statistics.median(results["leadml: load model + score 1 lead with 3 reasons (Python)"])
    print(
        f"\ntarget < 3 s for one lead with reasons in a new process: {'met' if py < 3 else 'NOT met'} ({py:.2f} s)"
    )


if __name__ == "__main__":
    main()
