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
    """

    origin: int
    test_end: int | None
    train: np.ndarray
    test: np.ndarray
    gap: np.ndarray


def recent_block_start(
    t: np.ndarray,
    y: np.ndarray,
    *,
    share: float,
    min_conversions: int,
    max_share: float = 0.5,
    n_total: int | None = None,
) -> tuple[int, bool]:
    """Start of the most recent block: the latest time ``s`` such that the rows with
    ``t >= s`` are at least ``share`` of ``n_total`` rows (default: all of ``t``) and hold at least
    ``min_conversions`` conversions, but never more than ``max_share`` of the rows, and never
    all of them (at least one distinct time stays before the block).

    Returns ``(s, met)``: ``met`` is False when ``min_conversions`` could not be reached within
    ``max_share``.
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
    met = bool(len(has_conv))
    i = min(i_rows, int(has_conv.max())) if met else 0
    # never more than max_share of the rows, never everything
    i_lo = int(np.flatnonzero(rows_ge <= max(max_share * n, rows_at[-1])).min())
    if i < i_lo:
        i, met = i_lo, bool(conv_ge[i_lo] >= min_conversions)
    i = max(i, 1)
    return int(uniq[i]), met


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
    conversions (never more than ``max_share`` of the rows before its end); the fold's training
    rows are those whose label was known at its origin (``t + gap <= origin``). Raises
    :class:`ConfigError` naming the numbers when a fold would have a training part or a test
    block without conversions.
    """
    t = np.asarray(t, dtype=np.int64)
    y = np.asarray(y, dtype=np.int64)
    if origins < 1:
        raise ConfigError(f"backtest.origins must be >= 1, got {origins}.")
    folds: list[BacktestFold] = []
    end: int | None = None
    for k in range(origins):
        before = np.ones(len(t), dtype=bool) if end is None else t < end
        if before.sum() < 2 or len(np.unique(t[before])) < 2:
            raise ConfigError(
                f"backtest: {origins} origins need more distinct cut-off times; fold "
                f"{origins - k} has none left. Fix: use fewer origins (backtest.origins)."
            )
        origin, _ = recent_block_start(
            t[before],
            y[before],
            share=test_share,
            min_conversions=min_test_conversions,
            max_share=max_share,
            n_total=len(t),
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
        if not y[train].any():
            raise ConfigError(
                f"backtest: the training rows of the fold with origin {fmt(origin)} (rows whose "
                f"label was known then: time + gap <= origin) number {int(train.sum()):,} with no "
                "conversion. The gap (the horizon) is long compared with the history before the "
                "test block. Fix: a shorter horizon, more history, or a smaller "
                "backtest.test_share / fewer origins."
            )
        folds.append(BacktestFold(origin, end, train, test, gap_rows))
        end = origin
    return folds[::-1]
