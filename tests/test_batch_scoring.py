"""Batch scoring in bounded memory: the same rows and values as one in-memory call."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml.datasets import make_crm
from leadml.exceptions import ConfigError
from leadml.modeling import train
from leadml.scoring import write_scores
from leadml.scoring._batches import batches_of
from tests._fast import QUICK_TREES


@pytest.fixture(scope="module")
def model_and_data():
    crm = make_crm(1200, days=200, seed=4)
    res = train(
        crm.leads, crm.events, crm.conversions, every="7d", horizon="30d", n_boot=0,
        lightgbm=QUICK_TREES,
    )  # fmt: skip
    return res.model, crm


@pytest.mark.parametrize("batch_leads", [1, 97, 100_000])
def test_batches_write_what_one_call_returns(model_and_data, tmp_path, batch_leads):
    model, crm = model_and_data
    when = pd.Timestamp("2024-06-01", tz="UTC")
    leads = crm.leads.loc[crm.leads["created_at"] <= when].iloc[:300]
    res = write_scores(
        model, leads, crm.events, tmp_path / "s.parquet", as_of=when, reasons=2,
        batch_leads=batch_leads,
    )  # fmt: skip
    want = model.score(leads, crm.events, as_of=when, reasons=2)
    got = pd.read_parquet(res.path).set_index("lead_id").loc[want["lead_id"]].reset_index()
    assert res.rows == len(want) == len(leads)
    np.testing.assert_allclose(got["p_convert"], want["p_convert"], rtol=1e-12)
    for c in ("score", "grade", "band", "reason_1", "reason_neg_2", "scorecard_reasons"):
        assert got[c].tolist() == want[c].tolist(), c


def test_accounts_never_split_across_batches(model_and_data):
    _, crm = model_and_data
    b = batches_of(crm.leads, 10)
    acc = crm.leads["account_id"]
    per_account = pd.Series(b[acc.notna().to_numpy()]).groupby(acc.dropna().to_numpy()).nunique()
    assert (per_account == 1).all()
    assert b.max() >= len(crm.leads) // 40  # many batches: the batch size is honoured


def test_bad_arguments_are_named(model_and_data, tmp_path):
    model, crm = model_and_data
    with pytest.raises(ConfigError, match="batch_leads"):
        write_scores(model, crm.leads, crm.events, tmp_path / "s.parquet", batch_leads=0)
    with pytest.raises(ConfigError, match=r"\.parquet"):
        write_scores(model, crm.leads, crm.events, tmp_path / "s.csv")
