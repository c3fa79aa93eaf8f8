"""The audit of one table with a label: the column checks shared by flat and event mode.

Each check returns finding rows (``check, column, severity, figure, evidence, why, fix``). The
thresholds are module constants, so a finding's wording and its test use the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from leadml.audit._report import AuditReport
from leadml.audit._separation import SEVERE_AUC, WARN_AUC, separation
from leadml.exceptions import DataContractError
from leadml.schema import examples

__all__ = ["audit_flat", "fast_findings", "finding_row", "flat_findings", "label_vector"]

NEAR_CONSTANT = 0.995
"""A column whose most common value (missing counts as a value) covers this share of rows."""
ID_UNIQUE = 0.95
"""A text or integer column with this share of distinct values among its non-missing ones."""
MONOTONE_RHO, MONOTONE_AUC = 0.9, 0.78
"""A numeric column whose conversion rate by decile is this monotone (Spearman) and whose AUC is
at least this: the shape of an outcome measured after the fact (call length, order value)."""
CERTAIN_RATE = 0.05
"""A level is near-certain when its conversion rate is within this of 0 or 1 (and within a third
of the base rate's distance from 0 or 1); levels of fewer than ``MIN_LEVEL_ROWS`` rows are ignored."""
MIN_LEVEL_ROWS = 30
CERTAIN_SEVERE, CERTAIN_WARN = 0.30, 0.15
"""Share of rows in near-certain levels for a severe / warning finding."""
MISSING_P = 1e-3
"""Significance (two-proportion z test) for label-dependent missingness and copies."""
MISSING_SHARE = (0.05, 0.95)
MISSING_DIFF, MISSING_RATIO = 0.20, 2.5
"""Warning when the conversion rates with and without a value differ by this much (absolute),
or by this ratio with at least 5 points between them."""
DUPLICATE_U = 0.95
"""Theil's U: a column this near-determined by another carries (almost) no information of its own."""
COPY_AGREE = (0.5, 0.99)
COPY_DIFF = 0.10
BINS = 20
FAMILY = {
    "separation": "signal",
    "monotone": "signal",
    "certain levels": "signal",
    "missingness": "missingness",
    "overwritten copy": "copy",
}


def label_vector(values: pd.Series, label: str, positive: Any = None) -> np.ndarray:
    """0/1 per row from a label column (``positive``: the value meaning converted)."""
    s = values
    if positive is not None:
        return np.asarray(s.astype(object) == positive, dtype=np.int64)
    if s.dtype == bool:
        return s.to_numpy(dtype=np.int64)
    if pd.api.types.is_numeric_dtype(s.dtype) and set(pd.unique(s.dropna())) <= {0, 1}:
        return s.to_numpy(dtype=np.int64)
    text = s.astype(str).str.strip().str.lower()
    if set(text.unique()) <= {"yes", "no", "true", "false", "1", "0"}:
        return np.asarray(text.isin(["yes", "true", "1"]), dtype=np.int64)
    levels = sorted(map(str, pd.unique(s)))[:5]
    raise DataContractError(
        f"table.{label}: the label is not 0/1, yes/no or true/false (values {levels}). "
        f"Fix: pass positive= (CLI --positive) with the value that means converted."
    )


def _codes(s: pd.Series) -> np.ndarray:
    """Level codes (numeric columns in up to ``BINS`` quantile bins); missing is its own code."""
    if pd.api.types.is_numeric_dtype(s.dtype) and s.dtype != bool:
        v = s.to_numpy(dtype=float, na_value=np.nan)
        ok = np.isfinite(v)
        out = np.full(len(v), -1, dtype=np.int64)
        if ok.any() and len(np.unique(v[ok])) <= 2 * BINS:
            out[ok] = np.unique(v[ok], return_inverse=True)[1]
        elif ok.any():
            edges = np.unique(np.quantile(v[ok], np.linspace(0, 1, BINS + 1)[1:-1]))
            out[ok] = np.searchsorted(edges, v[ok], side="right")
        return out + 1
    return pd.factorize(s.astype(object), use_na_sentinel=True)[0].astype(np.int64) + 1


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def _theil_u(a: np.ndarray, b: np.ndarray) -> float:
    """Share of ``a``'s entropy explained by ``b`` (1: ``a`` is a function of ``b``)."""
    h_a = _entropy(np.bincount(a))
    if h_a == 0:
        return 0.0
    nb = int(b.max()) + 1
    joint = np.bincount(a * nb + b)
    h_ab = _entropy(joint)
    h_b = _entropy(np.bincount(b))
    return (h_a - (h_ab - h_b)) / h_a


def _two_prop(y: np.ndarray, m: np.ndarray) -> tuple[float, float, float]:
    """Rates of ``y`` where ``m`` and where not, and the two-sided p value of their difference."""
    n1, n0 = int(m.sum()), int((~m).sum())
    r1, r0 = float(y[m].mean()), float(y[~m].mean())
    p = (r1 * n1 + r0 * n0) / (n1 + n0)
    se = math.sqrt(max(p * (1 - p) * (1 / n1 + 1 / n0), 1e-300))
    return r1, r0, math.erfc(abs(r1 - r0) / se / math.sqrt(2))


def finding_row(
    check: str, column: str, severity: str, figure: float, evidence: str, why: str, fix: str
) -> dict:
    return {
        "check": check,
        "column": column,
        "severity": severity,
        "figure": float(figure),
        "evidence": evidence,
        "why": why,
        "fix": fix,
    }


def _excl(col: str) -> str:
    return f"exclude it (exclude=[{col!r}], CLI --exclude {col!r})"


def constant_findings(X: pd.DataFrame) -> tuple[list[dict], list[str]]:
    """Constant and near-constant columns; also returns them (later checks skip them)."""
    rows, skip = [], []
    for col in X.columns:
        top = X[col].value_counts(dropna=False, normalize=True)
        share = float(top.iloc[0]) if len(top) else 1.0
        if share >= NEAR_CONSTANT:
            kind = "constant" if len(top) <= 1 else "near-constant"
            rows.append(
                finding_row(
                    "constant",
                    col,
                    "info",
                    share,
                    f"{kind}: {top.index[0]!r} in {share:.1%} of rows",
                    "a column with (almost) one value carries no information and can only "
                    "memorise a handful of rows",
                    f"drop it, or {_excl(col)}",
                )
            )
            skip.append(col)
    return rows, skip


def id_findings(X: pd.DataFrame) -> list[dict]:
    """Columns that look like identifiers: near-unique text or integers, or integers that rise
    with the row order (a record number)."""
    rows = []
    n = len(X)
    for col in X.columns:
        s = X[col].dropna()
        if len(s) < max(20, n // 2):
            continue
        numeric = pd.api.types.is_numeric_dtype(s.dtype) and s.dtype != bool
        if numeric and not np.all(np.mod(s.to_numpy(dtype=float), 1) == 0):
            continue  # a continuous measurement is near-unique without being an id
        uniq = s.nunique() / len(s)
        rho = 0.0
        if numeric and uniq >= 0.5:
            rho = float(
                pd.Series(s.to_numpy(dtype=float)).corr(
                    pd.Series(np.arange(len(s), dtype=float)), method="spearman"
                )
            )
        if uniq >= ID_UNIQUE or abs(rho) >= 0.99:
            what = f"{uniq:.1%} distinct values" + (
                f", {'rising' if rho > 0 else 'falling'} with the row order (Spearman {rho:.3f})"
                if abs(rho) >= 0.99
                else ""
            )
            rows.append(
                finding_row(
                    "id-like",
                    col,
                    "warning",
                    uniq,
                    what,
                    "an identifier names the row: a model can memorise it, and a record number "
                    "that grows with time stands in for the date",
                    f"pass it as the id (id_column={col!r}, CLI --id-column) or {_excl(col)}",
                )
            )
    return rows


def separation_findings(X: pd.DataFrame, y: np.ndarray, groups: np.ndarray) -> list[dict]:
    """Columns that alone separate converted from not-converted rows (out-of-fold AUC)."""
    if not len(X.columns):
        return []
    found = separation(X, y, groups, list(X.columns))
    rows = []
    for r in found[found["severity"] != ""].to_dict("records"):
        rows.append(
            finding_row(
                "separation",
                r["column"],
                r["severity"],
                r["auc"],
                f"out-of-fold univariate AUC {r['auc']:.3f} (warning from {WARN_AUC}, severe "
                f"from {SEVERE_AUC})",
                "one column that nearly decides the outcome was usually filled in after it "
                "(a stage, a tag, a close reason) or identifies the lead",
                f"check when the column is set; if after contact or the outcome, {_excl(r['column'])}",
            )
        )
    return rows


def monotone_findings(X: pd.DataFrame, y: np.ndarray, auc: dict[str, float]) -> list[dict]:
    """Numeric columns whose conversion rate rises (or falls) steadily over the deciles and
    that separate strongly: the shape of a measurement taken after the outcome."""
    rows = []
    for col in X.columns:
        s = X[col]
        if not pd.api.types.is_numeric_dtype(s.dtype) or s.dtype == bool:
            continue
        v = s.to_numpy(dtype=float, na_value=np.nan)
        ok = np.isfinite(v)
        if len(np.unique(v[ok])) < 10 or auc.get(col, 0.5) < MONOTONE_AUC:
            continue
        rank = pd.Series(v[ok]).rank(method="first").to_numpy()
        dec = np.minimum((rank - 1) * 10 // ok.sum(), 9).astype(int)
        rates = pd.Series(y[ok]).groupby(dec).mean().to_numpy()
        rho = float(pd.Series(rates).corr(pd.Series(np.arange(len(rates))), method="spearman"))
        if abs(rho) >= MONOTONE_RHO:
            lo, hi = (rates[0], rates[-1]) if rho > 0 else (rates[-1], rates[0])
            rows.append(
                finding_row(
                    "monotone",
                    col,
                    "warning",
                    auc[col],
                    f"conversion rate by decile {'rises' if rho > 0 else 'falls'} steadily "
                    f"(Spearman {rho:.2f}) from {lo:.1%} to {hi:.1%}; AUC {auc[col]:.3f}",
                    "a number whose every step moves the outcome is often measured during or "
                    "after the conversion (call length, page value, order amount)",
                    f"check whether it is known before the outcome; if not, {_excl(col)}",
                )
            )
    return rows


def certain_level_findings(X: pd.DataFrame, y: np.ndarray) -> list[dict]:
    """Categorical columns with many rows in levels whose outcome is (nearly) certain."""
    base = float(y.mean())
    limit = min(CERTAIN_RATE, min(base, 1 - base) / 3)
    rows = []
    for col in X.columns:
        s = X[col]
        if pd.api.types.is_numeric_dtype(s.dtype) and s.dtype != bool:
            continue
        g = pd.DataFrame({"v": s.astype(object), "y": y}).dropna().groupby("v")["y"]
        stats = pd.DataFrame({"n": g.size(), "rate": g.mean()})
        stats = stats[stats["n"] >= MIN_LEVEL_ROWS]
        sure = stats[(stats["rate"] <= limit) | (stats["rate"] >= 1 - limit)]
        share = float(sure["n"].sum() / len(s))
        if share < CERTAIN_WARN:
            continue
        top = sure.sort_values("n", ascending=False).head(3)
        shown = ", ".join(f"{k!r} {r.rate:.0%} of {int(r.n)}" for k, r in top.iterrows())
        rows.append(
            finding_row(
                "certain levels",
                col,
                "severe" if share >= CERTAIN_SEVERE else "warning",
                share,
                f"{share:.1%} of rows are in {len(sure)} level(s) whose conversion rate is within "
                f"{limit:.1%} of 0 or 1 ({shown})",
                'values that decide the outcome ("will revert after reading the email", '
                '"closed", "worst") are written by the sales team after contact',
                f"check who sets it and when; if after contact, {_excl(col)}",
            )
        )
    return rows


def missingness_findings(X: pd.DataFrame, y: np.ndarray) -> list[dict]:
    """Columns whose missingness depends on the label (conversion rate with vs without a value,
    two-proportion z test)."""
    rows = []
    for col in X.columns:
        m = X[col].isna().to_numpy()
        share = float(m.mean())
        if m.sum() < MIN_LEVEL_ROWS or (~m).sum() < MIN_LEVEL_ROWS:
            continue
        r1, r0, p = _two_prop(y, m)
        if p >= MISSING_P:
            continue
        diff = abs(r1 - r0)
        ratio = max(r1, r0) / max(min(r1, r0), 1e-9)
        big = diff >= MISSING_DIFF or (ratio >= MISSING_RATIO and diff >= 0.05)
        inside = MISSING_SHARE[0] <= share <= MISSING_SHARE[1]
        if big and inside:
            sev = "warning"
        elif diff >= 0.05 or ratio >= 1.5:
            sev = "info"
        else:
            continue
        numeric = pd.api.types.is_numeric_dtype(X[col].dtype)
        rows.append(
            finding_row(
                "missingness",
                col,
                sev,
                diff,
                f"missing in {share:.1%} of rows; conversion rate {r1:.1%} when missing vs "
                f"{r0:.1%} when present (p = {p:.1e})"
                + ("; the signal is in the missing values" if numeric else ""),
                "a field filled in only for the leads the sales team worked (or only after a "
                "call) is missing for the others: its presence tells the outcome",
                f"check when it is filled in; if after contact, {_excl(col)}; if it is a form "
                "answer, keep it (a missing answer is honest information)",
            )
        )
    return rows


def duplicate_findings(X: pd.DataFrame, y: np.ndarray) -> list[dict]:
    """Pairs of columns with near-identical information (Theil's U), and copies of one field
    that disagree in a label-dependent way (one was overwritten later)."""
    cols = list(X.columns)
    codes = {c: _codes(X[c]) for c in cols}
    rows = []
    for i, a in enumerate(cols):
        for b in cols[i + 1 :]:
            u_ab, u_ba = _theil_u(codes[a], codes[b]), _theil_u(codes[b], codes[a])
            if max(u_ab, u_ba) >= DUPLICATE_U:
                if min(u_ab, u_ba) >= DUPLICATE_U:
                    name, ev = f"{a} ~ {b}", f"{a!r} and {b!r} determine each other"
                else:
                    dep, by = (a, b) if u_ab >= u_ba else (b, a)
                    name, ev = dep, f"{dep!r} is determined by {by!r}"
                rows.append(
                    finding_row(
                        "near-duplicate",
                        name,
                        "info",
                        max(u_ab, u_ba),
                        f"{ev} (Theil's U {max(u_ab, u_ba):.3f})",
                        "two columns with the same information split the importance and the "
                        "reasons between them; if one is leaky, so is the other",
                        "keep one of them (exclude the other)",
                    )
                )
            rows += _copy_finding(X, y, a, b)
    return rows


def _copy_finding(X: pd.DataFrame, y: np.ndarray, a: str, b: str) -> list[dict]:
    sa, sb = X[a], X[b]
    if any(pd.api.types.is_numeric_dtype(s.dtype) for s in (sa, sb)):
        return []
    va, vb = set(sa.dropna().unique()), set(sb.dropna().unique())
    shared = va & vb
    if not shared or sa.isin(shared).mean() < 0.5 or sb.isin(shared).mean() < 0.5:
        return []
    both = (sa.notna() & sb.notna()).to_numpy()
    agree = (sa.astype(object) == sb.astype(object)).to_numpy() & both
    share = agree.sum() / max(both.sum(), 1)
    if not COPY_AGREE[0] <= share <= COPY_AGREE[1]:
        return []
    dis = both & ~agree
    if dis.sum() < MIN_LEVEL_ROWS:
        return []
    r_dis, r_agree, p = _two_prop(y[both], dis[both])
    if p >= MISSING_P or abs(r_dis - r_agree) < COPY_DIFF:
        return []
    # the overwritten copy is the one whose disagreeing values the other column never has
    new_a = float((~sa[dis].isin(vb)).mean())
    new_b = float((~sb[dis].isin(va)).mean())
    if new_a >= 0.8 > new_b:
        blamed, other = a, b
    elif new_b >= 0.8 > new_a:
        blamed, other = b, a
    else:
        blamed, other = f"{a} / {b}", ""
    later = sb[dis] if blamed == b else sa[dis]
    vals = ", ".join(repr(v) for v in later.value_counts().index[:2])
    return [
        finding_row(
            "overwritten copy",
            blamed,
            "warning",
            abs(r_dis - r_agree),
            f"equals {other or 'the other'!r} in {share:.0%} of rows; where it differs "
            f"(mostly {vals}) the conversion rate is {r_dis:.1%} vs {r_agree:.1%} (p = {p:.1e})",
            "two columns recording the same field, one of them updated later: the update "
            "happens more for one outcome, so the later copy carries the outcome",
            f"keep the copy known at creation; {_excl(blamed.split(' / ')[0])}",
        )
    ]


def _combined(rows: list[dict]) -> list[dict]:
    """A column with warnings from two independent families of checks is a severe finding."""
    fam: dict[str, set[str]] = {}
    for r in rows:
        if r["severity"] in ("warning", "severe") and r["check"] in FAMILY:
            fam.setdefault(r["column"], set()).add(FAMILY[r["check"]])
    out = []
    severe = {r["column"] for r in rows if r["severity"] == "severe"}
    for col, f in fam.items():
        if len(f) >= 2 and col not in severe:
            out.append(
                finding_row(
                    "combined",
                    col,
                    "severe",
                    len(f),
                    f"flagged by {len(f)} independent checks ({', '.join(sorted(f))})",
                    "each check alone has honest explanations; together they are the pattern of a "
                    "field filled in after contact",
                    f"{_excl(col)} unless you can show it is known when a lead is scored",
                )
            )
    return out


def fast_findings(X: pd.DataFrame, y: np.ndarray, groups: np.ndarray) -> list[dict]:
    """The checks that are cheap enough for every training run: separation and id-like."""
    return separation_findings(X, y, groups) + id_findings(X)


def flat_findings(
    X: pd.DataFrame, y: np.ndarray, groups: np.ndarray
) -> tuple[list[dict], list[str]]:
    """Every column check on ``X`` (one row per lead); also the names of the checks run."""
    rows, skip = constant_findings(X)
    X = X.drop(columns=skip)
    ids = id_findings(X)
    X_signal = X.drop(columns=[r["column"] for r in ids])
    sep = separation(X_signal, y, groups, list(X_signal.columns)) if len(X_signal.columns) else None
    auc = {} if sep is None else dict(zip(sep["column"], sep["auc"], strict=True))
    rows += ids
    rows += separation_findings(X_signal, y, groups)
    rows += monotone_findings(X_signal, y, auc)
    rows += certain_level_findings(X_signal, y)
    rows += missingness_findings(X_signal, y)
    rows += duplicate_findings(X_signal, y)
    rows += _combined(rows)
    checks = [
        "constant",
        "id-like",
        "separation",
        "monotone",
        "certain levels",
        "missingness",
        "near-duplicate",
        "overwritten copy",
        "combined",
    ]
    return rows, checks


def audit_flat(
    table: pd.DataFrame,
    *,
    label: str,
    id_column: str | None = None,
    time_column: str | None = None,
    positive: Any = None,
    na_values: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> AuditReport:
    """Audit one row per lead with a label column for leakage before training on it.

    Parameters
    ----------
    table : DataFrame
        Profile and pre-aggregated behaviour columns and the label.
    label : str
        The label column (0/1, yes/no, true/false, or any values with ``positive``).
    id_column, time_column : str, optional
        The lead id (used to split the out-of-fold checks by lead, never audited) and a time
        column (not audited).
    positive : optional
        The label value that means converted.
    na_values : sequence of str
        Text values that mean "not answered" (X Education's ``"Select"``).
    exclude : sequence of str
        Columns not to audit.

    Returns
    -------
    AuditReport
        One finding per (check, column): severity, figure, evidence, why and fix.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"stage": ["won", "lost"] * 50, "y": [1, 0] * 50,
    ...                    "size": [1, 2, 3, 4] * 25})
    >>> audit_flat(df, label="y").worst
    'severe'
    """
    missing = [c for c in [label, id_column, time_column, *exclude] if c and c not in table.columns]
    if missing:
        raise DataContractError(
            f"table: column(s) {missing} not found (columns: {list(table.columns)[:12]}). "
            "Fix: check label=, id_column=, time_column= and exclude= (CLI --label, --id-column, "
            "--time-column, --exclude)."
        )
    lab = table[label]
    keep = lab.notna().to_numpy()
    if not keep.any():
        raise DataContractError(f"table.{label}: every label is missing. Fix: pass labelled rows.")
    t = table.loc[keep].reset_index(drop=True)
    if na_values:
        t = t.mask(t.isin(list(na_values)))
    y = label_vector(t[label], label, positive)
    if y.min() == y.max():
        raise DataContractError(
            f"table.{label}: every labelled row has the same outcome ({int(y[0])}); an audit "
            "needs converted and not-converted rows. Fix: check positive= (CLI --positive)."
        )
    groups = t[id_column].to_numpy() if id_column else np.arange(len(t))
    if id_column and t[id_column].duplicated().any():
        dup = t.loc[t[id_column].duplicated(), id_column].tolist()
        raise DataContractError(
            f"table.{id_column}: lead ids repeat ({examples(dup)}). Fix: one row per lead, or "
            "pick another id column."
        )
    drop = [c for c in [label, id_column, time_column, *exclude] if c]
    X = t.drop(columns=drop)
    rows, checks = flat_findings(X, y, groups)
    info = {
        "mode": "flat",
        "rows": len(t),
        "unlabelled_rows": int((~keep).sum()),
        "positive_rate": float(y.mean()),
        "columns": len(X.columns),
        "checks": checks,
    }
    return AuditReport(pd.DataFrame(rows), info)
