"""The command line on bad input and unsafe destinations: a documented exit code and a message
naming the file and the fix, no traceback, no data lost, nothing misread."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadml.cli import EXIT_INPUT, app
from leadml.datasets import make_crm

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("crm")
    crm = make_crm(1500, days=200, seed=3)
    crm.leads.to_csv(d / "leads.csv", index=False)
    crm.events.to_parquet(d / "events.parquet", index=False)
    crm.conversions.to_csv(d / "conv.csv", index=False)
    return d, crm


@pytest.fixture(scope="module")
def model_dir(files):
    d, _ = files
    res = runner.invoke(app, [*_train_args(d), "--out", str(d / "model")])
    assert res.exit_code == 0, res.output
    return d / "model"


def _train_args(d, events="events.parquet"):
    return [
        "train",
        "--leads", str(d / "leads.csv"),
        "--events", str(d / events),
        "--conversions", str(d / "conv.csv"),
        "--every", "7d",
        "--n-boot", "0",
        "--no-mlflow",
    ]  # fmt: skip


def _ok(res):
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output


def _fails(res, *needles):
    assert res.exit_code == EXIT_INPUT, res.output
    assert "Traceback" not in res.output
    text = " ".join(res.output.split())
    for n in needles:
        assert n in text, text


def test_train_refuses_a_folder_it_did_not_write_before_any_work(files, tmp_path):
    d, _ = files
    out = tmp_path / "x"
    (out / "sub").mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    res = runner.invoke(app, [*_train_args(d), "--out", str(out)])
    _fails(res, "not empty and is not a leadml model", "never deletes")
    assert "backtest" not in res.output  # refused before training
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "sub").is_dir()


def test_an_error_message_is_printed_as_written(files, tmp_path):
    """Brackets in a message are text, not console markup (a "[run_7]" would vanish), and a
    long message stays on one line when the output is not a terminal (logs, pipes)."""
    d, _ = files
    out = tmp_path / "[run_7]" / ("a_long_folder_name_" * 12)
    (out / "sub").mkdir(parents=True)
    res = runner.invoke(app, [*_train_args(d), "--out", str(out)])
    assert res.exit_code == EXIT_INPUT
    line = next(x for x in res.output.splitlines() if x.startswith("error:"))
    assert str(out) in line
    assert "never deletes" in line


def test_train_replaces_a_model_only_with_overwrite(files, model_dir):
    d, _ = files
    res = runner.invoke(app, [*_train_args(d), "--out", str(model_dir)])
    _fails(res, "already holds a leadml model", "--overwrite")


def test_train_needs_events_or_says_it_trains_without(files, tmp_path):
    d, _ = files
    pd.read_parquet(d / "events.parquet").iloc[:0].to_csv(tmp_path / "header_only.csv", index=False)
    (tmp_path / "zero.csv").write_bytes(b"")
    args = [
        a if a != str(d / "events.parquet") else str(tmp_path / "header_only.csv")
        for a in _train_args(d)
    ]
    _fails(
        runner.invoke(app, [*args, "--out", str(tmp_path / "m1")]),
        "events: the table has no rows",
        "--no-events",
    )
    args = [
        a if a != str(d / "events.parquet") else str(tmp_path / "zero.csv") for a in _train_args(d)
    ]
    _fails(runner.invoke(app, [*args, "--out", str(tmp_path / "m2")]), "empty file (0 bytes")
    no_events = [a for a in _train_args(d) if a not in ("--events", str(d / "events.parquet"))]
    _fails(runner.invoke(app, [*no_events, "--out", str(tmp_path / "m3")]), "--no-events")


def test_epoch_seconds_are_read_as_seconds(files, tmp_path):
    d, crm = files
    ev = crm.events.head(20_000).copy()
    ev["timestamp"] = ev["timestamp"].astype("int64") // 10**6  # microseconds -> seconds
    ev.to_csv(tmp_path / "epoch.csv", index=False)
    res = runner.invoke(
        app,
        ["build", "--leads", str(d / "leads.csv"), "--events", str(tmp_path / "epoch.csv"),
         "--conversions", str(d / "conv.csv"), "--every", "14d", "--out", str(tmp_path / "ts.parquet")],
    )  # fmt: skip
    _ok(res)
    ts = pd.read_parquet(tmp_path / "ts.parquet")
    assert ts["n_events_30d"].sum() > 0  # not every event in 1970


def test_day_first_dates_are_detected_and_ambiguous_ones_refused(files, tmp_path):
    d, crm = files
    leads = crm.leads.copy()
    leads["created_at"] = leads["created_at"].dt.strftime("%d/%m/%Y")
    leads.to_csv(tmp_path / "leads_dmy.csv", index=False)
    args = ["build", "--leads", str(tmp_path / "leads_dmy.csv"), "--events", str(d / "events.parquet"),
            "--conversions", str(d / "conv.csv"), "--every", "14d", "--out", str(tmp_path / "ts.parquet")]  # fmt: skip
    _ok(runner.invoke(app, args))
    ambiguous = leads[pd.to_datetime(leads["created_at"], format="%d/%m/%Y").dt.day <= 12]
    ambiguous.to_csv(tmp_path / "leads_amb.csv", index=False)
    args[2] = str(tmp_path / "leads_amb.csv")
    _fails(runner.invoke(app, args), "both day-first", "--time-format")
    _ok(
        runner.invoke(
            app, [*args, "--drop-unknown-leads", "--time-format", "leads.created_at=%d/%m/%Y"]
        )
    )
    # a format for every column applies to every column: the ISO conversions then do not fit
    _fails(
        runner.invoke(app, [*args, "--drop-unknown-leads", "--time-format", "%d/%m/%Y"]),
        "conversions.converted_at",
    )


def test_score_flags_leads_that_do_not_exist_yet(files, model_dir, tmp_path):
    d, crm = files
    as_of = crm.leads["created_at"].quantile(0.5)
    res = runner.invoke(
        app,
        ["score", "--model", str(model_dir), "--leads", str(d / "leads.csv"), "--events",
         str(d / "events.parquet"), "--as-of", str(as_of), "--out", str(tmp_path / "s.csv")],
    )  # fmt: skip
    _ok(res)
    assert "before the lead was created" in " ".join(res.output.split())
    s = pd.read_csv(tmp_path / "s.csv")
    assert len(s) == len(crm.leads)
    later = s["lead_id"].isin(crm.leads.loc[crm.leads["created_at"] > as_of, "lead_id"])
    assert (s.loc[later, "status"] == "not_created").all()
    assert s.loc[later, "p_convert"].isna().all()
    assert s.loc[later, "band"].isna().all()
    assert s.loc[~later, "p_convert"].notna().all()


def test_score_bad_as_of_unknown_leads_inf_and_no_leads(files, model_dir, tmp_path):
    d, crm = files
    base = ["score", "--model", str(model_dir), "--events", str(d / "events.parquet")]
    out = ["--out", str(tmp_path / "s.parquet")]
    leads = ["--leads", str(d / "leads.csv")]
    _fails(
        runner.invoke(app, [*base, *leads, "--as-of", "last tuesday", *out]),
        "cannot read 'last tuesday'",
    )
    cut = pd.DataFrame(
        {"lead_id": [crm.leads["lead_id"].iloc[-1], "ghost"], "as_of": ["2024-07-01", "2024-07-01"]}
    )
    cut.to_csv(tmp_path / "cut.csv", index=False)
    _fails(
        runner.invoke(app, [*base, *leads, "--cutoffs", str(tmp_path / "cut.csv"), *out]),
        "'ghost'",
        "--drop-unknown-leads",
    )
    res = runner.invoke(
        app, [*base, *leads, "--cutoffs", str(tmp_path / "cut.csv"), "--drop-unknown-leads", *out]
    )
    _ok(res)
    assert len(pd.read_parquet(tmp_path / "s.parquet")) == 1
    inf = crm.leads.copy()
    inf.loc[inf.index[-5:], "employees"] = np.inf
    inf.to_csv(tmp_path / "inf.csv", index=False)
    res = runner.invoke(
        app,
        [
            *base,
            "--leads",
            str(tmp_path / "inf.csv"),
            "--as-of",
            "2024-07-19",
            "--reasons",
            "3",
            *out,
        ],
    )
    _ok(res)
    assert "infinite value(s) read as missing" in " ".join(res.output.split())
    s = pd.read_parquet(tmp_path / "s.parquet")
    assert (
        not s.filter(like="reason").astype(str).apply(lambda c: c.str.contains("inf")).any().any()
    )
    crm.leads.iloc[:0].to_csv(tmp_path / "none.csv", index=False)
    res = runner.invoke(
        app, [*base, "--leads", str(tmp_path / "none.csv"), "--as-of", "2024-07-19", *out]
    )
    _ok(res)
    assert "no leads to score" in res.output
    empty = pd.read_parquet(tmp_path / "s.parquet")
    assert len(empty) == 0
    assert {"lead_id", "p_convert", "score", "status", "model_version"} <= set(empty.columns)


def test_a_truncated_model_is_an_error_not_a_crash(files, model_dir, tmp_path):
    d, _ = files
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    f = broken / "lightgbm_model.txt"
    f.write_bytes(f.read_bytes()[: len(f.read_bytes()) // 3])
    res = runner.invoke(
        app,
        ["score", "--model", str(broken), "--leads", str(d / "leads.csv"), "--as-of", "2024-07-19",
         "--out", str(tmp_path / "s.csv")],
    )  # fmt: skip
    _fails(res, "'lightgbm_model.txt' is damaged")


def test_an_output_that_cannot_be_written_is_refused_first(files, model_dir, tmp_path):
    d, _ = files
    (tmp_path / "file").write_text("x")
    res = runner.invoke(
        app,
        ["score", "--model", str(model_dir), "--leads", str(d / "leads.csv"), "--as-of", "2024-07-19",
         "--out", str(tmp_path / "file" / "s.csv")],
    )  # fmt: skip
    _fails(res, "cannot write in")
    res = runner.invoke(
        app,
        ["score", "--model", str(model_dir), "--leads", str(d / "leads.csv"), "--as-of", "2024-07-19",
         "--out", str(tmp_path / "s.xlsx")],
    )  # fmt: skip
    _fails(res, "unsupported extension '.xlsx'")


@pytest.mark.slow
def test_ctrl_c_exits_130_without_a_traceback(tmp_path):
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    crm = make_crm(30_000, seed=8)
    crm.leads.to_parquet(tmp_path / "leads.parquet")
    crm.events.to_parquet(tmp_path / "events.parquet")
    crm.conversions.to_parquet(tmp_path / "conv.parquet")
    leadml = str(Path(sys.executable).parent / "leadml")
    proc = subprocess.Popen(
        [leadml, "build", "--leads", str(tmp_path / "leads.parquet"), "--events",
         str(tmp_path / "events.parquet"), "--conversions", str(tmp_path / "conv.parquet"),
         "--every", "3d", "--out", str(tmp_path / "ts.parquet")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(4)
    assert proc.poll() is None, "the build finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err
    assert not (tmp_path / "ts.parquet").exists()  # nothing half-written


def test_mlflow_store_chatter_stays_off_the_console_unless_asked_for(tmp_path):
    """MLflow logs "Creating initial MLflow database tables..." at INFO when the CLI opens a new
    SQLite store (it configures its loggers at import, inside the command); a user's own
    MLFLOW_LOGGING_LEVEL still wins."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    leadml = str(Path(sys.executable).parent / "leadml")
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_LOGGING_LEVEL"}

    def run(store: str, **extra: str) -> subprocess.CompletedProcess[str]:
        uri = f"sqlite:///{tmp_path / store}"
        return subprocess.run(
            [leadml, "history", "nobody", "--tracking-uri", uri],
            capture_output=True, text=True, env={**env, **extra}, timeout=300,
        )  # fmt: skip

    quiet = run("a.db")
    assert quiet.returncode != 0
    assert "no registered model 'nobody'" in quiet.stdout + quiet.stderr
    assert "INFO mlflow" not in quiet.stdout + quiet.stderr
    assert (tmp_path / "a.db").exists()  # the store was created, only silently
    chatty = run("b.db", MLFLOW_LOGGING_LEVEL="INFO")
    assert "INFO mlflow.store.db.utils" in chatty.stdout + chatty.stderr
