"""Every code block in README.md and docs/*.md runs as written.

Per file, in a fresh folder holding a copy of the repository's ``models/``: ``python`` blocks run in
order in one namespace; ``bash`` blocks run with ``bash -euo pipefail`` and the environment's
``leadml`` on the PATH (``make`` lines are checked with ``make -n``: running the suite from inside the
suite would recurse); ``yaml`` blocks are validated as what they show (a column mapping or a
TrainConfig). ``text`` blocks are prose. Figures the README quotes are checked against the code in
``tests/modeling/test_train.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from leadml.jobs import MonitorConfig, RetrainConfig, ScoreJobConfig, load_job_config
from leadml.modeling import TrainConfig
from leadml.schema import ColumnMapping

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
KNOWN = {"python", "bash", "yaml", "text"}


def blocks(path: Path) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(path.read_text())]


def test_every_block_has_a_known_kind():
    for path in DOCS:
        kinds = {k for k, _ in blocks(path)}
        assert kinds <= KNOWN, f"{path.name}: blocks of kind {kinds - KNOWN}"


def _yaml(text: str) -> None:
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    if set(data) <= {"leads", "events", "conversions", "cutoffs", "formats"}:
        formats = data.pop("formats", {})
        ColumnMapping(data, formats)
    elif "data" in data:  # a job config: monitor (scores), score job (out, no train) or retrain
        kind = (
            MonitorConfig
            if "scores" in data
            else ScoreJobConfig
            if "out" in data and "train" not in data
            else RetrainConfig
        )
        load_job_config(kind, data)
    else:
        TrainConfig.from_dict(data)


def _bash(text: str, cwd: Path) -> None:
    lines = []
    for line in text.splitlines():
        if line.strip().startswith("make "):
            target = line.split("#")[0].split()[1]
            lines.append(f"make -n -C {ROOT} {target} >/dev/null")
        else:
            lines.append(line)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(lines)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert run.returncode == 0, (
        f"{text}\n--- stdout\n{run.stdout[-3000:]}\n--- stderr\n{run.stderr[-3000:]}"
    )
    assert "Traceback" not in run.stdout + run.stderr


def _page_test(path: Path):
    @pytest.mark.slow
    def test_the_blocks_run_as_written(self, tmp_path, monkeypatch):
        _run_blocks(path, tmp_path, monkeypatch)

    return test_the_blocks_run_as_written


# one class per page: the pages are independent and long, and ``make unit`` (``--dist loadscope``)
# hands each class to whichever worker is free, where a parametrized function would keep them
# all on one worker
for _path in DOCS:
    _name = "TestPage_" + re.sub(r"\W", "_", _path.name)
    globals()[_name] = type(_name, (), {"test_the_blocks_run_as_written": _page_test(_path)})


def _run_blocks(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "models", tmp_path / "models")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for kind, text in blocks(path):
        if kind == "python":
            exec(compile(text, f"{path.name}:python", "exec"), namespace)
        elif kind == "bash":
            _bash(text, tmp_path)
        elif kind == "yaml":
            _yaml(text)
