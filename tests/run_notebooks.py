"""Execute the notebooks with nbclient, write the executed copies for the docs, fail on the first
error.

Usage (from the repository root; ``make notebooks`` runs the first line)::

    python tests/run_notebooks.py notebooks --out docs/notebooks
    python tests/run_notebooks.py notebooks --only 1.0-quickstart   # one notebook (name or file)
    python tests/run_notebooks.py notebooks --check                 # only: are the outputs stripped?

What it checks, in order:

1. Every notebook in the folder is committed without outputs: no cell outputs, no execution
   counts (the executed copies are build products, written to ``--out``, git-ignored).
2. Each notebook (sorted by name) runs top to bottom in a fresh ``python3`` kernel whose working
   folder is the notebooks folder and whose ``import leadml`` is this checkout's. Its executed
   copy goes to ``--out/<name>.ipynb`` (also when it failed or was skipped), its time is printed.
3. A notebook that needs the real datasets and does not find them is *skipped*, not failed: its
   cell tagged ``datasets`` raises ``FileNotFoundError`` whose message is the reason (the path it
   looked at and ``LEADML_SHARED_DATASETS``). Any other error, in any cell, fails the run.
4. A notebook writes nothing into the repository: a new file in the notebooks folder or a new
   entry at the repository's top level (an ``mlruns/`` or ``mlflow.db`` from MLflow's defaults)
   fails the run. Stores and outputs belong in a temporary folder.

Exit code 0 when every notebook ran or was skipped, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
SKIP_TAG = "datasets"
"""Cell tag: a ``FileNotFoundError`` raised in such a cell means 'real datasets absent: skip'."""
SKIP_ERROR = "FileNotFoundError"
KERNEL_ENV = {
    # MLflow's download progress bars would fill the executed copies
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


def unstripped(paths: list[Path]) -> list[str]:
    """``name: what`` for every notebook that has outputs or execution counts."""
    bad = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        cells = [c for c in nb.cells if c.cell_type == "code"]
        outputs = sum(1 for c in cells if c.get("outputs"))
        counts = sum(1 for c in cells if c.get("execution_count") is not None)
        if outputs or counts:
            bad.append(f"{path.name}: {outputs} cell(s) with outputs, {counts} execution count(s)")
    return bad


def _tree(folder: Path) -> set[str]:
    """The files under ``folder`` and the top-level entries of the repository."""
    files = {f"{folder.name}/{p.relative_to(folder)}" for p in folder.rglob("*") if p.is_file()}
    return files | {f"{ROOT.name}/{p.name}" for p in ROOT.iterdir()}


def _skip_reason(nb: Any, exc: CellExecutionError) -> str | None:
    """The reason when the error is the 'datasets absent' signal of a tagged cell, else None."""
    if exc.ename != SKIP_ERROR:
        return None
    for cell in nb.cells:
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            return str(exc.evalue) if SKIP_TAG in cell.get("metadata", {}).get("tags", []) else None
    return None


def _short_error(nb: Any) -> None:
    """A skip is not a crash: keep one line of the error in the copy the docs show."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                out["traceback"] = [f"{out['ename']}: {out['evalue']}"]


def _stderr_lines(nb: Any) -> list[str]:
    """The first line of every distinct stderr output (warnings that reached the reader)."""
    seen: dict[str, None] = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                for line in str(out.get("text", "")).splitlines():
                    if line.strip():
                        seen.setdefault(line.strip()[:160], None)
    return list(seen)


def run_one(path: Path, out: Path | None, timeout: int) -> tuple[str, str]:
    """Execute one notebook; ``(status, detail)`` with status ``ran``, ``skipped`` or ``failed``."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    path_env = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {**os.environ, **KERNEL_ENV, "PYTHONPATH": path_env}
    status, detail = "ran", ""
    try:
        client.execute(env=env)
    except CellExecutionError as exc:
        reason = _skip_reason(nb, exc)
        if reason is None:
            status, detail = "failed", str(exc)
        else:
            status, detail = "skipped", reason
            _short_error(nb)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out / path.name)
    if status == "ran":
        lines = _stderr_lines(nb)
        if lines:
            detail = f"{len(lines)} distinct stderr line(s), e.g. {lines[0]!r}"
    return status, detail


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", default="notebooks", type=Path)
    ap.add_argument("--out", type=Path, default=None, help="folder for the executed copies")
    ap.add_argument(
        "--only", nargs="+", default=None, help="notebook names (with or without .ipynb)"
    )
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    ap.add_argument("--check", action="store_true", help="only check that outputs are stripped")
    args = ap.parse_args(argv)

    folder = args.folder.resolve()
    paths = sorted(folder.glob("*.ipynb"))
    if not paths:
        print(f"no notebooks in {folder}")
        return 1
    bad = unstripped(paths)
    if bad:
        print("committed notebooks must have no outputs (clear them before committing):")
        print("\n".join(f"  {b}" for b in bad))
        return 1
    if args.check:
        print(f"{len(paths)} notebook(s), outputs stripped")
        return 0
    if args.only:
        wanted = {n.removesuffix(".ipynb") for n in args.only}
        paths = [p for p in paths if p.stem in wanted]
        missing = wanted - {p.stem for p in paths}
        if missing:
            print(f"no such notebook(s) in {folder}: {sorted(missing)}")
            return 1

    total = time.perf_counter()
    for path in paths:
        before = _tree(folder)
        t0 = time.perf_counter()
        status, detail = run_one(path, args.out, args.timeout)
        seconds = time.perf_counter() - t0
        written = sorted(_tree(folder) - before)
        print(f"{status}: {path.name} ({seconds:.1f} s)" + (f": {detail}" if detail else ""))
        sys.stdout.flush()
        if status == "failed":
            return 1
        if written:
            print(f"{path.name} wrote into the repository: {written}; write to a temporary folder")
            return 1
    print(f"{len(paths)} notebook(s) in {time.perf_counter() - total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
