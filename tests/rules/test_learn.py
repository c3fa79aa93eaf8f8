from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from leadml.cli import app
from leadml.datasets import make_crm
from leadml.exceptions import DataContractError
from leadml.rules import (
    PointsScorecard,
    compare_scorecards,
    learn_scorecard,
    load_rules,
    write_scorecard,
)

T0 = pd.Timestamp("2024-01-01", tz="UTC")
HORIZON = "14d"


def _synthetic(n: int = 1200, seed: int = 0):
    """Leads whose conversion depends on ``size`` (monotone) and on ``ping`` events decayed with
    a 3-day half-life; ``pong`` events and ``colour`` are noise. One cut-off per lead."""
    rng = np.random.default_rng(seed)
    created = T0 + pd.to_timedelta(rng.uniform(0, 60, n), unit="D")
    ids = [f"L{i:05d}" for i in range(n)]
    size = np.round(np.exp(rng.uniform(0, 8, n)))
    leads = pd.DataFrame(
        {
            "lead_id": ids,
            "created_at": created,
            "size": size,
            "colour": rng.choice(["red", "green", "blue"], n),
        },
        index=np.arange(n)[::-1] * 3,  # a broken index: nothing may rely on it
    )
    as_of = created + pd.to_timedelta(rng.uniform(10, 60, n), unit="D")
    rows = []
    for kind, rate in (("ping", 0.12), ("pong", 0.12)):
        k = rng.poisson(rate * 120, n)
        lead = np.repeat(np.arange(n), k)
        ts = created[lead] + pd.to_timedelta(rng.uniform(0, 120, k.sum()), unit="D")
        rows.append(
            pd.DataFrame({"lead_id": np.asarray(ids)[lead], "timestamp": ts, "event_type": kind})
        )
    events = pd.concat(rows, ignore_index=True)
    ping = events[events["event_type"] == "ping"]
    t = pd.Series(as_of, index=ids)
    age = (ping["lead_id"].map(t) - ping["timestamp"]).dt.total_seconds() / 86400
    seen = age > 0
    d3 = (0.5 ** (age[seen] / 3)).groupby(ping.loc[seen, "lead_id"]).sum().reindex(ids).fillna(0)
    z = -3.2 + 1.6 * d3.to_numpy() + 0.35 * np.log1p(size) / 2
    conv = rng.uniform(size=n) < 1 / (1 + np.exp(-z))
    conversions = pd.DataFrame(
        {
            "lead_id": np.asarray(ids)[conv],
            "converted_at": as_of[conv]
            + pd.to_timedelta(rng.uniform(0.1, 13.9, conv.sum()), unit="D"),
        }
    )
    cutoffs = pd.DataFrame({"lead_id": ids, "as_of": as_of})
    until = as_of.max() + pd.Timedelta("15D")
    return leads, events, conversions, cutoffs, until


@pytest.fixture(scope="module")
def synth():
    return _synthetic()


@pytest.fixture(scope="module")
def learned(synth):
    leads, events, conversions, cutoffs, until = synth
    return learn_scorecard(
        leads, events, conversions, horizon=HORIZON, cutoffs=cutoffs, until=until,
        candidate_half_lives=(3, 30), seed=0,
    )  # fmt: skip


@pytest.fixture(scope="module")
def crm():
    return make_crm(2500, seed=3, days=330)


def test_the_yaml_round_trips_through_load_rules_and_the_scorecard(learned, synth, tmp_path):
    config, report = learned
    path = write_scorecard(config, tmp_path / "learned.yaml")
    again = load_rules(path)
    assert again.to_dict() == config.to_dict()
    description = yaml.safe_load(path.read_text())["description"]
    assert f"{report.pdo:g} points double the odds" in description
    leads, events, _, cutoffs, _ = synth
    sc = PointsScorecard(rules=path)
    X = sc.build_inputs(leads, events, cutoffs)
    pts = sc.points(X)
    assert len(pts) == len(cutoffs)
    assert pts["total_points"].nunique() > 10
    grades = sc.grades(X, pts)
    assert set(grades["band"]) <= set(config.bands)
    assert grades["band"].nunique() == 3


def test_points_are_integers_and_zero_point_criteria_are_dropped(learned):
    config, _ = learned
    table = PointsScorecard(rules=config).table()
    assert len(table) > 3
    assert (table["points"] == table["points"].round()).all()
    assert (table["points"] != 0).all()
    kinds = set(table["kind"])
    assert {"profile", "activity"} <= kinds
    noise = table.loc[table["criterion"].str.startswith("colour"), "points"]
    assert noise.abs().max() <= 3 if len(noise) else True  # colour is noise: few points if any


def test_monotone_bins_are_monotone(learned):
    config, report = learned
    assert report.monotone["size"] == "increasing"
    (rule,) = [r for _, r in config.rules if r.name == "size"]
    bins = sorted(rule.bins, key=lambda b: -np.inf if b.min is None else b.min)
    points = [b.points for b in bins]
    assert points == sorted(points)
    assert points[0] < points[-1]


def test_the_half_life_is_chosen_by_the_data(learned):
    config, report = learned
    hl = report.half_lives.set_index(["criterion", "half_life_days"])
    assert hl.loc[("ping", 3.0), "chosen"]
    assert hl.loc[("ping", 3.0), "val_log_loss"] < hl.loc[("ping", 30.0), "val_log_loss"]
    (ping,) = [r for _, r in config.rules if r.name == "ping"]
    assert ping.decay is not None
    assert ping.decay.days == 3
    assert ping.points > 0
    assert ping.cap > 0


def test_the_same_seed_gives_the_same_yaml(learned, synth, tmp_path):
    leads, events, conversions, cutoffs, until = synth
    again, _ = learn_scorecard(
        leads, events, conversions, horizon=HORIZON, cutoffs=cutoffs, until=until,
        candidate_half_lives=(3, 30), seed=0,
    )  # fmt: skip
    a = write_scorecard(learned[0], tmp_path / "a.yaml").read_text()
    b = write_scorecard(again, tmp_path / "b.yaml").read_text()
    assert a == b


@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(1, 400),
    kind=st.sampled_from(["ping", "pong", "new_type"]),
    delay=st.floats(0.001, 30.0),
    seed=st.integers(0, 2**16),
)
def test_events_after_a_cut_off_do_not_change_what_is_learned(learned, synth, n, kind, delay, seed):
    leads, events, conversions, cutoffs, until = synth
    rng = np.random.default_rng(seed)
    pick = cutoffs.iloc[rng.integers(0, len(cutoffs), n)]
    later = pd.DataFrame(
        {
            "lead_id": pick["lead_id"].to_numpy(),
            "timestamp": pick["as_of"].to_numpy() + pd.to_timedelta(delay, unit="D"),
            "event_type": kind,
        }
    )  # after each lead's own (only) cut-off
    more = pd.concat([events, later], ignore_index=True).sample(frac=1.0, random_state=seed)
    config, _ = learn_scorecard(
        leads, more, conversions, horizon=HORIZON, cutoffs=cutoffs, until=until,
        candidate_half_lives=(3, 30), seed=0,
    )  # fmt: skip
    assert config.to_dict() == learned[0].to_dict()


def test_learned_beats_the_hand_written_scorecard_out_of_time(crm):
    table, cards = compare_scorecards(
        crm.leads, crm.events, crm.conversions, horizon="30d", every="21d",
        baseline="models/scorecard.yaml",
    )  # fmt: skip
    assert list(table.index) == ["hand-written", "learned"]
    assert table.loc["learned", "auc"] > table.loc["hand-written", "auc"]
    origin = table.attrs["origin"]
    assert f"{origin:%Y-%m-%d}" >= "2024-09-01"
    assert table.attrs["test_conversions"] >= 50
    # learned at the origin: its description names training cut-offs before it
    assert "Learned by" in str(cards["learned"].description)


def test_too_few_conversions_is_a_contract_error(synth):
    leads, events, conversions, cutoffs, until = synth
    with pytest.raises(DataContractError, match=r"conversions and .* at least 20 of each"):
        learn_scorecard(
            leads, events, conversions.iloc[:5], horizon=HORIZON, cutoffs=cutoffs, until=until
        )


def test_cli_learns_writes_and_compares(tmp_path):
    crm = make_crm(1500, seed=5, days=300)
    crm.leads.to_csv(tmp_path / "leads.csv", index=False)
    crm.events.to_parquet(tmp_path / "events.parquet")
    crm.conversions.to_csv(tmp_path / "conv.csv", index=False)
    out = tmp_path / "learned.yaml"
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "rules", "learn", "--leads", str(tmp_path / "leads.csv"),
            "--events", str(tmp_path / "events.parquet"), "--conversions", str(tmp_path / "conv.csv"),
            "--every", "28d", "--horizon", "30d", "--pdo", "10", "--half-life", "7",
            "--half-life", "30", "--baseline", "models/scorecard.yaml", "--out", str(out),
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    for text in ("learned scorecard", "10 points double the odds", "held out", "hand-written"):
        assert text in res.output
    config = load_rules(out)
    assert config.fit_rules_
    assert config.engagement_rules_
    decays = {r.decay.days for r in config.engagement_rules_ if getattr(r, "decay", None)}
    assert decays <= {7.0, 30.0}
    shown = runner.invoke(app, ["rules", "show", str(out)])
    assert shown.exit_code == 0, shown.output
    assert "learned scorecard" not in shown.output
    assert "engagement" in shown.output


def test_train_warns_when_its_rules_baseline_learned_from_the_test_rows(synth, tmp_path):
    from leadml.exceptions import LeakageWarning
    from leadml.modeling import train

    leads, events, conversions, cutoffs, until = synth
    config, _ = learn_scorecard(
        leads, events, conversions, horizon=HORIZON, cutoffs=cutoffs, candidate_half_lives=(3,)
    )
    assert pd.Timestamp(config.learned_until) <= until  # never after the end of the data
    path = write_scorecard(config, tmp_path / "learned.yaml")
    assert load_rules(path).learned_until == config.learned_until
    with pytest.warns(LeakageWarning, match=r"learned from outcomes up to .* in-sample"):
        res = train(
            leads, events, conversions, cutoffs=cutoffs, horizon=HORIZON, rules=path,
            observed_until=until, n_boot=0,
        )  # fmt: skip
    assert any("rules learn --until" in n for n in res.notes)
    # learned from what was known at the origin: nothing to warn about
    origin = pd.Timestamp(res.report.info["origin"])
    honest, _ = learn_scorecard(
        leads, events, conversions, horizon=HORIZON, cutoffs=cutoffs, until=origin,
        candidate_half_lives=(3,),
    )  # fmt: skip
    assert pd.Timestamp(honest.learned_until) <= origin
