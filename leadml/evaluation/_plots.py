"""The report's pictures: reliability, cumulative gain and lift, score distributions, conversion
by band. Each function takes the report's frames and returns PNG bytes of a fixed size and
resolution with no timestamp or version in the file, so a picture changes only when its numbers
do."""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from leadml.evaluation._metrics import calibration_bins, expected_calibration_error
from leadml.exceptions import ConfigError
from leadml.features import parse_duration

__all__ = [
    "DPI",
    "band_figure",
    "figure_caption",
    "figure_png",
    "horizon_words",
    "lift_figure",
    "pyplot",
    "reliability_figure",
    "score_distributions_figure",
]

DPI = 100
"""Resolution of every PNG leadml writes (with the fixed figure sizes: fixed pixel sizes)."""
RANDOM = {"color": "0.35", "ls": "--", "lw": 1}
CAPTION = {"fontsize": 8, "color": "0.35"}


def pyplot() -> ModuleType:
    """matplotlib's pyplot on the Agg backend (no display needed), unless a backend was chosen."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def figure_png(fig: Any, *, dpi: int = DPI) -> bytes:
    """The figure as PNG bytes (and closed): no ``Software`` or time metadata in the file, so the
    same figure gives the same bytes with any matplotlib version that draws it the same."""
    plt = pyplot()
    buf = io.BytesIO()
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def horizon_words(horizon: Any) -> str | None:
    """``"30 days"`` for a horizon of ``"30d"``, ``"30 days 00:00:00"`` or a Timedelta; ``"12
    hours"``; the text itself when it is not a duration."""
    if horizon is None:
        return None
    try:
        td = parse_duration(horizon, name="horizon")
    except ConfigError:
        try:
            td = pd.Timedelta(str(horizon))
        except ValueError:
            return str(horizon)
    for unit, size in (("day", pd.Timedelta(days=1)), ("hour", pd.Timedelta(hours=1))):
        if td % size == pd.Timedelta(0):
            n = int(td / size)
            return f"{n} {unit}" if n == 1 else f"{n} {unit}s"
    return str(td)


def figure_caption(info: dict[str, Any], width: int = 120) -> str:
    """Which data a picture shows: ``info["data"]`` (e.g. the synthetic CRM of the demo), then
    the evaluated rows (scores, leads, conversions, window), wrapped at ``width`` characters."""
    rows = f"{info.get('rows', 0):,} scores"
    if info.get("leads"):
        rows += f" of {info['leads']:,} leads"
    rows += f", {info.get('conversions', 0):,} conversions"
    where = f"test rows {info['window']}" if info.get("window") else "evaluated rows"
    first = str(info["data"]) if info.get("data") else ""
    second = f"{where}: {rows} (the same rows for every model)"
    return "\n".join(textwrap.wrap(first, width) + textwrap.wrap(second, width))


def reliability_figure(predictions: pd.DataFrame, info: dict[str, Any]) -> bytes:
    """Predicted vs observed conversion rate in 10 equal-frequency bins per model (marker area
    by the bin's rows), above the count of rows per predicted probability."""
    plt = pyplot()
    y = predictions["y"].to_numpy()
    models = [c for c in predictions.columns if c != "y"]
    fig, (ax, hist) = plt.subplots(
        2,
        1,
        figsize=(7, 6.6),
        sharex=True,
        gridspec_kw={"height_ratios": [3, 1]},
        layout="constrained",
    )
    top = 0.0
    tables = {}
    for m in models:
        p = predictions[m].to_numpy()
        tables[m] = calibration_bins(y, p, n_bins=10)
        top = max(top, float(tables[m]["p_mean"].max()), float(tables[m]["y_rate"].max()))
    top = min(1.0, top * 1.08) if top > 0 else 1.0
    ax.plot([0, top], [0, top], **RANDOM, label="perfectly calibrated")
    bins = np.linspace(0, top, 31)
    beyond = 0
    for m in models:
        t = tables[m]
        p = predictions[m].to_numpy()
        ece = expected_calibration_error(y, p)
        (line,) = ax.plot(t["p_mean"], t["y_rate"], lw=1.4, label=f"{m} (ECE {ece:.3f})")
        size = 12 + 240 * t["n"].to_numpy() / max(len(y), 1)
        ax.scatter(t["p_mean"], t["y_rate"], s=size, color=line.get_color(), zorder=3, alpha=0.85)
        hist.hist(p[p <= top], bins=bins, histtype="step", lw=1.4, color=line.get_color())
        beyond = max(beyond, int((p > top).sum()))
    ax.set(
        xlim=(0, top),
        ylim=(0, top),
        ylabel="observed conversion rate",
        title="Reliability: predicted vs observed conversion (10 equal-frequency bins)",
    )
    ax.title.set_fontsize(10)
    ax.legend(loc="upper left", fontsize=8, title="marker area = rows in the bin", title_fontsize=8)
    ax.grid(alpha=0.3)
    hist.set_yscale("log")
    if beyond:
        hist.text(
            0.99,
            0.92,
            f"up to {beyond:,} rows of a model beyond {top:.2f}: not shown",
            transform=hist.transAxes,
            ha="right",
            va="top",
            **CAPTION,
        )
    words = horizon_words(info.get("horizon"))
    within = f" within {words}" if words else ""
    hist.set(xlabel=f"predicted probability of converting{within}", ylabel="rows")
    hist.grid(alpha=0.3)
    fig.suptitle(figure_caption(info, width=118), **CAPTION)
    return figure_png(fig)


def lift_figure(predictions: pd.DataFrame, info: dict[str, Any]) -> bytes:
    """Cumulative gain (share of conversions found when the top x % of scores are worked) and
    lift, for every model on the same rows, with the random line."""
    plt = pyplot()
    y = predictions["y"].to_numpy()
    models = [c for c in predictions.columns if c != "y"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.6), layout="constrained")
    frac = np.linspace(0.01, 1, 100)
    k = np.maximum((frac * len(y)).astype(int), 1)
    for m in models:
        p = predictions[m].to_numpy()
        order = np.argsort(-p, kind="stable")
        cum = np.cumsum(y[order]) / max(y.sum(), 1)
        ax1.plot(frac * 100, cum[k - 1] * 100, lw=1.5, label=m)
        ax2.plot(frac * 100, cum[k - 1] / frac, lw=1.5, label=m)
    ax1.plot([0, 100], [0, 100], **RANDOM, label="random order")
    ax1.set(
        xlim=(0, 100),
        ylim=(0, 100),
        xlabel="% of leads worked (highest scores first)",
        ylabel="% of conversions found",
        title="Cumulative gain",
    )
    ax2.axhline(1, **RANDOM, label="random order (lift 1)")
    ax2.set(
        xlim=(0, 100),
        ylim=(0, None),
        xlabel="% of leads worked (highest scores first)",
        ylabel="lift (conversion rate / overall rate)",
        title="Lift",
    )
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right" if ax is ax1 else "upper right")
    fig.suptitle(figure_caption(info), **CAPTION)
    return figure_png(fig)


def score_distributions_figure(predictions: pd.DataFrame) -> bytes:
    """Per model, the predicted probabilities of the rows that converted and of those that did
    not (densities)."""
    plt = pyplot()
    y = predictions["y"].to_numpy()
    models = [c for c in predictions.columns if c != "y"]
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.6), squeeze=False)
    for ax, m in zip(axes[0], models, strict=True):
        p = predictions[m].to_numpy()
        bins = np.linspace(0, np.quantile(p, 0.995) if len(p) else 1, 40)
        ax.hist(p[y == 0], bins=bins, density=True, alpha=0.6, label="not converted")
        ax.hist(p[y == 1], bins=bins, density=True, alpha=0.6, label="converted")
        ax.set(title=m, xlabel="predicted probability")
    axes[0][0].legend()
    return figure_png(fig)


def band_order(by_band: pd.DataFrame, bands: Sequence[str] = ()) -> list[str]:
    """Bands best first: the deployed score's order (``bands``), then any other band (e.g. the
    scorecard's own names) by falling conversion rate."""
    seen = list(dict.fromkeys(by_band["band"].astype(str)))
    known = [b for b in bands if b in seen]
    return known + [b for b in seen if b not in known]


def band_figure(by_band: pd.DataFrame, info: dict[str, Any]) -> bytes:
    """Observed conversion rate per band for each model (bars), each bar labelled with its rate
    and how many scores fell in the band, against the overall rate."""
    plt = pyplot()
    bb = by_band.assign(band=by_band["band"].astype(str))
    bands = band_order(bb, info.get("bands") or ())
    models = list(dict.fromkeys(bb["model"]))
    fig, ax = plt.subplots(figsize=(8, 4.8), layout="constrained")
    w = 0.8 / max(len(models), 1)
    x = np.arange(len(bands))
    top = float(bb["conversion_rate"].max()) * 100 if len(bb) else 1.0
    for i, model_name in enumerate(models):
        g = bb[bb["model"] == model_name].set_index("band").reindex(bands)
        rates = g["conversion_rate"].to_numpy(dtype=float) * 100
        bars = ax.bar(x + i * w, np.nan_to_num(rates), width=w, label=str(model_name))
        for bar, rate, n in zip(bars, rates, g["rows"].to_numpy(dtype=float), strict=True):
            if np.isnan(rate):
                continue
            ax.annotate(
                f"{rate:.1f} %\n{int(n):,}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7,
                bbox={"boxstyle": "square,pad=0.05", "fc": "white", "ec": "none", "alpha": 0.8},
            )
    overall = info.get("label_rate")
    if overall is not None and np.isfinite(overall):
        ax.axhline(overall * 100, **RANDOM, zorder=0, label=f"all scores ({overall * 100:.1f} %)")
    ax.set_xticks(x + w * (len(models) - 1) / 2, bands)
    ax.set(
        ylim=(0, top * 1.3),
        xlabel="band (best first)",
        ylabel="observed conversion rate (%)",
        title="Conversion by band (each bar: rate and number of scores in the band)",
    )
    ax.title.set_fontsize(10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(figure_caption(info), **CAPTION)
    return figure_png(fig)
