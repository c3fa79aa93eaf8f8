"""A logistic-regression reference on the same features, stored as plain parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leadml._math import sigmoid
from leadml.features import FeatureSpec

__all__ = ["LogisticBaseline"]

LOG_KINDS = {
    "count",
    "count_ever",
    "active_days",
    "decay",
    "recency",
    "lead_age",
    "account_leads",
    "account_active",
    "account_events",
}


@dataclass
class LogisticBaseline:
    """Standardised logistic regression (L2) on the feature spec's columns.

    Preprocessing, learned on the training window: behaviour counts, recencies and ages go
    through ``log1p``; missing numeric values get the training median plus a missing indicator;
    categoricals are one-hot encoded on the spec's fitted levels (missing: all zeros). What many
    data scientists would try first, and a check that the trees earn their complexity.
    """

    C: float = 0.1
    numeric_: list[str] = field(default_factory=list)
    log_: list[str] = field(default_factory=list)
    median_: dict[str, float] = field(default_factory=dict)
    missing_: list[str] = field(default_factory=list)
    categorical_: dict[str, list[str]] = field(default_factory=dict)
    mean_: list[float] = field(default_factory=list)
    scale_: list[float] = field(default_factory=list)
    coef_: list[float] = field(default_factory=list)
    intercept_: float = 0.0

    def _design(self, X: pd.DataFrame) -> np.ndarray:
        cols = []
        for c in self.numeric_:
            v = X[c].to_numpy(dtype=float, na_value=np.nan)
            if c in self.log_:
                v = np.log1p(np.clip(v, 0, None))
            cols.append(np.where(np.isnan(v), self.median_[c], v))
        for c in self.missing_:
            cols.append(X[c].isna().to_numpy(dtype=float))
        for c, levels in self.categorical_.items():
            vals = X[c].astype("object").to_numpy()
            for lv in levels:
                cols.append((vals == lv).astype(float))
        return np.column_stack(cols) if cols else np.zeros((len(X), 0))

    def fit(self, X: pd.DataFrame, y: np.ndarray, spec: FeatureSpec) -> LogisticBaseline:
        from sklearn.linear_model import LogisticRegression

        cats = spec.categorical_features_
        self.numeric_ = [c for c in spec.feature_names_ if c not in cats]
        self.log_ = [
            c for c in self.numeric_ if spec.feature_meta_.get(c, {}).get("kind") in LOG_KINDS
        ]
        self.median_ = {}
        for c in self.numeric_:
            v = X[c].to_numpy(dtype=float, na_value=np.nan)
            if c in self.log_:
                v = np.log1p(np.clip(v, 0, None))
            med = np.nanmedian(v) if np.isfinite(v).any() else 0.0
            self.median_[c] = float(med)
        self.missing_ = [c for c in self.numeric_ if X[c].isna().any()]
        names = spec.profile_names_
        self.categorical_ = {names[c]: list(spec.levels_[c]) for c in spec.categorical_}
        Z = self._design(X)
        self.mean_ = Z.mean(axis=0).tolist()
        sd = Z.std(axis=0)
        self.scale_ = np.where(sd > 0, sd, 1.0).tolist()
        Zs = (Z - np.asarray(self.mean_)) / np.asarray(self.scale_)
        # Newton-Cholesky: rows >> columns here; the same optimum as lbfgs in ~8 steps, not ~500
        lr = LogisticRegression(C=self.C, max_iter=200, tol=1e-8, solver="newton-cholesky").fit(
            Zs, np.asarray(y)
        )
        self.coef_ = lr.coef_.ravel().tolist()
        self.intercept_ = float(lr.intercept_[0])
        return self

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        Z = (self._design(X) - np.asarray(self.mean_)) / np.asarray(self.scale_)
        return Z @ np.asarray(self.coef_) + self.intercept_

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return sigmoid(self.decision_function(X))

    def to_dict(self) -> dict[str, Any]:
        return {
            "C": self.C,
            "numeric": self.numeric_,
            "log": self.log_,
            "median": self.median_,
            "missing": self.missing_,
            "categorical": self.categorical_,
            "mean": self.mean_,
            "scale": self.scale_,
            "coef": self.coef_,
            "intercept": self.intercept_,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LogisticBaseline:
        return cls(
            C=float(d["C"]),
            numeric_=list(d["numeric"]),
            log_=list(d["log"]),
            median_={k: float(v) for k, v in d["median"].items()},
            missing_=list(d["missing"]),
            categorical_={k: list(v) for k, v in d["categorical"].items()},
            mean_=[float(v) for v in d["mean"]],
            scale_=[float(v) for v in d["scale"]],
            coef_=[float(v) for v in d["coef"]],
            intercept_=float(d["intercept"]),
        )
