"""The notebook runner (tests/run_notebooks.py): committed outputs are refused, a missing dataset
is a skip and any other error a failure, a notebook may not write into the repository. Tiny
notebooks in a real python3 kernel (about a second each)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from tests.run_notebooks import main

KERNEL = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}


def _write(folder: Path, name: str, *sources: str, tag: str | None = None) -> Path:
    cells = [new_code_cell(s) for s in sources]
    if tag is not None:
        cells[0].metadata["tags"] = [tag]
    path = folder / f"{name}.ipynb"
    nbformat.write(new_notebook(cells=cells, metadata=KERNEL), path)
    return path


def test_a_committed_notebook_with_outputs_is_refused(tmp_path, capsys):
    path = _write(tmp_path, "a", "1 + 1")
    assert main([str(tmp_path), "--check"]) == 0
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].outputs = [new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
    nb.cells[0].execution_count = 1
    nbformat.write(nb, path)
    assert main([str(tmp_path), "--check"]) == 1
    assert "a.ipynb: 1 cell(s) with outputs, 1 execution count(s)" in capsys.readouterr().out


def test_missing_datasets_skip_with_the_reason_and_other_errors_fail(tmp_path, capsys):
    folder = tmp_path / "nb"
    folder.mkdir()
    _write(folder, "real", "raise FileNotFoundError('data.csv not found')", "1 / 0", tag="datasets")
    out = tmp_path / "out"
    assert main([str(folder), "--out", str(out)]) == 0
    assert "skipped: real.ipynb" in capsys.readouterr().out
    copy = nbformat.read(out / "real.ipynb", as_version=4)
    assert copy.cells[0].outputs[0]["traceback"] == ["FileNotFoundError: data.csv not found"]
    assert not copy.cells[1].outputs  # nothing ran after the skip
    # the same error in an untagged cell, or another error in a tagged one, is a failure
    _write(folder, "real", "raise FileNotFoundError('data.csv not found')")
    assert main([str(folder)]) == 1
    _write(folder, "real", "raise ValueError('bad')", tag="datasets")
    assert main([str(folder)]) == 1
    assert "failed: real.ipynb" in capsys.readouterr().out


def test_a_notebook_that_writes_into_its_folder_fails(tmp_path, capsys):
    _write(tmp_path, "stray", "open('mlflow.db', 'w').close()")
    assert main([str(tmp_path)]) == 1
    assert "wrote into the repository" in capsys.readouterr().out
