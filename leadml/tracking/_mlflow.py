"""MLflow: tracking of training runs, the leadml pyfunc model, registry aliases."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from leadml.exceptions import ConfigError
from leadml.tracking._registry import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS_CHAMPION,
    aliases,
    champion_periods,
    move_aliases,
    quick_http,
    registry_client,
    resolve_tracking_uri,
    rollback_target,
    use_experiment,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "PREVIOUS_CHAMPION",
    "load_model",
    "load_registered",
    "log_evaluation",
    "log_model_run",
    "log_rules_model",
    "log_training",
    "promote",
    "resolve_tracking_uri",
    "rollback",
]

MODEL_FILE = Path(__file__).with_name("pyfunc_model.py")
PACKAGE_DIR = Path(__file__).resolve().parents[1]


def _flatten(prefix: str, obj: Any, out: dict[str, Any]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(obj, (list, tuple)):
        out[prefix] = json.dumps(obj, default=str)[:5000]
    else:
        out[prefix] = obj


def _git_commit() -> str | None:
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                cwd=PACKAGE_DIR,
                capture_output=True,
                text=True,
                timeout=5,
                check=True,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        return None


def _requirements() -> list[str]:
    from importlib.metadata import version

    pkgs = [
        "pandas",
        "numpy",
        "scikit-learn",
        "lightgbm",
        "duckdb",
        "pyarrow",
        "pyyaml",
        "pydantic",
        "numba",
        "mlflow",
    ]
    return [f"{p}=={version(p)}" for p in pkgs]


def _example(model: Any) -> pd.DataFrame:
    """A synthetic input example (never real lead data): one lead with two events."""
    from leadml.tracking._pyfunc import records_from_tables

    spec = model.spec
    flat = bool(getattr(model, "is_flat", False))
    lead: dict[str, Any] = {"lead_id": "example-lead"}
    if not flat:
        lead["created_at"] = "2024-01-01T00:00:00Z"
    for c in spec.categorical_:
        levels = [v for v in spec.levels_[c] if v != "__other__"]
        lead[c] = levels[0] if levels else None
    for c in spec.numeric_:
        lead[c] = 1.0
    if getattr(spec, "has_accounts_", False):
        lead["account_id"] = "example-account"
    for r in model.scorecard.input_columns():
        if r not in lead and r in {
            getattr(x, "field", None) for _, x in model.scorecard.config_.rules
        }:
            lead[r] = None
    if flat:  # one row per lead: no time, no events
        return records_from_tables(pd.DataFrame([lead]))
    events = None
    if spec.behaviour and spec.event_types_:
        t = spec.event_types_[0]
        events = pd.DataFrame(
            {
                "lead_id": ["example-lead"] * 2,
                "timestamp": ["2024-01-05T10:00:00Z", "2024-01-20T15:30:00Z"],
                "event_type": [t, t],
                "detail": [None, None],
            }
        )
    return records_from_tables(pd.DataFrame([lead]), events, as_of="2024-02-01T00:00:00Z")


def log_training(
    result: Any,
    *,
    tracking_uri: str | None = None,
    experiment: str = "leadml",
    register: str | None = None,
    rules_path: str | Path | None = None,
    run_name: str | None = None,
) -> dict[str, Any]:
    """Log a :class:`~leadml.modeling.TrainResult` to MLflow: parameters, metrics of every model
    (``rules_auc``, ``lightgbm_ece``, ...), the report and plots, the scorecard YAML, tags, and the
    model (pyfunc, models-from-code). With ``register``, register a version and point the
    ``challenger`` alias at it. Returns ``run_id``, ``tracking_uri``, ``model_uri`` and ``version``.
    """
    import mlflow

    from leadml._version import __version__

    uri = resolve_tracking_uri(tracking_uri)
    use_experiment(uri, experiment)
    model = result.model
    meta = model.metadata
    with mlflow.start_run(run_name=run_name) as run:
        params: dict[str, Any] = {}
        backtest = meta.get("backtest") or {}
        production = meta.get("production") or {}
        _flatten(
            "",
            {
                "horizon": meta.get("horizon"),
                "mode": meta.get("mode"),
                "schedule": meta.get("schedule"),
                "observed_until": meta.get("observed_until"),
                "label_start": meta.get("label_start"),
                "backtest": {k: backtest.get(k) for k in ("origin", "gap", "rows", "test_window")},
                "production": {
                    k: production.get(k) for k in ("train_window", "rows", "conversions", "n_trees")
                },
                "inputs_hash": meta.get("inputs_hash"),
                "seed": meta.get("seed"),
                "calibration": meta.get("calibration"),
                "scorecard": meta.get("scorecard"),
                "lightgbm": {
                    k: v for k, v in (meta.get("lightgbm") or {}).get("params", {}).items()
                },
                "best_iteration": (meta.get("lightgbm") or {}).get("best_iteration"),
                "feature_spec": model.spec.to_dict().get("params", {}),
                "n_features": len(model.feature_names),
            },
            params,
        )
        mlflow.log_params({k: ("" if v is None else v) for k, v in params.items()})
        metrics = {}
        for name, row in result.report.metrics.iterrows():
            for k, v in row.items():
                if pd.notna(v):
                    metrics[f"{name}_{k}"] = float(v)
        subsets = result.report.subsets
        if len(subsets):
            unseen = subsets[subsets["subset"] == "leads never seen in training"]
            for r in unseen.to_dict("records"):
                for k in ("auc", "log_loss", "ece", "citl"):
                    if pd.notna(r.get(k)):
                        metrics[f"unseen_{r['model']}_{k}"] = float(r[k])
        spread = result.report.origin_spread()
        for (model_name, stat), row in spread.iterrows():
            if stat == "sd":
                for k, v in row.items():
                    if pd.notna(v):
                        metrics[f"{model_name}_{k}_origin_sd"] = float(v)
        iv = result.report.intervals
        for r in iv.itertuples(index=False):
            if " - " not in str(r.model) and r.metric in ("auc", "log_loss", "ece"):
                metrics[f"{r.model}_{r.metric}_low"] = float(r.low)
                metrics[f"{r.model}_{r.metric}_high"] = float(r.high)
        mlflow.log_metrics(metrics)
        mlflow.set_tags(
            {
                "leadml.version": __version__,
                "leadml.mode": str(meta.get("mode")),
                **({"git.commit": c} if (c := _git_commit()) else {}),
            }
        )
        with tempfile.TemporaryDirectory() as tmp:
            rep = Path(tmp) / "report"
            result.report.write(rep)
            # no personal data: the report holds aggregates only; drop the per-row predictions
            mlflow.log_artifacts(str(rep), artifact_path="report")
            if rules_path is not None and Path(rules_path).exists():
                mlflow.log_artifact(str(rules_path), artifact_path="scorecard")
            config = getattr(result, "config", None)
            if config is not None:
                mlflow.log_text(config.to_yaml(), "train_config.yaml")
            if len(getattr(result, "split_summary", ())):
                mlflow.log_text(result.split_summary.to_csv(index=False), "rows_used.csv")
            model.metadata["mlflow_run_id"] = run.info.run_id
            if register:
                model.metadata["registered_name"] = register
            info = _log_pyfunc(model, Path(tmp))
        version = None
        if register:
            mv = mlflow.register_model(info.model_uri, register)
            version = str(mv.version)
            client = mlflow.MlflowClient()
            client.set_registered_model_alias(register, CHALLENGER, version)
        return {
            "run_id": run.info.run_id,
            "tracking_uri": uri,
            "model_uri": info.model_uri,
            "version": version,
        }


def _log_pyfunc(model: Any, tmp: Path) -> Any:
    """Log ``model`` to the active run as the leadml pyfunc (models-from-code: the model folder
    as an artifact, leadml's code beside it, a signature and an input example)."""
    import mlflow
    from mlflow.models import infer_signature

    from leadml.tracking._pyfunc import score_records

    model_dir = model.save(tmp / "leadml_model")
    example = _example(model)
    with warnings.catch_warnings():
        # "score" is an integer column and never missing: MLflow's hint does not apply
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        signature = infer_signature(
            example, score_records(model, example, {"reasons": 3}), params={"reasons": 3}
        )
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(MODEL_FILE),
        artifacts={"leadml_model": str(model_dir)},
        code_paths=[str(PACKAGE_DIR)],
        pip_requirements=_requirements(),
        signature=signature,
        input_example=example,
    )


def log_model_run(
    model: Any,
    *,
    tracking_uri: str | None = None,
    experiment: str = "leadml",
    run_name: str | None = None,
    params: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
    texts: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Log a :class:`~leadml.modeling.LeadScoringModel` that did not come out of ``train`` (a
    recalibrated champion, the rules model of a cold start) as the leadml pyfunc in a new run,
    with ``params``, ``tags`` and text artifacts. Returns ``run_id``, ``tracking_uri`` and
    ``model_uri``."""
    import mlflow

    from leadml._version import __version__

    uri = resolve_tracking_uri(tracking_uri)
    use_experiment(uri, experiment)
    with mlflow.start_run(run_name=run_name) as run:
        if params:
            mlflow.log_params({k: ("" if v is None else v) for k, v in params.items()})
        mlflow.set_tags(
            {
                "leadml.version": __version__,
                "leadml.kind": model.kind,
                **{k: str(v)[:5000] for k, v in (tags or {}).items()},
            }
        )
        for path, text in (texts or {}).items():
            mlflow.log_text(text, path)
        model.metadata["mlflow_run_id"] = run.info.run_id
        with tempfile.TemporaryDirectory() as tmp:
            info = _log_pyfunc(model, Path(tmp))
        return {"run_id": run.info.run_id, "tracking_uri": uri, "model_uri": info.model_uri}


def log_rules_model(
    model: Any,
    *,
    tracking_uri: str | None = None,
    experiment: str = "leadml",
    reason: str = "",
) -> dict[str, Any]:
    """Log a rules model (:func:`leadml.modeling.rules_model`, a cold start) as the leadml
    pyfunc in a new run tagged ``leadml.kind=rules``. Returns ``run_id`` and ``model_uri``."""
    prod = model.metadata.get("production") or {}
    return log_model_run(
        model,
        tracking_uri=tracking_uri,
        experiment=experiment,
        run_name="cold start: rules scorecard",
        params={
            "kind": "rules",
            "scorecard": model.scorecard.config_.name,
            "horizon": model.metadata.get("horizon"),
            "rows": prod.get("rows"),
            "conversions": prod.get("conversions"),
        },
        tags={"leadml.reason": reason},
        texts={"scorecard/points.csv": model.scorecard.table().to_csv(index=False)},
    )


def log_evaluation(
    report: Any,
    *,
    model_ref: str,
    tracking_uri: str | None = None,
    experiment: str = "leadml",
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Log an evaluation of a saved model on labelled data: metrics of every model, the report
    and its plots, the model it evaluated (``model_ref``) and the evaluation window."""
    import mlflow

    from leadml._version import __version__

    uri = resolve_tracking_uri(tracking_uri)
    use_experiment(uri, experiment)
    with mlflow.start_run(run_name="evaluate") as run:
        flat: dict[str, Any] = {}
        _flatten(
            "",
            {
                "model": model_ref,
                **(params or {}),
                **{
                    k: v
                    for k, v in report.info.items()
                    if k
                    in (
                        "rows",
                        "conversions",
                        "window",
                        "horizon",
                        "censored_rows_left_out",
                        "in_sample",
                        "model_trained_to",
                    )
                },
            },
            flat,
        )
        mlflow.log_params({k: ("" if v is None else v) for k, v in flat.items()})
        mlflow.log_metrics(
            {
                f"{m}_{k}": float(v)
                for m, row in report.metrics.iterrows()
                for k, v in row.items()
                if pd.notna(v)
            }
        )
        mlflow.set_tags({"leadml.version": __version__, "leadml.job": "evaluate"})
        with tempfile.TemporaryDirectory() as tmp:
            report.write(Path(tmp) / "report")
            mlflow.log_artifacts(str(Path(tmp) / "report"), artifact_path="report")
        return {"run_id": run.info.run_id, "tracking_uri": uri}


def _client(tracking_uri: str | None) -> Any:
    import mlflow

    uri = resolve_tracking_uri(tracking_uri)
    mlflow.set_tracking_uri(uri)
    return mlflow.MlflowClient(tracking_uri=uri)


def promote(
    name: str,
    version: str | int,
    *,
    tracking_uri: str | None = None,
    reason: str = "promoted by hand",
    run_id: str | None = None,
    actor: str | None = None,
) -> dict[str, str | None]:
    """Point ``champion`` at ``version``; the old champion becomes ``previous_champion``. Both
    move or neither does, and the move is recorded in the alias history (``leadml history``)."""
    client = registry_client(tracking_uri)
    try:
        client.get_model_version(name, str(version))
    except Exception as exc:
        raise ConfigError(f"registry: model {name!r} has no version {version} ({exc}).") from None
    old = aliases(client, name).get(CHAMPION)
    if old == str(version):
        return {
            "champion": str(version),
            "previous_champion": aliases(client, name).get(PREVIOUS_CHAMPION),
        }
    moves: dict[str, str | None] = {CHAMPION: str(version)}
    if old is not None:
        moves = {PREVIOUS_CHAMPION: old, **moves}
    move_aliases(
        client,
        name,
        moves,
        action="promote",
        reason=reason,
        run_id=run_id,
        actor=actor,
        expect={CHAMPION: old},
    )
    return {"champion": str(version), "previous_champion": old}


def rollback(
    name: str,
    *,
    tracking_uri: str | None = None,
    reason: str = "rolled back by hand",
    actor: str | None = None,
) -> dict[str, str | None]:
    """Make the version that was ``champion`` before the current one champion again, recorded in
    the history. From leadml's alias history replayed as a stack (two rollbacks step back twice);
    ``previous_champion`` only when there is no history."""
    client = registry_client(tracking_uri)
    now = aliases(client, name)
    cur = now.get(CHAMPION)
    has_history = len(champion_periods(client, name)) > 0
    prev = rollback_target(client, name) if has_history else now.get(PREVIOUS_CHAMPION)
    if prev is None:
        raise ConfigError(
            f"registry: model {name!r} has no earlier champion to roll back to (its alias history "
            f"holds none before version {cur}, or there is no history and no "
            f"'{PREVIOUS_CHAMPION}' alias). Fix: promote a version by hand (leadml promote NAME "
            "--version N)."
        )
    moves: dict[str, str | None] = {CHAMPION: prev}
    if cur is not None:
        moves = {PREVIOUS_CHAMPION: cur, **moves}
    move_aliases(
        client, name, moves, action="rollback", reason=reason, actor=actor, expect={CHAMPION: cur}
    )
    return {"champion": prev, "previous_champion": cur}


def load_registered(model_uri: str, *, tracking_uri: str | None = None) -> tuple[Any, str, str]:
    """Load the LeadScoringModel behind ``models:/NAME@alias`` or ``models:/NAME/VERSION``.

    Returns ``(model, name, version)`` for the audit trail.
    """
    import mlflow

    from leadml.modeling import LeadScoringModel

    client = _client(tracking_uri)
    ref = model_uri.removeprefix("models:/")
    if "@" in ref:
        name, alias = ref.split("@", 1)
        try:
            mv = client.get_model_version_by_alias(name, alias)
        except Exception as exc:
            raise ConfigError(f"registry: {model_uri} not found ({exc}).") from None
    else:
        name, _, ver = ref.partition("/")
        mv = client.get_model_version(name, ver)
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{name}/{mv.version}", tracking_uri=resolve_tracking_uri(tracking_uri)
    )
    path = Path(local) / "artifacts" / "leadml_model"
    model = LeadScoringModel.load(path)
    model.metadata["registered_name"] = name
    model.metadata["registered_version"] = str(mv.version)
    return model, name, str(mv.version)


def load_model(ref: str | Path, *, tracking_uri: str | None = None) -> Any:
    """The one way to load a model: a folder written by ``LeadScoringModel.save`` / ``leadml
    train --out``, or ``models:/NAME@alias`` / ``models:/NAME/VERSION`` from the MLflow registry
    (downloaded and checked like a folder). :func:`model_identity` then says which model it is.
    """
    from leadml.modeling import LeadScoringModel

    text = str(ref)
    if text.startswith("models:/"):
        return load_registered(text, tracking_uri=tracking_uri)[0]
    return LeadScoringModel.load(Path(ref))


def registered_version_of_run(name: str, run_id: str) -> str | None:
    """The registry version of ``name`` logged from ``run_id`` (what a served model is), or
    ``None`` when it cannot be looked up quickly or is ambiguous.

    Only with an explicit ``MLFLOW_TRACKING_URI`` (a server never creates a store in its working
    folder), with one short attempt (an unreachable registry costs seconds, not MLflow's minutes of
    retries), and without changing the process's tracking URI."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        return None
    import mlflow

    with quick_http(timeout=5):
        try:
            client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
            quoted = name.replace("'", "\\'")
            found = client.search_model_versions(f"name='{quoted}' and run_id='{run_id}'")
        except Exception:  # a server without registry access still serves: use the run id
            return None
    versions = sorted(str(v.version) for v in found if v.name == name)
    return versions[0] if len(versions) == 1 else None


def log_to_run(
    run_id: str,
    *,
    tracking_uri: str | None = None,
    texts: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    metrics: dict[str, float] | None = None,
) -> None:
    """Add text artifacts (``path -> text``), tags and metrics to a finished run."""
    client = registry_client(tracking_uri)
    for path, text in (texts or {}).items():
        client.log_text(run_id, text, path)
    for k, v in (tags or {}).items():
        client.set_tag(run_id, k, str(v)[:5000])
    for key, value in (metrics or {}).items():
        if value is not None and pd.notna(value):
            client.log_metric(run_id, key, float(value))


def register_version(
    name: str,
    model_uri: str,
    *,
    tracking_uri: str | None = None,
    tags: dict[str, str] | None = None,
) -> str:
    """Register ``model_uri`` as a new version of ``name`` (created if needed), with ``tags``;
    no alias is moved. Returns the version."""
    import mlflow

    client = registry_client(tracking_uri)
    mv = mlflow.register_model(
        model_uri, name, tags={k: str(v)[:5000] for k, v in (tags or {}).items()}
    )
    version = str(mv.version)
    for k, v in (tags or {}).items():
        client.set_model_version_tag(name, version, k, str(v)[:5000])
    return version


def version_info(name: str, version: str, *, tracking_uri: str | None = None) -> dict[str, Any]:
    """Tags and creation time (UTC) of a registered version."""
    client = registry_client(tracking_uri)
    mv = client.get_model_version(name, str(version))
    return {
        "version": str(mv.version),
        "created": pd.Timestamp(int(mv.creation_timestamp), unit="ms", tz="UTC"),
        "tags": dict(mv.tags or {}),
        "run_id": mv.run_id,
    }
