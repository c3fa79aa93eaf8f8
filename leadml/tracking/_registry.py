"""Registry aliases moved together or not at all, and the alias history MLflow does not keep.

MLflow stores only where an alias points now. leadml records every move it makes as a tag on the
registered model (``leadml.alias_log.<time>.<id>``: alias, version, the version it replaced,
why, by which run or person), so the history lives next to the model on whatever tracking server
holds it, and two machines see the same history. :func:`alias_history` reads it back;
:func:`champion_periods` says which version was ``champion`` from when to when.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from leadml.exceptions import ConfigError, LeadmlError

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "PREVIOUS_CHAMPION",
    "RegistryError",
    "alias_history",
    "aliases",
    "champion_periods",
    "move_aliases",
    "quick_http",
    "registry_client",
    "resolve_tracking_uri",
    "rollback_target",
    "use_experiment",
]

CHAMPION, CHALLENGER, PREVIOUS_CHAMPION = "champion", "challenger", "previous_champion"
LOG_PREFIX = "leadml.alias_log."
HISTORY_COLUMNS = ["time", "alias", "version", "replaced", "action", "reason", "run_id", "actor"]


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``uri``, else ``MLFLOW_TRACKING_URI``, else a SQLite file in the working directory."""
    if uri:
        return uri
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{Path.cwd() / 'mlflow.db'}"


def use_experiment(uri: str, name: str) -> None:
    """Point MLflow at ``uri`` and make ``name`` the active experiment. A new experiment in a
    SQLite store keeps its artifacts in ``mlartifacts/`` beside the database file (MLflow's own
    default is ``./mlruns`` in whatever folder the process runs in); a tracking server decides
    for itself."""
    import mlflow

    mlflow.set_tracking_uri(uri)
    if uri.startswith("sqlite:///") and mlflow.get_experiment_by_name(name) is None:
        db = Path(uri.removeprefix("sqlite:///")).resolve()
        try:
            mlflow.create_experiment(name, artifact_location=(db.parent / "mlartifacts").as_uri())
        except mlflow.exceptions.MlflowException:
            if mlflow.get_experiment_by_name(name) is None:  # not a race with another process
                raise
    mlflow.set_experiment(name)


class RegistryError(LeadmlError):
    """The registry could not be reached or refused a change (nothing was moved)."""


@contextlib.contextmanager
def quick_http(*, enabled: bool = True, timeout: int = 10) -> Iterator[None]:
    """MLflow's HTTP requests inside the block: one attempt of at most ``timeout`` seconds
    instead of its minutes of retries; the process's settings are put back afterwards."""
    keys = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")
    saved = {k: os.environ.get(k) for k in keys}
    if enabled:
        os.environ.update({keys[0]: "0", keys[1]: str(timeout)})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def registry_client(tracking_uri: str | None, *, quick: bool = False) -> Any:
    """An ``MlflowClient`` on ``tracking_uri`` (resolved as everywhere in leadml), checked
    reachable: an unreachable server is a :class:`RegistryError` naming the URI, raised before
    anything is read or moved. ``quick``: one attempt of at most 10 s instead of MLflow's minutes
    of retries (for jobs that must fail fast)."""
    import mlflow

    uri = resolve_tracking_uri(tracking_uri)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    with quick_http(enabled=quick):  # for this check only
        try:
            client.search_registered_models(max_results=1)
        except Exception as exc:
            raise RegistryError(
                f"tracking server {uri}: not reachable ({type(exc).__name__}: "
                f"{str(exc).splitlines()[0][:200]}). Fix: start it, or pass the right "
                "--tracking-uri / tracking_uri. Nothing was changed."
            ) from None
    return client


def _missing(exc: Exception) -> bool:
    """True when MLflow says the registered model does not exist (not for a timeout or a
    server error, which must not read as "no champion")."""
    code = getattr(exc, "error_code", "") or ""
    return "RESOURCE_DOES_NOT_EXIST" in str(code) or "not found" in str(exc).lower()


def aliases(client: Any, name: str) -> dict[str, str]:
    """``alias -> version`` of registered model ``name`` (empty when it does not exist; a
    registry that does not answer is a :class:`RegistryError`, never "no aliases")."""
    try:
        rm = client.get_registered_model(name)
    except Exception as exc:
        if _missing(exc):
            return {}
        raise RegistryError(
            f"registry: could not read the aliases of {name!r} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200]}). Nothing was changed; run again."
        ) from None
    return {str(k): str(v) for k, v in (rm.aliases or {}).items()}


def move_aliases(
    client: Any,
    name: str,
    moves: Mapping[str, str | None],
    *,
    action: str,
    reason: str,
    run_id: str | None = None,
    actor: str | None = None,
    expect: Mapping[str, str | None] | None = None,
) -> dict[str, str | None]:
    """Point each alias of ``moves`` at its version (``None`` removes it), all or none.

    ``expect`` (alias -> version or ``None``): the aliases as the caller last saw them; when one
    has moved since (another job promoted meanwhile), nothing is changed and a
    :class:`RegistryError` says so. When a move fails midway the aliases already moved are put
    back. Each move is then recorded in the alias history. Returns the aliases before the move.
    """
    before = aliases(client, name)
    for alias, version in (expect or {}).items():
        if before.get(alias) != (None if version is None else str(version)):
            raise RegistryError(
                f"registry: {name}@{alias} is version {before.get(alias)} now, not "
                f"{version} as when this job compared against it (another run moved it). Nothing "
                "was changed; run again to compare against the new one."
            )
    done: list[str] = []
    try:
        for alias, version in moves.items():
            if version is None:
                if alias in before:
                    client.delete_registered_model_alias(name, alias)
            else:
                client.set_registered_model_alias(name, alias, str(version))
            done.append(alias)
    except Exception as exc:
        for alias in done:  # put back what was moved
            try:
                if alias in before:
                    client.set_registered_model_alias(name, alias, before[alias])
                else:
                    client.delete_registered_model_alias(name, alias)
            except Exception:  # the original error is the one to report
                pass
        raise RegistryError(
            f"registry: moving the aliases of {name!r} failed ({type(exc).__name__}: {exc}); the "
            f"aliases are as they were: {before}."
        ) from None
    now = pd.Timestamp.now(tz="UTC")
    for k, (alias, version) in enumerate(moves.items()):
        event = {
            "time": (now + pd.Timedelta(microseconds=k)).isoformat(),
            "alias": alias,
            "version": None if version is None else str(version),
            "replaced": before.get(alias),
            "action": action,
            "reason": reason[:2000],
            "run_id": run_id,
            "actor": actor or os.environ.get("USER") or "unknown",
        }
        key = f"{LOG_PREFIX}{now.strftime('%Y%m%dT%H%M%S%f')}{k:02d}.{uuid.uuid4().hex[:8]}"
        try:
            client.set_registered_model_tag(name, key, json.dumps(event))
        except Exception as exc:  # the aliases did move: say so, do not fail the job over it
            warnings.warn(
                f"registry: {name}@{alias} moved to version {version}, but recording the move "
                f"in leadml's alias history failed ({type(exc).__name__}: {exc}); leadml "
                "history will not show it.",
                UserWarning,
                stacklevel=2,
            )
    return {k: before.get(k) for k in moves}


def alias_history(client: Any, name: str) -> pd.DataFrame:
    """Every alias move leadml recorded for ``name``, oldest first (:data:`HISTORY_COLUMNS`)."""
    try:
        rm = client.get_registered_model(name)
    except Exception:
        raise ConfigError(
            f"registry: no registered model {name!r}. Fix: check the name (leadml train "
            "--register NAME or leadml retrain registers one)."
        ) from None
    rows = [json.loads(v) for k, v in (rm.tags or {}).items() if str(k).startswith(LOG_PREFIX)]
    df = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    df["time"] = pd.to_datetime(df["time"], utc=True, format="ISO8601")
    return df.sort_values("time", kind="stable").reset_index(drop=True)


def rollback_target(client: Any, name: str) -> str | None:
    """The version a rollback returns to: the champion before the current one, replaying the
    history as a stack (a promotion pushes, a rollback pops), so that two rollbacks in a row step
    back twice. ``None`` without history."""
    h = alias_history(client, name)
    stack: list[str] = []
    for e in h[h["alias"] == CHAMPION].to_dict("records"):
        v = e["version"]
        if e["action"] == "rollback":
            if stack:
                stack.pop()
            if v is not None and (not stack or stack[-1] != str(v)):
                stack.append(str(v))  # history moved outside leadml: follow what happened
        elif v is not None:
            stack.append(str(v))
    return stack[-2] if len(stack) >= 2 else None


def champion_periods(client: Any, name: str) -> pd.DataFrame:
    """Which version was ``champion`` from when to when (``until`` empty for the current one),
    with the action, reason and run that put it there."""
    h = alias_history(client, name)
    h = h[h["alias"] == CHAMPION].reset_index(drop=True)
    out = h[["version", "time", "action", "reason", "run_id", "actor"]].rename(
        columns={"time": "since"}
    )
    out.insert(2, "until", h["time"].shift(-1))
    return out[out["version"].notna()].reset_index(drop=True)
