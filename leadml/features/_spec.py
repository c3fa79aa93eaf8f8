"""FeatureSpec: the declarative description of leadml's features, and what it learns at fit time."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadml.exceptions import ConfigError, DataContractError, NotFittedError
from leadml.schema import examples, positions

__all__ = ["FAMILIES", "OTHER_LEVEL", "FeatureSpec"]

OTHER_LEVEL = "__other__"
FAMILIES = ("counts", "active_days", "trend", "recency", "counts_ever", "decay", "account")
RESERVED = frozenset(
    {"lead_id", "created_at", "account_id", "lost_at", "as_of", "label", "censored"}
)
SPEC_VERSION = 1


def _safe_name(column: str) -> str:
    """A feature name LightGBM keeps as is (letters, digits, underscores), case preserved."""
    s = re.sub(r"[^0-9a-zA-Z_]+", "_", str(column)).strip("_")
    return s or "x"


def _slug(text: str) -> str:
    s = re.sub(r"[^0-9a-zA-Z]+", "_", str(text)).strip("_").lower()
    return s or "x"


@dataclass
class FeatureSpec:
    """What features to build from leads and events, and the vocabularies learned at fit time.

    Parameters
    ----------
    categorical, numeric : sequence of str, optional
        Profile columns of the leads table. When both are ``None`` they are inferred at fit
        time from the dtypes (numbers are numeric, text, booleans and categories are categorical);
        ``lead_id``, ``created_at``, ``account_id`` and datetime columns are never features.
    exclude : sequence of str
        Profile columns never to use (identifiers, free text, columns filled in after contact).
    behaviour : bool
        Build event features. ``False`` for flat mode (profile columns only).
    windows : sequence of int
        Windows in days for event counts and distinct active days, ending at the cut-off.
    trend_window : int
        ``trend_events_{w}d`` = events in the last ``w`` days minus events in the ``w`` days before.
    half_life_days : float
        Half-life of the exponentially decayed engagement ``decay_{type}`` (all history).
    max_event_types, max_details : int
        At most this many event types and (event type, detail) pairs in the vocabulary
        (most frequent first); each needs ``min_count`` events in the fitting data.
    min_count : int
    max_levels, min_level_count : int
        Category levels kept per categorical column; rarer levels and levels unseen at fit
        time map to ``"__other__"``.
    account_window : int
        Window in days of the account roll-ups (other leads of the same account).
    families : sequence of str
        Which event-feature families to build (default: all of :data:`FAMILIES`):
        ``counts`` (events per type and per (type, detail) pair in each window), ``active_days``,
        ``trend``, ``recency`` (days since the last event, overall and per type), ``counts_ever``,
        ``decay`` and ``account`` (roll-ups over the other leads of the account). ``lead_age_days``
        is always built when ``behaviour`` is true. Fewer families build faster.

    Attributes
    ----------
    categorical_, numeric_ : list of str
    levels_ : dict of str to list of str
    event_types_ : list of str
    details_ : list of (str, str)
    feature_names_ : list of str
        The feature columns, in the order every model uses them.
    feature_meta_ : dict of str to dict
        For each feature, what it measures (kind, event type, detail, window...), used to word reasons.

    Examples
    --------
    >>> spec = FeatureSpec(windows=(7, 30), half_life_days=7)
    >>> spec.windows
    (7, 30)
    """

    categorical: Sequence[str] | None = None
    numeric: Sequence[str] | None = None
    exclude: Sequence[str] = ()
    behaviour: bool = True
    windows: Sequence[int] = (7, 30, 90)
    trend_window: int = 30
    half_life_days: float = 14.0
    max_event_types: int = 40
    max_details: int = 40
    min_count: int = 20
    max_levels: int = 50
    min_level_count: int = 10
    account_window: int = 30
    families: Sequence[str] = FAMILIES

    categorical_: list[str] = field(default_factory=list, init=False, repr=False)
    numeric_: list[str] = field(default_factory=list, init=False, repr=False)
    levels_: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)
    event_types_: list[str] = field(default_factory=list, init=False, repr=False)
    details_: list[tuple[str, str]] = field(default_factory=list, init=False, repr=False)
    has_accounts_: bool = field(default=False, init=False, repr=False)
    feature_names_: list[str] = field(default_factory=list, init=False, repr=False)
    feature_meta_: dict[str, dict[str, Any]] = field(default_factory=dict, init=False, repr=False)
    fitted_: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.windows = tuple(int(w) for w in self.windows)
        if self.behaviour and (not self.windows or min(self.windows) < 1):
            raise ConfigError(
                f"FeatureSpec.windows: need one or more windows >= 1 day, got {self.windows}."
            )
        if len(set(self.windows)) != len(self.windows):
            raise ConfigError(f"FeatureSpec.windows: duplicate windows in {self.windows}.")
        if self.trend_window < 1 or self.account_window < 1:
            raise ConfigError("FeatureSpec: trend_window and account_window must be >= 1 day.")
        if not self.half_life_days > 0:
            raise ConfigError(f"FeatureSpec.half_life_days must be > 0, got {self.half_life_days}.")
        if self.categorical is not None:
            self.categorical = list(self.categorical)
        if self.numeric is not None:
            self.numeric = list(self.numeric)
        self.exclude = list(self.exclude)
        if isinstance(self.families, str):
            self.families = (self.families,)
        unknown = [f for f in self.families if f not in FAMILIES]
        if unknown:
            raise ConfigError(
                f"FeatureSpec.families: unknown famil{'y' if len(unknown) == 1 else 'ies'} {unknown}; "
                f"choose from {list(FAMILIES)}."
            )
        self.families = tuple(f for f in FAMILIES if f in self.families)  # canonical order

    # ------------------------------------------------------------------ derived settings
    @property
    def max_window(self) -> int:
        """Longest look-back of the windowed features, in days."""
        return max([*self.windows, 2 * self.trend_window, self.account_window])

    def check_is_fitted(self) -> None:
        if not self.fitted_:
            raise NotFittedError(
                "This FeatureSpec is not fitted yet. Fix: call spec.fit(leads, events) or "
                "build_training_set(...), or load a fitted spec with FeatureSpec.from_json."
            )

    # ------------------------------------------------------------------ fitting
    def fit(self, leads: pd.DataFrame, events: pd.DataFrame | None = None) -> FeatureSpec:
        """Learn profile columns, category levels and event vocabularies from validated tables.

        Pass only data known before the training cut-offs (``build_training_set`` does this).
        """
        self._fit_profile(leads)
        self.has_accounts_ = bool(
            self.behaviour and "account_id" in leads.columns and leads["account_id"].notna().any()
        )
        if self.behaviour:
            ev = events if events is not None else pd.DataFrame(columns=["event_type", "detail"])
            self._fit_vocab(ev)
        else:
            self.event_types_, self.details_ = [], []
        self._build_names()
        self.fitted_ = True
        return self

    def _fit_profile(self, leads: pd.DataFrame) -> None:
        cols = [c for c in leads.columns if c not in RESERVED and c not in self.exclude]
        if self.categorical is None and self.numeric is None:
            cat, num = [], []
            for c in cols:
                dt = leads[c].dtype
                if pd.api.types.is_datetime64_any_dtype(dt):
                    continue
                if pd.api.types.is_bool_dtype(dt):
                    cat.append(c)
                elif pd.api.types.is_numeric_dtype(dt):
                    num.append(c)
                else:
                    cat.append(c)
            cat, num = sorted(cat), sorted(num)  # independent of the input's column order
        else:
            cat = list(self.categorical or [])
            num = list(self.numeric or [])
            missing = [c for c in [*cat, *num] if c not in leads.columns]
            if missing:
                raise DataContractError(
                    f"leads: the feature spec names profile column(s) {missing} that are not in the "
                    f"table; received {list(leads.columns)}. Fix: correct FeatureSpec(categorical=..., "
                    "numeric=...) or the column mapping."
                )
            bad = [c for c in [*cat, *num] if c in RESERVED]
            if bad:
                raise ConfigError(f"FeatureSpec: {bad} are contract columns, not profile features.")
        self.categorical_, self.numeric_ = cat, num
        self.levels_ = {}
        for c in cat:
            vals = _as_text(leads[c]).dropna()
            counts = vals.value_counts(sort=False)
            counts = counts.iloc[np.lexsort((counts.index.astype(str), -counts.to_numpy()))]
            kept = [str(v) for v, n in counts.items() if n >= self.min_level_count][
                : self.max_levels
            ]
            if not kept and len(counts):
                kept = [str(v) for v in counts.index[: self.max_levels]]
            self.levels_[c] = [*sorted(kept), OTHER_LEVEL]
        for c in num:
            if not pd.api.types.is_numeric_dtype(leads[c].dtype):
                _coerce_numeric(leads, c)  # raises a clear error

    def _fit_vocab(self, events: pd.DataFrame) -> None:
        if len(events) == 0:
            self.event_types_, self.details_ = [], []
            return
        self._fit_vocab_counts(*self.event_counts(events))

    @staticmethod
    def event_counts(events: pd.DataFrame) -> tuple[pd.Series, pd.Series | None]:
        """Events per type, and per (type, detail) pair when there is a ``detail`` column: what
        the vocabularies are fitted from (counts of several tables add up, see :meth:`fit_counts`)."""
        tc = events["event_type"].astype(str).value_counts()
        if "detail" not in events.columns:
            return tc, None
        ed = events.loc[events["detail"].notna(), ["event_type", "detail"]].astype(str)
        return tc, ed.value_counts()

    def _fit_vocab_counts(self, tc: pd.Series, pc: pd.Series | None) -> None:
        """Vocabularies from event counts per type and per (type, detail) pair (2-level index)."""
        tc = tc[tc >= self.min_count]
        order = np.lexsort((tc.index.to_numpy().astype(str), -tc.to_numpy()))
        self.event_types_ = sorted(tc.index[order][: self.max_event_types].astype(str).tolist())
        if pc is not None and len(pc):
            pc = pc[pc >= self.min_count]
            keys = [(str(t), str(d)) for t, d in pc.index]
            order = np.lexsort((np.array([f"{t}\x00{d}" for t, d in keys]), -pc.to_numpy()))
            self.details_ = sorted(keys[i] for i in order[: self.max_details])
        else:
            self.details_ = []

    def fit_counts(
        self,
        leads: pd.DataFrame,
        type_counts: pd.Series,
        detail_counts: pd.Series | None = None,
    ) -> FeatureSpec:
        """Like :meth:`fit`, from event counts instead of the events themselves (for event logs
        too large to hold in memory): ``type_counts`` indexed by event type, ``detail_counts`` by
        (event type, detail). Gives the same spec as ``fit(leads, events)`` with those counts."""
        self._fit_profile(leads)
        self.has_accounts_ = bool(
            self.behaviour and "account_id" in leads.columns and leads["account_id"].notna().any()
        )
        if self.behaviour and len(type_counts):
            self._fit_vocab_counts(type_counts, detail_counts)
        else:
            self.event_types_, self.details_ = [], []
        self._build_names()
        self.fitted_ = True
        return self

    def _build_names(self) -> None:
        names: list[str] = []
        meta: dict[str, dict[str, Any]] = {}

        def add(name: str, info: dict[str, Any]) -> None:
            base, i = name, 2
            while name in meta or name in RESERVED:
                name = f"{base}_{i}"
                i += 1
            names.append(name)
            meta[name] = info

        for c in self.categorical_:
            add(_safe_name(c), {"kind": "profile", "column": c, "type": "categorical"})
        for c in self.numeric_:
            add(_safe_name(c), {"kind": "profile", "column": c, "type": "numeric"})
        if self.behaviour:
            fam = set(self.families)
            add("lead_age_days", {"kind": "lead_age"})
            for w in self.windows:
                if "counts" in fam:
                    add(
                        f"n_events_{w}d",
                        {"kind": "count", "event_type": None, "detail": None, "window": w},
                    )
                    for t in self.event_types_:
                        add(
                            f"n_{_slug(t)}_{w}d",
                            {"kind": "count", "event_type": t, "detail": None, "window": w},
                        )
                    for t, d in self.details_:
                        add(
                            f"n_{_slug(t)}__{_slug(d)}_{w}d",
                            {"kind": "count", "event_type": t, "detail": d, "window": w},
                        )
                if "active_days" in fam:
                    add(f"active_days_{w}d", {"kind": "active_days", "window": w})
            if "trend" in fam:
                tw = self.trend_window
                add(f"trend_events_{tw}d", {"kind": "trend", "window": tw})
            if "recency" in fam:
                add("days_since_last_event", {"kind": "recency", "event_type": None})
                for t in self.event_types_:
                    add(f"days_since_last_{_slug(t)}", {"kind": "recency", "event_type": t})
            if "counts_ever" in fam:
                for t in self.event_types_:
                    add(
                        f"n_{_slug(t)}_ever",
                        {"kind": "count_ever", "event_type": t, "detail": None},
                    )
                for t, d in self.details_:
                    add(
                        f"n_{_slug(t)}__{_slug(d)}_ever",
                        {"kind": "count_ever", "event_type": t, "detail": d},
                    )
            if "decay" in fam:
                hl = self.half_life_days
                add("decay_events", {"kind": "decay", "event_type": None, "half_life_days": hl})
                for t in self.event_types_:
                    add(
                        f"decay_{_slug(t)}",
                        {"kind": "decay", "event_type": t, "half_life_days": hl},
                    )
            if self.has_accounts_ and "account" in fam:
                aw = self.account_window
                add("account_other_leads", {"kind": "account_leads"})
                add(f"account_active_leads_{aw}d", {"kind": "account_active", "window": aw})
                add(f"account_events_{aw}d", {"kind": "account_events", "window": aw})
        self.feature_names_ = names
        self.feature_meta_ = meta

    # ------------------------------------------------------------------ profile transform
    @property
    def profile_names_(self) -> dict[str, str]:
        """Profile column -> feature name (names are made LightGBM-safe)."""
        return {m["column"]: n for n, m in self.feature_meta_.items() if m.get("kind") == "profile"}

    @property
    def categorical_features_(self) -> list[str]:
        """Names of the categorical features (pandas ``category`` with the fitted levels)."""
        names = self.profile_names_
        return [names[c] for c in self.categorical_]

    def profile_frame(self, leads: pd.DataFrame, lead_ids: pd.Series) -> pd.DataFrame:
        """Profile features for ``lead_ids`` (one row each, in that order), with fitted levels."""
        self.check_is_fitted()
        need = [*self.categorical_, *self.numeric_]
        missing = [c for c in need if c not in leads.columns]
        if missing:
            raise DataContractError(
                f"leads: profile column(s) {missing} used by the model are missing; received "
                f"{list(leads.columns)}. Fix: pass the same profile columns as at training time "
                "(a missing value is fine, a missing column is not)."
            )
        pos = positions(lead_ids, leads["lead_id"])
        out = {}
        for c in self.categorical_:
            levels = self.levels_[c]
            index = {v: i for i, v in enumerate(levels)}
            other = index[OTHER_LEVEL]
            # codes per lead (small table), then gathered per row; text as str(value)
            vals = leads[c]
            absent = vals.isna().to_numpy()
            text = pd.Index(vals.astype("object").where(~absent, "").astype(str))
            codes = pd.Index(levels).get_indexer(text)
            codes = np.where(absent, -1, np.where(codes < 0, other, codes)).astype(np.int32)
            out[self.profile_names_[c]] = pd.Categorical.from_codes(
                codes[pos], categories=pd.Index(levels)
            )
        for c in self.numeric_:
            out[self.profile_names_[c]] = _coerce_numeric(leads, c).to_numpy(dtype=float)[pos]
        return pd.DataFrame(out, index=pd.RangeIndex(len(pos)))

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        self.check_is_fitted()
        return {
            "spec_version": SPEC_VERSION,
            "params": {
                "categorical": self.categorical,
                "numeric": self.numeric,
                "exclude": list(self.exclude),
                "behaviour": self.behaviour,
                "windows": list(self.windows),
                "trend_window": self.trend_window,
                "half_life_days": self.half_life_days,
                "max_event_types": self.max_event_types,
                "max_details": self.max_details,
                "min_count": self.min_count,
                "max_levels": self.max_levels,
                "min_level_count": self.min_level_count,
                "account_window": self.account_window,
                "families": list(self.families),
            },
            "fitted": {
                "categorical": self.categorical_,
                "numeric": self.numeric_,
                "levels": self.levels_,
                "event_types": self.event_types_,
                "details": [list(p) for p in self.details_],
                "has_accounts": self.has_accounts_,
                "feature_names": self.feature_names_,
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        if data.get("spec_version") != SPEC_VERSION:
            raise ConfigError(
                f"FeatureSpec: unsupported spec_version {data.get('spec_version')!r} "
                f"(this leadml reads {SPEC_VERSION})."
            )
        spec = cls(**data["params"])
        f = data["fitted"]
        spec.categorical_ = list(f["categorical"])
        spec.numeric_ = list(f["numeric"])
        spec.levels_ = {k: list(v) for k, v in f["levels"].items()}
        spec.event_types_ = list(f["event_types"])
        spec.details_ = [(str(t), str(d)) for t, d in f["details"]]
        spec.has_accounts_ = bool(f["has_accounts"])
        spec._build_names()
        if spec.feature_names_ != list(f["feature_names"]):
            raise ConfigError(
                "FeatureSpec: stored feature names do not match the stored vocabularies."
            )
        spec.fitted_ = True
        return spec

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True))

    @classmethod
    def from_json(cls, path: str | Path) -> FeatureSpec:
        return cls.from_dict(json.loads(Path(path).read_text()))


def _missing(v: object) -> bool:
    return v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v))


def _as_text(s: pd.Series) -> pd.Series:
    """Values as Python strings (booleans as 'True'/'False'), missing as None."""
    vals = [None if _missing(v) else str(v) for v in s.astype("object").to_numpy()]
    return pd.Series(vals, index=s.index, dtype=object)


def _coerce_numeric(leads: pd.DataFrame, col: str) -> pd.Series:
    s = leads[col]
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.astype(float)
    if pd.api.types.is_numeric_dtype(s.dtype):
        return s.astype(float)
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna() & s.notna()
    if bool(bad.any()):
        ids = leads.loc[bad, "lead_id"] if "lead_id" in leads.columns else s.index[bad]
        raise DataContractError(
            f"leads.{col}: numeric profile column has {int(bad.sum())} non-numeric value(s) "
            f"{examples(s[bad].astype(str).tolist())} for lead ids {examples(list(ids))}. "
            "Fix: clean the column, or declare it categorical in the FeatureSpec."
        )
    return num.astype(float)
