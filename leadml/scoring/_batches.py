"""Batch scoring with bounded memory: whole accounts at a time, streamed to Parquet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadml._files import ParquetParts
from leadml.exceptions import ConfigError
from leadml.features import Engine
from leadml.schema import LeadData, UnknownLeads, positions
from leadml.scoring._scorer import ScoringModel, score_leads, validate_inputs

__all__ = ["BatchScores", "write_scores"]


@dataclass(frozen=True)
class BatchScores:
    """What :func:`write_scores` wrote."""

    path: Path
    rows: int
    batches: int


def batches_of(leads: pd.DataFrame, batch_leads: int) -> np.ndarray:
    """A batch number per lead: about ``batch_leads`` leads per batch, the leads of one account
    always in the same batch (a lead without an account is its own group)."""
    if "account_id" in leads.columns:
        key = leads["account_id"].astype(object).where(leads["account_id"].notna(), None)
        key = key.fillna(pd.Series("\x00lead:" + leads["lead_id"].astype(str), index=leads.index))
    else:
        key = leads["lead_id"].astype(str)
    group, uniques = pd.factorize(key, sort=False)
    size = np.bincount(group, minlength=len(uniques))
    first = np.cumsum(size) - size  # leads before each group, in order of first appearance
    return (first // max(1, batch_leads))[group].astype(np.int64)


def write_scores(
    model: ScoringModel,
    leads: pd.DataFrame | LeadData,
    events: pd.DataFrame | None,
    out: str | Path,
    *,
    as_of: str | pd.Timestamp | None = None,
    reasons: int = 3,
    batch_leads: int = 50_000,
    unknown_leads: UnknownLeads = "error",
    engine: Engine = "auto",
) -> BatchScores:
    """Score every lead at ``as_of`` (default: now) and write the scores to the Parquet file
    ``out``, ``batch_leads`` leads at a time (whole accounts per batch, so account roll-ups are
    exact). The inputs are validated once; the features, probabilities and reasons exist for one
    batch at a time, so the memory beyond the inputs is bounded by the batch size, not by the
    number of leads. Rows are written batch by batch (each keeps its ``lead_id``); the same rows
    and values as ``model.score(leads, events, as_of=as_of, reasons=reasons)``.
    """
    import pyarrow as pa

    if batch_leads < 1:
        raise ConfigError(f"write_scores: batch_leads must be >= 1, got {batch_leads}.")
    out = Path(out)
    if out.suffix.lower() != ".parquet":
        raise ConfigError(f"write_scores: {out} must be a .parquet file.")
    data = validate_inputs(model, leads, events, unknown_leads)
    when = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp.now(tz="UTC")
    if when.tzinfo is None:
        when = when.tz_localize("UTC")
    batch = batches_of(data.leads, batch_leads)
    ev_batch = batch[positions(data.events["lead_id"], data.leads["lead_id"])]
    ev_order = np.argsort(ev_batch, kind="stable")
    ev_bounds = np.searchsorted(ev_batch[ev_order], np.arange(batch.max() + 2 if len(batch) else 1))
    conv = data.conversions
    conv_batch = batch[positions(conv["lead_id"], data.leads["lead_id"])] if len(conv) else None
    n_batches = int(batch.max()) + 1 if len(batch) else 0

    def empty() -> Any:  # no leads: still a file with the score columns
        scores0 = score_leads(model, data.leads.iloc[:0], None, as_of=when, reasons=reasons)
        return pa.Table.from_pandas(scores0, preserve_index=False)

    with ParquetParts(out) as parts:
        for k in range(n_batches):
            mine = batch == k
            if not mine.any():
                continue
            ev_rows = ev_order[ev_bounds[k] : ev_bounds[k + 1]]
            part = LeadData(
                leads=data.leads.loc[mine].reset_index(drop=True),
                events=data.events.iloc[np.sort(ev_rows)].reset_index(drop=True),
                conversions=conv.loc[conv_batch == k].reset_index(drop=True)
                if conv_batch is not None
                else conv,
            )
            scores = score_leads(model, part, as_of=when, reasons=reasons, engine=engine)
            parts.write(pa.Table.from_pandas(scores, preserve_index=False))
        parts.finish(empty)
    rows = parts.rows
    if rows != len(data.leads):
        raise RuntimeError(
            f"leadml internal error: wrote {rows} scores for {len(data.leads)} leads."
        )
    return BatchScores(path=out, rows=rows, batches=n_batches)
