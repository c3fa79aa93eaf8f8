"""leadml's scheduled jobs as an Apache Airflow DAG (an example file, not a dependency of leadml).

Copy it into Airflow's dags/ folder and set LEADML_HOME to the repository. Each task is one leadml
command; its exit code decides the task state: retrain's 3 (kept) and 4 (another run holds the
lock) and monitor's 5 (an alert fired) mark the task skipped rather than failed, so only real
failures page someone.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

HOME = os.environ.get("LEADML_HOME", "/srv/leadml")
LEADML = f"cd {HOME} && .venv/bin/leadml -q"

with DAG(
    dag_id="leadml",
    start_date=datetime(2026, 1, 1),
    schedule="15 6 * * *",
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=10)},
    tags=["leadml", "lead-scoring"],
) as dag:
    retrain = BashOperator(
        task_id="retrain",
        bash_command=f"{LEADML} retrain --config pipelines/retrain.yaml",
        skip_on_exit_code=[3, 4],  # kept, or another run holds the lock
    )
    score = BashOperator(
        task_id="score",
        bash_command=f"{LEADML} score-job --config pipelines/score_daily.yaml",
        trigger_rule="none_failed",  # score with whichever model is champion now
    )
    monitor = BashOperator(
        task_id="monitor",
        bash_command=f"{LEADML} monitor --config pipelines/monitor.yaml",
        skip_on_exit_code=[5],  # an alert: see the HTML page (wire an on_skipped callback to notify)
        trigger_rule="none_failed",
    )
    retrain >> score >> monitor
