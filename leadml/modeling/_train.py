"""The training job: evaluate the procedure in a backtest, ship the procedure's latest output.

``train`` (event mode) and ``train_flat`` (one row per lead) run the same small steps:

1. **rows**: every labelled row (lead x cut-off), with what was left out and why (censored label
   windows; rows before conversion tracking started);
2. **minimum data**: enough converted and not-converted leads, or a clear stop;
3. **backtest**: at an earlier origin ``T`` (placed by rows and conversions), the procedure of
   :mod:`leadml.modeling._procedure` runs on the rows whose label was known at ``T`` and every
   model is evaluated on the rows on and after ``T`` (the same rows for every model), overall and
   for the leads never seen in training; optionally at several origins;
4. **production fit**: the same procedure on all labelled history: the model that is saved,
   registered and scored.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from leadml import _progress
from leadml.audit import fast_audit
from leadml.evaluation import (
    BacktestFold,
    ComparisonReport,
    LazyFigures,
    compare_models,
    figure_caption,
    horizon_words,
    metric_table,
    plan_backtest,
)
from leadml.exceptions import (
    ConfigError,
    DataContractError,
    LeakageWarning,
    RowsExcludedWarning,
)
from leadml.explain import reasons_waterfall
from leadml.features import (
    FeatureSpec,
    build_flat_training_set,
    compute_features,
    cutoff_exclusions,
    label_rows,
    training_cutoffs,
)
from leadml.modeling._bundle import LeadScoringModel, library_versions
from leadml.modeling._calibration import ScoreScale
from leadml.modeling._config import DEFAULT_BANDS, TrainConfig
from leadml.modeling._lgbm import FitInfo
from leadml.modeling._procedure import Fitted, OpenWindows, fit_procedure
from leadml.modeling._segments import (
    SegmentChoice,
    check_segment_column,
    choose_segments,
)
from leadml.rules import ScorecardConfig, load_rules, scorecard_inputs
from leadml.schema import FLAT_TIME, LeadData, examples, validate_cutoffs, validate_lead_data
from leadml.scoring import segment_text

__all__ = [
    "DEFAULT_BANDS",
    "NotEnoughDataError",
    "TrainResult",
    "evaluate_model",
    "train",
    "train_flat",
]

DEFAULT_RULES = Path(__file__).resolve().parent.parent / "rules" / "default.yaml"
MODEL_NAMES = ("rules", "logistic", "lightgbm")
DRIVER_ROWS = 20_000
"""Global drivers and SHAP plots of the report use at most this many test rows (seeded sample)."""
LABEL_START_P = 1e-3
"""Conversion tracking is taken to start at the first recorded conversion when the rows before it
would have shown at least one conversion with probability above 1 - LABEL_START_P, at the rate seen
after it."""


class NotEnoughDataError(DataContractError):
    """The labelled data is too small to train and evaluate a model honestly."""


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : LeadScoringModel
        The production fit: the procedure run on all labelled history. Save, register and score
        this one.
    report : ComparisonReport
        The backtest at the latest origin: rules vs logistic regression vs LightGBM (and a
        reference) on the same test rows, with subsets (leads never seen in training) and, with
        several origins, the figures of every origin.
    training_set : DataFrame
        Every labelled row with its features (the production spec), ``label`` and ``window``:
        ``"train"`` (label known at the latest backtest origin), ``"gap"`` or ``"test"``.
    split_summary : DataFrame
        Which rows were used for what, and which were left out and why.
    backtest : DataFrame
        One row per (origin, model): test window and metrics.
    fit_info : FitInfo
        LightGBM parameters and number of trees of the production fit.
    backtest_model : LeadScoringModel
        The model the report evaluates (the procedure run at the latest origin).
    config : TrainConfig
    notes : list of str
        What the procedure decided and why (left-out rows, calibration fallbacks...).
    segments : SegmentChoice, optional
        With ``config.segment``: the backtest's choice per segment value (also on
        ``report.segments``) and the production models of the kept segments (in ``model``).
    """

    model: LeadScoringModel
    report: ComparisonReport
    training_set: pd.DataFrame
    split_summary: pd.DataFrame
    backtest: pd.DataFrame
    fit_info: FitInfo
    backtest_model: LeadScoringModel
    config: TrainConfig
    notes: list[str] = field(default_factory=list)
    segments: SegmentChoice | None = None


# ---------------------------------------------------------------------------------- config
def _resolve_config(
    config: TrainConfig | Mapping[str, Any] | str | Path | None, options: dict
) -> TrainConfig:
    if config is None:
        base = TrainConfig()
    elif isinstance(config, TrainConfig):
        base = config
    elif isinstance(config, (str, Path)):
        base = TrainConfig.from_yaml(config)
    elif isinstance(config, Mapping):
        base = TrainConfig.from_dict(dict(config))
    else:
        raise ConfigError(
            f"config: expected a TrainConfig, a mapping or a YAML path, got {type(config).__name__}."
        )
    return base.updated(**options)


def _fmt_us(v: int) -> str:
    return str(pd.Timestamp(int(v), unit="us", tz="UTC"))


def _part(name: str, frame: pd.DataFrame, note: str = "") -> dict[str, Any]:
    y = (
        pd.to_numeric(frame["label"], errors="coerce")
        if "label" in frame
        else pd.Series(dtype=float)
    )
    return {
        "part": name,
        "rows": len(frame),
        "leads": int(frame["lead_id"].nunique()),
        "conversions": int(np.nansum(y)) if len(y) else 0,
        "label_rate": float(np.nanmean(y)) if len(y) and y.notna().any() else np.nan,
        "from": frame["as_of"].min() if len(frame) else pd.NaT,
        "to": frame["as_of"].max() if len(frame) else pd.NaT,
        "note": note,
    }


# ---------------------------------------------------------------------------------- 1. rows
@dataclass
class LabelledRows:
    """The labelled rows (``lead_id, as_of, label``) and what was left out."""

    rows: pd.DataFrame
    left_out: list[dict[str, Any]]
    end: pd.Timestamp
    label_start: pd.Timestamp | None
    notes: list[str]
    open_rows: pd.DataFrame
    """The censored cut-offs (``lead_id, as_of``): label window still open at the end."""


def labelled_rows(
    data: LeadData, cfg: TrainConfig, cutoffs: pd.DataFrame | None = None, *, caller: str = "train"
) -> LabelledRows:
    """Cut-offs, labels and censoring; rows before conversion tracking started are left out.

    See :attr:`TrainConfig.label_start`: ``"auto"`` detects a late start of conversion tracking
    from the data (the first recorded conversion comes so late that the rows before it would
    almost surely have shown conversions at the later rate), ``"none"`` keeps every row, a time
    keeps the rows from it on.
    """
    h = cfg.horizon_td
    cut, end = training_cutoffs(
        data,
        cutoffs=cutoffs,
        every=cfg.every,
        start=cfg.start,
        max_age=cfg.max_age,
        observed_until=cfg.observed_until,
        caller=caller,
    )
    lab = label_rows(cut, data.conversions, horizon=h, observed_until=end)
    censored = lab["censored"].to_numpy()
    left_out: list[dict[str, Any]] = []
    notes: list[str] = []
    if cutoffs is not None:  # explicit cut-offs that are not training rows (also warned)
        given = validate_cutoffs(cutoffs, data.leads)
        why = cutoff_exclusions(given, data)
        for key, part, note in (
            ("not_created", "left out: cut-off before the lead was created", "as_of < created_at"),
            ("converted", "left out: cut-off at or after the conversion", "converted_at <= as_of"),
            ("lost", "left out: after the lead was lost", "leads.lost_at at or before as_of"),
        ):
            if why[key].any():
                left_out.append(_part(part, given.loc[why[key]], note))
    if cutoffs is None and "lost_at" in data.leads.columns and data.leads["lost_at"].notna().any():
        unlost = LeadData(data.leads.drop(columns=["lost_at"]), data.events, data.conversions)
        every_row, _ = training_cutoffs(
            unlost, cutoffs=None, every=cfg.every, start=cfg.start, max_age=cfg.max_age,
            observed_until=cfg.observed_until, caller=caller,
        )  # fmt: skip
        lost = every_row.merge(cut, on=["lead_id", "as_of"], how="left", indicator=True)
        lost = lost[lost["_merge"] == "left_only"].drop(columns="_merge")
        if len(lost):
            left_out.append(
                _part(
                    "left out: after the lead was lost",
                    lost,
                    "leads.lost_at at or before as_of: closed without converting, not scored",
                )
            )
    if censored.any():
        c = cut.loc[censored]
        left_out.append(
            _part(
                "left out: censored (label window ends after the data)",
                c,
                f"as_of + {cfg.horizon} is after the end of the data {end}; still scorable",
            )
        )
    open_rows = cut.loc[censored, ["lead_id", "as_of"]].reset_index(drop=True)
    rows = cut.loc[~censored, ["lead_id", "as_of"]].reset_index(drop=True)
    rows["label"] = lab.loc[~censored, "label"].to_numpy(dtype="int8")
    if len(rows) == 0:
        span = end - data.leads["created_at"].min()
        raise NotEnoughDataError(
            f"{caller}: no labelled row: every cut-off's label window (as_of + horizon "
            f"{cfg.horizon}) ends after the end of the data ({end}); the data spans "
            f"{span.days} days from the first lead. Fix: a horizon shorter than the history, "
            "earlier cut-offs, or more history."
        )
    start, note = _label_start(rows, data, cfg)
    if start is not None:
        before = (rows["as_of"] < start).to_numpy()
        if before.any():
            left_out.append(
                _part("left out: before conversion tracking started", rows.loc[before], note)
            )
            notes.append(note)
            rows = rows.loc[~before].reset_index(drop=True)
        if len(rows) == 0:
            raise NotEnoughDataError(
                f"{caller}: no labelled row on or after label_start {start}. Fix: an earlier "
                "label_start, or label_start='none'."
            )
    return LabelledRows(rows, left_out, end, start, notes, open_rows)


def _label_start(
    rows: pd.DataFrame, data: LeadData, cfg: TrainConfig
) -> tuple[pd.Timestamp | None, str]:
    if cfg.label_start == "none":
        return None, ""
    if cfg.label_start != "auto":
        t = pd.Timestamp(cfg.label_start)
        return t, f"label_start={t}: rows before it are left out (set in the config)."
    if len(data.conversions) == 0:
        return None, ""
    first = data.conversions["converted_at"].min()
    h = cfg.horizon_td
    pre = (rows["as_of"] + h < first).to_numpy()  # windows that end before the first conversion
    post = (rows["as_of"] >= first).to_numpy()
    if not pre.any() or not post.any():
        return None, ""
    rate = float(rows.loc[post, "label"].mean())
    expected = rate * int(pre.sum())
    if np.exp(-expected) >= LABEL_START_P:
        return None, ""
    before = rows["as_of"] < first
    straddle = before & ~pre
    return first, (
        f"conversions are recorded from {first:%Y-%m-%d %H:%M} (the first conversion) on: the "
        f"{int(pre.sum()):,} rows whose label window ends before it (as_of "
        f"{rows.loc[pre, 'as_of'].min():%Y-%m-%d} .. {rows.loc[pre, 'as_of'].max():%Y-%m-%d}) "
        f"show no conversion at all where {expected:,.0f} were expected at the later rate "
        f"({rate:.2%}), so conversion tracking had not started; they and the "
        f"{int(straddle.sum()):,} rows whose window only partly falls after it "
        f"({int(rows.loc[straddle, 'label'].sum()):,} conversions, labelled from a partly tracked "
        "window) are left out of training and evaluation. Override with label_start='none' or a "
        "time."
    )


def check_min_data(rows: pd.DataFrame, cfg: TrainConfig, *, caller: str = "train") -> None:
    """Stop with the numbers when the labelled rows hold too few converted or not-converted leads."""
    per_lead = rows.groupby("lead_id", sort=False)["label"].max()
    conv, unconv = int(per_lead.sum()), int((per_lead == 0).sum())
    need = cfg.min_data
    if conv < need.converted_leads or unconv < need.unconverted_leads:
        raise NotEnoughDataError(
            f"{caller}: the {len(rows):,} labelled rows hold {conv:,} converted and {unconv:,} "
            f"not-converted leads; training needs at least {need.converted_leads} converted and "
            f"{need.unconverted_leads} not-converted leads (min_data). Fix: more history or more "
            f"leads, a longer horizon (now {cfg.horizon}), or lower min_data if a noisy model is "
            "acceptable."
        )


# ---------------------------------------------------------------------------------- models
def _bundle(spec: FeatureSpec, fitted: Fitted) -> LeadScoringModel:
    model = LeadScoringModel(
        spec=spec,
        booster=fitted.booster,
        calibrator=fitted.calibrator,
        scale=fitted.scale,
        scorecard=fitted.scorecard,
        linear=fitted.linear,
        linear_calibrator=fitted.linear_calibrator,
    )
    model.metadata["logistic_scale"] = fitted.linear_scale.to_dict()
    return model


def _predict_all(
    model: LeadScoringModel, feats: pd.DataFrame, rules_x: pd.DataFrame
) -> dict[str, np.ndarray]:
    out = {"rules": model.scorecard.predict_proba(rules_x)[:, 1]}
    if model.linear is not None:
        out["logistic"] = model.predict_linear(feats)
    out["lightgbm"] = model.predict_proba(feats)
    return out


def _bands_for(
    model: LeadScoringModel, preds: dict[str, np.ndarray], rules_x: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Band per row for each model: the scorecard's own bands (points); for the learned models,
    the same percentile bands as the deployed score."""
    out = {"rules": model.scorecard.grades(rules_x)["band"].to_numpy()}
    for name in ("logistic", "lightgbm"):
        if name not in preds:
            continue
        scale = model.scale
        if name == "logistic" and model.metadata.get("logistic_scale"):
            scale = ScoreScale.from_dict(model.metadata["logistic_scale"])
        out[name] = scale.band(scale.score(preds[name]))
    return out


def _inputs_hash(*frames: pd.DataFrame | None) -> str:
    h = hashlib.sha256()
    for f in frames:
        if f is None:
            continue
        h.update(pd.util.hash_pandas_object(f, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def _reference(rows: pd.DataFrame, reference: pd.DataFrame) -> np.ndarray:
    for col in ("lead_id", "as_of", "p"):
        if col not in reference.columns:
            raise DataContractError(
                f"reference: column {col!r} missing; received {list(reference.columns)}. Fix: "
                "pass lead_id, as_of, p."
            )
    ref = rows[["lead_id", "as_of"]].merge(reference, on=["lead_id", "as_of"], how="left")
    if ref["p"].isna().any():
        bad = ref["p"].isna().to_numpy()
        raise DataContractError(
            f"reference: {int(bad.sum())} evaluated row(s) have no reference probability (lead ids "
            f"{examples(rows.loc[bad, 'lead_id'].tolist())}). Fix: pass lead_id, as_of, p for every "
            "cut-off."
        )
    return ref["p"].to_numpy(dtype=float)


def _report(
    model: LeadScoringModel,
    feats: pd.DataFrame,
    rules_x: pd.DataFrame,
    y: np.ndarray,
    rows: pd.DataFrame,
    *,
    reference: pd.DataFrame | None,
    n_boot: int,
    seed: int,
    title: str,
    explain: bool = True,
    seen_leads: pd.Series | None = None,
) -> ComparisonReport:
    _progress.stage(f"evaluating every model on {len(y):,} test rows")
    preds = _predict_all(model, feats, rules_x)
    bands = _bands_for(model, preds, rules_x)
    grades = model.scorecard.grades(rules_x)["grade"].to_numpy()
    if reference is not None:
        preds["reference"] = _reference(rows, reference)
    report = compare_models(
        y,
        preds,
        bands=bands,
        grades=grades,
        groups=rows["lead_id"].to_numpy(),
        n_boot=n_boot,
        seed=seed,
        info={"title": title, "bands": list(model.scale.bands)},
    )
    if seen_leads is not None:
        report.subsets = _subsets(y, preds, rows, seen_leads)
    if explain and len(feats):
        ex = model.explainer
        sample, ids = feats, rows[["lead_id", "as_of"]]
        if len(feats) > DRIVER_ROWS:
            pick = np.sort(
                np.random.default_rng(seed).choice(len(feats), DRIVER_ROWS, replace=False)
            )
            sample = feats.iloc[pick].reset_index(drop=True)
            ids = ids.iloc[pick]
        report.drivers = ex.global_drivers(sample)

        def draw(sample: pd.DataFrame = sample, ids: pd.DataFrame = ids) -> dict[str, bytes]:
            top = int(np.argmax(model.predict_proba(sample.iloc[:5000])))
            lead = replace(
                ex.explain_lead(sample, top, top=10),
                lead_id=ids["lead_id"].iat[top],
                as_of=ids["as_of"].iat[top],
            )
            title = f"The best-scored test lead, {lead.lead_id}: why it scores"
            horizon = horizon_words(report.info.get("horizon") or model.metadata.get("horizon"))
            waterfall = reasons_waterfall(
                lead,
                title=f"{title} {lead.probability * 100:.1f} %",
                outcome=f"converting within {horizon}" if horizon else "converting",
                caption=figure_caption(report.info, width=130),
            )
            return {"reasons_waterfall": waterfall, **ex.plots(sample, lead=top)}

        report.explain_figures = LazyFigures(draw)
    return report


SUBSET_METRICS = ["auc", "pr_auc", "log_loss", "brier", "ece", "citl", "lift_10", "capture_20"]


def _subsets(
    y: np.ndarray, preds: dict[str, np.ndarray], rows: pd.DataFrame, seen_leads: pd.Series
) -> pd.DataFrame:
    """Metrics on all test rows and on the rows of leads never seen in training."""
    unseen = ~np.asarray(rows["lead_id"].isin(seen_leads), dtype=bool)
    out = []
    for name, m in (
        ("all test rows", np.ones(len(y), dtype=bool)),
        ("leads never seen in training", unseen),
    ):
        yy = y[m]
        if not len(yy):
            continue
        row = {
            "subset": name,
            "rows": int(m.sum()),
            "leads": int(rows.loc[m, "lead_id"].nunique()),
            "conversions": int(yy.sum()),
        }
        if yy.min() == yy.max():
            out += [{**row, "model": k} for k in preds]
            continue
        tab = metric_table(yy, {k: p[m] for k, p in preds.items()}, metrics=SUBSET_METRICS)
        out += [{**row, "model": k, **{str(c): v for c, v in tab.loc[k].items()}} for k in preds]
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------------- train
def _fit_spec(
    given: FeatureSpec | None, cfg: TrainConfig, data: LeadData, until: pd.Timestamp
) -> FeatureSpec:
    """A feature spec fitted on what was known before ``until`` (a given fitted spec as is)."""
    if given is not None and given.fitted_:
        return given
    spec = replace(given) if given is not None else cfg.features.spec(exclude=list(cfg.exclude))
    if given is not None and cfg.exclude:
        spec = replace(spec, exclude=tuple(dict.fromkeys([*spec.exclude, *cfg.exclude])))
    return spec.fit(
        data.leads.loc[data.leads["created_at"] < until],
        data.events.loc[data.events["timestamp"] < until],
    )


def _same(a: FeatureSpec, b: FeatureSpec) -> bool:
    return a is b or a.to_dict() == b.to_dict()


@dataclass(frozen=True)
class _Labelled:
    """The labelled rows' arrays the procedure is fitted on (aligned with the feature rows), so a
    backtest origin, the production fit and each segment fit differ only in the rows they take."""

    rules_x: pd.DataFrame
    y: np.ndarray
    t: np.ndarray
    delay: np.ndarray
    rules: Any
    cfg: TrainConfig
    gap_us: int

    def fit(
        self,
        spec: FeatureSpec,
        X: pd.DataFrame,
        mask: np.ndarray | None = None,
        open_windows: OpenWindows | None = None,
    ) -> Fitted:
        """:func:`fit_procedure` on the rows ``mask`` selects (``None``: all of them)."""
        if mask is None:  # the production fit: every row, no copy of the feature matrix
            X_, rules_x, y, t, delay = X, self.rules_x, self.y, self.t, self.delay
        else:
            X_, rules_x = X.loc[mask], self.rules_x.loc[mask]
            y, t, delay = self.y[mask], self.t[mask], self.delay[mask]
        return fit_procedure(
            X_.reset_index(drop=True),  # copy-on-write: no copy of the data
            rules_x.reset_index(drop=True),
            y,
            t,
            spec=spec,
            rules=self.rules,
            config=self.cfg,
            gap=self.gap_us,
            fmt=_fmt_us,
            delay=delay,
            open_windows=open_windows,
        )


def _backtest_origin(
    i: int,
    n_folds: int,
    fold: Any,
    *,
    spec: FeatureSpec | None,
    spec_p: FeatureSpec,
    feats_p: pd.DataFrame,
    cfg: TrainConfig,
    data: LeadData,
    rows: pd.DataFrame,
    lab: _Labelled,
    conv_at: np.ndarray,
    h: pd.Timedelta,
    reference: pd.DataFrame | None,
) -> dict[str, Any]:
    """One backtest origin: the procedure fitted on the rows known at the origin, evaluated on
    the test block after it (origins are independent: ``backtest.n_jobs`` runs them in
    parallel processes with joblib, with the same results)."""
    latest = i == n_folds - 1
    origin = pd.Timestamp(fold.origin, unit="us", tz="UTC")
    _progress.stage(
        f"backtest {i + 1}/{n_folds} at {origin:%Y-%m-%d}: the procedure on "
        f"{int(fold.train.sum()):,} rows, evaluated on {int(fold.test.sum()):,}"
    )
    spec_t = _fit_spec(spec, cfg, data, origin)
    feats_t = (
        feats_p
        if _same(spec_t, spec_p)
        else compute_features(spec_t, data, rows[["lead_id", "as_of"]], engine="auto")
    )
    X_t = feats_t[spec_t.feature_names_]
    tr, te = fold.train, fold.test
    rules_x, y = lab.rules_x, lab.y
    try:
        fitted_t = lab.fit(
            spec_t,
            X_t,
            tr,
            _open_windows(
                X_t.loc[fold.gap].reset_index(drop=True),
                rows.loc[fold.gap, ["lead_id", "as_of"]],
                conv_at[fold.gap],
                origin,
                h,
            ),
        )
    except ConfigError as exc:
        raise ConfigError(
            f"backtest {i + 1}/{n_folds} (origin {origin:%Y-%m-%d}, the procedure on the "
            f"{int(tr.sum()):,} rows whose label was known then, {int(y[tr].sum()):,} "
            f"conversions; test block {int(te.sum()):,} rows, {int(y[te].sum()):,} conversions): "
            f"{exc} Or give the backtest's training side more of the history: a smaller "
            "backtest.min_test_conversions or backtest.test_share, or fewer backtest.origins."
        ) from exc
    m_t = _bundle(spec_t, fitted_t)
    test_rows = rows.loc[te].reset_index(drop=True)
    rep = _report(
        m_t,
        feats_t.loc[te].reset_index(drop=True),
        rules_x.loc[te].reset_index(drop=True),
        y[te],
        test_rows,
        reference=reference,
        n_boot=cfg.n_boot if latest else 0,
        seed=cfg.seed,
        title=f"Backtest: rules vs logistic regression vs LightGBM (origin {origin:%Y-%m-%d})",
        explain=latest,
        seen_leads=rows.loc[tr, "lead_id"],
    )
    per_origin = [
        {
            "origin": origin,
            "test_from": test_rows["as_of"].min(),
            "test_to": test_rows["as_of"].max(),
            "rows": int(te.sum()),
            "conversions": int(y[te].sum()),
            "model": model_name,
            **{str(k): v for k, v in row.items()},
        }
        for model_name, row in rep.metrics.iterrows()
    ]
    if latest:
        m_t.metadata.update(
            {
                "mode": "events",
                "horizon": str(h),
                "horizon_days": h / pd.Timedelta(days=1),
                "schedule": cfg.every,
                "backtest": _fold_meta(fold, rows, cfg),
                "production": _production_meta(rows.loc[tr], origin, fitted_t),
                "lightgbm": _lgbm_meta(fitted_t.fit_info),
                "config": cfg.to_dict(),
                "note": "the backtest model (the procedure run at the origin), not the one to ship",
            }
        )
    out = {"per_origin": per_origin, "report": rep, "model": m_t, "notes": fitted_t.notes}
    if latest:  # per-segment models are tried at the latest origin, on the same features
        out.update({"feats": feats_t, "spec": spec_t})
    return out


def train(
    leads: pd.DataFrame | LeadData,
    events: pd.DataFrame | None = None,
    conversions: pd.DataFrame | None = None,
    *,
    config: TrainConfig | Mapping[str, Any] | str | Path | None = None,
    cutoffs: pd.DataFrame | None = None,
    spec: FeatureSpec | None = None,
    reference: pd.DataFrame | None = None,
    **options: Any,
) -> TrainResult:
    """Backtest the training procedure at an earlier origin, then fit it on all labelled history.

    Parameters
    ----------
    leads, events, conversions : DataFrame or LeadData
        The contract tables (``leads`` may be an already validated :class:`LeadData`).
    config : TrainConfig, mapping or YAML path, optional
        Every choice of the procedure; ``options`` override its top-level keys, e.g.
        ``train(leads, events, conversions, horizon="30d", every="7d", rules="scorecard.yaml")``.
        Shorthands: ``params=`` (LightGBM), ``search=``, ``origins=``, ``calibration="isotonic"``.
    cutoffs : DataFrame, optional
        Explicit ``lead_id, as_of`` rows (e.g. one decision time per lead) instead of
        ``every``.
    spec : FeatureSpec, optional
        Feature parameters (unfitted: fitted at each origin on what was known then; fitted: used
        as is everywhere). Default: ``config.features`` and ``config.exclude``.
    reference : DataFrame, optional
        ``lead_id, as_of, p``: a reference model added to the comparison (e.g. the true
        probabilities of a synthetic CRM).

    Returns
    -------
    TrainResult
        ``model`` (production fit), ``report`` (backtest), ``split_summary``, ``notes``...

    Notes
    -----
    The backtest runs the procedure on the rows whose label was known at the origin ``T``
    (``as_of + gap <= T``, gap = horizon) and evaluates on the rows with ``as_of >= T``; a deployed
    model scores leads it was trained on, so test rows of those leads are kept, and the report
    gives the figures for the leads never seen in training too. No row is dropped for a split rule:
    only the gap before ``T`` is unused by the backtest.
    """
    cfg = _resolve_config(config, options)
    h = cfg.horizon_td
    _check_events(leads, events)
    if not isinstance(leads, LeadData):
        _check_conversions(conversions)
    _progress.stage("validating the leads, events and conversions")
    data = (
        leads
        if isinstance(leads, LeadData)
        else validate_lead_data(leads, events, conversions, unknown_leads=cfg.unknown_leads)
    )
    _progress.stage("cut-offs and labels")
    _check_exclude(cfg.exclude, data.leads)
    if cfg.segment is not None:
        check_segment_column(cfg.segment, data.leads)
    lr = labelled_rows(data, cfg, cutoffs)
    rows = lr.rows
    check_min_data(rows, cfg)
    notes = list(lr.notes)
    if spec is not None and spec.fitted_:
        notes.append(
            "the feature spec was fitted before train was called: the backtest uses its "
            "vocabularies as given (they may have been learned from data after the origin)."
        )
    rules = load_rules(cfg.rules if cfg.rules is not None else DEFAULT_RULES)
    # the scorecard's inputs keep lead_id and as_of: a scorecard without rules has no other column
    rules_x = scorecard_inputs(rules, data, rows[["lead_id", "as_of"]])
    y = rows["label"].to_numpy(dtype=np.int64)
    t = rows["as_of"].astype("datetime64[us, UTC]").astype("int64").to_numpy()
    gap_us = int(cfg.gap_td / pd.Timedelta(microseconds=1))
    try:
        folds = plan_backtest(
            t,
            y,
            gap=gap_us,
            origins=cfg.backtest.origins,
            test_share=cfg.backtest.test_share,
            min_test_conversions=cfg.backtest.min_test_conversions,
            fmt=_fmt_us,
        )
    except ConfigError as exc:
        early = sum(p["rows"] for p in lr.left_out if p["part"].startswith("left out: before"))
        if lr.label_start is None or not early:
            raise
        raise ConfigError(
            f"{exc} These are the rows left after conversion tracking was taken to start on "
            f"{lr.label_start:%Y-%m-%d %H:%M} (label_start: {cfg.label_start}): {early:,} earlier "
            f"labelled rows were left out, and {len(rows):,} rows from "
            f"{rows['as_of'].min():%Y-%m-%d} to {rows['as_of'].max():%Y-%m-%d} remain. If "
            "conversions were recorded before then and there were none, label_start: none keeps "
            "those rows."
        ) from exc
    notes += _short_test_notes(folds, y, cfg, _fmt_us)
    spec_p = _fit_spec(spec, cfg, data, lr.end)
    n_open = len(lr.open_rows) if cfg.calibration.recent_rate else 0
    _progress.stage(f"features for {len(rows):,} labelled rows and {n_open:,} open ones (DuckDB)")
    both = pd.concat([rows[["lead_id", "as_of"]], lr.open_rows.iloc[:n_open]], ignore_index=True)
    feats_all = compute_features(spec_p, data, both, engine="auto")
    feats_p = feats_all.iloc[: len(rows)].reset_index(drop=True)
    feats_open = feats_all.iloc[len(rows) :].reset_index(drop=True)
    # profile values belong to the lead: compare the leads that convert with those that do not
    ever = np.asarray(data.leads["lead_id"].isin(data.conversions["lead_id"]), dtype=int)
    notes += leakage_notes(
        spec_p.profile_frame(data.leads, data.leads["lead_id"]),
        ever,
        data.leads["lead_id"].to_numpy(),
        spec_p,
        data,
    )
    conv_at = _conversion_times(data, rows)
    delay = _horizon_share(conv_at, rows["as_of"], h)
    delay[y != 1] = np.nan
    last_fold = folds[-1]
    lab = _Labelled(rules_x, y, t, delay, rules, cfg, gap_us)
    shared = {
        "spec": spec,
        "spec_p": spec_p,
        "feats_p": feats_p,
        "cfg": cfg,
        "data": data,
        "rows": rows,
        "lab": lab,
        "conv_at": conv_at,
        "h": h,
        "reference": reference,
    }
    runs = joblib.Parallel(n_jobs=min(cfg.backtest.n_jobs, len(folds)))(
        joblib.delayed(_backtest_origin)(i, len(folds), fold, **shared)
        for i, fold in enumerate(folds)
    )
    per_origin = [row for run in runs for row in run["per_origin"]]
    report, model_t = runs[-1]["report"], runs[-1]["model"]
    for k, run in enumerate(runs):  # every origin's notes (the latest one's without a number)
        at = "" if k == len(runs) - 1 else f" {k + 1}/{len(runs)}"
        notes += [f"backtest{at}: {n}" for n in run["notes"]]
    assert report is not None
    assert model_t is not None
    _progress.stage(f"production fit on all {len(rows):,} labelled rows")
    fitted_p = lab.fit(
        spec_p,
        feats_p[spec_p.feature_names_],
        None,
        _open_windows(
            feats_open[spec_p.feature_names_],
            lr.open_rows.iloc[:n_open],
            _conversion_times(data, lr.open_rows.iloc[:n_open]),
            lr.end,
            h,
        ),
    )
    notes += [f"production fit: {n}" for n in fitted_p.notes]
    model = _bundle(spec_p, fitted_p)
    choice = None
    if cfg.segment is not None:
        spec_t, feats_t = runs[-1]["spec"], runs[-1]["feats"]
        X_t = feats_t[spec_t.feature_names_]
        origin_t = pd.Timestamp(last_fold.origin, unit="us", tz="UTC")
        open_cut = lr.open_rows.iloc[:n_open].reset_index(drop=True)
        open_values = segment_text(data.leads, cfg.segment, open_cut["lead_id"])
        values = segment_text(data.leads, cfg.segment, rows["lead_id"])

        def fit_segment(
            spec_s: FeatureSpec,
            X: pd.DataFrame,
            mask: np.ndarray,
            open_windows: OpenWindows | None,
        ) -> LeadScoringModel:
            return _bundle(spec_s, lab.fit(spec_s, X, mask, open_windows))

        def segment_backtest(mask: np.ndarray, seg: np.ndarray) -> LeadScoringModel:
            g = last_fold.gap & seg
            ow = _open_windows(
                X_t.loc[g].reset_index(drop=True),
                rows.loc[g, ["lead_id", "as_of"]],
                conv_at[g],
                origin_t,
                h,
            )
            return fit_segment(spec_t, X_t, mask, ow)

        def segment_production(seg: np.ndarray) -> LeadScoringModel:
            om = open_values == values[seg][0]
            ow = _open_windows(
                feats_open.loc[om, spec_p.feature_names_].reset_index(drop=True),
                open_cut.loc[om],
                _conversion_times(data, open_cut.loc[om]),
                lr.end,
                h,
            )
            return fit_segment(spec_p, feats_p[spec_p.feature_names_], seg, ow)

        _progress.stage(f"per-segment models by {cfg.segment!r}")
        choice = choose_segments(
            values,
            frame=data.leads,
            column=cfg.segment,
            lead_ids=rows["lead_id"],
            y=y,
            train=last_fold.train,
            test=last_fold.test,
            features=X_t,
            global_model=model_t,
            fit_backtest=segment_backtest,
            fit_production=segment_production,
            config=cfg.segments,
        )
        _attach_segments(model, report, choice)
        notes += choice.notes
    window = np.full(len(rows), "train", dtype=object)
    window[last_fold.gap] = "gap"
    window[last_fold.test] = "test"
    summary = _summary(rows, window, lr.left_out, fitted_p, cfg)
    backtest = pd.DataFrame(per_origin)
    if len(folds) > 1:
        report.origins = backtest
    report.data_summary = summary
    origin = pd.Timestamp(last_fold.origin, unit="us", tz="UTC")
    notes += _learned_rules_notes(rules, pd.Timestamp(folds[0].origin, unit="us", tz="UTC"))
    test_rows = rows.loc[last_fold.test]
    report.info.update(
        {
            "window": f"{test_rows['as_of'].min():%Y-%m-%d} .. {test_rows['as_of'].max():%Y-%m-%d}",
            "origin": str(origin),
            "horizon": cfg.horizon,
            "backtest_training_rows": int(last_fold.train.sum()),
        }
    )
    model.metadata.update(
        {
            "mode": "events",
            "horizon": str(h),
            "horizon_days": h / pd.Timedelta(days=1),
            "schedule": cfg.every,
            "observed_until": str(lr.end),
            "label_start": None if lr.label_start is None else str(lr.label_start),
            "backtest": {
                **_fold_meta(last_fold, rows, cfg),
                "origins": [str(pd.Timestamp(f.origin, unit="us", tz="UTC")) for f in folds],
                "metrics": {
                    str(k): {str(m): float(v) for m, v in row.items() if pd.notna(v)}
                    for k, row in report.metrics.iterrows()
                },
            },
            "production": _production_meta(rows, lr.end, fitted_p),
            "lightgbm": _lgbm_meta(fitted_p.fit_info),
            "calibration": fitted_p.calibrator.method,
            "test_metrics": report.metrics.to_dict(orient="index"),
            "seed": cfg.seed,
            "config": cfg.to_dict(),
            "inputs_hash": _inputs_hash(data.leads, data.events, data.conversions),
            "trained_at": str(pd.Timestamp.now(tz="UTC").floor("s")),
            "versions": library_versions(),
            "scorecard": rules.name,
            "notes": list(notes),
        }
    )
    report.notes = list(notes)
    training_set = pd.concat(
        [rows[["lead_id", "as_of", "label"]], feats_p.drop(columns=["lead_id", "as_of"])], axis=1
    )
    training_set["window"] = window
    return TrainResult(
        model=model,
        report=report,
        training_set=training_set,
        split_summary=summary,
        backtest=backtest,
        fit_info=fitted_p.fit_info,
        backtest_model=model_t,
        config=cfg,
        notes=notes,
        segments=choice,
    )


def _attach_segments(model: LeadScoringModel, report: ComparisonReport, c: SegmentChoice) -> None:
    """The kept segments' models into the production model; the choice into the report and the
    metadata."""
    model.segment_column = c.column
    model.segments = dict(c.models)
    report.segments = c.table
    report.segments_routed = c.routed

    def records(df: pd.DataFrame) -> list[dict[str, Any]]:
        return [
            {str(k): (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
            for r in df.to_dict("records")
        ]

    model.metadata["segments"] = {
        "column": c.column,
        "kept": c.kept,
        "rule": (
            "kept where the backtest's log loss is lower by segments.min_log_loss_gain (relative) "
            "and AUC not lower by more than segments.auc_tolerance (same test rows)"
        ),
        "choice": records(c.table),
        "routed": records(c.routed),
    }


def _check_exclude(exclude: Sequence[str], leads: pd.DataFrame) -> None:
    """A column to exclude that the leads table does not have is a typo, not a no-op."""
    import difflib

    missing = [c for c in exclude if c not in leads.columns]
    if missing:
        hints = []
        for c in missing:
            close = difflib.get_close_matches(c, [str(x) for x in leads.columns], n=1, cutoff=0.6)
            hints.append(f"{c!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(
            f"exclude: column(s) {', '.join(hints)} not in the leads table, so nothing would be "
            f"excluded; received {list(leads.columns)[:20]}. Fix: use the column names of the "
            "leads table (after the column mapping)."
        )


def _check_conversions(conversions: pd.DataFrame | None) -> None:
    if conversions is not None and len(conversions) == 0:
        raise DataContractError(
            "conversions: the table has no rows: no lead has converted, so there is nothing to "
            "learn. Fix: pass the conversions table (the first conversion per lead)."
        )


def _check_events(leads: pd.DataFrame | LeadData, events: pd.DataFrame | None) -> None:
    """An empty events table is an error (a model with no behaviour, silently); no events at all
    (``events=None``) is allowed and said."""
    if isinstance(leads, LeadData):
        events = None if len(leads.events) == 0 else leads.events
    elif events is not None and len(events) == 0:
        raise DataContractError(
            "events: the table has no rows: a model trained on it would know nothing of the "
            "leads' behaviour. Fix: pass the events, or events=None (CLI: --no-events) to train on "
            "the profile columns only."
        )
    if events is None:
        warnings.warn(
            "train: no events given: the model uses the profile columns and lead age only.",
            UserWarning,
            stacklevel=3,
        )


def _learned_rules_notes(rules: ScorecardConfig, origin: pd.Timestamp) -> list[str]:
    """A learned scorecard (``leadml rules learn``) that saw outcomes after the backtest's origin
    is judged on rows it was fitted to: its figures in the report are in-sample. A note and a
    :class:`LeakageWarning` with the fix."""
    if rules.learned_until is None:
        return []
    seen = pd.Timestamp(rules.learned_until)
    seen = seen.tz_localize("UTC") if seen.tzinfo is None else seen.tz_convert("UTC")
    if seen <= origin:
        return []
    note = (
        f"rules: scorecard {rules.name!r} was learned from outcomes up to {seen:%Y-%m-%d}, after "
        f"the backtest's origin {origin:%Y-%m-%d}: its figures on the test rows are in-sample "
        "(flattering the rules). Fix: learn it from the outcomes known at the origin (leadml "
        f"rules learn --until {origin:%Y-%m-%d}, or learn_scorecard(until=...))."
    )
    warnings.warn(note, LeakageWarning, stacklevel=3)
    return [note]


def leakage_notes(
    X: pd.DataFrame,
    y: np.ndarray,
    groups: np.ndarray,
    spec: FeatureSpec,
    data: LeadData | None = None,
) -> list[str]:
    """The audit's fast checks (separation and id-like on the profile columns ``X``, one row per
    lead or per row, ``y`` the outcome; with ``data``, event types that occur mostly after
    conversion): a severe finding, or an id-like column, is a note and a
    :class:`LeakageWarning` naming the column and the fix (``leadml audit`` runs every check)."""
    by_feature = {v: k for k, v in spec.profile_names_.items()}
    cols = [c for c in by_feature if c in X.columns]
    found = fast_audit(
        X[cols].set_axis([by_feature[c] for c in cols], axis=1),
        y,
        groups,
        **(
            {}
            if data is None
            else {"leads": data.leads, "events": data.events, "conversions": data.conversions}
        ),
    ).findings
    notes = []
    for r in found.to_dict("records"):
        if r["severity"] != "severe" and r["check"] != "id-like":
            continue
        col = r["column"]
        if r["check"] == "separation":
            note = (
                f"profile column {col!r} alone separates converted from not-converted leads "
                f"(out-of-fold AUC {r['figure']:.3f}): it was probably filled in after the outcome "
                f"(leakage) or identifies the lead. Fix: exclude it (exclude=[{col!r}], CLI "
                f"--exclude {col!r}), or check when it is set."
            )
        else:
            note = f"{r['check']} {col!r}: {r['evidence']}: {r['why']}. Fix: {r['fix']}."
        warnings.warn(note, LeakageWarning, stacklevel=3)
        notes.append(note)
    return notes


def _conversion_times(data: LeadData, rows: pd.DataFrame) -> pd.Series:
    """Each row's lead's conversion time (NaT without one), aligned with ``rows``."""
    conv = data.conversions.set_index("lead_id")["converted_at"]
    return rows["lead_id"].map(conv).astype("datetime64[us, UTC]").reset_index(drop=True)


def _horizon_share(later: pd.Series, earlier: pd.Series, h: pd.Timedelta) -> np.ndarray:
    """``(later - earlier) / h`` as floats (NaN where ``later`` is missing)."""
    a = later.astype("datetime64[us, UTC]").reset_index(drop=True)
    b = earlier.astype("datetime64[us, UTC]").reset_index(drop=True)
    seconds = (a - b).dt.total_seconds().to_numpy(dtype=float, na_value=np.nan)
    return seconds / h.total_seconds()


def _open_windows(
    X: pd.DataFrame, cut: pd.DataFrame, conv_at: pd.Series, until: pd.Timestamp, h: pd.Timedelta
) -> OpenWindows | None:
    """Rows (``cut``: lead_id, as_of) whose label window is open at ``until``: the share of the
    horizon elapsed and whether the lead converted in it (only what was known at ``until``)."""
    if not len(X):
        return None
    a = cut["as_of"].reset_index(drop=True)
    c = conv_at.reset_index(drop=True)
    elapsed = np.clip(_horizon_share(pd.Series(until, index=a.index), a, h), 0.0, 1.0)
    converted = ((c > a) & (c <= until)).fillna(False).to_numpy(dtype=bool)
    groups = cut["lead_id"].to_numpy()
    return OpenWindows(X=X, elapsed=elapsed, converted=converted, groups=groups)


def _lgbm_meta(info: FitInfo) -> dict[str, Any]:
    return {
        "params": info.params,
        "best_iteration": info.best_iteration,
        "valid_log_loss": info.valid_log_loss,
        "search": info.search,
    }


def _window(frame: pd.DataFrame) -> list[str]:
    return [str(frame["as_of"].min()), str(frame["as_of"].max())] if len(frame) else []


def _short_test_notes(
    folds: Sequence[BacktestFold], y: np.ndarray, cfg: TrainConfig, fmt: Callable[[int], str]
) -> list[str]:
    """A note per backtest fold whose test block holds fewer than min_test_conversions."""
    need = cfg.backtest.min_test_conversions
    return [
        f"backtest: the test block from {fmt(f.origin)} on ({int(f.test.sum()):,} rows) holds "
        f"{int(y[f.test].sum()):,} conversions, fewer than backtest.min_test_conversions={need}: "
        "the history is small, and a larger block would take more than half the rows or leave "
        f"its training rows fewer conversions than it has ({int(y[f.train].sum()):,}). Its "
        "figures are noisy: read the intervals."
        for f in folds
        if not f.conversions_met
    ]


def _fold_meta(fold: BacktestFold, rows: pd.DataFrame, cfg: TrainConfig) -> dict[str, Any]:
    return {
        "origin": str(pd.Timestamp(fold.origin, unit="us", tz="UTC")),
        "gap": cfg.backtest.gap or cfg.horizon,
        "train_window": _window(rows.loc[fold.train]),
        "test_window": _window(rows.loc[fold.test]),
        "rows": {
            "train": int(fold.train.sum()),
            "gap": int(fold.gap.sum()),
            "test": int(fold.test.sum()),
        },
        "conversions": {
            "train": int(rows.loc[fold.train, "label"].sum()),
            "test": int(rows.loc[fold.test, "label"].sum()),
        },
        "test_conversions_met": bool(fold.conversions_met),
    }


def _production_meta(rows: pd.DataFrame, end: pd.Timestamp, fitted: Fitted) -> dict[str, Any]:
    return {
        "train_window": _window(rows),
        "labels_known_until": str(end),
        "rows": len(rows),
        "conversions": int(rows["label"].sum()),
        "blocks": fitted.blocks,
        "n_trees": fitted.fit_info.best_iteration,
        "n_trees_from": "early stopping on the latest block (the procedure's internal validation)",
    }


def _summary(
    rows: pd.DataFrame,
    window: np.ndarray,
    left_out: list[dict[str, Any]],
    fitted: Fitted,
    cfg: TrainConfig,
) -> pd.DataFrame:
    parts = [
        _part(
            "backtest: training rows",
            rows.loc[window == "train"],
            f"label known at the origin (as_of + {cfg.backtest.gap or cfg.horizon} <= origin)",
        ),
        _part("backtest: gap", rows.loc[window == "gap"], "label not yet known at the origin"),
        _part("backtest: test rows", rows.loc[window == "test"], "as_of on or after the origin"),
        _part("production fit: all labelled rows", rows, "what the saved model is fitted on"),
    ]
    cb = fitted.blocks["calibration"]
    cal_rows = rows.loc[rows["as_of"] >= pd.Timestamp(cb["from"])]
    parts.append(
        _part("production fit: calibration block", cal_rows, "the latest rows; sets the level")
    )
    out = pd.DataFrame(parts + left_out)
    used = int(np.isin(window, ("train", "test")).sum())
    out.attrs["backtest_share"] = used / max(int((window != "gap").sum()), 1)
    return out


# ---------------------------------------------------------------------------------- evaluate
def evaluate_model(
    model: LeadScoringModel,
    leads: pd.DataFrame | LeadData,
    events: pd.DataFrame | None = None,
    conversions: pd.DataFrame | None = None,
    *,
    every: str | int | pd.Timedelta | None = None,
    cutoffs: pd.DataFrame | None = None,
    start: str | pd.Timestamp | None = None,
    max_age: str | int | pd.Timedelta | None = None,
    observed_until: str | pd.Timestamp | None = None,
    in_sample: bool = False,
    n_boot: int = 200,
    seed: int = 0,
    unknown_leads: str = "error",
) -> ComparisonReport:
    """Evaluate a saved model (and its rules and logistic references) on labelled data.

    By default only the rows after the model's training window (``as_of`` later than the last
    cut-off it was fitted on) are evaluated: figures on the training rows would be in-sample.
    ``in_sample=True`` evaluates every labelled row and says so in the report's title. Labels use
    the model's horizon; censored rows are left out (and counted in the report).
    """
    if model.is_flat:
        raise ConfigError(
            "evaluate_model is for event models; for a flat model use train_flat's report."
        )
    if model.segments:
        raise ConfigError(
            f"evaluate_model: this model routes leads by {model.segment_column!r} to "
            f"{len(model.segments)} segment model(s); evaluate_model judges one model and would "
            "report the global model's figures, not the routed scores. Fix: read train's report "
            "(report.segments and report.segments_routed compare them on the same rows), or "
            "score with model.score and compare with the outcomes (leadml monitor)."
        )
    h = pd.Timedelta(model.metadata.get("horizon", "30 days"))
    if every is None and cutoffs is None:
        every = model.metadata.get("schedule")  # the model's own schedule, when it had one
        if every is None:
            raise ConfigError(
                "evaluate: the model was trained on explicit cut-offs; pass the cut-offs to "
                "evaluate (CLI: --cutoffs F.csv) or a schedule (--every 7d)."
            )
    cfg = TrainConfig(
        horizon=h,
        every=every,
        start=start,
        max_age=max_age,
        observed_until=observed_until,
        label_start="none",
        unknown_leads=unknown_leads,  # type: ignore[arg-type]
    )
    data = (
        leads
        if isinstance(leads, LeadData)
        else validate_lead_data(leads, events, conversions, unknown_leads=cfg.unknown_leads)
    )
    lr = labelled_rows(data, cfg, cutoffs, caller="evaluate")
    rows = lr.rows
    censored = sum(p["rows"] for p in lr.left_out)
    parts: list[dict[str, Any]] = []
    window = (model.metadata.get("production") or {}).get("train_window") or []
    trained_to = pd.Timestamp(window[1]) if window else None
    title = "Saved model on labelled data after its training window"
    if in_sample:
        title = "Saved model on labelled data, IN-SAMPLE (includes its training rows)"
    elif trained_to is None:
        warnings.warn(
            "evaluate: the model's metadata has no training window (trained by an older leadml); "
            "every labelled row is evaluated and some may be training rows.",
            RowsExcludedWarning,
            stacklevel=2,
        )
        title = "Saved model on labelled data (training window unknown: may be in-sample)"
    else:
        after = (rows["as_of"] > trained_to).to_numpy()
        if not after.any():
            raise ConfigError(
                f"evaluate: none of the {len(rows):,} labelled rows is after the model's training "
                f"window (its last training cut-off is {trained_to}; the labelled rows here end "
                f"{rows['as_of'].max()}). Fix: evaluate on data collected since, or pass "
                "in_sample=True (CLI: --in-sample) for in-sample figures, labelled as such."
            )
        parts.append(
            _part(
                "left out: in the model's training window",
                rows.loc[~after],
                f"as_of at or before its last training cut-off {trained_to:%Y-%m-%d %H:%M}",
            )
        )
        rows = rows.loc[after].reset_index(drop=True)
    parts.insert(0, _part("evaluated", rows, "IN-SAMPLE" if in_sample else "out of sample"))
    parts += lr.left_out
    y = rows["label"].to_numpy(dtype=int)
    feats, rules_x = model.features(data, cutoffs=rows[["lead_id", "as_of"]])
    report = _report(
        model,
        feats,
        rules_x,
        y,
        rows,
        reference=None,
        n_boot=n_boot,
        seed=seed,
        title=title,
    )
    report.info.update(
        {
            "window": f"{rows['as_of'].min():%Y-%m-%d} .. {rows['as_of'].max():%Y-%m-%d}",
            "horizon": cfg.horizon,
            "censored_rows_left_out": int(censored),
            "in_sample": bool(in_sample),
            "model_trained_to": None if trained_to is None else str(trained_to),
        }
    )
    report.data_summary = pd.DataFrame(parts)
    return report


def rules_model(
    leads: pd.DataFrame | LeadData,
    events: pd.DataFrame | None = None,
    conversions: pd.DataFrame | None = None,
    *,
    config: TrainConfig | Mapping[str, Any] | str | Path | None = None,
    cutoffs: pd.DataFrame | None = None,
    **options: Any,
) -> LeadScoringModel:
    """The rules scorecard as a model (``kind == "rules"``), for a cold start: too little data
    for a learned model, but applications need scores from day one.

    The scorecard's points are mapped to a probability on whatever labelled rows exist (two
    parameters; a reversed mapping is refused), the 0-100 score is the percentile among those
    rows, the reasons are the rules that fired. It needs at least one converted and one
    not-converted labelled lead; below that a :class:`NotEnoughDataError` names the counts.
    """
    from leadml.rules import PointsScorecard

    cfg = _resolve_config(config, options)
    data = (
        leads
        if isinstance(leads, LeadData)
        else validate_lead_data(leads, events, conversions, unknown_leads=cfg.unknown_leads)
    )
    lr = labelled_rows(data, cfg, cutoffs, caller="rules_model")
    rows = lr.rows
    y = rows["label"].to_numpy(dtype=np.int64)
    if len(rows) == 0 or y.min() == y.max():
        raise NotEnoughDataError(
            f"rules_model: the {len(rows):,} labelled rows hold {int(y.sum())} conversions and "
            f"{int((y == 0).sum())} non-conversions; even the scorecard's points-to-probability "
            "mapping needs one of each. Fix: wait for the first conversions (and non-conversions "
            "past the horizon), or score with the points alone (leadml rules)."
        )
    rules = load_rules(cfg.rules if cfg.rules is not None else DEFAULT_RULES)
    rules_x = scorecard_inputs(rules, data, rows[["lead_id", "as_of"]])
    sc = PointsScorecard(rules=rules).fit(rules_x, y)
    end = lr.end
    spec = _fit_spec(None, cfg, data, end)
    p = sc.predict_proba(rules_x)[:, 1]
    model = LeadScoringModel(
        spec=spec,
        booster=None,
        calibrator=None,
        scale=ScoreScale.fit(p, cfg.bands),
        scorecard=sc,
    )
    model.metadata.update(
        {
            "mode": "events" if spec.behaviour else "flat",
            "horizon": str(cfg.horizon_td),
            "horizon_days": cfg.horizon_td / pd.Timedelta(days=1),
            "schedule": cfg.every,
            "observed_until": str(end),
            "trained_at": str(pd.Timestamp.now(tz="UTC").floor("s")),
            "versions": library_versions(),
            "config": cfg.to_dict(),
            "production": {
                "rows": len(rows),
                "conversions": int(y.sum()),
                "train_window": [str(rows["as_of"].min()), str(rows["as_of"].max())],
            },
            "note": "the rules scorecard as the model (cold start: too little data to learn)",
        }
    )
    return model


# ---------------------------------------------------------------------------------- flat mode
def train_flat(
    table: pd.DataFrame,
    *,
    label: str,
    id_column: str | None = None,
    time_column: str | None = None,
    positive: Any = None,
    exclude: Sequence[str] = (),
    na_values: Sequence[str] = (),
    split: str = "time",
    config: TrainConfig | Mapping[str, Any] | str | Path | None = None,
    **options: Any,
) -> TrainResult:
    """Flat mode: one row per lead with a label column (a CRM export), same procedure.

    ``split`` orders the rows for the backtest and the calibration block: ``"time"`` (by
    ``time_column``), ``"order"`` (row order is time order, e.g. bank marketing) or ``"random"``
    (only when the table has no time at all: a seeded random order). The backtest tests on the
    latest ``backtest.test_share`` of the rows; the production fit uses all of them. ``exclude``
    lists columns that must not be features (identifiers, and above all columns filled in after
    contact: leakage). Without ``rules``, the scorecard has no points (every lead gets the same
    grade). ``na_values`` are text values that mean "not answered" (e.g. ``"Select"``).
    """
    cfg = _resolve_config(config, options)
    if cfg.segment is not None:
        check_segment_column(cfg.segment, table, table="table")
    if na_values:
        table = table.mask(table.isin(list(na_values)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RowsExcludedWarning)
        ts = build_flat_training_set(
            table,
            label=label,
            id_column=id_column,
            time_column=time_column,
            positive=positive,
            exclude=exclude,
        )
    n = len(ts)
    if split == "time":
        if time_column is None:
            raise ConfigError(
                "train_flat: split='time' needs time_column=; use split='order' or 'random'."
            )
        if ts["as_of"].isna().any():
            bad = ts["as_of"].isna().to_numpy()
            raise DataContractError(
                f"table.{time_column}: {int(bad.sum())} row(s) have no time (lead ids "
                f"{examples(ts.loc[bad, 'lead_id'].tolist())}); an out-of-time backtest needs a "
                "time for every row. Fix: fill or drop them, or use split='order'."
            )
        t = ts["as_of"].astype("datetime64[us, UTC]").astype("int64").to_numpy()
    elif split == "order":
        t = np.arange(n, dtype=np.int64)
    elif split == "random":
        t = np.random.default_rng(cfg.seed).permutation(n).astype(np.int64)
    else:
        raise ConfigError(f"train_flat: split must be 'time', 'order' or 'random', got {split!r}.")
    # the time column orders the rows; it is never a feature (as build_flat_training_set)
    prof = table.reset_index(drop=True).drop(
        columns=[c for c in [label, time_column, *exclude] if c is not None and c in table.columns]
    )
    prof = (
        prof.rename(columns={id_column: "lead_id"})
        if id_column
        else prof.assign(lead_id=np.arange(len(prof)))
    )
    epoch = FLAT_TIME
    rows = ts[["lead_id", "as_of", "label"]].copy()
    rows["label"] = rows["label"].astype("int8")
    check_min_data(rows, cfg, caller="train_flat")
    rules = load_rules(cfg.rules) if cfg.rules is not None else ScorecardConfig(name="no rules")
    data = validate_lead_data(prof.assign(created_at=epoch), None, None)
    rules_x = scorecard_inputs(rules, data, ts[["lead_id", "as_of"]].assign(as_of=epoch))
    y = rows["label"].to_numpy(dtype=np.int64)
    fold = plan_backtest(
        t,
        y,
        gap=0,
        origins=1,
        test_share=cfg.backtest.test_share,
        min_test_conversions=cfg.backtest.min_test_conversions,
    )[0]
    fmt: Callable[[int], str] = (lambda v: f"row {v}") if split != "time" else _fmt_us
    short = _short_test_notes([fold], y, cfg, fmt)

    def fit_on(mask: np.ndarray) -> tuple[FeatureSpec, pd.DataFrame, Fitted]:
        spec = cfg.features.spec(exclude=[], behaviour=False).fit(
            prof.loc[mask].assign(created_at=epoch)
        )
        X = spec.profile_frame(prof, prof["lead_id"])
        fitted = fit_procedure(
            X.loc[mask].reset_index(drop=True),
            rules_x.loc[mask].reset_index(drop=True),
            y[mask],
            t[mask],
            spec=spec,
            rules=rules,
            config=cfg,
            gap=0,
            fmt=fmt,
        )
        return spec, X, fitted

    spec_t, X_t, fitted_t = fit_on(fold.train)
    model_t = _bundle(spec_t, fitted_t)
    te = fold.test
    feats_t = pd.concat([rows[["lead_id", "as_of"]], X_t], axis=1)
    report = _report(
        model_t,
        feats_t.loc[te].reset_index(drop=True),
        rules_x.loc[te].reset_index(drop=True),
        y[te],
        rows.loc[te].reset_index(drop=True),
        reference=None,
        n_boot=cfg.n_boot,
        seed=cfg.seed,
        title=f"Flat mode ({split} order): rules vs logistic regression vs LightGBM, latest rows",
    )
    spec_p, X_p, fitted_p = fit_on(np.ones(n, dtype=bool))
    model = _bundle(spec_p, fitted_p)
    choice = None
    if cfg.segment is not None:
        frame = pd.DataFrame(
            {"lead_id": prof["lead_id"].to_numpy(), cfg.segment: table[cfg.segment].to_numpy()}
        )

        def fit_segment(spec_s: FeatureSpec, X: pd.DataFrame, mask: np.ndarray) -> LeadScoringModel:
            fitted = fit_procedure(
                X.loc[mask].reset_index(drop=True),
                rules_x.loc[mask].reset_index(drop=True),
                y[mask],
                t[mask],
                spec=spec_s,
                rules=rules,
                config=cfg,
                gap=0,
                fmt=fmt,
            )
            return _bundle(spec_s, fitted)

        choice = choose_segments(
            segment_text(frame, cfg.segment, rows["lead_id"]),
            frame=frame,
            column=cfg.segment,
            lead_ids=rows["lead_id"],
            y=y,
            train=fold.train,
            test=te,
            features=X_t,
            global_model=model_t,
            fit_backtest=lambda mask, seg: fit_segment(spec_t, X_t, mask),
            fit_production=lambda seg: fit_segment(spec_p, X_p, seg),
            config=cfg.segments,
        )
        _attach_segments(model, report, choice)
    window = np.where(fold.train, "train", np.where(te, "test", "gap")).astype(object)
    notes = short + leakage_notes(X_p, y, rows["lead_id"].to_numpy(), spec_p)
    notes += [f"backtest: {x}" for x in fitted_t.notes] + [
        f"production fit: {x}" for x in fitted_p.notes
    ]
    notes += choice.notes if choice is not None else []
    summary = pd.DataFrame(
        [
            _part(
                "backtest: training rows", rows.loc[fold.train], f"the earlier rows ({split} order)"
            ),
            _part("backtest: test rows", rows.loc[te], f"the latest {cfg.backtest.test_share:.0%}"),
            _part("production fit: all labelled rows", rows, "what the saved model is fitted on"),
        ]
    )
    report.data_summary = summary
    model.metadata.update(
        {
            "mode": "flat",
            "label": label,
            "excluded_columns": list(exclude),
            "split": {"kind": split, "test_share": cfg.backtest.test_share},
            "rows": {"train": int(fold.train.sum()), "test": int(te.sum()), "all": n},
            "production": {"rows": n, "blocks": fitted_p.blocks},
            "lightgbm": _lgbm_meta(fitted_p.fit_info),
            "test_metrics": report.metrics.to_dict(orient="index"),
            "seed": cfg.seed,
            "config": cfg.to_dict(),
            "inputs_hash": _inputs_hash(table),
            "trained_at": str(pd.Timestamp.now(tz="UTC").floor("s")),
            "versions": library_versions(),
            "notes": list(notes),
        }
    )
    report.notes = list(notes)
    training_set = pd.concat([rows, X_p], axis=1)
    training_set["window"] = window
    training_set["order"] = t  # the order the backtest and the calibration block follow
    return TrainResult(
        model=model,
        report=report,
        training_set=training_set,
        split_summary=summary,
        backtest=pd.DataFrame(),
        fit_info=fitted_p.fit_info,
        backtest_model=model_t,
        config=cfg,
        notes=notes,
        segments=choice,
    )
