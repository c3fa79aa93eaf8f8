"""TrainConfig: every choice of the training procedure in one validated object (YAML or Python).

``train``, ``train_flat``, the ``leadml train`` command and the retraining job read the same
object, and MLflow logs it. Unknown keys are refused with the key named and the allowed ones
listed; durations are ``"30d"``, ``"2w"``, ``"12h"`` or a number of days; times are ISO strings
(UTC when no zone is given).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from leadml.exceptions import ConfigError
from leadml.features import FAMILIES, FeatureSpec, parse_duration
from leadml.modeling._lgbm import canonical_params, refuse_unsupported

__all__ = [
    "BacktestConfig",
    "CalibrationConfig",
    "FeaturesConfig",
    "LightGBMConfig",
    "MinDataConfig",
    "SegmentsConfig",
    "TrainConfig",
    "describe_validation_error",
]

DEFAULT_BANDS: dict[str, float | None] = {"hot": 80, "warm": 50, "cold": None}


def duration_text(value: Any, name: str) -> str:
    """A duration normalised to ``"<n>d"`` or ``"<n>h"`` (what YAML and MLflow show)."""
    td = parse_duration(value, name=name)
    hours = td / pd.Timedelta(hours=1)
    if hours % 24 == 0:
        return f"{int(hours // 24)}d"
    if hours == int(hours):
        return f"{int(hours)}h"
    raise ConfigError(f"{name}: {value!r} is not a whole number of hours.")


def time_text(value: Any, name: str) -> str:
    """A timestamp normalised to an ISO string in UTC."""
    try:
        t = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{name}: cannot read {value!r} as a time. Use an ISO date or time, e.g. '2025-01-31' "
            "or '2025-01-31T12:00:00Z'."
        ) from exc
    if pd.isna(t):
        raise ConfigError(f"{name}: missing time.")
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t.isoformat()


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class FeaturesConfig(_Section):
    """The feature spec's parameters (see :class:`leadml.features.FeatureSpec`)."""

    windows: list[int] = Field(default_factory=lambda: [7, 30, 90])
    trend_window: int = Field(30, ge=1)
    half_life_days: float = Field(14.0, gt=0)
    max_event_types: int = Field(40, ge=0)
    max_details: int = Field(40, ge=0)
    min_count: int = Field(20, ge=1)
    max_levels: int = Field(50, ge=1)
    min_level_count: int = Field(10, ge=1)
    account_window: int = Field(30, ge=1)
    families: list[str] = Field(default_factory=lambda: list(FAMILIES))

    @field_validator("families")
    @classmethod
    def _families(cls, v: list[str]) -> list[str]:
        bad = [f for f in v if f not in FAMILIES]
        if bad:
            raise ValueError(f"unknown famil(ies) {bad}; choose from {list(FAMILIES)}")
        return v

    def spec(self, *, exclude: list[str], behaviour: bool = True) -> FeatureSpec:
        """A new, unfitted :class:`FeatureSpec` with these parameters."""
        return FeatureSpec(
            exclude=tuple(exclude),
            behaviour=behaviour,
            windows=tuple(self.windows),
            trend_window=self.trend_window,
            half_life_days=self.half_life_days,
            max_event_types=self.max_event_types,
            max_details=self.max_details,
            min_count=self.min_count,
            max_levels=self.max_levels,
            min_level_count=self.min_level_count,
            account_window=self.account_window,
            families=tuple(self.families),
        )


class BacktestConfig(_Section):
    """Where the backtest's origin(s) go.

    The latest origin ``T`` is placed so that the test rows (``as_of >= T``) hold at least
    ``test_share`` of the labelled rows and at least ``min_test_conversions`` conversions
    (never more than half the rows). The procedure is run on the rows whose label was known at
    ``T`` (``as_of + gap <= T``; ``gap`` defaults to the horizon). With ``origins = k``, ``k``
    consecutive test blocks of that size (rolling-origin evaluation, each trained on all rows
    known at its origin); the report is the latest one, with the spread over all of them.
    ``n_jobs`` runs the origins in that many processes (joblib; same results, more memory).
    """

    origins: int = Field(1, ge=1, le=12)
    test_share: float = Field(0.2, gt=0, lt=0.5)
    min_test_conversions: int = Field(100, ge=1)
    gap: str | None = None
    n_jobs: int = Field(1, ge=1, le=64)
    """Origins run in parallel processes (joblib) when > 1; the results are the same."""

    @field_validator("gap", mode="before")
    @classmethod
    def _gap(cls, v: Any) -> str | None:
        return None if v is None else duration_text(v, "backtest.gap")


class CalibrationConfig(_Section):
    """How probabilities are calibrated.

    Every model is fitted on the older part of its training rows and calibrated on the
    out-of-sample margins of the latest block (the most recent ``share`` of the rows, grown
    until it holds ``min_conversions`` conversions, at most ``max_share``), with a gap of one
    horizon between the two. ``method``: ``sigmoid`` (Platt), ``isotonic`` (needs 5,000 rows
    and 500 conversions in the block) or ``auto``. A fitted slope that is not positive, or a
    block with fewer than 50 conversions, falls back to an intercept-only calibration (slope 1),
    with a note. With ``anchor``, after the refit on all rows the intercept is moved so that the
    shipped model's mean prediction on the latest block equals its observed conversion rate.

    With ``recent_rate``, the rows whose label window is still open at the end of the data (the
    gap before a backtest origin; the censored rows at the end for the production fit) are
    compared with the model: the conversions already seen in their elapsed part against the
    number the model expects by then (its probabilities times the share of conversions that
    come that early, learned from the latest block). When the two differ beyond noise
    (``|z| > recent_min_z``, the variance counted per lead), the base rate has moved since the latest complete window
    and the intercept is moved by ``log(observed / expected)``; the result is in the metadata
    (``blocks.recent``) either way.
    """

    method: Literal["sigmoid", "isotonic", "auto"] = "sigmoid"
    share: float = Field(0.2, gt=0, lt=1)
    min_conversions: int = Field(200, ge=1)
    max_share: float = Field(0.5, gt=0, lt=1)
    anchor: bool = True
    recent_rate: bool = True
    recent_min_z: float = Field(3.0, gt=0)


class LightGBMConfig(_Section):
    """LightGBM: parameters over leadml's defaults, the small search, the refit."""

    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("params")
    @classmethod
    def _params(cls, v: dict[str, Any]) -> dict[str, Any]:
        out = canonical_params(v)  # LightGBM's main names (an alias would not override)
        refuse_unsupported(out)  # class re-weighting refused now, not after the features
        return out

    search: bool = False
    refit: bool = True
    max_rounds: int = Field(3000, ge=1)
    early_stopping_rounds: int = Field(150, ge=1)


class MinDataConfig(_Section):
    """Below these counts of leads in the labelled rows, ``train`` stops with the numbers."""

    converted_leads: int = Field(40, ge=1)
    unconverted_leads: int = Field(40, ge=1)


class SegmentsConfig(MinDataConfig):
    """Per-segment models (with ``TrainConfig.segment``): the minimum-data rule per segment and the
    backtest's choice.

    A segment value gets its own model when the backtest's training rows of that segment hold at
    least ``converted_leads`` converted and ``unconverted_leads`` not-converted leads, and its
    test rows hold at least ``min_test_conversions`` conversions (and a non-conversion); the model
    is kept when, on that segment's test rows, its log loss is lower than the global model's by at
    least ``min_log_loss_gain`` (relative: 0.01 is 1 %; smaller gains are within the noise of a
    segment's test rows) and its AUC is not lower than the global model's by more than
    ``auc_tolerance``. Every other lead
    (a small, unseen or missing segment, or a segment whose model did not win) is scored by the
    global model.
    """

    converted_leads: int = Field(100, ge=1)
    unconverted_leads: int = Field(100, ge=1)
    min_test_conversions: int = Field(30, ge=1)
    min_log_loss_gain: float = Field(0.01, ge=0, lt=1)
    auc_tolerance: float = Field(0.0, ge=0, lt=0.5)


_SHORTHANDS = {
    "params": ("lightgbm", "params"),
    "search": ("lightgbm", "search"),
    "origins": ("backtest", "origins"),
}


class TrainConfig(_Section):
    """Everything the training procedure needs.

    Examples
    --------
    >>> cfg = TrainConfig(horizon="30d", every="7d", backtest={"origins": 3})
    >>> cfg.backtest.origins, cfg.calibration.method
    (3, 'sigmoid')
    >>> TrainConfig.from_dict({"horizon": "30d", "evry": "7d"})
    Traceback (most recent call last):
    ...
    leadml.exceptions.ConfigError: train config: unknown key 'evry' (did you mean 'every'?)...
    """

    horizon: str = "30d"
    every: str | None = None
    start: str | None = None
    max_age: str | None = None
    observed_until: str | None = None
    label_start: str = "auto"
    exclude: list[str] = Field(default_factory=list)
    rules: str | dict[str, Any] | None = None
    features: FeaturesConfig = Field(default_factory=lambda: FeaturesConfig())
    backtest: BacktestConfig = Field(default_factory=lambda: BacktestConfig())
    calibration: CalibrationConfig = Field(default_factory=lambda: CalibrationConfig())
    lightgbm: LightGBMConfig = Field(default_factory=lambda: LightGBMConfig())
    min_data: MinDataConfig = Field(default_factory=lambda: MinDataConfig())
    segment: str | None = None
    """A profile column of the leads (flat mode: a column of the table), e.g. ``lead_source``:
    one model per segment value where the backtest says it beats the global model (see
    :class:`SegmentsConfig`), the global model elsewhere."""
    segments: SegmentsConfig = Field(default_factory=lambda: SegmentsConfig())
    bands: dict[str, float | None] = Field(default_factory=lambda: dict(DEFAULT_BANDS))
    seed: int = 0
    n_boot: int = Field(200, ge=0)
    unknown_leads: Literal["error", "drop"] = "error"

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**_expand_shorthands(data))
        except ValidationError as exc:
            raise ConfigError(
                f"train config: {describe_validation_error(exc, TrainConfig)}"
            ) from None

    @field_validator("horizon", "every", "max_age", mode="before")
    @classmethod
    def _durations(cls, v: Any, info: Any) -> str | None:
        return None if v is None else duration_text(v, info.field_name)

    @field_validator("start", "observed_until", mode="before")
    @classmethod
    def _times(cls, v: Any, info: Any) -> str | None:
        return None if v is None else time_text(v, info.field_name)

    @field_validator("label_start", mode="before")
    @classmethod
    def _label_start(cls, v: Any) -> str:
        if v is None:
            return "none"
        if isinstance(v, str) and v.strip().lower() in ("auto", "none"):
            return v.strip().lower()
        return time_text(v, "label_start")

    @field_validator("calibration", mode="before")
    @classmethod
    def _calibration(cls, v: Any) -> Any:
        return {"method": v} if isinstance(v, str) else v

    @field_validator("rules", mode="before")
    @classmethod
    def _rules(cls, v: Any) -> str | dict[str, Any] | None:
        """A scorecard YAML path, or the rules inline (a mapping, as in the YAML file)."""
        if v is None or isinstance(v, dict):
            return v
        return str(v)

    # ------------------------------------------------------------------ derived values
    @property
    def horizon_td(self) -> pd.Timedelta:
        return parse_duration(self.horizon, name="horizon")

    @property
    def gap_td(self) -> pd.Timedelta:
        g = self.backtest.gap
        return self.horizon_td if g is None else parse_duration(g, name="backtest.gap")

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "train config") -> TrainConfig:
        """Validate a mapping; errors name the key and the allowed keys."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping, got {type(data).__name__}.")
        try:
            return cls(**data)
        except ConfigError as exc:
            raise ConfigError(str(exc).replace("train config", source, 1)) from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """Read a config from YAML (a ``train:`` section, or the whole file)."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"train config {path} not found. Fix: check the path.")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"train config {path}: not valid YAML: {exc}") from None
        if isinstance(data, dict) and isinstance(data.get("train"), dict) and len(data) == 1:
            data = data["train"]
        return cls.from_dict(data, source=f"train config {path}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (what MLflow logs and what :meth:`from_dict` reads back)."""
        return self.model_dump(mode="json")

    def to_yaml(self, path: str | Path | None = None) -> str:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    def updated(self, **options: Any) -> TrainConfig:
        """A copy with top-level keys replaced (sections given as mappings are merged)."""
        if not options:
            return self
        data = self.to_dict()
        for key, value in _expand_shorthands(options).items():
            if isinstance(value, BaseModel):
                value = value.model_dump(mode="json")
            if isinstance(value, dict) and isinstance(data.get(key), dict) and key != "bands":
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return TrainConfig.from_dict(data, source="train options")


def _expand_shorthands(data: dict[str, Any]) -> dict[str, Any]:
    for key, (section, field) in _SHORTHANDS.items():
        if key in data:
            value = data.pop(key)
            sec = data.get(section)
            sec = dict(sec.model_dump(mode="json") if isinstance(sec, BaseModel) else sec or {})
            sec[field] = value
            data[section] = sec
    return data


def _allowed(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def describe_validation_error(exc: ValidationError, root: type[BaseModel]) -> str:
    """One line for the first error of a pydantic config: the key named, with a 'did you mean'
    for an unknown key and the allowed ones listed, and the fix."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    where = ".".join(loc) or "top level"
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        model: type[BaseModel] = root
        for part in loc[:-1]:
            if part not in model.model_fields:
                break
            ann = model.model_fields[part].annotation
            for cand in (ann, *getattr(ann, "__args__", ())):  # X, or X | None
                if isinstance(cand, type) and issubclass(cand, BaseModel):
                    model = cand
                    break
        allowed = _allowed(model)
        if model is TrainConfig:
            allowed = [*allowed, *_SHORTHANDS]

        close = difflib.get_close_matches(loc[-1], allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return (
            f"unknown key {where!r}{hint}; allowed: {sorted(allowed)}. "
            "Fix: correct or remove the key."
        )
    msg = msg.removeprefix(f"{where}: ")
    if "Fix:" in msg:
        return f"field {where!r}: {msg}"
    return f"field {where!r}: {msg.rstrip('.')}. Fix the value of {where!r}."
