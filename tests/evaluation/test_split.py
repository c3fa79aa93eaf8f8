"""Out-of-time, out-of-lead splits: properties (hypothesis) and examples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadml.evaluation import order_split, time_split
from leadml.exceptions import ConfigError, DataContractError


def _frame(n_leads: int, rows: list[tuple[int, int]]) -> pd.DataFrame:
    del n_leads
    return pd.DataFrame(
        {
            "lead_id": [f"L{lead}" for lead, _ in rows],
            "as_of": pd.to_datetime(
                [pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=d) for _, d in rows]
            ),
        },
        index=np.arange(len(rows))[::-1] * 3,  # broken index: nothing may rely on it
    )


rows_strategy = st.lists(
    st.tuples(st.integers(0, 40), st.integers(0, 365)), min_size=8, max_size=300
)


@settings(max_examples=60, deadline=None)
@given(
    rows=rows_strategy,
    policy=st.sampled_from(["hash", "cohort", "latest", "none"]),
    gap=st.integers(0, 40),
    by=st.sampled_from(["time", "rows"]),
)
def test_split_properties(rows, policy, gap, by):
    frame = _frame(40, rows)
    if len(set(d for _, d in rows)) < 6:
        return
    try:
        sp = time_split(
            frame, gap=pd.Timedelta(days=gap) if gap else None, lead_policy=policy, by=by
        )
    except ConfigError as exc:  # too little data for the windows and gaps: said clearly
        message = str(exc)
        sp = None
    if sp is None:
        assert "boundaries must increase" in message or "less than the" in message
        return
    t = frame["as_of"].dt.tz_convert(None).to_numpy()
    bounds = [b.tz_convert(None).to_datetime64() for b in sp.boundaries]
    lead = frame["lead_id"].to_numpy()
    # every row is in exactly one window or has a reason
    assert len(sp.window) == len(frame)
    assert all((w is None) == (r != "") for w, r in zip(sp.window, sp.reason, strict=True))
    # windows are in time order and separated by their boundaries
    for i, w in enumerate(sp.windows):
        m = sp.mask(w)
        if i > 0:
            assert (t[m] >= bounds[i - 1]).all()
        if i < len(bounds):
            end = bounds[i] - np.timedelta64(gap, "D")
            assert (t[m] <= end).all() if gap else (t[m] < bounds[i]).all()
    # no lead on two sides (except with lead_policy='none')
    if policy != "none":
        seen: dict[str, str] = {}
        for w, ld in zip(sp.window, lead, strict=True):
            if w is not None:
                assert seen.setdefault(ld, w) == w
    # deterministic
    again = time_split(
        frame, gap=pd.Timedelta(days=gap) if gap else None, lead_policy=policy, by=by
    )
    assert np.array_equal(sp.window.astype(str), again.window.astype(str))


def test_hash_policy_is_seeded_and_keeps_leads_of_all_ages():
    rng = np.random.default_rng(0)
    rows = [(lead, d) for lead in range(400) for d in range(rng.integers(0, 200), 365, 7)]
    frame = _frame(400, rows)
    a = time_split(frame, gap="30d", gap_before=("test",))
    b = time_split(frame, gap="30d", gap_before=("test",), seed=1)
    assert not np.array_equal(a.window.astype(str), b.window.astype(str))
    s = a.summary(frame.assign(label=0))
    assert (s.set_index("window").loc[list(a.windows), "rows"] > 0).all()
    # the test window holds old leads too (created long before it starts)
    first = frame.groupby("lead_id")["as_of"].min()
    test_leads = frame.loc[a.mask("test"), "lead_id"].unique()
    assert (first[test_leads] < a.boundaries[0]).any()


def test_explicit_boundaries_and_errors():
    frame = _frame(3, [(0, 0), (1, 10), (2, 20), (0, 30)])
    sp = time_split(frame, windows=("train", "test"), boundaries=["2024-01-15"], lead_policy="none")
    assert sp.window.tolist() == ["train", "train", "test", "test"]
    sp = time_split(
        frame, windows=("train", "test"), boundaries=["2024-01-15"], lead_policy="cohort"
    )
    assert sp.window.tolist() == ["train", "train", "test", None]
    assert sp.reason[3] == "lead in another window"
    with pytest.raises(ConfigError, match=r"2 windows need 1 boundaries"):
        time_split(frame, windows=("train", "test"), boundaries=["2024-01-05", "2024-01-09"])
    with pytest.raises(DataContractError, match=r"column 'as_of' missing"):
        time_split(frame.drop(columns=["as_of"]))
    with pytest.raises(ConfigError, match=r"gap_before: \['nope'\]"):
        time_split(frame, gap="1d", gap_before=("nope",))
    with pytest.raises(ConfigError, match=r"less than the 3 gap"):
        time_split(frame, gap="20d")


def test_order_split():
    sp = order_split(
        10, windows=("train", "valid", "calib", "test"), fractions=(0.6, 0.1, 0.1, 0.2)
    )
    assert sp.window.tolist() == ["train"] * 6 + ["valid", "calib", "test", "test"]
    rnd = order_split(1000, shuffle=True, seed=0)
    assert (rnd.window == "test").sum() == 200
    assert not (rnd.window[:600] == "train").all()
