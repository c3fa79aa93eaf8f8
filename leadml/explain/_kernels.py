"""The compiled kernels of the tree explainer (numba), at module level so numba's on-disk cache
hits in every new process. Import through :func:`leadml.explain._trees._kernels`, which points
numba's cache at leadml's user cache folder first (see :func:`leadml._compat.import_numba`)."""

from __future__ import annotations

import math

import numba
import numpy as np

CACHE_SLOTS = 64  # per leaf without a table: computed patterns kept (direct-mapped cache)

__all__ = ["build_table", "rows_kernel"]

_W = np.zeros((65, 65))  # Shapley weights w(s, m) = s! (m - s - 1)! / m!
for _m in range(1, 65):
    for _s in range(_m):
        _W[_m, _s] = math.factorial(_s) * math.factorial(_m - _s - 1) / math.factorial(_m)


@numba.njit(cache=True)
def poly_leaf(z, value, pattern, out):  # pragma: no cover - compiled
    # P(t) = prod_k (z_k + t o_k); for each j divide out (z_j + t o_j): O(m^2) in all
    m = z.shape[0]
    full = np.zeros(m + 1)
    full[0] = 1.0
    deg = 0
    for k in range(m):
        if (pattern >> k) & 1:
            for s in range(deg + 1, 0, -1):
                full[s] = full[s] * z[k] + full[s - 1]
            full[0] = full[0] * z[k]
            deg += 1
        else:
            for s in range(deg + 1):
                full[s] = full[s] * z[k]
    h = np.empty(m + 1)
    for j in range(m):
        o = (pattern >> j) & 1
        acc = 0.0
        if o:
            # synthetic division of full (degree deg) by (t + z_j), from the top
            h[deg - 1] = full[deg]
            for s in range(deg - 1, 0, -1):
                h[s - 1] = full[s] - z[j] * h[s]
            for s in range(deg):
                acc += h[s] * _W[m, s]
        else:
            for s in range(deg + 1):
                acc += full[s] / z[j] * _W[m, s]
        out[j] = value * (o - z[j]) * acc


@numba.njit(cache=True, inline="always")
def decide(
    M, r, node, n_feat, n_thr, n_kind, n_default_left, n_cat_start, n_cat_len, cat_words
):  # pragma: no cover
    x = M[r, n_feat[node]]
    kind = n_kind[node]
    if kind == 3:  # categorical: NaN and negative codes go right
        if np.isnan(x):
            return False
        xi = int(x)
        if xi < 0:
            return False
        w = xi >> 5
        if w >= n_cat_len[node]:
            return False
        return (cat_words[n_cat_start[node] + w] >> (xi & 31)) & 1 == 1
    if kind == 2:  # NaN is missing: default direction
        if np.isnan(x):
            return n_default_left[node]
        return x <= n_thr[node]
    if np.isnan(x):
        x = 0.0
    if kind == 1 and x > -1e-35 and x <= 1e-35:  # zero is missing
        return n_default_left[node]
    return x <= n_thr[node]


@numba.njit(parallel=True, cache=True)
def rows_kernel(  # pragma: no cover - compiled
    M,
    out,
    block,
    t_node_start,
    t_n_nodes,
    t_order_start,
    t_used_start,
    t_n_used,
    t_leaf_start,
    n_feat,
    n_thr,
    n_kind,
    n_default_left,
    n_cat_start,
    n_cat_len,
    cat_words,
    order,
    e_child,
    e_group,
    e_new,
    e_leaf,
    l_value,
    l_m,
    l_feat_start,
    l_table_start,
    l_z_start,
    f_feat,
    used_feat,
    tables,
    zs,
):
    n_rows = M.shape[0]
    n_trees = t_node_start.shape[0]
    n_cols = out.shape[1]
    max_nodes = 1
    for t in range(n_trees):
        max_nodes = max(max_nodes, t_n_nodes[t])
    max_m = 1
    for i in range(l_m.shape[0]):
        max_m = max(max_m, l_m[i])
    n_blocks = (n_rows + block - 1) // block
    for b in numba.prange(n_blocks):
        r0 = b * block
        r1 = min(n_rows, r0 + block)
        nb = r1 - r0
        keys = np.empty(nb, dtype=np.uint64)
        # per-leaf cache of computed patterns for leaves without a table (direct-mapped)
        cache_key = np.empty((max_nodes + 1, CACHE_SLOTS), dtype=np.int64)
        cache_val = np.empty((max_nodes + 1, CACHE_SLOTS, max_m))
        dec = np.empty(max_nodes, dtype=np.bool_)
        pat = np.zeros(max_nodes, dtype=np.int64)
        buf = np.empty(max_m)
        tmp = np.zeros(n_cols)
        for t in range(n_trees):
            ns = t_node_start[t]
            nn = t_n_nodes[t]
            if nn == 0:
                continue
            dedup = nn <= 64
            cache_key[:, :] = -1
            if dedup:
                for i in range(nb):
                    key = np.uint64(0)
                    for k in range(nn):
                        if decide(
                            M,
                            r0 + i,
                            ns + k,
                            n_feat,
                            n_thr,
                            n_kind,
                            n_default_left,
                            n_cat_start,
                            n_cat_len,
                            cat_words,
                        ):
                            key |= np.uint64(1) << np.uint64(k)
                    keys[i] = key
                srt = np.argsort(keys)
            else:
                srt = np.arange(nb)
            i = 0
            while i < nb:
                # run of rows with the same decisions in this tree
                j = i + 1
                if dedup:
                    while j < nb and keys[srt[j]] == keys[srt[i]]:
                        j += 1
                    key = keys[srt[i]]
                    for k in range(nn):
                        dec[k] = (key >> np.uint64(k)) & np.uint64(1) == np.uint64(1)
                else:
                    for k in range(nn):
                        dec[k] = decide(
                            M,
                            r0 + srt[i],
                            ns + k,
                            n_feat,
                            n_thr,
                            n_kind,
                            n_default_left,
                            n_cat_start,
                            n_cat_len,
                            cat_words,
                        )
                # preorder walk: the agreement pattern of every leaf, built edge by edge
                os_ = t_order_start[t]
                pat[0] = 0
                for q in range(nn):
                    node = order[os_ + q]  # local index, parents before children
                    for side in range(2):
                        e = 2 * (ns + node) + side
                        g = e_group[e]
                        agree = dec[node] == (side == 0)
                        p = pat[node]
                        if e_new[e]:
                            if agree:
                                p |= 1 << g
                        elif not agree:
                            p &= ~(1 << g)
                        child = e_child[e]
                        if child >= 0:
                            pat[child] = p
                        else:
                            leaf = e_leaf[e]
                            m = l_m[leaf]
                            fs = l_feat_start[leaf]
                            tb = l_table_start[leaf]
                            if tb >= 0:
                                base = tb + p * m
                                for jj in range(m):
                                    tmp[f_feat[fs + jj]] += tables[base + jj]
                            else:
                                li = leaf - t_leaf_start[t]
                                slot = ((p * 2654435761) >> 7) & (CACHE_SLOTS - 1)
                                if cache_key[li, slot] != p:
                                    zst = l_z_start[leaf]
                                    poly_leaf(zs[zst : zst + m], l_value[leaf], p, buf)
                                    cache_key[li, slot] = p
                                    for jj in range(m):
                                        cache_val[li, slot, jj] = buf[jj]
                                for jj in range(m):
                                    tmp[f_feat[fs + jj]] += cache_val[li, slot, jj]
                us = t_used_start[t]
                for rr in range(i, j):
                    r = r0 + srt[rr]
                    for u in range(t_n_used[t]):
                        f = used_feat[us + u]
                        out[r, f] += tmp[f]
                for u in range(t_n_used[t]):
                    tmp[used_feat[us + u]] = 0.0
                i = j


@numba.njit(cache=True)
def build_table(z, value, out):  # pragma: no cover - compiled
    m = z.shape[0]
    buf = np.empty(m)
    for p in range(1 << m):
        poly_leaf(z, value, p, buf)
        for j in range(m):
            out[p * m + j] = buf[j]
