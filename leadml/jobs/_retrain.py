"""``leadml retrain``: retrain on fresh data, judge the challenger against the champion on one
frozen set of rows, and move the ``champion`` alias only when the gate passes.

Safe unattended: the registry is checked reachable before any work; a lock keeps two runs from
overlapping; the aliases move last, together or not at all, and only if the champion is still the
one compared against; every move is recorded in leadml's alias history.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadml import _progress
from leadml.jobs._config import RetrainConfig
from leadml.jobs._gate import GateResult, evaluate_gate, rows_hash
from leadml.jobs._lock import JobLock
from leadml.jobs._shared import (
    champion_data_end,
    data_end,
    job_context,
    register_and_promote,
    segment_frame,
    smoke_test,
    write_gate_report,
)

__all__ = ["EXIT_KEPT", "EXIT_LOCKED", "EXIT_PROMOTED", "RetrainResult", "retrain"]

EXIT_PROMOTED, EXIT_KEPT, EXIT_LOCKED = 0, 3, 4
"""``leadml retrain`` exit codes: 0 promoted (or, on a cold start, the rules scorecard registered
as champion); 3 kept (the gate refused, or too little data: the reason is printed and logged);
4 another run holds the lock (nothing done); 2 failed on bad input, configuration or an
unreachable registry (aliases untouched); 1 internal error; 130 interrupted."""


@dataclass
class RetrainResult:
    """What a retraining run decided and why."""

    decision: str  # promoted | kept | would_promote | would_keep | cold_start
    reason: str
    exit_code: int
    model_name: str
    champion_before: str | None
    champion_after: str | None
    version: str | None = None
    run_id: str | None = None
    gate: GateResult | None = None
    eval_rows: int = 0
    eval_hash: str | None = None
    report_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def retrain(
    config: str | Path | dict[str, Any] | RetrainConfig,
    *,
    dry_run: bool = False,
    actor: str | None = None,
) -> RetrainResult:
    """Run one retraining cycle (see the module docstring and :class:`RetrainConfig`).

    Steps: check the registry; take the lock; read and validate the data; the minimum-data gate
    (too little data and no champion yet: the rules scorecard becomes the champion, tagged
    ``leadml.kind=rules``); train the challenger with the training protocol (backtest +
    production fit); freeze the evaluation rows (the backtest's test block: the most recent fully
    labelled rows, of which only those scored after the champion's data ended; with too few
    conversions there the champion is kept), hash them; score champion, challenger (the
    procedure as backtested) and
    the rules on exactly those rows; log the run; smoke-test the logged model through pyfunc;
    decide; register and move the aliases only if the gate passes and the mode acts.
    """
    from leadml.tracking import aliases

    t0 = time.perf_counter()
    ctx = job_context(config, dry_run=dry_run)
    cfg, base, uri, mode = ctx.cfg, ctx.base, ctx.uri, ctx.mode
    with JobLock(ctx.lock_path, job=f"retrain {cfg.model_name}"):
        before = aliases(ctx.client, cfg.model_name).get("champion")
        res = _cycle(cfg, base, uri, mode, before, actor)
    res.seconds = time.perf_counter() - t0
    return res


def _cycle(
    cfg: RetrainConfig, base: Path, uri: str, mode: str, champion: str | None, actor: str | None
) -> RetrainResult:
    from leadml.modeling import NotEnoughDataError, train
    from leadml.schema import validate_lead_data
    from leadml.tracking import load_model, log_training, version_info

    name = cfg.model_name
    _progress.stage("reading the data sources")
    tables = cfg.data.load(base, needed=("leads", "conversions"))
    cutoffs = None
    if cfg.cutoffs is not None:
        from leadml.io import load_tables

        cutoffs = load_tables(cutoffs=base / cfg.cutoffs)["cutoffs"]
    _progress.stage("validating the leads, events and conversions")
    data = validate_lead_data(
        tables["leads"],
        tables.get("events"),
        tables["conversions"],
        unknown_leads=cfg.train.unknown_leads,
    )
    champ_model, champ_info, champ_kind = None, None, None
    if champion is not None:
        _progress.stage(f"loading the champion ({name} version {champion})")
        champ_info = version_info(name, champion, tracking_uri=uri)
        champ_kind = champ_info["tags"].get("leadml.kind", "model")
        champ_model = load_model(f"models:/{name}/{champion}", tracking_uri=uri)
    if champ_model is not None and champ_kind != "rules":
        # no row scored after the champion's labels ended can have a known outcome yet: say so
        # before spending the training
        known, _ = champion_data_end(champ_model)
        latest = (
            pd.Timestamp(cfg.train.observed_until)
            if cfg.train.observed_until
            else data_end(
                {"leads": data.leads, "events": data.events, "conversions": data.conversions}
            )
        )
        if known is not None and latest - cfg.train.horizon_td < known:
            return _kept(
                cfg,
                champion,
                f"no new outcomes yet: the champion was trained on the data up to "
                f"{known:%Y-%m-%d} and the data now ends {latest:%Y-%m-%d}, so no "
                f"lead scored since has a known {cfg.train.horizon} outcome; a challenger could "
                "not be compared with it on rows neither was trained on. Run again after "
                f"{known + cfg.train.horizon_td:%Y-%m-%d}.",
            )
    try:
        res = train(data, config=cfg.train, cutoffs=cutoffs)
    except NotEnoughDataError as exc:
        if champion is None and cfg.rules_as_cold_start:
            return _cold_start(cfg, base, uri, mode, data, cutoffs, str(exc), actor)
        return _kept(cfg, champion, f"not enough data to train a challenger: {exc}")
    notes = list(res.notes)
    # ---- the frozen evaluation rows
    ts = res.training_set
    rows = ts.loc[ts["window"] == "test", ["lead_id", "as_of", "label"]].reset_index(drop=True)
    if champ_model is not None and champ_kind != "rules":
        # only rows scored after the champion's labels ended (as in deployment): an earlier row
        # shares its lead's outcome with the champion's training rows, which would favour it
        end, how = champion_data_end(champ_model)
        if end is None:
            notes.append(how)
        else:
            if how:
                notes.append(f"the champion's data end {end:%Y-%m-%d} {how}")
            after = (rows["as_of"] >= end).to_numpy()
            fresh = int(rows.loc[after, "label"].sum())
            if fresh < cfg.gate.min_eval_conversions:
                return _kept(
                    cfg,
                    champion,
                    f"too little fully labelled data since the champion was trained (on the data "
                    f"up to {end:%Y-%m-%d}; the rows after it whose {cfg.train.horizon} outcome is "
                    f"known: {int(after.sum()):,}, with {fresh} conversions; the gate needs "
                    f"{cfg.gate.min_eval_conversions}, gate.min_eval_conversions) to compare the "
                    "two on rows neither was trained on. Run again when more outcomes are in.",
                )
            if not after.all():
                notes.append(
                    f"evaluation rows: the {int(after.sum()):,} of the backtest's "
                    f"{len(rows):,} test rows scored after the champion's data ended "
                    f"({end:%Y-%m-%d}): out of sample for both"
                )
            rows = rows.loc[after].reset_index(drop=True)
    if rows["label"].sum() < cfg.gate.min_eval_conversions:
        notes.append(
            f"the evaluation rows hold only {int(rows['label'].sum())} conversions "
            f"(gate.min_eval_conversions = {cfg.gate.min_eval_conversions}): wide intervals"
        )
    digest = rows_hash(rows)
    cut = rows[["lead_id", "as_of"]]
    _progress.stage(f"scoring champion and challenger on the {len(rows):,} evaluation rows")
    feats, rules_x = res.backtest_model.features(data, cutoffs=cut)
    p_new = res.backtest_model.predict_proba(feats)
    p_rules = res.backtest_model.scorecard.predict_proba(rules_x)[:, 1]
    p_champ = None
    if champ_model is not None:
        p_champ = _champion_p(champ_model, champ_kind, data, cut)
    segments = segment_frame(cfg, data, cut)
    age = None
    if champ_info is not None:
        age = (pd.Timestamp.now(tz="UTC") - _champion_since(uri, name, champ_info)) / pd.Timedelta(
            days=1
        )
    # ---- log the run (the model is logged, not registered), then the smoke test
    _progress.stage("logging the challenger to MLflow")
    info = log_training(
        res, tracking_uri=uri, experiment=cfg.experiment, register=None, run_name=f"retrain {name}"
    )
    smoke = smoke_test(info["model_uri"], res.model, data, cut, cfg.gate.smoke_rows)
    if mode == "disabled":
        gate = evaluate_gate(
            rows,
            p_new,
            p_rules,
            None,
            cfg.gate.model_copy(update={"beat_rules": False, "segments": []}),
            smoke=smoke,
        )
        gate.checks = gate.checks[gate.checks["check"] == "pyfunc_smoke_test"].reset_index(
            drop=True
        )
        gate.passed = bool(smoke[0])
        gate.reason = (
            "gate disabled: promoted on the smoke test alone"
            if smoke[0]
            else (f"refused: pyfunc_smoke_test ({smoke[1]})")
        )
    else:
        gate = evaluate_gate(
            rows,
            p_new,
            p_rules,
            p_champ,
            cfg.gate,
            champion_age_days=age,
            segments=segments,
            smoke=smoke,
        )
    gate.info.update(
        {
            "model": name,
            "champion": f"version {champion}"
            + (" (rules scorecard)" if champ_kind == "rules" else "")
            if champion
            else "none",
            "mode": mode,
            "evaluation rows": f"{len(rows):,} ({int(rows['label'].sum()):,} conversions), "
            f"{rows['as_of'].min():%Y-%m-%d} .. {rows['as_of'].max():%Y-%m-%d}",
            "evaluation rows sha256": digest,
            "challenger run": info["run_id"],
        }
    )
    report = gate.markdown() + "".join(f"\n- note: {n}" for n in notes)
    report_path = write_gate_report(cfg, base, report, gate)
    from leadml.tracking import log_to_run

    log_to_run(
        info["run_id"],
        tracking_uri=uri,
        texts={
            "gate/report.md": report,
            "gate/checks.csv": gate.checks.to_csv(index=False),
            "gate/metrics.csv": gate.metrics.to_csv(index=False),
        },
        tags={
            "leadml.job": "retrain",
            "leadml.gate.passed": str(gate.passed).lower(),
            "leadml.gate.mode": mode,
            "leadml.gate.reason": gate.reason,
            "leadml.eval_rows_sha256": digest,
            "leadml.champion_compared": champion or "",
        },
        metrics={"eval_rows": len(rows), "eval_conversions": float(rows["label"].sum())},
    )
    common = {
        "model_name": name,
        "champion_before": champion,
        "run_id": info["run_id"],
        "gate": gate,
        "eval_rows": len(rows),
        "eval_hash": digest,
        "report_path": report_path,
        "notes": notes,
    }
    if mode == "dry_run":
        return RetrainResult(
            decision="would_promote" if gate.passed else "would_keep",
            reason=f"dry run, nothing moved: {gate.reason}",
            exit_code=EXIT_PROMOTED if gate.passed else EXIT_KEPT,
            champion_after=champion,
            **common,
        )
    if not gate.passed:
        return RetrainResult(
            decision="kept",
            reason=f"champion kept ({'version ' + champion if champion else 'none'}): {gate.reason}",
            exit_code=EXIT_KEPT,
            champion_after=champion,
            **common,
        )
    version = register_and_promote(
        cfg, uri, info["model_uri"], champion, gate, digest, info["run_id"], actor, kind="model"
    )
    return RetrainResult(
        decision="promoted",
        reason=f"version {version} is champion: {gate.reason}",
        exit_code=EXIT_PROMOTED,
        champion_after=version,
        version=version,
        **common,
    )


def _champion_p(model: Any, kind: str | None, data: Any, cut: pd.DataFrame) -> np.ndarray:
    feats, rules_x = model.features(data, cutoffs=cut)
    if kind == "rules":
        return np.asarray(model.scorecard.predict_proba(rules_x)[:, 1], dtype=float)
    return np.asarray(model.predict_proba(feats), dtype=float)


def _champion_since(uri: str, name: str, info: dict[str, Any]) -> pd.Timestamp:
    """When the current champion became champion (leadml's alias history; else the version's
    registration time)."""
    from leadml.tracking import champion_periods, registry_client

    periods = champion_periods(registry_client(uri), name)
    mine = periods[(periods["version"] == info["version"]) & periods["until"].isna()]
    return pd.Timestamp(mine["since"].iloc[-1]) if len(mine) else info["created"]


def _kept(cfg: RetrainConfig, champion: str | None, reason: str) -> RetrainResult:
    return RetrainResult(
        decision="kept",
        reason=f"champion kept ({'version ' + champion if champion else 'none'}): {reason}",
        exit_code=EXIT_KEPT,
        model_name=cfg.model_name,
        champion_before=champion,
        champion_after=champion,
    )


def _cold_start(
    cfg: RetrainConfig,
    base: Path,
    uri: str,
    mode: str,
    data: Any,
    cutoffs: pd.DataFrame | None,
    why: str,
    actor: str | None,
) -> RetrainResult:
    """No champion and too little data for a learned model: the rules scorecard becomes the
    champion, so applications have scores from day one."""
    from leadml.modeling import NotEnoughDataError, rules_model
    from leadml.tracking import log_rules_model

    _progress.stage("cold start: registering the rules scorecard as the model")
    try:
        model = rules_model(data, config=cfg.train, cutoffs=cutoffs)
    except NotEnoughDataError as exc:
        return _kept(
            cfg,
            None,
            f"no champion, and not enough data for a learned model ({why}) nor to map the "
            f"scorecard's points to probabilities ({exc})",
        )
    reason = f"cold start: no champion and not enough data for a learned model ({why})"
    if mode == "dry_run":
        return RetrainResult(
            decision="would_cold_start",
            reason=f"dry run, nothing moved: {reason}",
            exit_code=EXIT_PROMOTED,
            model_name=cfg.model_name,
            champion_before=None,
            champion_after=None,
        )
    info = log_rules_model(model, tracking_uri=uri, experiment=cfg.experiment, reason=reason)
    gate = GateResult(True, reason, pd.DataFrame(columns=["check", "passed"]), pd.DataFrame())
    version = register_and_promote(
        cfg, uri, info["model_uri"], None, gate, "", info["run_id"], actor, kind="rules"
    )
    return RetrainResult(
        decision="cold_start",
        reason=f"version {version} (the rules scorecard) is champion: {reason}",
        exit_code=EXIT_PROMOTED,
        model_name=cfg.model_name,
        champion_before=None,
        champion_after=version,
        version=version,
        run_id=info["run_id"],
    )
