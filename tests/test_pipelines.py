"""pipelines/ runs as it is: every config loads, the training config trains through the CLI, and
after the demo the scheduled jobs (score, monitor, retrain) run from their YAML files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from leadml.cli import app
from leadml.datasets import make_crm
from leadml.jobs import (
    EXIT_KEPT,
    MonitorConfig,
    RetrainConfig,
    ScoreJobConfig,
    load_job_config,
    run_demo,
)
from leadml.modeling import LeadScoringModel, TrainConfig

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ROOT / "pipelines"
KINDS = {
    "weekly_retrain.yaml": TrainConfig,
    "retrain.yaml": RetrainConfig,
    "monitor.yaml": MonitorConfig,
    "score_daily.yaml": ScoreJobConfig,
}


def test_every_pipeline_file_is_known_and_loads():
    files = {p.name for p in PIPELINES.glob("*.yaml")}
    assert files == set(KINDS), "a new pipelines/ YAML needs its config class here"
    for name, cls in KINDS.items():
        if cls is TrainConfig:
            TrainConfig.from_yaml(PIPELINES / name)
        else:
            load_job_config(cls, PIPELINES / name)
    assert (PIPELINES / "crontab.example").is_file()
    assert (PIPELINES / "airflow_dag.py").is_file()
    compile((PIPELINES / "airflow_dag.py").read_text(), "airflow_dag.py", "exec")


def test_the_training_config_trains_through_the_cli(tmp_path, monkeypatch):
    path = PIPELINES / "weekly_retrain.yaml"
    cfg = TrainConfig.from_yaml(path)
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


@pytest.fixture(scope="module")
def after_demo(tmp_path_factory):
    """The repository's layout with pipelines/ and models/ as they are, after a (small) demo."""
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(PIPELINES, root / "pipelines")
    shutil.copytree(ROOT / "models", root / "models")
    run_demo(3000, out=root / "demo_output", n_boot=0)
    return root


def _run(*args):
    return CliRunner().invoke(app, ["--quiet", *map(str, args)])


def test_the_scheduled_jobs_run_as_they_are_after_the_demo(after_demo):
    p = after_demo / "pipelines"
    res = _run("score-job", "--config", p / "score_daily.yaml")
    assert res.exit_code == 0, res.output
    scores = list((after_demo / "demo_output" / "scores").glob("scores_*.parquet"))
    assert len(scores) == 1
    res = _run("monitor", "--config", p / "monitor.yaml")
    assert res.exit_code == 0, res.output
    assert (after_demo / "demo_output" / "monitor" / "index.html").is_file()
    # the demo's champion was trained on all of this data: nothing new to judge a challenger on
    res = _run("retrain", "--config", p / "retrain.yaml")
    assert res.exit_code == EXIT_KEPT, res.output
    assert "no new outcomes yet" in res.output
    res = _run(
        "history",
        "leadml",
        "--tracking-uri",
        f"sqlite:///{after_demo / 'demo_output' / 'mlflow.db'}",
    )
    assert res.exit_code == 0, res.output
    assert "demo" in res.output
    # the configs name real things: the demo's scorecard, the gate's segments
    cfg, _ = load_job_config(RetrainConfig, p / "retrain.yaml")
    assert Path(cfg.train.rules).resolve() == (after_demo / "models" / "scorecard.yaml").resolve()
    assert yaml.safe_load((p / "retrain.yaml").read_text())["gate"]["segments"] == [
        "lead_source",
        "country",
    ]
