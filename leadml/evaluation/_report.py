"""The comparison report: every model on the same rows, as a table, markdown and HTML."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadml.evaluation._metrics import (
    LOWER_IS_BETTER,
    bootstrap_metrics,
    metric_table,
)
from leadml.evaluation._plots import (
    band_figure,
    lift_figure,
    reliability_figure,
    score_distributions_figure,
)
from leadml.exceptions import DataContractError

__all__ = ["EXPLAIN_FIGURES", "FIGURES", "ComparisonReport", "LazyFigures", "compare_models"]

FIGURES = {
    "reliability": "Reliability diagram",
    "lift": "Cumulative gain and lift",
    "score_distributions": "Score distributions by outcome",
    "conversion_by_band": "Conversion by band",
}
"""The report's own figures (:meth:`ComparisonReport.make_figures`), name -> title."""
EXPLAIN_FIGURES = {
    "reasons_waterfall": "Reasons waterfall: one lead's score, reason by reason",
    "shap_summary": "Contributions of each reason over the test rows (SHAP summary)",
    "shap_waterfall": "The same lead in log-odds (SHAP waterfall)",
}
"""Titles of the explanation figures the training procedure adds (others: from their name)."""


class LazyFigures(Mapping[str, bytes]):
    """PNG figures drawn on first use: drawing them takes seconds, and most ``train`` calls (a
    backtest per origin, a notebook loop, a retraining job that is kept) never look at them. What
    is drawn does not depend on when: ``draw`` closes over the fitted model and its rows."""

    def __init__(self, draw: Callable[[], dict[str, bytes]]) -> None:
        self._draw: Callable[[], dict[str, bytes]] | None = draw
        self._figures: dict[str, bytes] = {}

    def _drawn(self) -> dict[str, bytes]:
        if self._draw is not None:
            self._figures, self._draw = self._draw(), None
        return self._figures

    def __getitem__(self, name: str) -> bytes:
        return self._drawn()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._drawn())

    def __len__(self) -> int:
        return len(self._drawn())


SUMMARY = ["auc", "pr_auc", "log_loss", "brier", "ece", "cal_slope", "lift_10", "capture_20"]
LABELS = {
    "auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "log_loss": "log loss",
    "brier": "Brier",
    "ece": "ECE",
    "cal_slope": "cal. slope",
    "cal_intercept": "cal. intercept",
    "citl": "mean p / rate",
    "lift_5": "lift@5%",
    "lift_10": "lift@10%",
    "lift_20": "lift@20%",
    "capture_5": "capture@5%",
    "capture_10": "capture@10%",
    "capture_20": "capture@20%",
}


@dataclass
class ComparisonReport:
    """Metrics of several models on the same labelled rows.

    Attributes
    ----------
    metrics : DataFrame
        Point estimates, one row per model (index) and one column per metric.
    intervals : DataFrame
        Bootstrap intervals: ``model, metric, estimate, low, high`` (and paired differences to
        the first model, named ``"<model> - <first>"``).
    by_band : DataFrame
        ``model, band, rows, leads, conversions, conversion_rate, share`` per model and band
        (``leads``: distinct leads among the rows, when lead ids were given).
    by_grade : DataFrame
        The same per scorecard grade (``A1`` ... ), when grades were given.
    predictions : DataFrame
        ``y`` and one probability column per model (for plots).
    info : dict
        Rows, conversions, label rate, time range and anything the caller adds.
    subsets : DataFrame
        The same metrics on named subsets of the rows (``subset, model, rows, leads,
        conversions`` and the metrics), e.g. the leads never seen in training.
    origins : DataFrame
        With a rolling-origin backtest, one row per (origin, model) with its test window and
        metrics; :meth:`origin_spread` summarises them.
    data_summary : DataFrame
        Which rows were used for what, and which were left out and why.
    segments : DataFrame
        With per-segment models: one row per segment value with its rows and conversions, the
        global and the segment model's AUC / log loss / ECE on that segment's test rows, the
        choice and why.
    segments_routed : DataFrame
        The global model vs the routed scores (each row by the model of its segment) on all
        test rows.
    notes : list of str
        What the training procedure adapted or left out, and why (the notes ``train`` prints).
    """

    metrics: pd.DataFrame
    intervals: pd.DataFrame
    by_band: pd.DataFrame
    by_grade: pd.DataFrame
    predictions: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, bytes] = field(default_factory=dict, repr=False)
    drivers: pd.DataFrame = field(default_factory=pd.DataFrame)
    explain_figures: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    subsets: pd.DataFrame = field(default_factory=pd.DataFrame)
    origins: pd.DataFrame = field(default_factory=pd.DataFrame)
    data_summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    segments: pd.DataFrame = field(default_factory=pd.DataFrame)
    segments_routed: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)

    def origin_spread(self, metrics: tuple[str, ...] = ("auc", "log_loss", "ece")) -> pd.DataFrame:
        """Mean, standard deviation, min and max of each metric over the backtest origins."""
        if not len(self.origins):
            return pd.DataFrame()
        g = self.origins.groupby("model", sort=False)[list(metrics)]
        out = pd.concat({"mean": g.mean(), "sd": g.std(ddof=1), "min": g.min(), "max": g.max()})
        return out.swaplevel().sort_index(level=0, sort_remaining=False)

    # ------------------------------------------------------------------ tables
    def table(self, metrics: list[str] | None = None) -> pd.DataFrame:
        """Formatted comparison: one row per model, ``value [low, high]`` per metric."""
        names = metrics or SUMMARY
        out = {}
        iv = self.intervals.set_index(["model", "metric"])
        for model in self.metrics.index:
            row = {}
            for k in names:
                v = self.metrics.loc[model, k]
                if (model, k) in iv.index:
                    lo, hi = iv.loc[(model, k), ["low", "high"]]
                    row[LABELS[k]] = f"{v:.3f} [{lo:.3f}, {hi:.3f}]"
                else:
                    row[LABELS[k]] = f"{v:.3f}"
            out[model] = row
        return pd.DataFrame.from_dict(out, orient="index")

    def to_markdown(self, figures: str | None = None) -> str:
        """The report as markdown: the comparison, paired differences, conversion by band; with
        ``figures`` (the folder of :meth:`write_figures`, relative to the markdown file), the
        pictures too (``write`` passes ``"figures"``)."""
        lines = [f"# {self.info.get('title', 'Model comparison')}", ""]
        lines += [_describe(self.info), ""]
        if self.notes:
            lines += ["## Notes", "", *[f"- {n}" for n in self.notes], ""]
        lines += [
            "## Metrics (95 % bootstrap intervals)",
            "",
            _md(self.table().reset_index(names="model")),
            "",
        ]
        diffs = self.intervals[self.intervals["model"].str.contains(" - ")]
        if len(diffs):
            d = diffs[diffs["metric"].isin(SUMMARY)].copy()
            d["metric"] = d["metric"].map(LABELS)
            d["difference"] = [
                f"{e:+.3f} [{lo:+.3f}, {hi:+.3f}]"
                for e, lo, hi in zip(d.estimate, d.low, d.high, strict=True)
            ]
            piv = d.pivot(index="model", columns="metric", values="difference")
            lines += ["## Paired differences", "", _md(piv.reset_index()), ""]
        if len(self.subsets):
            lines += ["## Subsets of the test rows", "", _md(_rounded(self.subsets)), ""]
        if len(self.origins):
            lines += [
                "## Rolling-origin backtest",
                "",
                _md(_rounded(self.origins)),
                "",
                _md(_rounded(self.origin_spread()).reset_index(names=["model", "statistic"])),
                "",
            ]
        if len(self.segments):
            lines += [
                "## Per-segment models (same test rows: global vs segment model)",
                "",
                _md(_rounded(self.segments)),
                "",
                "All test rows, each scored by the model of its segment (routed) vs the global "
                "model:",
                "",
                _md(_rounded(self.segments_routed)),
                "",
            ]
        if len(self.data_summary):
            lines += ["## Rows used", "", _md(self.data_summary), ""]
        if len(self.by_band):
            lines += ["## Conversion by band", "", _md(_fmt_rates(self.by_band)), ""]
        if len(self.by_grade):
            lines += ["## Conversion by scorecard grade", "", _md(_fmt_rates(self.by_grade)), ""]
        if len(self.drivers):
            d = self.drivers.head(12)[
                ["label", "mean_abs_contribution", "mean_contribution", "share_up"]
            ]
            lines += [
                "## Global drivers (LightGBM, mean |contribution| in log-odds)",
                "",
                _md(d),
                "",
            ]
        if figures is not None:
            names = [n for n in FIGURES if n in self.figures] + list(self.explain_figures)
            titles = {**FIGURES, **EXPLAIN_FIGURES}
            lines += ["## Figures", ""]
            for n in names:
                lines += [f"![{titles.get(n, n.replace('_', ' '))}]({figures}/{n}.png)", ""]
        lines += [
            "Definitions: ECE uses 10 equal-frequency bins of the predicted probability "
            "(sum of |observed - predicted| weighted by bin size); calibration slope and intercept "
            "are from logit P(y) = a + b logit(p); lift@k is the conversion rate in the top k % "
            "divided by the overall rate, capture@k the share of all conversions found there "
            "(tied scores counted pro rata); intervals resample whole leads."
        ]
        return "\n".join(lines) + "\n"

    # ------------------------------------------------------------------ plots
    def make_figures(self) -> dict[str, bytes]:
        """PNG plots (see :data:`FIGURES`): reliability diagram, cumulative gain and lift, score
        distributions, conversion by band."""
        figs: dict[str, bytes] = {
            "reliability": reliability_figure(self.predictions, self.info),
            "lift": lift_figure(self.predictions, self.info),
            "score_distributions": score_distributions_figure(self.predictions),
        }
        if len(self.by_band):
            figs["conversion_by_band"] = band_figure(self.by_band, self.info)
        self.figures = figs
        return figs

    def write_figures(self, folder: str | Path) -> dict[str, Path]:
        """Write every figure as ``folder/<name>.png`` (:data:`FIGURES`, then the explanation
        figures when the report has them: ``reasons_waterfall``, ``shap_summary``, ...); return
        name -> path. The files are byte-identical when the numbers are."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        figs = self.figures or self.make_figures()
        paths: dict[str, Path] = {}
        for name, png in {**figs, **self.explain_figures}.items():
            paths[name] = out / f"{name}.png"
            paths[name].write_bytes(png)
        return paths

    def to_html(self) -> str:
        """A self-contained HTML page (tables and embedded PNG plots)."""
        figs = self.figures or self.make_figures()
        parts = [
            "<!doctype html><html><head><meta charset='utf-8'>",
            # no favicon request: the page is complete in itself (also served over http)
            "<link rel='icon' href='data:,'>",
            f"<title>{html.escape(self.info.get('title', 'leadml report'))}</title>",
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
            "text-align:right}img{max-width:100%}</style></head><body>",
            f"<h1>{html.escape(self.info.get('title', 'Model comparison'))}</h1>",
            f"<p>{html.escape(_describe(self.info))}</p>",
            *(
                ["<h2>Notes</h2><ul>", *[f"<li>{html.escape(n)}</li>" for n in self.notes], "</ul>"]
                if self.notes
                else []
            ),
            CONTENTS,
            "<h2>Metrics (95 % bootstrap intervals)</h2>",
            self.table().to_html(),
        ]
        if len(self.subsets):
            parts += [
                "<h2>Subsets of the test rows</h2>",
                _rounded(self.subsets).to_html(index=False),
            ]
        if len(self.origins):
            parts += [
                "<h2>Rolling-origin backtest</h2>",
                _rounded(self.origins).to_html(index=False),
                _rounded(self.origin_spread()).to_html(),
            ]
        if len(self.segments):
            parts += [
                "<h2>Per-segment models (same test rows: global vs segment model)</h2>",
                _rounded(self.segments).to_html(index=False),
                _rounded(self.segments_routed).to_html(index=False),
            ]
        if len(self.data_summary):
            parts += ["<h2>Rows used</h2>", self.data_summary.to_html(index=False)]
        for name, title in FIGURES.items():
            if name in figs:
                parts.append(f"<h2>{title}</h2>" + _img(figs[name], title))
        if len(self.drivers):
            parts += [
                "<h2>Global drivers (LightGBM)</h2>",
                _rounded(self.drivers.head(15)).to_html(index=False),
            ]
        for name, png in self.explain_figures.items():
            title = EXPLAIN_FIGURES.get(name, name.replace("_", " "))
            parts.append(f"<h3>{html.escape(title)}</h3>" + _img(png, title))
        if len(self.by_band):
            parts += ["<h2>Conversion by band</h2>", _fmt_rates(self.by_band).to_html(index=False)]
        if len(self.by_grade):
            parts += [
                "<h2>Conversion by scorecard grade</h2>",
                _fmt_rates(self.by_grade).to_html(index=False),
            ]
        parts.append("<h2>All metrics</h2>" + _rounded(self.metrics).to_html())
        parts.append("</body></html>")
        return _with_contents("\n".join(parts))

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``report.html``, ``report.md``, ``metrics.csv``, ``intervals.csv``,
        ``conversion_by_band.csv``, ``conversion_by_grade.csv`` and ``figures/*.png`` (see
        :meth:`write_figures`); return what -> path (``figure_<name>`` for each figure)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "html": out / "report.html",
            "markdown": out / "report.md",
            "metrics": out / "metrics.csv",
            "intervals": out / "intervals.csv",
            "by_band": out / "conversion_by_band.csv",
            "by_grade": out / "conversion_by_grade.csv",
            "info": out / "info.json",
        }
        paths["html"].write_text(self.to_html())
        paths["markdown"].write_text(self.to_markdown(figures="figures"))
        self.metrics.to_csv(paths["metrics"], index_label="model")
        self.intervals.to_csv(paths["intervals"], index=False)
        self.by_band.to_csv(paths["by_band"], index=False)
        self.by_grade.to_csv(paths["by_grade"], index=False)
        paths["info"].write_text(
            json.dumps({**self.info, "notes": self.notes}, indent=2, default=str)
        )
        for name, frame in (
            ("subsets", self.subsets),
            ("origins", self.origins),
            ("rows_used", self.data_summary),
        ):
            if len(frame):
                paths[name] = out / f"{name}.csv"
                frame.to_csv(paths[name], index=False)
        if len(self.drivers):
            paths["drivers"] = out / "global_drivers.csv"
            self.drivers.to_csv(paths["drivers"], index=False)
        for name, p in self.write_figures(out / "figures").items():
            paths[f"figure_{name}"] = p
        return paths


def compare_models(
    y: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    *,
    bands: Mapping[str, np.ndarray] | None = None,
    grades: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    n_boot: int = 200,
    seed: int = 0,
    info: dict[str, Any] | None = None,
) -> ComparisonReport:
    """Compare models on the same rows: metrics, paired bootstrap intervals, rates by band.

    Parameters
    ----------
    y : 0/1 outcomes (no censored rows).
    predictions : model name -> probabilities, all for the rows of ``y``. The first model is the
        reference for the paired differences.
    bands : model name -> band label per row (e.g. hot/warm/cold).
    grades : scorecard grade per row (e.g. ``A1``).
    groups : lead id per row, for a bootstrap that resamples leads.
    """
    yy = np.asarray(y, dtype=float)
    n = len(yy)
    for m, p in predictions.items():
        if len(p) != n:
            raise DataContractError(
                f"compare_models: predictions of {m!r} have {len(p)} rows, y has {n}."
            )
    metrics = metric_table(yy, predictions)
    intervals = (
        bootstrap_metrics(yy, predictions, groups=groups, n_boot=n_boot, seed=seed)
        if n_boot > 0
        else pd.DataFrame(columns=["model", "metric", "estimate", "low", "high"])
    )
    band_rows = []
    for m, b in (bands or {}).items():
        band_rows.append(_rates(yy, np.asarray(b, dtype=object), m, "band", groups))
    by_band = pd.concat(band_rows, ignore_index=True) if band_rows else pd.DataFrame()
    by_grade = (
        _rates(yy, np.asarray(grades, dtype=object), "rules", "grade", groups)
        if grades is not None
        else pd.DataFrame()
    )
    preds = pd.DataFrame(
        {"y": yy, **{m: np.asarray(p, dtype=float) for m, p in predictions.items()}}
    )
    base = {
        "rows": n,
        "conversions": int(yy.sum()),
        "label_rate": float(yy.mean()) if n else float("nan"),
        "leads": int(pd.Series(groups).nunique()) if groups is not None else None,
        "bootstrap": n_boot,
        "lower_is_better": sorted(LOWER_IS_BETTER),
    }
    return ComparisonReport(metrics, intervals, by_band, by_grade, preds, {**base, **(info or {})})


def _rates(
    y: np.ndarray, labels: np.ndarray, model: str, what: str, groups: np.ndarray | None = None
) -> pd.DataFrame:
    """Rows, distinct leads (with ``groups``), conversions, rate and share per band or grade."""
    df = pd.DataFrame({what: labels, "y": y})
    agg: dict[str, Any] = {"rows": ("y", "size")}
    if groups is not None:
        df["lead"] = np.asarray(groups)
        agg["leads"] = ("lead", "nunique")
    g = df.groupby(what, sort=False).agg(**agg, conversions=("y", "sum")).reset_index()
    g["conversions"] = g["conversions"].astype(int)
    g["conversion_rate"] = g["conversions"] / g["rows"]
    g["share"] = g["rows"] / len(df)
    g.insert(0, "model", model)
    return g.sort_values("conversion_rate", ascending=False, kind="stable").reset_index(drop=True)


def _fmt_rates(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["conversion_rate"] = (out["conversion_rate"] * 100).map("{:.2f} %".format)
    out["share"] = (out["share"] * 100).map("{:.1f} %".format)
    return out


def _rounded(df: pd.DataFrame, digits: int = 4) -> pd.DataFrame:
    """Numbers rounded for display; other columns (origins, names, dates) as they are."""
    out = df.copy()
    num = out.select_dtypes("number").columns
    out[num] = out[num].round(digits)
    return out


def _describe(info: dict[str, Any]) -> str:
    bits = [f"{info.get('rows', 0):,} rows", f"{info.get('conversions', 0):,} conversions"]
    if info.get("leads"):
        bits.insert(1, f"{info['leads']:,} leads")
    if info.get("label_rate") is not None:
        bits.append(f"label rate {info['label_rate']:.2%}")
    if info.get("window"):
        bits.append(f"window {info['window']}")
    if info.get("horizon"):
        bits.append(f"horizon {info['horizon']}")
    return "Evaluated on the same rows for every model: " + ", ".join(bits) + "."


def _md(df: pd.DataFrame) -> str:
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


CONTENTS = "<!-- contents -->"
H2 = re.compile(r"<h2>(.*?)</h2>")


def _with_contents(page: str) -> str:
    """Each ``<h2>`` gets an id (``section-1``, ...) and the page a list of links to them."""
    titles: list[str] = []

    def anchor(m: re.Match[str]) -> str:
        titles.append(m.group(1))
        return f"<h2 id='section-{len(titles)}'>{m.group(1)}</h2>"

    page = H2.sub(anchor, page)
    items = "".join(
        f"<li><a href='#section-{i}'>{t}</a></li>" for i, t in enumerate(titles, start=1)
    )
    return page.replace(CONTENTS, f"<nav><h3>Contents</h3><ul>{items}</ul></nav>", 1)


def _img(png: bytes, alt: str) -> str:
    b64 = base64.b64encode(png).decode()
    return f"<img src='data:image/png;base64,{b64}' alt='{html.escape(alt, quote=True)}'>"
