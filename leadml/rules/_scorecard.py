"""PointsScorecard: a marketing-automation points scorecard as a scikit-learn classifier."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)

from leadml._math import fit_platt, sigmoid
from leadml.exceptions import CalibrationWarning, ConfigError, DataContractError
from leadml.features import Engine
from leadml.rules._config import (
    ActivityRule,
    Bin,
    InactivityRule,
    ProfileRule,
    ScorecardConfig,
)
from leadml.rules._inputs import input_columns, scorecard_inputs
from leadml.schema import LeadData, validate_cutoffs, validate_lead_data

__all__ = ["PointsScorecard", "load_rules"]


def load_rules(rules: ScorecardConfig | dict[str, Any] | str | Path) -> ScorecardConfig:
    """A :class:`ScorecardConfig` from itself, a dict, or a YAML path."""
    if isinstance(rules, ScorecardConfig):
        return rules
    if isinstance(rules, dict):
        return ScorecardConfig.from_dict(rules)
    if isinstance(rules, (str, Path)):
        return ScorecardConfig.from_yaml(rules)
    raise ConfigError(
        f"rules: expected a ScorecardConfig, a dict or a YAML path, got {type(rules).__name__}."
    )


def _bin_points(values: np.ndarray, bins: list[Bin]) -> np.ndarray:
    out = np.zeros(len(values))
    for b in bins:
        lo = -np.inf if b.min is None else b.min
        hi = np.inf if b.max is None else b.max
        with np.errstate(invalid="ignore"):
            out[(values >= lo) & (values < hi)] = b.points
    return out


def _numeric(col: pd.Series) -> np.ndarray:
    if pd.api.types.is_float_dtype(col.dtype) and not isinstance(col.dtype, pd.CategoricalDtype):
        return col.to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(col.astype("object"), errors="coerce").to_numpy(
        dtype=float, na_value=np.nan
    )


def _norm(v: object) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip().lower()


def _profile_points(
    rule: ProfileRule, col: pd.Series, cache: dict[str, pd.Series] | None = None
) -> np.ndarray:
    miss = col.isna().to_numpy()
    if rule.missing is not None:
        assert rule.points is not None
        hit = miss if rule.missing else ~miss
        return np.where(hit, float(rule.points), 0.0)
    if rule.bins is not None:
        return _bin_points(_numeric(col), rule.bins)
    assert rule.points is not None
    if cache is not None and rule.field in cache:
        text = cache[rule.field]
    else:
        text = col.astype("object").map(lambda v: None if pd.isna(v) else _norm(v))
        if cache is not None:
            cache[rule.field] = text
    if rule.equals is not None:
        hit = (text == _norm(rule.equals)).to_numpy(dtype=bool)
    elif rule.in_ is not None:
        hit = text.isin({_norm(v) for v in rule.in_}).to_numpy(dtype=bool)
    elif rule.not_in is not None:
        hit = (~text.isin({_norm(v) for v in rule.not_in})).to_numpy(dtype=bool)
    else:
        subs = [rule.contains] if isinstance(rule.contains, str) else list(rule.contains or [])
        subs = [s.lower() for s in subs]
        hit = text.map(lambda t: isinstance(t, str) and any(s in t for s in subs)).to_numpy(
            dtype=bool
        )
    return np.where(hit & ~miss, rule.points, 0.0)


def _activity_points(rule: ActivityRule, x: np.ndarray) -> np.ndarray:
    pts = rule.points * np.nan_to_num(x, nan=0.0)
    if rule.once:
        pts = np.where(x > 0, rule.points, 0.0)
    if rule.cap is not None:
        pts = np.clip(pts, rule.cap, 0.0) if rule.cap < 0 else np.clip(pts, 0.0, rule.cap)
    return pts


def _level(points: np.ndarray, levels: dict[str, float | None]) -> np.ndarray:
    names = list(levels)
    out = np.full(len(points), names[-1], dtype=object)
    for name in reversed(names[:-1]):
        out[points >= float(levels[name])] = name  # type: ignore[arg-type]
    return out


class PointsScorecard(ClassifierMixin, BaseEstimator):
    """A points scorecard (fit + engagement rules in YAML) used as a probabilistic classifier.

    The points come only from the rules: ``fit`` learns nothing but the mapping from total
    points to a probability, ``P(convert) = sigmoid(a * points + b)`` (Platt scaling, two
    parameters), so the scorecard stays exactly what marketing operations wrote.

    Parameters
    ----------
    rules : ScorecardConfig, dict or path
        The scorecard (see ``models/scorecard.yaml``).

    Attributes
    ----------
    config_ : ScorecardConfig
    a_, b_ : float
        Slope and intercept of the points-to-probability mapping.
    classes_ : ndarray of shape (2,)
    feature_names_in_ : ndarray
        The input columns (:meth:`input_columns`).

    Notes
    -----
    ``X`` is a DataFrame with the columns of :meth:`input_columns` (profile fields, then one
    column per activity or inactivity rule, as returned by :meth:`build_inputs`). A NumPy array
    is read with columns named ``x0, x1, ...``, so rules can refer to those names.

    Examples
    --------
    >>> import pandas as pd
    >>> from leadml.rules import PointsScorecard
    >>> rules = {"fit": {"rules": [
    ...     {"name": "big", "field": "employees", "bins": [{"min": 100, "points": 20}]},
    ...     {"name": "free_mail", "field": "email", "equals": "free", "points": -10}]}}
    >>> X = pd.DataFrame({"employees": [5, 500, 2000, None], "email": ["free", "work", "free", "work"]})
    >>> sc = PointsScorecard(rules=rules).fit(X, [0, 1, 0, 1])
    >>> sc.points(X)["total_points"].tolist()
    [-10.0, 20.0, 10.0, 0.0]
    """

    def __init__(self, *, rules: ScorecardConfig | dict[str, Any] | str | Path | None = None):
        self.rules = rules

    # ------------------------------------------------------------------ inputs
    def _config(self) -> ScorecardConfig:
        if hasattr(self, "config_"):
            return self.config_
        if self.rules is None:
            raise ConfigError(
                "PointsScorecard: pass rules= (a YAML path, dict or ScorecardConfig)."
            )
        return load_rules(self.rules)

    def input_columns(self) -> list[str]:
        """Columns ``X`` must have: profile fields, then one per activity/inactivity rule."""
        return input_columns(self._config())

    def build_inputs(
        self,
        leads: pd.DataFrame | LeadData,
        events: pd.DataFrame | None = None,
        cutoffs: pd.DataFrame | None = None,
        *,
        engine: Engine = "auto",
    ) -> pd.DataFrame:
        """``X`` for the scorecard at each cut-off: ``lead_id, as_of`` then :meth:`input_columns`.

        Only events strictly before each ``as_of`` count. ``engine``: ``auto``, ``duckdb`` or
        ``numpy`` (same values).
        """
        data = leads if isinstance(leads, LeadData) else validate_lead_data(leads, events, None)
        if cutoffs is None:
            raise ConfigError("build_inputs: pass cutoffs (lead_id, as_of).")
        cut = validate_cutoffs(cutoffs, data.leads)
        return scorecard_inputs(self._config(), data, cut, engine=engine)

    def _frame(self, X: Any, *, fitting: bool = False) -> pd.DataFrame:
        if hasattr(X, "toarray") or hasattr(X, "tocsr"):
            raise TypeError("PointsScorecard does not accept sparse input; pass a DataFrame.")
        named = isinstance(X, pd.DataFrame) and all(isinstance(c, str) for c in X.columns)
        if named:
            df = X
        else:
            arr = np.asarray(X)
            if np.iscomplexobj(arr):
                raise ValueError("Complex data not supported.")
            if arr.ndim != 2:
                raise ValueError(
                    f"Expected 2D array, got {arr.ndim}D array instead. Reshape your data or pass "
                    "a DataFrame with the scorecard's input columns."
                )
            df = pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])
        if df.shape[1] == 0:
            raise ValueError(f"0 feature(s) (shape={df.shape}) while a minimum of 1 is required.")
        if len(df) == 0:
            raise ValueError(
                f"Found array with 0 sample(s) (shape={df.shape}) while a minimum of 1 is required."
            )
        if not fitting and not named and df.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {df.shape[1]} features, but PointsScorecard is expecting "
                f"{self.n_features_in_} features as input."
            )
        need = input_columns(self._config())
        missing = [c for c in need if c not in df.columns]
        if missing:
            raise DataContractError(
                f"scorecard inputs: column(s) {missing} required by the rules are missing; "
                f"received n_features={df.shape[1]}: {list(df.columns)[:20]}. Fix: build X with "
                "PointsScorecard.build_inputs or add the profile columns."
            )
        return df

    # ------------------------------------------------------------------ points
    def points(self, X: Any) -> pd.DataFrame:
        """Per-rule points, then ``fit_points``, ``engagement_points`` (each group capped) and
        ``total_points`` (capped), one row per row of ``X`` (same index for a DataFrame)."""
        cfg = self._config()
        df = self._frame(X)
        cols: dict[str, np.ndarray] = {}
        texts: dict[str, pd.Series] = {}
        for _group, r in cfg.rules:
            if isinstance(r, ProfileRule):
                cols[r.name] = _profile_points(r, df[r.field], texts)
            elif isinstance(r, ActivityRule):
                cols[r.name] = _activity_points(r, _numeric(df[r.name]))
            else:
                cols[r.name] = _bin_points(_numeric(df[r.name]), r.inactivity)
        n = len(df)
        fit = sum((cols[r.name] for r in cfg.fit_rules_), np.zeros(n))
        eng = sum((cols[r.name] for r in cfg.engagement_rules_), np.zeros(n))
        cols["fit_points"] = cfg.fit.bounds.apply(fit)
        cols["engagement_points"] = cfg.engagement.bounds.apply(eng)
        total = cols["fit_points"] + cols["engagement_points"]
        cols["total_points"] = total if cfg.total_cap is None else cfg.total_cap.apply(total)
        return pd.DataFrame(
            {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}, index=df.index
        )

    def grades(self, X: Any, points: pd.DataFrame | None = None) -> pd.DataFrame:
        """``fit_grade`` (letter), ``engagement_grade`` (digit), ``grade`` (e.g. ``A1``), ``band``
        (e.g. hot/warm/cold) and ``stage`` (the highest named threshold reached, or empty)."""
        cfg = self._config()
        pts = self.points(X) if points is None else points
        f = _level(pts["fit_points"].to_numpy(), cfg.fit_grades)
        e = _level(pts["engagement_points"].to_numpy(), cfg.engagement_grades)
        total = pts["total_points"].to_numpy()
        stage = np.full(len(pts), "", dtype=object)
        for name, thr in sorted(cfg.thresholds.items(), key=lambda kv: kv[1]):
            stage[total >= thr] = name
        return pd.DataFrame(
            {
                "fit_grade": f,
                "engagement_grade": e,
                "grade": np.char.add(f.astype(str), e.astype(str)).astype(object),
                "band": _level(total, cfg.bands),
                "stage": stage,
            },
            index=pts.index,
        )

    # ------------------------------------------------------------------ estimator
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> PointsScorecard:
        """Learn the points-to-probability mapping (two parameters) from labels ``y``."""
        self.config_ = load_rules(self.rules) if self.rules is not None else self._config()
        df = self._frame(X, fitting=True)
        yv = column_or_1d(y, warn=True)
        check_consistent_length(df, yv)
        check_classification_targets(yv)
        classes = np.unique(yv)
        if len(classes) > 2:
            raise ValueError(
                f"Only binary classification is supported: PointsScorecard predicts converted or "
                f"not, and y has {len(classes)} classes."
            )
        if len(classes) < 2:
            raise ValueError(
                f"y contains only one class ({classes[0]!r}); the classifier needs samples of 2 "
                "classes."
            )
        self.classes_ = classes
        self.n_features_in_ = df.shape[1]
        self.feature_names_in_ = np.asarray(df.columns, dtype=object)
        yb = (yv == classes[1]).astype(float)
        sw = None if sample_weight is None else _check_sample_weight(sample_weight, df)
        pts = self.points(df)["total_points"].to_numpy()
        self.a_, self.b_ = fit_platt(pts, yb, sample_weight=sw)
        self.calibration_note_ = ""
        if not (np.isfinite(self.a_) and self.a_ > 0):
            # a mapping that decreases with the points would reverse the scorecard: refuse it
            rate = float(np.clip(np.average(yb, weights=sw), 1e-6, 1 - 1e-6))
            why = (
                "gives every lead the same points here (no rule applies to these rows)"
                if np.ptp(pts) == 0
                else f"has a fitted points-to-probability slope of {self.a_:.3g} (more points, "
                "fewer conversions on these rows); refused"
            )
            note = (
                f"scorecard {self.config_.name!r} {why}: every lead gets the observed rate "
                f"{rate:.2%} until the rules are revised."
            )
            self.a_, self.b_ = 0.0, float(np.log(rate / (1 - rate)))
            self.calibration_note_ = note
            warnings.warn(note, CalibrationWarning, stacklevel=2)
        return self

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        """The fitted scorecard as plain data: ``rules`` (the configuration, as in the YAML) and
        ``mapping`` (``a``, ``b``, ``classes``: the points-to-log-odds mapping). No pickle."""
        check_is_fitted(self, ["a_", "b_"])
        return {
            "rules": self.config_.to_dict(),
            "mapping": {
                "a": float(self.a_),
                "b": float(self.b_),
                "classes": np.asarray(self.classes_).tolist(),
                "note": getattr(self, "calibration_note_", ""),
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PointsScorecard:
        """The fitted scorecard :meth:`to_dict` wrote (``rules`` may also be a ScorecardConfig)."""
        try:
            rules, mapping = data["rules"], data["mapping"]
            a, b, classes = float(mapping["a"]), float(mapping["b"]), mapping["classes"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"PointsScorecard.from_dict: expected {{'rules': ..., 'mapping': {{'a', 'b', "
                f"'classes'}}}}; {exc!r} is missing or malformed."
            ) from None
        config = rules if isinstance(rules, ScorecardConfig) else ScorecardConfig.from_dict(rules)
        sc = cls(rules=config)
        sc.config_ = config
        sc.a_, sc.b_ = a, b
        sc.classes_ = np.asarray(classes)
        sc.calibration_note_ = str(mapping.get("note", ""))
        cols = sc.input_columns()
        sc.n_features_in_ = len(cols)
        sc.feature_names_in_ = np.asarray(cols, dtype=object)
        return sc

    def decision_function(self, X: Any) -> np.ndarray:
        """Log-odds of conversion: ``a * total_points + b``."""
        check_is_fitted(self, ["a_", "b_"])
        return self.a_ * self.points(X)["total_points"].to_numpy() + self.b_

    def predict_proba(self, X: Any) -> np.ndarray:
        """``[P(not converted), P(converted)]`` per row."""
        p = sigmoid(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        """The more likely class per row."""
        p = self.predict_proba(X)[:, 1]
        return self.classes_[(p > 0.5).astype(int)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.poor_score = True
        return tags

    def reasons(self, X: Any, k: int = 3, points: pd.DataFrame | None = None) -> pd.DataFrame:
        """The rules that fired per row (exact by construction): ``row, rank, rule, group,
        points`` for the ``k`` rules with the largest absolute points (0-point rules left out)."""
        cfg = self._config()
        pts = self.points(X) if points is None else points
        names = [r.name for _, r in cfg.rules]
        groups = dict((r.name, g) for g, r in cfg.rules)
        P = pts[names].to_numpy()
        order = np.argsort(-np.abs(P), axis=1, kind="stable")[:, :k]
        rows = []
        for rank in range(order.shape[1]):
            v = P[np.arange(len(P)), order[:, rank]]
            keep = v != 0
            idx = np.flatnonzero(keep)
            rows.append(
                pd.DataFrame(
                    {
                        "row": idx,
                        "rank": rank + 1,
                        "rule": [names[i] for i in order[keep, rank]],
                        "group": [groups[names[i]] for i in order[keep, rank]],
                        "points": v[keep],
                    }
                )
            )
        return (
            pd.concat(rows, ignore_index=True).sort_values(["row", "rank"]).reset_index(drop=True)
        )

    def reasons_text(self, points: pd.DataFrame, k: int = 5) -> np.ndarray:
        """Per row, the fired rules as text: ``"demo_request +40, free_email -10"``."""
        cfg = self._config()
        names = [r.name for _, r in cfg.rules]
        P = points[names].to_numpy()
        order = np.argsort(-np.abs(P), axis=1, kind="stable")[:, :k]
        out = np.empty(len(P), dtype=object)
        for i in range(len(P)):
            out[i] = ", ".join(f"{names[j]} {P[i, j]:+.0f}" for j in order[i] if P[i, j] != 0)
        return out

    # ------------------------------------------------------------------ audit
    def table(self) -> pd.DataFrame:
        """The auditable points table: one row per rule criterion (and per bin).

        Columns: ``group, rule, kind, criterion, points, per, decay, window, cap``. Points start
        at 0 (no base points); groups are capped as in ``group_caps`` of the YAML. After
        ``fit``, the mapping is ``P(convert) = sigmoid(a_ * total_points + b_)``.
        """
        cfg = self._config()
        rows: list[dict[str, Any]] = []
        for group, r in cfg.rules:
            base = {
                "group": group,
                "rule": r.name,
                "per": "",
                "decay": "",
                "window": "",
                "cap": np.nan,
            }
            if isinstance(r, ProfileRule):
                if r.bins is not None:
                    for b in r.bins:
                        rows.append(
                            {
                                **base,
                                "kind": "profile",
                                "criterion": f"{r.field} {b.label()}",
                                "points": b.points,
                            }
                        )
                    continue
                if r.equals is not None:
                    crit = f"{r.field} = {r.equals!r}"
                elif r.in_ is not None:
                    crit = f"{r.field} in {list(r.in_)}"
                elif r.not_in is not None:
                    crit = f"{r.field} not in {list(r.not_in)}"
                elif r.contains is not None:
                    crit = f"{r.field} contains {r.contains!r}"
                else:
                    crit = f"{r.field} is {'missing' if r.missing else 'present'}"
                rows.append({**base, "kind": "profile", "criterion": crit, "points": r.points})
            elif isinstance(r, ActivityRule):
                what = "/".join(r.events) + (f" ({'/'.join(r.details)})" if r.details else "")
                decay = ""
                if r.decay is not None:
                    decay = (
                        f"half-life {r.decay.days:g} days"
                        if r.decay.kind == "half_life"
                        else f"linear to 0 at {r.decay.days:g} days"
                    )
                rows.append(
                    {
                        **base,
                        "kind": "activity",
                        "criterion": what,
                        "points": r.points,
                        "per": "once" if r.once else "event",
                        "decay": decay,
                        "window": "all history"
                        if r.window_days is None
                        else f"{r.window_days:g} days",
                        "cap": np.nan if r.cap is None else r.cap,
                    }
                )
            else:
                assert isinstance(r, InactivityRule)
                what = "no " + ("/".join(r.events) if r.events else "activity")
                for b in r.inactivity:
                    rows.append(
                        {
                            **base,
                            "kind": "inactivity",
                            "criterion": f"{what} for {b.label('days')}",
                            "points": b.points,
                        }
                    )
        return pd.DataFrame(
            rows,
            columns=[
                "group",
                "rule",
                "kind",
                "criterion",
                "points",
                "per",
                "decay",
                "window",
                "cap",
            ],
        )
