"""``leadml monitor``: do the probabilities still mean what they say?

Past scores (as the score command writes them: ``lead_id, as_of, p_convert, score, band,
model_name, model_version``) are joined to the conversions once each score's label window has
closed, and judged per cohort (the week, or the configured period, of ``as_of``): observed vs
predicted per band and per decile, ECE, calibration slope and intercept, observed/expected, AUC
and conversions captured at the sales capacity, each with a bootstrap interval over leads.

Before the labels arrive: the drift of the score distribution (population stability index of the
0-100 score, which is the percentile among the training-time leads, so it is uniform when nothing
moved) and of the model's top features against the training window, and the performance to
expect if the calibrated probabilities are right (confidence-based estimation, as NannyML's CBPE
does: an *estimate*, marked as such).
"""

from __future__ import annotations

import glob
import html
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadml import _progress
from leadml.evaluation import bootstrap_metrics, calibration_bins, figure_png
from leadml.evaluation import cohort_start as _cohort_start
from leadml.evaluation import outcome_labels as _labels
from leadml.exceptions import ConfigError, DataContractError
from leadml.features import parse_duration
from leadml.jobs._config import MonitorConfig, load_job_config
from leadml.jobs._gate import captured_at_capacity, week_of
from leadml.jobs._shared import data_end, tracking_uri_for

__all__ = [
    "EXIT_ALERT",
    "MonitorResult",
    "expected_auc",
    "monitor",
    "psi",
    "read_scores",
    "score_trends",
]

EXIT_ALERT = 5
"""``leadml monitor`` exit code when a configured alert fires (0: none fired)."""

COHORT_METRICS = ["auc", "ece", "cal_slope", "cal_intercept", "citl"]


@dataclass
class MonitorResult:
    """The monitor's tables and what it concluded."""

    cohorts: pd.DataFrame
    bands: pd.DataFrame
    deciles: pd.DataFrame
    drift: pd.DataFrame
    trends: pd.DataFrame
    alerts: pd.DataFrame
    suggestion: str
    out: Path | None = None
    run_id: str | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return EXIT_ALERT if len(self.alerts) else 0


# ------------------------------------------------------------------------------ measures
def psi(expected: np.ndarray, actual: np.ndarray, *, eps: float = 1e-4) -> float:
    """Population stability index between two bin-share vectors (same bins)."""
    e = np.clip(np.asarray(expected, float), eps, None)
    a = np.clip(np.asarray(actual, float), eps, None)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    v = np.asarray(values, float)
    miss = np.isnan(v)
    idx = np.searchsorted(edges, v[~miss], side="right")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype(float)
    return np.append(counts, miss.sum()) / max(len(v), 1)


def _dist(col: pd.Series, how: str, bins: Any) -> np.ndarray:
    """Shares of a feature column in fixed bins: numeric edges (plus missing), or the reference's
    levels (plus other, plus missing)."""
    if how == "edges":
        return _shares(pd.to_numeric(col, errors="coerce").to_numpy(float), bins)
    v = col.astype(object)
    miss = v.isna()
    counts = [float((v == lv).sum()) for lv in bins]
    other = float((~miss).sum() - sum(counts))
    return np.array([*counts, other, float(miss.sum())]) / max(len(v), 1)


def expected_auc(p: np.ndarray) -> float:
    """The AUC to expect if ``p`` are the true probabilities (ranking by ``p`` itself; ties count
    half): sum over pairs of P(i converts, j does not) for p_i > p_j, over all such pairs."""
    p = np.asarray(p, float)
    if len(p) < 2:
        return float("nan")
    order = np.argsort(p, kind="stable")
    ps = p[order]
    _, start, counts = np.unique(ps, return_index=True, return_counts=True)
    pos = np.add.reduceat(ps, start)  # expected converters per distinct value
    neg = counts - pos
    below_neg = np.concatenate([[0.0], np.cumsum(neg)[:-1]])
    num = float(
        np.sum(pos * below_neg) + 0.5 * np.sum(pos * neg - np.add.reduceat(ps * (1 - ps), start))
    )
    den = float(p.sum() * (1 - p).sum() - np.sum(p * (1 - p)))
    return num / den if den > 0 else float("nan")


def score_trends(
    scores: pd.DataFrame, *, days: int, until: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Per lead with at least two scores in the last ``days`` days (to ``until``): the first and
    last score in that span, the change, and ``rising`` (+5 points or more), ``falling`` (-5 or
    less) or ``steady``."""
    s = scores[["lead_id", "as_of", "score", "p_convert"]].dropna(subset=["score"])
    until = s["as_of"].max() if until is None else until
    s = s[s["as_of"] > until - pd.Timedelta(days=days)].sort_values(
        ["lead_id", "as_of"], kind="stable"
    )
    g = s.groupby("lead_id", sort=False)
    out = pd.DataFrame(
        {
            "scores": g.size(),
            "first_as_of": g["as_of"].first(),
            "last_as_of": g["as_of"].last(),
            "first_score": g["score"].first(),
            "last_score": g["score"].last(),
            "p_change": g["p_convert"].last() - g["p_convert"].first(),
        }
    )
    out = out[out["scores"] >= 2].copy()
    out["score_change"] = out["last_score"] - out["first_score"]
    out["trend"] = np.where(
        out["score_change"] >= 5, "rising", np.where(out["score_change"] <= -5, "falling", "steady")
    )
    return out.reset_index()


# ------------------------------------------------------------------------------- inputs
def read_scores(source: str | Path, base: Path | None = None) -> pd.DataFrame:
    """Read past score files (a file, a folder of parts, or a glob), checked."""
    from leadml.schema import parse_times, read_table

    base = base or Path.cwd()
    text = str(source)
    if any(ch in text for ch in "*?["):
        pattern = text if Path(text).is_absolute() else str(base / text)
        files = sorted(glob.glob(pattern))
        if not files:
            raise DataContractError(
                f"scores: no file matches {pattern}. Fix: check scores: in the monitor config."
            )
        df = pd.concat([read_table(f, table="scores") for f in files], ignore_index=True)
    else:
        path = Path(text) if Path(text).is_absolute() else base / text
        if not path.exists():
            raise DataContractError(
                f"scores: not found: {path}. Fix: point scores: at the files leadml score wrote."
            )
        if path.is_dir():
            files = [str(f) for f in sorted([*path.glob("*.parquet"), *path.glob("*.csv")])]
            if not files:
                raise DataContractError(f"scores: {path} holds no .csv or .parquet score files.")
            df = pd.concat([read_table(f, table="scores") for f in files], ignore_index=True)
        else:
            df = read_table(path, table="scores")
    missing = [c for c in ("lead_id", "as_of", "p_convert") if c not in df.columns]
    if missing:
        raise DataContractError(
            f"scores: column(s) {missing} missing; received {list(df.columns)}. Fix: monitor the "
            "files leadml score writes (lead_id, as_of, p_convert, score, ...)."
        )
    df["lead_id"] = df["lead_id"].astype(str)
    df["as_of"] = parse_times(df["as_of"], table="scores", column="as_of", ids=df["lead_id"])
    if df["as_of"].isna().all():
        raise DataContractError(
            "scores: no row has an as_of time (scores of a flat-mode model, one row per lead, have "
            "none), so they cannot be grouped into cohorts or matched to outcome windows. Fix: "
            "monitor an event model's scores, or add the time each lead was scored as as_of."
        )
    return df


# --------------------------------------------------------------------------------- the job
def monitor(config: str | Path | dict[str, Any] | MonitorConfig) -> MonitorResult:
    """Run the monitor (see the module docstring and :class:`MonitorConfig`); write the tables,
    plots and an HTML page to ``out``; log them to MLflow; :attr:`MonitorResult.exit_code` is
    :data:`EXIT_ALERT` when an alert fired."""
    t0 = time.perf_counter()
    if isinstance(config, MonitorConfig):
        cfg, base = config, Path.cwd()
    else:
        cfg, base = load_job_config(MonitorConfig, config)
    period = parse_duration(cfg.cohort, name="cohort")
    _progress.stage("reading the scores and the outcomes")
    scores = read_scores(cfg.scores, base)
    tables = cfg.data.load(base, needed=("leads", "conversions"))
    model = _load_model(cfg, base, scores)
    horizon = pd.Timedelta(model.metadata.get("horizon", "30 days"))
    conversions = tables["conversions"].assign(lead_id=lambda d: d["lead_id"].astype(str))
    events = tables.get("events")
    known = set(tables["leads"]["lead_id"].astype(str))
    if not scores["lead_id"].isin(known).any():
        raise DataContractError(
            f"scores: none of the {len(scores):,} score rows' lead ids is in the leads table (e.g. "
            f"{scores['lead_id'].head(3).tolist()}; the leads table has e.g. "
            f"{sorted(known)[:3]}). Fix: point data.leads at the leads these scores are of."
        )
    until = data_end(tables)
    notes: list[str] = []
    if "status" in scores.columns:
        closed_leads = scores["status"].astype(str) != "open"
        if closed_leads.any():
            notes.append(
                f"{int(closed_leads.sum()):,} score rows of leads not open at as_of (lost or not "
                "yet created) left out"
            )
        scores = scores.loc[~closed_leads].reset_index(drop=True)
    in_leads = scores["lead_id"].isin(known)
    if not in_leads.all():
        notes.append(
            f"{int((~in_leads).sum()):,} score rows of leads not in the leads table left out"
        )
        scores = scores.loc[in_leads].reset_index(drop=True)
    missing_time = scores["as_of"].isna()
    if missing_time.any():
        notes.append(f"{int(missing_time.sum()):,} score rows without an as_of time left out")
        scores = scores.loc[~missing_time].reset_index(drop=True)
    rows = _labels(scores, conversions, horizon, until)
    before = rows["converted_before"]
    if before.any():
        notes.append(
            f"{int(before.sum()):,} score rows of leads already converted at as_of left out"
        )
    rows = rows.loc[~before].reset_index(drop=True)
    if rows.empty:
        raise DataContractError(
            "scores: no score row is left to judge (" + "; ".join(notes) + "). Fix: monitor the "
            "scores of open leads (what leadml score-job writes)."
        )
    rows["cohort"] = _cohort_start(rows["as_of"], period)
    _progress.stage(f"judging {rows['cohort'].nunique()} cohorts of {len(rows):,} scores")
    cohorts, bands, deciles = _labelled_cohorts(rows, cfg)
    drift = _drift(rows, model, tables, events, cfg, horizon)
    cohorts = (
        cohorts.merge(drift[["cohort", "psi_score"]], on="cohort", how="outer")
        if len(drift)
        else cohorts
    )
    cohorts = cohorts.sort_values("cohort").reset_index(drop=True)
    alerts = _alerts(cohorts, drift, cfg)
    suggestion = _suggestion(cohorts, model, cfg)
    trends = (
        score_trends(rows, days=cfg.trend_days)
        if "score" in rows.columns
        else pd.DataFrame(columns=["lead_id", "scores", "score_change", "trend"])
    )
    res = MonitorResult(cohorts, bands, deciles, drift, trends, alerts, suggestion, notes=notes)
    out = (Path(cfg.out) if Path(cfg.out).is_absolute() else base / cfg.out).resolve()
    res.out = _write(res, out, model, cfg)
    if cfg.log_mlflow:
        res.run_id = _log(res, cfg, base)
    res.seconds = time.perf_counter() - t0
    return res


def _load_model(cfg: MonitorConfig, base: Path, scores: pd.DataFrame) -> Any:
    from leadml.tracking import load_model

    ref = cfg.model
    if ref is None:
        if cfg.model_name is None:
            raise ConfigError(
                "monitor: name the model the scores came from: model: (a folder or "
                "models:/NAME/VERSION) or model_name: (its champion)."
            )
        versions = scores.get("model_version")
        v = None
        if versions is not None and versions.notna().any():
            v = str(versions.dropna().astype(str).mode().iloc[0])
        ref = (
            f"models:/{cfg.model_name}/{v}"
            if v and v.isdigit()
            else f"models:/{cfg.model_name}@champion"
        )
    elif not str(ref).startswith("models:/") and not Path(ref).is_absolute():
        ref = str(base / ref)
    return load_model(ref, tracking_uri=tracking_uri_for(cfg.tracking_uri, base))


def _labelled_cohorts(
    rows: pd.DataFrame, cfg: MonitorConfig
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    recs, band_rows, dec_rows = [], [], []
    for cohort, g in rows.groupby("cohort", sort=True):
        rec: dict[str, Any] = {
            "cohort": cohort,
            "rows": len(g),
            "labelled": int(g["closed"].sum()),
            "predicted_rate": float(g["p_convert"].mean()),
            "expected_auc": expected_auc(g["p_convert"].to_numpy()),
            "expected_conversions": float(g["p_convert"].sum()),
        }
        lab = g[g["closed"]]
        if len(lab) == len(g) and len(lab):
            y, p = lab["label"].to_numpy(), lab["p_convert"].to_numpy(float)
            rec.update({"conversions": int(y.sum()), "observed_rate": float(y.mean())})
            rec["observed_expected"] = float(y.sum() / max(p.sum(), 1e-12))
            # sales calls a lead once a week: its first score of the cohort counts (daily score
            # files would otherwise let one hot lead fill seven slots)
            once = lab.sort_values("as_of", kind="stable").drop_duplicates("lead_id")
            y1, p1 = once["label"].to_numpy(), once["p_convert"].to_numpy(float)
            rec["captured"] = captured_at_capacity(
                y1, p1, once["as_of"], capacity=cfg.capacity, share=cfg.capacity_share
            )
            rec["captured_low"], rec["captured_high"] = _captured_interval(
                y1, p1, once["as_of"], once["lead_id"], cfg
            )
            if 0 < y.sum() < len(y):
                boot = bootstrap_metrics(
                    y,
                    {"m": p},
                    groups=lab["lead_id"].to_numpy(),
                    n_boot=cfg.n_boot,
                    seed=cfg.seed,
                    metrics=COHORT_METRICS,
                )
                for m in boot.to_dict("records"):
                    rec[str(m["metric"])] = m["estimate"]
                    rec[f"{m['metric']}_low"] = m["low"]
                    rec[f"{m['metric']}_high"] = m["high"]
                # the ECE of a resample is biased upwards (noise adds to every bin's gap): the
                # basic bootstrap interval (2 x estimate - percentiles) corrects for that
                e = rec["ece"]
                rec["ece_low"], rec["ece_high"] = (
                    max(0.0, 2 * e - rec["ece_high"]),
                    max(0.0, 2 * e - rec["ece_low"]),
                )
                # observed / expected = 1 / citl
                rec["observed_expected_low"] = (
                    1 / rec["citl_high"] if rec.get("citl_high") else np.nan
                )
                rec["observed_expected_high"] = (
                    1 / rec["citl_low"] if rec.get("citl_low") else np.nan
                )
            if "band" in lab.columns:
                for band, b in lab.groupby("band", sort=False):
                    band_rows.append(
                        {
                            "cohort": cohort,
                            "band": band,
                            "rows": len(b),
                            "predicted": float(b["p_convert"].mean()),
                            "observed": float(b["label"].mean()),
                            **_wilson(int(b["label"].sum()), len(b)),
                        }
                    )
            cb = calibration_bins(y, p, n_bins=10)
            for d in cb.to_dict("records"):
                dec_rows.append(
                    {
                        "cohort": cohort,
                        "decile": int(d["bin"]) + 1,
                        "rows": int(d["n"]),
                        "predicted": float(d["p_mean"]),
                        "observed": float(d["y_rate"]),
                        **_wilson(round(d["y_rate"] * d["n"]), int(d["n"])),
                    }
                )
        elif len(lab):
            rec["note"] = f"{len(g) - len(lab):,} rows' label windows still open"
        recs.append(rec)
    return pd.DataFrame(recs), pd.DataFrame(band_rows), pd.DataFrame(dec_rows)


def _wilson(k: int, n: int, z: float = 1.96) -> dict[str, float]:
    """The 95 % Wilson interval of an observed rate ``k / n`` (``observed_low``, ``_high``)."""
    if n == 0:
        return {"observed_low": float("nan"), "observed_high": float("nan")}
    phat = k / n
    centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {  # (rounding can put a bound a hair past the rate at k = 0 or k = n)
        "observed_low": float(min(max(centre - half, 0.0), phat)),
        "observed_high": float(max(min(centre + half, 1.0), phat)),
    }


def _captured_interval(
    y: np.ndarray, p: np.ndarray, as_of: pd.Series, leads: pd.Series, cfg: MonitorConfig
) -> tuple[float, float]:
    """A 95 % interval of the conversions captured at capacity: a Poisson bootstrap over leads
    (each lead's rows weighted by one Poisson(1) draw per resample), the capacity applied to the
    weighted rows of each week, all resamples at once."""
    if cfg.n_boot < 1 or len(y) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(cfg.seed)
    codes, uniq = pd.factorize(leads)
    w = rng.poisson(1.0, size=(cfg.n_boot, len(uniq)))[:, codes].astype(float)
    week = week_of(as_of)
    total = np.zeros(cfg.n_boot)
    for wk in np.unique(week):
        idx = np.flatnonzero(week == wk)
        idx = idx[np.lexsort((idx, -p[idx]))]  # best first, ties by row order
        ww = w[:, idx]
        cum = np.cumsum(ww, axis=1)
        k = cfg.capacity if cfg.capacity is not None else np.ceil(cfg.capacity_share * cum[:, -1:])
        total += (ww * (cum <= k) * y[idx]).sum(axis=1)
    return float(np.percentile(total, 2.5)), float(np.percentile(total, 97.5))


def _score_reference(model: Any) -> np.ndarray:
    """The shares of the 0-100 score in deciles among the training-time leads, from the model's
    own score scale (its 101 quantiles, each 1 % of the leads, the two ends half), so rounding
    and ties (isotonic steps) are in the reference and not read as drift."""
    q = np.asarray(model.scale.quantiles, dtype=float)
    s = model.scale.score(q)
    w = np.full(len(q), 1.0)
    w[[0, -1]] = 0.5
    ref = np.bincount(np.minimum(s // 10, 9).astype(int), weights=w, minlength=10)
    return ref / ref.sum()


def _drift(
    rows: pd.DataFrame,
    model: Any,
    tables: dict[str, pd.DataFrame],
    events: pd.DataFrame | None,
    cfg: MonitorConfig,
    horizon: pd.Timedelta,
) -> pd.DataFrame:
    """PSI per cohort of the 0-100 score (against the uniform distribution it has on the
    training-time leads, in deciles) and of the model's top features (against feature values at
    cut-offs in the last weeks of the training window)."""
    out = []
    top: list[str] = []
    ref_feats = None
    if model.kind == "model" and events is not None and not model.is_flat:
        gain = model.booster.feature_importance(importance_type="gain")
        names = model.booster.feature_name()
        top = [names[i] for i in np.argsort(-gain)[:5] if gain[i] > 0]
        window = (model.metadata.get("production") or {}).get("train_window") or []
        if window and top:
            # the population the model was trained on: leads open at its last cut-offs (not yet
            # converted or lost, within its max_age)
            end = pd.Timestamp(window[1])
            leads = tables["leads"]
            first = tables["conversions"].groupby("lead_id")["converted_at"].min()
            conv_at = pd.to_datetime(leads["lead_id"].map(first), utc=True)
            max_age = (model.metadata.get("config") or {}).get("max_age")
            parts = []
            for t in [end - pd.Timedelta(days=7 * k) for k in range(4)]:
                ok = (leads["created_at"] < t) & ~(conv_at <= t).fillna(False)
                if "lost_at" in leads.columns:
                    ok &= ~(leads["lost_at"] <= t).fillna(False)
                if max_age:
                    ok &= leads["created_at"] >= t - parse_duration(max_age, name="max_age")
                parts.append(pd.DataFrame({"lead_id": leads.loc[ok, "lead_id"], "as_of": t}))
            cut = pd.concat(parts, ignore_index=True)
            cut = cut.sample(n=min(len(cut), 20_000), random_state=cfg.seed).reset_index(drop=True)
            if len(cut):
                ref_feats = model.features(leads, events, cutoffs=cut)[0]
    bins: dict[str, Any] = {}
    if ref_feats is not None:
        for f in top:
            col = ref_feats[f]
            if isinstance(col.dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(col):
                bins[f] = ("levels", list(col.astype(object).dropna().value_counts().index[:20]))
            else:
                v = col.to_numpy(float)
                e = (
                    np.unique(np.nanquantile(v, np.linspace(0.1, 0.9, 9)))
                    if np.isfinite(v).any()
                    else np.array([])
                )
                bins[f] = ("edges", e)
    cur_feats = None
    if bins:
        sample = rows.sample(frac=1.0, random_state=cfg.seed).groupby("cohort").head(3000)
        sample = sample.reset_index(drop=True)
        cur_feats = model.features(tables["leads"], events, cutoffs=sample[["lead_id", "as_of"]])[0]
        cur_feats["cohort"] = sample["cohort"].to_numpy()
    ref_scores = _score_reference(model)
    for cohort, g in rows.groupby("cohort", sort=True):
        rec: dict[str, Any] = {"cohort": cohort, "rows": len(g)}
        if "score" in g.columns:
            s = pd.to_numeric(g["score"], errors="coerce").dropna().to_numpy(float)
            if len(s):
                counts = np.bincount(np.minimum((s // 10).astype(int), 9), minlength=10)
                rec["psi_score"] = psi(ref_scores, counts / counts.sum())
        if cur_feats is not None and ref_feats is not None:
            cf = cur_feats[cur_feats["cohort"] == cohort]
            for f, (how, b) in bins.items():
                rec[f"psi_{f}"] = psi(_dist(ref_feats[f], how, b), _dist(cf[f], how, b))
        out.append(rec)
    return pd.DataFrame(out)


def _alerts(cohorts: pd.DataFrame, drift: pd.DataFrame, cfg: MonitorConfig) -> pd.DataFrame:
    """Alerts fire only on evidence, in labelled cohorts with enough conversions: observed /
    expected outside its range with an interval that excludes 1; the whole ECE interval above
    its limit; the whole AUC interval below its limit. And a PSI over its limit."""
    out = []
    lo, hi = cfg.oe_range
    for r in cohorts.to_dict("records"):
        c = r["cohort"]
        if pd.notna(r.get("conversions")) and r.get("conversions", 0) >= cfg.min_cohort_conversions:
            oe, oe_lo, oe_hi = (
                r.get("observed_expected"),
                r.get("observed_expected_low"),
                r.get("observed_expected_high"),
            )
            if (
                pd.notna(oe)
                and (oe < lo or oe > hi)
                and pd.notna(oe_lo)
                and pd.notna(oe_hi)
                and not (float(oe_lo) <= 1 <= float(oe_hi))
            ):
                out.append(
                    {
                        "cohort": c,
                        "alert": "observed_expected",
                        "value": oe,
                        "limit": f"in [{lo}, {hi}]",
                        "detail": f"{r['conversions']} conversions observed, {r['expected_conversions']:.0f} expected (interval {oe_lo:.2f}..{oe_hi:.2f})",
                    }
                )
            if pd.notna(r.get("ece_low")) and r["ece_low"] > cfg.max_ece:
                out.append(
                    {
                        "cohort": c,
                        "alert": "ece",
                        "value": r["ece"],
                        "limit": f"<= {cfg.max_ece}",
                        "detail": f"ECE {r['ece']:.3f} (interval {r['ece_low']:.3f}..{r['ece_high']:.3f})",
                    }
                )
            if (
                cfg.min_auc is not None
                and pd.notna(r.get("auc_high"))
                and r["auc_high"] < cfg.min_auc
            ):
                out.append(
                    {
                        "cohort": c,
                        "alert": "auc",
                        "value": r["auc"],
                        "limit": f">= {cfg.min_auc}",
                        "detail": f"AUC {r['auc']:.3f} (interval {r['auc_low']:.3f}..{r['auc_high']:.3f})",
                    }
                )
    for r in drift.to_dict("records"):
        for k, v in r.items():
            if str(k).startswith("psi_") and pd.notna(v) and v > cfg.max_psi:
                out.append(
                    {
                        "cohort": r["cohort"],
                        "alert": k,
                        "value": v,
                        "limit": f"<= {cfg.max_psi}",
                        "detail": "population stability index against the training window",
                    }
                )
    return pd.DataFrame(out, columns=["cohort", "alert", "value", "limit", "detail"])


def _suggestion(cohorts: pd.DataFrame, model: Any, cfg: MonitorConfig) -> str:
    """Recalibrate when the ranking holds but the level moved; retrain when the ranking fell."""
    lab = (
        cohorts[
            cohorts.get("conversions", pd.Series(dtype=float)).fillna(0)
            >= cfg.min_cohort_conversions
        ]
        if "conversions" in cohorts
        else cohorts.iloc[0:0]
    )
    if lab.empty:
        return "no labelled cohort with enough conversions yet: nothing to suggest (see the drift and the estimates)"
    last = lab.tail(2)
    bt = ((model.metadata.get("backtest") or {}).get("metrics") or {}).get("lightgbm") or {}
    ref_auc = float(bt["auc"]) if "auc" in bt else float("nan")
    auc = float(last["auc"].mean()) if "auc" in last else float("nan")
    oe = float(last["observed_expected"].mean())
    lo, hi = cfg.oe_range
    held = not np.isfinite(ref_auc) or not np.isfinite(auc) or auc >= ref_auc - 0.03
    if not (lo <= oe <= hi):
        if held:
            return (
                f"recalibrate: the ranking holds (AUC {auc:.3f} in the last cohorts) but the base rate "
                f"moved (observed/expected {oe:.2f}): run leadml recalibrate (a refit of the calibrator "
                "only, through the same gate)"
            )
        return f"retrain: the ranking fell (AUC {auc:.3f}, backtest {ref_auc:.3f}) and the level moved (observed/expected {oe:.2f})"
    if not held:
        return f"retrain: the ranking fell (AUC {auc:.3f}, backtest {ref_auc:.3f})"
    return (
        f"none: calibrated in the large (observed/expected {oe:.2f}) and ranking as in the backtest"
    )


# --------------------------------------------------------------------------------- outputs
def _plots(res: MonitorResult) -> dict[str, bytes]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    figs: dict[str, bytes] = {}
    c = res.cohorts
    if "observed_rate" in c and c["observed_rate"].notna().any():
        fig, ax = plt.subplots(figsize=(8, 3.5))
        ax.plot(c["cohort"], c["predicted_rate"], marker="o", label="predicted (mean p_convert)")
        ax.plot(c["cohort"], c["observed_rate"], marker="s", label="observed conversion rate")
        ax.set_ylabel("rate")
        ax.set_title("observed vs predicted per cohort")
        ax.legend()
        fig.autofmt_xdate()
        figs["observed_vs_predicted.png"] = figure_png(fig)
    if len(res.deciles):
        last = sorted(res.deciles["cohort"].unique())[-6:]
        fig, axes = plt.subplots(1, len(last), figsize=(2.6 * len(last), 2.8), squeeze=False)
        for ax, coh in zip(axes[0], last, strict=False):
            d = res.deciles[res.deciles["cohort"] == coh]
            top = max(float(d["predicted"].max()), float(d["observed"].max()), 1e-3)
            ax.plot([0, top], [0, top], color="grey", lw=0.8)
            ax.plot(d["predicted"], d["observed"], marker="o")
            ax.set_title(f"{pd.Timestamp(coh):%Y-%m-%d}", fontsize=8)
            ax.set_xlabel("predicted", fontsize=7)
        axes[0][0].set_ylabel("observed")
        fig.suptitle("reliability diagram per cohort (deciles)", fontsize=9)
        figs["reliability.png"] = figure_png(fig)
    d = res.drift
    psi_cols = [k for k in d.columns if k.startswith("psi_")]
    if psi_cols:
        fig, ax = plt.subplots(figsize=(8, 3.5))
        for k in psi_cols:
            ax.plot(d["cohort"], d[k], marker=".", label=k.removeprefix("psi_"))
        ax.axhline(0.25, color="red", lw=0.8, ls="--")
        ax.set_title("population stability index against the training window")
        ax.legend(fontsize=7)
        fig.autofmt_xdate()
        figs["psi.png"] = figure_png(fig)
    return figs


def _write(res: MonitorResult, out: Path, model: Any, cfg: MonitorConfig) -> Path:
    from leadml._files import write_atomic

    out.mkdir(parents=True, exist_ok=True)
    for name, df in (
        ("cohorts", res.cohorts),
        ("bands", res.bands),
        ("deciles", res.deciles),
        ("drift", res.drift),
        ("trends", res.trends),
        ("alerts", res.alerts),
    ):
        write_atomic(out / f"{name}.csv", df.to_csv(index=False).encode())
    figs = _plots(res)
    for name, png in figs.items():
        write_atomic(out / name, png)
    cols = [
        c
        for c in (
            "cohort",
            "rows",
            "labelled",
            "conversions",
            "observed_rate",
            "predicted_rate",
            "observed_expected",
            "observed_expected_low",
            "observed_expected_high",
            "ece",
            "ece_low",
            "ece_high",
            "cal_slope",
            "cal_intercept",
            "auc",
            "auc_low",
            "auc_high",
            "captured",
            "expected_auc",
            "psi_score",
        )
        if c in res.cohorts.columns
    ]
    table = res.cohorts[cols].copy()
    table["cohort"] = pd.to_datetime(table["cohort"]).dt.strftime("%Y-%m-%d")
    alerts = res.alerts.copy()
    if len(alerts):
        alerts["cohort"] = pd.to_datetime(alerts["cohort"]).dt.strftime("%Y-%m-%d")
    page = f"""<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>leadml monitor</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}.alert{{color:#b00}}</style></head><body>
<h1>leadml monitor</h1>
<p>model: {html.escape(str(model.metadata.get("registered_name", "")))} version
{html.escape(str(model.metadata.get("registered_version", "")))}; horizon {html.escape(str(model.metadata.get("horizon")))};
cohorts of {html.escape(cfg.cohort)}. Figures of cohorts whose label windows have not all closed are
<b>estimates</b> (expected_auc, predicted_rate: what the calibrated probabilities imply), not measurements.</p>
<h2>Alerts</h2>{"<p>none</p>" if alerts.empty else alerts.to_html(index=False, classes="alert", float_format=lambda v: f"{v:.4f}")}
<h2>Suggestion</h2><p>{html.escape(res.suggestion)}</p>
<h2>Cohorts</h2>{table.to_html(index=False, float_format=lambda v: f"{v:.4f}", na_rep="")}
{"".join(f'<h2>{html.escape(n.removesuffix(".png").replace("_", " "))}</h2><img src="{n}" alt="{n}">' for n in figs)}
<h2>Notes</h2><ul>{"".join(f"<li>{html.escape(n)}</li>" for n in res.notes) or "<li>none</li>"}</ul>
</body></html>"""
    write_atomic(out / "index.html", page.encode())
    return out


def _log(res: MonitorResult, cfg: MonitorConfig, base: Path) -> str:
    import mlflow

    from leadml.tracking import resolve_tracking_uri, use_experiment

    uri = resolve_tracking_uri(tracking_uri_for(cfg.tracking_uri, base))
    use_experiment(uri, cfg.experiment)
    with mlflow.start_run(run_name="monitor") as run:
        mlflow.set_tags(
            {
                "leadml.job": "monitor",
                "leadml.alerts": str(len(res.alerts)),
                "leadml.suggestion": res.suggestion[:5000],
            }
        )
        for step, r in enumerate(res.cohorts.to_dict("records")):
            ts = int(pd.Timestamp(r["cohort"]).timestamp() * 1000)
            metrics = {
                k: float(v)
                for k, v in r.items()
                if k
                in (
                    "observed_expected",
                    "ece",
                    "auc",
                    "psi_score",
                    "expected_auc",
                    "predicted_rate",
                    "observed_rate",
                )
                and pd.notna(v)
            }
            for k, v in metrics.items():
                mlflow.log_metric(k, v, step=step, timestamp=ts)
        if res.out is not None:
            mlflow.log_artifacts(str(res.out), artifact_path="monitor")
        return str(run.info.run_id)
