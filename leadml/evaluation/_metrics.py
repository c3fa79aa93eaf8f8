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


def metric_table(
    y: np.ndarray, predictions: Mapping[str, np.ndarray], *, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """Point estimates: one row per model, one column per metric, on the same rows."""
    names = list(METRICS) if metrics is None else list(metrics)
    yy = np.asarray(y, dtype=float)
    rows = {m: _compute(yy, np.asarray(p, dtype=float), names) for m, p in predictions.items()}
    return pd.DataFrame.from_dict(rows, orient="index")[names]


def _compute(y: np.ndarray, p: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """All ``names`` at once, sharing one sort (same values as the single functions)."""
    y, p = _check(y, p)
    out: dict[str, float] = {}
    if "cal_slope" in names or "cal_intercept" in names:
        out["cal_slope"], out["cal_intercept"] = calibration_slope_intercept(y, p)
    pos, neg = _groups(y, p)
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos > 0 and n_neg > 0:
        out["auc"] = float(
            (pos * (n_neg - np.cumsum(neg)) + 0.5 * pos * neg).sum() / (n_pos * n_neg)
        )
        out["pr_auc"] = float((pos / n_pos * np.cumsum(pos) / np.cumsum(pos + neg)).sum())
    ends = np.cumsum(pos + neg)
    cum_pos = np.r_[0.0, np.cumsum(pos)]
    starts = np.r_[0, ends[:-1]]
    for frac in (5, 10, 20):
        if f"lift_{frac}" in names or f"capture_{frac}" in names:
            k_rows = frac / 100 * len(y)
            g = min(int(np.searchsorted(ends, k_rows, side="left")), len(ends) - 1)
            inside = (k_rows - starts[g]) / (ends[g] - starts[g])
            top = cum_pos[g] + min(inside, 1.0) * (cum_pos[g + 1] - cum_pos[g])
            out[f"lift_{frac}"] = float(top / k_rows / y.mean()) if n_pos > 0 else float("nan")
            out[f"capture_{frac}"] = float(top / n_pos) if n_pos > 0 else float("nan")
    for k in names:
        if k not in out:
            out[k] = METRICS[k](y, p)
    return out


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
    names = list(METRICS) if metrics is None else list(metrics)
    yy = np.asarray(y, dtype=float)
    preds = {m: _check(yy, p)[1] for m, p in predictions.items()}
    point = metric_table(yy, preds, metrics=names)
    est = point.to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    if groups is not None:
        codes, uniq = pd.factorize(pd.Series(groups))
        members = pd.Series(np.arange(len(yy))).groupby(codes).apply(np.asarray).to_list()
        n_units = len(uniq)
    else:
        n_units = len(yy)
    models = list(preds)
    draws = np.full((n_boot, len(models), len(names)), np.nan)
    for b in range(n_boot):
        if b % 20 == 0:
            _progress.step("bootstrap intervals", b, n_boot)
        pick = rng.integers(0, n_units, n_units)
        idx = np.concatenate([members[i] for i in pick]) if groups is not None else pick
        yb = yy[idx]
        if yb.min() == yb.max():
            continue
        for i, m in enumerate(models):
            vals = _compute(yb, preds[m][idx], names)
            draws[b, i, :] = [vals[k] for k in names]
    lo, hi = 100 * alpha / 2, 100 * (1 - alpha / 2)
    rows = []
    for i, m in enumerate(models):
        for j, k in enumerate(names):
            d = draws[:, i, j]
            rows.append(
                {
                    "model": m,
                    "metric": k,
                    "estimate": float(est[i, j]),
                    "low": float(np.nanpercentile(d, lo)),
                    "high": float(np.nanpercentile(d, hi)),
                }
            )
        if i > 0:
            for j, k in enumerate(names):
                d = draws[:, i, j] - draws[:, 0, j]
                rows.append(
                    {
                        "model": f"{m} - {models[0]}",
                        "metric": k,
                        "estimate": float(est[i, j] - est[0, j]),
                        "low": float(np.nanpercentile(d, lo)),
                        "high": float(np.nanpercentile(d, hi)),
                    }
                )
    return pd.DataFrame(rows)
