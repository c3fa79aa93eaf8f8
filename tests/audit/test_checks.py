"""Each audit check on small constructed tables: it flags the planted column and not the honest ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import leadml
from leadml.audit import EXIT_FINDINGS, AuditReport, audit_flat
from leadml.exceptions import ConfigError, DataContractError

N = 3000


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    """An honest table: a moderate categorical predictor, a moderate numeric one, noise."""
    rng = np.random.default_rng(0)
    size = rng.choice(["small", "mid", "large"], N)
    visits = rng.poisson(3, N).astype(float)
    logit = -1.0 + 0.6 * (size == "large") - 0.4 * (size == "small") + 0.15 * visits
    y = (rng.random(N) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "lead_id": [f"x{i}" for i in range(N)],
            "size": size,
            "visits": visits,
            "noise": rng.normal(size=N),
            "y": y,
        },
        index=rng.permutation(N) + 10,  # a broken index: nothing may rely on it
    )
    return frame


def flags(rep: AuditReport, check: str, at_least: str = "warning") -> list[str]:
    f = rep.findings
    order = {"severe": 0, "warning": 1, "info": 2}
    f = f[(f["check"] == check) & (f["severity"].map(order) <= order[at_least])]
    return list(f["column"])


def test_honest_table_has_no_warning(base):
    rep = audit_flat(base, label="y", id_column="lead_id")
    assert rep.flagged("warning") == []
    assert rep.exit_code("warning") == 0
    assert list(rep.findings.columns) == [
        "check", "column", "severity", "figure", "evidence", "why", "fix",
    ]  # fmt: skip


def test_separation_flags_a_stage_column_severe(base):
    stage = np.where(base["y"] == 1, "won", "lost")
    stage[:30] = "open"  # a few rows of noise
    rep = audit_flat(base.assign(stage=stage), label="y", id_column="lead_id")
    assert "stage" in flags(rep, "separation", "severe")
    assert rep.worst == "severe"
    assert rep.exit_code() == EXIT_FINDINGS
    assert rep.exit_code("never") == 0
    assert flags(rep, "separation") == ["stage"]  # the honest columns are not flagged
    row = rep.findings[rep.findings["column"] == "stage"].iloc[0]
    assert "exclude=['stage']" in row["fix"]


def test_monotone_numeric_like_call_duration(base):
    rng = np.random.default_rng(1)
    y = base["y"].to_numpy()
    duration = np.exp(rng.normal(5 + 1.6 * y, 0.8))  # measured during the call that converted
    rep = audit_flat(base.assign(duration=duration), label="y", id_column="lead_id")
    assert "duration" in flags(rep, "monotone")
    assert "visits" not in flags(rep, "monotone")


def test_certain_levels_like_sales_tags(base):
    rng = np.random.default_rng(2)
    y = base["y"].to_numpy()
    tag = np.where(
        rng.random(N) < 0.6,
        np.where(y == 1, "will revert", "ringing"),
        rng.choice(["busy", "other"], N),
    )
    rep = audit_flat(base.assign(tag=tag), label="y", id_column="lead_id")
    assert flags(rep, "certain levels", "severe") == ["tag"]


def test_label_dependent_missingness_and_a_missing_at_random_column(base):
    rng = np.random.default_rng(3)
    y = base["y"].to_numpy()
    quality = np.where(rng.random(N) < np.where(y == 1, 0.8, 0.3), "good", None)
    country = np.where(rng.random(N) < 0.3, None, rng.choice(["US", "DE"], N))
    rep = audit_flat(base.assign(quality=quality, country=country), label="y", id_column="lead_id")
    assert flags(rep, "missingness") == ["quality"]
    assert "country" not in flags(rep, "missingness", "info")
    ev = rep.findings.loc[rep.findings["column"] == "quality", "evidence"].iloc[0]
    assert "when missing" in ev
    assert "p = " in ev


def test_na_values_are_read_as_missing(base):
    y = base["y"].to_numpy()
    rng = np.random.default_rng(4)
    quality = np.where(rng.random(N) < np.where(y == 1, 0.8, 0.3), "good", "Select")
    t = base.assign(quality=quality)
    assert "quality" not in flags(audit_flat(t, label="y"), "missingness")
    assert "quality" in flags(audit_flat(t, label="y", na_values=["Select"]), "missingness")


def test_id_like_text_and_record_numbers(base):
    t = base.drop(columns=["lead_id"]).assign(
        prospect=[f"p-{i:05d}" for i in range(N)], number=np.arange(660_000, 660_000 + N)
    )
    rep = audit_flat(t, label="y")
    assert sorted(flags(rep, "id-like")) == ["number", "prospect"]
    assert "visits" not in flags(rep, "id-like")
    # the id column itself is never audited
    rep = audit_flat(base, label="y", id_column="lead_id")
    assert flags(rep, "id-like") == []


def test_constant_near_duplicate_and_overwritten_copy(base):
    rng = np.random.default_rng(5)
    y = base["y"].to_numpy()
    score = rng.integers(7, 20, N)
    index = np.where(score >= 15, "01.High", np.where(score >= 12, "02.Medium", "03.Low"))
    last = rng.choice(["email opened", "sms sent", "page visited"], N)
    # the later copy: overwritten by 'Modified' far more often for the leads that did not convert
    notable = np.where(rng.random(N) < np.where(y == 1, 0.1, 0.5), "Modified", last)
    t = base.assign(flag="No", score=score, index=index, last_activity=last, last_notable=notable)
    rep = audit_flat(t, label="y", id_column="lead_id")
    assert flags(rep, "constant", "info") == ["flag"]
    assert "index" in flags(rep, "near-duplicate", "info")
    assert flags(rep, "overwritten copy") == ["last_notable"]
    # without the label dependence there is no copy finding
    honest = np.where(rng.random(N) < 0.3, "Modified", last)
    rep = audit_flat(t.assign(last_notable=honest), label="y", id_column="lead_id")
    assert flags(rep, "overwritten copy") == []


def test_two_families_of_warnings_make_a_severe_finding(base):
    rng = np.random.default_rng(6)
    y = base["y"].to_numpy()
    # call minutes: recorded only for the leads that were called, longer for those who converted
    called = rng.random(N) < np.where(y == 1, 0.8, 0.4)
    minutes = np.where(called, np.exp(rng.normal(2 + 0.9 * y, 0.8)), np.nan)
    rep = audit_flat(base.assign(minutes=minutes), label="y", id_column="lead_id")
    assert "minutes" in flags(rep, "monotone")
    assert "minutes" in flags(rep, "missingness")
    assert flags(rep, "combined", "severe") == ["minutes"]
    ev = rep.findings.loc[rep.findings["check"] == "missingness", "evidence"].iloc[0]
    assert "the signal is in the missing values" in ev


def test_report_outputs(base, tmp_path):
    stage = np.where(base["y"] == 1, "won", "lost")
    rep = audit_flat(base.assign(stage=stage), label="y")
    md = rep.to_markdown()
    assert md.startswith("| severity | check |")
    assert "stage" in md
    for suffix in (".csv", ".md", ".json"):
        assert rep.write(tmp_path / f"f{suffix}").stat().st_size > 0
    back = pd.read_csv(tmp_path / "f.csv")
    assert list(back["column"]) == list(rep.findings["column"])
    with pytest.raises(ConfigError, match=r"end the path in \.csv, \.md or \.json"):
        rep.write(tmp_path / "f.txt")
    with pytest.raises(ConfigError, match="severity must be one of"):
        rep.exit_code("fatal")
    assert leadml.audit_flat is audit_flat


def test_bad_inputs_name_the_column_and_the_fix(base):
    with pytest.raises(DataContractError, match=r"\['outcome'\] not found.*Fix"):
        audit_flat(base, label="outcome")
    with pytest.raises(DataContractError, match=r"table\.size: the label is not 0/1.*positive="):
        audit_flat(base, label="size")
    with pytest.raises(DataContractError, match=r"same outcome.*positive="):
        audit_flat(base, label="size", positive="tiny")
    with pytest.raises(DataContractError, match=r"table\.size: lead ids repeat"):
        audit_flat(base, label="y", id_column="size")
