"""Run the benchmark suite and rewrite its tables in ``benchmarks/README.md``.

    python -m benchmarks                       # everything (about 45 minutes on 2 cores)
    python -m benchmarks --only features       # one part (features, training, explain, scoring, quality)
    python -m benchmarks --quick               # a smoke run on small data (the test suite runs it)

Every part measures its baselines in the same run, on the same data; times are medians of
``--runs`` runs (default 3). Generated data is cached in ``--data-dir`` (default
``benchmarks/.data``) and reused by later runs. Run it alone: LightGBM, DuckDB and Spark each use
every core, and a competing process distorts every figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

from benchmarks._suite import HERE, README, Part, environment, write_sections
from benchmarks.suite import PARTS


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--only", nargs="+", choices=list(PARTS), help="run only these parts")
    ap.add_argument("--quick", action="store_true", help="small data, for a smoke run")
    ap.add_argument("--runs", type=int, default=None, help="runs per timing (default 3; quick 1)")
    ap.add_argument("--data-dir", type=Path, default=HERE / ".data", help="generated data cache")
    ap.add_argument("--readme", type=Path, default=None,
                    help="the README whose tables are rewritten (default benchmarks/README.md; "
                         "with --quick nothing is written unless given)")  # fmt: skip
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    a = ap.parse_args(argv)
    from benchmarks._suite import Ctx

    runs = a.runs or (1 if a.quick else 3)
    ctx = Ctx(quick=a.quick, runs=runs, data_dir=a.data_dir,
              log=lambda m: print(m, file=sys.stderr, flush=True))  # fmt: skip
    a.data_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    done: list[Part] = []
    for name in a.only or list(PARTS):
        ctx.log(f"== {name}")
        part = PARTS[name](ctx)
        ctx.log(f"== {name}: {part.seconds:.0f} s")
        print(f"\n## {part.title} ({part.seconds:.0f} s)\n\n{part.markdown}\n", flush=True)
        done.append(part)
    total = time.perf_counter() - t0
    readme = a.readme or (None if a.quick else README)
    stamp = f"{dt.datetime.now(dt.UTC):%Y-%m-%d}"
    full = f"- the whole suite (`python -m benchmarks{' --quick' if a.quick else ''}`): "
    if a.only:  # keep the figure of the last whole run
        old = readme.read_text() if readme is not None and readme.exists() else ""
        kept = [line for line in old.splitlines() if line.startswith("- the whole suite")]
        full = kept[0] if kept else full + "not run yet"
    else:
        full += f"{total / 60:.1f} min on {stamp}, medians of {runs} run(s)"
    sections = {"environment": environment() + "\n" + full}
    sections |= {
        p.name: f"_`{p.command}`: {p.seconds / 60:.1f} min on {stamp}._\n\n{p.markdown}"
        for p in done
    }
    if readme is not None:
        write_sections(readme, sections)
        ctx.log(f"rewrote {readme}")
    if a.json is not None:
        a.json.write_text(json.dumps({"seconds": total, "parts": {p.name: {"seconds": p.seconds,
                          "ratios": p.ratios} for p in done}}, indent=2))  # fmt: skip
    ctx.log(f"suite: {total / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
