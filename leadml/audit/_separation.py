"""The audit's fast check: columns that alone separate converted from not-converted rows.

A profile column that predicts the outcome almost perfectly on its own was usually filled in after
the outcome (a deal stage, a close date, a sales rep's tag), or identifies the lead. Computed out of
fold (level rates learned on one half of the leads, AUC measured on the other), so a column of
unique ids does not look predictive by memorising the labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from leadml.evaluation import roc_auc

__all__ = ["SEVERE_AUC", "WARN_AUC", "separation"]

SEVERE_AUC = 0.95
"""A single column with an out-of-fold AUC at least this far from 0.5 (or 1 - it) is a severe
finding: train warns and names it."""
WARN_AUC = 0.85


def _codes(s: pd.Series) -> np.ndarray | None:
    """Level codes of a categorical or text column (-1: missing); None for a numeric one."""
    if isinstance(s.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(s.dtype):
        return pd.factorize(s.astype("object"), use_na_sentinel=True)[0].astype(np.int64)
    return None


def separation(
    X: pd.DataFrame, y: np.ndarray, groups: np.ndarray, columns: Sequence[str]
) -> pd.DataFrame:
    """``column, auc, severity`` for each column: out-of-fold univariate ROC AUC, folded so that
    0.5 is no signal and 1 is perfect separation in either direction."""
    y = np.asarray(y, dtype=int)
    g = pd.util.hash_array(np.asarray(groups, dtype=object).astype(str)) % 2 == 0
    rows = []
    for col in columns:
        s = X[col].reset_index(drop=True)
        codes = _codes(s)
        if codes is not None:
            score = np.full(len(s), np.nan)
            for fit, ev in ((g, ~g), (~g, g)):
                rate = pd.Series(y[fit]).groupby(codes[fit]).mean()
                score[ev] = pd.Series(codes[ev]).map(rate).to_numpy(dtype=float)
            score = np.where(np.isnan(score), y.mean(), score)
        else:
            v = s.to_numpy(dtype=float, na_value=np.nan)
            score = np.where(np.isfinite(v), v, np.nanmin(v) - 1 if np.isfinite(v).any() else 0.0)
        if y.min() == y.max() or np.ptp(score) == 0:
            auc = 0.5
        else:
            a = roc_auc(y, (score - score.min()) / np.ptp(score))
            auc = max(a, 1 - a)
        sev = "severe" if auc >= SEVERE_AUC else "warning" if auc >= WARN_AUC else ""
        rows.append({"column": col, "auc": float(auc), "severity": sev})
    return (
        pd.DataFrame(rows).sort_values("auc", ascending=False, kind="stable").reset_index(drop=True)
    )
