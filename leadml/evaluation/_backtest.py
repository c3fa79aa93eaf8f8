"""Backtest origins and recent blocks, placed by rows and conversions rather than calendar share.

Everything here works on an integer time per row (microseconds for cut-offs; a rank for flat
tables) and a 0/1 label, so event mode and flat mode share it. Rows with the same time are
never separated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from leadml.exceptions import ConfigError

__all__ = ["BacktestFold", "plan_backtest", "recent_block_start"]


@dataclass(frozen=True)
class BacktestFold:
    """One backtest origin ``T``.

    Attributes
    ----------
    origin : int
        ``T``: the first time of the test block.
    test_end : int or None
        End (exclusive) of the test block; ``None`` for the latest fold (to the end).
    train, test, gap : ndarray of bool
        Per input row: its label was known at ``T`` (``time + gap <= T`` and ``time < T``), it is in the test
        block, or it lies in the gap before ``T`` (used by neither).
    conversions_met : bool
        The test block holds ``min_test_conversions`` conversions. False when the history is too
        small: the block stops growing where it would hold more conversions than the fold's
        training rows (or at ``max_share`` of the rows).
    """

    origin: int
    test_end: int | None
    train: np.ndarray
    test: np.ndarray
    gap: np.ndarray
    conversions_met: bool = True


def recent_block_start(
    t: np.ndarray,
    y: np.ndarray,
    *,
    share: float,
    min_conversions: int,
    max_share: float = 0.5,
    n_total: int | None = None,
    gap: int | None = None,
) -> tuple[int, bool]:
    """Start of the most recent block: the latest time ``s`` such that the rows with
    ``t >= s`` are at least ``share`` of ``n_total`` rows (default: all of ``t``) and hold at least
    ``min_conversions`` conversions, but never more than ``max_share`` of the rows of ``t``
    (``n_total`` sizes ``share`` only), and never all of them (at least one distinct time stays
    before the block).

    With ``gap``, the block grows for conversions only while it holds no more of them than the
    rows whose label was known when it starts (``t + gap <= s``): on a small history, growing it
    to ``min_conversions`` would leave the rows that train for it with few or none (the block
    still holds ``share`` of the rows).

    Returns ``(s, met)``: ``met`` is False when ``min_conversions`` could not be reached within
    ``max_share`` (or the balance with the rows before).
    """
    t = np.asarray(t, dtype=np.int64)
    y = np.asarray(y, dtype=np.int64)
    if len(t) == 0:
        raise ConfigError("recent block: no rows.")
    n = len(t) if n_total is None else int(n_total)
    uniq, inv = np.unique(t, return_inverse=True)
    if len(uniq) < 2:
        raise ConfigError(
            "recent block: all rows have the same time; a block of later rows cannot be placed. "
            "Fix: give rows their own times (cut-offs, or a time column in flat mode)."
        )
    rows_at = np.bincount(inv, minlength=len(uniq))
    conv_at = np.bincount(inv, weights=y, minlength=len(uniq))
    rows_ge = np.cumsum(rows_at[::-1])[::-1]
    conv_ge = np.cumsum(conv_at[::-1])[::-1]
    i_rows = int(np.flatnonzero(rows_ge >= share * n).max(initial=0))
    has_conv = np.flatnonzero(conv_ge >= min_conversions)
    i_conv = int(has_conv.max()) if len(has_conv) else 0
    if gap is not None:
        # conversions among the rows whose label is known at each candidate start
        known = np.searchsorted(uniq, uniq - int(gap), side="right")
        known = np.minimum(known, np.arange(len(uniq)))  # and strictly before it
        conv_known = np.concatenate([[0.0], np.cumsum(conv_at)])[known]
        balanced = np.flatnonzero(conv_ge <= conv_known)
        i_bal = int(balanced.min()) if len(balanced) else len(uniq) - 1
        i_conv = max(i_conv, i_bal)
    i = min(i_rows, i_conv)
    # never more than max_share of these rows (an earlier fold's: those before its end), never
    # everything
    i_lo = int(np.flatnonzero(rows_ge <= max(max_share * len(t), rows_at[-1])).min())
    i = max(i, i_lo, 1)
    return int(uniq[i]), bool(conv_ge[i] >= min_conversions)


def plan_backtest(
    t: np.ndarray,
    y: np.ndarray,
    *,
    gap: int,
    origins: int = 1,
    test_share: float = 0.2,
    min_test_conversions: int = 100,
    max_share: float = 0.5,
    fmt: Callable[[int], str] = str,
) -> list[BacktestFold]:
    """Backtest folds, earliest first, the latest ending at the end of the rows.

    Each test block holds at least ``test_share`` of all rows and ``min_test_conversions``
    conversions (never more than ``max_share`` of the rows before its end, and never more
    conversions than the fold's training rows: on a small history the test block is smaller
    and ``conversions_met`` says so); the fold's training
    rows are those whose label was known at its origin (``t + gap <= origin``). Raises
    :class:`ConfigError` naming the numbers when a fold would have a training part or a test
    block without conversions.
    """
    t = np.asarray(t, dtype=np.int64)
    y = np.asarray(y, dtype=np.int64)
    if origins < 1:
        raise ConfigError(f"backtest.origins must be >= 1, got {origins}.")
    if len(t) == 0:
        raise ConfigError("backtest: no labelled rows.")
    folds: list[BacktestFold] = []
    end: int | None = None
    for k in range(origins):
        before = np.ones(len(t), dtype=bool) if end is None else t < end
        if before.sum() < 2 or len(np.unique(t[before])) < 2:
            if k == 0:
                raise ConfigError(
                    f"backtest: the {len(t):,} labelled rows have {len(np.unique(t))} distinct "
                    f"cut-off time ({fmt(int(t.min()))}): a backtest needs rows at two times at "
                    "least, earlier ones to train on and later ones to test. Fix: more history "
                    "(or more cut-offs per lead), or a shorter horizon."
                )
            raise ConfigError(
                f"backtest: {origins} origins need more distinct cut-off times; fold "
                f"{origins - k} has none left. Fix: use fewer origins (backtest.origins)."
            )
        origin, met = recent_block_start(
            t[before],
            y[before],
            share=test_share,
            min_conversions=min_test_conversions,
            max_share=max_share,
            n_total=len(t),
            gap=gap,
        )
        test = (t >= origin) & before
        train = (t + gap <= origin) & (t < origin)
        gap_rows = (t < origin) & ~train
        if not y[test].any():
            raise ConfigError(
                f"backtest: the test block of the fold with origin {fmt(origin)} has "
                f"{int(test.sum()):,} rows and no conversion. Fix: more history, or fewer "
                "origins (backtest.origins)."
            )
        if not y[train].any() and not y[t < origin].any():
            first = int(t[y == 1].min())
            raise ConfigError(
                f"backtest: no row before the test block (from {fmt(origin)} on) converted: the "
                f"{int((t < origin).sum()):,} rows from {fmt(int(t.min()))} to "
                f"{fmt(int(t[t < origin].max()))} hold no conversion, the first converted row is "
                f"at {fmt(first)}, and {int(y.sum()):,} of {len(t):,} rows converted in all. A "
                "model cannot learn from rows without conversions. If conversions were not "
                "recorded before then, leave those rows out (label_start: auto, or its date). "
                "Fix: more history with conversions."
            )
        if not y[train].any():
            raise ConfigError(
                f"backtest: the training rows of the fold with origin {fmt(origin)} (rows whose "
                f"label was known then: time + gap <= origin) number {int(train.sum()):,}"
                f"{' with no conversion' if train.any() else ''}; the {int(gap_rows.sum()):,} rows "
                f"in the gap before it hold {int(y[gap_rows].sum()):,}, and the first converted row "
                f"is at {fmt(int(t[y == 1].min()))}. The gap (the horizon) is long compared with "
                "the history before the test block. Fix: a shorter horizon, more history, or a "
                "smaller backtest.test_share / fewer origins."
            )
        folds.append(BacktestFold(origin, end, train, test, gap_rows, met))
        end = origin
    return folds[::-1]
