"""The benchmark suite's smoke run: every part runs on small data, computes its ratios against
the baselines of the same run and writes its tables (speeds are not asserted here)."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks._suite import write_sections

ROOT = Path(__file__).resolve().parents[1]


def test_sections_are_replaced_between_their_markers_and_missing_ones_appended(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# B\n\n<!-- suite:a -->\nold\n<!-- /suite:a -->\n\ntail text\n")
    write_sections(readme, {"a": "new table", "b": "appended"})
    text = readme.read_text()
    assert "old" not in text
    assert "<!-- suite:a -->\nnew table\n<!-- /suite:a -->" in text
    assert text.index("tail text") < text.index("<!-- suite:b -->\nappended")
    write_sections(readme, {"a": "again"})  # idempotent: one block per name
    assert readme.read_text().count("<!-- suite:a -->") == 1


@pytest.mark.slow
def test_quick_suite_runs_every_part_and_computes_the_ratios(tmp_path):
    readme = tmp_path / "README.md"
    shutil.copy(ROOT / "benchmarks" / "README.md", readme)
    figures = tmp_path / "figures.json"
    res = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--data-dir", str(tmp_path / "data"),
         "--readme", str(readme), "--json", str(figures)],
        cwd=ROOT, capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    parts = json.loads(figures.read_text())["parts"]
    assert set(parts) == {"features", "training", "explain", "scoring", "quality", "sampling"}
    r = {f"{p}.{k}": v for p, d in parts.items() for k, v in d["ratios"].items()}
    for key in (
        "features.quick.leadml.vs_pandas",
        "features.quick.leadml.vs_handwritten",
        "features.quick.leadml.vs_polars",
        "training.overhead",
        "explain.leadml (exact, compiled, tables).vs_shap",
        "explain.p50_ms",
        "scoring.batches of 2,000.peak_vs_one_call",
        "sampling.auc_1.0",
    ):
        assert key in r, sorted(r)
        assert math.isfinite(r[key]), key
    text = readme.read_text()
    assert "(not run yet)" not in text
    assert "lightgbm " in text  # the library versions
    for name in ("features", "training", "explain", "scoring", "quality", "sampling"):
        assert text.count(f"<!-- suite:{name} -->") == 1
    # the value checks ran: every contender equals leadml on what they share
    assert "polars vs leadml on 40 feature columns" in text
    assert "same missing values: False" not in text
