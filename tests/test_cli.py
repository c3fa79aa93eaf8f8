from __future__ import annotations

import pandas as pd
import yaml
from typer.testing import CliRunner

from leadml.cli import app
from leadml.datasets import make_crm
from tests._fast import QUICK_TREES

runner = CliRunner()


def test_demo_prints_the_comparison_and_scores(tmp_path):
    pictures = tmp_path / "pictures"
    res = runner.invoke(
        app,
        ["demo", "--n-leads", "3000", "--n-boot", "20", "--out", str(tmp_path / "demo"),
         "--figures", str(pictures)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    for text in (
        "rules",
        "logistic",
        "lightgbm",
        "reference",
        "ROC AUC",
        "conversion rate by band",
    ):
        assert text in res.output
    assert "scored leads" in res.output
    assert "registered leadml version 1 as champion" in res.output
    assert (tmp_path / "demo" / "mlflow.db").exists()
    assert (tmp_path / "demo" / "report" / "report.html").exists()
    assert (tmp_path / "demo" / "model" / "lightgbm_model.txt").exists()
    # the README's pictures: the four PNGs, printed where they are
    names = ["reliability", "lift", "conversion_by_band", "reasons_waterfall"]
    assert sorted(p.stem for p in pictures.glob("*.png")) == sorted(names)
    assert all((pictures / f"{n}.png").read_bytes()[:4] == b"\x89PNG" for n in names)
    assert "pictures in" in res.output
    assert "reasons_waterfall.png" in " ".join(res.output.split())


def test_train_score_evaluate_round_trip(tmp_path):
    crm = make_crm(4000, days=300, seed=4)
    crm.leads.to_csv(tmp_path / "leads.csv", index=False)
    crm.events.to_parquet(tmp_path / "events.parquet")
    crm.conversions.to_csv(tmp_path / "conv.csv", index=False)
    common = ["--leads", str(tmp_path / "leads.csv"), "--events", str(tmp_path / "events.parquet")]
    # the commands' round trip is under test, not the trees: QUICK_TREES from a config file
    (tmp_path / "train.yaml").write_text(yaml.safe_dump({"lightgbm": QUICK_TREES}))
    res = runner.invoke(
        app,
        [
            "train",
            "--config",
            str(tmp_path / "train.yaml"),
            *common,
            "--conversions",
            str(tmp_path / "conv.csv"),
            "--every",
            "7d",
            "--horizon",
            "30d",
            "--rules",
            "models/scorecard.yaml",
            "--n-boot",
            "20",
            "--out",
            str(tmp_path / "model"),
            "--tracking-uri",
            f"sqlite:///{tmp_path / 'mlflow.db'}",
            "--register",
            "cli_model",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "MLflow run" in res.output
    assert "registered cli_model version 1 (alias challenger)" in res.output
    uri = ["--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]
    promoted = runner.invoke(app, ["promote", "cli_model", "--version", "1", *uri])
    assert promoted.exit_code == 0, promoted.output
    assert "champion -> version 1" in promoted.output
    rolled = runner.invoke(app, ["rollback", "cli_model", *uri])
    assert rolled.exit_code == 2
    assert "no 'previous_champion' alias" in rolled.output
    assert "lightgbm" in res.output
    assert "rules" in res.output
    assert "AUC 95% CI" in res.output
    assert (tmp_path / "model" / "report" / "report.md").exists()
    res = runner.invoke(
        app,
        [
            "score",
            "--model",
            str(tmp_path / "model"),
            *common,
            "--as-of",
            "2024-09-01",
            "--out",
            str(tmp_path / "scores.parquet"),
        ],
    )
    assert res.exit_code == 0, res.output
    scores = pd.read_parquet(tmp_path / "scores.parquet")
    assert scores["lead_id"].tolist() == crm.leads["lead_id"].tolist()
    assert list(scores.columns)[:3] == ["lead_id", "as_of", "p_convert"]
    res = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            str(tmp_path / "model"),
            *common,
            "--conversions",
            str(tmp_path / "conv.csv"),
            "--every",
            "14d",
            "--out",
            str(tmp_path / "eval"),
            "--n-boot",
            "0",
            "--tracking-uri",
            f"sqlite:///{tmp_path / 'mlflow.db'}",
        ],
    )
    # the same data the model was trained on: nothing is after its training window
    assert res.exit_code == 2
    assert "none of the" in res.output
    assert "--in-sample" in res.output
    res = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            str(tmp_path / "model"),
            *common,
            "--conversions",
            str(tmp_path / "conv.csv"),
            "--every",
            "14d",
            "--in-sample",
            "--out",
            str(tmp_path / "eval"),
            "--n-boot",
            "0",
            "--tracking-uri",
            f"sqlite:///{tmp_path / 'mlflow.db'}",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "IN-SAMPLE" in res.output
    assert "rows evaluated and left out" in res.output
    assert "left out: censored" in res.output
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["leadml"])
    assert len(runs) == 2  # train and evaluate
    assert set(runs["tags.leadml.job"].fillna("train")) == {"train", "evaluate"}
    assert runs["metrics.lightgbm_auc"].notna().all()
    assert (tmp_path / "eval" / "metrics.csv").exists()
    res = runner.invoke(
        app,
        [
            "score",
            "--model",
            str(tmp_path),
            *common,
            "--as-of",
            "2024-09-01",
            "--out",
            str(tmp_path / "s.csv"),
        ],
    )
    assert res.exit_code == 2
    assert "is not a leadml model folder" in res.output


def test_rules_command_prints_points_table_and_errors():
    res = runner.invoke(app, ["rules", "show", "models/scorecard.yaml"])
    assert res.exit_code == 0, res.output
    assert "pricing_page" in res.output
    assert "half-life 7 days" in res.output


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


def test_build_in_parts_from_a_folder_of_event_files_equals_one_pass(tmp_path):
    crm = make_crm(600, days=150, seed=2)
    crm.leads.to_csv(tmp_path / "leads.csv", index=False)
    (tmp_path / "events").mkdir()
    half = len(crm.events) // 2
    crm.events.iloc[:half].to_parquet(tmp_path / "events" / "a.parquet")
    crm.events.iloc[half:].to_parquet(tmp_path / "events" / "b.parquet")
    crm.events.to_parquet(tmp_path / "events.parquet")
    crm.conversions.to_csv(tmp_path / "conv.csv", index=False)
    common = ["build", "--leads", str(tmp_path / "leads.csv"), "--conversions"]
    common += [str(tmp_path / "conv.csv"), "--every", "7d", "--max-age", "60d"]
    one = runner.invoke(
        app,
        [
            *common,
            "--events",
            str(tmp_path / "events.parquet"),
            "--out",
            str(tmp_path / "a.parquet"),
        ],
    )
    assert one.exit_code == 0, one.output
    parts = runner.invoke(
        app,
        [
            *common,
            "--events",
            str(tmp_path / "events"),
            "--partitions",
            "3",
            "--out",
            str(tmp_path / "b.parquet"),
        ],
    )
    assert parts.exit_code == 0, parts.output
    assert "built in parts" in parts.output
    assert "3 (rows per part" in parts.output
    key = ["as_of", "lead_id"]
    a = pd.read_parquet(tmp_path / "a.parquet").sort_values(key).reset_index(drop=True)
    b = pd.read_parquet(tmp_path / "b.parquet").sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert (a["as_of"] - a["as_of"].min()).max() > pd.Timedelta(days=60)  # the schedule ran


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
