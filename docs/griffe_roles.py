"""A griffe extension for the API reference: Sphinx roles in leadml's docstrings become links.

It also makes the constants assigned together (``EXIT_PROMOTED, EXIT_KEPT, EXIT_LOCKED = 0, 3, 4``)
known to griffe, which reads one name per assignment only, so that the packages exporting them list
them.

leadml's numpy-style docstrings name other objects the Sphinx way (``:class:`TrainConfig```,
``:func:`~leadml.schema.parse_times```). mkdocstrings would print the role as text, so each role is
rewritten before rendering: to a cross-reference (``[`TrainConfig`][leadml.modeling.TrainConfig]``)
when the name is a public name of a leadml package (its ``__all__``), a member of one, or a method
of the class the docstring belongs to; otherwise to inline code. The docstrings stay as they are.
"""

from __future__ import annotations

import ast
import re
from functools import partial
from pathlib import Path
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(class|func|meth|attr|mod|data|exc|obj):`([^`]+)`")
PUBLIC_MODULES = ("exceptions", "io")


class SphinxRoles(griffe.Extension):
    """Rewrite Sphinx roles to mkdocstrings cross-references (or inline code)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Rewrite every docstring of the package once it is loaded."""
        if pkg.name != "leadml":
            return
        self.pkg = pkg
        self.public = [
            name
            for name, member in pkg.members.items()
            if not name.startswith("_")
            and not member.is_alias
            and member.is_module
            and (member.is_package or name in PUBLIC_MODULES)
        ]
        for obj in _walk(pkg):
            if obj.is_module and obj.filepath:
                _unpack_constants(obj)  # type: ignore[arg-type]
            if obj.docstring is not None and ":" in obj.docstring.value:
                obj.docstring.value = ROLE.sub(partial(self._role, obj=obj), obj.docstring.value)

    def _role(self, m: re.Match[str], *, obj: griffe.Object) -> str:
        kind, target = m.group(1), m.group(2).strip()
        short = target.startswith("~")
        name = target.lstrip("~.").removesuffix("()")
        shown = name.rsplit(".", 1)[-1] if short else name
        path = self._resolve(name, kind, obj)
        return f"[`{shown}`][{path}]" if path else f"`{shown}`"

    def _exists(self, path: str) -> bool:
        """``path`` is rendered in the reference: leadml.PKG.NAME[.MEMBER] with NAME exported."""
        parts = path.split(".")
        if len(parts) < 2 or parts[0] != "leadml" or parts[1] not in self.public:
            return False
        module = self.pkg.members[parts[1]]
        if len(parts) == 2:
            return True
        if parts[2] not in (module.exports or []) or any(p.startswith("_") for p in parts[2:]):
            return False
        try:
            module[".".join(parts[2:])]
        except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            return False
        return True

    def _resolve(self, name: str, kind: str, obj: griffe.Object) -> str | None:
        if name.startswith("leadml."):
            return name if self._exists(name) else None
        candidates = []
        owner = obj if obj.is_class else obj.parent if obj.parent and obj.parent.is_class else None
        if owner is not None and kind in ("meth", "attr") and "." not in name:
            candidates += [f"{p}.{owner.name}.{name}" for p in self._packages(obj)]
        candidates += [f"{p}.{name}" for p in self._packages(obj)]
        return next((c for c in candidates if self._exists(c)), None)

    def _packages(self, obj: griffe.Object) -> list[str]:
        """The object's own public package first, then every other one."""
        own = obj.canonical_path.split(".")[1] if "." in obj.canonical_path else ""
        ordered = [own] if own in self.public else []
        return [f"leadml.{p}" for p in ordered + [p for p in self.public if p != own]]


def _walk(obj: griffe.Object) -> list[griffe.Object]:
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias:
            found += _walk(member)  # type: ignore[arg-type]
    return found


def _unpack_constants(module: griffe.Module) -> None:
    """Add ``A, B = 1, 2`` at a module's top level as the attributes ``A`` and ``B``."""
    path = module.filepath
    if not isinstance(path, Path) or path.suffix != ".py":
        return
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if not (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Tuple)
            and isinstance(node.value, ast.Tuple)
            and len(node.targets[0].elts) == len(node.value.elts)
        ):
            continue
        for target, value in zip(node.targets[0].elts, node.value.elts, strict=True):
            known = isinstance(target, ast.Name) and target.id in module.members
            if isinstance(target, ast.Name) and isinstance(value, ast.Constant) and not known:
                module.set_member(
                    target.id,
                    griffe.Attribute(target.id, value=repr(value.value), lineno=node.lineno),
                )
