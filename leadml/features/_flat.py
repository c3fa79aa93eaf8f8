"""Flat mode: one row per lead with pre-aggregated columns and a label column."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from leadml.exceptions import DataContractError
from leadml.features._spec import FeatureSpec
from leadml.schema import examples, to_utc

__all__ = ["binary_label", "build_flat_training_set"]

_TRUE = {"1", "true", "yes", "y", "t", "converted", "won"}
_FALSE = {"0", "false", "no", "n", "f", "not converted", "lost"}


def binary_label(
    values: pd.Series, *, column: str, ids: pd.Series, positive: Any = None
) -> np.ndarray:
    """Turn a label column into 0/1, or raise a clear error if it is not binary."""
    s = values
    if s.isna().any():
        bad = s.isna().to_numpy()
        raise DataContractError(
            f"table.{column}: the label has {int(bad.sum())} missing value(s) at lead ids "
            f"{examples(ids[bad].tolist())}. Fix: drop unlabelled rows or fill them."
        )
    if positive is not None:
        return (s.astype(str) == str(positive)).to_numpy().astype("int8")
    uniq = pd.unique(s)
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy().astype("int8")
    if pd.api.types.is_numeric_dtype(s.dtype) and set(np.asarray(uniq, dtype=float)) <= {0.0, 1.0}:
        return s.to_numpy().astype("int8")
    low = {str(v).strip().lower() for v in uniq}
    if low <= _TRUE | _FALSE and not (low & _TRUE and low & _FALSE and len(low) > 2):
        return s.astype(str).str.strip().str.lower().isin(_TRUE).to_numpy().astype("int8")
    raise DataContractError(
        f"table.{column}: the label must be binary (0/1, True/False or yes/no); found "
        f"{len(uniq)} distinct value(s): {examples(list(uniq))}. Fix: pass positive=<value> "
        "(CLI: --positive) to say which value means 'converted'."
    )


def build_flat_training_set(
    table: pd.DataFrame,
    *,
    label: str,
    id_column: str | None = None,
    time_column: str | None = None,
    positive: Any = None,
    exclude: Sequence[str] = (),
    spec: FeatureSpec | None = None,
) -> pd.DataFrame:
    """Training set from one row per lead: ``lead_id, as_of``, profile features, ``label``, ``censored``.

    ``as_of`` comes from ``time_column`` (for out-of-time splits) or is missing. With no
    ``id_column`` the row number is the lead id. ``exclude`` lists columns that must not be
    features (identifiers, columns filled in after contact: leakage). ``spec`` is fitted in place
    (profile features only) unless already fitted.
    """
    if not isinstance(table, pd.DataFrame) or len(table) == 0:
        raise DataContractError("table: expected a non-empty pandas DataFrame.")
    need = [c for c in [label, id_column, time_column, *exclude] if c is not None]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise DataContractError(
            f"table: column(s) {missing} not found; received {list(table.columns)}. "
            "Fix: check --label/--id/--time/--exclude."
        )
    df = table.reset_index(drop=True)
    ids = df[id_column] if id_column else pd.Series(np.arange(len(df)), name="lead_id")
    if id_column and ids.duplicated().any():
        raise DataContractError(
            f"table.{id_column}: duplicate lead ids {examples(ids[ids.duplicated()].tolist())}. "
            "Fix: one row per lead."
        )
    y = binary_label(df[label], column=label, ids=ids, positive=positive)
    if len(np.unique(y)) < 2:
        raise DataContractError(
            f"table.{label}: the label has a single class ({int(y[0])}) in all {len(y)} rows; a model "
            "needs both converted and not-converted leads."
        )
    as_of = (
        to_utc(df[time_column], table="table", column=time_column, frame=df.assign(lead_id=ids))
        if time_column
        else pd.Series(pd.NaT, index=df.index, dtype="datetime64[us, UTC]")
    )
    drop = (
        {label, *exclude}
        | ({id_column} if id_column else set())
        | ({time_column} if time_column else set())
    )
    prof = df.drop(columns=[c for c in df.columns if c in drop])
    prof.insert(0, "lead_id", ids.to_numpy())
    spec = spec if spec is not None else FeatureSpec(behaviour=False)
    if not spec.fitted_:
        spec.fit(prof)
    feats = spec.profile_frame(prof, prof["lead_id"])
    out = pd.concat(
        [
            pd.DataFrame({"lead_id": ids.to_numpy(), "as_of": as_of.reset_index(drop=True)}),
            feats,
            pd.DataFrame(
                {"label": pd.array(y, dtype="Int8"), "censored": np.zeros(len(df), dtype=bool)}
            ),
        ],
        axis=1,
    )
    return out
