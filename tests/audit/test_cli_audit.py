"""``leadml audit``: the table it prints, its exit codes and its outputs; train's fast checks."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadml.audit import EXIT_FINDINGS
from leadml.cli import app
from leadml.datasets import make_crm
from leadml.exceptions import LeakageWarning
from leadml.modeling import train, train_flat

runner = CliRunner()
QUICK = {"n_boot": 0, "lightgbm": {"max_rounds": 40, "early_stopping_rounds": 10}}


@pytest.fixture(scope="module")
def flat_csv(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 1500
    y = (rng.random(n) < 0.3).astype(int)
    df = pd.DataFrame(
        {
            "Prospect ID": [f"p{i}" for i in range(n)],
            "source": rng.choice(["web", "ads", "Select"], n),
            "visits": rng.poisson(3 + 2 * y),
            "Converted": y,
        }
    )
    honest = tmp_path_factory.mktemp("flat") / "honest.csv"
    df.to_csv(honest, index=False)
    leaky = honest.with_name("leaky.csv")
    df.assign(stage=np.where(y == 1, "won", "lost")).to_csv(leaky, index=False)
    return honest, leaky


def run(*args):
    return runner.invoke(app, ["--quiet", "audit", *map(str, args)])


def test_flat_exit_codes_follow_fail_on(flat_csv, tmp_path):
    honest, leaky = flat_csv
    common = ["--label", "Converted", "--id-column", "Prospect ID", "--na-value", "Select"]
    res = run("--table", honest, *common)
    assert res.exit_code == 0, res.output
    assert "leakage audit: no findings" in res.output
    res = run("--table", leaky, *common, "--out", tmp_path / "f.json")
    assert res.exit_code == EXIT_FINDINGS == 6, res.output
    assert "stage" in res.output
    assert "severe" in res.output
    found = json.loads((tmp_path / "f.json").read_text())["findings"]
    assert {"check": "separation", "column": "stage"}.items() <= found[0].items()
    assert run("--table", leaky, *common, "--fail-on", "never").exit_code == 0
    res = run("--table", leaky, *common, "--exclude", "stage", "--fail-on", "warning")
    assert res.exit_code == 0, res.output
    res = run("--table", leaky, *common, "--out", tmp_path / "f.md")
    assert (tmp_path / "f.md").read_text().startswith("| severity |")


def test_bad_invocations_exit_2_with_the_fix(flat_csv):
    honest, _ = flat_csv
    res = run("--table", honest)
    assert res.exit_code == 2
    assert "needs --label" in res.output
    res = run("--label", "Converted")
    assert res.exit_code == 2
    assert "either --table" in res.output
    res = run("--table", honest, "--label", "Converted", "--fail-on", "info")
    assert res.exit_code == 2
    assert "--fail-on must be" in res.output
    res = run("--table", honest, "--label", "Converted", "--out", "x.txt")
    assert res.exit_code == 2
    assert ".csv, .md or .json" in res.output
    res = run("--table", honest, "--label", "converted")
    assert res.exit_code == 2
    assert "not found" in res.output


def test_event_mode_flags_onboarding_events(tmp_path):
    crm = make_crm(1500, days=240, onboarding_events=True, seed=2)
    crm.leads.to_csv(tmp_path / "leads.csv", index=False)
    crm.events.to_parquet(tmp_path / "events.parquet")
    crm.conversions.to_csv(tmp_path / "conv.csv", index=False)
    res = run(
        "--leads", tmp_path / "leads.csv",
        "--events", tmp_path / "events.parquet",
        "--conversions", tmp_path / "conv.csv",
        "--updated-at", "updated_at",
        "--out", tmp_path / "f.csv",
    )  # fmt: skip
    assert res.exit_code == EXIT_FINDINGS, res.output
    found = pd.read_csv(tmp_path / "f.csv")
    severe = set(found.loc[found["severity"] == "severe", "column"])
    assert {"onboarding_call", "invoice_paid", "sales_stage"} <= severe
    assert "leakage audit (events mode)" in res.output


def test_train_flat_warns_on_an_id_like_column_and_a_leaky_one(flat_csv):
    _, leaky = flat_csv
    df = pd.read_csv(leaky).assign(number=np.arange(600_000, 601_500))
    with pytest.warns(LeakageWarning, match=r"'stage' alone separates.*--exclude 'stage'"):
        res = train_flat(df, label="Converted", id_column="Prospect ID", split="random", **QUICK)
    assert any(n.startswith("id-like 'number'") for n in res.notes)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LeakageWarning)  # the honest table trains in silence
        train_flat(
            df.drop(columns=["stage", "number"]),
            label="Converted",
            id_column="Prospect ID",
            split="random",
            **QUICK,
        )


def test_train_warns_on_post_conversion_event_types():
    crm = make_crm(800, days=180, onboarding_events=True, seed=3)
    leads = crm.leads.drop(columns=["sales_stage", "updated_at"])
    with pytest.warns(LeakageWarning, match=r"after conversion 'onboarding_call'.*converted_at"):
        res = train(
            leads, crm.events, crm.conversions, start=crm.start,
            observed_until=crm.observed_until, every="14d",
            backtest={"min_test_conversions": 20}, **QUICK,
        )  # fmt: skip
    assert any("invoice_paid" in n for n in res.notes)
