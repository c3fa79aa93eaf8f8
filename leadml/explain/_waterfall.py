"""One lead's score, reason by reason: the explanation (numbers) and its waterfall picture."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadml.evaluation import figure_png, pyplot

__all__ = ["STEP_COLUMNS", "LeadExplanation", "reasons_waterfall"]

STEP_COLUMNS = [
    "group",
    "label",
    "text",
    "feature",
    "value",
    "contribution",
    "p_before",
    "p_after",
    "effect",
]
OTHERS = "others"
"""``group`` of the step that adds up the reasons after the ``top`` largest."""
UP, DOWN, LEVEL = "#2a9d8f", "#e76f51", "#6c757d"


@dataclass(frozen=True)
class LeadExplanation:
    """Why one lead scores what it does, from the model's starting point to its probability.

    Attributes
    ----------
    lead_id, as_of : the lead and the moment it was scored (``None`` when the features did not say).
    base_probability : the calibrated probability of the model's starting point (the booster's
        expected margin over its training rows: an average lead), before any reason.
    probability : the lead's calibrated probability (what ``p_convert`` says).
    steps : DataFrame with :data:`STEP_COLUMNS`, one row per reason in the order they are added
        (largest absolute contribution first; the reasons after the ``top`` largest summed in one
        ``group="others"`` row). ``contribution`` is in log-odds; ``p_before`` / ``p_after`` are
        the probabilities before and after adding it, so the ``effect`` column (``p_after -
        p_before``) adds up exactly from ``base_probability`` to ``probability``.
    """

    lead_id: Any
    as_of: Any
    base_probability: float
    probability: float
    steps: pd.DataFrame

    def __post_init__(self) -> None:
        missing = [c for c in STEP_COLUMNS if c not in self.steps.columns]
        if missing:
            raise ValueError(f"LeadExplanation: steps lack the column(s) {missing}.")


def build_steps(
    base_margin: float, rows: list[dict[str, Any]], transform: Any
) -> tuple[float, float, pd.DataFrame]:
    """Steps from the reasons (``group, label, text, feature, value, contribution``) in order:
    the probability before and after each, through the calibrator's ``transform``."""
    contrib = np.array([r["contribution"] for r in rows], dtype=float)
    margins = base_margin + np.concatenate([[0.0], np.cumsum(contrib)])
    p = np.asarray(transform(margins), dtype=float)
    steps = pd.DataFrame(rows, columns=STEP_COLUMNS[:6])
    steps["p_before"], steps["p_after"] = p[:-1], p[1:]
    steps["effect"] = steps["p_after"] - steps["p_before"]
    return float(p[0]), float(p[-1]), steps


def reasons_waterfall(
    explanation: LeadExplanation,
    *,
    title: str | None = None,
    outcome: str = "converting",
    caption: str | None = None,
) -> bytes:
    """The waterfall of one lead as PNG bytes: the starting point (an average lead), each reason
    in the words a sales rep reads with the change it makes to the probability (green up, red
    down, in percentage points), and the lead's probability at the bottom.

    Parameters
    ----------
    explanation : from :meth:`Explainer.explain_lead` (or ``LeadScoringModel.explain_lead``).
    title : default ``"Why lead <id> scores <p> %"`` with the date it was scored.
    outcome : what the probability is of, e.g. ``"converting within 30 days"``.
    caption : a last line under the picture, e.g. which data the lead comes from.
    """
    plt = pyplot()
    e = explanation
    steps = e.steps
    labels = (
        ["Starting point: an average lead"]
        + [_wrap(t) for t in steps["text"]]
        + [f"This lead: {e.probability * 100:.1f} %"]
    )
    n = len(labels)
    fig, ax = plt.subplots(figsize=(9, 1.6 + 0.42 * n), layout="constrained")
    y = np.arange(n)[::-1]
    ax.barh(y[0], e.base_probability * 100, color=LEVEL, height=0.6)
    before = steps["p_before"].to_numpy(dtype=float) * 100
    after = steps["p_after"].to_numpy(dtype=float) * 100
    for i, (b, a) in enumerate(zip(before, after, strict=True), start=1):
        lo, hi, up = min(a, b), max(a, b), a >= b
        ax.barh(y[i], max(hi - lo, 1e-9), left=lo, color=UP if up else DOWN, height=0.6)
        ax.plot([b, b], [y[i - 1] - 0.3, y[i] + 0.3], color="0.6", lw=0.8)
        ax.annotate(
            f"{a - b:+.1f} pp" if abs(a - b) >= 0.05 else f"{a - b:+.2f} pp",
            (hi if up else lo, y[i]),
            xytext=(4 if up else -4, 0),
            textcoords="offset points",
            ha="left" if up else "right",
            va="center",
            fontsize=8,
        )
    ax.plot([e.probability * 100] * 2, [y[-2] - 0.3, y[-1] + 0.3], color="0.6", lw=0.8)
    ax.barh(y[-1], e.probability * 100, color="#264653", height=0.6)
    for yy, p in ((y[0], e.base_probability), (y[-1], e.probability)):
        ax.annotate(
            f"{p * 100:.1f} %",
            (p * 100, yy),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            fontweight="bold",
        )
    ax.set_yticks(y, labels, fontsize=8.5)
    right = max(float(np.max(after, initial=0.0)), e.probability * 100, e.base_probability * 100)
    ax.set_xlim(0, right * 1.18 + 0.5)
    ax.set_xlabel(f"probability of {outcome} (%)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(title or _title(e), fontsize=11, loc="left")
    note = (
        "Reasons in order of their weight in the model; each bar: the change in this lead's "
        "probability when the reason is added to those above it\n(pp: percentage points; green "
        "up, red down; the bars add up from the starting point to the lead's probability)."
    )
    fig.supxlabel(note + (f"\n{caption}" if caption else ""), fontsize=8, color="0.35")
    return figure_png(fig)


def _title(e: LeadExplanation) -> str:
    who = f"lead {e.lead_id}" if e.lead_id is not None else "this lead"
    when = f" on {pd.Timestamp(e.as_of):%Y-%m-%d}" if e.as_of is not None else ""
    return f"Why {who} scores {e.probability * 100:.1f} %{when}"


def _wrap(text: str, width: int = 52) -> str:
    return "\n".join(textwrap.wrap(str(text), width, break_on_hyphens=False)) or str(text)
