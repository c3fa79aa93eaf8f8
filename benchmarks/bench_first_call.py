"""First call: a NEW process that loads a saved model and scores one lead with reasons.

What an application, a cron job or the first REST request pays. Each contender runs in a fresh
subprocess, timed from process start to the scores printed (median of ``--runs``), after one warm-up
run so the on-disk caches (the compiled explanation kernel in the user cache folder, the OS file
cache) are as they are on a machine after the first run. Named baselines measured in the same run:

- ``python -c pass``: the interpreter alone;
- ``import stack``: importing pandas, NumPy, LightGBM, DuckDB, numba and scikit-learn, and nothing
  else (the floor the issue names: no scoring path can start faster than its imports).

Also the REST path: ``mlflow models serve`` (``--env-manager local``) on the registered model; per
run a new server is started and timed to ready (``/ping``), then its *first* ``/invocations``
request (one lead, 3 reasons) is timed: the request the issue measured at 18.8 s.

Target (reliability issue): one lead with reasons in a new process in under 3 s, end to end.

Usage: ``python benchmarks/bench_first_call.py [--runs 5]``
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from pathlib import Path

PY = sys.executable

SCORE_ONE = """
import pandas as pd
from leadml.modeling import LeadScoringModel
m = LeadScoringModel.load({model!r})
leads = pd.read_parquet({leads!r})
events = pd.read_parquet({events!r})
out = m.score(leads, events, as_of={as_of!r}, reasons=3)
print(out[["lead_id", "p_convert", "reason_1"]].to_string())
"""


def _prepare(work: Path) -> dict[str, str]:
    from leadml.datasets import make_crm
    from leadml.modeling import train

    crm = make_crm(3000, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = train(crm.leads, crm.events, crm.conversions, every="7d", n_boot=0)
    model = res.model.save(work / "model", overwrite=True)
    lead = crm.leads.iloc[[-1]]
    lead.to_parquet(work / "lead.parquet")
    lead_events = crm.events[crm.events["lead_id"].isin(lead["lead_id"])]
    lead_events.to_parquet(work / "events.parquet")
    as_of = str(crm.observed_until)
    # the same model logged and registered in a local MLflow store, for the REST contender
    from leadml.tracking import log_training, promote, records_from_tables

    uri = f"sqlite:///{work / 'mlflow.db'}"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = log_training(res, tracking_uri=uri, register="bench")
    promote("bench", info["version"], tracking_uri=uri)
    records = records_from_tables(lead, lead_events, as_of=crm.observed_until)
    body = {"dataframe_records": records.to_dict("records"), "params": {"reasons": 3}}
    (work / "request.json").write_text(json.dumps(body, default=str))
    return {
        "tracking_uri": uri,
        "request": str(work / "request.json"),
        "model": str(model),
        "leads": str(work / "lead.parquet"),
        "events": str(work / "events.parquet"),
        "as_of": as_of,
    }


def _time(cmd: list[str], runs: int) -> list[float]:
    subprocess.run(cmd, check=True, capture_output=True)  # warm-up
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        out.append(time.perf_counter() - t)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_once(paths: dict[str, str]) -> tuple[float, float]:
    """Start ``mlflow models serve`` on the champion; seconds to ready, and the first request."""
    port = _free_port()
    mlflow_bin = str(Path(PY).parent / "mlflow")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [mlflow_bin, "models", "serve", "-m", "models:/bench@champion", "--env-manager", "local",
         "--host", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": paths["tracking_uri"],
             "PATH": f"{Path(PY).parent}:{os.environ.get('PATH', '')}"},
    )  # fmt: skip
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow models serve exited with {proc.returncode}")
            if time.perf_counter() - t0 > 300:
                raise TimeoutError("mlflow models serve did not answer /ping in 300 s")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        ready = time.perf_counter() - t0
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=Path(paths["request"]).read_bytes(),
            headers={"Content-Type": "application/json"},
        )
        t1 = time.perf_counter()
        with urllib.request.urlopen(req, timeout=300) as r:
            answer = json.loads(r.read())["predictions"]
        first = time.perf_counter() - t1
        if not answer or not answer[0].get("reason_1"):
            raise RuntimeError(f"unexpected answer from the server: {answer!r}")
        return ready, first
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = _prepare(Path(tmp))
        leadml_bin = str(Path(PY).parent / "leadml")
        contenders = {
            "python -c pass": [PY, "-c", "pass"],
            "import stack (pandas, numpy, lightgbm, duckdb, numba, sklearn)": [
                PY,
                "-c",
                "import pandas, numpy, lightgbm, duckdb, numba, sklearn",
            ],
            "leadml: load model + score 1 lead with 3 reasons (Python)": [
                PY,
                "-c",
                SCORE_ONE.format(**paths),
            ],
            "leadml score (CLI, 1 lead, 3 reasons, CSV out)": [
                leadml_bin,
                "--quiet",
                "score",
                "--model",
                paths["model"],
                "--leads",
                paths["leads"],
                "--events",
                paths["events"],
                "--as-of",
                paths["as_of"],
                "--out",
                str(Path(tmp) / "scores.csv"),
            ],
        }
        results = {name: _time(cmd, args.runs) for name, cmd in contenders.items()}
        _serve_once(paths)  # warm-up
        served = [_serve_once(paths) for _ in range(args.runs)]
        results["mlflow models serve: start to ready (/ping)"] = [s[0] for s in served]
        results["mlflow models serve: first request (1 lead, 3 reasons)"] = [s[1] for s in served]
    floor = statistics.median(
        results["import stack (pandas, numpy, lightgbm, duckdb, numba, sklearn)"]
    )
    print("\n| contender | median (s) | min | max | vs import stack |\n|---|---|---|---|---|")
    for name, ts in results.items():
        med = statistics.median(ts)
        print(f"| {name} | {med:.2f} | {min(ts):.2f} | {max(ts):.2f} | {med / floor:.2f}x |")
    py = statistics.median(results["leadml: load model + score 1 lead with 3 reasons (Python)"])
    print(
        f"\ntarget < 3 s for one lead with reasons in a new process: {'met' if py < 3 else 'NOT met'} ({py:.2f} s)"
    )


if __name__ == "__main__":
    main()
