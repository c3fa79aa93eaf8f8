"""Scheduled retraining against a real MLflow tracking server on loopback: cycles on a growing
synthetic CRM with injected changes, the gate, the alias history, rollback, a run killed midway,
two runs at once, a cold start, bad configs and an unreachable server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from leadml.cli import app
from leadml.jobs import EXIT_KEPT, EXIT_LOCKED, EXIT_PROMOTED, retrain
from leadml.tracking import (
    RegistryError,
    alias_history,
    aliases,
    champion_periods,
    load_model,
    move_aliases,
    register_version,
    registry_client,
)
from tests._servers import free_port, mlflow_server
from tests.jobs._scenario import GrowingCRM

BIN = Path(sys.executable).parent
ENV = {**os.environ, "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false", "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as url:
        yield url


@pytest.fixture
def grow(tmp_path):
    return GrowingCRM(tmp_path)


def _versions(client, name):
    return sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))


def _cli(*args):
    return CliRunner().invoke(app, ["--quiet", *map(str, args)])


def test_cycles_promote_a_good_challenger_and_keep_the_history(server, tmp_path):
    # from day 380 a third of the new leads come from a lead source never seen before
    grow = GrowingCRM(tmp_path, new_source_from=380)
    client = registry_client(server)
    cfg = grow.config("cycles", server)
    grow.write(360)
    first = retrain(cfg)
    assert first.decision == "promoted", first.reason
    assert first.exit_code == EXIT_PROMOTED
    assert "no champion yet" in first.reason
    assert aliases(client, "cycles") == {"champion": first.version}
    # the version carries the gate's verdict and the frozen rows' hash
    tags = client.get_model_version("cycles", first.version).tags
    assert tags["leadml.gate.passed"] == "true"
    assert tags["leadml.eval_rows_sha256"] == first.eval_hash
    run = client.get_run(first.run_id)
    assert run.data.tags["leadml.eval_rows_sha256"] == first.eval_hash
    artifacts = {a.path for a in client.list_artifacts(first.run_id, "gate")}
    assert {"gate/report.md", "gate/checks.csv", "gate/metrics.csv"} <= artifacts

    # no new outcomes yet: kept at once, nothing trained or registered
    again = retrain(cfg)
    assert again.decision == "kept"
    assert again.exit_code == EXIT_KEPT
    assert "no new outcomes yet" in again.reason
    assert again.run_id is None
    assert _versions(client, "cycles") == [int(first.version)]

    # two months later: a dry run decides and moves nothing, then the real run promotes
    grow.write(420)
    dry = retrain(cfg, dry_run=True)
    assert dry.decision == "would_promote", dry.reason
    assert _versions(client, "cycles") == [int(first.version)]
    assert aliases(client, "cycles") == {"champion": first.version}
    second = retrain(cfg)
    assert second.decision == "promoted", second.reason
    assert dry.eval_hash == second.eval_hash  # the same frozen rows
    gate = second.gate.checks.set_index("check")
    assert gate.loc["auc_non_inferior", "passed"]
    assert gate.loc["pyfunc_smoke_test", "passed"]
    assert aliases(client, "cycles") == {
        "champion": second.version,
        "previous_champion": first.version,
    }
    # the new lead source: the champion scored it as an unseen level; the challenger learned it
    learned = load_model("models:/cycles@champion", tracking_uri=server)
    old = load_model(f"models:/cycles/{first.version}", tracking_uri=server)
    assert "partner_referral" in learned.spec.levels_["lead_source"]
    assert "partner_referral" not in old.spec.levels_["lead_source"]

    # history: which version was champion from when to when, and why
    periods = champion_periods(client, "cycles")
    assert periods["version"].tolist() == [first.version, second.version]
    assert periods["until"].iloc[0] == periods["since"].iloc[1]
    assert periods["until"].isna().tolist() == [False, True]
    assert periods["run_id"].tolist() == [first.run_id, second.run_id]
    res = _cli("history", "cycles", "--tracking-uri", server)
    assert res.exit_code == 0, res.output
    assert "retrain" in res.output

    # rollback restores the previous version, and the history shows it
    res = _cli("rollback", "cycles", "--tracking-uri", server, "--reason", "bad week")
    assert res.exit_code == 0, res.output
    assert aliases(client, "cycles")["champion"] == first.version
    h = alias_history(client, "cycles")
    last = h[h["alias"] == "champion"].iloc[-1]
    assert (last["action"], last["version"], last["replaced"], last["reason"]) == (
        "rollback",
        first.version,
        second.version,
        "bad week",
    )
    assert champion_periods(client, "cycles")["version"].tolist() == [
        first.version,
        second.version,
        first.version,
    ]
    # nothing before version 1: a second rollback is refused (it does not toggle back)
    res = _cli("rollback", "cycles", "--tracking-uri", server)
    assert res.exit_code == 2
    assert "no earlier champion" in res.output
    assert aliases(client, "cycles")["champion"] == first.version
    # three champions in turn: two rollbacks step back twice
    source = client.get_model_version("cycles", second.version).source
    third = register_version("cycles", source, tracking_uri=server)
    assert (
        _cli("promote", "cycles", "--version", second.version, "--tracking-uri", server).exit_code
        == 0
    )
    assert _cli("promote", "cycles", "--version", third, "--tracking-uri", server).exit_code == 0
    assert _cli("rollback", "cycles", "--tracking-uri", server).exit_code == 0
    assert aliases(client, "cycles")["champion"] == second.version
    assert _cli("rollback", "cycles", "--tracking-uri", server).exit_code == 0
    assert aliases(client, "cycles")["champion"] == first.version


def test_a_challenger_trained_on_broken_labels_is_refused(server, grow):
    client = registry_client(server)
    cfg = grow.config("broken", server)
    grow.write(360)
    champion = retrain(cfg)
    assert champion.decision == "promoted", champion.reason
    # conversion tracking broke: every conversion before day 400 went to a random lead; the
    # challenger learns from those, the gate judges on the later (right) outcomes
    grow.write(480, shuffle_before=400)
    res = retrain(cfg)
    assert res.decision == "kept"
    assert res.exit_code == EXIT_KEPT
    assert "auc_non_inferior" in res.reason
    gate = res.gate.checks.set_index("check")
    assert not gate.loc["auc_non_inferior", "passed"]
    assert gate.loc["auc_non_inferior", "value"] < -0.05
    # nothing was registered, the champion stays, and the run says why
    assert _versions(client, "broken") == [int(champion.version)]
    assert aliases(client, "broken") == {"champion": champion.version}
    assert client.get_run(res.run_id).data.tags["leadml.gate.passed"] == "false"
    assert res.report_path.is_file()
    assert "NOT PASSED" in res.report_path.read_text()
    # gate.mode: disabled promotes on the smoke test alone (segments configured or not)
    off = grow.config("broken", server, file="off.yaml", mode="disabled")
    forced = retrain(off)
    assert forced.decision == "promoted", forced.reason
    assert list(forced.gate.checks["check"]) == ["pyfunc_smoke_test"]
    assert aliases(client, "broken")["champion"] == forced.version


def test_the_staleness_rule_promotes_a_not_worse_challenger_only_when_the_champion_is_old(
    server, grow
):
    client = registry_client(server)
    grow.write(360)
    assert retrain(grow.config("stale", server)).decision == "promoted"
    grow.write(420)
    # a challenger must be clearly better (an AUC gain no refit gives) ...
    strict = grow.config("stale", server, file="strict.yaml", min_auc_gain=0.05)
    kept = retrain(strict)
    assert kept.decision == "kept"
    assert "auc_gain" in kept.reason
    # ... unless the champion is older than stale_days: then not being worse is enough
    old = grow.config("stale", server, file="old.yaml", min_auc_gain=0.05, stale_days=1e-6)
    res = retrain(old)
    assert res.decision == "promoted", res.reason
    assert "stale" in res.reason
    assert aliases(client, "stale")["champion"] == res.version


def test_a_run_killed_midway_changes_nothing(server, grow):
    client = registry_client(server)
    cfg = grow.config("killed", server)
    grow.write(360)
    first = retrain(cfg)
    grow.write(420)
    before = (aliases(client, "killed"), _versions(client, "killed"))
    proc = subprocess.Popen(
        [str(BIN / "leadml"), "retrain", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=ENV,
        start_new_session=True,
    )
    seen = []
    assert proc.stdout is not None
    for line in proc.stdout:  # kill it once the challenger is being logged to MLflow
        seen.append(line)
        if "logging the challenger" in line:
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    assert (aliases(client, "killed"), _versions(client, "killed")) == before
    # the lock died with the process: the next run runs
    after = retrain(cfg)
    assert after.decision == "promoted", after.reason
    assert aliases(client, "killed")["previous_champion"] == first.version


def test_two_runs_at_once_leave_one_promotion(server, grow):
    client = registry_client(server)
    cfg = grow.config("twice", server)
    grow.write(360)
    first = retrain(cfg)
    grow.write(420)
    procs = [
        subprocess.Popen(
            [str(BIN / "leadml"), "--quiet", "retrain", "--config", str(cfg)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=ENV,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [EXIT_PROMOTED, EXIT_LOCKED], outs
    assert "another run holds the lock" in outs[[p.returncode for p in procs].index(EXIT_LOCKED)]
    versions = _versions(client, "twice")
    assert len(versions) == 2
    now = aliases(client, "twice")
    assert now == {"champion": str(versions[-1]), "previous_champion": first.version}
    # each move is in the history exactly once
    h = alias_history(client, "twice")
    assert (h["alias"] == "champion").sum() == 2


def test_alias_moves_are_refused_when_another_machine_moved_the_champion(server, grow):
    client = registry_client(server)
    cfg = grow.config("race", server)
    grow.write(360)
    v = retrain(cfg).version
    with pytest.raises(RegistryError, match="another run moved it"):
        move_aliases(
            client, "race", {"champion": v}, action="retrain", reason="x", expect={"champion": "9"}
        )
    assert aliases(client, "race") == {"champion": v}


def test_cold_start_registers_the_rules_and_the_first_model_must_beat_them(server, grow):
    client = registry_client(server)
    cfg = grow.config("cold", server)
    grow.write(120)  # a few weeks of history: too little to learn from
    res = retrain(cfg)
    assert res.decision == "cold_start", res.reason
    assert res.exit_code == EXIT_PROMOTED
    mv = client.get_model_version("cold", res.version)
    assert mv.tags["leadml.kind"] == "rules"
    # applications get scores from day one, through the registry
    rules = load_model("models:/cold@champion", tracking_uri=server)
    assert rules.kind == "rules"
    snap = grow.write(120)
    scores = rules.score(snap.leads.head(50), snap.events, as_of=grow.day(120), reasons=2)
    assert scores["p_convert"].between(0, 1).all()
    assert (scores["reason_1"].str.contains("points") | (scores["reason_1"] == "")).all()
    # enough data later: the first learned model is judged against the rules champion
    grow.write(360)
    learned = retrain(cfg)
    assert learned.decision == "promoted", learned.reason
    assert "rules scorecard" in learned.gate.info["champion"]
    assert learned.gate.checks.set_index("check").loc["auc_non_inferior", "passed"]
    assert aliases(client, "cold") == {
        "champion": learned.version,
        "previous_champion": res.version,
    }


def test_bad_input_fails_clearly_and_leaves_the_aliases(server, grow, tmp_path):
    client = registry_client(server)
    cfg = grow.config("safe", server)
    grow.write(360)
    v = retrain(cfg).version
    before = aliases(client, "safe")
    # an unknown key
    bad = yaml.safe_load(cfg.read_text())
    bad["gate"]["max_eec"] = 0.1
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    res = _cli("retrain", "--config", tmp_path / "bad.yaml")
    assert res.exit_code == 2
    assert "gate.max_eec" in res.output
    assert "did you mean 'max_ece'" in res.output
    # a missing data source
    miss = yaml.safe_load(cfg.read_text())
    miss["data"]["events"] = "data/nowhere.parquet"
    (tmp_path / "miss.yaml").write_text(yaml.safe_dump(miss))
    res = _cli("retrain", "--config", tmp_path / "miss.yaml")
    assert res.exit_code == 2
    assert "events: data source not found" in res.output
    assert "nowhere.parquet" in res.output
    # an unreachable tracking server: fails fast, before any work
    down = yaml.safe_load(cfg.read_text())
    down["tracking_uri"] = f"http://127.0.0.1:{free_port()}"
    (tmp_path / "down.yaml").write_text(yaml.safe_dump(down))
    t0 = time.perf_counter()
    res = _cli("retrain", "--config", tmp_path / "down.yaml")
    assert res.exit_code == 2
    assert "not reachable" in res.output
    assert time.perf_counter() - t0 < 60
    assert aliases(client, "safe") == before == {"champion": v}
