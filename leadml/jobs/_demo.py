"""The main job on an embedded synthetic CRM (what ``make demo`` runs)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from leadml import _progress

__all__ = ["DEMO_RULES", "DemoResult", "run_demo"]

DEMO_RULES = Path(__file__).resolve().parents[1] / "rules" / "synthetic_crm.yaml"
"""The hand-made points scorecard written for the synthetic CRM (the rules baseline)."""


@dataclass
class DemoResult:
    """What the demo made: the CRM, the training result, where things were written, the scores."""

    crm: Any
    result: Any
    model_dir: Path
    report_paths: dict[str, Path]
    scores: pd.DataFrame
    mlflow: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def run_demo(
    n_leads: int = 20_000,
    *,
    seed: int = 0,
    out: str | Path = "demo_output",
    n_boot: int = 200,
    mlflow: bool = True,
    tracking_uri: str | None = None,
    score_leads: int = 2000,
) -> DemoResult:
    """Generate a synthetic CRM, train (backtest + production fit, rules vs logistic vs
    LightGBM next to the generator's true probabilities), save the model and its report, log and
    register it in MLflow as ``leadml@champion`` (a SQLite store in ``out`` by default), load the
    champion back as an application would and score the leads still open at the end of the data.
    The CRM's tables are written to ``out/data/`` for the scheduled jobs of ``pipelines/``.
    """
    from leadml.datasets import make_crm
    from leadml.modeling import train

    t0 = time.perf_counter()
    out = Path(out)
    _progress.stage("generating a synthetic CRM")
    crm = make_crm(n_leads, seed=seed)
    rules_path = DEMO_RULES if DEMO_RULES.exists() else None
    res = train(
        crm.leads,
        crm.events,
        crm.conversions,
        horizon=crm.horizon,
        every=crm.every,
        start=crm.start,
        observed_until=crm.observed_until,
        rules=rules_path,
        seed=seed,
        n_boot=n_boot,
        reference=crm.truth.rename(columns={"p_true": "p"}),
    )
    model_dir = res.model.save(out / "model", overwrite=(out / "model").exists())
    # the tables as files, for the scheduled jobs in pipelines/ (retrain, score, monitor)
    from leadml.io import write_table

    for name, table in (
        ("leads", crm.leads),
        ("events", crm.events),
        ("conversions", crm.conversions),
    ):
        write_table(table, out / "data" / f"{name}.parquet")
    paths = res.report.write(out / "report")
    model = res.model
    info: dict[str, Any] = {}
    if mlflow:
        from leadml.tracking import load_model, log_training, promote

        out.mkdir(parents=True, exist_ok=True)
        uri = tracking_uri or f"sqlite:///{(out / 'mlflow.db').resolve()}"
        _progress.stage("logging to MLflow, registering, promoting to champion")
        info = log_training(res, tracking_uri=uri, register="leadml", rules_path=rules_path)
        promote("leadml", info["version"], tracking_uri=uri, reason="demo", actor="leadml demo")
        model = load_model("models:/leadml@champion", tracking_uri=uri)
        info["tracking_uri"] = uri
    # score the leads that are open at the end of the data, as an application would
    converted = set(crm.conversions["lead_id"])
    open_leads = crm.leads[~crm.leads["lead_id"].isin(converted)].tail(score_leads)
    their_events = crm.events[crm.events["lead_id"].isin(open_leads["lead_id"])]
    scores = model.score(open_leads, their_events, as_of=crm.observed_until, reasons=1)
    return DemoResult(
        crm=crm,
        result=res,
        model_dir=Path(model_dir),
        report_paths=paths,
        scores=scores,
        mlflow=info,
        seconds=time.perf_counter() - t0,
    )
