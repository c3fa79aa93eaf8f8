"""Scoring outputs people ask for: account roll-ups and capacity-aware thresholds."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from leadml.exceptions import ConfigError, DataContractError
from leadml.schema import examples

__all__ = ["account_rollup", "capacity_threshold"]


def account_rollup(
    scores: pd.DataFrame, leads: pd.DataFrame, *, hot_band: str = "hot"
) -> pd.DataFrame:
    """Per ``account_id``: the probability that at least one lead converts, hot leads, best lead.

    ``p_any = 1 - prod(1 - p_convert)`` over the account's leads, treating the leads as
    independent given their scores (leads of one account often convert together, so this is an
    upper bound). Leads without an account are not in any row; their number is in
    ``result.attrs["leads_without_account"]`` (and a few ids in ``..._examples``). Only open
    leads count (``status`` other than ``"open"``: lost, not yet created; their number is in
    ``result.attrs["not_open_rows_left_out"]``).
    """
    for col in ("lead_id", "p_convert", "band"):
        if col not in scores.columns:
            raise DataContractError(f"scores: column {col!r} missing; pass the output of score().")
    if "account_id" not in leads.columns:
        raise DataContractError("leads: column 'account_id' missing; an account roll-up needs it.")
    scores, left_out = _open_only(scores)
    acc = scores[["lead_id", "p_convert", "band"]].merge(
        leads[["lead_id", "account_id"]], on="lead_id", how="left", validate="many_to_one"
    )
    unknown = acc["account_id"].isna()
    out = acc.loc[~unknown].copy()
    out["log_not"] = np.log1p(-out["p_convert"].clip(upper=1 - 1e-15))
    out["is_hot"] = out["band"] == hot_band
    idx = out.groupby("account_id", sort=True)["p_convert"].idxmax()
    g = out.groupby("account_id", sort=True)
    res = pd.DataFrame(
        {
            "account_id": g.size().index,
            "leads": g.size().to_numpy(),
            "p_any_convert": 1 - np.exp(g["log_not"].sum().to_numpy()),
            "hot_leads": g["is_hot"].sum().to_numpy().astype(int),
            "best_lead_id": out.loc[idx.to_numpy(), "lead_id"].to_numpy(),
            "best_p_convert": out.loc[idx.to_numpy(), "p_convert"].to_numpy(),
        }
    )
    res = res.sort_values("p_any_convert", ascending=False, kind="stable").reset_index(drop=True)
    res.attrs["leads_without_account"] = int(unknown.sum())
    res.attrs["not_open_rows_left_out"] = left_out
    if unknown.any():
        res.attrs["leads_without_account_examples"] = examples(acc.loc[unknown, "lead_id"].tolist())
    return res


def capacity_threshold(
    scores: pd.DataFrame,
    *,
    capacity: int,
    per: Literal["day", "week", "month"] = "week",
    column: str = "p_convert",
) -> dict[str, float | int]:
    """The score cut that sends sales about ``capacity`` leads per period.

    Uses the recent scoring output (``as_of`` and ``p_convert``): the number of scored leads per
    period gives how many are above a cut on average; the cut is the ``capacity``-th highest
    ``p_convert`` per period on average (the quantile ``1 - capacity / leads_per_period``).
    Returns the cut, the leads per period above it, and the expected conversions above it per
    period (the sum of calibrated probabilities). Only open leads count (rows whose ``status`` is
    lost or not_created are left out, and counted in ``not_open_rows_left_out``).
    """
    if capacity <= 0:
        raise ConfigError(f"capacity must be positive, got {capacity}.")
    if column not in scores.columns or "as_of" not in scores.columns:
        raise DataContractError(
            f"scores: need columns 'as_of' and {column!r}; pass the output of score()."
        )
    freq = {"day": "D", "week": "W", "month": "M"}.get(per)
    if freq is None:
        raise ConfigError(f"per must be 'day', 'week' or 'month', got {per!r}.")
    scores, left_out = _open_only(scores)
    if not len(scores):
        raise DataContractError(
            f"scores: no open lead to set a threshold from ({left_out:,} rows are lost or not yet "
            "created)."
        )
    t = pd.to_datetime(scores["as_of"], utc=True)
    if t.isna().all():
        periods = 1
    else:
        periods = max(int(t.dt.tz_convert(None).dt.to_period(freq).nunique()), 1)
    p = np.sort(scores[column].to_numpy(dtype=float))[::-1]
    per_period = len(p) / periods
    if capacity >= per_period:
        cut = float(p[-1])
        above = p
    else:
        k = round(capacity * periods)
        cut = float(p[k - 1])
        above = p[p >= cut]
    return {
        "threshold": cut,
        "periods": periods,
        "leads_per_period": float(per_period),
        "leads_above_per_period": float(len(above) / periods),
        "expected_conversions_above_per_period": float(above.sum() / periods),
        "expected_conversions_per_period": float(p.sum() / periods),
        "not_open_rows_left_out": left_out,
    }


def _open_only(scores: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Rows sales can work: ``status == "open"`` (lost leads and leads scored before they existed
    are left out, and counted)."""
    if "status" not in scores.columns:
        return scores, 0
    open_ = (scores["status"] == "open").to_numpy()
    return scores.loc[open_], int((~open_).sum())
