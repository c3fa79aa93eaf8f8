"""Metrics for conversion probabilities: ranking, calibration, lift, with bootstrap intervals.

All functions take ``y`` (0/1) and ``p`` (probabilities of conversion) for the same rows and
are pure. Ties in ``p`` (common for points scorecards) are handled exactly: AUCs count ties as
half, and the top-k% lift includes a tied group pro rata.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from leadml import _progress
from leadml._math import fit_platt, logit
from leadml.exceptions import DataContractError

__all__ = [
    "METRICS",
    "bootstrap_metrics",
    "brier_score",
    "calibration_bins",
    "calibration_in_the_large",
    "calibration_slope_intercept",
    "capture_at",
    "expected_calibration_error",
    "lift_at",
    "log_loss",
    "metric_table",
    "pr_auc",
    "roc_auc",
]

EPS = 1e-15


def _check(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float).ravel()
    p = np.asarray(p, dtype=float).ravel()
    if len(y) != len(p):
        raise DataContractError(f"y and p have different lengths ({len(y)} and {len(p)}).")
    if len(y) == 0:
        raise DataContractError("metrics: no rows to evaluate.")
    if not np.isin(y, (0.0, 1.0)).all():
        raise DataContractError("metrics: y must be 0/1 (censored rows have no label: drop them).")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise DataContractError("metrics: p must be probabilities in [0, 1] without NaN.")
    return y, p


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean negative log-likelihood (natural log), ``p`` clipped to ``[1e-15, 1 - 1e-15]``."""
    y, p = _check(y, p)
    pc = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(pc) + (1 - y) * np.log1p(-pc)))


def brier_score(y: np.ndarray, p: np.ndarray) -> float:
    """Mean squared difference between ``p`` and ``y``."""
    y, p = _check(y, p)
    return float(np.mean((p - y) ** 2))


def calibration_bins(
    y: np.ndarray,
    p: np.ndarray,
    *,
    n_bins: int = 10,
    strategy: Literal["quantile", "uniform"] = "quantile",
) -> pd.DataFrame:
    """The reliability table: per bin, ``n``, mean predicted ``p_mean`` and observed ``y_rate``.

    ``strategy="quantile"`` (default) makes bins of (nearly) equal size by rank of ``p``; rows
    with the same ``p`` always share a bin, so a scorecard with few distinct scores gets fewer
    bins. ``"uniform"`` uses ``n_bins`` equal-width bins on ``[0, 1]`` (empty bins are left out).
    """
    y, p = _check(y, p)
    if n_bins < 1:
        raise DataContractError(f"n_bins must be >= 1, got {n_bins}.")
    if strategy == "uniform":
        b = np.minimum((p * n_bins).astype(int), n_bins - 1)
    elif strategy == "quantile":
        order = np.argsort(p, kind="stable")
        # all rows of one distinct value get the bin of that value's first rank
        uniq, first = np.unique(p[order], return_index=True)
        first_rank = np.searchsorted(uniq, p)
        b = (first[first_rank] * n_bins) // len(p)
    else:
        raise DataContractError(f"strategy must be 'quantile' or 'uniform', got {strategy!r}.")
    n = np.bincount(b)
    keep = np.flatnonzero(n)
    return pd.DataFrame(
        {
            "bin": keep,
            "n": n[keep],
            "p_mean": np.bincount(b, weights=p)[keep] / n[keep],
            "y_rate": np.bincount(b, weights=y)[keep] / n[keep],
        }
    )


def expected_calibration_error(
    y: np.ndarray,
    p: np.ndarray,
    *,
    n_bins: int = 10,
    strategy: Literal["quantile", "uniform"] = "quantile",
) -> float:
    """ECE = sum over bins of ``n_b / N * |y_rate_b - p_mean_b|`` (bins of :func:`calibration_bins`).

    The default uses 10 equal-frequency bins: with rare conversions, equal-width bins would put
    nearly every row in the first bin and hide miscalibration among the high scores.
    """
    t = calibration_bins(y, p, n_bins=n_bins, strategy=strategy)
    return float((t["n"] / t["n"].sum() * (t["y_rate"] - t["p_mean"]).abs()).sum())


def calibration_slope_intercept(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of the logistic recalibration ``logit P(y) = a + b * logit(p)``.

    Perfect calibration gives slope 1 and intercept 0; slope < 1 means over-confident scores.
    Undefined (NaN, NaN) when the predictions do not vary, or do not fit (a slope beyond 1e6:
    probabilities of exactly 0 and 1 that separate the outcome).
    """
    y, p = _check(y, p)
    x = logit(p)
    if np.ptp(x) < 1e-12 or y.min() == y.max():
        return float("nan"), float("nan")
    b, a = fit_platt(x, y, l2=0.0)
    if not (np.isfinite(b) and abs(b) < 1e6):
        return float("nan"), float("nan")
    return float(b), float(a)


def _top_positives(y: np.ndarray, p: np.ndarray, frac: float) -> tuple[float, float]:
    """Expected positives among the top ``frac`` of rows by ``p`` (ties split pro rata), and k."""
    n = len(p)
    k = frac * n
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    # group boundaries of equal scores
    starts = np.r_[0, np.flatnonzero(np.diff(ps) != 0) + 1]
    ends = np.r_[starts[1:], n]
    cum_pos = np.r_[0.0, np.cumsum(ys)]
    g = np.searchsorted(ends, k, side="left")  # group containing the k-th row
    if g >= len(starts):
        return float(cum_pos[-1]), k
    s, e = starts[g], ends[g]
    inside = (k - s) / (e - s)
    return float(cum_pos[s] + inside * (cum_pos[e] - cum_pos[s])), k


def lift_at(y: np.ndarray, p: np.ndarray, frac: float) -> float:
    """Conversion rate among the top ``frac`` of leads by ``p``, divided by the overall rate."""
    y, p = _check(y, p)
    pos, k = _top_positives(y, p, frac)
    base = y.mean()
    return float((pos / k) / base) if base > 0 and k > 0 else float("nan")


def capture_at(y: np.ndarray, p: np.ndarray, frac: float) -> float:
    """Share of all conversions found among the top ``frac`` of leads by ``p``."""
    y, p = _check(y, p)
    pos, _ = _top_positives(y, p, frac)
    total = y.sum()
    return float(pos / total) if total > 0 else float("nan")


def _groups(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positives and negatives per distinct score, highest score first."""
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    starts = np.r_[0, np.flatnonzero(np.diff(ps) != 0) + 1]
    pos = np.add.reduceat(ys, starts)
    size = np.diff(np.r_[starts, len(ps)])
    return pos, size - pos


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC with ties counted as half (equal to sklearn's ``roc_auc_score``)."""
    pos, neg = _groups(y, p)
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    neg_below = n_neg - np.cumsum(neg)
    return float((pos * neg_below + 0.5 * pos * neg).sum() / (n_pos * n_neg))


def _pr_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Average precision (equal to sklearn's ``average_precision_score``)."""
    pos, neg = _groups(y, p)
    if pos.sum() == 0:
        return float("nan")
    tp = np.cumsum(pos)
    precision = tp / np.cumsum(pos + neg)
    return float((pos / pos.sum() * precision).sum())


def _cal_slope(y: np.ndarray, p: np.ndarray) -> float:
    return calibration_slope_intercept(y, p)[0]


def _cal_intercept(y: np.ndarray, p: np.ndarray) -> float:
    return calibration_slope_intercept(y, p)[1]


def roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC (ties count one half)."""
    return _auc(*_check(y, p))


def pr_auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the precision-recall curve as average precision."""
    return _pr_auc(*_check(y, p))


def calibration_in_the_large(y: np.ndarray, p: np.ndarray) -> float:
    """Mean predicted probability divided by the observed rate (1 is calibrated in the large;
    0.8: the model expects 20 % fewer conversions than happened). NaN without conversions."""
    y, p = _check(y, p)
    return float(p.mean() / y.mean()) if y.sum() > 0 else float("nan")


def _lift(frac: float) -> Callable[[np.ndarray, np.ndarray], float]:
    return lambda y, p: lift_at(y, p, frac)


def _capture(frac: float) -> Callable[[np.ndarray, np.ndarray], float]:
    return lambda y, p: capture_at(y, p, frac)


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "auc": roc_auc,
    "pr_auc": pr_auc,
    "log_loss": log_loss,
    "brier": brier_score,
    "ece": expected_calibration_error,
    "cal_slope": _cal_slope,
    "cal_intercept": _cal_intercept,
    "citl": calibration_in_the_large,
    "lift_5": _lift(0.05),
    "lift_10": _lift(0.10),
    "lift_20": _lift(0.20),
    "capture_5": _capture(0.05),
    "capture_10": _capture(0.10),
    "capture_20": _capture(0.20),
}
"""Metric name -> function of ``(y, p)``; the names used in reports and MLflow."""

LOWER_IS_BETTER = {"log_loss", "brier", "ece"}


def _names(metrics: Sequence[str] | None) -> list[str]:
    names = list(METRICS) if metrics is None else list(metrics)
    unknown = [k for k in names if k not in METRICS]
    if unknown:
        raise DataContractError(
            f"metrics: unknown metric(s) {unknown}; choose from {sorted(METRICS)}."
        )
    return names


def metric_table(
    y: np.ndarray, predictions: Mapping[str, np.ndarray], *, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """Point estimates: one row per model, one column per metric, on the same rows."""
    names = _names(metrics)
    yy = np.asarray(y, dtype=float)
    rows = {m: _compute(yy, np.asarray(p, dtype=float), names) for m, p in predictions.items()}
    return pd.DataFrame.from_dict(rows, orient="index")[names]


def _compute(y: np.ndarray, p: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """All ``names`` at once, sharing one sort (same values as the single functions)."""
    y, p = _check(y, p)
    ranked = _Ranked(p)
    pos = np.bincount(ranked.gid, weights=y, minlength=len(ranked.values))
    size = np.bincount(ranked.gid, minlength=len(ranked.values)).astype(float)
    return _from_groups(ranked.values, pos, size, names)


class _Ranked:
    """The distinct scores of one model, highest first, and each row's index among them."""

    def __init__(self, p: np.ndarray) -> None:
        order = np.argsort(-p, kind="stable")
        ps = p[order]
        first = np.r_[True, ps[1:] != ps[:-1]]
        self.values = ps[first]
        self.gid = np.empty(len(p), dtype=np.int64)
        self.gid[order] = np.cumsum(first) - 1


def _from_groups(
    v: np.ndarray, pos: np.ndarray, size: np.ndarray, names: Sequence[str]
) -> dict[str, float]:
    """Every metric from counts per distinct score: ``v`` the scores (highest first), ``pos``
    the converted rows and ``size`` all rows with that score. A weighted sample (a bootstrap
    resample as counts per row) gives the same values as the rows repeated that often."""
    keep = size > 0
    v, pos, size = v[keep], pos[keep], size[keep]
    neg = size - pos
    n, n_pos = float(size.sum()), float(pos.sum())
    n_neg = n - n_pos
    nan = float("nan")
    out: dict[str, float] = dict.fromkeys(names, nan)
    ends = np.cumsum(size)
    if n_pos > 0 and n_neg > 0:
        out["auc"] = float(
            (pos * (n_neg - np.cumsum(neg)) + 0.5 * pos * neg).sum() / (n_pos * n_neg)
        )
    if n_pos > 0:
        out["pr_auc"] = float((pos / n_pos * np.cumsum(pos) / ends).sum())
        out["citl"] = float((v * size).sum() / n_pos)
    pc = np.clip(v, EPS, 1 - EPS)
    out["log_loss"] = float(-(pos * np.log(pc) + neg * np.log1p(-pc)).sum() / n)
    out["brier"] = float((pos * (v - 1.0) ** 2 + neg * v**2).sum() / n)
    # ECE on 10 equal-frequency bins: a score's bin is that of its first rank in ascending
    # order, the number of rows with a lower score (as in calibration_bins)
    below = np.rint(n - ends).astype(np.int64)
    b = below * 10 // round(n)
    n_b = np.bincount(b, weights=size)
    filled = n_b > 0
    gap = np.bincount(b, weights=pos)[filled] - np.bincount(b, weights=v * size)[filled]
    out["ece"] = float(np.abs(gap).sum() / n)
    if "cal_slope" in names or "cal_intercept" in names:
        out["cal_slope"], out["cal_intercept"] = _grouped_slope_intercept(v, pos, neg)
    cum_pos = np.r_[0.0, np.cumsum(pos)]
    starts = np.r_[0.0, ends[:-1]]
    for frac in (5, 10, 20):
        if n_pos == 0:
            continue
        k_rows = frac / 100 * n
        g = min(int(np.searchsorted(ends, k_rows, side="left")), len(ends) - 1)
        inside = (k_rows - starts[g]) / (ends[g] - starts[g])
        top = cum_pos[g] + min(inside, 1.0) * (cum_pos[g + 1] - cum_pos[g])
        out[f"lift_{frac}"] = float(top / k_rows / (n_pos / n))
        out[f"capture_{frac}"] = float(top / n_pos)
    return {k: out[k] for k in names}


def _grouped_slope_intercept(
    v: np.ndarray, pos: np.ndarray, neg: np.ndarray
) -> tuple[float, float]:
    """:func:`calibration_slope_intercept` on counts per distinct score."""
    x = logit(v)
    if np.ptp(x) < 1e-12 or pos.sum() == 0 or neg.sum() == 0:
        return float("nan"), float("nan")
    xs = np.r_[x[pos > 0], x[neg > 0]]
    ys = np.r_[np.ones(int((pos > 0).sum())), np.zeros(int((neg > 0).sum()))]
    ws = np.r_[pos[pos > 0], neg[neg > 0]]
    b, a = fit_platt(xs, ys, sample_weight=ws, l2=0.0)
    if not (np.isfinite(b) and abs(b) < 1e6):
        return float("nan"), float("nan")
    return float(b), float(a)


def bootstrap_metrics(
    y: np.ndarray,
    predictions: Mapping[str, np.ndarray],
    *,
    groups: np.ndarray | None = None,
    n_boot: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Percentile bootstrap intervals, paired across models (the same resamples for all).

    With ``groups`` (lead ids), whole leads are resampled (cluster bootstrap), because the rows
    of one lead at successive cut-offs are not independent. Returns a long table
    ``model, metric, estimate, low, high`` plus ``diff_*`` rows: for every model but the first,
    its difference to the first model with an interval.
    """
    names = _names(metrics)
    yy = np.asarray(y, dtype=float)
    preds = {m: _check(yy, p)[1] for m, p in predictions.items()}
    point = metric_table(yy, preds, metrics=names)
    est = point.to_numpy(dtype=float)
    models = list(preds)
    draws = _draws(yy, [preds[m] for m in models], groups, n_boot, seed, names)
    lo, hi = 100 * alpha / 2, 100 * (1 - alpha / 2)

    def interval(d: np.ndarray) -> tuple[float, float]:
        d = d[~np.isnan(d)]  # a metric undefined on every resample (a constant score's slope)
        if len(d) == 0:
            return float("nan"), float("nan")
        return float(np.percentile(d, lo)), float(np.percentile(d, hi))

    rows = []
    for i, m in enumerate(models):
        for j, k in enumerate(names):
            low, high = interval(draws[:, i, j])
            rows.append(
                {"model": m, "metric": k, "estimate": float(est[i, j]), "low": low, "high": high}
            )
        if i > 0:
            for j, k in enumerate(names):
                low, high = interval(draws[:, i, j] - draws[:, 0, j])
                rows.append(
                    {
                        "model": f"{m} - {models[0]}",
                        "metric": k,
                        "estimate": float(est[i, j] - est[0, j]),
                        "low": low,
                        "high": high,
                    }
                )
    return pd.DataFrame(rows)


def _draws(
    y: np.ndarray,
    preds: Sequence[np.ndarray],
    groups: np.ndarray | None,
    n_boot: int,
    seed: int,
    names: Sequence[str],
) -> np.ndarray:
    """Metrics on ``n_boot`` resamples, shape ``(n_boot, models, metrics)``; NaN for a resample
    with one class. A resample is a count per lead (or row): every row of a lead drawn twice
    weighs 2, which gives the values of the repeated rows without building them."""
    rng = np.random.default_rng(seed)
    codes = pd.factorize(pd.Series(groups))[0] if groups is not None else np.arange(len(y))
    n_units = int(codes.max()) + 1 if len(codes) else 0
    ranked = [_Ranked(p) for p in preds]
    draws = np.full((n_boot, len(preds), len(names)), np.nan)
    for b in range(n_boot):
        if b % 20 == 0:
            _progress.step("bootstrap intervals", b, n_boot)
        pick = rng.integers(0, n_units, n_units)
        w = np.bincount(pick, minlength=n_units)[codes].astype(float)
        wy = w * y
        n_pos = wy.sum()
        if n_pos == 0 or n_pos == w.sum():
            continue
        for i, r in enumerate(ranked):
            n_values = len(r.values)
            pos = np.bincount(r.gid, weights=wy, minlength=n_values)
            size = np.bincount(r.gid, weights=w, minlength=n_values)
            vals = _from_groups(r.values, pos, size, names)
            draws[b, i, :] = [vals[k] for k in names]
    return draws
