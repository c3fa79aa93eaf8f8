"""The promotion gate's checks, the capacity and hashing helpers, and the job configs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadml._math import logit, sigmoid
from leadml.exceptions import ConfigError
from leadml.jobs import (
    GateConfig,
    MonitorConfig,
    RetrainConfig,
    captured_at_capacity,
    evaluate_gate,
    load_job_config,
    rows_hash,
)

FAST = GateConfig(n_boot=100)


def _rows(n=6000, seed=0, weeks=4):
    """Leads with a known probability (the champion's), outcomes drawn from it."""
    rng = np.random.default_rng(seed)
    p = sigmoid(rng.normal(-3.2, 1.0, n))
    y = (rng.random(n) < p).astype(int)
    as_of = pd.Timestamp("2025-03-03", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 7 * weeks, n), unit="D"
    )
    rows = pd.DataFrame(
        {"lead_id": [f"L{i % (n // 2)}" for i in range(n)], "as_of": as_of, "label": y}
    )
    return rows, p, rng


def _check(gate, name):
    return gate.checks.set_index("check").loc[name]


def test_a_challenger_as_good_as_the_champion_passes():
    rows, p, rng = _rows()
    other = sigmoid(logit(p) + rng.normal(0, 0.05, len(p)))  # the same model, refitted
    rules = sigmoid(logit(p) * 0.3 + rng.normal(0, 1.0, len(p)))
    gate = evaluate_gate(rows, other, rules, p, FAST, champion_age_days=10, smoke=(True, "ok"))
    assert gate.passed, gate.reason
    assert set(gate.checks["check"]) >= {
        "auc_non_inferior", "auc_gain", "log_loss", "brier", "captured_at_capacity", "ece",
        "calibration_in_the_large", "beats_rules", "pyfunc_smoke_test",
    }  # fmt: skip


def test_a_challenger_that_ranks_as_well_but_is_miscalibrated_is_refused():
    rows, p, _rng = _rows()
    inflated = sigmoid(logit(p) + 0.8)  # the same ranking, probabilities ~2x too high
    gate = evaluate_gate(rows, inflated, p * 0 + p.mean(), p, FAST, champion_age_days=10)
    assert not gate.passed
    assert _check(gate, "auc_non_inferior")["passed"]  # it ranks exactly as the champion
    assert not _check(gate, "calibration_in_the_large")["passed"]
    assert not _check(gate, "log_loss")["passed"]
    assert "calibration_in_the_large" in gate.reason


def test_a_challenger_that_ranks_worse_is_refused_with_the_interval():
    rows, p, rng = _rows()
    noisy = sigmoid(logit(p) + rng.normal(0, 1.5, len(p)))  # shuffled-label quality
    noisy *= p.mean() / noisy.mean()
    gate = evaluate_gate(rows, noisy, p * 0 + p.mean(), p, FAST, champion_age_days=10)
    c = _check(gate, "auc_non_inferior")
    assert not c["passed"]
    assert c["value"] < -0.01
    assert "paired bootstrap over leads" in c["detail"]
    assert "auc_non_inferior" in gate.reason


def test_staleness_lets_a_not_worse_challenger_through():
    rows, p, rng = _rows()
    same = sigmoid(logit(p) + rng.normal(0, 0.02, len(p)))
    strict = GateConfig(n_boot=100, min_auc_gain=0.02)
    fresh = evaluate_gate(rows, same, p * 0 + 0.04, p, strict, champion_age_days=10)
    assert not fresh.passed
    assert not _check(fresh, "auc_gain")["passed"]
    stale = evaluate_gate(rows, same, p * 0 + 0.04, p, strict, champion_age_days=200)
    assert stale.passed, stale.reason
    assert "stale" in _check(stale, "auc_gain")["detail"]


def test_without_a_champion_only_the_absolute_checks_and_the_rules_count():
    rows, p, _rng = _rows()
    gate = evaluate_gate(rows, p, p * 0 + p.mean(), None, FAST)
    assert gate.passed
    na = gate.checks[gate.checks["passed"].isna()]
    assert set(na["check"]) == {
        "auc_non_inferior",
        "auc_gain",
        "log_loss",
        "brier",
        "captured_at_capacity",
    }
    assert not na["required"].any()
    # ...and a model that does not beat the rules is refused
    worse = evaluate_gate(rows, p * 0 + p.mean(), p, None, FAST)
    assert not worse.passed
    assert not _check(worse, "beats_rules")["passed"]


def test_a_regressing_segment_is_named():
    rows, p, rng = _rows(n=8000)
    seg = pd.DataFrame({"lead_source": np.where(np.arange(len(p)) % 4 == 0, "webinar", "web")})
    bad = p.copy()
    w = seg["lead_source"].to_numpy() == "webinar"
    bad[w] = rng.permutation(bad[w])  # random inside one segment only
    cfg = GateConfig(
        n_boot=100, segments=["lead_source"], min_segment_conversions=20, auc_tolerance=0.5
    )
    gate = evaluate_gate(rows, bad, p * 0 + p.mean(), p, cfg, segments=seg)
    c = _check(gate, "segments")
    assert not c["passed"]
    assert "lead_source=webinar" in c["detail"]
    assert "web:" not in c["detail"]


def test_a_failed_smoke_test_refuses():
    rows, p, _ = _rows()
    gate = evaluate_gate(rows, p, p * 0 + p.mean(), p, FAST, smoke=(False, "pyfunc failed"))
    assert not gate.passed
    assert "pyfunc_smoke_test" in gate.reason


def test_one_class_is_a_clear_error():
    rows, p, _ = _rows()
    rows["label"] = 0
    with pytest.raises(ConfigError, match="only one class"):
        evaluate_gate(rows, p, p, p, FAST)


def test_the_markdown_report_holds_every_check():
    rows, p, _ = _rows()
    gate = evaluate_gate(rows, p, p * 0 + p.mean(), p, FAST)
    md = gate.markdown()
    for name in gate.checks["check"]:
        assert f"| {name} |" in md


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.floats(0, 1), st.booleans()), min_size=1, max_size=60
    ),
    st.one_of(st.none(), st.integers(1, 5)),
    st.floats(0.05, 1.0),
)
def test_captured_at_capacity_is_the_top_k_of_each_week(items, capacity, share):
    as_of = pd.Series(
        pd.Timestamp("2025-01-06", tz="UTC") + pd.to_timedelta([d for d, _, _ in items], unit="D")
    )
    p = np.array([v for _, v, _ in items])
    y = np.array([int(b) for _, _, b in items])
    got = captured_at_capacity(y, p, as_of, capacity=capacity, share=share)
    want = 0
    week = (
        (as_of - pd.Timestamp("1970-01-05", tz="UTC")) // pd.Timedelta(days=7)
    ).to_numpy()  # Mondays
    for w in np.unique(week):
        idx = np.flatnonzero(week == w)
        k = capacity if capacity is not None else int(np.ceil(share * len(idx)))
        order = sorted(idx, key=lambda i: (-p[i], i))[:k]  # ties: row order
        want += int(y[order].sum())
    assert got == want


def test_rows_hash_ignores_order_and_sees_a_changed_label():
    rows, _, _ = _rows(n=200)
    h = rows_hash(rows)
    assert rows_hash(rows.sample(frac=1, random_state=1)) == h
    changed = rows.copy()
    changed.loc[0, "label"] = 1 - changed.loc[0, "label"]
    assert rows_hash(changed) != h


# ------------------------------------------------------------------------------- configs
def test_job_configs_refuse_unknown_keys_with_the_field_named(tmp_path):
    (tmp_path / "r.yaml").write_text("data:\n  leads: l.csv\ngate:\n  auc_tolerence: 0.02\n")
    with pytest.raises(
        ConfigError, match=r"unknown key 'gate.auc_tolerence' \(did you mean 'auc_tolerance'"
    ):
        load_job_config(RetrainConfig, tmp_path / "r.yaml")
    (tmp_path / "m.yaml").write_text("scores: s\ndata:\n  leads: l.csv\nmax_pis: 0.2\n")
    with pytest.raises(ConfigError, match=r"unknown key 'max_pis' \(did you mean 'max_psi'"):
        load_job_config(MonitorConfig, tmp_path / "m.yaml")
    (tmp_path / "t.yaml").write_text("data:\n  leads: l.csv\ntrain:\n  horizn: 30d\n")
    with pytest.raises(ConfigError, match=r"horizn.*did you mean 'horizon'"):
        load_job_config(RetrainConfig, tmp_path / "t.yaml")
    (tmp_path / "v.yaml").write_text("data:\n  leads: l.csv\ngate:\n  mode: sometimes\n")
    with pytest.raises(ConfigError, match=r"gate.mode"):
        load_job_config(RetrainConfig, tmp_path / "v.yaml")


def test_relative_paths_are_read_from_the_config_folder(tmp_path):
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "r.yaml").write_text(
        "data:\n  leads: l.csv\ntrain:\n  rules: ../models/s.yaml\n"
    )
    cfg, base = load_job_config(RetrainConfig, tmp_path / "jobs" / "r.yaml")
    assert base == (tmp_path / "jobs").resolve()
    assert cfg.train.rules == str(base / "../models/s.yaml")


# ------------------------------------------------------------------------------ data sources
def test_data_sources_read_duckdb_tables_parquet_parts_and_a_mapping(tmp_path):
    import duckdb

    from leadml.datasets import make_crm
    from leadml.exceptions import DataContractError
    from leadml.jobs import DataSources

    crm = make_crm(300, days=120, seed=3)
    con = duckdb.connect(str(tmp_path / "crm.duckdb"))
    for name, df in (
        ("crm_leads", crm.leads),
        ("crm_events", crm.events),
        ("crm_conv", crm.conversions),
    ):
        con.register("df", df)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM df")
        con.unregister("df")
    con.close()
    src = DataSources(
        leads="crm_leads", events="crm_events", conversions="crm_conv", duckdb="crm.duckdb"
    )
    t = src.load(tmp_path)
    assert len(t["leads"]) == len(crm.leads)
    assert len(t["events"]) == len(crm.events)
    assert str(t["events"]["timestamp"].dtype).startswith("datetime64")
    with pytest.raises(
        DataContractError,
        match=r"events: table 'nope' not found in the DuckDB database.*crm_events",
    ):
        DataSources(leads="crm_leads", events="nope", duckdb="crm.duckdb").load(tmp_path)
    # a folder of Parquet parts, and a column mapping from the user's names
    parts = tmp_path / "events"
    parts.mkdir()
    half = len(crm.events) // 2
    crm.events.iloc[:half].to_parquet(parts / "part-0.parquet")
    crm.events.iloc[half:].to_parquet(parts / "part-1.parquet")
    crm.leads.rename(columns={"lead_id": "Id", "created_at": "CreatedDate"}).to_csv(
        tmp_path / "leads.csv", index=False
    )
    (tmp_path / "mapping.yaml").write_text("leads:\n  lead_id: Id\n  created_at: CreatedDate\n")
    t = DataSources(leads="leads.csv", events="events", mapping="mapping.yaml").load(tmp_path)
    assert len(t["events"]) == len(crm.events)
    assert {"lead_id", "created_at"} <= set(t["leads"].columns)
    assert str(t["leads"]["created_at"].dtype).startswith("datetime64")
    with pytest.raises(
        DataContractError, match=r"conversions: data source not found: .*missing.csv"
    ):
        DataSources(leads="leads.csv", conversions="missing.csv", mapping="mapping.yaml").load(
            tmp_path
        )
