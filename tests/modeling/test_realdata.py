"""Real datasets in flat mode (skipped when ../shared/datasets is absent)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from leadml.modeling import LeadScoringModel, train_flat
from tests.conftest import SHARED

ROOT = Path(__file__).resolve().parents[2]
X_PATH = SHARED / "x-education-leads" / "Leads.csv"
BANK_PATH = SHARED / "uci-bank-marketing" / "bank-additional-full.csv"
X_LEAKY = [
    "Tags",
    "Lead Quality",
    "Lead Profile",
    "Asymmetrique Activity Index",
    "Asymmetrique Profile Index",
    "Asymmetrique Activity Score",
    "Asymmetrique Profile Score",
    "Last Notable Activity",
]


@pytest.mark.realdata
@pytest.mark.skipif(not X_PATH.exists(), reason=f"{X_PATH} not found")
def test_x_education_leakage_is_visible_and_model_beats_rules(tmp_path):
    df = pd.read_csv(X_PATH)
    kw = dict(
        label="Converted",
        id_column="Prospect ID",
        na_values=["Select"],
        split="random",
        rules=ROOT / "models" / "scorecard_x_education.yaml",
        n_boot=0,
    )
    honest = train_flat(df, exclude=["Lead Number", *X_LEAKY], **kw)
    leaky = train_flat(df, exclude=["Lead Number"], **kw)
    h, leak = honest.report.metrics, leaky.report.metrics
    assert "Tags" not in honest.model.feature_names
    assert "Tags" in leaky.model.feature_names
    assert h.loc["lightgbm", "auc"] > h.loc["rules", "auc"]
    assert h.loc["lightgbm", "log_loss"] < h.loc["rules", "log_loss"]
    # columns filled in after contact make the model look far better than it can be
    assert leak.loc["lightgbm", "auc"] > h.loc["lightgbm", "auc"] + 0.04
    # scoring new leads from the raw export works, with "Select" read as missing
    model = LeadScoringModel.load(honest.model.save(tmp_path / "x"))
    leads = df.drop(columns=["Converted"]).rename(columns={"Prospect ID": "lead_id"}).head(100)
    scores = model.score(leads)
    assert len(scores) == 100
    assert scores["p_convert"].between(0, 1).all()


@pytest.mark.realdata
@pytest.mark.skipif(not BANK_PATH.exists(), reason=f"{BANK_PATH} not found")
def test_bank_marketing_chronological_without_duration():
    df = pd.read_csv(BANK_PATH, sep=";")
    res = train_flat(
        df,
        label="y",
        positive="yes",
        exclude=["duration"],
        split="order",
        rules=ROOT / "models" / "scorecard_bank_marketing.yaml",
        n_boot=0,
    )
    assert "duration" not in res.model.feature_names
    # chronological: every test row comes after every training row
    w = res.training_set["window"].to_numpy()
    assert (w[-len(w) // 5 :] == "test").all()
    assert (w[: len(w) // 2] == "train").all()
    m = res.report.metrics
    assert res.report.info["rows"] == 8238
    assert m.loc["rules", "auc"] > 0.6  # a sensible hand-written scorecard transfers in time
    # the base rate moves from 5 % to 31 %: the shipped model's calibration follows the latest rows
    block = res.model.metadata["production"]["blocks"]["calibration"]
    latest = res.training_set[res.training_set["order"] >= int(block["from"].split()[1])]
    assert latest["label"].mean() > 0.2
    assert res.model.predict_proba(latest).mean() == pytest.approx(latest["label"].mean(), rel=0.1)
