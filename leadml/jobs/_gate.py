"""The promotion gate: may a challenger replace the champion? Judged on one frozen set of rows."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from leadml.evaluation import bootstrap_metrics
from leadml.exceptions import ConfigError
from leadml.jobs._config import GateConfig

__all__ = ["GateResult", "captured_at_capacity", "evaluate_gate", "rows_hash", "week_of"]

GATE_METRICS = ["auc", "log_loss", "brier", "ece", "citl"]
MONDAY = pd.Timestamp("1970-01-05", tz="UTC")
"""Weeks run Monday to Sunday (UTC), as the monitor's weekly cohorts."""


@dataclass
class GateResult:
    """The gate's verdict: ``passed``, the ``reason`` in one sentence, one row per check
    (``check, required, passed, value, threshold, detail``) and the metrics of every model with
    their intervals."""

    passed: bool
    reason: str
    checks: pd.DataFrame
    metrics: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)

    def markdown(self) -> str:
        """The gate report as markdown (what is logged to the run and tagged on the version)."""
        lines = [
            f"# Promotion gate: {'PASSED' if self.passed else 'NOT PASSED'}",
            "",
            self.reason,
            "",
        ]
        lines += [f"- {k}: {v}" for k, v in self.info.items()]
        lines += [
            "",
            "| check | required | passed | value | threshold | detail |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.checks.itertuples(index=False):
            mark = "n/a" if r.passed is None else ("yes" if r.passed else "**no**")
            lines.append(
                f"| {r.check} | {'yes' if r.required else 'no'} | {mark} | {_fmt(r.value)} | "
                f"{r.threshold} | {r.detail} |"
            )
        lines += ["", "| model | metric | estimate | low | high |", "|---|---|---|---|---|"]
        for r in self.metrics.itertuples(index=False):
            lines.append(
                f"| {r.model} | {r.metric} | {r.estimate:.4f} | {r.low:.4f} | {r.high:.4f} |"
            )
        return "\n".join(lines) + "\n"


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def rows_hash(rows: pd.DataFrame) -> str:
    """SHA-256 of the evaluation rows (``lead_id, as_of, label``, in a canonical order): the same
    rows give the same hash on any machine."""
    r = rows[["lead_id", "as_of", "label"]].copy()
    r["as_of"] = pd.to_datetime(r["as_of"], utc=True).astype("datetime64[us, UTC]").astype("int64")
    r["lead_id"] = r["lead_id"].astype(str)
    r = r.sort_values(["lead_id", "as_of"], kind="stable")
    text = "\n".join(f"{a}\t{b}\t{int(c)}" for a, b, c in r.itertuples(index=False))
    return hashlib.sha256(text.encode()).hexdigest()


def week_of(as_of: pd.Series) -> np.ndarray:
    """The week of each time, counted in Monday-to-Sunday weeks (UTC)."""
    return np.asarray((pd.to_datetime(as_of, utc=True) - MONDAY) // pd.Timedelta(days=7))


def captured_at_capacity(
    y: np.ndarray, p: np.ndarray, as_of: pd.Series, *, capacity: int | None, share: float
) -> int:
    """Conversions among the leads sales would call: each week (Monday to Sunday, by ``as_of``)
    the top ``capacity`` rows by ``p`` (or the top ``share`` of that week's rows), ties by row
    order."""
    week = week_of(as_of)
    df = pd.DataFrame({"w": np.asarray(week), "p": np.asarray(p, float), "y": np.asarray(y)})
    df["rank"] = df.groupby("w")["p"].rank(method="first", ascending=False)
    size = df.groupby("w")["p"].transform("size")
    k = capacity if capacity is not None else np.ceil(share * size)
    return int(df.loc[df["rank"] <= k, "y"].sum())


def evaluate_gate(
    rows: pd.DataFrame,
    p_challenger: np.ndarray,
    p_rules: np.ndarray,
    p_champion: np.ndarray | None,
    cfg: GateConfig,
    *,
    champion_age_days: float | None = None,
    segments: pd.DataFrame | None = None,
    smoke: tuple[bool, str] | None = None,
) -> GateResult:
    """Judge a challenger on ``rows`` (``lead_id, as_of, label``): every check of
    :class:`~leadml.jobs.GateConfig`. Without a champion the comparisons with it are not
    applicable and the challenger must pass the absolute checks and beat the rules."""
    y = rows["label"].to_numpy(dtype=int)
    if y.min() == y.max():
        raise ConfigError(
            f"gate: the {len(y):,} evaluation rows hold only one class; nothing can be compared. "
            "Fix: a longer history, or a longer backtest window (train.backtest.test_share)."
        )
    preds = {"challenger": np.asarray(p_challenger, float), "rules": np.asarray(p_rules, float)}
    if p_champion is not None:
        preds = {"champion": np.asarray(p_champion, float), **preds}
    boot = bootstrap_metrics(
        y,
        preds,
        groups=rows["lead_id"].to_numpy(),
        n_boot=cfg.n_boot,
        alpha=1 - cfg.confidence,
        seed=cfg.seed,
        metrics=GATE_METRICS,
    )

    def est(model: str, metric: str) -> float:
        r = boot[(boot["model"] == model) & (boot["metric"] == metric)]
        return float(r["estimate"].iloc[0])

    checks: list[dict[str, Any]] = []

    def add(
        check: str,
        passed: bool | None,
        value: Any,
        threshold: str,
        detail: str,
        required: bool = True,
    ) -> None:
        checks.append(
            {
                "check": check,
                "required": required and passed is not None,
                "passed": None if passed is None else bool(passed),
                "value": value,
                "threshold": threshold,
                "detail": detail,
            }
        )

    has_champ = p_champion is not None
    stale = has_champ and champion_age_days is not None and champion_age_days > cfg.stale_days
    auc_c = est("challenger", "auc")
    if has_champ:
        d = boot[(boot["model"] == "challenger - champion") & (boot["metric"] == "auc")].iloc[0]
        add(
            "auc_non_inferior",
            d["low"] >= -cfg.auc_tolerance,
            float(d["low"]),
            f">= {-cfg.auc_tolerance:+.3f}",
            f"AUC challenger {auc_c:.4f} vs champion {est('champion', 'auc'):.4f}: difference "
            f"{d['estimate']:+.4f}, {cfg.confidence:.0%} interval [{d['low']:+.4f}, {d['high']:+.4f}] "
            "(paired bootstrap over leads)",
        )
        add(
            "auc_gain",
            d["estimate"] >= cfg.min_auc_gain or stale,
            float(d["estimate"]),
            f">= {cfg.min_auc_gain:+.3f} unless the champion is older than {cfg.stale_days} d",
            (
                f"champion is {champion_age_days:.0f} days old: stale, not being worse is enough"
                if stale
                else f"champion age {champion_age_days:.0f} days"
                if champion_age_days is not None
                else "champion age unknown"
            ),
        )
        for metric, tol in (("log_loss", cfg.log_loss_tolerance), ("brier", cfg.brier_tolerance)):
            c, ch = est("challenger", metric), est("champion", metric)
            add(
                metric,
                c <= ch * (1 + tol),
                c,
                f"<= champion {ch:.4f} x {1 + tol:.2f}",
                f"challenger {c:.4f}, champion {ch:.4f}",
            )
        cap_c = captured_at_capacity(
            y, preds["challenger"], rows["as_of"], capacity=cfg.capacity, share=cfg.capacity_share
        )
        cap_ch = captured_at_capacity(
            y, preds["champion"], rows["as_of"], capacity=cfg.capacity, share=cfg.capacity_share
        )
        per = (
            f"top {cfg.capacity} per week"
            if cfg.capacity
            else f"top {cfg.capacity_share:.0%} of each week"
        )
        add(
            "captured_at_capacity",
            cap_c >= (1 - cfg.capture_tolerance) * cap_ch,
            cap_c,
            f">= {1 - cfg.capture_tolerance:.2f} x champion's {cap_ch}",
            f"conversions among the {per}: challenger {cap_c}, champion {cap_ch}",
        )
    else:
        for check in ("auc_non_inferior", "auc_gain", "log_loss", "brier", "captured_at_capacity"):
            add(check, None, None, "", "no champion yet: nothing to compare with")
    # calibration: within the limits, or (with a champion) no worse than the champion's on the
    # same rows: a window where both are off by the same amount is the window, not the model
    ece = est("challenger", "ece")
    ok = ece <= cfg.max_ece
    detail = "expected calibration error"
    if has_champ:
        ece_ch = est("champion", "ece")
        ok = ok or ece <= ece_ch + cfg.ece_tolerance
        detail += f": challenger {ece:.4f}, champion {ece_ch:.4f}"
    add(
        "ece",
        ok,
        ece,
        f"<= {cfg.max_ece}" + (f" or <= champion + {cfg.ece_tolerance}" if has_champ else ""),
        detail,
    )
    citl = est("challenger", "citl")
    lo, hi = cfg.citl_range
    ok = lo <= citl <= hi
    detail = f"mean prediction {preds['challenger'].mean():.4f} vs observed rate {y.mean():.4f}"
    if has_champ:
        citl_ch = est("champion", "citl")
        ok = ok or abs(np.log(citl)) <= abs(np.log(citl_ch)) + np.log1p(cfg.citl_tolerance)
        detail += f" (champion's mean prediction / observed: {citl_ch:.3f})"
    add(
        "calibration_in_the_large",
        ok,
        citl,
        f"in [{lo}, {hi}]"
        + (f" or within {cfg.citl_tolerance:.0%} of the champion's" if has_champ else ""),
        detail,
    )
    if cfg.beat_rules:
        r_auc = est("rules", "auc")
        add("beats_rules", auc_c > r_auc, auc_c, f"> rules AUC {r_auc:.4f}", "on the same rows")
    if cfg.segments:
        if segments is None:
            raise ConfigError("gate.segments: no segment columns were passed to the gate.")
        ref_name = "champion" if has_champ else "rules"
        bad, judged = [], 0
        for col in cfg.segments:
            groups = segments[col].astype(object).where(segments[col].notna(), "(missing)")
            codes, levels = pd.factorize(groups)
            for k, level in enumerate(levels):
                idx = np.flatnonzero(codes == k)
                yy = y[idx]
                if yy.sum() < cfg.min_segment_conversions or yy.min() == yy.max():
                    continue
                judged += 1
                seg = bootstrap_metrics(
                    yy,
                    {ref_name: preds[ref_name][idx], "challenger": preds["challenger"][idx]},
                    groups=rows["lead_id"].to_numpy()[idx],
                    n_boot=cfg.n_boot,
                    alpha=1 - cfg.confidence,
                    seed=cfg.seed,
                    metrics=["auc"],
                )
                d = seg[seg["model"] == f"challenger - {ref_name}"].iloc[0]
                if d["high"] < -cfg.segment_tolerance:  # worse beyond the tolerance, with evidence
                    bad.append(
                        f"{col}={level}: AUC {d['estimate']:+.3f} "
                        f"[{d['low']:+.3f}, {d['high']:+.3f}] vs the {ref_name}"
                    )
        add(
            "segments",
            not bad,
            len(bad),
            f"no segment's AUC lower than the {ref_name}'s by more than {cfg.segment_tolerance} "
            f"({cfg.confidence:.0%} interval)",
            ("regressed: " + "; ".join(bad)) if bad else f"{judged} segment(s) judged",
        )
    if smoke is not None:
        add("pyfunc_smoke_test", smoke[0], None, "same probabilities through pyfunc", smoke[1])
    table = pd.DataFrame(checks)
    failed = table[(table["required"]) & (table["passed"] == False)]  # noqa: E712
    passed = failed.empty
    if passed:
        reason = (
            "the challenger passed every check"
            + (" (the champion is stale)" if stale else "")
            + ("" if has_champ else " (no champion yet)")
        )
    else:
        reason = "refused: " + "; ".join(
            f"{r.check} ({r.detail})" for r in failed.itertuples(index=False)
        )
    return GateResult(passed=passed, reason=reason, checks=table, metrics=boot)
