"""``leadml score-job``: the daily scoring run (the champion scores the open leads; the file it
writes is what the monitor later judges against the outcomes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from leadml import _progress
from leadml.exceptions import ConfigError
from leadml.jobs._config import ScoreJobConfig, load_job_config
from leadml.jobs._shared import data_end, tracking_uri_for

__all__ = ["ScoreJobResult", "score_job"]


@dataclass
class ScoreJobResult:
    """The scores written, where, and which leads were left out (and why)."""

    scores: pd.DataFrame
    path: Path
    as_of: pd.Timestamp
    left_out: dict[str, int]


def score_job(config: str | Path | dict[str, Any] | ScoreJobConfig) -> ScoreJobResult:
    """Score every lead open at ``as_of`` (created before it, not converted or lost by then,
    within ``max_age``) with the configured model; write the scores with the model's name and
    version on every row."""
    from leadml.features import parse_duration
    from leadml.io import check_output, write_table
    from leadml.tracking import load_model, model_identity

    if isinstance(config, ScoreJobConfig):
        cfg, base = config, Path.cwd()
    else:
        cfg, base = load_job_config(ScoreJobConfig, config)
    _progress.stage("reading the leads and events")
    tables = cfg.data.load(base, needed=("leads",))
    leads, events = tables["leads"], tables.get("events")
    as_of = _as_of(cfg.as_of, tables)
    path = Path(cfg.out.replace("{as_of}", f"{as_of:%Y%m%d}"))
    path = (path if path.is_absolute() else base / path).resolve()
    if path.exists() and not cfg.overwrite:
        raise ConfigError(
            f"score-job: {path} exists (a run for {as_of:%Y-%m-%d} already wrote it). Fix: set "
            "overwrite: true to replace it, or another out:."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    check_output(path)
    model = load_model(
        cfg.model
        if cfg.model.startswith("models:/") or Path(cfg.model).is_absolute()
        else str(base / cfg.model),
        tracking_uri=tracking_uri_for(cfg.tracking_uri, base),
    )
    left_out: dict[str, int] = {}
    keep = leads["created_at"] < as_of
    left_out["created after as_of"] = int((~keep).sum())
    if cfg.max_age is not None:
        young = leads["created_at"] >= as_of - parse_duration(cfg.max_age, name="max_age")
        left_out[f"older than {cfg.max_age}"] = int((keep & ~young).sum())
        keep &= young
    if "conversions" in tables:
        first = tables["conversions"].groupby("lead_id")["converted_at"].min()
        done = pd.to_datetime(leads["lead_id"].map(first), utc=True) <= as_of
        done = done.fillna(False)
        left_out["converted before as_of"] = int((keep & done).sum())
        keep &= ~done
    if "lost_at" in leads.columns:
        lost = (leads["lost_at"] <= as_of).fillna(False)
        left_out["lost before as_of"] = int((keep & lost).sum())
        keep &= ~lost
    todo = leads.loc[keep].reset_index(drop=True)
    their = None if events is None else events[events["lead_id"].isin(todo["lead_id"])]
    _progress.stage(f"scoring {len(todo):,} open leads at {as_of}")
    scores = model.score(todo, their, as_of=as_of, reasons=cfg.reasons)
    scores["model_name"], scores["model_version"] = model_identity(model)
    write_table(scores, path)
    return ScoreJobResult(scores, path, as_of, {k: v for k, v in left_out.items() if v})


def _as_of(text: str, tables: dict[str, pd.DataFrame]) -> pd.Timestamp:
    from leadml.schema import parse_times

    if text == "now":
        return pd.Timestamp.now(tz="UTC")
    if text == "end_of_data":
        return data_end(tables)
    return pd.Timestamp(parse_times(pd.Series([text]), table="score-job", column="as_of").iloc[0])
