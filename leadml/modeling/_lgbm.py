"""LightGBM training: native categoricals, early stopping out of time, deterministic."""

from __future__ import annotations

import difflib
import functools
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadml import _progress
from leadml.exceptions import ConfigError

__all__ = [
    "DEFAULT_PARAMS",
    "SEARCH_GRID",
    "FitInfo",
    "canonical_params",
    "default_params",
    "refit_booster",
    "train_booster",
]

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.03,
    "num_leaves": 7,
    "min_data_in_leaf": "auto",  # square root of the training rows, at least 20
    "feature_fraction": 0.5,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "min_data_per_group": 50,
    "cat_smooth": 10.0,
    "max_cat_to_onehot": 8,
    "extra_trees": True,
}
"""Small trees and strong regularisation: lead data is noisy and conversions are rare.
``extra_trees`` (random split thresholds) gave a better backtest AUC on every synthetic shape
and seed tried (benchmarks/README.md), with a flatter optimum in the number of trees.

No ``is_unbalance`` / ``scale_pos_weight``: re-weighting classes breaks calibration.
"""

FIXED: dict[str, Any] = {
    "deterministic": True,
    "force_col_wise": True,
    "verbosity": -1,
    "feature_pre_filter": False,
}
FORBIDDEN = {"is_unbalance", "scale_pos_weight", "pos_bagging_fraction", "neg_bagging_fraction"}
SEARCH_GRID: dict[str, list[Any]] = {
    "num_leaves": [7, 15, 31],
    "min_data_in_leaf": ["auto", "4x"],
    "feature_fraction": [0.5, 0.8],
}


@dataclass(frozen=True)
class FitInfo:
    """What training did: the parameters used, the best iteration, the validation log loss,
    and (with a search) every candidate's result."""

    params: dict[str, Any]
    best_iteration: int
    valid_log_loss: float
    search: list[dict[str, Any]]


@functools.cache
def _param_names() -> dict[str, str]:
    """Every LightGBM parameter name and alias -> its main name (from the installed LightGBM)."""
    from lightgbm.basic import _ConfigAliases

    table: dict[str, list[str]] = _ConfigAliases._get_all_param_aliases()
    out = {main: main for main in table}
    for main, aliases in table.items():
        for alias in aliases:
            out.setdefault(alias, main)
    return out


def canonical_params(params: Mapping[str, Any], where: str = "lightgbm.params") -> dict[str, Any]:
    """``params`` with LightGBM's main names: an alias (``num_leaf``) becomes its main name
    (``num_leaves``), so it overrides leadml's default instead of competing with it (LightGBM
    would keep the main name's value). An unknown name, which LightGBM would ignore, or two names
    for one parameter, is a :class:`ConfigError`."""
    names = _param_names()
    out: dict[str, Any] = {}
    given: dict[str, str] = {}
    for key, value in params.items():
        main = names.get(str(key))
        if main is None:
            close = difflib.get_close_matches(str(key), list(names), n=1, cutoff=0.7)
            hint = f" (did you mean {names[close[0]]!r}?)" if close else ""
            raise ConfigError(
                f"{where}: {key!r} is not a LightGBM parameter{hint}; LightGBM would ignore it. "
                "Fix: correct or remove it (the names are listed in "
                "https://lightgbm.readthedocs.io/en/stable/Parameters.html)."
            )
        if main in given:
            raise ConfigError(
                f"{where}: {given[main]!r} and {key!r} are the same LightGBM parameter "
                f"({main!r}). Fix: keep one of them."
            )
        given[main] = str(key)
        out[main] = value
    return out


def refuse_unsupported(params: Mapping[str, Any]) -> None:
    """A :class:`ConfigError` for parameters (under LightGBM's main names) that leadml does not
    allow: class re-weighting, which breaks calibration, and linear leaves."""
    bad = FORBIDDEN & set(params)
    if bad:
        raise ConfigError(
            f"LightGBM parameter(s) {sorted(bad)} re-weight the classes and break probability "
            "calibration; leadml does not allow them. Fix: remove them (rare conversions are fine "
            "without re-weighting)."
        )
    if params.get("linear_tree"):
        raise ConfigError(
            "LightGBM parameter 'linear_tree': leaves with linear models are not "
            "supported: leadml's exact reasons read constant leaves, so the "
            "explanations would be wrong (and it did not improve the backtest AUC: "
            "benchmarks/README.md). Fix: remove it."
        )


def default_params(
    n_train: int, params: Mapping[str, Any] | None = None, seed: int = 0
) -> dict[str, Any]:
    """The parameters LightGBM receives: defaults, then ``params`` (aliases resolved to
    LightGBM's main names, unknown names refused), then the fixed ones."""
    out = {**DEFAULT_PARAMS, **canonical_params(params or {})}
    refuse_unsupported(out)
    auto = max(20, round(float(np.sqrt(n_train))))
    mdl = out.get("min_data_in_leaf")
    if mdl == "auto":
        out["min_data_in_leaf"] = auto
    elif mdl == "4x":
        out["min_data_in_leaf"] = 4 * auto
    out.update(FIXED)
    out["seed"] = seed
    out.setdefault("num_threads", 0)
    return out


def train_booster(
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_valid: pd.DataFrame,
    y_valid: np.ndarray,
    *,
    categorical: list[str],
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    num_boost_round: int = 3000,
    early_stopping_rounds: int = 150,
    search: bool = False,
) -> tuple[Any, FitInfo]:
    """Train a binary LightGBM model with early stopping on the (later) validation window.

    With ``search=True``, first tries the small grid ``SEARCH_GRID`` (12 candidates) and keeps
    the one with the lowest validation log loss; the validation window is always later in time
    than the training window.
    """
    import lightgbm as lgb

    if len(np.unique(y_valid)) < 2 or len(np.unique(y_train)) < 2:
        raise ConfigError(
            "LightGBM: the fitting rows and the validation rows each need converted and "
            f"not-converted rows; got {int(np.sum(y_train))} conversions in {len(y_train):,} rows "
            f"and {int(np.sum(y_valid))} in {len(y_valid):,}. Fix: use more data or a longer "
            "horizon."
        )
    dtrain = lgb.Dataset(
        X_train, label=y_train, categorical_feature=categorical, free_raw_data=False
    )
    dvalid = lgb.Dataset(X_valid, label=y_valid, reference=dtrain, free_raw_data=False)
    base = canonical_params(params or {})
    candidates = [base]
    if search:
        keys = list(SEARCH_GRID)
        candidates = [
            {**base, **dict(zip(keys, combo, strict=True))}
            for combo in itertools.product(*(SEARCH_GRID[k] for k in keys))
        ]
    results = []
    best: tuple[float, Any, dict[str, Any], int] | None = None
    for cand in candidates:
        p = default_params(len(X_train), cand, seed)
        p["metric"] = "binary_logloss"
        booster = lgb.train(
            p,
            dtrain,
            num_boost_round=num_boost_round,
            valid_sets=[dvalid],
            valid_names=["valid"],
            callbacks=[
                lgb.early_stopping(early_stopping_rounds, verbose=False),
                _progress_callback("trees (early stopping)", num_boost_round),
            ],
        )
        loss = float(booster.best_score["valid"]["binary_logloss"])
        results.append(
            {
                **{k: p[k] for k in SEARCH_GRID},
                "best_iteration": booster.best_iteration,
                "valid_log_loss": loss,
            }
        )
        if best is None or loss < best[0]:
            best = (loss, booster, p, booster.best_iteration)
    assert best is not None
    loss, booster, p, it = best
    # keep only the trees up to the best iteration, so the saved model is exactly what scores
    model = lgb.Booster(model_str=booster.model_to_string(num_iteration=it))
    return model, FitInfo(
        params=p, best_iteration=int(it), valid_log_loss=loss, search=results if search else []
    )


def refit_booster(
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    categorical: list[str],
    params: Mapping[str, Any],
    num_boost_round: int,
) -> Any:
    """Refit with the resolved ``params`` of :func:`train_booster` (its :attr:`FitInfo.params`)
    and a fixed number of trees, on more rows (the production fit on all labelled history)."""
    import lightgbm as lgb

    if len(np.unique(y)) < 2:
        raise ConfigError(
            f"LightGBM refit: the rows need converted and not-converted rows; got "
            f"{int(np.sum(y))} conversions in {len(y):,} rows."
        )
    p = {k: v for k, v in params.items() if k != "metric"}
    data = lgb.Dataset(X, label=y, categorical_feature=categorical, free_raw_data=False)
    n = max(1, int(num_boost_round))
    booster = lgb.train(p, data, num_boost_round=n, callbacks=[_progress_callback("trees", n)])
    return lgb.Booster(model_str=booster.model_to_string())


def _progress_callback(label: str, total: int) -> Callable[[Any], None]:
    """A LightGBM callback reporting boosting rounds as countable progress (every 10 rounds)."""

    def report(env: Any) -> None:
        done = env.iteration + 1
        if done % 10 == 0 or done == total:
            _progress.step(label, done, total)

    return report
