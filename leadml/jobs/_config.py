"""The configs of the unattended jobs (``leadml retrain``, ``leadml monitor``, ``leadml
recalibrate``): where the data is, the training config, the registry, the gate, the alerts.

Validated with pydantic; an unknown key is refused with the key named (and a "did you mean");
relative paths are read relative to the config file's folder, so a config runs from anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from leadml.exceptions import ConfigError, DataContractError
from leadml.modeling import TrainConfig, describe_validation_error

__all__ = [
    "DataSources",
    "GateConfig",
    "MonitorConfig",
    "RetrainConfig",
    "ScoreJobConfig",
    "load_job_config",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataSources(_Section):
    """Where the contract tables are.

    ``leads``, ``events``, ``conversions``: a CSV or Parquet file, or a folder of Parquet parts;
    with ``duckdb`` (a DuckDB database file), table names in that database instead. ``mapping``: a
    column-mapping YAML (your column names -> the contract's). ``time_format``: as ``leadml train
    --time-format`` (one format, or ``TABLE.COLUMN=FORMAT`` items).
    """

    leads: str
    events: str | None = None
    conversions: str | None = None
    duckdb: str | None = None
    mapping: str | None = None
    time_format: list[str] | None = None

    @field_validator("time_format", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    def load(self, base: Path, *, needed: tuple[str, ...] = ("leads",)) -> dict[str, pd.DataFrame]:
        """Read the tables (mapping applied, times parsed); a missing source names the table and
        the path it looked at."""
        from leadml.io import load_tables

        given = {
            k: getattr(self, k)
            for k in ("leads", "events", "conversions")
            if getattr(self, k) is not None
        }
        for k in needed:
            if k not in given:
                raise ConfigError(f"data.{k}: this job needs the {k} table. Fix: add 'data.{k}'.")
        sources: dict[str, Any] = {}
        if self.duckdb is not None:
            sources = _duckdb_tables(_resolve(base, self.duckdb), given)
        else:
            for k, v in given.items():
                path = _resolve(base, v)
                if not path.exists():
                    raise DataContractError(
                        f"{k}: data source not found: {path} (data.{k} in the job config). Fix: "
                        "check the path (relative paths are read from the config file's folder)."
                    )
                sources[k] = path
        mapping = _resolve(base, self.mapping) if self.mapping is not None else None
        return load_tables(mapping=mapping, time_format=self.time_format, **sources)


def _resolve(base: Path, path: str) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else (base / p)


def _duckdb_tables(db: Path, tables: dict[str, str]) -> dict[str, pd.DataFrame]:
    import duckdb

    if not db.is_file():
        raise DataContractError(
            f"data.duckdb: database file not found: {db}. Fix: check the path (relative paths are "
            "read from the config file's folder)."
        )
    con = duckdb.connect(str(db), read_only=True)
    try:
        known = set(
            con.execute("SELECT table_name FROM information_schema.tables").df()["table_name"]
        )
        out = {}
        for k, name in tables.items():
            if name not in known:
                raise DataContractError(
                    f"{k}: table {name!r} not found in the DuckDB database {db}; it has "
                    f"{sorted(known)}. Fix: set data.{k} to one of those names."
                )
            quoted = '"' + name.replace('"', '""') + '"'
            out[k] = con.execute(f"SELECT * FROM {quoted}").df()
        return out
    finally:
        con.close()


class GateConfig(_Section):
    """When a challenger may replace the champion. Every threshold has a documented default.

    Compared on the frozen evaluation rows: the backtest's test block (the most recent fully
    labelled rows), and of those only the rows scored after the champion's labels ended (rows
    neither model was trained on; until ``min_eval_conversions`` (50) conversions have come in
    there, the champion is kept and the job says so). Champion and challenger (the procedure as
    backtested) are scored on exactly those rows; intervals from a paired bootstrap over leads:

    - ``auc_tolerance`` (0.01): non-inferiority: the lower end of the ``confidence`` interval of
      AUC(challenger) - AUC(champion) must be at least ``-auc_tolerance``;
    - ``min_auc_gain`` (0.0): and the point estimate at least this much, unless the champion is
      stale (older than ``stale_days``, 90): then not being worse is enough;
    - ``log_loss_tolerance`` / ``brier_tolerance`` (0.02): at most 2 % worse than the champion's;
    - ``max_ece`` (0.03) and ``citl_range`` ([0.8, 1.25]: mean prediction / observed rate);
      with a champion, a challenger outside them still passes when it is no worse calibrated
      than the champion on the same rows (ECE at most ``ece_tolerance`` = 0.005 higher; mean
      prediction / observed at most ``citl_tolerance`` = 5 % further from 1), because then it is
      the window that is unusual, not the model;
    - ``capacity`` (leads sales works per week; default: the top ``capacity_share`` = 10 % of
      each week's rows): conversions captured at that capacity at most ``capture_tolerance``
      (5 %) fewer than the champion's;
    - ``segments`` (profile columns, e.g. ``[lead_source, country]``): in no segment with at
      least ``min_segment_conversions`` (30) conversions may the AUC be lower than the
      champion's by more than ``segment_tolerance`` (0.03) with evidence (the whole paired
      bootstrap interval of the difference below ``-segment_tolerance``);
    - ``beat_rules`` (true): a higher AUC than the rules scorecard on the same rows;
    - a smoke test: the logged model, loaded through MLflow's pyfunc, gives the same
      probabilities as the trained one on ``smoke_rows`` (20) evaluation rows.

    ``mode``: ``enabled`` (decide and act), ``dry_run`` (decide and report, move nothing) or
    ``disabled`` (promote without the comparisons; the smoke test and data checks still run).
    """

    mode: str = Field("enabled", pattern="^(enabled|dry_run|disabled)$")
    confidence: float = Field(0.95, gt=0.5, lt=1)
    n_boot: int = Field(300, ge=50)
    auc_tolerance: float = Field(0.01, ge=0)
    min_auc_gain: float = 0.0
    log_loss_tolerance: float = Field(0.02, ge=0)
    brier_tolerance: float = Field(0.02, ge=0)
    max_ece: float = Field(0.03, gt=0)
    citl_range: tuple[float, float] = (0.8, 1.25)
    ece_tolerance: float = Field(0.005, ge=0)
    citl_tolerance: float = Field(0.05, ge=0)
    capacity: int | None = Field(None, ge=1)
    capacity_share: float = Field(0.1, gt=0, le=1)
    capture_tolerance: float = Field(0.05, ge=0)
    segments: list[str] = Field(default_factory=list)
    segment_tolerance: float = Field(0.03, ge=0)
    min_segment_conversions: int = Field(30, ge=1)
    beat_rules: bool = True
    stale_days: float = Field(90, gt=0)
    min_eval_conversions: int = Field(50, ge=1)
    smoke_rows: int = Field(20, ge=1)
    seed: int = 0


class RetrainConfig(_Section):
    """``leadml retrain --config retrain.yaml``: data, training, registry, gate.

    ``train`` is a :class:`~leadml.modeling.TrainConfig` (inline, or a path to its YAML);
    ``model_name`` the registered model; ``tracking_uri`` the MLflow store (default:
    ``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db`` in the working folder); ``lock`` a
    lock file (default: next to the config) so that two runs never overlap; ``report_dir``
    where the gate report is written (default: ``retrain_reports/`` next to the config).
    """

    data: DataSources
    train: TrainConfig = Field(default_factory=TrainConfig)
    model_name: str = "leadml"
    tracking_uri: str | None = None
    experiment: str = "leadml-retrain"
    gate: GateConfig = Field(default_factory=GateConfig)
    lock: str | None = None
    report_dir: str | None = None
    cutoffs: str | None = None
    rules_as_cold_start: bool = True

    @field_validator("train", mode="before")
    @classmethod
    def _train(cls, v: Any) -> Any:
        if isinstance(v, TrainConfig):
            return v
        if isinstance(v, str):
            return v  # a path, read in load_job_config (relative to the config)
        return TrainConfig.from_dict(v or {}, source="retrain config 'train'")


class MonitorConfig(_Section):
    """``leadml monitor --config monitor.yaml``: past scores against real outcomes.

    ``scores``: the score files the score command wrote (a file, a folder of parts, or a glob);
    ``data``: the leads and conversions (events for the feature drift); ``cohort``: the period
    scores are grouped by (``7d``); ``capacity`` / ``capacity_share`` as in the gate; alerts:
    ``max_ece`` (0.03), ``oe_range`` ([0.8, 1.25]: observed / expected), ``min_auc`` (none),
    ``max_psi`` (0.25), each judged on cohorts with at least ``min_cohort_conversions`` (30);
    ``trend_days`` (14) for the per-lead score trend; ``out``: the folder for the table, plots
    and HTML page.
    """

    scores: str
    data: DataSources
    model_name: str | None = None
    model: str | None = None
    tracking_uri: str | None = None
    experiment: str = "leadml-monitor"
    cohort: str = "7d"
    capacity: int | None = Field(None, ge=1)
    capacity_share: float = Field(0.1, gt=0, le=1)
    max_ece: float = Field(0.03, gt=0)
    oe_range: tuple[float, float] = (0.8, 1.25)
    min_auc: float | None = None
    max_psi: float = Field(0.25, gt=0)
    min_cohort_conversions: int = Field(30, ge=1)
    n_boot: int = Field(200, ge=0)
    trend_days: int = Field(14, ge=1)
    out: str = "monitor_report"
    seed: int = 0
    log_mlflow: bool = True


class ScoreJobConfig(_Section):
    """``leadml score-job --config score_daily.yaml``: score the open leads with the champion.

    ``model``: ``models:/NAME@champion`` (default ``models:/leadml@champion``) or a model folder;
    ``data``: the leads and events (and conversions, to leave out leads that already converted);
    ``as_of``: ``end_of_data`` (the latest event, lead or conversion time: for replayed or
    exported data), ``now``, or a time; ``max_age``: only leads created at most this long before
    ``as_of``; ``out``: the file to write, where ``{as_of}`` becomes the date (``YYYYMMDD``), so a
    daily run adds one file to the folder the monitor reads; ``reasons``: per direction.
    """

    model: str = "models:/leadml@champion"
    data: DataSources
    tracking_uri: str | None = None
    as_of: str = "end_of_data"
    max_age: str | None = None
    out: str = "scores/scores_{as_of}.parquet"
    reasons: int = Field(3, ge=0, le=10)
    overwrite: bool = False


C = TypeVar("C", bound=BaseModel)


def load_job_config(cls: type[C], source: str | Path | dict[str, Any]) -> tuple[C, Path]:
    """A job config from a YAML file (or a mapping) and the folder relative paths start from."""
    if isinstance(source, dict):
        data, base, where = source, Path.cwd(), f"{cls.__name__}"
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"job config {path} not found. Fix: check the path.")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"job config {path}: not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"job config {path}: expected a mapping of keys at the top level.")
        base, where = path.resolve().parent, f"job config {path}"
    data = dict(data)
    train = data.get("train")
    if isinstance(train, str):
        data["train"] = TrainConfig.from_yaml(_resolve(base, train))
    try:
        cfg = cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{where}: {describe_validation_error(exc, cls)}") from None
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    train = getattr(cfg, "train", None)
    if isinstance(train, TrainConfig) and train.segment is not None:
        # the gate, the smoke test and recalibration judge one model: a segmented challenger
        # would be promoted on its global model's figures, not on the routed scores it serves
        raise ConfigError(
            f"{where}: train.segment ({train.segment!r}): the scheduled jobs do not gate "
            "per-segment models yet (the gate would judge the global model, not the routed "
            "scores). Fix: remove train.segment from the job's config, and train and compare "
            "segment models with leadml train --segment."
        )
    if isinstance(train, TrainConfig) and isinstance(train.rules, str):
        rules = Path(train.rules).expanduser()
        if not rules.is_absolute():  # like every path here: from the config's folder
            cfg.__setattr__("train", train.updated(rules=str(base / rules)))
    return cfg, base
