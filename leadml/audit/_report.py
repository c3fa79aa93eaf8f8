"""The audit's result: one row per finding, a severity, and an exit code for CI."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from leadml.exceptions import ConfigError

__all__ = ["EXIT_FINDINGS", "FINDING_COLUMNS", "SEVERITIES", "AuditReport"]

SEVERITIES = ("severe", "warning", "info")
"""From worst to mildest. ``severe``: do not ship a model with this column until it is explained;
``warning``: look before you train; ``info``: worth knowing, not a leak by itself."""
EXIT_FINDINGS = 6
"""Exit code of ``leadml audit`` when a finding is at least as bad as ``--fail-on`` (distinct from
0 ok, 1 internal error, 2 bad input, 130 interrupted, and from the 3, 4 and 5 of
retrain, recalibrate and monitor)."""
FINDING_COLUMNS = ["check", "column", "severity", "figure", "evidence", "why", "fix"]
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


@dataclass
class AuditReport:
    """What :func:`audit_flat` or :func:`audit_events` found.

    Attributes
    ----------
    findings : DataFrame
        ``check, column, severity, figure, evidence, why, fix``, worst first. ``column`` is a
        table column, or ``event_type`` / ``event_type detail`` for event checks; ``figure`` is
        the check's headline number (an AUC, a share, a rate ratio), explained by ``evidence``.
    info : dict
        What was audited (mode, rows, positives, checks run).
    """

    findings: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        f = self.findings.reindex(columns=FINDING_COLUMNS)
        rank = f["severity"].map(_RANK).fillna(len(SEVERITIES))
        order = sorted(range(len(f)), key=lambda i: (rank.iloc[i], -abs(_num(f["figure"].iloc[i]))))
        self.findings = f.iloc[order].reset_index(drop=True)

    @property
    def worst(self) -> str | None:
        """The worst severity found (``None``: no finding at all)."""
        if not len(self.findings):
            return None
        return min(self.findings["severity"], key=lambda s: _RANK.get(s, len(SEVERITIES)))

    def flagged(self, at_least: str = "warning") -> list[str]:
        """The columns (or event types) with a finding at least as bad as ``at_least``."""
        limit = _rank(at_least)
        f = self.findings[self.findings["severity"].map(_RANK) <= limit]
        return list(dict.fromkeys(f["column"]))

    def exit_code(self, fail_on: str = "severe") -> int:
        """``EXIT_FINDINGS`` (6) when a finding is at least as bad as ``fail_on`` (``"severe"``,
        ``"warning"`` or ``"never"``), else 0."""
        if fail_on == "never":
            return 0
        worst = self.worst
        return EXIT_FINDINGS if worst is not None and _RANK[worst] <= _rank(fail_on) else 0

    def table(self) -> pd.DataFrame:
        """The findings, worst first (a copy)."""
        return self.findings.copy()

    def to_markdown(self) -> str:
        """The findings as a Markdown table (``|`` in cells escaped)."""
        cols = ["severity", "check", "column", "figure", "evidence", "why", "fix"]
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in self.findings[cols].itertuples(index=False):
            cells = [_cell(v) for v in r]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def write(self, path: str | Path) -> Path:
        """Write the findings to ``.csv``, ``.md`` or ``.json`` (by the suffix)."""
        p = Path(path)
        suffix = p.suffix.lower()
        if suffix in (".csv", ".md", ".json"):
            p.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".csv":
            self.findings.to_csv(p, index=False)
        elif suffix == ".md":
            p.write_text(self.to_markdown())
        elif suffix == ".json":
            rows = self.findings.astype(object).where(self.findings.notna(), None)
            p.write_text(
                json.dumps({"info": self.info, "findings": rows.to_dict("records")}, indent=2)
            )
        else:
            raise ConfigError(
                f"audit: cannot write findings to {p.name!r}. Fix: end the path in .csv, .md or "
                ".json."
            )
        return p


def _num(v: Any) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return 0.0
    return 0.0 if x != x else x


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return "" if v != v else f"{v:.3g}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def _rank(severity: str) -> int:
    if severity not in _RANK:
        raise ConfigError(
            f"audit: severity must be one of {', '.join(SEVERITIES)} (or 'never' for fail_on), "
            f"got {severity!r}."
        )
    return _RANK[severity]
