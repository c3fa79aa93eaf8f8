"""Per-lead reasons and global drivers from exact tree contributions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import pandas as pd

from leadml.explain._trees import TreeExplainer
from leadml.explain._waterfall import OTHERS, LeadExplanation, build_steps
from leadml.explain._wording import Group, describe, feature_groups


class _Calibrated(Protocol):
    def transform(self, margin: np.ndarray) -> np.ndarray: ...


__all__ = ["REASON_COLUMNS", "Explainer", "reason_columns"]

REASON_COLUMNS = [
    "lead_id",
    "as_of",
    "direction",
    "rank",
    "group",
    "label",
    "feature",
    "value",
    "contribution",
    "effect",
    "text",
]


def reason_columns(k: int) -> list[str]:
    """Text columns added to the scores: ``reason_1..k`` (up) then ``reason_neg_1..k`` (down)."""
    return [f"reason_{i}" for i in range(1, k + 1)] + [f"reason_neg_{i}" for i in range(1, k + 1)]


class Explainer:
    """Reasons for a LightGBM model's calibrated scores, from its parts: the ``booster``, the
    ``calibrator`` (margin to probability, anything with ``transform``) and the fitted feature
    ``spec`` (feature names, groups and wording). It knows nothing of the model bundle.

    - ``contributions``: exact path-dependent SHAP values per feature, in log-odds (equal to
      LightGBM ``pred_contrib`` and ``shap.TreeExplainer``); with the base value they add up to
      the raw margin.
    - Groups: every feature derived from one source forms one reason (e.g. all windows of
      pricing-page views, their count ever and recency); a group's contribution is the sum of its
      features'.
    - Effect in probability terms (one definition): ``effect = p - p_without``, where
      ``p_without`` is the calibrated probability of the margin minus the group's contribution.
    - Wording comes from the feature spec with the lead's actual value of the group's most
      influential feature for that lead (the one with the largest absolute contribution).
    """

    def __init__(
        self,
        booster: Any,
        calibrator: _Calibrated,
        spec: Any,
        *,
        wording: Mapping[str, Any] | None = None,
    ) -> None:
        self.booster = booster
        self.calibrator = calibrator
        self.spec = spec
        self.wording = dict(wording or {})
        self.groups: list[Group] = feature_groups(self.spec, self.wording)
        names = list(self.spec.feature_names_)
        index = {n: i for i, n in enumerate(names)}
        self._group_cols = [np.array([index[f] for f in g.features]) for g in self.groups]
        self._indicator = np.zeros((len(names), len(self.groups)))
        for j, cols in enumerate(self._group_cols):
            self._indicator[cols, j] = 1.0
        self._trees: TreeExplainer | None = None

    @property
    def trees(self) -> TreeExplainer:
        if self._trees is None:
            self._trees = TreeExplainer(self.booster)
        return self._trees

    # ------------------------------------------------------------------ numbers
    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature contributions (log-odds) and ``base_value``; rows sum to the raw margin."""
        values = self.trees.shap_values(X[self.spec.feature_names_])
        return pd.DataFrame(
            values, columns=[*self.spec.feature_names_, "base_value"], index=X.index
        )

    def group_contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-group contributions (log-odds), columns are group keys, plus ``base_value``."""
        values = self.trees.shap_values(X[self.spec.feature_names_])
        groups = values[:, :-1] @ self._indicator
        out = pd.DataFrame(groups, columns=[g.key for g in self.groups], index=X.index)
        out["base_value"] = values[:, -1]
        return out

    # ------------------------------------------------------------------ reasons
    def reasons(
        self, X: pd.DataFrame, k: int = 3, *, structured: bool = True
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Top-``k`` reasons up and down per row of a feature frame.

        Returns ``(wide, long)``: ``wide`` has the text columns of :func:`reason_columns` (empty
        string when a lead has fewer reasons), one row per row of ``X`` in order; ``long`` has
        :data:`REASON_COLUMNS`, one row per (lead, as_of, direction, rank) (empty with
        ``structured=False``, which only builds the text columns).
        """
        if k < 1:
            raise ValueError(f"reasons: k must be at least 1, got {k}.")
        values = self.trees.shap_values(X[self.spec.feature_names_])
        feat = values[:, :-1]
        G = feat @ self._indicator
        margin = values.sum(axis=1)
        p = self.calibrator.transform(margin)
        n, n_groups = G.shape
        kk = min(k, n_groups)
        order_up = np.argsort(-G, axis=1, kind="stable")[:, :kk]
        order_dn = np.argsort(G, axis=1, kind="stable")[:, :kk]
        cache: dict[tuple[str, Any], str] = {}
        Xf = X[self.spec.feature_names_].reset_index(drop=True)
        wide: dict[str, np.ndarray] = {c: np.full(n, "", dtype=object) for c in reason_columns(k)}
        rows: list[pd.DataFrame] = []
        for direction, order, sign in (("up", order_up, 1.0), ("down", order_dn, -1.0)):
            for rank in range(kk):
                g_idx = order[:, rank]
                contrib = G[np.arange(n), g_idx]
                keep = contrib * sign > 0
                if not keep.any():
                    continue
                r_idx = np.flatnonzero(keep)
                g_sel = g_idx[keep]
                texts = np.empty(len(r_idx), dtype=object)
                feats_out = np.empty(len(r_idx), dtype=object)
                vals_out = np.empty(len(r_idx), dtype=object)
                for gi in np.unique(g_sel):
                    sel = np.flatnonzero(g_sel == gi)
                    cols = self._group_cols[gi]
                    best = cols[np.argmax(np.abs(feat[np.ix_(r_idx[sel], cols)]), axis=1)]
                    for s_pos, row, col in zip(sel, r_idx[sel], best, strict=True):
                        name = self.spec.feature_names_[col]
                        v = _plain(Xf.iat[row, col])
                        key = (name, v)
                        if key not in cache:
                            cache[key] = describe(self.spec, name, v, self.wording)
                        texts[s_pos] = cache[key]
                        feats_out[s_pos] = name
                        vals_out[s_pos] = v
                col_name = f"reason_{rank + 1}" if direction == "up" else f"reason_neg_{rank + 1}"
                wide[col_name][r_idx] = texts
                if not structured:
                    continue
                c_sel = contrib[keep]
                effect = p[r_idx] - self.calibrator.transform(margin[r_idx] - c_sel)
                rows.append(
                    pd.DataFrame(
                        {
                            "row": r_idx,
                            "direction": direction,
                            "rank": rank + 1,
                            "group": [self.groups[g].key for g in g_sel],
                            "label": [self.groups[g].label for g in g_sel],
                            "feature": feats_out,
                            "value": vals_out,
                            "contribution": c_sel,
                            "effect": effect,
                            "text": texts,
                        }
                    )
                )
        wide_df = pd.DataFrame(wide, index=pd.RangeIndex(n))
        long = (
            pd.concat(rows, ignore_index=True)
            if rows
            else pd.DataFrame(columns=["row", *REASON_COLUMNS[2:]])
        )
        long = long.sort_values(
            ["row", "direction", "rank"], ascending=[True, False, True], kind="stable"
        )
        return wide_df, long.reset_index(drop=True)

    def explain_lead(self, X: pd.DataFrame, row: int = 0, *, top: int = 8) -> LeadExplanation:
        """Row ``row`` of a feature frame, reason by reason (see :class:`LeadExplanation`): the
        ``top`` groups by absolute contribution, largest first, each worded with the lead's value
        of its most influential feature, then the rest summed; from the model's starting point to
        the lead's calibrated probability. Draw it with :func:`reasons_waterfall`."""
        if not 0 <= row < len(X):
            raise ValueError(f"explain_lead: row {row} is not in the {len(X)} row(s) of X.")
        if top < 1:
            raise ValueError(f"explain_lead: top must be at least 1, got {top}.")
        one = X.iloc[[row]]
        Xf = one[self.spec.feature_names_]
        values = self.trees.shap_values(Xf)[0]
        feat, base = values[:-1], float(values[-1])
        G = feat @ self._indicator
        order = np.argsort(-np.abs(G), kind="stable")
        order = order[G[order] != 0]
        rows: list[dict[str, Any]] = []
        for gi in order[:top]:
            cols = self._group_cols[gi]
            col = int(cols[int(np.argmax(np.abs(feat[cols])))])
            name = self.spec.feature_names_[col]
            v = _plain(Xf.iat[0, col])
            rows.append(
                {
                    "group": self.groups[gi].key,
                    "label": self.groups[gi].label,
                    "text": describe(self.spec, name, v, self.wording),
                    "feature": name,
                    "value": v,
                    "contribution": float(G[gi]),
                }
            )
        rest = order[top:]
        if len(rest):
            rows.append(
                {
                    "group": OTHERS,
                    "label": f"{len(rest)} other reasons",
                    "text": f"{len(rest)} smaller reasons together",
                    "feature": None,
                    "value": None,
                    "contribution": float(G[rest].sum()),
                }
            )
        p0, p1, steps = build_steps(base, rows, self.calibrator.transform)
        return LeadExplanation(
            lead_id=one["lead_id"].iat[0] if "lead_id" in one.columns else None,
            as_of=one["as_of"].iat[0] if "as_of" in one.columns else None,
            base_probability=p0,
            probability=p1,
            steps=steps,
        )

    # ------------------------------------------------------------------ global
    def global_drivers(self, X: pd.DataFrame) -> pd.DataFrame:
        """Mean absolute contribution per group, its mean (direction) and the share of leads it
        pushes up, sorted by importance."""
        G = self.group_contributions(X).drop(columns=["base_value"])
        out = pd.DataFrame(
            {
                "group": G.columns,
                "label": [g.label for g in self.groups],
                "mean_abs_contribution": G.abs().mean().to_numpy(),
                "mean_contribution": G.mean().to_numpy(),
                "share_up": (G > 0).mean().to_numpy(),
                "features": [len(g.features) for g in self.groups],
            }
        )
        return out.sort_values("mean_abs_contribution", ascending=False, kind="stable").reset_index(
            drop=True
        )

    def plots(
        self, X: pd.DataFrame, *, lead: int = 0, top: int = 3, max_rows: int = 5000
    ) -> dict[str, bytes]:
        """PNG plots: a beeswarm summary of the groups, a waterfall for one lead (row ``lead`` of
        ``X``), and dependence plots for the ``top`` groups."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
        import shap

        from leadml.evaluation import figure_png

        Xs = X.iloc[:max_rows]
        values = self.trees.shap_values(Xs[self.spec.feature_names_])
        G = values[:, :-1] @ self._indicator
        labels = [g.label for g in self.groups]
        M = self.trees.matrix(Xs[self.spec.feature_names_])
        # colour each group by the value of its most important feature overall
        head = []
        for cols in self._group_cols:
            imp = np.abs(values[:, cols]).mean(axis=0)
            head.append(int(cols[int(np.argmax(imp))]))
        data = M[:, head]
        expl = shap.Explanation(
            values=G, base_values=values[:, -1], data=data, feature_names=labels
        )
        figs: dict[str, bytes] = {}
        plt.figure()
        shap.plots.beeswarm(expl, max_display=15, show=False)
        figs["shap_summary"] = figure_png(plt.gcf())
        plt.figure()
        shap.plots.waterfall(expl[min(lead, len(Xs) - 1)], max_display=12, show=False)
        figs["shap_waterfall"] = figure_png(plt.gcf())
        order = np.argsort(-np.abs(G).mean(axis=0))[:top]
        for rank, gi in enumerate(order, start=1):
            fig, ax = plt.subplots(figsize=(5.5, 4))
            ax.scatter(data[:, gi], G[:, gi], s=4, alpha=0.4)
            ax.axhline(0, color="k", lw=0.8)
            ax.set(
                xlabel=self.spec.feature_names_[head[gi]],
                ylabel="contribution (log-odds)",
                title=f"Dependence: {labels[gi]}",
            )
            figs[f"shap_dependence_{rank}"] = figure_png(fig)
        return figs


def _plain(raw: Any) -> Any:
    """A feature value as the wording takes it: None when missing, text, or a float."""
    return None if pd.isna(raw) else (raw if isinstance(raw, str) else float(raw))
