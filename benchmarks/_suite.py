"""The suite's plumbing: the run context, timing in fresh processes, the environment block, and
the generated tables in ``benchmarks/README.md`` (between ``<!-- suite:NAME -->`` markers)."""

from __future__ import annotations

import datetime as dt
import importlib.metadata as md
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = HERE / "README.md"
PACKAGES = (
    "leadml", "pandas", "numpy", "duckdb", "polars", "pyspark", "lightgbm", "shap",
    "scikit-learn", "numba", "mlflow", "pyarrow",
)  # fmt: skip


@dataclass
class Ctx:
    """What every part is given: quick or full, how many runs, where data may be cached."""

    quick: bool
    runs: int
    data_dir: Path
    log: Callable[[str], None] = print


@dataclass
class Part:
    """A part's result: its section of the README (markdown) and a few numbers for tests."""

    name: str
    title: str
    command: str
    markdown: str
    seconds: float = 0.0
    ratios: dict[str, float] = field(default_factory=dict)


def median_of(fn: Callable[[], float], runs: int) -> tuple[float, list[float]]:
    """Median wall time (seconds) of ``runs`` calls of ``fn``, which returns its own time."""
    times = [fn() for _ in range(max(1, runs))]
    return statistics.median(times), times


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def fresh_process(code: str, *, timeout: float = 3600) -> dict[str, Any]:
    """Run ``code`` (Python, printing one JSON object on its last line) in a new interpreter
    from the repository root; return that object (``{"error": ...}`` if it failed)."""
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    if res.returncode != 0:
        tail = (res.stderr or "").strip().splitlines()
        return {"error": tail[-1] if tail else f"exit {res.returncode}"}
    return json.loads(res.stdout.strip().splitlines()[-1])


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join("" if v is None else str(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def secs(x: float | None) -> str:
    if x is None:
        return "not run"
    return f"{x:.2f} s" if x < 10 else f"{x:.1f} s"


def ratio(x: float | None, *, faster: bool = False) -> str:
    if x is None or x != x:
        return ""
    return f"**{x:.2f}x faster**" if faster and x >= 1 else f"{x:.2f}x"


def environment() -> str:
    """Machine, library versions and date, for the top of the generated tables."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024**2:.0f} GB RAM"
    except (OSError, ValueError, IndexError):
        pass
    versions = []
    for p in PACKAGES:
        try:
            versions.append(f"{p} {md.version(p)}")
        except md.PackageNotFoundError:
            versions.append(f"{p} (not installed)")
    java = ""
    try:
        res = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
        java = "; " + res.stderr.splitlines()[0].replace('"', "") if res.stderr else ""
    except OSError:
        pass
    return (
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC\n"
        f"- machine: {cpu}, {os.cpu_count()} cores{mem}; {platform.system()} "
        f"{platform.release()}; Python {platform.python_version()}{java}\n"
        f"- libraries: {', '.join(versions)}"
    )


def write_sections(path: Path, sections: dict[str, str]) -> None:
    """Replace each ``<!-- suite:NAME -->`` ... ``<!-- /suite:NAME -->`` block of ``path`` with
    ``sections[NAME]``; a block that is missing is appended at the end."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    for name, body in sections.items():
        block = f"<!-- suite:{name} -->\n{body.strip()}\n<!-- /suite:{name} -->"
        pat = re.compile(
            rf"<!-- suite:{re.escape(name)} -->.*?<!-- /suite:{re.escape(name)} -->", re.S
        )
        text = (
            pat.sub(lambda _m, b=block: b, text) if pat.search(text) else text + "\n" + block + "\n"
        )
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
