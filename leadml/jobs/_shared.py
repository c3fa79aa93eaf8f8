"""What the retraining and recalibration jobs share: paths, the smoke test, the gate report,
registering a version and moving the aliases."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadml import _progress
from leadml.jobs._config import RetrainConfig
from leadml.jobs._gate import GateResult

__all__ = [
    "JobContext",
    "champion_data_end",
    "data_end",
    "job_context",
    "register_and_promote",
    "segment_frame",
    "smoke_test",
    "tracking_uri_for",
    "write_gate_report",
]


@dataclass
class JobContext:
    """What every registry job starts from: its config, the folder relative paths start from,
    the tracking URI (checked reachable), the client, the mode and the lock file."""

    cfg: RetrainConfig
    base: Path
    uri: str
    client: Any
    mode: str
    lock_path: Path


def job_context(
    config: str | Path | dict[str, Any] | RetrainConfig, *, dry_run: bool
) -> JobContext:
    """Read the job config, check the registry answers (one short attempt, before any work) and
    name the lock (``lock:``, else ``.leadml-retrain-NAME.lock`` next to the config)."""
    from leadml.jobs._config import load_job_config
    from leadml.tracking import registry_client, resolve_tracking_uri

    if isinstance(config, RetrainConfig):
        cfg, base = config, Path.cwd()
    else:
        cfg, base = load_job_config(RetrainConfig, config)
    uri = resolve_tracking_uri(tracking_uri_for(cfg.tracking_uri, base))
    _progress.stage(f"checking the registry at {uri}")
    client = registry_client(uri, quick=True)
    lock = Path(cfg.lock) if cfg.lock else Path(f".leadml-retrain-{cfg.model_name}.lock")
    return JobContext(
        cfg=cfg,
        base=base,
        uri=uri,
        client=client,
        mode="dry_run" if dry_run else cfg.gate.mode,
        lock_path=lock if lock.is_absolute() else base / lock,
    )


def tracking_uri_for(uri: str | None, base: Path) -> str | None:
    """A relative ``sqlite:///`` path is read from the config's folder, like the other paths."""
    if uri and uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{(base / uri.removeprefix('sqlite:///')).resolve()}"
    return uri


def smoke_test(
    model_uri: str, model: Any, data: Any, cut: pd.DataFrame, n: int
) -> tuple[bool, str]:
    """Load the logged model through MLflow's pyfunc, as an application would, and score ``n``
    evaluation rows: the same probabilities as the trained model, no missing ones."""
    import mlflow

    from leadml.tracking import records_from_tables

    try:
        sample = cut.drop_duplicates("lead_id").head(n).reset_index(drop=True)
        leads = sample[["lead_id"]].merge(data.leads, on="lead_id", how="left")
        leads["as_of"] = sample["as_of"].map(lambda t: t.isoformat())
        events = data.events[data.events["lead_id"].isin(sample["lead_id"])]
        records = records_from_tables(leads, events)
        loaded = mlflow.pyfunc.load_model(model_uri)
        got = loaded.predict(records, params={"reasons": 1})
        # the same tables the request carries (account roll-ups see the leads in the request)
        lead_rows = data.leads[data.leads["lead_id"].isin(sample["lead_id"])]
        want = model.score(lead_rows, events, cutoffs=sample, reasons=0)
        diff = float(
            np.max(np.abs(got["p_convert"].to_numpy(float) - want["p_convert"].to_numpy(float)))
        )
        if len(got) != len(sample) or not np.isfinite(diff):
            return (
                False,
                f"pyfunc returned {len(got)} rows for {len(sample)}, or missing probabilities",
            )
        ok = diff <= 1e-9
        return ok, f"{len(sample)} rows through pyfunc, max |difference| {diff:.1e}"
    except Exception as exc:  # a broken logged model must refuse the promotion, not crash the job
        return False, f"the logged model failed through pyfunc: {type(exc).__name__}: {exc}"


def write_gate_report(cfg: RetrainConfig, base: Path, text: str, gate: GateResult) -> Path:
    from leadml._files import write_atomic

    folder = Path(cfg.report_dir) if cfg.report_dir else base / "retrain_reports"
    if not folder.is_absolute():
        folder = (base / folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    stamp = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"gate_{cfg.model_name}_{stamp}.md"
    write_atomic(path, text.encode())
    write_atomic(path.with_suffix(".csv"), gate.checks.to_csv(index=False).encode())
    return path


def register_and_promote(
    cfg: RetrainConfig,
    uri: str,
    model_uri: str,
    champion: str | None,
    gate: GateResult,
    digest: str,
    run_id: str,
    actor: str | None,
    *,
    kind: str,
    action: str = "retrain",
) -> str:
    from leadml.tracking import (
        RegistryError,
        aliases,
        move_aliases,
        register_version,
        registry_client,
    )

    _progress.stage(f"registering {cfg.model_name} and moving the champion alias")
    client = registry_client(uri)
    now = aliases(client, cfg.model_name).get("champion")
    if now != champion:  # checked again at the move; this keeps a stale winner unregistered
        raise RegistryError(
            f"registry: {cfg.model_name}@champion is version {now} now, not {champion} as when "
            "this run compared against it (another run moved it). Nothing was registered or "
            "moved; run again to compare against the new one."
        )
    version = register_version(
        cfg.model_name,
        model_uri,
        tracking_uri=uri,
        tags={
            "leadml.kind": kind,
            "leadml.gate.passed": str(gate.passed).lower(),
            "leadml.gate.reason": gate.reason,
            "leadml.gate.checks": json.dumps(
                {
                    r.check: (None if r.passed is None else bool(r.passed))
                    for r in gate.checks.itertuples(index=False)
                }
            ),
            "leadml.eval_rows_sha256": digest,
            "leadml.run_id": run_id,
        },
    )
    moves: dict[str, str | None] = {"champion": version}
    if champion is not None:
        moves = {"previous_champion": champion, **moves}
    move_aliases(
        client,
        cfg.model_name,
        moves,
        action=action,
        reason=gate.reason,
        run_id=run_id,
        actor=actor or "leadml retrain",
        expect={"champion": champion},
    )
    return version


def segment_frame(cfg: RetrainConfig, data: Any, cut: pd.DataFrame) -> pd.DataFrame | None:
    """The gate's segment columns (``gate.segments``, profile columns of the leads) for each
    evaluation row of ``cut``; ``None`` when no segments are configured."""
    from leadml.exceptions import ConfigError

    if not cfg.gate.segments:
        return None
    missing = [c for c in cfg.gate.segments if c not in data.leads.columns]
    if missing:
        raise ConfigError(
            f"gate.segments: column(s) {missing} are not in the leads table (it has "
            f"{list(data.leads.columns)}). Fix: name profile columns of the leads."
        )
    return (
        cut[["lead_id"]]
        .merge(data.leads[["lead_id", *cfg.gate.segments]], on="lead_id", how="left")
        .drop(columns="lead_id")
    )


def data_end(tables: dict[str, pd.DataFrame]) -> pd.Timestamp:
    """The latest time in the contract tables (lead created, event, conversion): where the data
    ends when nothing else says so."""
    columns = {"leads": "created_at", "events": "timestamp", "conversions": "converted_at"}
    times = [tables[t][c].max() for t, c in columns.items() if t in tables and len(tables[t])]
    return max(pd.Timestamp(t) for t in times if pd.notna(t))


def champion_data_end(model: Any) -> tuple[pd.Timestamp | None, str]:
    """Up to when the champion knew outcomes: ``production.labels_known_until`` (the end of the
    data it was trained or recalibrated on), else its last training cut-off plus its horizon;
    ``None`` when its metadata holds neither (then say so: the comparison may favour it)."""
    prod = model.metadata.get("production") or {}
    if prod.get("labels_known_until"):
        return pd.Timestamp(prod["labels_known_until"]), ""
    window = prod.get("train_window") or []
    if len(window) == 2 and window[1]:
        h = pd.Timedelta(model.metadata.get("horizon", "30 days"))
        return pd.Timestamp(window[1]) + h, "(from its last training cut-off plus its horizon)"
    return None, (
        "the champion's metadata does not say up to when it was trained: the evaluation rows may "
        "include its training rows, which favours it"
    )
