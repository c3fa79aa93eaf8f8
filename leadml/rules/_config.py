"""The points-scorecard configuration: rules, groups, grades, bands, read from YAML.

A scorecard has two rule groups, ``fit`` (who the lead is: profile criteria) and
``engagement`` (what the lead did: activity and inactivity criteria). Each rule adds points
(positive or negative); each group and the total can be capped. Grades combine a fit letter
and an engagement digit (``A1`` is the best); bands and named thresholds (MQL/SQL) cut the
total points.
"""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from leadml.exceptions import ConfigError
from leadml.features import parse_duration

__all__ = [
    "ActivityRule",
    "Bin",
    "Cap",
    "Decay",
    "GroupConfig",
    "InactivityRule",
    "ProfileRule",
    "ScorecardConfig",
]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _days(value: Any, name: str) -> float:
    return parse_duration(value, name=name) / parse_duration(1)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bin(_Model):
    """A range ``min <= value < max`` (either end open) and its points."""

    min: float | None = None
    max: float | None = None
    points: float

    @model_validator(mode="after")
    def _ordered(self) -> Bin:
        if self.min is not None and self.max is not None and not self.min < self.max:
            raise ValueError(f"min ({self.min}) must be smaller than max ({self.max})")
        return self

    def label(self, unit: str = "") -> str:
        u = f" {unit}" if unit else ""
        if self.min is None and self.max is None:
            return "any value"
        if self.min is None:
            return f"< {self.max:g}{u}"
        if self.max is None:
            return f">= {self.min:g}{u}"
        return f"{self.min:g} to < {self.max:g}{u}"


def _check_bins(bins: list[Bin]) -> list[Bin]:
    ordered = sorted(bins, key=lambda b: -math.inf if b.min is None else b.min)
    for a, b in itertools.pairwise(ordered):
        hi = math.inf if a.max is None else a.max
        lo = -math.inf if b.min is None else b.min
        if lo < hi:
            raise ValueError(f"bins {a.label()} and {b.label()} overlap")
    return ordered


class Cap(_Model):
    """Bounds on a sum of points (``min`` for negative points, ``max`` for positive ones)."""

    min: float | None = None
    max: float | None = None

    def apply(self, x: Any) -> Any:
        import numpy as np

        lo = -np.inf if self.min is None else self.min
        hi = np.inf if self.max is None else self.max
        return np.clip(x, lo, hi)


class Decay(_Model):
    """Per-event decay: ``half_life`` (weight 0.5 ** (age / half_life)) or ``linear`` (weight
    falls linearly from 1 at age 0 to 0 at age ``linear``). Durations like ``14d``."""

    half_life: str | float | None = None
    linear: str | float | None = None

    @model_validator(mode="after")
    def _one(self) -> Decay:
        if (self.half_life is None) == (self.linear is None):
            raise ValueError("give exactly one of half_life and linear")
        for k in ("half_life", "linear"):
            v = getattr(self, k)
            if v is not None:
                _days(v, k)
        return self

    @property
    def kind(self) -> Literal["half_life", "linear"]:
        return "half_life" if self.half_life is not None else "linear"

    @property
    def days(self) -> float:
        v = self.half_life if self.half_life is not None else self.linear
        return _days(v, self.kind)


class _Rule(_Model):
    name: str
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(
                f"rule names must be identifiers (letters, digits, underscore), got {v!r}"
            )
        return v


class ProfileRule(_Rule):
    """A criterion on one profile column: a value match, a list, a substring, missing, or bins.

    Missing values never match ``equals``/``in``/``not_in``/``contains``/``bins``; use
    ``missing: true`` to give points for a missing value.
    """

    field: str
    equals: str | float | bool | None = None
    in_: list[str | float] | None = Field(default=None, alias="in")
    not_in: list[str | float] | None = None
    contains: list[str] | str | None = None
    missing: bool | None = None
    bins: list[Bin] | None = None
    points: float | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_test(self) -> ProfileRule:
        tests = [
            k
            for k in ("equals", "in_", "not_in", "contains", "missing", "bins")
            if getattr(self, k) is not None
        ]
        if len(tests) != 1:
            raise ValueError(
                "a profile rule needs exactly one of equals, in, not_in, contains, missing, "
                f"bins; got {[t.rstrip('_') for t in tests] or 'none'}"
            )
        if self.bins is not None:
            if self.points is not None:
                raise ValueError("with bins, give points per bin, not 'points'")
            object.__setattr__(self, "bins", _check_bins(self.bins))
        elif self.points is None:
            raise ValueError("'points' is required")
        return self

    @property
    def group_kind(self) -> str:
        return "profile"


class ActivityRule(_Rule):
    """Points per matching event (optionally decayed by age), in a window, capped.

    ``event`` and ``detail`` are one value or a list; no ``detail`` matches every detail.
    ``once: true`` gives ``points`` once if there is at least one matching event.
    """

    event: str | list[str]
    detail: str | list[str] | None = None
    points: float
    window: str | float | None = None
    decay: Decay | None = None
    cap: float | None = None
    once: bool = False

    @model_validator(mode="after")
    def _check(self) -> ActivityRule:
        if self.window is not None:
            _days(self.window, "window")
        if self.cap is not None and (self.cap == 0 or (self.cap > 0) != (self.points > 0)):
            raise ValueError(
                f"cap ({self.cap:g}) must have the sign of points ({self.points:g}): it bounds "
                "the rule's total"
            )
        if self.once and self.decay is not None:
            raise ValueError("once and decay cannot be combined")
        return self

    @property
    def events(self) -> list[str]:
        return [self.event] if isinstance(self.event, str) else list(self.event)

    @property
    def details(self) -> list[str] | None:
        if self.detail is None:
            return None
        return [self.detail] if isinstance(self.detail, str) else list(self.detail)

    @property
    def window_days(self) -> float | None:
        return None if self.window is None else _days(self.window, "window")


class InactivityRule(_Rule):
    """Points by days without activity (since the last matching event, or since the lead was
    created if there is none), in bins; e.g. ``{min: 30, points: -10}``."""

    inactivity: list[Bin]
    event: str | list[str] | None = None

    @field_validator("inactivity")
    @classmethod
    def _bins(cls, v: list[Bin]) -> list[Bin]:
        return _check_bins(v)

    @property
    def events(self) -> list[str] | None:
        if self.event is None:
            return None
        return [self.event] if isinstance(self.event, str) else list(self.event)

    @property
    def horizon_days(self) -> float:
        """Days of history needed to place every lead in the right bin."""
        edges = [e for b in self.inactivity for e in (b.min, b.max) if e is not None]
        return max(edges) if edges else 0.0


class GroupConfig(_Model):
    """One rule group (fit or engagement) and its cap."""

    rules: list[dict[str, Any]] = Field(default_factory=list)
    cap: Cap | float | None = None

    @property
    def bounds(self) -> Cap:
        if self.cap is None:
            return Cap()
        if isinstance(self.cap, Cap):
            return self.cap
        return Cap(max=float(self.cap))


class ScorecardConfig(_Model):
    """A whole scorecard (see the module docstring); build it with :meth:`from_yaml`."""

    name: str = "scorecard"
    description: str | None = None
    fit: GroupConfig = Field(default_factory=GroupConfig)
    engagement: GroupConfig = Field(default_factory=GroupConfig)
    total_cap: Cap | None = None
    fit_grades: dict[str, float | None] = Field(
        default_factory=lambda: {"A": 30.0, "B": 15.0, "C": 0.0, "D": None}
    )
    engagement_grades: dict[str, float | None] = Field(
        default_factory=lambda: {"1": 40.0, "2": 15.0, "3": None}
    )
    bands: dict[str, float | None] = Field(
        default_factory=lambda: {"hot": 60.0, "warm": 25.0, "cold": None}
    )
    thresholds: dict[str, float] = Field(default_factory=dict)
    learned_until: str | None = None
    """Set by ``leadml rules learn``: the latest time whose outcomes the points were learned from
    (a backtest whose origin is earlier would judge them on rows they were fitted to)."""

    # parsed rules, filled by the validator
    fit_rules_: list[ProfileRule | ActivityRule | InactivityRule] = Field(
        default_factory=list, exclude=True
    )
    engagement_rules_: list[ProfileRule | ActivityRule | InactivityRule] = Field(
        default_factory=list, exclude=True
    )

    @model_validator(mode="after")
    def _parse(self) -> ScorecardConfig:
        seen: set[str] = set()
        for group in ("fit", "engagement"):
            parsed = []
            for i, raw in enumerate(getattr(self, group).rules):
                rule = _parse_rule(raw, f"{group}.rules[{i}]")
                if rule.name in seen:
                    raise _RuleError(
                        rule.name, f"{group}.rules[{i}]", "name", "duplicate rule name"
                    )
                seen.add(rule.name)
                parsed.append(rule)
            object.__setattr__(self, f"{group}_rules_", parsed)
        for key in ("fit_grades", "engagement_grades", "bands"):
            levels = getattr(self, key)
            values = list(levels.values())
            if len(values) < 2 or values[-1] is not None or None in values[:-1]:
                raise ValueError(
                    f"{key}: list the levels from best to worst with their minimum points and "
                    f"the last one as null (everything below), e.g. {{A: 30, B: 15, C: null}}; "
                    f"got {levels}"
                )
            cuts = [float(v) for v in values[:-1]]
            if any(not math.isfinite(v) for v in cuts) or any(
                a <= b for a, b in itertools.pairwise(cuts)
            ):
                raise ValueError(
                    f"{key}: minimum points must be finite and decreasing; got {levels}"
                )
        if any(not math.isfinite(v) for v in self.thresholds.values()):
            raise ValueError(f"thresholds: must be finite numbers; got {self.thresholds}")
        return self

    @property
    def rules(self) -> list[tuple[str, ProfileRule | ActivityRule | InactivityRule]]:
        return [("fit", r) for r in self.fit_rules_] + [
            ("engagement", r) for r in self.engagement_rules_
        ]

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "scorecard") -> ScorecardConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data)}.")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{source}: {_describe(exc, data)}") from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> ScorecardConfig:
        path = Path(path)
        if not path.exists():
            raise ConfigError(
                f"scorecard rules file {path} not found. Fix: check the path (--rules / rules:); "
                "examples are in models/ (scorecard.yaml, scorecard_x_education.yaml)."
            )
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        return cls.from_dict(data, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


class _RuleError(ValueError):
    def __init__(self, rule: str | None, where: str, field: str, message: str) -> None:
        name = f"rule {rule!r} ({where})" if rule else where
        super().__init__(
            f"{name}, field {field!r}: {message}. Fix the rule in the scorecard YAML "
            "(see models/scorecard.yaml for examples)."
        )


_KINDS: dict[str, type[_Rule]] = {
    "field": ProfileRule,
    "event": ActivityRule,
    "inactivity": InactivityRule,
}


def _parse_rule(raw: Any, where: str) -> ProfileRule | ActivityRule | InactivityRule:
    if not isinstance(raw, dict):
        raise _RuleError(None, where, "-", f"expected a mapping, got {raw!r}")
    name = raw.get("name")
    kinds = [k for k in ("inactivity", "field", "event") if k in raw]
    if not kinds:
        raise _RuleError(
            name, where, "-", "a rule needs 'field' (profile), 'event' (activity) or 'inactivity'"
        )
    cls = _KINDS[kinds[0]]
    try:
        return cls.model_validate(raw)  # type: ignore[return-value]
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "-"
        if loc == "in_":
            loc = "in"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = sorted(
                (f.alias or k) for k, f in cls.model_fields.items() if not k.endswith("_")
            )
            allowed += [k for k in cls.model_fields if k == "in_"]
            msg = f"unknown field; allowed: {sorted({a.rstrip('_') for a in allowed})}"
        raise _RuleError(name, where, loc, msg) from None


def _describe(exc: ValidationError, data: dict[str, Any]) -> str:
    err = exc.errors()[0]
    msg = err["msg"].removeprefix("Value error, ")
    if not err["loc"] and msg.startswith(("rule ", "fit.", "engagement.")):
        return msg  # a rule error, already worded with its rule and field
    loc = ".".join(str(p) for p in err["loc"]) or "top level"
    if err["type"] == "extra_forbidden":
        msg = f"unknown key; allowed: {sorted(k for k in ScorecardConfig.model_fields if not k.endswith('_'))}"
    return f"field {loc!r}: {msg}. Fix the scorecard YAML (see models/scorecard.yaml)."
