"""Batch scoring on a real local Spark with a registered model: the in-process scores, reasons
included, for every lead; per-row scoring times; whole accounts per bucket; nothing dropped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadml.datasets import make_crm
from leadml.exceptions import DataContractError, RowsExcludedWarning
from leadml.modeling import train
from leadml.tracking import log_training, promote
from leadml.tracking._spark import score_spark
from tests._fast import QUICK_TREES

pytestmark = pytest.mark.spark

WHEN = pd.Timestamp("2024-06-15", tz="UTC")


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    crm = make_crm(1500, days=200, seed=3)
    res = train(
        crm.leads,
        crm.events,
        crm.conversions,
        every="7d",
        horizon="30d",
        rules="models/scorecard.yaml",
        n_boot=10,
        seed=0,
        lightgbm=QUICK_TREES,
    )
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    info = log_training(res, tracking_uri=uri, register="leadml_spark")
    promote("leadml_spark", info["version"], tracking_uri=uri)
    leads = crm.leads.loc[crm.leads["created_at"] <= WHEN].reset_index(drop=True)
    events = crm.events.loc[crm.events["lead_id"].isin(leads["lead_id"])].reset_index(drop=True)
    return uri, res.model, leads, events


def _same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    got = got.set_index("lead_id").loc[want["lead_id"]].reset_index()
    assert len(got) == len(want)
    np.testing.assert_allclose(got["p_convert"], want["p_convert"], rtol=1e-12, atol=0)
    for c in want.columns:
        if c in ("p_convert", "as_of"):
            continue
        a, b = got[c].to_numpy(dtype=object), want[c].to_numpy(dtype=object)
        assert all((x == y) or (pd.isna(x) and pd.isna(y)) for x, y in zip(a, b, strict=True)), c


def test_champion_on_spark_equals_in_process_scores_with_reasons(registered, spark, tmp_path):
    uri, model, leads, events = registered
    events.to_parquet(tmp_path / "events.parquet")
    out = score_spark(
        "models:/leadml_spark@champion",
        leads,
        str(tmp_path / "events.parquet"),
        as_of=WHEN,
        reasons=3,
        tracking_uri=uri,
    ).toPandas()
    want = model.score(leads, events, as_of=WHEN, reasons=3)
    _same(out, want)
    assert set(out["model_name"]) == {"leadml_spark"}
    assert set(out["model_version"]) == {"1"}
    assert (pd.to_datetime(out["as_of"], utc=True) == WHEN).all()
    # the model has account roll-ups, so buckets must hold whole accounts for this to be equal
    assert any(n.startswith("account_") or "account" in n for n in model.spec.feature_names_)


def test_each_lead_at_its_own_time_and_without_events(registered, spark):
    _, model, leads, events = registered
    rng = np.random.default_rng(1)
    as_of = pd.to_datetime(leads["created_at"], utc=True) + pd.to_timedelta(
        rng.integers(1, 60 * 24, len(leads)), unit="h"
    )
    rows = leads.assign(as_of=as_of)
    got = score_spark(model, rows, events, reasons=2).toPandas()
    cut = pd.DataFrame({"lead_id": leads["lead_id"], "as_of": as_of})
    _same(got, model.score(leads, events, cutoffs=cut, reasons=2))
    alone = score_spark(model, leads.iloc[:50], None, as_of=WHEN, reasons=1).toPandas()
    _same(alone, model.score(leads.iloc[:50], None, as_of=WHEN, reasons=1))


def test_events_of_unknown_leads_are_refused_or_counted(registered, spark):
    _, model, leads, events = registered
    ghost = pd.concat([events, events.iloc[[0]].assign(lead_id="ghost-7")], ignore_index=True)
    with pytest.raises(DataContractError, match=r"1 row\(s\) reference leads.*ghost-7"):
        score_spark(model, leads, ghost, as_of=WHEN)
    with pytest.warns(RowsExcludedWarning, match="dropped 1 row.*ghost-7"):
        out = score_spark(model, leads, ghost, as_of=WHEN, unknown_leads="drop")
    assert out.count() == len(leads)
