from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from leadml.cli import app
from leadml.datasets import make_crm

runner = CliRunner()


def test_build_writes_training_set_with_mapping(tmp_path):
    crm = make_crm(300, days=120, seed=2)
    crm.leads.rename(columns={"lead_id": "Id"}).to_csv(tmp_path / "leads.csv", index=False)
    crm.events.to_parquet(tmp_path / "events.parquet")
    crm.conversions.to_csv(tmp_path / "conv.csv", index=False)
    (tmp_path / "map.yaml").write_text("leads:\n  lead_id: Id\n")
    res = runner.invoke(
        app,
        [
            "build",
            "--leads",
            str(tmp_path / "leads.csv"),
            "--events",
            str(tmp_path / "events.parquet"),
            "--conversions",
            str(tmp_path / "conv.csv"),
            "--every",
            "7d",
            "--horizon",
            "30d",
            "--out",
            str(tmp_path / "ts.parquet"),
            "--mapping",
            str(tmp_path / "map.yaml"),
            "--spec-out",
            str(tmp_path / "spec.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    ts = pd.read_parquet(tmp_path / "ts.parquet")
    assert {"lead_id", "as_of", "label", "censored", "n_events_7d"} <= set(ts.columns)
    assert "rows (lead x cut-off)" in res.output
    assert (tmp_path / "spec.json").exists()


def test_build_reports_contract_errors_and_exits_nonzero(tmp_path):
    pd.DataFrame({"id": [1], "created": ["2024-01-01"]}).to_csv(tmp_path / "l.csv", index=False)
    res = runner.invoke(
        app,
        [
            "build",
            "--leads",
            str(tmp_path / "l.csv"),
            "--every",
            "7d",
            "--out",
            str(tmp_path / "o.parquet"),
        ],
    )
    assert res.exit_code == 2
    assert "missing required column" in res.output
