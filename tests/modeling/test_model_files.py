"""The model folder: never deletes what leadml did not write, atomic replacement on request only,
the user's umask, and every file checked against its checksum before LightGBM reads it."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pandas as pd
import pytest

from leadml.exceptions import ConfigError
from leadml.modeling import LeadScoringModel, train_flat


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(3)
    n = 2000
    table = pd.DataFrame(
        {
            "id": [f"x{i}" for i in range(n)],
            "source": rng.choice(["web", "ads", "partner"], n),
            "visits": rng.poisson(3, n).astype(float),
        }
    )
    logit = -2 + 0.4 * table["visits"] + (table["source"] == "partner")
    table["won"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    res = train_flat(table, label="won", id_column="id", split="random", n_boot=0)
    return res.model, table.drop(columns=["won"]).rename(columns={"id": "lead_id"}).head(20)


def test_a_folder_with_other_files_is_never_emptied(tmp_path, model):
    m, _ = model
    out = tmp_path / "x"
    (out / "sub").mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"not empty and is not a leadml model.*'notes.txt'"):
        m.save(out)
    with pytest.raises(ConfigError, match=r"never deletes what it did not write"):
        m.save(out, overwrite=True)
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "sub").is_dir()


def test_a_model_is_replaced_only_on_request_and_atomically(tmp_path, model):
    m, leads = model
    out = m.save(tmp_path / "model")
    with pytest.raises(ConfigError, match=r"already holds a leadml model.*--overwrite"):
        m.save(out)
    (out / "report").mkdir()  # what the CLI writes beside the model
    m.save(out, overwrite=True)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers
    (out / "mine.csv").write_text("a")
    with pytest.raises(ConfigError, match=r"also 'mine.csv', which leadml did not write"):
        m.save(out, overwrite=True)
    assert (out / "mine.csv").exists()
    pd.testing.assert_frame_equal(LeadScoringModel.load(out).score(leads), m.score(leads))


def test_outputs_respect_the_umask(tmp_path, model):
    m, _ = model
    old = os.umask(0o022)
    try:
        out = m.save(tmp_path / "model")
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {0o644}


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda d: (d / "lightgbm_model.txt").write_bytes(
                (d / "lightgbm_model.txt").read_bytes()[:500]
            ),
            r"'lightgbm_model.txt' is damaged or was edited",
        ),
        (lambda d: (d / "calibrator.json").unlink(), r"\['calibrator.json'\] missing"),
        (
            lambda d: (d / "feature_spec.json").write_text('{"params": '),
            r"'feature_spec.json' is damaged",
        ),
        (lambda d: (d / "lightgbm_model.txt").unlink(), r"\['lightgbm_model.txt'\] missing"),
        (
            lambda d: (d / "metadata.json").write_text('{"format_ver'),
            r"metadata.json: damaged \(not valid JSON",
        ),
        (lambda d: (d / "metadata.json").unlink(), r"is not a leadml model folder"),
    ],
)
def test_a_damaged_model_folder_is_a_clear_error(tmp_path, model, damage, message):
    m, _ = model
    out = m.save(tmp_path / "model")
    damage(out)
    with pytest.raises(ConfigError, match=message):
        LeadScoringModel.load(out)


def test_a_model_saved_without_checksums_still_loads_with_a_warning(tmp_path, model):
    m, leads = model
    out = m.save(tmp_path / "model")
    meta = json.loads((out / "metadata.json").read_text())
    meta.pop("checksums")
    meta["format_version"] = 1
    (out / "metadata.json").write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match=r"without checksums"):
        loaded = LeadScoringModel.load(out)
    pd.testing.assert_frame_equal(loaded.score(leads), m.score(leads))


def test_an_unwritable_destination_is_refused_before_any_work(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ConfigError, match=r"cannot write in .*a_file"):
        LeadScoringModel.check_destination(tmp_path / "a_file" / "model")
    with pytest.raises(ConfigError, match=r"is a file"):
        LeadScoringModel.check_destination(tmp_path / "a_file")
