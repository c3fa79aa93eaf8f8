"""``leadml recalibrate``: refit only the champion's calibration on a recent labelled window.

When the ranking holds but the base rate moved (what the monitor suggests then), a refit of the
whole model is seldom what is needed: clinical prediction research (Steyerberg; Van Calster)
finds a logistic recalibration, ``p' = sigmoid(a * logit(p) + b)``, usually is. The new version
goes through the same gate as a retrained one: fitted on the older part of the window, judged
on the newer part against the champion (on rows neither was fitted on), then refitted on the
whole window and registered, and ``champion`` moves only if the gate passes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadml import _progress
from leadml._math import fit_intercept, fit_platt, logit
from leadml.exceptions import ConfigError
from leadml.jobs._config import RetrainConfig
from leadml.jobs._gate import evaluate_gate, rows_hash
from leadml.jobs._lock import JobLock
from leadml.jobs._retrain import EXIT_KEPT, EXIT_PROMOTED, RetrainResult
from leadml.jobs._shared import (
    champion_data_end,
    job_context,
    register_and_promote,
    segment_frame,
    smoke_test,
    write_gate_report,
)

__all__ = ["recalibrate", "recalibration"]


def recalibration(p: np.ndarray, y: np.ndarray, *, slope: bool = True) -> tuple[float, float]:
    """The logistic recalibration ``(a, b)`` of probabilities ``p`` on labels ``y``; with
    ``slope=False`` (or a slope that is not positive, which would reverse the model) only the
    intercept moves (``a = 1``)."""
    z = logit(np.asarray(p, dtype=float))
    yy = np.asarray(y, dtype=float)
    if slope and min(yy.sum(), len(yy) - yy.sum()) >= 50:
        a, b = fit_platt(z, yy)
        if np.isfinite(a) and a > 0:
            return float(a), float(b)
    return 1.0, float(fit_intercept(z, yy))


def recalibrate(
    config: str | Path | dict[str, Any] | RetrainConfig,
    *,
    window: str = "90d",
    slope: bool = True,
    dry_run: bool = False,
    actor: str | None = None,
) -> RetrainResult:
    """Recalibrate the champion on the fully labelled rows of the last ``window`` (by ``as_of``;
    see the module docstring). The config is the retraining job's (data, registry, gate, lock)."""
    from leadml.features import parse_duration
    from leadml.modeling import labelled_rows
    from leadml.schema import validate_lead_data
    from leadml.tracking import aliases, load_model, log_model_run, log_to_run

    t0 = time.perf_counter()
    ctx = job_context(config, dry_run=dry_run)
    cfg, base, uri, mode, client = ctx.cfg, ctx.base, ctx.uri, ctx.mode, ctx.client
    name = cfg.model_name
    with JobLock(ctx.lock_path, job=f"recalibrate {name}"):
        champion = aliases(client, name).get("champion")
        if champion is None:
            raise ConfigError(
                f"recalibrate: {name!r} has no champion to recalibrate. Fix: run leadml retrain "
                "first."
            )
        model = load_model(f"models:/{name}/{champion}", tracking_uri=uri)
        if model.kind != "model":
            raise ConfigError(
                f"recalibrate: {name} version {champion} is the rules scorecard (a cold start); "
                "there is no calibrator to refit. Fix: leadml retrain, once there is data."
            )
        _progress.stage("reading and validating the data")
        tables = cfg.data.load(base, needed=("leads", "conversions"))
        data = validate_lead_data(
            tables["leads"],
            tables.get("events"),
            tables["conversions"],
            unknown_leads=cfg.train.unknown_leads,
        )
        h = pd.Timedelta(model.metadata.get("horizon", cfg.train.horizon_td))
        tcfg = cfg.train.updated(horizon=h, every=model.metadata.get("schedule") or cfg.train.every)
        cut = None
        if cfg.cutoffs is not None:
            from leadml.io import load_tables

            cut = load_tables(cutoffs=base / cfg.cutoffs)["cutoffs"]
        lr = labelled_rows(data, tcfg, cut, caller="recalibrate")
        rows = lr.rows
        span = parse_duration(window, name="window")
        rows = rows[rows["as_of"] > rows["as_of"].max() - span].reset_index(drop=True)
        # only rows the champion never saw: scored after the end of the data it was fitted on
        end, how = champion_data_end(model)
        if end is not None:
            rows = rows[rows["as_of"] >= end].reset_index(drop=True)
        mid = rows["as_of"].quantile(0.5) if len(rows) else None
        fit_part = (rows["as_of"] <= mid).to_numpy() if mid is not None else np.zeros(0, bool)
        need = cfg.gate.min_eval_conversions
        halves = [rows.loc[fit_part, "label"], rows.loc[~fit_part, "label"]]
        if any(hv.sum() < need or hv.sum() == len(hv) for hv in halves):
            since = f", scored after the champion's data ended ({end:%Y-%m-%d})" if end else ""
            raise ConfigError(
                f"recalibrate: the last {window} hold {len(rows):,} fully labelled rows{since}, "
                f"with {int(halves[0].sum())} conversions in the older half and "
                f"{int(halves[1].sum())} in the newer one; fitting on one and judging on the other "
                f"needs {need} in each (gate.min_eval_conversions). Fix: a longer --window, or "
                "wait for more outcomes."
            )
        _progress.stage(f"champion's probabilities on {len(rows):,} recent labelled rows")
        feats, rules_x = model.features(data, cutoffs=rows[["lead_id", "as_of"]])
        p = model.predict_proba(feats)
        y = rows["label"].to_numpy(int)
        a_fit, b_fit = recalibration(p[fit_part], y[fit_part], slope=slope)
        judge = rows.loc[~fit_part].reset_index(drop=True)
        p_new = model.recalibrated(a_fit, b_fit).predict_proba(feats.loc[~fit_part])
        p_rules = model.scorecard.predict_proba(rules_x.loc[~fit_part])[:, 1]
        a, b = recalibration(p, y, slope=slope)
        note = (
            f"recalibrated on {len(rows):,} rows ({rows['as_of'].min():%Y-%m-%d} .. "
            f"{rows['as_of'].max():%Y-%m-%d}): p' = sigmoid({a:.3f} * logit(p) + {b:+.3f})"
        )
        new = model.recalibrated(a, b, note=note)
        new.metadata.update(
            {
                "recalibrated": {
                    "from_version": champion,
                    "a": a,
                    "b": b,
                    "window": [str(rows["as_of"].min()), str(rows["as_of"].max())],
                    "rows": len(rows),
                    "conversions": int(y.sum()),
                },
                "production": {
                    **(model.metadata.get("production") or {}),
                    "train_window": [
                        (model.metadata.get("production") or {}).get("train_window", [None])[0],
                        str(rows["as_of"].max()),
                    ],
                    # the recalibration saw outcomes up to here: the next gate starts after it
                    "labels_known_until": str(lr.end),
                },
            }
        )
        info = log_model_run(
            new,
            tracking_uri=uri,
            experiment=cfg.experiment,
            run_name=f"recalibrate {name} v{champion}",
            params={"from_version": champion, "a": a, "b": b, "window": window, "rows": len(rows)},
            tags={"leadml.job": "recalibrate"},
        )
        smoke = smoke_test(
            info["model_uri"], new, data, judge[["lead_id", "as_of"]], cfg.gate.smoke_rows
        )
        gate = evaluate_gate(
            judge,
            p_new,
            p_rules,
            p[~fit_part],
            cfg.gate,
            champion_age_days=None,
            segments=segment_frame(cfg, data, judge[["lead_id", "as_of"]]),
            smoke=smoke,
        )
        digest = rows_hash(judge)
        gate.info.update(
            {
                "model": name,
                "champion": f"version {champion}",
                "challenger": "the champion recalibrated (calibration refitted, trees unchanged)",
                "fitted on": f"{int(fit_part.sum()):,} rows to {mid:%Y-%m-%d}",
                "evaluation rows": f"{len(judge):,} ({int(judge['label'].sum())} conversions)",
                "evaluation rows sha256": digest,
                "mode": mode,
            }
        )
        report = gate.markdown() + f"\n- note: {note}\n"
        path = write_gate_report(cfg, base, report, gate)
        log_to_run(
            info["run_id"],
            tracking_uri=uri,
            texts={"gate/report.md": report, "gate/checks.csv": gate.checks.to_csv(index=False)},
            tags={
                "leadml.gate.passed": str(gate.passed).lower(),
                "leadml.gate.reason": gate.reason,
            },
        )
        common = {
            "model_name": name,
            "champion_before": champion,
            "run_id": info["run_id"],
            "gate": gate,
            "eval_rows": len(judge),
            "eval_hash": digest,
            "report_path": path,
            "notes": [note, *([how] if how else [])],
        }
        if mode == "dry_run" or not gate.passed:
            res = RetrainResult(
                decision=("would_promote" if gate.passed else "would_keep")
                if mode == "dry_run"
                else "kept",
                reason=("dry run, nothing moved: " if mode == "dry_run" else "champion kept: ")
                + gate.reason,
                exit_code=EXIT_PROMOTED if gate.passed else EXIT_KEPT,
                champion_after=champion,
                **common,
            )
        else:
            version = register_and_promote(
                cfg,
                uri,
                info["model_uri"],
                champion,
                gate,
                digest,
                info["run_id"],
                actor or "leadml recalibrate",
                kind="model",
                action="recalibrate",
            )
            res = RetrainResult(
                decision="promoted",
                reason=f"version {version} (version {champion} recalibrated) is champion: {gate.reason}",
                exit_code=EXIT_PROMOTED,
                champion_after=version,
                version=version,
                **common,
            )
    res.seconds = time.perf_counter() - t0
    return res
