"""The house rules, checked on the code: a small public door, layers that only call down, no
import circles, and one engine switch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import leadml

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "leadml"

# lower floors first; a package may import only from its own floor or below
LAYERS = [
    {"leadml.exceptions", "leadml._version", "leadml._progress", "leadml._compat", "leadml._math"},
    {"leadml.schema", "leadml._files", "leadml.datasets"},
    {"leadml.features", "leadml.io"},
    {"leadml.rules", "leadml.evaluation"},
    {"leadml.explain", "leadml.audit"},
    {"leadml.scoring"},
    {"leadml.modeling"},
    {"leadml.tracking"},
    {"leadml.jobs"},
    {"leadml.cli", "leadml"},
]
FLOOR = {pkg: i for i, floor in enumerate(LAYERS) for pkg in floor}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, module_level_only: bool) -> set[str]:
    """The leadml modules ``path`` imports (``from leadml import x`` counts as ``leadml.x``);
    imports under ``if TYPE_CHECKING:`` are left out (they never run)."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for n in ast.walk(node)}
        if module_level_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            skip |= {id(n) for n in ast.walk(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("leadml"):
            if node.module == "leadml":
                found |= {f"leadml.{a.name}" for a in node.names}
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("leadml")}
    return found


def _package(module: str) -> str:
    return ".".join(module.split(".")[:2])


FILES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "pyfunc_model.py")


def test_the_public_door_names_what_a_data_scientist_uses():
    assert set(leadml.__all__) == {"__version__", *leadml._EXPORTS}
    for name in leadml.__all__:
        assert getattr(leadml, name) is not None, name
    for name in ("make_crm", "FeatureSpec", "build_training_set", "train", "TrainConfig",
                 "LeadScoringModel", "load_model", "PointsScorecard"):  # fmt: skip
        assert name in leadml.__all__
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = leadml.nope  # type: ignore[attr-defined]


def test_import_leadml_is_cheap():
    code = (
        "import sys, leadml; heavy = [m for m in ('mlflow', 'lightgbm', 'duckdb', 'sklearn', "
        "'pyspark') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_package_has_a_floor():
    packages = {_package(_module(p)) for p in FILES}
    assert packages <= set(FLOOR), sorted(packages - set(FLOOR))


def test_layers_only_call_down():
    """No import (also inside functions) reaches a higher floor: the scorer calls down into
    features, modeling and explain; nothing below calls up."""
    up = []
    for path in FILES:
        here = _package(_module(path))
        for target in _imports(path, module_level_only=False):
            there = _package(target)
            if there != here and FLOOR[there] > FLOOR[here]:
                up.append(f"{path.relative_to(ROOT)} -> {target}")
    assert not up, "imports that climb a floor:\n" + "\n".join(up)


def test_no_import_circles_between_files():
    graph = {_module(p): _imports(p, module_level_only=True) for p in FILES}
    modules = set(graph)

    def resolve(target: str) -> str | None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    edges = {
        m: {r for t in targets if (r := resolve(t)) and r != m and not m.startswith(f"{r}.")}
        for m, targets in graph.items()
    }
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(edges[m]):
            if state.get(n) == 1:
                cycle = [*stack[stack.index(n) :], n]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)


def test_one_engine_switch():
    """The size thresholds that pick an engine live in one place, and nothing else reads them."""
    readers = [
        p.relative_to(ROOT)
        for p in FILES
        if p.name != "_engines.py"
        and ("SMALL_CUTOFFS" in p.read_text() or "SMALL_EVENTS" in p.read_text())
    ]
    assert readers == []


def test_packages_use_each_others_public_names_only():
    """No import reaches into another package's private module or takes a private name."""
    private = []
    for path in FILES:
        here = _package(_module(path))
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.module):
                continue
            if not node.module.startswith("leadml.") or _package(node.module) == here:
                continue
            tail = node.module.split(".")[2:]
            names = [a.name for a in node.names]
            if any(part.startswith("_") for part in tail) or any(
                n.startswith("_") and n != "__version__" for n in names
            ):
                private.append(f"{path.relative_to(ROOT)}: from {node.module} import {names}")
    assert not private, "\n".join(private)
