"""Exact path-dependent tree SHAP values for a LightGBM model, vectorised over rows.

LightGBM's ``pred_contrib`` (equal to ``shap.TreeExplainer`` for LightGBM) runs TreeSHAP row by
row, ``O(leaves x depth^2)`` per tree and row. This module computes the same values differently:

- For a leaf whose path tests ``m`` distinct features, a row's contribution to each of them depends
  only on which of those features the row "agrees with" (follows the path for every test on that
  feature): an ``m``-bit pattern. The contributions for every pattern are precomputed once per
  model with the Shapley weights (a table of ``2^m x m`` values, built by polynomial products:
  the idea of Fast TreeSHAP v2, Yang 2021). Leaves testing more than ``TABLE_MAX_FEATURES``
  features get their values computed for the patterns that actually occur.
- At scoring time, each tree's decisions are evaluated for all rows at once (reproducing LightGBM's
  rules for numbers, missing values and categories), rows with the same decisions in a tree are
  computed once, and each leaf's pattern indexes its table.

Exactness: same definition as TreeSHAP (cover = training counts, duplicate features merged);
the tests check ``|ours - pred_contrib| <= 1e-9`` and that decisions reproduce ``pred_leaf``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["TABLE_MAX_FEATURES", "TreeExplainer", "feature_matrix", "parse_trees"]

K_ZERO_THRESHOLD = 1e-35  # LightGBM's kZeroThreshold
TABLE_MAX_FEATURES = 10  # leaves testing more features are computed per pattern (polynomial)
TABLE_BUDGET_BYTES = 128 * 2**20  # at most this much memory for tables (smallest leaves first)
BLOCK_ROWS = 0  # rows per block (0: split the rows evenly between the threads)


@dataclass
class _Leaf:
    value: float
    feats: np.ndarray  # distinct features on the path (model column indices)
    tests: list[tuple[np.ndarray, np.ndarray]]  # per distinct feature: (nodes, goes_left)
    z: np.ndarray  # zero fraction per distinct feature (product of cover ratios)
    table: np.ndarray | None = None  # (2**m, m) contributions, or None when m is large
    index: int = -1  # LightGBM's leaf index


@dataclass
class _Tree:
    index: int
    split_feature: np.ndarray
    threshold: np.ndarray
    categorical: np.ndarray
    default_left: np.ndarray
    missing_type: np.ndarray
    cat_sets: list[np.ndarray | None]
    left: np.ndarray
    right: np.ndarray
    leaves: list[_Leaf] = field(default_factory=list)
    expected: float = 0.0

    @property
    def n_internal(self) -> int:
        return len(self.split_feature)


def _ints(v: str) -> np.ndarray:
    return np.array(v.split(), dtype=np.int64) if v.strip() else np.zeros(0, np.int64)


def _floats(v: str) -> np.ndarray:
    return np.array(v.split(), dtype=np.float64) if v.strip() else np.zeros(0)


def _shapley_weights(m: int) -> np.ndarray:
    return np.array(
        [math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m) for s in range(m)]
    )


def leaf_contributions(z: np.ndarray, value: float, patterns: np.ndarray) -> np.ndarray:
    """Contributions ``(len(patterns), m)`` of one leaf for each agreement pattern (bit j set:
    the row follows the path for every test on distinct feature j).

    ``phi_j = v * (o_j - z_j) * sum_s w(s, m) [t^s] prod_{k != j} (z_k + t * o_k)``,
    the path-dependent Shapley value of TreeSHAP written as a polynomial product.
    """
    m = len(z)
    bits = ((patterns[:, None] >> np.arange(m)) & 1).astype(bool)
    w = _shapley_weights(m)
    out = np.empty((len(patterns), m))
    for j in range(m):
        h = np.zeros((len(patterns), m))
        h[:, 0] = 1.0
        for k in range(m):
            if k == j:
                continue
            shifted = np.zeros_like(h)
            shifted[:, 1:] = h[:, :-1]
            h = h * z[k] + np.where(bits[:, k : k + 1], shifted, 0.0)
        out[:, j] = value * (bits[:, j] - z[j]) * (h @ w)
    return out


def parse_trees(model_str: str) -> list[_Tree]:
    """Trees of a LightGBM text model (exact thresholds and counts, from ``model_to_string``)."""
    trees: list[_Tree] = []
    for block in model_str.split("\nTree=")[1:]:
        head, _, body = block.partition("\n")
        kv: dict[str, str] = {}
        for line in body.split("\n"):
            if not line or line.startswith("end of trees"):
                break
            k, _, v = line.partition("=")
            kv[k] = v
        leaf_value = _floats(kv["leaf_value"])
        if int(kv["num_leaves"]) <= 1:
            empty = np.zeros(0, np.int64)
            tree = _Tree(
                int(head),
                empty,
                np.zeros(0),
                empty.astype(bool),
                empty.astype(bool),
                empty,
                [],
                empty,
                empty,
            )
            tree.expected = float(leaf_value[0])
            trees.append(tree)
            continue
        dt = _ints(kv["decision_type"])
        thr = _floats(kv["threshold"])
        cat = (dt & 1).astype(bool)
        cat_sets: list[np.ndarray | None] = [None] * len(dt)
        if cat.any():
            bounds = _ints(kv["cat_boundaries"])
            words = _ints(kv["cat_threshold"])
            for node in np.flatnonzero(cat):
                idx = int(thr[node])
                w = words[bounds[idx] : bounds[idx + 1]]
                codes = [
                    32 * i + b
                    for i, word in enumerate(w)
                    for b in range(32)
                    if (int(word) >> b) & 1
                ]
                cat_sets[node] = np.array(codes, dtype=np.int64)
        tree = _Tree(
            index=int(head),
            split_feature=_ints(kv["split_feature"]),
            threshold=thr,
            categorical=cat,
            default_left=((dt >> 1) & 1).astype(bool),
            missing_type=((dt >> 2) & 3).astype(np.int64),
            cat_sets=cat_sets,
            left=_ints(kv["left_child"]),
            right=_ints(kv["right_child"]),
        )
        _build_leaves(tree, leaf_value, _floats(kv["internal_count"]), _floats(kv["leaf_count"]))
        trees.append(tree)
    return trees


def _build_leaves(
    tree: _Tree, leaf_value: np.ndarray, internal_count: np.ndarray, leaf_count: np.ndarray
) -> None:
    def count(child: int) -> float:
        return float(leaf_count[~child]) if child < 0 else float(internal_count[child])

    total = float(internal_count[0])
    tree.expected = float((leaf_value * leaf_count).sum() / total)
    stack: list[tuple[int, list[tuple[int, bool, float]]]] = [(0, [])]
    while stack:
        node, path = stack.pop()
        for child, left in ((int(tree.left[node]), True), (int(tree.right[node]), False)):
            step = [*path, (node, left, count(child) / count(node))]
            if child >= 0:
                stack.append((child, step))
                continue
            feats: list[int] = []
            tests: dict[int, tuple[list[int], list[bool]]] = {}
            zs: dict[int, float] = {}
            for n, go_left, ratio in step:
                f = int(tree.split_feature[n])
                if f not in tests:
                    feats.append(f)
                    tests[f] = ([], [])
                    zs[f] = 1.0
                tests[f][0].append(n)
                tests[f][1].append(go_left)
                zs[f] *= ratio
            leaf = _Leaf(
                value=float(leaf_value[~child]),
                feats=np.array(feats, dtype=np.int64),
                tests=[(np.array(tests[f][0]), np.array(tests[f][1])) for f in feats],
                z=np.array([zs[f] for f in feats]),
                index=~child,
            )
            tree.leaves.append(leaf)
    tree.leaves.sort(key=lambda leaf: leaf.index)


def goes_left(tree: _Tree, node: int, x: np.ndarray) -> np.ndarray:
    """LightGBM's decision at ``node`` for the float64 column ``x`` (True: left child)."""
    nan = np.isnan(x)
    if tree.categorical[node]:
        codes = tree.cat_sets[node]
        assert codes is not None
        xi = np.where(nan, -1.0, x).astype(np.int64)
        return (xi >= 0) & np.isin(xi, codes)
    mt = tree.missing_type[node]
    if mt == 2:  # NaN is missing: default direction
        with np.errstate(invalid="ignore"):
            return np.where(nan, bool(tree.default_left[node]), x <= tree.threshold[node])
    x = np.where(nan, 0.0, x)
    if mt == 1:  # zero (and NaN) is missing
        zero = (x > -K_ZERO_THRESHOLD) & (x <= K_ZERO_THRESHOLD)
        return np.where(zero, bool(tree.default_left[node]), x <= tree.threshold[node])
    return x <= tree.threshold[node]


# ----------------------------------------------------------------------------- compiled kernels
def _kernels() -> tuple[Any, Any]:
    """The row kernel and the table builder, compiled once per machine (cached on disk in the
    user cache folder; the first call in a new process only loads them)."""
    from leadml._compat import import_numba

    import_numba()
    from leadml.explain._kernels import build_table, rows_kernel

    return rows_kernel, build_table


def feature_matrix(X: pd.DataFrame, names: list[str]) -> np.ndarray:
    """Columns ``names`` of ``X`` as LightGBM reads a DataFrame: float64, categorical columns as
    their codes, missing values (and code -1) as NaN."""
    missing = [c for c in names if c not in X.columns]
    if missing:
        raise KeyError(f"feature columns missing: {missing[:5]}")
    dtypes = X.dtypes
    cats = [c for c in names if isinstance(dtypes[c], pd.CategoricalDtype)]
    cat_set = set(cats)
    nums = [c for c in names if c not in cat_set]
    M = np.empty((len(X), len(names)))
    pos = {c: i for i, c in enumerate(names)}
    if nums:
        M[:, [pos[c] for c in nums]] = X[nums].to_numpy(dtype=np.float64, na_value=np.nan)
    for c in cats:
        codes = X[c].cat.codes.to_numpy().astype(np.float64)
        codes[codes < 0] = np.nan
        M[:, pos[c]] = codes
    return M


class TreeExplainer:
    """Exact path-dependent SHAP values of a LightGBM booster (log-odds), equal to
    ``booster.predict(X, pred_contrib=True)`` and to ``shap.TreeExplainer``.

    The trees are flattened into arrays and the work runs in a compiled kernel (numba), in
    parallel over rows; per leaf, the Shapley values of every agreement pattern are tabulated
    once (leaves testing up to ``TABLE_MAX_FEATURES`` features), so a row costs one table lookup
    per leaf and feature instead of TreeSHAP's ``O(depth^2)`` per leaf.

    Parameters
    ----------
    booster : lightgbm.Booster
    """

    def __init__(self, booster: Any) -> None:
        trees = parse_trees(booster.model_to_string())
        self.feature_names = list(booster.feature_name())
        self.n_features = len(self.feature_names)
        self.expected_value = float(sum(t.expected for t in trees))
        self.n_trees = len(trees)
        self._flatten(trees)

    def _flatten(self, trees: list[_Tree]) -> None:
        _, build_table = _kernels()
        # tables for the leaves with the fewest features first, within the memory budget
        sizes = sorted(
            (len(leaf.feats), id(leaf))
            for tree in trees
            for leaf in tree.leaves
            if len(leaf.feats) <= TABLE_MAX_FEATURES
        )
        tabled: set[int] = set()
        spent = 0
        for m, key in sizes:
            cost = (1 << m) * m * 8
            if spent + cost > TABLE_BUDGET_BYTES:
                break
            spent += cost
            tabled.add(key)
        t_node_start: list[int] = []
        t_n_nodes: list[int] = []
        t_order_start: list[int] = []
        t_used_start: list[int] = []
        t_n_used: list[int] = []
        t_leaf_start: list[int] = []
        n_feat: list[int] = []
        n_thr: list[float] = []
        n_kind: list[int] = []
        n_dl: list[bool] = []
        n_cs: list[int] = []
        n_cl: list[int] = []
        cat_words: list[int] = []
        order: list[int] = []
        e_child: list[int] = []
        e_group: list[int] = []
        e_new: list[bool] = []
        e_leaf: list[int] = []
        l_value: list[float] = []
        l_m: list[int] = []
        l_fs: list[int] = []
        l_tb: list[int] = []
        l_zs: list[int] = []
        f_feat: list[int] = []
        used_feat: list[int] = []
        tables: list[np.ndarray] = []
        zs: list[float] = []
        n_tab = 0
        for tree in trees:
            t_node_start.append(len(n_feat))
            t_n_nodes.append(tree.n_internal)
            t_order_start.append(len(order))
            t_leaf_start.append(len(l_value))
            used = sorted({int(f) for f in tree.split_feature})
            t_used_start.append(len(used_feat))
            t_n_used.append(len(used))
            used_feat.extend(used)
            for node in range(tree.n_internal):
                n_feat.append(int(tree.split_feature[node]))
                n_thr.append(float(tree.threshold[node]))
                n_dl.append(bool(tree.default_left[node]))
                if tree.categorical[node]:
                    n_kind.append(3)
                    codes = tree.cat_sets[node]
                    assert codes is not None
                    n_words = int(codes.max()) // 32 + 1 if len(codes) else 0
                    words = [0] * n_words
                    for c in codes:
                        words[int(c) // 32] |= 1 << (int(c) % 32)
                    n_cs.append(len(cat_words))
                    n_cl.append(n_words)
                    cat_words.extend(words)
                else:
                    n_kind.append(int(tree.missing_type[node]))
                    n_cs.append(0)
                    n_cl.append(0)
            edges = [(-1, -1, False, -1)] * (2 * tree.n_internal)
            # preorder walk: group index of each edge's feature on the path, first occurrence?
            stack: list[tuple[int, list[int]]] = [(0, [])] if tree.n_internal else []
            leaf_base = len(l_value)
            while stack:
                node, feats = stack.pop()
                order.append(node)
                f = int(tree.split_feature[node])
                new = f not in feats
                nf = [*feats, f] if new else feats
                g = nf.index(f)
                for side, child in ((0, int(tree.left[node])), (1, int(tree.right[node]))):
                    if child >= 0:
                        edges[2 * node + side] = (child, g, new, -1)
                        stack.append((child, nf))
                    else:
                        edges[2 * node + side] = (-1, g, new, leaf_base + (~child))
            # leaves in LightGBM leaf-index order
            for leaf in tree.leaves:  # sorted by LightGBM leaf index
                m = len(leaf.feats)
                l_value.append(leaf.value)
                l_m.append(m)
                l_fs.append(len(f_feat))
                f_feat.extend(int(x) for x in leaf.feats)
                l_zs.append(len(zs))
                zs.extend(float(v) for v in leaf.z)
                if id(leaf) in tabled:
                    tab = np.empty((1 << m) * m)
                    build_table(leaf.z.astype(np.float64), float(leaf.value), tab)
                    l_tb.append(n_tab)
                    tables.append(tab)
                    n_tab += len(tab)
                else:
                    l_tb.append(-1)
            for child, g, new, lf in edges:
                e_child.append(child)
                e_group.append(g)
                e_new.append(new)
                e_leaf.append(lf)

        def i64(v: list[Any]) -> np.ndarray:
            return np.asarray(v, dtype=np.int64)

        self._arrays = (
            i64(t_node_start),
            i64(t_n_nodes),
            i64(t_order_start),
            i64(t_used_start),
            i64(t_n_used),
            i64(t_leaf_start),
            i64(n_feat),
            np.asarray(n_thr, dtype=np.float64),
            i64(n_kind),
            np.asarray(n_dl, dtype=np.bool_),
            i64(n_cs),
            i64(n_cl),
            i64(cat_words),
            i64(order),
            i64(e_child),
            i64(e_group),
            np.asarray(e_new, dtype=np.bool_),
            i64(e_leaf),
            np.asarray(l_value, dtype=np.float64),
            i64(l_m),
            i64(l_fs),
            i64(l_tb),
            i64(l_zs),
            i64(f_feat),
            i64(used_feat),
            np.concatenate(tables) if tables else np.zeros(0),
            np.asarray(zs, dtype=np.float64),
        )

    def matrix(self, X: pd.DataFrame) -> np.ndarray:
        """The float64 matrix LightGBM predicts on (categories as codes, missing as NaN)."""
        return feature_matrix(X, self.feature_names)

    def shap_values(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """``(n_rows, n_features + 1)``: contributions in log-odds, the last column the base value.

        Rows sum to the raw margin (``booster.predict(X, raw_score=True)``).
        """
        if isinstance(X, pd.DataFrame):
            M = self.matrix(X)
        else:
            M = np.ascontiguousarray(X, dtype=np.float64)
        out = np.zeros((len(M), self.n_features + 1))
        if len(M):
            rows_kernel, _ = _kernels()
            import numba

            block = BLOCK_ROWS or max(1024, -(-len(M) // numba.get_num_threads()))
            rows_kernel(M, out, block, *self._arrays)
        out[:, -1] = self.expected_value
        return out
