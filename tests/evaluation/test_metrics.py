"""Metrics: agreement with scikit-learn, hand-computed ECE and lift, bootstrap intervals."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    roc_auc_score,
)
from sklearn.metrics import log_loss as sk_log_loss

from leadml.evaluation import (
    DPI,
    FIGURES,
    METRICS,
    bootstrap_metrics,
    brier_score,
    calibration_bins,
    calibration_slope_intercept,
    capture_at,
    compare_models,
    expected_calibration_error,
    lift_at,
    log_loss,
    metric_table,
    pr_auc,
    roc_auc,
)
from leadml.exceptions import DataContractError


@pytest.fixture
def scored():
    rng = np.random.default_rng(1)
    p = np.round(rng.beta(1, 12, 5000), 3)  # rounded: many ties, like a scorecard
    y = (rng.random(5000) < p).astype(int)
    return y, p


def test_ranking_and_loss_metrics_equal_sklearn(scored):
    y, p = scored
    assert roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert pr_auc(y, p) == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert log_loss(y, p) == pytest.approx(sk_log_loss(y, np.clip(p, 1e-15, 1 - 1e-15)), rel=1e-10)
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p), rel=1e-12)


def test_metric_table_equals_single_functions(scored):
    y, p = scored
    t = metric_table(y, {"m": p})
    for k, f in METRICS.items():
        assert t.loc["m", k] == pytest.approx(f(y, p), rel=1e-12, abs=1e-12), k


def test_ece_by_hand():
    # 10 rows, 2 equal-frequency bins: {0.1 x5} and {0.5 x5}
    p = np.array([0.1] * 5 + [0.5] * 5)
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 0, 0])
    # bin 1: predicted 0.1, observed 0.2; bin 2: predicted 0.5, observed 0.6
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.5 * 0.1 + 0.5 * 0.1)
    t = calibration_bins(y, p, n_bins=2)
    assert t["n"].tolist() == [5, 5]
    assert t["y_rate"].tolist() == pytest.approx([0.2, 0.6])
    # uniform bins on [0, 1]: 0.1 -> bin 1, 0.5 -> bin 5 (of 10)
    tu = calibration_bins(y, p, n_bins=10, strategy="uniform")
    assert tu["bin"].tolist() == [1, 5]


def test_ece_keeps_ties_in_one_bin_and_is_small_when_calibrated():
    p = np.array([0.2] * 90 + [0.9] * 10)
    y = np.r_[np.ones(18), np.zeros(72), np.ones(9), np.zeros(1)]
    # 10 quantile bins requested, but only two distinct scores: two bins, both perfect
    assert len(calibration_bins(y, p)) == 2
    assert expected_calibration_error(y, p) == pytest.approx(0.0, abs=1e-12)
    rng = np.random.default_rng(0)
    pp = rng.uniform(0, 0.3, 200_000)
    yy = (rng.random(len(pp)) < pp).astype(int)
    assert expected_calibration_error(yy, pp) < 0.005
    assert expected_calibration_error(yy, np.clip(pp * 1.5, 0, 1)) > 0.04  # over-confident


def test_lift_and_capture_split_ties_pro_rata():
    p = np.array([0.9, 0.5, 0.5, 0.5, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1])
    y = np.array([1, 1, 0, 0, 0, 1, 0, 0, 0, 0])
    # top 30 %: the 0.9 row plus 2 of the 4 tied 0.5 rows -> 1 + 2/4 * 1 = 1.5 conversions
    assert capture_at(y, p, 0.3) == pytest.approx(1.5 / 3)
    assert lift_at(y, p, 0.3) == pytest.approx((1.5 / 3) / (3 / 10))
    # top 10 % is exactly the first row
    assert lift_at(y, p, 0.1) == pytest.approx(1 / 0.3)
    # a constant score has lift 1 everywhere
    assert lift_at(y, np.full(10, 0.3), 0.2) == pytest.approx(1.0)


def test_calibration_slope_and_intercept():
    rng = np.random.default_rng(2)
    z = rng.normal(-2, 1, 100_000)
    p = 1 / (1 + np.exp(-z))
    y = (rng.random(len(p)) < p).astype(int)
    slope, intercept = calibration_slope_intercept(y, p)
    assert slope == pytest.approx(1.0, abs=0.03)
    assert intercept == pytest.approx(0.0, abs=0.06)
    over = 1 / (1 + np.exp(-2 * z))  # twice the log-odds: over-confident
    assert calibration_slope_intercept(y, over)[0] == pytest.approx(0.5, abs=0.03)


def test_bad_inputs_are_named():
    with pytest.raises(DataContractError, match=r"y must be 0/1"):
        roc_auc(np.array([0, 2]), np.array([0.1, 0.2]))
    with pytest.raises(DataContractError, match=r"p must be probabilities"):
        log_loss(np.array([0, 1]), np.array([0.1, np.nan]))
    with pytest.raises(DataContractError, match=r"different lengths"):
        brier_score(np.array([0, 1]), np.array([0.1]))


def test_bootstrap_is_paired_seeded_and_resamples_leads(scored):
    y, p = scored
    worse = np.clip(p + np.random.default_rng(5).normal(0, 0.05, len(p)), 0, 1)
    groups = np.arange(len(y)) // 5
    a = bootstrap_metrics(y, {"good": p, "noisy": worse}, groups=groups, n_boot=60, seed=3)
    b = bootstrap_metrics(y, {"good": p, "noisy": worse}, groups=groups, n_boot=60, seed=3)
    pd.testing.assert_frame_equal(a, b)
    auc = a[(a["metric"] == "auc")].set_index("model")
    assert (auc["low"] <= auc["estimate"]).all()
    assert (auc["estimate"] <= auc["high"]).all()
    diff = auc.loc["noisy - good"]
    assert diff["estimate"] == pytest.approx(roc_auc(y, worse) - roc_auc(y, p))
    # paired differences are tighter than the marginal intervals
    assert diff["high"] - diff["low"] < auc.loc["good", "high"] - auc.loc["good", "low"]


def test_bootstrap_draws_equal_the_resampled_rows(scored):
    """Each draw weighs rows by how often their lead was drawn; the metrics must equal those of
    the resample built row by row (ties, repeated leads and the one-class check included)."""
    from leadml.evaluation._metrics import _draws

    y, p = scored
    y, p = y[:1500].astype(float), p[:1500]
    other = np.round(np.clip(p + np.random.default_rng(8).normal(0, 0.03, len(p)), 0, 1), 2)
    groups = np.repeat(np.arange(500), 3)[np.random.default_rng(9).permutation(1500)]
    names = list(METRICS)
    got = _draws(y, [p, other], groups, 12, 4, names)
    rng = np.random.default_rng(4)
    codes, uniq = pd.factorize(pd.Series(groups))
    members = [np.flatnonzero(codes == i) for i in range(len(uniq))]
    for b in range(12):
        idx = np.concatenate([members[i] for i in rng.integers(0, len(uniq), len(uniq))])
        want = metric_table(y[idx], {"a": p[idx], "b": other[idx]}, metrics=names)
        np.testing.assert_allclose(got[b], want.to_numpy(), rtol=1e-7, atol=1e-9)
    # without groups: rows are the units
    got_rows = _draws(y, [p], None, 3, 1, names)
    rng = np.random.default_rng(1)
    for b in range(3):
        idx = rng.integers(0, len(y), len(y))
        want = metric_table(y[idx], {"a": p[idx]}, metrics=names).to_numpy()[0]
        np.testing.assert_allclose(got_rows[b, 0], want, rtol=1e-7, atol=1e-9)


def test_unknown_metric_is_named(scored):
    y, p = scored
    with pytest.raises(DataContractError, match=r"unknown metric.*'aucc'"):
        metric_table(y, {"m": p}, metrics=["auc", "aucc"])


def test_compare_models_report(tmp_path, scored):
    y, p = scored
    bands = np.where(p > 0.15, "hot", np.where(p > 0.05, "warm", "cold"))
    rep = compare_models(
        y,
        {"rules": np.full(len(y), y.mean()), "model": p},
        bands={"model": bands},
        grades=np.where(p > 0.1, "A1", "B3"),
        n_boot=20,
        info={"title": "test"},
    )
    assert list(rep.metrics.index) == ["rules", "model"]
    assert rep.metrics.loc["rules", "auc"] == pytest.approx(0.5)
    by = rep.by_band.set_index("band")
    assert by["rows"].sum() == len(y)
    assert by.loc["hot", "conversion_rate"] > by.loc["cold", "conversion_rate"]
    md = rep.to_markdown()
    assert "| model |" in md
    assert "Paired differences" in md
    assert "equal-frequency" in md
    paths = rep.write(tmp_path / "rep")
    html = paths["html"].read_text()
    assert html.count("data:image/png;base64") == 4
    for name in ("reliability", "lift", "score_distributions", "conversion_by_band"):
        assert paths[f"figure_{name}"].read_bytes()[:4] == b"\x89PNG"
        # the markdown shows the pictures written next to it
        assert f"(figures/{name}.png)" in paths["markdown"].read_text()
    assert "![" not in md  # without a folder of pictures, no image links
    assert pd.read_csv(paths["metrics"]).shape[0] == 2


def _report(scored):
    y, p = scored
    bands = np.where(p > 0.15, "hot", np.where(p > 0.05, "warm", "cold"))
    return compare_models(
        y,
        {"rules": np.clip(p + 0.02, 0, 1), "model": p},
        bands={"model": bands, "rules": np.where(p > 0.1, "hot", "cold")},
        groups=np.arange(len(y)) // 2,
        n_boot=0,
        info={"title": "test", "bands": ["hot", "warm", "cold"], "horizon": "30d",
              "data": "scored fixture"},
    )  # fmt: skip


def test_write_figures_writes_the_same_bytes_when_the_numbers_are_the_same(tmp_path, scored):
    paths = _report(scored).write_figures(tmp_path / "a")
    assert list(paths) == list(FIGURES)  # no explanation figures without a model
    assert all(p == tmp_path / "a" / f"{n}.png" for n, p in paths.items())
    again = _report(scored).write_figures(tmp_path / "b")
    for name, path in paths.items():
        png = path.read_bytes()
        assert png[:4] == b"\x89PNG"
        assert b"matplotlib" not in png  # no version (nor time) in the file
        assert png == again[name].read_bytes(), name
    width = int.from_bytes(paths["lift"].read_bytes()[16:20], "big")
    assert width == 11 * DPI
    # other numbers, other pictures
    y, p = scored
    other = compare_models(y, {"model": np.sqrt(p)}, n_boot=0).write_figures(tmp_path / "c")
    assert other["reliability"].read_bytes() != paths["reliability"].read_bytes()


def test_bands_count_leads_and_the_html_links_its_sections(scored):
    rep = _report(scored)
    bb = rep.by_band.set_index(["model", "band"])
    assert (bb["leads"] <= bb["rows"]).all()
    assert bb["leads"].sum() >= len(scored[0]) // 2  # two rows per lead in this fixture
    page = rep.to_html()
    ids = set(re.findall(r"<h2 id='(section-\d+)'>", page))
    links = set(re.findall(r"<a href='#(section-\d+)'>", page))
    assert ids == links
    assert len(ids) >= 5
    assert page.count("data:image/png;base64") == len(FIGURES)
    assert "<link rel='icon' href='data:,'>" in page
