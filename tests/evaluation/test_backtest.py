"""Backtest origins and recent blocks: property tests on random times, ties and sparse labels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadml.evaluation import plan_backtest, recent_block_start
from leadml.exceptions import ConfigError

rows = st.integers(min_value=2, max_value=400)


@st.composite
def labelled(draw):
    n = draw(rows)
    n_times = draw(st.integers(min_value=2, max_value=n))
    t = np.sort(draw(st.lists(st.integers(0, n_times * 7), min_size=n, max_size=n)))
    rate = draw(st.floats(0.0, 0.6))
    seed = draw(st.integers(0, 10_000))
    y = (np.random.default_rng(seed).random(n) < rate).astype(int)
    perm = np.random.default_rng(seed + 1).permutation(n)  # rows need not be sorted
    return t[perm].astype(np.int64), y[perm]


@given(
    data=labelled(),
    share=st.floats(0.05, 0.45),
    min_conv=st.integers(1, 30),
    max_share=st.floats(0.2, 0.9),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_recent_block_properties(data, share, min_conv, max_share):
    t, y = data
    if len(np.unique(t)) < 2:
        with pytest.raises(ConfigError, match="all rows have the same time"):
            recent_block_start(t, y, share=share, min_conversions=min_conv, max_share=max_share)
        return
    start, met = recent_block_start(
        t, y, share=share, min_conversions=min_conv, max_share=max_share
    )
    block = t >= start
    assert start in set(t.tolist())
    assert (~block).any(), "the block never takes every row"
    # rows sharing a time are never separated: the block is a suffix of the distinct times
    assert t[block].min() == start
    last_time_rows = int((t == t.max()).sum())
    cap = max(max_share * len(t), last_time_rows)
    if block.sum() > cap:
        # only possible when nothing smaller leaves a row before the block
        assert (t < start).sum() > 0
        assert len(np.unique(t[t < start])) == 1
    if met:
        assert y[block].sum() >= min_conv
    # as recent as possible: one distinct time later would break a requirement
    later = np.unique(t[t > start])
    if len(later) and block.sum() <= cap:
        nxt = t >= later[0]
        assert nxt.sum() < share * len(t) or (met and y[nxt].sum() < min_conv) or not met


@given(
    data=labelled(),
    gap=st.integers(0, 30),
    origins=st.integers(1, 3),
    share=st.floats(0.05, 0.3),
    min_conv=st.integers(1, 10),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_plan_backtest_properties(data, gap, origins, share, min_conv):
    t, y = data
    try:
        folds = plan_backtest(
            t, y, gap=gap, origins=origins, test_share=share, min_test_conversions=min_conv
        )
    except ConfigError as exc:
        message = str(exc)
        folds = []
    if not folds:
        assert any(k in message for k in ("no conversion", "distinct cut-off time", "converted"))
        return
    assert len(folds) == origins
    for i, f in enumerate(folds):
        # no label used for training was unknown at the origin
        assert (t[f.train] + gap <= f.origin).all()
        assert (t[f.train] < f.origin).all()
        assert (t[f.test] >= f.origin).all()
        if f.test_end is not None:
            assert (t[f.test] < f.test_end).all()
            assert f.test_end == folds[i + 1].origin
        assert not (f.train & f.test).any()
        assert not (f.gap & (f.train | f.test)).any()
        # a test block holds at most max_share (0.5) of the rows before its end, unless only
        # its last time's rows or a single earlier time remain
        before_end = t < f.test_end if f.test_end is not None else np.ones(len(t), dtype=bool)
        last_rows = int((t[before_end] == t[before_end].max()).sum())
        if f.test.sum() > max(0.5 * before_end.sum(), last_rows):
            assert len(np.unique(t[before_end & (t < f.origin)])) == 1
        assert (f.gap == ((t < f.origin) & ~f.train)).all()
        # every window has conversions
        assert y[f.train].sum() > 0
        assert y[f.test].sum() > 0
        # rows with the same time are on the same side
        for v in np.unique(t):
            sides = {
                (bool(a), bool(b)) for a, b in zip(f.train[t == v], f.test[t == v], strict=True)
            }
            assert len(sides) == 1
    latest = folds[-1]
    assert latest.test_end is None
    # every labelled row outside the gap is in some window
    assert (latest.train | latest.test | latest.gap).all()
    origins_ = [f.origin for f in folds]
    assert origins_ == sorted(origins_)


def test_backtest_needs_conversions_on_both_sides():
    t = np.arange(100, dtype=np.int64)
    y = np.zeros(100, dtype=int)
    y[95:] = 1  # conversions only at the very end
    with pytest.raises(
        ConfigError, match=r"no row before the test block \(from 80 on\) converted.*first converted"
    ):
        plan_backtest(t, y, gap=10, test_share=0.2, min_test_conversions=1)
    y[:] = 0
    y[[75, 78, 95]] = 1  # before the test block, but only in the gap: the gap is to blame
    with pytest.raises(ConfigError, match=r"training rows of the fold .* no conversion.*gap"):
        plan_backtest(t, y, gap=10, test_share=0.2, min_test_conversions=1)
    with pytest.raises(ConfigError, match=r"1 distinct cut-off time"):
        plan_backtest(np.zeros(5, dtype=np.int64), y[:5], gap=0, test_share=0.2)


@given(
    data=labelled(),
    gap=st.integers(0, 30),
    share=st.floats(0.05, 0.45),
    min_conv=st.integers(1, 200),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_block_never_grows_past_the_conversions_of_the_rows_before_it(data, gap, share, min_conv):
    t, y = data
    if len(np.unique(t)) < 2:
        return
    start, met = recent_block_start(
        t, y, share=share, min_conversions=min_conv, max_share=0.9, gap=gap
    )
    block = t >= start
    known = (t + gap <= start) & (t < start)
    assert met == (y[block].sum() >= min_conv)
    later = np.unique(t[t > start])
    if y[block].sum() > y[known].sum() and len(later):
        # larger than the balance only to hold its share of the rows (or one time before it)
        nxt = t >= later[0]
        assert nxt.sum() < share * len(t) or start == np.unique(t)[1]
    # and no smaller than it needs to be: one time earlier breaks the balance, max_share or met
    earlier = np.unique(t[t < start])
    if not met and len(earlier) > 1:
        s2 = earlier[-1]
        b2 = t >= s2
        k2 = (t + gap <= s2) & (t < s2)
        assert y[b2].sum() > y[k2].sum() or b2.sum() > max(0.9 * len(t), (t == t.max()).sum())


def test_a_short_history_gives_the_test_block_fewer_conversions_and_says_so():
    # one row per day, 5 % convert: 100 test conversions would leave the training side none
    rng = np.random.default_rng(0)
    t = np.arange(1500, dtype=np.int64)
    y = (rng.random(1500) < 0.05).astype(int)
    f = plan_backtest(t, y, gap=30, test_share=0.2, min_test_conversions=100)[0]
    assert not f.conversions_met
    assert 0 < y[f.test].sum() <= y[f.train].sum()
    assert f.test.sum() >= 0.2 * len(t)
    # with enough history the requirement is met as before
    t = np.arange(6000, dtype=np.int64)
    y = (rng.random(6000) < 0.05).astype(int)
    f = plan_backtest(t, y, gap=30, test_share=0.2, min_test_conversions=100)[0]
    assert f.conversions_met
    assert y[f.test].sum() >= 100


def test_zero_gap_keeps_the_origin_row_out_of_training():
    t = np.arange(50, dtype=np.int64)
    y = np.tile([0, 1], 25)
    f = plan_backtest(t, y, gap=0, test_share=0.2, min_test_conversions=1)[0]
    assert f.train.sum() + f.test.sum() == 50
    assert f.gap.sum() == 0
    assert t[f.test].min() == f.origin == 40
