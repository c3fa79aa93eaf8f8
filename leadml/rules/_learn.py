"""Learn a points scorecard from data: binned fit criteria, decayed engagement counts, points.

The classic credit-scoring recipe, on point-in-time training rows (one per lead x cut-off):

1. *Fit criteria* from the profile columns. Categorical levels get a weight of evidence (WoE,
   the bin's log-odds minus the overall log-odds, smoothed); levels seen on fewer than
   ``min_bin_share`` of the rows are pooled; levels are grouped into at most ``max_bins`` groups
   of similar WoE. Numeric columns are cut at quantiles and adjacent bins are merged until their
   WoE is monotone when the trend holds (``|Spearman| >= 0.6`` over the bins).
2. *Engagement criteria* from the event types and their frequent details: the decayed count of
   matching events in a window, one half-life per criterion chosen among
   ``candidate_half_lives`` by the log-likelihood of a one-variable logistic regression on a
   time-ordered validation split (fit on the older rows, judged on the newer ones), capped at
   the 99th percentile of the non-zero counts; and the days without any activity, binned.
3. A regularised logistic regression on the WoE columns and the capped counts (fit criteria
   with a negative coefficient on their WoE are dropped, as collinear, and the model refitted).
   With ``distill=True`` the same columns are fitted instead to the calibrated log-odds of a
   LightGBM trained on the leadml features of the same rows (out-of-fold by lead).
4. Points: ``round(coef * woe * pdo / ln 2)`` per bin and ``round(coef * pdo / ln 2)`` per
   event, so ``pdo`` points double the odds; zero-point criteria are dropped. Grades, bands and
   the engagement cap come from quantiles of the training points.

Every measure is one of :func:`leadml.features.event_measures` at the row's cut-off (events
strictly before it), so nothing is computed past a cut-off; the written YAML is read unchanged by
:func:`~leadml.rules.load_rules` and :class:`~leadml.rules.PointsScorecard`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from leadml.exceptions import ConfigError, DataContractError
from leadml.features import (
    DAY_US,
    EventMeasure,
    FeatureSpec,
    build_training_set,
    event_measures,
    label_rows,
    parse_duration,
    to_us,
    training_cutoffs,
)
from leadml.rules._config import ScorecardConfig
from leadml.rules._scorecard import PointsScorecard, _norm, load_rules
from leadml.schema import LeadData, positions, validate_lead_data

__all__ = ["LearnReport", "compare_scorecards", "learn_scorecard", "write_scorecard"]

LN2 = math.log(2.0)
MIN_POSITIVES = 20
"""Conversions the training rows need at least (and the validation rows, to choose decays)."""
NOT_PROFILE = ("lead_id", "created_at", "account_id")
INACTIVITY = "inactivity"
MONOTONE_TREND = 0.6
CAP_QUANTILE = 0.99


@dataclass
class LearnReport:
    """What :func:`learn_scorecard` did and why.

    Attributes
    ----------
    pdo : float
        Points to double the odds.
    odds_at_zero : float
        Odds of converting within the horizon at 0 points (the fitted intercept).
    half_lives : DataFrame
        ``criterion, half_life_days, val_log_loss, val_auc, chosen`` for every candidate decay.
    criteria : DataFrame
        ``rule, group, kind, coef, iv, kept`` per candidate criterion (``iv``: information value
        of a fit criterion on the training rows).
    monotone : dict
        Numeric field -> ``"increasing"``, ``"decreasing"`` or ``"none"`` (no trend held).
    rows : dict
        Training rows, leads, conversions, first and last cut-off, ``until``.
    distilled : bool
        Points fitted to LightGBM's log-odds instead of the labels.
    """

    pdo: float
    odds_at_zero: float
    half_lives: pd.DataFrame
    criteria: pd.DataFrame
    monotone: dict[str, str]
    rows: dict[str, Any]
    distilled: bool
    notes: list[str] = dataclasses.field(default_factory=list)


# ------------------------------------------------------------------------ binning
def _woe(pos: np.ndarray, n: np.ndarray, P: float, N: float) -> np.ndarray:
    """Smoothed log-odds of each bin minus the overall log-odds (positive: converts more)."""
    neg = n - pos
    return np.log((pos + 0.5) / (neg + 0.5)) - math.log((P + 0.5) / (N - P + 0.5))


def _group_levels(
    levels: list[str], pos: np.ndarray, n: np.ndarray, P: float, N: float, max_bins: int
) -> list[list[str]]:
    """Levels grouped by similar WoE: sort by WoE, merge the closest neighbours until at most
    ``max_bins`` groups remain and neighbours differ by at least 0.1."""
    order = np.argsort(_woe(pos, n, P, N), kind="stable")
    groups = [[levels[i]] for i in order]
    gp, gn = list(pos[order].astype(float)), list(n[order].astype(float))
    while len(groups) > 1:
        w = _woe(np.array(gp), np.array(gn), P, N)
        gaps = np.diff(w)
        i = int(np.argmin(gaps))
        if len(groups) <= max_bins and gaps[i] >= 0.1:
            break
        groups[i] += groups.pop(i + 1)
        gp[i] += gp.pop(i + 1)
        gn[i] += gn.pop(i + 1)
    return groups


def _nice(v: float) -> float:
    if v == 0 or not math.isfinite(v):
        return v
    digits = 2 - math.floor(math.log10(abs(v)))
    return float(round(v, max(digits, 0)))


def _numeric_edges(
    x: np.ndarray, y: np.ndarray, max_bins: int, min_count: int
) -> tuple[list[float], str]:
    """Cut points (``min <= x < max`` bins between them) and the monotone direction found."""
    ok = ~np.isnan(x)
    xs, ys = x[ok], y[ok]
    if len(xs) == 0:
        return [], "none"
    qs = np.quantile(xs, np.linspace(0, 1, max_bins + 1)[1:-1])
    edges = sorted({_nice(float(q)) for q in qs if float(q) > xs.min()})
    P, N = float(y.sum()), float(len(y))

    def stats(e: list[float]) -> tuple[np.ndarray, np.ndarray]:
        b = np.searchsorted(np.asarray(e), xs, side="right")
        k = len(e) + 1
        return (
            np.bincount(b, weights=ys, minlength=k),
            np.bincount(b, minlength=k).astype(float),
        )

    # small bins first: merge each into its neighbour
    while edges:
        pos, n = stats(edges)
        i = int(np.argmin(n))
        if n[i] >= min_count:
            break
        edges.pop(min(i, len(edges) - 1) if i == len(edges) or i == 0 else i - 1)
    if len(edges) < 2:
        return edges, "none"
    pos, n = stats(edges)
    w = _woe(pos, n, P, N)
    rho = pd.Series(w).rank().corr(pd.Series(np.arange(len(w))).rank())
    if not (abs(rho) >= MONOTONE_TREND):
        return edges, "none"
    sign = 1.0 if rho > 0 else -1.0
    while len(edges) >= 1:  # pool adjacent violators until monotone
        pos, n = stats(edges)
        w = sign * _woe(pos, n, P, N)
        bad = np.flatnonzero(np.diff(w) <= 0)
        if not len(bad):
            break
        edges.pop(int(bad[0]))
    return edges, "increasing" if sign > 0 else "decreasing"


@dataclass
class _Fit:
    """One fit criterion: a profile field's bins (categorical groups or numeric edges)."""

    field: str
    kind: str  # "categorical" | "numeric"
    groups: list[list[str]] = dataclasses.field(default_factory=list)
    edges: list[float] = dataclasses.field(default_factory=list)
    woe: np.ndarray = dataclasses.field(
        default_factory=lambda: np.zeros(0)
    )  # per bin; last: missing
    display: dict[str, str] = dataclasses.field(
        default_factory=dict
    )  # normalised level -> as written
    monotone: str = "none"
    iv: float = 0.0

    def bin_of(self, values: pd.Series) -> np.ndarray:
        """Bin index per row: groups/bins first, then ``k`` = missing, ``k+1`` = other."""
        if self.kind == "numeric":
            x = pd.to_numeric(values.astype("object"), errors="coerce").to_numpy(dtype=float)
            b = np.searchsorted(np.asarray(self.edges), x, side="right")
            return np.where(np.isnan(x), len(self.edges) + 1, b)
        k = len(self.groups)
        lookup = {lv: i for i, g in enumerate(self.groups) for lv in g}
        text = values.astype("object").map(lambda v: None if pd.isna(v) else _norm(v))
        return np.asarray([k if t is None else lookup.get(t, k + 1) for t in text], dtype=int)

    def transform(self, values: pd.Series) -> np.ndarray:
        w = np.append(self.woe, 0.0)  # unseen levels: no evidence
        return w[self.bin_of(values)]


def _fit_criterion(
    name: str, values: pd.Series, y: np.ndarray, max_bins: int, min_count: int
) -> _Fit | None:
    P, N = float(y.sum()), float(len(y))
    is_num = pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
        values.dtype
    )
    if is_num:
        x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        edges, mono = _numeric_edges(x, y, max_bins, min_count)
        crit = _Fit(name, "numeric", edges=edges, monotone=mono)
        nb = len(edges) + 1
    else:
        text = values.astype("object").map(lambda v: None if pd.isna(v) else _norm(v))
        known = text.dropna()
        if known.nunique() > max(50, 0.2 * len(known)):
            return None  # an identifier or free text, not a criterion
        counts = known.value_counts()
        frequent = [str(v) for v in counts.index[counts >= min_count]]
        if not frequent:
            return None
        small = [str(v) for v in counts.index[counts < min_count]]
        levels = frequent + (["\0other"] if small else [])
        lv = text.map(lambda t: None if t is None else (t if t in frequent else "\0other"))
        df = pd.DataFrame({"lv": lv, "y": y}).dropna(subset=["lv"])
        agg = df.groupby("lv")["y"].agg(["sum", "count"]).reindex(levels)
        groups = _group_levels(
            levels, agg["sum"].to_numpy(float), agg["count"].to_numpy(float), P, N, max_bins
        )
        groups = [[lv for lv in g for lv in ([lv] if lv != "\0other" else small)] for g in groups]
        raw = values.astype("object").dropna()
        shown = pd.DataFrame({"t": raw.map(_norm), "v": raw.astype(str)})
        display = {
            str(k): str(v)
            for k, v in shown.groupby("t")["v"].agg(lambda v: v.value_counts().index[0]).items()
        }
        crit = _Fit(name, "categorical", groups=groups, display=display)
        nb = len(groups)
    b = crit.bin_of(values)
    n = np.bincount(b, minlength=nb + 2).astype(float)[: nb + 1]
    pos = np.bincount(b, weights=y, minlength=nb + 2)[: nb + 1]
    w = _woe(pos, n, P, N)
    if n[nb] < min_count:
        w[nb] = 0.0  # too few missing values for evidence
    w[n == 0] = 0.0
    crit.woe = w
    share_pos = (pos + 0.5) / (P + 0.5)
    share_neg = (n - pos + 0.5) / (N - P + 0.5)
    crit.iv = float(np.sum((share_pos - share_neg) * np.log(share_pos / share_neg)))
    if len(np.unique(b)) < 2:
        return None
    return crit


# ------------------------------------------------------------------------ engagement
@dataclass(frozen=True)
class _Activity:
    """An engagement candidate: events of ``types`` (and ``details``), decayed, capped."""

    name: str
    types: tuple[str, ...]
    details: tuple[str, ...] | None

    def measure(self, half_life: float) -> EventMeasure:
        return EventMeasure(
            f"{self.name}__{half_life:g}",
            "half_life",
            self.types,
            self.details,
            window_days=_window(half_life),
            days=half_life,
        )


def _window(half_life: float) -> float:
    """Events older than four half-lives (weight < 1/16) are left out of the window."""
    return float(min(max(4 * half_life, 30.0), 180.0))


def _ident(text: str) -> str:
    text = re.sub(r"_/$", "_root", text)  # the home page "/"
    s = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()
    return s if s and not s[0].isdigit() else f"x_{s}"


def _activity_candidates(
    data: LeadData, cut: pd.DataFrame, min_rows: int, max_details: int
) -> list[_Activity]:
    """Event types and (type, detail) pairs seen before the rows' cut-offs for at least
    ``min_rows`` leads: the support is counted on events before each lead's latest training
    cut-off (point in time)."""
    ev = data.events
    if not len(ev):
        return []
    last = cut.groupby("lead_id")["as_of"].max()
    seen = ev["timestamp"].to_numpy() < ev["lead_id"].map(last).to_numpy()
    ev = ev.loc[seen.astype(bool)]
    out: list[_Activity] = []
    per_type = ev.groupby("event_type")["lead_id"].nunique()
    has_detail = "detail" in ev.columns
    for t in sorted(per_type.index[per_type >= min_rows]):
        out.append(_Activity(_ident(str(t)), (str(t),), None))
        if not has_detail:
            continue
        d = ev.loc[ev["event_type"] == t].dropna(subset=["detail"])
        per_detail = d.groupby("detail")["lead_id"].nunique().sort_values(ascending=False)
        per_detail = per_detail[per_detail >= min_rows]
        if len(per_detail) < 2:
            continue  # one detail: the type says it all
        for det in sorted(per_detail.index[:max_details]):
            out.append(_Activity(_ident(f"{t}_{det}"), (str(t),), (str(det),)))
    names = [a.name for a in out]
    if len(set(names)) != len(names):  # two details with the same identifier: number them
        out = [
            _Activity(f"{a.name}_{i}" if names.count(a.name) > 1 else a.name, a.types, a.details)
            for i, a in enumerate(out)
        ]
    return out


def _inactivity_days(data: LeadData, cut: pd.DataFrame, horizon_days: float) -> np.ndarray:
    """Days since the latest event before the cut-off (or since creation), capped (as the
    scorecard's inactivity rule computes them)."""
    v = event_measures(
        [EventMeasure(INACTIVITY, "last", None, window_days=horizon_days)], data, cut
    )[INACTIVITY].to_numpy(dtype=float)
    pos = positions(cut["lead_id"], data.leads["lead_id"])
    created = to_us(data.leads["created_at"])[pos]
    last = np.where(np.isnan(v), created, np.maximum(v, created))
    return np.minimum((to_us(cut["as_of"]) - last) / DAY_US, horizon_days)


def _logit_fit(X: np.ndarray, y: np.ndarray, C: float, seed: int) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    m = LogisticRegression(C=C, max_iter=2000, random_state=seed)
    m.fit(X, y)
    return m.coef_[0].astype(float), float(m.intercept_[0])


def _log_loss(y: np.ndarray, z: np.ndarray) -> float:
    p = np.clip(1.0 / (1.0 + np.exp(-z)), 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    """ROC AUC by ranks (ties averaged)."""
    from scipy.stats import rankdata

    npos = y.sum()
    nneg = len(y) - npos
    if npos == 0 or nneg == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[y == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def _newton_1d(x: np.ndarray, y: np.ndarray, iters: int = 30) -> tuple[float, float]:
    """Slope and intercept of a one-variable logistic regression (damped Newton steps on the
    standardised variable, a small ridge so that separable data stays finite)."""
    sd = float(x.std()) or 1.0
    u = x / sd
    a, b = 0.0, math.log((y.mean() + 1e-9) / (1 - y.mean() + 1e-9))
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(a * u + b, -35, 35)))
        w = p * (1 - p) + 1e-12
        g = np.array([np.dot(u, y - p) - 1e-3 * a, np.sum(y - p)])
        H = np.array([[np.dot(w, u * u) + 1e-3, np.dot(w, u)], [np.dot(w, u), w.sum()]])
        step = np.linalg.lstsq(H, g, rcond=None)[0]
        step *= min(1.0, 2.0 / (np.max(np.abs(step)) + 1e-12))
        a, b = a + step[0], b + step[1]
        if np.max(np.abs(step)) < 1e-7:
            break
    return float(a / sd), float(b)


def _choose_half_life(
    act: _Activity,
    values: dict[float, np.ndarray],
    y: np.ndarray,
    fit: np.ndarray,
    val: np.ndarray,
) -> tuple[float | None, list[dict[str, Any]]]:
    """The half-life whose capped count predicts the validation rows best (log-likelihood of
    a one-variable logistic regression fitted on the older rows), or None if none beats the
    constant rate."""
    rate = float(np.clip(y[fit].mean(), 1e-9, 1 - 1e-9))
    constant = _log_loss(y[val], np.full(int(val.sum()), math.log(rate / (1 - rate))))
    rows: list[dict[str, Any]] = []
    for h, x in values.items():
        cap = _cap(x[fit])
        xc = np.minimum(x, cap)
        if cap <= 0 or np.ptp(xc[fit]) == 0:
            rows.append({"criterion": act.name, "half_life_days": h, "val_log_loss": np.inf})
            continue
        a, b = _newton_1d(xc[fit], y[fit])
        rows.append(
            {
                "criterion": act.name,
                "half_life_days": h,
                "val_log_loss": _log_loss(y[val], a * xc[val] + b),
                "val_auc": _auc(y[val], xc[val]),
            }
        )
    best_row = min(rows, key=lambda r: float(r["val_log_loss"]))
    best = float(best_row["half_life_days"]) if float(best_row["val_log_loss"]) < constant else None
    for r in rows:
        r["constant_log_loss"] = constant
        r["chosen"] = best is not None and r["half_life_days"] == best
    return best, rows


def _cap(x: np.ndarray) -> float:
    nz = x[x > 0]
    return float(np.quantile(nz, CAP_QUANTILE)) if len(nz) else 0.0


# ------------------------------------------------------------------------ the rows
def _time_quantile(times: pd.Series, q: float) -> pd.Timestamp:
    value: pd.Timestamp = times.quantile(q)  # type: ignore[assignment]
    return value


def _rows(
    data: LeadData,
    *,
    horizon: pd.Timedelta,
    cutoffs: pd.DataFrame | None,
    every: str | int | pd.Timedelta | None,
    until: pd.Timestamp | None,
) -> pd.DataFrame:
    """Labelled training rows (``lead_id, as_of, label``): labels known at ``until``."""
    cut, end = training_cutoffs(
        data, cutoffs=cutoffs, every=every, observed_until=until, caller="learn_scorecard"
    )
    if until is not None:
        end = min(end, until)
        cut = cut.loc[cut["as_of"] < end]
    lab = label_rows(cut, data.conversions, horizon=horizon, observed_until=end)
    rows = cut.loc[~lab["censored"].to_numpy(), ["lead_id", "as_of"]].reset_index(drop=True)
    rows["label"] = lab.loc[~lab["censored"], "label"].to_numpy(dtype=float)
    return rows.sort_values(["as_of", "lead_id"], kind="stable").reset_index(drop=True)


def _teacher_log_odds(
    data: LeadData, rows: pd.DataFrame, horizon: pd.Timedelta, seed: int
) -> np.ndarray:
    """Calibrated out-of-fold log-odds of a LightGBM on leadml's features of ``rows`` (folds by
    lead, so no row is predicted by a model that saw its lead)."""
    import lightgbm as lgb
    from sklearn.model_selection import GroupKFold

    ts = build_training_set(
        data, horizon=horizon, cutoffs=rows[["lead_id", "as_of"]], spec=FeatureSpec()
    )
    ts = ts.set_index(["lead_id", "as_of"]).loc[
        pd.MultiIndex.from_frame(rows[["lead_id", "as_of"]])
    ]
    feats = [c for c in ts.columns if c not in ("label", "censored")]
    X = ts[feats].copy()
    for c in X.columns:
        if X[c].dtype == object or isinstance(X[c].dtype, pd.StringDtype):
            X[c] = X[c].astype("category")
    y = rows["label"].to_numpy()
    margin = np.zeros(len(rows))
    for tr, te in GroupKFold(n_splits=3).split(X, y, groups=rows["lead_id"].to_numpy()):
        m = lgb.LGBMClassifier(
            n_estimators=300,
            learning_rate=0.05,
            num_leaves=15,
            min_child_samples=50,
            subsample=0.8,
            subsample_freq=1,
            colsample_bytree=0.8,
            random_state=seed,
            verbose=-1,
            n_jobs=1,
        )
        m.fit(X.iloc[tr], y[tr])
        margin[te] = m.predict(X.iloc[te], raw_score=True)
    a, b = _logit_fit(margin[:, None], y, 1e4, seed)  # Platt: calibrated log-odds
    return margin * a[0] + b


# ------------------------------------------------------------------------ learning
def learn_scorecard(
    leads: pd.DataFrame | LeadData,
    events: pd.DataFrame | None = None,
    conversions: pd.DataFrame | None = None,
    *,
    horizon: str | int | pd.Timedelta = "30d",
    every: str | int | pd.Timedelta | None = None,
    cutoffs: pd.DataFrame | None = None,
    until: str | pd.Timestamp | None = None,
    pdo: float = 20.0,
    max_bins: int = 5,
    candidate_half_lives: Sequence[float] = (3, 7, 14, 30),
    min_bin_share: float = 0.02,
    max_details: int = 6,
    exclude: Sequence[str] = (),
    C: float = 0.5,
    seed: int = 0,
    distill: bool = False,
    name: str = "learned",
) -> tuple[ScorecardConfig, LearnReport]:
    """Learn a points scorecard (the YAML format of :class:`PointsScorecard`) from data.

    Parameters
    ----------
    leads, events, conversions : DataFrame or LeadData
        The contract tables.
    horizon : duration
        Label horizon: a row's label is a conversion within it after the cut-off.
    every, cutoffs :
        The training cut-offs: a schedule (``"7d"``) or explicit ``lead_id, as_of`` rows.
    until : timestamp, optional
        Learn only from what was known then: cut-offs before it whose label window ends by it
        (default: the end of the data). A backtest learns with ``until`` = its origin.
    pdo : float
        Points to double the odds (the scaling, stated in the YAML description).
    max_bins : int
        Bins per fit criterion at most.
    candidate_half_lives : sequence of float
        Decay half-lives (days) an engagement criterion may take; chosen per criterion on a
        time-ordered validation split.
    min_bin_share : float
        Smallest share of rows a category level or bin needs (smaller levels are pooled).
    exclude : sequence of str
        Profile columns that must not be criteria.
    C : float
        Inverse L2 strength of the logistic regression.
    distill : bool
        Fit the points to the calibrated out-of-fold log-odds of a LightGBM trained on leadml's
        features of the same rows, instead of the labels.

    Returns
    -------
    (ScorecardConfig, LearnReport)
        The scorecard (write it with :func:`write_scorecard`) and how it was learned.

    Examples
    --------
    >>> from leadml.datasets import make_crm
    >>> from leadml.rules import PointsScorecard, learn_scorecard
    >>> crm = make_crm(800, seed=1, days=240)
    >>> config, report = learn_scorecard(crm.leads, crm.events, crm.conversions,
    ...                                  every="21d", horizon="30d")
    >>> "20 points double the odds" in config.description
    True
    >>> table = PointsScorecard(rules=config).table()
    >>> bool((table["points"] == table["points"].round()).all() and (table["points"] != 0).all())
    True
    """
    if not pdo > 0:
        raise ConfigError(
            f"learn_scorecard: pdo must be > 0 (points to double the odds), got {pdo}."
        )
    if max_bins < 2:
        raise ConfigError(f"learn_scorecard: max_bins must be at least 2, got {max_bins}.")
    halves = sorted({float(h) for h in candidate_half_lives})
    if not halves or min(halves) <= 0:
        raise ConfigError(
            f"learn_scorecard: candidate_half_lives must be positive days, got "
            f"{list(candidate_half_lives)}."
        )
    h = parse_duration(horizon, name="horizon")
    data = leads if isinstance(leads, LeadData) else validate_lead_data(leads, events, conversions)
    t_until = None if until is None else pd.Timestamp(until)
    if t_until is not None and t_until.tzinfo is None:
        t_until = t_until.tz_localize("UTC")
    rows = _rows(data, horizon=h, cutoffs=cutoffs, every=every, until=t_until)
    y = rows["label"].to_numpy()
    if y.sum() < MIN_POSITIVES or (len(y) - y.sum()) < MIN_POSITIVES:
        raise DataContractError(
            f"learn_scorecard: the training rows hold {int(y.sum())} conversions and "
            f"{int(len(y) - y.sum())} non-conversions (labels known by "
            f"{t_until or data.observed_until}); at least {MIN_POSITIVES} of each are needed. "
            "Fix: use more history, a longer horizon or a denser schedule (every=)."
        )
    n = len(rows)
    min_count = max(int(min_bin_share * n), 10)
    notes: list[str] = []

    # time-ordered validation split (for the decays): fit on labels known at t_val
    t_val = _time_quantile(rows["as_of"], 0.75)
    fit_mask = np.asarray(rows["as_of"] + h <= t_val)
    val_mask = np.asarray(rows["as_of"] >= t_val)
    if y[fit_mask].sum() < MIN_POSITIVES or y[val_mask].sum() < MIN_POSITIVES:
        fit_mask = val_mask = np.ones(n, dtype=bool)
        notes.append(
            "too few conversions for a time-ordered validation split: decays chosen in-sample"
        )

    # fit criteria
    pos = positions(rows["lead_id"], data.leads["lead_id"])
    profile = data.leads.iloc[pos].reset_index(drop=True)
    fits: list[_Fit] = []
    for col in profile.columns:
        if col in NOT_PROFILE or col in exclude:
            continue
        crit = _fit_criterion(col, profile[col], y, max_bins, min_count)
        if crit is not None:
            fits.append(crit)

    # engagement criteria, one half-life each
    cut = rows[["lead_id", "as_of"]]
    min_leads = max(10, int(min_bin_share / 2 * rows["lead_id"].nunique()))
    acts = _activity_candidates(data, cut, min_leads, max_details)
    hl_rows: list[dict[str, Any]] = []
    chosen: dict[str, float] = {}
    counts: dict[str, np.ndarray] = {}
    if acts:
        measures = [a.measure(hl) for a in acts for hl in halves]
        vals = event_measures(measures, data, cut)
        for a in acts:
            per = {hl: vals[a.measure(hl).name].to_numpy(dtype=float) for hl in halves}
            best, table = _choose_half_life(a, per, y, fit_mask, val_mask)
            hl_rows += table
            if best is not None:
                chosen[a.name] = best
                counts[a.name] = per[best]
    acts = [a for a in acts if a.name in chosen and _cap(counts[a.name]) > 0]
    inactive_h = 180.0
    inactive = _fit_criterion(
        INACTIVITY,
        pd.Series(_inactivity_days(data, cut, inactive_h)),
        y,
        max_bins,
        min_count,
    )

    # the design: WoE columns, capped counts
    cols: list[np.ndarray] = [c.transform(profile[c.field]) for c in fits]
    caps = {a.name: _cap(counts[a.name]) for a in acts}
    cols += [np.minimum(counts[a.name], caps[a.name]) for a in acts]
    inactive_days = _inactivity_days(data, cut, inactive_h) if inactive is not None else None
    if inactive is not None:
        assert inactive_days is not None
        cols.append(inactive.transform(pd.Series(inactive_days)))
    names = (
        [c.field for c in fits]
        + [a.name for a in acts]
        + ([INACTIVITY] if inactive is not None else [])
    )
    woe_cols = {c.field for c in fits} | ({INACTIVITY} if inactive is not None else set())
    X = np.column_stack(cols) if cols else np.zeros((n, 0))
    target = _teacher_log_odds(data, rows, h, seed) if distill else None
    keep = np.ones(X.shape[1], dtype=bool)
    for _ in range(X.shape[1] + 1):
        coef_k, b = _fit_points_model(X[:, keep], y, target, C, seed)
        coef = np.zeros(X.shape[1])
        coef[keep] = coef_k
        wrong = [i for i, nm in enumerate(names) if keep[i] and nm in woe_cols and coef[i] <= 0]
        if not wrong:
            break
        keep[wrong] = False
    scale = pdo / LN2

    # points
    fit_rules: list[dict[str, Any]] = []
    eng_rules: list[dict[str, Any]] = []
    crit_rows: list[dict[str, Any]] = []
    for i, c in enumerate(fits):
        rules = _profile_rules(c, coef[i] * scale)
        fit_rules += rules
        crit_rows.append(
            {
                "rule": c.field,
                "group": "fit",
                "kind": c.kind,
                "coef": coef[i],
                "iv": c.iv,
                "kept": bool(rules),
                "points": None,
            }
        )
    for j, a in enumerate(acts):
        i = len(fits) + j
        per_event = round(coef[i] * scale)
        rule: dict[str, Any] | None = None
        if per_event != 0:
            cap = round(per_event * caps[a.name]) or per_event
            rule = {"name": a.name, "event": list(a.types) if len(a.types) > 1 else a.types[0]}
            if a.details is not None:
                rule["detail"] = a.details[0] if len(a.details) == 1 else list(a.details)
            hl = chosen[a.name]
            rule |= {
                "points": int(per_event),
                "window": f"{_window(hl):g}d",
                "decay": {"half_life": f"{hl:g}d"},
                "cap": int(cap),
            }
            eng_rules.append(rule)
        crit_rows.append(
            {
                "rule": a.name,
                "group": "engagement",
                "kind": "activity",
                "coef": coef[i],
                "iv": np.nan,
                "kept": rule is not None,
                "points": int(per_event) if rule else None,
            }
        )
    if inactive is not None:
        i = len(fits) + len(acts)
        bins = _bins(inactive, coef[i] * scale)
        if bins:
            eng_rules.append({"name": INACTIVITY, "inactivity": bins})
        crit_rows.append(
            {
                "rule": INACTIVITY,
                "group": "engagement",
                "kind": "inactivity",
                "coef": coef[i],
                "iv": inactive.iv,
                "kept": bool(bins),
                "points": None,
            }
        )

    raw: dict[str, Any] = {
        "name": name,
        "description": "",
        "fit": {"rules": fit_rules},
        "engagement": {"rules": eng_rules},
    }
    provisional = ScorecardConfig.from_dict(raw, source="learn_scorecard")
    sc = PointsScorecard(rules=provisional)
    inputs = _inputs(provisional, data, cut, profile, counts, inactive_days)
    pts = sc.points(inputs)
    eng = pts["engagement_points"].to_numpy()
    if len(eng_rules):
        lo, hi = np.quantile(eng, [0.001, 0.999])
        raw["engagement"]["cap"] = {
            "min": math.floor(min(lo, 0)),
            "max": math.ceil(max(hi, 0)),
        }
    fitp = pts["fit_points"].to_numpy()
    bounds = raw["engagement"].get("cap", {})
    eng = np.clip(eng, bounds.get("min", -np.inf), bounds.get("max", np.inf))
    total = fitp + eng
    raw["fit_grades"] = _levels(fitp, ("A", "B", "C", "D"), (0.85, 0.6, 0.3))
    raw["engagement_grades"] = _levels(eng, ("1", "2", "3"), (0.9, 0.6))
    raw["bands"] = _levels(total, ("hot", "warm", "cold"), (0.9, 0.7))
    odds0 = math.exp(b)
    raw["description"] = (
        f"Learned by leadml.rules.learn_scorecard{' (distilled from LightGBM)' if distill else ''} "
        f"from {n:,} rows ({rows['lead_id'].nunique():,} leads, {int(y.sum()):,} conversions "
        f"within {h.days:g} days; cut-offs {rows['as_of'].min():%Y-%m-%d} .. "
        f"{rows['as_of'].max():%Y-%m-%d}). Scaling: {pdo:g} points double the odds "
        f"(points = round(coef x WoE x {pdo:g} / ln 2)); at 0 points the odds are "
        f"1:{1 / odds0:.1f} (p = {odds0 / (1 + odds0):.3f}). Grades and bands are quantiles of "
        "the training points."
    )
    # the latest outcome the points saw: the last cut-off's label window (or the end of data)
    seen = rows["as_of"].max() + h
    raw["learned_until"] = str(min(seen, t_until or data.observed_until, data.observed_until))
    config = ScorecardConfig.from_dict(raw, source="learn_scorecard")
    report = LearnReport(
        pdo=float(pdo),
        odds_at_zero=odds0,
        half_lives=pd.DataFrame(hl_rows),
        criteria=pd.DataFrame(crit_rows),
        monotone={c.field: c.monotone for c in fits if c.kind == "numeric"},
        rows={
            "rows": n,
            "leads": int(rows["lead_id"].nunique()),
            "conversions": int(y.sum()),
            "from": rows["as_of"].min(),
            "to": rows["as_of"].max(),
            "until": t_until,
        },
        distilled=bool(distill),
        notes=notes,
    )
    return config, report


def _fit_points_model(
    X: np.ndarray, y: np.ndarray, target: np.ndarray | None, C: float, seed: int
) -> tuple[np.ndarray, float]:
    if X.shape[1] == 0:
        rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
        return np.zeros(0), math.log(rate / (1 - rate))
    if target is None:
        return _logit_fit(X, y, C, seed)
    from sklearn.linear_model import Ridge

    m = Ridge(alpha=1.0 / C).fit(X, target)
    return m.coef_.astype(float), float(m.intercept_)


def _profile_rules(c: _Fit, per_woe: float) -> list[dict[str, Any]]:
    """The rules of one fit criterion (zero-point bins left out)."""
    pts = [round(per_woe * w) for w in c.woe]
    out: list[dict[str, Any]] = []
    if c.kind == "numeric":
        bins = _bins(c, per_woe)
        if bins:
            out.append({"name": _ident(c.field), "field": c.field, "bins": bins})
    else:
        for k, g in enumerate(c.groups):
            if pts[k] != 0:
                levels = sorted(c.display.get(lv, lv) for lv in g)
                rule: dict[str, Any] = {"name": _ident(f"{c.field}_{k + 1}"), "field": c.field}
                rule |= {"equals": levels[0]} if len(levels) == 1 else {"in": levels}
                out.append({**rule, "points": int(pts[k])})
    if pts[-1] != 0 and c.field != INACTIVITY:  # the last WoE is that of a missing value
        out.append(
            {
                "name": _ident(f"{c.field}_missing"),
                "field": c.field,
                "missing": True,
                "points": int(pts[-1]),
            }
        )
    return out


def _bins(c: _Fit, per_woe: float) -> list[dict[str, Any]]:
    edges = [None, *c.edges, None]
    out = []
    for k in range(len(c.edges) + 1):
        p = round(per_woe * c.woe[k])
        if p == 0:
            continue
        b: dict[str, Any] = {"points": int(p)}
        if edges[k] is not None:
            b["min"] = edges[k]
        if edges[k + 1] is not None:
            b["max"] = edges[k + 1]
        if c.field == INACTIVITY and "min" not in b:
            b["min"] = 0.0
        out.append(b)
    return out


def _inputs(
    config: ScorecardConfig,
    data: LeadData,
    cut: pd.DataFrame,
    profile: pd.DataFrame,
    counts: dict[str, np.ndarray],
    inactive_days: np.ndarray | None,
) -> pd.DataFrame:
    """The scorecard's inputs from the measures already computed (same definitions as
    :func:`scorecard_inputs`)."""
    out = {c: profile[c].to_numpy() for c in profile.columns}
    for _, r in config.rules:
        if r.name in counts:
            out[r.name] = counts[r.name]
        elif r.name == INACTIVITY and inactive_days is not None:
            out[r.name] = np.minimum(inactive_days, r.horizon_days)  # type: ignore[union-attr]
    return pd.DataFrame(out)


def _levels(
    points: np.ndarray, names: tuple[str, ...], quantiles: tuple[float, ...]
) -> dict[str, float | None]:
    """Levels from best to worst at the given quantiles of the points (ties merged)."""
    cuts: list[float] = []
    for q in quantiles:
        v = float(np.ceil(np.quantile(points, q)))
        if v > points.min() and (not cuts or v < cuts[-1]):
            cuts.append(v)
    if not cuts:
        cuts = [float(points.max()) + 1.0]
    out: dict[str, float | None] = {names[i]: cuts[i] for i in range(len(cuts))}
    out[names[len(cuts)]] = None
    return out


# ------------------------------------------------------------------------ writing, comparing
def write_scorecard(config: ScorecardConfig, path: str | Path) -> Path:
    """Write ``config`` as the YAML :func:`load_rules` reads (checked by reading it back)."""
    path = Path(path)
    text = "# A learned points scorecard (leadml rules learn); edit it like a hand-written one.\n"
    text += yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True, width=100)
    path.write_text(text)
    load_rules(path)
    return path


def compare_scorecards(
    leads: pd.DataFrame | LeadData,
    events: pd.DataFrame | None = None,
    conversions: pd.DataFrame | None = None,
    *,
    horizon: str | int | pd.Timedelta = "30d",
    every: str | int | pd.Timedelta | None = None,
    cutoffs: pd.DataFrame | None = None,
    baseline: ScorecardConfig | dict[str, Any] | str | Path | None = None,
    test_share: float = 0.2,
    distill: bool = False,
    seed: int = 0,
    **options: Any,
) -> tuple[pd.DataFrame, dict[str, ScorecardConfig]]:
    """Out-of-time comparison: learn at an origin ``T`` and score the rows after it.

    ``T`` leaves ``test_share`` of the labelled rows at or after it; the scorecards are learned
    (and their points-to-probability mappings fitted) on the rows whose label was known at
    ``T``. Returns the metrics (``auc, ece, lift_10, log_loss``, one row per scorecard: the
    ``baseline`` if given, ``learned``, and with ``distill`` also ``distilled``) and the
    scorecards learned at ``T``.
    """
    from leadml.evaluation import metric_table

    h = parse_duration(horizon, name="horizon")
    data = leads if isinstance(leads, LeadData) else validate_lead_data(leads, events, conversions)
    rows = _rows(data, horizon=h, cutoffs=cutoffs, every=every, until=None)
    origin = _time_quantile(rows["as_of"], 1 - test_share)
    train = rows.loc[rows["as_of"] + h <= origin]
    test = rows.loc[rows["as_of"] >= origin]
    cards: dict[str, ScorecardConfig] = {}
    if baseline is not None:
        cards["hand-written"] = load_rules(baseline)
    kinds = [("learned", False)] + ([("distilled", True)] if distill else [])
    for label, d in kinds:
        cards[label], _ = learn_scorecard(
            data,
            horizon=h,
            cutoffs=train[["lead_id", "as_of"]],
            until=origin,
            seed=seed,
            distill=d,
            **options,
        )
    preds = {}
    for label, cfg in cards.items():
        sc = PointsScorecard(rules=cfg)
        xtr = sc.build_inputs(data, cutoffs=train[["lead_id", "as_of"]])
        xte = sc.build_inputs(data, cutoffs=test[["lead_id", "as_of"]])
        sc.fit(xtr, train["label"].to_numpy())
        preds[label] = sc.predict_proba(xte)[:, 1]
    table = metric_table(test["label"].to_numpy(dtype=float), preds)
    table.attrs.update(
        origin=origin,
        train_rows=len(train),
        test_rows=len(test),
        test_conversions=int(test["label"].sum()),
    )
    return table, cards
