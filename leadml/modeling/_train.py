"""The training job: training set -> out-of-time split -> rules, logistic regression, LightGBM
-> calibration -> comparison on the test window -> a LeadScoringModel."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadml.evaluation._report import ComparisonReport, compare_models
from leadml.evaluation._split import (
    DEFAULT_FRACTIONS,
    DEFAULT_WINDOWS,
    LeadPolicy,
    TimeSplit,
    order_split,
    time_split,
)
from leadml.exceptions import ConfigError, DataContractError, RowsExcludedWarning
from leadml.features._builder import _features, label_rows, training_cutoffs
from leadml.features._flat import build_flat_training_set
from leadml.features._spec import FeatureSpec
from leadml.features._time import parse_duration
from leadml.modeling._bundle import LeadScoringModel, library_versions
from leadml.modeling._calibration import Method, ScoreScale, fit_calibrator
from leadml.modeling._lgbm import FitInfo, train_booster
from leadml.modeling._linear import LogisticBaseline
from leadml.rules._config import ScorecardConfig
from leadml.rules._inputs import scorecard_inputs
from leadml.rules._scorecard import PointsScorecard, load_rules
from leadml.schema._contract import LeadData, UnknownLeads, validate_lead_data

__all__ = ["DEFAULT_BANDS", "TrainResult", "evaluate_model", "train", "train_flat"]

DEFAULT_BANDS: dict[str, float | None] = {"hot": 80, "warm": 50, "cold": None}
DEFAULT_RULES = Path(__file__).resolve().parent.parent / "rules" / "default.yaml"
MODEL_NAMES = ("rules", "logistic", "lightgbm")


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes
    ----------
    model : LeadScoringModel
        The model to save and deploy (exactly the one evaluated on the test window).
    report : ComparisonReport
        Rules vs logistic regression vs LightGBM on the test window (same rows).
    training_set : DataFrame
        Every uncensored row with its features, ``label`` and ``window`` (None: dropped).
    split : TimeSplit
    fit_info : FitInfo
        LightGBM parameters, best iteration, search results.
    split_summary : DataFrame
        Rows, leads and conversions per window.
    """

    model: LeadScoringModel
    report: ComparisonReport
    training_set: pd.DataFrame
    split: TimeSplit
    fit_info: FitInfo
    split_summary: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _fit_models(
    feats: pd.DataFrame,
    rules_x: pd.DataFrame,
    y: np.ndarray,
    split: TimeSplit,
    *,
    spec: FeatureSpec,
    rules: ScorecardConfig,
    params: Mapping[str, Any] | None,
    search: bool,
    calibration: Method,
    bands: dict[str, float | None],
    seed: int,
) -> tuple[LeadScoringModel, FitInfo]:
    tr, va, ca = split.mask("train"), split.mask("valid"), split.mask("calib")
    X = feats[spec.feature_names_]
    booster, info = train_booster(
        X.loc[tr],
        y[tr],
        X.loc[va],
        y[va],
        categorical=spec.categorical_features_,
        params=params,
        seed=seed,
        search=search,
    )
    margin_cal = np.asarray(booster.predict(X.loc[ca], raw_score=True, validate_features=True))
    calibrator = fit_calibrator(margin_cal, y[ca], method=calibration)
    scale = ScoreScale.fit(calibrator.transform(margin_cal), bands)
    linear = LogisticBaseline().fit(X.loc[tr], y[tr], spec)
    lin_cal = fit_calibrator(linear.decision_function(X.loc[ca]), y[ca], method="sigmoid")
    scorecard = PointsScorecard(rules=rules).fit(
        rules_x.loc[ca].drop(columns=["lead_id", "as_of"]), y[ca]
    )
    model = LeadScoringModel(
        spec=spec,
        booster=booster,
        calibrator=calibrator,
        scale=scale,
        scorecard=scorecard,
        linear=linear,
        linear_calibrator=lin_cal,
    )
    return model, info


def _predict_all(
    model: LeadScoringModel, feats: pd.DataFrame, rules_x: pd.DataFrame
) -> dict[str, np.ndarray]:
    out = {"rules": model.scorecard.predict_proba(rules_x.drop(columns=["lead_id", "as_of"]))[:, 1]}
    if model.linear is not None:
        out["logistic"] = model.predict_linear(feats)
    out["lightgbm"] = model.predict_proba(feats)
    return out


def _bands_for(
    model: LeadScoringModel, preds: dict[str, np.ndarray], rules_x: pd.DataFrame
) -> dict[str, np.ndarray]:
    """Band per row for each model: the scorecard's own bands (points); for the learned models,
    the same percentile bands as the deployed score."""
    out = {
        "rules": model.scorecard.grades(rules_x.drop(columns=["lead_id", "as_of"]))[
            "band"
        ].to_numpy()
    }
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


def _window_dates(frame: pd.DataFrame, split: TimeSplit) -> dict[str, list[str]]:
    out = {}
    for w in split.windows:
        t = frame.loc[split.mask(w), "as_of"]
        out[w] = [str(t.min()), str(t.max())] if len(t) and t.notna().any() else []
    return out


def train(
    leads: pd.DataFrame | LeadData,
    events: pd.DataFrame | None = None,
    conversions: pd.DataFrame | None = None,
    *,
    horizon: str | int | pd.Timedelta = "30d",
    every: str | int | pd.Timedelta | None = None,
    cutoffs: pd.DataFrame | None = None,
    rules: ScorecardConfig | dict[str, Any] | str | Path | None = None,
    start: str | pd.Timestamp | None = None,
    max_age: str | int | pd.Timedelta | None = None,
    observed_until: str | pd.Timestamp | None = None,
    spec: FeatureSpec | None = None,
    windows: Sequence[str] = DEFAULT_WINDOWS,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    boundaries: Sequence[str | pd.Timestamp] | None = None,
    gap: str | int | pd.Timedelta | None = None,
    lead_policy: LeadPolicy = "hash",
    lead_shares: Sequence[float] | None = None,
    params: Mapping[str, Any] | None = None,
    search: bool = False,
    calibration: Method = "sigmoid",
    bands: dict[str, float | None] | None = None,
    seed: int = 0,
    n_boot: int = 200,
    unknown_leads: UnknownLeads = "error",
    reference: pd.DataFrame | None = None,
) -> TrainResult:
    """Train and compare the rules baseline, logistic regression and LightGBM, out of time.

    Steps: cut-offs (``every`` schedule or explicit ``cutoffs``) and labels within ``horizon``;
    censored rows are left out; the rows are split into ``train / valid / calib / test``
    windows in time order (:func:`leadml.evaluation.time_split`, gap = horizon by default,
    no lead on two sides); the feature spec is fitted on data known before the validation
    window; LightGBM trains on ``train`` with early stopping on ``valid``; every model's
    probabilities are calibrated on ``calib`` (the scorecard's points-to-probability mapping
    too); all three are compared on ``test``.

    ``reference`` (optional, ``lead_id, as_of, p``) adds a reference model to the comparison,
    e.g. the true probabilities of a synthetic CRM.
    """
    h = parse_duration(horizon, name="horizon")
    data = (
        leads
        if isinstance(leads, LeadData)
        else validate_lead_data(leads, events, conversions, unknown_leads=unknown_leads)
    )
    cut, end = training_cutoffs(
        data,
        cutoffs=cutoffs,
        every=every,
        start=start,
        max_age=max_age,
        observed_until=observed_until,
        caller="train",
    )
    lab = label_rows(cut, data.conversions, horizon=h, observed_until=end)
    keep = ~lab["censored"].to_numpy()
    notes = []
    if (~keep).any():
        notes.append(
            f"{int((~keep).sum()):,} of {len(cut):,} cut-off rows are censored (as_of + horizon after "
            f"{end}) and are not used to train or evaluate."
        )
    rows = cut.loc[keep].reset_index(drop=True)
    rows["label"] = lab.loc[keep, "label"].to_numpy(dtype="int8")
    if len(rows) == 0:
        raise DataContractError(
            "train: no labelled (uncensored) rows. Fix: use more history or a shorter horizon."
        )
    split = time_split(
        rows,
        windows=windows,
        fractions=None if boundaries is not None else fractions,
        boundaries=boundaries,
        gap=h if gap is None else gap,
        gap_before=("test",),
        lead_policy=lead_policy,
        lead_shares=lead_shares,
        seed=seed,
    )
    for w in ("train", "valid", "calib", "test"):
        if w not in split.windows:
            raise ConfigError(
                f"train: windows must include 'train', 'valid', 'calib' and 'test'; got {list(split.windows)}."
            )
    summary = split.summary(rows)
    dropped = int(pd.isna(split.window).sum())
    if dropped:
        notes.append(
            f"{dropped:,} rows are in no window: {int((split.reason == 'gap').sum()):,} in the gap before "
            f"a boundary, {int((split.reason == 'lead in another window').sum()):,} of leads assigned to "
            f"another window (lead_policy={split.lead_policy!r})."
        )
    # learn vocabularies and levels from what was known before the validation window
    first = split.boundaries[0]
    spec = spec if spec is not None else FeatureSpec()
    if not spec.fitted_:
        spec.fit(
            data.leads.loc[data.leads["created_at"] < first],
            data.events.loc[data.events["timestamp"] < first],
        )
    used = ~pd.isna(split.window)
    rows_used = rows.loc[used].reset_index(drop=True)
    sub = TimeSplit(
        split.windows,
        split.boundaries,
        split.window[used],
        split.reason[used],
        split.gap,
        split.lead_policy,
    )
    feats = _features(spec, data, rows_used[["lead_id", "as_of"]], engine="duckdb")
    config = load_rules(rules if rules is not None else DEFAULT_RULES)
    rules_x = scorecard_inputs(config, data, rows_used[["lead_id", "as_of"]])
    y = rows_used["label"].to_numpy(dtype=int)
    model, info = _fit_models(
        feats,
        rules_x,
        y,
        sub,
        spec=spec,
        rules=config,
        params=params,
        search=search,
        calibration=calibration,
        bands=dict(bands or DEFAULT_BANDS),
        seed=seed,
    )
    ca = sub.mask("calib")
    model.metadata["logistic_scale"] = ScoreScale.fit(
        model.predict_linear(feats.loc[ca]), model.scale.bands
    ).to_dict()
    te = sub.mask("test")
    report = _report(
        model,
        feats.loc[te],
        rules_x.loc[te],
        y[te],
        rows_used.loc[te],
        reference,
        n_boot,
        seed,
        title="Rules vs logistic regression vs LightGBM (test window)",
    )
    model.metadata.update(
        {
            "mode": "events",
            "horizon": str(h),
            "horizon_days": h / pd.Timedelta(days=1),
            "schedule": None if every is None else str(parse_duration(every, name="every")),
            "observed_until": str(end),
            "windows": _window_dates(rows, split),
            "split": {
                "fractions": list(fractions) if boundaries is None else None,
                "boundaries": [str(b) for b in split.boundaries],
                "gap": str(split.gap),
                "lead_policy": split.lead_policy,
            },
            "rows": {str(r["window"]): int(r["rows"]) for r in summary.to_dict("records")},
            "positives": {
                str(r["window"]): int(r["positives"]) for r in summary.to_dict("records")
            },
            "lightgbm": {
                "params": info.params,
                "best_iteration": info.best_iteration,
                "valid_log_loss": info.valid_log_loss,
                "search": info.search,
            },
            "calibration": model.calibrator.method,
            "test_metrics": report.metrics.to_dict(orient="index"),
            "seed": seed,
            "inputs_hash": _inputs_hash(data.leads, data.events, data.conversions),
            "trained_at": str(pd.Timestamp.now(tz="UTC").floor("s")),
            "versions": library_versions(),
            "scorecard": config.name,
        }
    )
    report.info.update(
        {
            "window": f"{model.metadata['windows']['test'][0][:10]} .. {model.metadata['windows']['test'][1][:10]}",
            "horizon": str(h),
        }
    )
    training_set = pd.concat(
        [rows_used[["lead_id", "as_of", "label"]], feats.drop(columns=["lead_id", "as_of"])], axis=1
    )
    training_set["window"] = sub.window
    return TrainResult(model, report, training_set, split, info, summary, notes)


def _report(
    model: LeadScoringModel,
    feats: pd.DataFrame,
    rules_x: pd.DataFrame,
    y: np.ndarray,
    rows: pd.DataFrame,
    reference: pd.DataFrame | None,
    n_boot: int,
    seed: int,
    title: str,
    explain: bool = True,
) -> ComparisonReport:
    preds = _predict_all(model, feats, rules_x)
    bands = _bands_for(model, preds, rules_x)
    grades = model.scorecard.grades(rules_x.drop(columns=["lead_id", "as_of"]))["grade"].to_numpy()
    if reference is not None:
        ref = rows[["lead_id", "as_of"]].merge(reference, on=["lead_id", "as_of"], how="left")
        if ref["p"].isna().any():
            raise DataContractError(
                f"reference: {int(ref['p'].isna().sum())} evaluated rows have no reference "
                "probability. Fix: pass lead_id, as_of, p for every cut-off."
            )
        preds["reference"] = ref["p"].to_numpy(dtype=float)
    report = compare_models(
        y,
        preds,
        bands=bands,
        grades=grades,
        groups=rows["lead_id"].to_numpy(),
        n_boot=n_boot,
        seed=seed,
        info={"title": title},
    )
    if explain and len(feats):
        ex = model.explainer
        report.drivers = ex.global_drivers(feats)
        top = int(np.argmax(model.predict_proba(feats.iloc[:5000])))
        report.explain_figures = ex.plots(feats, lead=top)
    return report


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
    n_boot: int = 200,
    seed: int = 0,
    unknown_leads: UnknownLeads = "error",
) -> ComparisonReport:
    """Evaluate a saved model (and its rules and logistic references) on labelled data.

    Labels use the model's horizon; censored rows are left out (and counted in the report).
    """
    if model.is_flat:
        raise ConfigError(
            "evaluate_model is for event models; for a flat model use train_flat's report."
        )
    h = pd.Timedelta(model.metadata.get("horizon", "30 days"))
    data = (
        leads
        if isinstance(leads, LeadData)
        else validate_lead_data(leads, events, conversions, unknown_leads=unknown_leads)
    )
    cut, end = training_cutoffs(
        data,
        cutoffs=cutoffs,
        every=every,
        start=start,
        max_age=max_age,
        observed_until=observed_until,
        caller="evaluate",
    )
    lab = label_rows(cut, data.conversions, horizon=h, observed_until=end)
    keep = ~lab["censored"].to_numpy()
    rows = cut.loc[keep].reset_index(drop=True)
    if len(rows) == 0:
        raise DataContractError("evaluate: no labelled (uncensored) rows in the given period.")
    y = lab.loc[keep, "label"].to_numpy(dtype=int)
    feats, rules_x = model.features(data, cutoffs=rows[["lead_id", "as_of"]])
    report = _report(
        model, feats, rules_x, y, rows, None, n_boot, seed, title="Saved model on labelled data"
    )
    report.info.update(
        {
            "window": f"{rows['as_of'].min():%Y-%m-%d} .. {rows['as_of'].max():%Y-%m-%d}",
            "horizon": str(h),
            "censored_rows_left_out": int((~keep).sum()),
        }
    )
    return report


def train_flat(
    table: pd.DataFrame,
    *,
    label: str,
    id_column: str | None = None,
    time_column: str | None = None,
    positive: Any = None,
    exclude: Sequence[str] = (),
    na_values: Sequence[str] = (),
    rules: ScorecardConfig | dict[str, Any] | str | Path | None = None,
    split: str = "time",
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    params: Mapping[str, Any] | None = None,
    search: bool = False,
    calibration: Method = "sigmoid",
    bands: dict[str, float | None] | None = None,
    seed: int = 0,
    n_boot: int = 200,
) -> TrainResult:
    """Flat mode: one row per lead with a label column (a CRM export).

    ``split``: ``"time"`` (by ``time_column``, out of time), ``"order"`` (row order is time
    order, e.g. bank marketing) or ``"random"`` (only when the table has no time at all).
    ``exclude`` lists columns that must not be features (identifiers, and above all columns
    filled in after contact: leakage). Without ``rules``, the scorecard has no points (every
    lead gets the same grade) and the rules baseline predicts the base rate. ``na_values``
    are text values that mean "not answered" (e.g. ``"Select"``) and become missing.
    """
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
    prof = table.reset_index(drop=True).drop(
        columns=[c for c in [label, *exclude] if c in table.columns]
    )
    prof = (
        prof.rename(columns={id_column: "lead_id"})
        if id_column
        else prof.assign(lead_id=np.arange(len(prof)))
    )
    if split == "time":
        if time_column is None:
            raise ConfigError(
                "train_flat: split='time' needs time_column=; use split='order' or 'random'."
            )
        sp = time_split(ts, fractions=fractions, lead_policy="none")
    elif split in ("order", "random"):
        sp = order_split(len(ts), fractions=fractions, shuffle=split == "random", seed=seed)
    else:
        raise ConfigError(f"train_flat: split must be 'time', 'order' or 'random', got {split!r}.")
    # refit the spec on the training window only (levels from training rows)
    spec = FeatureSpec(behaviour=False)
    spec.fit(prof.loc[sp.mask("train")].assign(created_at=pd.Timestamp(0, tz="UTC")))
    feats = pd.concat([ts[["lead_id", "as_of"]], spec.profile_frame(prof, prof["lead_id"])], axis=1)
    config = load_rules(rules) if rules is not None else ScorecardConfig(name="no rules")
    data = validate_lead_data(prof.assign(created_at=pd.Timestamp(0, tz="UTC")), None, None)
    rules_x = scorecard_inputs(
        config, data, ts[["lead_id", "as_of"]].assign(as_of=pd.Timestamp(0, tz="UTC"))
    )
    rules_x["as_of"] = ts["as_of"].to_numpy()
    y = ts["label"].to_numpy(dtype=int)
    model, info = _fit_models(
        feats,
        rules_x,
        y,
        sp,
        spec=spec,
        rules=config,
        params=params,
        search=search,
        calibration=calibration,
        bands=dict(bands or DEFAULT_BANDS),
        seed=seed,
    )
    ca, te = sp.mask("calib"), sp.mask("test")
    model.metadata["logistic_scale"] = ScoreScale.fit(
        model.predict_linear(feats.loc[ca]), model.scale.bands
    ).to_dict()
    report = _report(
        model,
        feats.loc[te],
        rules_x.loc[te],
        y[te],
        ts.loc[te],
        None,
        n_boot,
        seed,
        title=f"Flat mode ({split} split): rules vs logistic regression vs LightGBM",
    )
    summary = sp.summary(ts)
    model.metadata.update(
        {
            "mode": "flat",
            "label": label,
            "excluded_columns": list(exclude),
            "split": {"kind": split, "fractions": list(fractions)},
            "rows": {str(r["window"]): int(r["rows"]) for r in summary.to_dict("records")},
            "lightgbm": {
                "params": info.params,
                "best_iteration": info.best_iteration,
                "valid_log_loss": info.valid_log_loss,
                "search": info.search,
            },
            "test_metrics": report.metrics.to_dict(orient="index"),
            "seed": seed,
            "inputs_hash": _inputs_hash(table),
            "trained_at": str(pd.Timestamp.now(tz="UTC").floor("s")),
            "versions": library_versions(),
        }
    )
    training_set = pd.concat(
        [ts[["lead_id", "as_of", "label"]], feats.drop(columns=["lead_id", "as_of"])], axis=1
    )
    training_set["window"] = sp.window
    return TrainResult(model, report, training_set, sp, info, summary, [])
