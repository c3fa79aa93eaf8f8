"""Every scheduled job's configuration in pipelines/ loads and trains through the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadml.cli import app
from leadml.datasets import make_crm
from leadml.modeling import LeadScoringModel, TrainConfig

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "pipelines").glob("*.yaml"))


def test_there_are_pipeline_configs():
    assert CONFIGS, "pipelines/ holds the scheduled jobs' configurations"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_the_config_loads_and_trains_through_the_cli(path, tmp_path, monkeypatch):
    cfg = TrainConfig.from_yaml(path)
    assert cfg.every is not None
    shutil.copytree(ROOT / "models", tmp_path / "models")  # rules paths are relative to the repo
    monkeypatch.chdir(tmp_path)
    crm = make_crm(2500, seed=5)
    crm.leads.to_csv("leads.csv", index=False)
    crm.events.to_parquet("events.parquet")
    crm.conversions.to_csv("conversions.csv", index=False)
    res = CliRunner().invoke(
        app,
        ["--quiet", "train", "--config", str(path), "--leads", "leads.csv", "--events",
         "events.parquet", "--conversions", "conversions.csv", "--n-boot", "0", "--no-mlflow",
         "--out", "model"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    model = LeadScoringModel.load(tmp_path / "model")
    assert model.metadata["config"]["horizon"] == cfg.horizon
