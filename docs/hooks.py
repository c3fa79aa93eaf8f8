"""MkDocs hooks for leadml's site (``mkdocs.yml``: ``hooks: [docs/hooks.py]``).

- The home page is the repository's ``README.md`` and the benchmarks page is
  ``benchmarks/README.md``: one text each, on GitHub and on the site. Their links into ``docs/`` are
  rewritten to the site's pages.
- The notebooks section of the nav lists the executed notebooks present in ``docs/notebooks/``
  (``make notebooks`` writes them; they are git-ignored), so the site builds before they exist.
- The pictures ``make pictures`` writes (``docs/images/``) are shown where present; a missing one
  becomes a line saying which command writes it, so a strict build does not fail on those four paths
  only. Every other broken link or image still fails it.
- The API reference's ``leadml`` page gets the table of the package's names (``leadml.__all__``),
  each linked to the page that documents it; every other API page must document every name of the
  ``__all__`` of the modules it shows (``::: leadml.X``), or the strict build fails.
"""

from __future__ import annotations

import ast
import json
import logging
import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NOTEBOOKS = DOCS / "notebooks"
PICTURES = ("reliability", "lift", "conversion_by_band", "reasons_waterfall")
NOTEBOOKS_MARKER = "<!-- executed notebooks -->"
NAMES_MARKER = "<!-- package names -->"
log = logging.getLogger("mkdocs.plugins.leadml")


def _site_links(text: str) -> str:
    """A README's links as the site's: ``docs/x.md`` -> ``x.md``, benchmarks -> its page."""
    text = text.replace("](docs/", "](")
    return text.replace("](benchmarks/README.md)", "](benchmarks.md)")


def on_files(files: Files, config: Any) -> Files:
    """Add the home page (README.md) and the benchmarks page (benchmarks/README.md)."""
    for uri, source in (("index.md", "README.md"), ("benchmarks.md", "benchmarks/README.md")):
        content = _site_links((ROOT / source).read_text(encoding="utf-8"))
        files.append(File.generated(config, uri, content=content))
    return files


def _executed() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def _title(path: Path) -> str:
    """The notebook's first markdown heading, else its file name."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def on_config(config: Any) -> Any:
    """Fill the nav's ``Notebooks`` section with the executed notebooks present."""
    for i, entry in enumerate(config["nav"]):
        if isinstance(entry, dict) and "Notebooks" in entry:
            pages: list[Any] = ["notebooks.md"]
            pages += [{f"{p.stem}": f"notebooks/{p.name}"} for p in _executed()]
            config["nav"][i] = {"Notebooks": pages}
    if not _executed():
        log.info("no executed notebooks in docs/notebooks/ (make notebooks writes them)")
    return config


def _notebook_list() -> str:
    executed = {p.stem: p for p in _executed()}
    lines = [f"- [{_title(p)}](notebooks/{p.name}) (`{stem}`)" for stem, p in executed.items()]
    missing = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb") if p.stem not in executed)
    lines += [f"- `{stem}` (not executed in this build: `make notebooks`)" for stem in missing]
    return "\n".join(lines)


def _package_names() -> str:
    if str(ROOT) not in sys.path:  # this checkout's leadml, not another installed one
        sys.path.insert(0, str(ROOT))
    import leadml

    exports: dict[str, str] = leadml._EXPORTS
    rows = ["| name | from | documented in |", "|---|---|---|"]
    for name in sorted(leadml.__all__, key=str.lower):
        if name == "__version__":
            rows.append("| `__version__` | `leadml` | the installed version |")
            continue
        pkg = exports[name]
        page = pkg.split(".")[-1]
        rows.append(f"| [`leadml.{name}`][{pkg}.{name}] | `{pkg}` | [{pkg}]({page}.md) |")
    return "\n".join(rows)


_NAMES = "|".join(PICTURES)
_IMAGE = re.compile(rf"!\[([^\]]*)\]\(((?:\.\./)*images/({_NAMES})\.png)\)")


def _pictures(markdown: str) -> str:
    def keep_or_say(m: re.Match[str]) -> str:
        if (DOCS / "images" / f"{m.group(3)}.png").exists():
            return m.group(0)
        log.info("docs/images/%s.png is missing (make pictures writes it)", m.group(3))
        return f"*({m.group(1) or m.group(3)}: `docs/images/{m.group(3)}.png`, written by `make pictures`)*"

    return _IMAGE.sub(keep_or_say, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Pictures present or named; the notebook list; the package's names."""
    if NOTEBOOKS_MARKER in markdown:
        markdown = markdown.replace(NOTEBOOKS_MARKER, _notebook_list())
    if NAMES_MARKER in markdown:
        markdown = markdown.replace(NAMES_MARKER, _package_names())
    return _pictures(markdown)


_DIRECTIVE = re.compile(r"^::: (leadml(?:\.\w+)*)\s*$", re.M)


def _exports(module: str) -> list[str]:
    """The ``__all__`` of a leadml module, read from its source."""
    rel = Path(*module.split("."))
    path = ROOT / rel / "__init__.py" if (ROOT / rel).is_dir() else ROOT / rel.with_suffix(".py")
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return [str(ast.literal_eval(e)) for e in node.value.elts]  # type: ignore[attr-defined]
    return []


def on_page_content(html: str, page: Any, config: Any, files: Files) -> str:
    """An API page documents every name its modules export."""
    if page.file.src_uri.startswith("api/") and page.file.src_uri != "api/leadml.md":
        for module in _DIRECTIVE.findall(page.markdown or ""):
            missing = [n for n in _exports(module) if f'id="{module}.{n}"' not in html]
            if missing:
                log.warning("%s: %s exports %s, not documented", page.file.src_uri, module, missing)
    return html
