"""The main job on an embedded synthetic CRM (what ``make demo`` runs)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from leadml import _progress

__all__ = ["DEMO_FIGURES", "DEMO_RULES", "DemoResult", "run_demo", "write_demo_figures"]

DEMO_RULES = Path(__file__).resolve().parents[1] / "rules" / "synthetic_crm.yaml"
"""The hand-made points scorecard written for the synthetic CRM (the rules baseline)."""
DEMO_FIGURES = ("reliability", "lift", "conversion_by_band", "reasons_waterfall")
"""The pictures the demo writes (``<name>.png``): the report's reliability diagram, cumulative
gain and lift, and conversion by band, and the reasons waterfall of the best-scored open lead."""


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
    figure_paths: dict[str, Path] = field(default_factory=dict)


def run_demo(
    n_leads: int = 20_000,
    *,
    seed: int = 0,
    out: str | Path = "demo_output",
    n_boot: int = 200,
    mlflow: bool = True,
    tracking_uri: str | None = None,
    score_leads: int = 2000,
    figures: str | Path | None = None,
) -> DemoResult:
    """Generate a synthetic CRM, train (backtest + production fit, rules vs logistic vs
    LightGBM next to the generator's true probabilities), save the model and its report, log and
    register it in MLflow as ``leadml@champion`` (a SQLite store in ``out`` by default), load the
    champion back as an application would and score the leads still open at the end of the data.
    The CRM's tables are written to ``out/data/`` for the scheduled jobs of ``pipelines/``, the
    pictures of :data:`DEMO_FIGURES` to ``figures`` (default ``out/figures/``; see
    :func:`write_demo_figures`).
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
    res.report.info["data"] = f"Synthetic CRM (leadml demo: {n_leads:,} leads, seed {seed})"
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
    _progress.stage("drawing the pictures")
    figure_paths = write_demo_figures(
        res.report,
        model,
        open_leads,
        their_events,
        scores,
        out=Path(figures) if figures is not None else out / "figures",
        data=res.report.info["data"],
    )
    return DemoResult(
        crm=crm,
        result=res,
        model_dir=Path(model_dir),
        report_paths=paths,
        scores=scores,
        mlflow=info,
        seconds=time.perf_counter() - t0,
        figure_paths=figure_paths,
    )


def write_demo_figures(
    report: Any,
    model: Any,
    leads: pd.DataFrame,
    events: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    out: Path,
    data: str,
) -> dict[str, Path]:
    """Write :data:`DEMO_FIGURES` to ``out``: the report's reliability, lift and conversion by
    band, and the reasons waterfall of the open lead with the highest ``p_convert`` in
    ``scores`` (explained by ``model`` from ``leads`` and ``events`` at its ``as_of``)."""
    from leadml.evaluation import horizon_words
    from leadml.explain import reasons_waterfall

    figs = report.figures or report.make_figures()
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name in DEMO_FIGURES[:-1]:
        paths[name] = out / f"{name}.png"
        paths[name].write_bytes(figs[name])
    best = scores[scores["status"] == "open"].sort_values(
        ["p_convert", "lead_id"], ascending=[False, True], kind="stable"
    )
    top = best.iloc[0]
    lead = model.explain_lead(leads, events, lead_id=top["lead_id"], as_of=top["as_of"], top=10)
    horizon = horizon_words(model.metadata.get("horizon"))
    png = reasons_waterfall(
        lead,
        title=(
            f"Why lead {lead.lead_id} scores {lead.probability * 100:.1f} % (score {int(top['score'])}, "
            f"{top['band']}) on {pd.Timestamp(top['as_of']):%Y-%m-%d}"
        ),
        outcome=f"converting within {horizon}" if horizon else "converting",
        caption=f"{data}: the best-scored open lead at the end of the data.",
    )
    paths["reasons_waterfall"] = out / "reasons_waterfall.png"
    paths["reasons_waterfall"].write_bytes(png)
    return paths
