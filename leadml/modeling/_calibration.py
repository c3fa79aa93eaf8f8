"""Probability calibration on a later window, stored as plain parameters (JSON)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from leadml._math import fit_intercept, fit_platt, logit, sigmoid
from leadml.exceptions import ConfigError

__all__ = [
    "ISOTONIC_MIN_POSITIVES",
    "ISOTONIC_MIN_ROWS",
    "PLATT_MAX_SLOPE",
    "PLATT_MIN_CLASS",
    "Calibrator",
    "ScoreScale",
    "fit_calibrator",
]

Method = Literal["sigmoid", "isotonic", "auto"]
ISOTONIC_MIN_ROWS = 5000
ISOTONIC_MIN_POSITIVES = 500
PLATT_MAX_SLOPE = 10.0
"""A Platt slope above this means the margins separate the outcome almost perfectly on the
calibration rows (usually a leaking column): refused, slope fixed at 1."""
PLATT_MIN_CLASS = 50
"""Platt scaling fits a slope only with at least this many conversions and non-conversions;
below, the slope is fixed at 1 (the model's own log-odds scale) and only the intercept is fitted."""


@dataclass(frozen=True)
class Calibrator:
    """Maps a raw margin (log-odds) to a probability.

    ``sigmoid``: ``p = sigmoid(a * margin + b)`` (Platt scaling on the margin).
    ``isotonic``: a non-decreasing step function, linearly interpolated between the fitted
    thresholds ``x`` (margins) and values ``y`` (probabilities), constant beyond them, then
    moved by ``shift`` on the log-odds scale (0 unless re-anchored).
    ``note`` says why a safer form was used instead of the one asked for ("" otherwise).
    """

    method: Literal["sigmoid", "isotonic"]
    a: float = 1.0
    b: float = 0.0
    x: list[float] = field(default_factory=list)
    y: list[float] = field(default_factory=list)
    shift: float = 0.0
    note: str = ""

    def transform(self, margin: np.ndarray) -> np.ndarray:
        m = np.asarray(margin, dtype=float)
        if self.method == "sigmoid":
            return sigmoid(self.a * m + self.b)
        p = np.interp(m, np.asarray(self.x), np.asarray(self.y))
        return sigmoid(logit(p) + self.shift) if self.shift else p

    def anchored(self, margin: np.ndarray, y: np.ndarray) -> Calibrator:
        """The same calibrator with its intercept moved so that the mean probability on these
        rows equals their observed rate (calibration-in-the-large); the slope is kept."""
        m, yy = np.asarray(margin, dtype=float), np.asarray(y, dtype=float)
        if self.method == "sigmoid":
            return replace(self, b=fit_intercept(self.a * m, yy))
        base = logit(np.interp(m, np.asarray(self.x), np.asarray(self.y)))
        return replace(self, shift=fit_intercept(base, yy))

    def shifted(self, delta: float) -> Calibrator:
        """The same calibrator with ``delta`` added to its log-odds."""
        if self.method == "sigmoid":
            return replace(self, b=self.b + float(delta))
        return replace(self, shift=self.shift + float(delta))

    def to_dict(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"note": self.note} if self.note else {}
        if self.method == "sigmoid":
            return {"method": "sigmoid", "a": self.a, "b": self.b, **extra}
        return {
            "method": "isotonic",
            "x": list(self.x),
            "y": list(self.y),
            "shift": self.shift,
            **extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibrator:
        note = str(d.get("note", ""))
        if d.get("method") == "sigmoid":
            return cls("sigmoid", a=float(d["a"]), b=float(d["b"]), note=note)
        if d.get("method") == "isotonic":
            return cls(
                "isotonic",
                x=[float(v) for v in d["x"]],
                y=[float(v) for v in d["y"]],
                shift=float(d.get("shift", 0.0)),
                note=note,
            )
        raise ConfigError(f"calibrator: unknown method {d.get('method')!r}.")


def fit_calibrator(
    margin: np.ndarray, y: np.ndarray, *, method: Method = "sigmoid", what: str = "model"
) -> Calibrator:
    """Fit a calibrator on out-of-sample margins (rows the model was not trained on).

    ``"sigmoid"`` (default): Platt scaling, ``p = sigmoid(a * margin + b)``. A calibrator never
    reverses a model: when the fitted slope ``a`` is not positive (the margins do not rank the
    conversions on these rows), or there are fewer than :data:`PLATT_MIN_CLASS` conversions or
    non-conversions, the slope is fixed at 1 and only the intercept is fitted; ``note`` says so.
    ``"isotonic"`` needs at least 5,000 rows and 500 conversions (it raises otherwise);
    ``"auto"`` picks isotonic when those are met. ``what`` names the model in notes.
    """
    m = np.asarray(margin, dtype=float)
    yy = np.asarray(y, dtype=float)
    if len(m) != len(yy) or len(m) == 0:
        raise ConfigError("fit_calibrator: margin and y must be non-empty and of equal length.")
    if yy.min() == yy.max():
        raise ConfigError(
            f"fit_calibrator: the calibration window has only one class ({int(yy[0])}) in "
            f"{len(yy)} rows. Fix: use a longer calibration window."
        )
    enough = len(m) >= ISOTONIC_MIN_ROWS and yy.sum() >= ISOTONIC_MIN_POSITIVES
    if method == "auto":
        method = "isotonic" if enough else "sigmoid"
    if method == "sigmoid":
        n_pos, n_neg = int(yy.sum()), int(len(yy) - yy.sum())
        if min(n_pos, n_neg) < PLATT_MIN_CLASS:
            return Calibrator(
                "sigmoid",
                a=1.0,
                b=fit_intercept(m, yy),
                note=(
                    f"{what}: the calibration rows hold {n_pos:,} conversions and {n_neg:,} "
                    f"non-conversions, fewer than the {PLATT_MIN_CLASS} of each Platt scaling "
                    "needs: slope fixed at 1, intercept fitted."
                ),
            )
        a, b = fit_platt(m, yy)
        if np.isfinite(a) and a > PLATT_MAX_SLOPE:
            return Calibrator(
                "sigmoid",
                a=1.0,
                b=fit_intercept(m, yy),
                note=(
                    f"{what}: the fitted calibration slope was {a:.3g}: on the latest rows the "
                    "margins separate conversions almost perfectly, which usually means a column "
                    "leaks the outcome; refused, slope fixed at 1 (intercept only)."
                ),
            )
        if not (np.isfinite(a) and a > 0):
            return Calibrator(
                "sigmoid",
                a=1.0,
                b=fit_intercept(m, yy),
                note=(
                    f"{what}: the fitted calibration slope was {a:.3g} (not positive: on the "
                    "latest rows the margins do not rank the conversions); refused, and the "
                    "slope fixed at 1 (intercept only) so the calibration cannot reverse the model."
                ),
            )
        return Calibrator("sigmoid", a=a, b=b)
    if method == "isotonic":
        if not enough:
            raise ConfigError(
                f"isotonic calibration needs >= {ISOTONIC_MIN_ROWS} rows and >= "
                f"{ISOTONIC_MIN_POSITIVES} conversions in the calibration window; got {len(m)} "
                f"rows and {int(yy.sum())}. Fix: use calibration='sigmoid' or a longer window."
            )
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6).fit(m, yy)
        return Calibrator(
            "isotonic",
            x=[float(v) for v in iso.X_thresholds_],
            y=[float(v) for v in iso.y_thresholds_],
        )
    raise ConfigError(f"calibration must be 'sigmoid', 'isotonic' or 'auto', got {method!r}.")


@dataclass(frozen=True)
class ScoreScale:
    """Turns probabilities into a 0-100 score and a band.

    The score is the percentile of ``p`` among the calibration-window rows (stored as 101
    quantiles): a score of 90 means "more likely to convert than 90 % of the leads scored at
    training time". ``bands`` are minimum scores, best first, the last one ``None``.
    """

    quantiles: list[float]
    bands: dict[str, float | None]

    @classmethod
    def fit(cls, p: np.ndarray, bands: dict[str, float | None]) -> ScoreScale:
        _check_bands(bands)
        q = np.quantile(np.asarray(p, dtype=float), np.linspace(0, 1, 101))
        return cls([float(v) for v in q], dict(bands))

    def score(self, p: np.ndarray) -> np.ndarray:
        q = np.asarray(self.quantiles)
        pct = np.linspace(0, 100, 101)
        # equal quantiles (ties): a value equal to a run of quantiles gets the run's middle
        xs, inv = np.unique(q, return_inverse=True)
        ys = np.array([pct[inv == i].mean() for i in range(len(xs))])
        if len(xs) == 1:
            return np.where(np.asarray(p) >= xs[0], 50, 0).astype(np.int64)
        return np.rint(np.interp(np.asarray(p, dtype=float), xs, ys)).astype(np.int64)

    def band(self, score: np.ndarray) -> np.ndarray:
        names = list(self.bands)
        out = np.full(len(score), names[-1], dtype=object)
        for name in reversed(names[:-1]):
            out[np.asarray(score) >= float(self.bands[name])] = name  # type: ignore[arg-type]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"quantiles": self.quantiles, "bands": self.bands}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScoreScale:
        return cls([float(v) for v in d["quantiles"]], dict(d["bands"]))


def _check_bands(bands: dict[str, float | None]) -> None:
    vals = list(bands.values())
    ok = len(vals) >= 2 and vals[-1] is None and None not in vals[:-1]
    cuts = [float(v) for v in vals[:-1] if v is not None]
    if not ok or any(a <= b for a, b in itertools.pairwise(cuts)):
        raise ConfigError(
            "bands: list minimum scores (0-100) best first with the last band null, e.g. "
            f"{{'hot': 80, 'warm': 50, 'cold': None}}; got {bands}."
        )
