"""MLflow against real processes: a tracking server on loopback, the registry, and serving."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadml.cli import app
from leadml.datasets import make_crm
from leadml.exceptions import ConfigError
from leadml.modeling import train
from leadml.scoring import account_rollup, capacity_threshold
from leadml.tracking import (
    load_registered,
    log_training,
    promote,
    records_from_tables,
    resolve_tracking_uri,
    rollback,
)
from tests._fast import QUICK_TREES
from tests._servers import free_port, mlflow_server, start_process, stop_process

BIN = Path(sys.executable).parent

RULES = "models/scorecard.yaml"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as url:
        yield url


@pytest.fixture(scope="module")
def crm():
    return make_crm(3000, days=300, seed=2)


def _train(crm, seed):
    return train(
        crm.leads,
        crm.events,
        crm.conversions,
        every="7d",
        horizon="30d",
        start=crm.start,
        observed_until=crm.observed_until,
        rules=RULES,
        n_boot=20,
        seed=seed,
        lightgbm=QUICK_TREES,
    )


@pytest.mark.slow
def test_tracking_registry_and_serving_end_to_end(server, crm, tmp_path):
    import mlflow

    name = "leadml_e2e"
    first = _train(crm, seed=0)
    info = log_training(first, tracking_uri=server, register=name, rules_path=RULES)
    assert info["version"] == "1"
    client = mlflow.MlflowClient(tracking_uri=server)
    run = client.get_run(info["run_id"])
    assert {"rules_auc", "logistic_auc", "lightgbm_auc", "lightgbm_ece", "rules_log_loss"} <= set(
        run.data.metrics
    )
    assert run.data.params["horizon"] == "30 days 00:00:00"
    assert "lightgbm.num_leaves" in run.data.params
    assert "inputs_hash" in run.data.params
    assert run.data.tags["leadml.version"]
    arts = {a.path for a in client.list_artifacts(info["run_id"], "report")}
    assert {"report/report.html", "report/report.md", "report/conversion_by_band.csv"} <= arts
    figs = {a.path for a in client.list_artifacts(info["run_id"], "report/figures")}
    assert {
        "report/figures/reliability.png",
        "report/figures/lift.png",
        "report/figures/shap_summary.png",
    } <= figs
    assert client.list_artifacts(info["run_id"], "scorecard")[0].path == "scorecard/scorecard.yaml"
    assert client.get_model_version_by_alias(name, "challenger").version == "1"

    # no personal data in logged text artefacts
    local = Path(
        mlflow.artifacts.download_artifacts(
            run_id=info["run_id"], artifact_path="report", tracking_uri=server
        )
    )
    ids = set(crm.leads["lead_id"])
    for p in local.rglob("*"):
        if p.suffix in (".md", ".csv", ".json", ".html"):
            text = p.read_text()
            assert not any(i in text for i in list(ids)[:500]), p

    # registry: a second version, promote, rollback
    second = _train(crm, seed=1)
    assert log_training(second, tracking_uri=server, register=name)["version"] == "2"
    assert promote(name, 1, tracking_uri=server) == {"champion": "1", "previous_champion": None}
    assert promote(name, 2, tracking_uri=server) == {"champion": "2", "previous_champion": "1"}
    assert rollback(name, tracking_uri=server) == {"champion": "1", "previous_champion": "2"}
    with pytest.raises(ConfigError, match=r"has no version 9"):
        promote(name, 9, tracking_uri=server)

    # the same scores in-process, via pyfunc and via REST
    leads = crm.leads.tail(8)
    events = crm.events[crm.events["lead_id"].isin(leads["lead_id"])]
    as_of = crm.observed_until
    direct = first.model.score(leads, events, as_of=as_of, reasons=2)
    _model, got_name, version = load_registered(f"models:/{name}@champion", tracking_uri=server)
    assert (got_name, version) == (name, "1")
    records = records_from_tables(leads, events, as_of=as_of)
    mlflow.set_tracking_uri(server)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}@champion").predict(
        records, params={"reasons": 2}
    )
    np.testing.assert_array_equal(pyfunc["p_convert"].to_numpy(), direct["p_convert"].to_numpy())
    assert pyfunc["reason_1"].tolist() == direct["reason_1"].tolist()
    assert (pyfunc["model_name"] == name).all()
    # one rule for the model's identity: the pyfunc looks its registry version up at load
    assert (pyfunc["model_version"] == "1").all()

    port = free_port()
    serve = start_process(
        [
            str(BIN / "mlflow"),
            "models",
            "serve",
            "-m",
            f"models:/{name}@champion",
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        f"http://127.0.0.1:{port}/ping",
        env={"MLFLOW_TRACKING_URI": server, "PATH": f"{BIN}:{os.environ.get('PATH', '')}"},
    )
    try:
        body = json.dumps(
            {"dataframe_records": records.to_dict("records"), "params": {"reasons": 2}}, default=str
        ).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=120) as r:
            answer = pd.DataFrame(json.loads(r.read())["predictions"])
    finally:
        stop_process(serve)
    np.testing.assert_array_equal(
        answer["p_convert"].to_numpy(dtype=float), direct["p_convert"].to_numpy()
    )
    assert answer["lead_id"].tolist() == direct["lead_id"].tolist()
    assert answer["reason_1"].tolist() == direct["reason_1"].tolist()
    assert (answer["model_version"] == "1").all()
    assert (answer["model_name"] == name).all()

    # the CLI scores from the registry and records the model it used
    leads.to_csv(tmp_path / "leads.csv", index=False)
    events.to_csv(tmp_path / "events.csv", index=False)
    res = CliRunner().invoke(
        app,
        [
            "score",
            "--model",
            f"models:/{name}@champion",
            "--leads",
            str(tmp_path / "leads.csv"),
            "--events",
            str(tmp_path / "events.csv"),
            "--as-of",
            str(as_of),
            "--out",
            str(tmp_path / "s.parquet"),
            "--tracking-uri",
            server,
        ],
    )
    assert res.exit_code == 0, res.output
    s = pd.read_parquet(tmp_path / "s.parquet")
    assert (s["model_name"] == name).all()
    assert (s["model_version"] == "1").all()
    np.testing.assert_array_equal(s["p_convert"].to_numpy(), direct["p_convert"].to_numpy())


def test_tracking_uri_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://x:5000")
    assert resolve_tracking_uri() == "http://x:5000"
    assert resolve_tracking_uri("file:///y") == "file:///y"


def test_a_sqlite_store_keeps_its_artifacts_beside_the_database(monkeypatch, tmp_path):
    import mlflow

    from leadml.tracking import use_experiment

    store, elsewhere = tmp_path / "store", tmp_path / "cwd"
    store.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    uri = f"sqlite:///{store / 'mlflow.db'}"
    use_experiment(uri, "leadml-artifacts")
    with mlflow.start_run():
        mlflow.log_text("hello", "note.txt")
    assert (store / "mlartifacts").is_dir()
    assert list((store / "mlartifacts").rglob("note.txt"))
    assert not any(elsewhere.iterdir())  # no ./mlruns where the process happened to run
    use_experiment(uri, "leadml-artifacts")  # existing experiment: reused, not re-created
    assert len(mlflow.search_experiments(filter_string="name = 'leadml-artifacts'")) == 1


def test_account_rollup_and_capacity_threshold():
    scores = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c", "d", "e"],
            "as_of": pd.to_datetime(
                ["2024-01-01", "2024-01-01", "2024-01-08", "2024-01-08", "2024-01-08"], utc=True
            ),
            "p_convert": [0.5, 0.2, 0.1, 0.4, 0.05],
            "band": ["hot", "warm", "cold", "hot", "cold"],
        }
    )
    leads = pd.DataFrame({"lead_id": list("abcde"), "account_id": ["x", "x", "y", None, "y"]})
    acc = account_rollup(scores, leads).set_index("account_id")
    assert acc.loc["x", "p_any_convert"] == pytest.approx(1 - 0.5 * 0.8)
    assert acc.loc["x", "hot_leads"] == 1
    assert acc.loc["x", "best_lead_id"] == "a"
    assert acc.loc["y", "best_lead_id"] == "c"
    assert acc.attrs["leads_without_account"] == 1
    r = capacity_threshold(scores, capacity=1, per="week")
    assert r["periods"] == 2
    assert r["threshold"] == 0.4
    assert r["leads_above_per_period"] == 1.0
    assert r["expected_conversions_above_per_period"] == pytest.approx(0.45)
    with pytest.raises(ConfigError, match="capacity must be positive"):
        capacity_threshold(scores, capacity=0)


def test_the_registry_lookup_at_load_needs_an_explicit_tracking_uri(monkeypatch, tmp_path):
    """A serving process without MLFLOW_TRACKING_URI makes no call and creates no store."""
    from leadml.tracking._mlflow import registered_version_of_run

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert registered_version_of_run("leadml", "abc") is None
    assert list(tmp_path.iterdir()) == []
    # an unreachable server: one short attempt, then the run id is used
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    t0 = time.time()
    assert registered_version_of_run("it's", "abc") is None
    assert time.time() - t0 < 30


def test_train_flat_logs_and_registers_a_flat_model_that_scores_without_times(tmp_path):
    """``leadml train-flat`` logs to MLflow like ``train``; the registered flat model takes
    lead_id and the profile columns (no created_at, as_of or events), through pyfunc and the
    CLI, with the saved model's scores."""
    import mlflow
    import yaml

    from leadml import load_model
    from leadml.exceptions import DataContractError
    from leadml.tracking._pyfunc import score_records

    rng = np.random.default_rng(0)
    n = 2000
    table = pd.DataFrame(
        {
            "id": [f"L{i}" for i in range(n)],
            "industry": rng.choice(["saas", "retail", "health"], n),
            "employees": rng.integers(1, 500, n).astype(float),
            "created": pd.date_range("2024-01-01", periods=n, freq="4h"),
        }
    )
    logit = -2 + (table["industry"] == "saas") * 1.2 + np.log(table["employees"]) * 0.2
    table["won"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    table.to_csv(tmp_path / "flat.csv", index=False)
    (tmp_path / "quick.yaml").write_text(yaml.safe_dump({"lightgbm": QUICK_TREES}))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["train-flat", "--table", str(tmp_path / "flat.csv"), "--label", "won", "--id", "id"]
    args += ["--time", "created", "--out", str(tmp_path / "model"), "--n-boot", "0"]
    args += ["--config", str(tmp_path / "quick.yaml"), "--tracking-uri", uri, "--register", "flat"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "registered flat version 1" in res.output

    client = mlflow.MlflowClient(tracking_uri=uri)
    version = client.get_model_version_by_alias("flat", "challenger")
    run = client.get_run(version.run_id)
    assert {"lightgbm_auc", "lightgbm_ece", "rules_auc"} <= set(run.data.metrics)
    assert run.data.params["mode"] == "flat"
    assert run.data.params["lightgbm.learning_rate"] == "0.1"

    new = table.drop(columns=["won", "created"]).rename(columns={"id": "lead_id"}).tail(6)
    direct = load_model(tmp_path / "model").score(new, reasons=2)
    mlflow.set_tracking_uri(uri)
    pyfunc = mlflow.pyfunc.load_model("models:/flat@challenger")
    inputs = {c["name"] for c in pyfunc.metadata.get_input_schema().to_dict()}
    assert inputs == {"lead_id", "industry", "employees"}
    got = pyfunc.predict(new.reset_index(drop=True), params={"reasons": 2})
    np.testing.assert_array_equal(got["p_convert"].to_numpy(), direct["p_convert"].to_numpy())
    assert got["reason_1"].tolist() == direct["reason_1"].tolist()
    assert (got["model_name"] == "flat").all()
    assert (got["model_version"] == "1").all()
    assert "as_of" not in got.columns  # a flat model has no time unless one is sent
    # events sent to a flat model are an error, not ignored (the pyfunc's scoring function;
    # MLflow's schema enforcement drops a column the signature does not name before it)
    with_events = new.head(2).assign(events=['[{"timestamp": "2024-01-01"}]', "[]"])
    with pytest.raises(DataContractError, match=r"flat model.*\['L1994'\]"):
        score_records(load_model(tmp_path / "model"), with_events, {})
    echoed = score_records(load_model(tmp_path / "model"), new.assign(as_of="2024-06-01"), {})
    assert (echoed["as_of"] == "2024-06-01T00:00:00.000000Z").all()

    new.to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "scores.csv"
    score = ["score", "--model", "models:/flat@challenger", "--leads", str(tmp_path / "new.csv")]
    res = CliRunner().invoke(app, [*score, "--out", str(out), "--tracking-uri", uri])
    assert res.exit_code == 0, res.output
    scores = pd.read_csv(out)
    np.testing.assert_allclose(scores["p_convert"], direct["p_convert"], rtol=1e-12)
    assert (scores["model_version"] == 1).all()
