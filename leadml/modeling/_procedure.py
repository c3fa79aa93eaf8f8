"""The training procedure: what ``train`` runs once at the backtest origin and once on all history.

On rows whose labels are all known (a time per row, a 0/1 label, their features):

1. **blocks**: the calibration block ``C`` is the most recent rows (``calibration.share`` of them,
   grown until they hold ``calibration.min_conversions`` conversions, at most
   ``calibration.max_share``); the fitting rows ``F`` are those whose label was known when ``C``
   starts (``time + gap <= start of C``), so no label of ``F`` overlaps ``C``'s period;
2. **fit** LightGBM on ``F`` with early stopping on ``C`` (the number of trees, and with
   ``search`` the parameters, come from this internal validation), and the logistic regression
   on ``F``;
3. **calibrate** every model on its out-of-sample margins on ``C``; the points scorecard's
   points-to-probability mapping too. A slope that is not positive is refused (see
   :func:`~leadml.modeling.fit_calibrator`);
4. **refit** (``lightgbm.refit``) LightGBM with that number of trees and the logistic regression
   on all the rows, so the newest rows reach the shipped model, and (``calibration.anchor``)
   move each calibrator's intercept so the refitted model's mean probability on ``C`` equals
   ``C``'s observed rate: the slope is out of sample, the level is the latest one.

Nothing here knows about leads, events or dates: ``train`` and ``train_flat`` call it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leadml import _progress
from leadml._math import fit_intercept, logit
from leadml.evaluation import recent_block_start
from leadml.exceptions import CalibrationWarning, ConfigError
from leadml.features import FeatureSpec
from leadml.modeling._calibration import (
    ISOTONIC_MIN_POSITIVES,
    ISOTONIC_MIN_ROWS,
    Calibrator,
    ScoreScale,
    fit_calibrator,
)
from leadml.modeling._config import TrainConfig
from leadml.modeling._lgbm import FitInfo, refit_booster, train_booster
from leadml.modeling._linear import LogisticBaseline
from leadml.rules import PointsScorecard, ScorecardConfig

__all__ = ["Fitted", "OpenWindows", "fit_procedure"]


@dataclass(frozen=True)
class OpenWindows:
    """Rows whose label window is still open at the end of the procedure's data, and what is
    already seen of them: ``elapsed`` is the share of the horizon observed (0..1), ``converted``
    whether the lead converted in that part."""

    X: pd.DataFrame
    elapsed: np.ndarray
    converted: np.ndarray
    groups: np.ndarray
    """The lead of each row: rows of one lead convert together, so the noise is counted per lead."""


@dataclass
class Fitted:
    """What one run of the procedure produced."""

    booster: Any
    calibrator: Calibrator
    linear: LogisticBaseline
    linear_calibrator: Calibrator
    scorecard: PointsScorecard
    scale: ScoreScale
    linear_scale: ScoreScale
    fit_info: FitInfo
    blocks: dict[str, dict[str, Any]]
    notes: list[str] = field(default_factory=list)


def _block(mask: np.ndarray, t: np.ndarray, y: np.ndarray, fmt: Callable[[int], str]) -> dict:
    return {
        "rows": int(mask.sum()),
        "conversions": int(y[mask].sum()),
        "from": fmt(int(t[mask].min())) if mask.any() else None,
        "to": fmt(int(t[mask].max())) if mask.any() else None,
    }


def fit_procedure(
    X: pd.DataFrame,
    rules_x: pd.DataFrame,
    y: np.ndarray,
    t: np.ndarray,
    *,
    spec: FeatureSpec,
    rules: ScorecardConfig,
    config: TrainConfig,
    gap: int,
    fmt: Callable[[int], str] = str,
    delay: np.ndarray | None = None,
    open_windows: OpenWindows | None = None,
) -> Fitted:
    """Run the procedure on labelled rows.

    Parameters
    ----------
    X : DataFrame
        The features (``spec.feature_names_``), one row per labelled row.
    rules_x : DataFrame
        The scorecard's inputs for the same rows.
    y, t : ndarray
        Labels (0/1) and integer times (microseconds, or a rank in flat mode).
    gap : int
        In units of ``t``: a row's label is known at ``t + gap`` (the horizon; 0 in flat mode).
    fmt : callable
        Formats a time for messages and metadata.
    delay, open_windows : optional
        For the recent-rate check (``calibration.recent_rate``): per labelled row, how far into
        its window a conversion came (share of the horizon; NaN without one), and the rows whose
        window is still open.
    """
    y = np.asarray(y, dtype=np.int64)
    t = np.asarray(t, dtype=np.int64)
    cal = config.calibration
    notes: list[str] = []
    start, met, C, F = _blocks(t, y, cal, gap)
    without_gap = ""
    if gap > 0 and not _both(y[F]):
        start0, met0, C0, F0 = _blocks(t, y, cal, 0)
        without_gap = (
            f" Without that gap, the rows before the latest block ({fmt(start0)} on) are "
            f"{_describe(F0, t, y, fmt)} and the block {_describe(C0, t, y, fmt)}."
        )
        if _both(y[F0]) and _both(y[C0]):
            notes.append(
                f"calibration: the rows whose label was known when the calibration block starts "
                f"({fmt(start)}: {_describe(F, t, y, fmt)}) lack converted or not-converted rows: "
                "the history is short for a gap of one horizon inside the procedure. LightGBM is "
                f"fitted on every row before the block instead (before {fmt(start0)}: "
                f"{_describe(F0, t, y, fmt)}), whose label windows overlap the block's period, so "
                "the early stopping and the calibration are a little optimistic (the backtest's "
                "test rows are not affected)."
            )
            start, met, C, F = start0, met0, C0, F0
    if not met:
        notes.append(
            f"calibration: the latest block ({fmt(start)} on, {int(C.sum()):,} rows) holds "
            f"{int(y[C].sum()):,} conversions, fewer than calibration.min_conversions="
            f"{cal.min_conversions}: it grows no further than calibration.max_share="
            f"{cal.max_share} of the rows, nor past the point where it would hold more "
            f"conversions than the fitting rows ({int(y[F].sum()):,})."
        )
    if not _both(y[C]):
        raise ConfigError(
            f"train: the procedure's calibration block (the latest rows: {_describe(C, t, y, fmt)}) "
            "needs converted and not-converted rows. Fix: more history, or a larger "
            "calibration.share."
        )
    if not _both(y[F]):
        raise ConfigError(
            f"train: the procedure's fitting rows (those whose label was known when its "
            f"calibration block starts on {fmt(start)}: {_describe(F, t, y, fmt)}) need converted "
            f"and not-converted rows; the gap of one horizon before the block is long compared "
            f"with the history.{without_gap} Fix: a shorter horizon, more history, or a smaller "
            "calibration.share."
        )
    if cal.method == "isotonic" and not (
        C.sum() >= ISOTONIC_MIN_ROWS and y[C].sum() >= ISOTONIC_MIN_POSITIVES
    ):
        raise ConfigError(
            f"calibration.method='isotonic' needs >= {ISOTONIC_MIN_ROWS:,} rows and >= "
            f"{ISOTONIC_MIN_POSITIVES} conversions in the calibration block; the latest block "
            f"({_describe(C, t, y, fmt)}) has fewer. Fix: calibration.method 'auto' (isotonic "
            "when there is enough) or 'sigmoid', or a larger calibration.share."
        )
    lgb_cfg = config.lightgbm
    categorical = spec.categorical_features_
    _progress.stage(
        f"LightGBM on {int(F.sum()):,} rows, early stopping on the latest {int(C.sum()):,}"
    )
    booster_f, info = train_booster(
        X.loc[F],
        y[F],
        X.loc[C],
        y[C],
        categorical=categorical,
        params=lgb_cfg.params,
        seed=config.seed,
        search=lgb_cfg.search,
        num_boost_round=lgb_cfg.max_rounds,
        early_stopping_rounds=lgb_cfg.early_stopping_rounds,
    )
    _progress.stage(f"calibrating LightGBM on the latest {int(C.sum()):,} rows")
    margin_c = _margin(booster_f, X.loc[C])
    calibrator = fit_calibrator(margin_c, y[C], method=cal.method, what="LightGBM")
    _progress.stage(f"logistic regression on {int(F.sum()):,} rows")
    linear_f = LogisticBaseline().fit(X.loc[F], y[F], spec)
    lin_cal = fit_calibrator(
        linear_f.decision_function(X.loc[C]), y[C], method="sigmoid", what="logistic regression"
    )
    booster, linear = booster_f, linear_f
    if lgb_cfg.refit:
        _progress.stage(f"refit: {info.best_iteration} trees on all {len(y):,} rows")
        booster = refit_booster(
            X, y, categorical=categorical, params=info.params, num_boost_round=info.best_iteration
        )
        _progress.stage(f"logistic regression on all {len(y):,} rows")
        linear = LogisticBaseline().fit(X, y, spec)
        if cal.anchor:
            calibrator = calibrator.anchored(_margin(booster, X.loc[C]), y[C])
            lin_cal = lin_cal.anchored(linear.decision_function(X.loc[C]), y[C])
    notes += [c.note for c in (calibrator, lin_cal) if c.note]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CalibrationWarning)
        scorecard = PointsScorecard(rules=rules).fit(rules_x.loc[C], y[C])
    notes += [str(w.message) for w in caught if issubclass(w.category, CalibrationWarning)]
    recent: dict[str, Any] = {}
    if cal.recent_rate and delay is not None and open_windows is not None:
        timing = np.sort(np.asarray(delay, dtype=float)[C & (y == 1)])
        timing = timing[np.isfinite(timing)]
        p_open = calibrator.transform(_margin(booster, open_windows.X))
        recent = _recent_rate(timing, open_windows, p_open, cal.recent_min_z)
        if recent.get("applied"):
            calibrator = calibrator.shifted(recent["shift"])
            p_lin = lin_cal.transform(linear.decision_function(open_windows.X))
            lin = _recent_rate(timing, open_windows, p_lin, 0.0)
            if lin.get("ratio"):
                lin_cal = lin_cal.shifted(lin["shift"])
            notes.append(
                f"recent label windows: {recent['observed']:,} conversions already seen in the "
                f"{recent['rows']:,} rows whose window is still open, where the model expects "
                f"{recent['expected']:,.0f} by now (observed/expected {recent['ratio']:.2f}, "
                f"z = {recent['z']:.1f}): the base rate has moved since the latest complete "
                f"window; the intercept is moved by {recent['shift']:+.3f} (log-odds), so that "
                "the model expects what was seen."
            )
        elif recent.get("ratio") and abs(np.log(recent["ratio"])) >= np.log(1.1):
            notes.append(
                f"recent label windows: {recent['observed']:,} conversions already seen in the "
                f"{recent['rows']:,} rows whose window is still open, where the model expects "
                f"{recent['expected']:,.0f} by now (observed/expected {recent['ratio']:.2f}): the "
                f"base rate may be moving, but z = {recent['z']:.1f} is within "
                f"calibration.recent_min_z={cal.recent_min_z:g}, so the intercept is not moved. "
                "Watch the realised rate (leadml monitor)."
            )
    bands = dict(config.bands)
    p_c = calibrator.transform(_margin(booster, X.loc[C]))
    scale = ScoreScale.fit(p_c, bands)
    linear_scale = ScoreScale.fit(lin_cal.transform(linear.decision_function(X.loc[C])), bands)
    blocks = {
        "all": _block(np.ones(len(t), dtype=bool), t, y, fmt),
        "fit": _block(F, t, y, fmt),
        "calibration": _block(C, t, y, fmt),
        **({"recent": recent} if recent else {}),
    }
    return Fitted(
        booster=booster,
        calibrator=calibrator,
        linear=linear,
        linear_calibrator=lin_cal,
        scorecard=scorecard,
        scale=scale,
        linear_scale=linear_scale,
        fit_info=info,
        blocks=blocks,
        notes=notes,
    )


RECENT_MIN_EXPECTED = 30.0
"""The recent-rate check needs the model to expect at least this many conversions by now in the
open windows, and as many converted rows in the latest block to learn when conversions come."""


def _recent_rate(
    timing: np.ndarray, open_windows: OpenWindows, p: np.ndarray, min_z: float
) -> dict[str, Any]:
    """Observed vs expected conversions in the elapsed part of the open windows."""
    if len(timing) < RECENT_MIN_EXPECTED or not len(p):
        return {}
    share = np.searchsorted(timing, open_windows.elapsed, side="right") / len(timing)
    e_row = p * share
    o_row = np.asarray(open_windows.converted, dtype=float)
    expected, observed = float(e_row.sum()), int(o_row.sum())
    if expected < RECENT_MIN_EXPECTED or observed == 0:
        return {"rows": len(p), "observed": observed, "expected": expected, "applied": False}
    # cluster-robust variance: the rows of one lead are one unit (they convert together)
    codes = pd.factorize(pd.Series(open_windows.groups))[0]
    resid = np.bincount(codes, weights=o_row - e_row)
    z = (observed - expected) / np.sqrt(max(float(np.sum(resid**2)), expected * 1e-6))
    # the log-odds shift that makes the expected count match what was seen; log(ratio) only
    # approximates it for small p (a shift of log(r) raises p by less than r when p is not small)
    exact = observed < float(share.sum())
    shift = (
        fit_intercept(logit(p), o_row, exposure=share)
        if exact
        else float(np.log(observed / expected))
    )
    return {
        "rows": len(p),
        "observed": observed,
        "expected": expected,
        "ratio": observed / expected,
        "shift": float(shift),
        "z": float(z),
        "applied": bool(abs(z) > min_z),
    }


def _blocks(
    t: np.ndarray, y: np.ndarray, cal: Any, gap: int
) -> tuple[int, bool, np.ndarray, np.ndarray]:
    """The calibration block's start, whether it holds min_conversions, the block ``C`` and the
    fitting rows ``F`` (label known when ``C`` starts)."""
    start, met = recent_block_start(
        t,
        y,
        share=cal.share,
        min_conversions=cal.min_conversions,
        max_share=cal.max_share,
        gap=gap,
    )
    return start, met, t >= start, (t + gap <= start) & (t < start)


def _both(y: np.ndarray) -> bool:
    return bool(y.any() and (1 - y).any())


def _margin(booster: Any, X: pd.DataFrame) -> np.ndarray:
    return np.asarray(booster.predict(X, raw_score=True, validate_features=True), dtype=float)


def _describe(mask: np.ndarray, t: np.ndarray, y: np.ndarray, fmt: Callable[[int], str]) -> str:
    if not mask.any():
        return "no rows"
    return (
        f"{int(mask.sum()):,} rows from {fmt(int(t[mask].min()))} to {fmt(int(t[mask].max()))}, "
        f"{int(y[mask].sum()):,} conversions"
    )
