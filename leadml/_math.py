"""Small numerical helpers shared by the rules and the models (no leadml imports)."""

from __future__ import annotations

import numpy as np

__all__ = ["fit_intercept", "fit_platt", "logit", "sigmoid"]

EPS = 1e-15


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    x = np.asarray(x, dtype=float)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities clipped to ``[1e-15, 1 - 1e-15]``."""
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def fit_platt(
    x: np.ndarray,
    y: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    l2: float = 1e-6,
    max_iter: int = 100,
) -> tuple[float, float]:
    """Maximum-likelihood ``(a, b)`` of ``P(y=1 | x) = sigmoid(a * x + b)`` by Newton's method.

    Deterministic, with a tiny ridge ``l2`` on ``a`` so that a constant or perfectly separating
    ``x`` still gives finite parameters.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.ones_like(x) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    mu, sd = (
        float(np.average(x, weights=w)),
        float(np.sqrt(np.cov(x, aweights=w)) if len(x) > 1 else 0.0),
    )
    sd = sd if np.isfinite(sd) and sd > 0 else 1.0
    z = (x - mu) / sd
    rate = float(np.clip(np.average(y, weights=w), 1e-6, 1 - 1e-6))
    theta = np.array([0.0, np.log(rate / (1 - rate))])
    Z = np.column_stack([z, np.ones_like(z)])
    reg = np.array([l2 * w.sum(), 0.0])
    for _ in range(max_iter):
        p = sigmoid(Z @ theta)
        grad = Z.T @ (w * (p - y)) + reg * theta
        hess = (Z * (w * p * (1 - p))[:, None]).T @ Z + np.diag(reg + 1e-12)
        step = np.linalg.solve(hess, grad)
        theta = theta - step
        if np.max(np.abs(step)) < 1e-10:
            break
    a = float(theta[0] / sd)
    b = float(theta[1] - theta[0] * mu / sd)
    return a, b


def fit_intercept(offset: np.ndarray, y: np.ndarray, exposure: np.ndarray | None = None) -> float:
    """Maximum-likelihood ``b`` of ``P(y=1) = sigmoid(offset + b)``: the intercept that makes the
    mean probability equal the observed rate (the score equation ``sum(p - y) = 0``).

    With ``exposure`` (a share in [0, 1] per row: how much of its window has been observed), the
    intercept that makes the expected count ``sum(exposure * p)`` equal ``sum(y)``.

    Solved by bisection on the monotone mean, so it cannot diverge; ``y`` must hold both classes
    for a finite answer (with one class the result is clipped at +-50; likewise when ``sum(y)``
    reaches ``sum(exposure)``).
    """
    off = np.asarray(offset, dtype=float)
    if exposure is None:
        target = float(np.mean(np.asarray(y, dtype=float)))

        def level(b: float) -> float:
            return float(np.mean(sigmoid(off + b)))
    else:
        w = np.asarray(exposure, dtype=float)
        target = float(np.sum(np.asarray(y, dtype=float)))

        def level(b: float) -> float:
            return float(np.sum(w * sigmoid(off + b)))

    lo, hi = -50.0, 50.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if level(mid) > target:
            hi = mid
        else:
            lo = mid
        if hi - lo < 1e-12:
            break
    return 0.5 * (lo + hi)
