"""LeadScoringModel: everything needed to score a lead, saved as a directory without pickle."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from leadml import _progress
from leadml._files import check_model_dir, make_temp_dir
from leadml.exceptions import (
    ConfigError,
    DataContractError,
    NotFittedError,
    RowsExcludedWarning,
)
from leadml.explain import Explainer, feature_matrix
from leadml.features import Engine, FeatureSpec, compute_features
from leadml.modeling._calibration import Calibrator, ScoreScale
from leadml.modeling._linear import LogisticBaseline
from leadml.rules import PointsScorecard, ScorecardConfig, scorecard_inputs
from leadml.schema import (
    FLAT_TIME,
    LeadData,
    UnknownLeads,
    examples,
    parse_instant,
    validate_cutoffs,
    validate_lead_data,
)

__all__ = ["FORMAT_VERSION", "SCORE_COLUMNS", "LeadScoringModel", "library_versions"]

FORMAT_VERSION = 2
SUPPORTED_FORMATS = (1, 2)  # 1: no checksums (loaded with a warning)
SCORE_COLUMNS = [
    "lead_id",
    "as_of",
    "p_convert",
    "score",
    "grade",
    "band",
    "fit_score",
    "engagement_score",
    "status",
]
STATUS_OPEN, STATUS_LOST = "open", "lost"
FILES = {
    "booster": "lightgbm_model.txt",
    "calibrator": "calibrator.json",
    "spec": "feature_spec.json",
    "rules": "scorecard.yaml",
    "rules_fit": "scorecard_mapping.json",
    "linear": "logistic_baseline.json",
    "meta": "metadata.json",
}
KNOWN_ENTRIES = (*FILES.values(), "report")
"""Everything leadml writes into a model folder (``report`` is the CLI's report folder)."""


def library_versions() -> dict[str, str]:
    """Versions of the libraries a model was trained with (stored in its metadata)."""
    import duckdb
    import lightgbm
    import sklearn

    from leadml._version import __version__

    return {
        "leadml": __version__,
        "python": platform.python_version(),
        "lightgbm": lightgbm.__version__,
        "scikit-learn": sklearn.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "duckdb": duckdb.__version__,
    }


class LeadScoringModel:
    """A trained lead-scoring model: feature spec, LightGBM booster, calibrator, points scorecard,
    logistic-regression reference and metadata.

    Build one with :func:`leadml.modeling.train` (or :func:`train_flat`), score leads with
    :meth:`score`, persist with :meth:`save` / :meth:`load` (a directory of text files: the
    LightGBM model, JSON parameters and the scorecard YAML; no pickle).
    """

    def __init__(
        self,
        *,
        spec: FeatureSpec,
        booster: Any,
        calibrator: Calibrator,
        scale: ScoreScale,
        scorecard: PointsScorecard,
        linear: LogisticBaseline | None = None,
        linear_calibrator: Calibrator | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        spec.check_is_fitted()
        if not hasattr(scorecard, "a_"):
            raise NotFittedError("LeadScoringModel: the scorecard must be fitted (scorecard.fit).")
        self.spec = spec
        self.booster = booster
        self.calibrator = calibrator
        self.scale = scale
        self.scorecard = scorecard
        self.linear = linear
        self.linear_calibrator = linear_calibrator
        self.metadata = dict(metadata or {})
        self.source: str | None = None  # the folder it was loaded from, if any
        self._explainer: Explainer | None = None
        self._cat_levels = {
            spec.profile_names_[c]: list(spec.levels_[c]) for c in spec.categorical_
        }
        pandas_cats = getattr(booster, "pandas_categorical", None) or []
        if pandas_cats and [list(v) for v in pandas_cats] != list(self._cat_levels.values()):
            raise ConfigError(
                "LeadScoringModel: the booster's categorical levels differ from the feature "
                "spec's; the model files do not belong together."
            )
        names = list(booster.feature_name())
        if names != list(spec.feature_names_):
            raise ConfigError(
                "LeadScoringModel: the booster's features differ from the feature spec's "
                f"(first differences: {[a for a, b in zip(names, spec.feature_names_, strict=False) if a != b][:5]})."
            )

    # ------------------------------------------------------------------ properties
    @property
    def feature_names(self) -> list[str]:
        return list(self.spec.feature_names_)

    @property
    def is_flat(self) -> bool:
        """True for a model of one row per lead (flat mode: no events, no cut-off times)."""
        return not self.spec.behaviour

    def __repr__(self) -> str:
        m = self.metadata
        return (
            f"LeadScoringModel(features={len(self.feature_names)}, trees="
            f"{self.booster.num_trees()}, horizon={m.get('horizon')!r}, trained_at="
            f"{m.get('trained_at')!r})"
        )

    # ------------------------------------------------------------------ predictions on features
    def predict_margin(self, X: pd.DataFrame) -> np.ndarray:
        """Raw LightGBM log-odds for a feature frame (columns in the spec's order)."""
        missing = [c for c in self.feature_names if c not in X.columns]
        if missing:
            raise DataContractError(
                f"features: {len(missing)} model feature column(s) missing, e.g. {missing[:5]}. "
                "Fix: build features with this model's feature spec (model.spec)."
            )
        return np.asarray(self.booster.predict(self.matrix(X), raw_score=True), dtype=float)

    def matrix(self, X: pd.DataFrame) -> np.ndarray:
        """The float64 matrix the booster sees: columns in the booster's order, categories as the
        codes of the fitted levels (checked), missing as NaN.

        This replaces LightGBM's own pandas conversion (same values, checked in the tests): the
        columns are taken by name, so a reordered or renamed frame cannot scramble features, and a
        categorical column whose levels differ from the training levels is an error.
        """
        for c, levels in self._cat_levels.items():
            dtype = X[c].dtype
            if not isinstance(dtype, pd.CategoricalDtype) or list(dtype.categories) != levels:
                raise DataContractError(
                    f"features.{c}: expected a categorical column with the {len(levels)} training "
                    "levels. Fix: build features with this model's feature spec (model.spec)."
                )
        return feature_matrix(X, self.feature_names)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of conversion within the horizon, per row of a feature frame."""
        return self.calibrator.transform(self.predict_margin(X))

    def predict_linear(self, X: pd.DataFrame) -> np.ndarray:
        """The logistic-regression reference's calibrated probability."""
        if self.linear is None or self.linear_calibrator is None:
            raise NotFittedError("this model has no logistic-regression reference.")
        return self.linear_calibrator.transform(self.linear.decision_function(X))

    # ------------------------------------------------------------------ scoring
    def _data(
        self,
        leads: pd.DataFrame | LeadData,
        events: pd.DataFrame | None,
        unknown_leads: UnknownLeads,
    ) -> LeadData:
        if isinstance(leads, LeadData):
            return leads
        if self.is_flat:
            if "lead_id" not in leads.columns:
                raise DataContractError(
                    f"leads: column 'lead_id' missing; received {list(leads.columns)[:10]}. Fix: "
                    "rename the id column (flat model)."
                )
            lf = leads.copy()
            if "created_at" not in lf.columns:
                lf["created_at"] = FLAT_TIME
            return validate_lead_data(lf, None, None)
        # events of leads not being scored are not inputs to any requested row: scoring a few
        # leads with the full event log is the normal case (unknown_leads applies to cut-offs)
        return validate_lead_data(leads, events, None, unknown_leads="ignore")

    def _cutoffs(
        self,
        data: LeadData,
        as_of: str | pd.Timestamp | None,
        cutoffs: pd.DataFrame | None,
        unknown_leads: UnknownLeads = "error",
    ) -> pd.DataFrame:
        if as_of is not None and cutoffs is not None:
            raise ConfigError("score: pass as_of= or cutoffs=, not both.")
        if cutoffs is not None:
            return validate_cutoffs(cutoffs, data.leads, unknown_leads=unknown_leads).reset_index(
                drop=True
            )
        if as_of is None:
            if self.is_flat:
                return pd.DataFrame(
                    {
                        "lead_id": data.leads["lead_id"].to_numpy(),
                        "as_of": pd.Series(
                            pd.NaT, index=range(len(data.leads)), dtype="datetime64[us, UTC]"
                        ),
                    }
                )
            raise ConfigError(
                "score: pass as_of= (one time for every lead, e.g. now) or cutoffs= (lead_id, as_of)."
            )
        t = parse_instant(as_of, what="as_of")
        return pd.DataFrame(
            {
                "lead_id": data.leads["lead_id"].to_numpy(),
                "as_of": pd.Series([t] * len(data.leads), dtype="datetime64[us, UTC]"),
            }
        )

    def features(
        self,
        leads: pd.DataFrame | LeadData,
        events: pd.DataFrame | None = None,
        *,
        as_of: str | pd.Timestamp | None = None,
        cutoffs: pd.DataFrame | None = None,
        unknown_leads: UnknownLeads = "error",
        engine: Engine = "auto",
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Model features and scorecard inputs at each requested (lead, as_of), in order, from
        one engine (``auto``: by input size; ``duckdb``; ``numpy``)."""
        data = self._data(leads, events, unknown_leads)
        cut = self._cutoffs(data, as_of, cutoffs, unknown_leads)
        if self.is_flat:
            feats = pd.concat(
                [cut[["lead_id", "as_of"]], self.spec.profile_frame(data.leads, cut["lead_id"])],
                axis=1,
            )
        else:
            feats = compute_features(self.spec, data, cut, engine=engine)
        rules_x = scorecard_inputs(self.scorecard.config_, data, cut, engine=engine)
        return feats, rules_x

    def score(
        self,
        leads: pd.DataFrame | LeadData,
        events: pd.DataFrame | None = None,
        *,
        as_of: str | pd.Timestamp | None = None,
        cutoffs: pd.DataFrame | None = None,
        unknown_leads: UnknownLeads = "error",
        reasons: int = 0,
        engine: Engine = "auto",
    ) -> pd.DataFrame:
        """Score leads: one row per requested (lead, as_of), in the order requested.

        Parameters
        ----------
        leads : DataFrame
            Lead profiles (``lead_id``, ``created_at`` and the profile columns used in training;
            missing values and unseen categories are fine).
        events : DataFrame, optional
            Events (``lead_id, timestamp, event_type[, detail]``). Only events strictly before
            each ``as_of`` are used, so a complete log and one cut at ``as_of`` give the same
            scores. Leads without events are scored.
        as_of : timestamp, optional
            Score every lead in ``leads`` at this time (rows in the order of ``leads``).
        cutoffs : DataFrame, optional
            ``lead_id, as_of`` rows to score (rows in this order).
        reasons : int
            With ``k > 0``, add the top-``k`` reasons up (``reason_1..k``) and down
            (``reason_neg_1..k``) from the LightGBM contributions, worded for a sales rep, and
            ``scorecard_reasons`` (the rules that fired, with their points).
        engine : {"auto", "duckdb", "numpy"}
            Which engine computes the point-in-time measures (same values; ``auto`` picks NumPy
            for a few cut-offs).

        Returns
        -------
        DataFrame
            ``lead_id, as_of, p_convert`` (calibrated probability of converting within the
            horizon), ``score`` (0-100: percentile of ``p_convert`` among the leads scored at
            training time), ``grade`` (scorecard fit letter x engagement digit, e.g. ``A1``),
            ``band`` (from ``score``, e.g. hot/warm/cold), ``fit_score`` and
            ``engagement_score`` (scorecard points), ``status`` (``"lost"`` when the lead was
            closed without converting at or before ``as_of``, from ``leads.lost_at``;
            ``"not_created"`` when ``as_of`` is before the lead's ``created_at``: such rows get no
            probability, score, grade or band, and a warning counts them; else ``"open"``).
            No leads at all give an empty table with these columns.
        """
        if isinstance(leads, pd.DataFrame) and len(leads) == 0:
            if cutoffs is not None and len(cutoffs):
                raise DataContractError(
                    f"cutoffs: {len(cutoffs)} row(s) to score but the leads table is empty. Fix: "
                    "pass the leads the cut-offs refer to."
                )
            return self._empty_scores(reasons)
        _progress.stage("validating the leads and events")
        data = self._data(leads, events, unknown_leads)
        _progress.stage(f"features of {len(data.leads):,} leads")
        feats, rules_x = self.features(
            data, as_of=as_of, cutoffs=cutoffs, unknown_leads=unknown_leads, engine=engine
        )
        _progress.stage(
            f"scoring {len(feats):,} rows" + (f", {reasons} reasons each" if reasons else "")
        )
        p = self.predict_proba(feats)
        score = self.scale.score(p)
        pts = self.scorecard.points(rules_x)
        grades = self.scorecard.grades(rules_x, points=pts)
        out = pd.DataFrame(
            {
                "lead_id": feats["lead_id"].to_numpy(),
                "as_of": _utc(feats["as_of"]),
                "p_convert": p,
                "score": score,
                "grade": grades["grade"].to_numpy(),
                "band": self.scale.band(score),
                "fit_score": pts["fit_points"].to_numpy(),
                "engagement_score": pts["engagement_points"].to_numpy(),
                "status": _status(data.leads, feats),
            }
        )
        if reasons:
            wide, _ = self.explainer.reasons(feats, k=reasons, structured=False)
            out = pd.concat([out, wide], axis=1)
            out["scorecard_reasons"] = self.scorecard.reasons_text(pts)
        if len(out) != len(feats):
            raise RuntimeError("leadml internal error: scoring changed the number of rows.")
        return _flag_not_created(out, data.leads, feats)

    def _empty_scores(self, reasons: int) -> pd.DataFrame:
        cols: dict[str, Any] = {
            "lead_id": pd.Series([], dtype=object),
            "as_of": pd.Series([], dtype="datetime64[us, UTC]"),
            "p_convert": pd.Series([], dtype=float),
            "score": pd.Series([], dtype="int64"),
            "grade": pd.Series([], dtype=object),
            "band": pd.Series([], dtype=object),
            "fit_score": pd.Series([], dtype=float),
            "engagement_score": pd.Series([], dtype=float),
            "status": pd.Series([], dtype=object),
        }
        for i in range(1, reasons + 1):
            cols[f"reason_{i}"] = pd.Series([], dtype=object)
        for i in range(1, reasons + 1):
            cols[f"reason_neg_{i}"] = pd.Series([], dtype=object)
        if reasons:
            cols["scorecard_reasons"] = pd.Series([], dtype=object)
        return pd.DataFrame(cols)

    @property
    def explainer(self) -> Explainer:
        """The :class:`~leadml.explain.Explainer` of this model (built on first use)."""
        if self._explainer is None:
            self._explainer = Explainer(self.booster, self.calibrator, self.spec)
        return self._explainer

    def explain(
        self,
        leads: pd.DataFrame | LeadData,
        events: pd.DataFrame | None = None,
        *,
        as_of: str | pd.Timestamp | None = None,
        cutoffs: pd.DataFrame | None = None,
        k: int = 3,
        unknown_leads: UnknownLeads = "error",
        engine: Engine = "auto",
    ) -> pd.DataFrame:
        """Structured reasons: one row per (lead, as_of, direction, rank) with ``group, label,
        feature, value, contribution`` (log-odds), ``effect`` (probability) and ``text``."""
        feats, _ = self.features(
            leads, events, as_of=as_of, cutoffs=cutoffs, unknown_leads=unknown_leads, engine=engine
        )
        _, long = self.explainer.reasons(feats, k=k)
        ids = feats[["lead_id", "as_of"]].reset_index(drop=True)
        long.insert(0, "lead_id", ids["lead_id"].to_numpy()[long["row"].to_numpy()])
        long.insert(1, "as_of", _utc(ids["as_of"]).iloc[long["row"].to_numpy()].to_numpy())
        return long.drop(columns=["row"])

    # ------------------------------------------------------------------ persistence
    @staticmethod
    def check_destination(path: str | Path, *, overwrite: bool = False) -> Path:
        """Raise now (before any work) if :meth:`save` could not write ``path``: a file, a folder
        holding things leadml did not write, a leadml model without ``overwrite``, no permission."""
        return check_model_dir(path, overwrite=overwrite, known=KNOWN_ENTRIES, marker=FILES["meta"])

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the model folder: every file into a temporary folder beside ``path``, a SHA-256
        of each in ``metadata.json``, then one rename (a reader sees the old model or the new one,
        never half of one).

        ``path`` may be new or empty; a folder holding a leadml model is replaced only with
        ``overwrite=True``; a folder holding anything leadml did not write is refused.
        """
        path = self.check_destination(path, overwrite=overwrite)
        tmp = make_temp_dir(path)
        try:
            self.booster.save_model(str(tmp / FILES["booster"]))
            _dump(tmp / FILES["calibrator"], self.calibrator.to_dict())
            self.spec.to_json(tmp / FILES["spec"])
            scorecard = self.scorecard.to_dict()  # the rules as YAML, the mapping as JSON
            (tmp / FILES["rules"]).write_text(yaml.safe_dump(scorecard["rules"], sort_keys=False))
            _dump(tmp / FILES["rules_fit"], scorecard["mapping"])
            if self.linear is not None and self.linear_calibrator is not None:
                _dump(
                    tmp / FILES["linear"],
                    {
                        "model": self.linear.to_dict(),
                        "calibrator": self.linear_calibrator.to_dict(),
                    },
                )
            checksums = {
                f.name: _sha256(f) for f in sorted(tmp.iterdir()) if f.name != FILES["meta"]
            }
            meta = {
                **self.metadata,
                "format_version": FORMAT_VERSION,
                "scale": self.scale.to_dict(),
                "files": FILES,
                "checksums": checksums,
            }
            _dump(tmp / FILES["meta"], meta)
            old = None
            if path.exists():
                old = path.with_name(f".{path.name}.old-{os.getpid()}")
                path.rename(old)
            tmp.rename(path)
            if old is not None:  # only leadml's own files (checked before the work)
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | Path) -> LeadScoringModel:
        """Read a model folder written by :meth:`save`, after checking every file against the
        checksums in its metadata (a missing, truncated or edited file is an error naming it)."""
        import lightgbm as lgb

        path = Path(path)
        meta = _read_metadata(path)
        if meta.get("format_version") not in SUPPORTED_FORMATS:
            raise ConfigError(
                f"{path}: model format {meta.get('format_version')} is not supported by this leadml "
                f"(formats {list(SUPPORTED_FORMATS)}). Fix: retrain, or use the leadml version in "
                "the metadata."
            )
        _verify(path, meta)
        booster = lgb.Booster(model_file=str(path / FILES["booster"]))
        spec = FeatureSpec.from_json(path / FILES["spec"])
        sc = PointsScorecard.from_dict(
            {
                "rules": ScorecardConfig.from_yaml(path / FILES["rules"]),
                "mapping": json.loads((path / FILES["rules_fit"]).read_text()),
            }
        )
        linear = lin_cal = None
        if (path / FILES["linear"]).exists():
            d = json.loads((path / FILES["linear"]).read_text())
            linear = LogisticBaseline.from_dict(d["model"])
            lin_cal = Calibrator.from_dict(d["calibrator"])
        scale = ScoreScale.from_dict(meta.pop("scale"))
        for key in ("files", "format_version", "checksums"):
            meta.pop(key, None)
        model = cls(
            spec=spec,
            booster=booster,
            calibrator=Calibrator.from_dict(json.loads((path / FILES["calibrator"]).read_text())),
            scale=scale,
            scorecard=sc,
            linear=linear,
            linear_calibrator=lin_cal,
            metadata=meta,
        )
        model.source = str(path.resolve())
        return model


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_metadata(path: Path) -> dict[str, Any]:
    meta_path = path / FILES["meta"]
    if not meta_path.is_file():
        raise ConfigError(
            f"{path} is not a leadml model folder ({FILES['meta']} not found). Fix: pass the "
            "folder written by `leadml train --out` or LeadScoringModel.save."
        )
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{meta_path}: damaged (not valid JSON: {exc}). Fix: copy the model folder again from "
            "where it was written, or retrain."
        ) from None
    if not isinstance(meta, dict):
        raise ConfigError(f"{meta_path}: damaged (not a JSON object). Fix: retrain.")
    return meta


def _verify(path: Path, meta: dict[str, Any]) -> None:
    """Check every model file against its recorded SHA-256 before any of them is parsed."""
    sums = meta.get("checksums")
    required = [FILES[k] for k in ("booster", "calibrator", "spec", "rules", "rules_fit")]
    missing = [f for f in required if not (path / f).is_file()]
    if missing:
        raise ConfigError(
            f"model folder {path}: file(s) {missing} missing; the model is incomplete. Fix: copy "
            "the whole folder again, or retrain."
        )
    if sums is None:
        warnings.warn(
            f"model folder {path}: saved by an older leadml without checksums; its files cannot "
            "be verified before loading.",
            UserWarning,
            stacklevel=3,
        )
        return
    for name, digest in sums.items():
        f = path / name
        if not f.is_file():
            raise ConfigError(
                f"model folder {path}: file {name!r} missing; the model is incomplete. Fix: copy "
                "the whole folder again, or retrain."
            )
        if _sha256(f) != digest:
            raise ConfigError(
                f"model folder {path}: file {name!r} is damaged or was edited (its SHA-256 differs "
                "from the one recorded at save time). Fix: copy the folder again from where it was "
                "written, or retrain."
            )


STATUS_NOT_CREATED = "not_created"


def _flag_not_created(out: pd.DataFrame, leads: pd.DataFrame, feats: pd.DataFrame) -> pd.DataFrame:
    """Rows whose ``as_of`` is before the lead existed are never scored as normal: no probability,
    score, grade, band or reasons, ``status = "not_created"``, and a warning that counts them."""
    if "lead_age_days" not in feats.columns:
        return out
    early = (feats["lead_age_days"].to_numpy(dtype=float) < 0) & feats["as_of"].notna().to_numpy()
    if not early.any():
        return out
    out = out.copy()
    out["score"] = out["score"].astype("Int64")
    out.loc[early, "score"] = pd.NA
    out.loc[early, ["p_convert", "fit_score", "engagement_score"]] = np.nan
    text = [
        c
        for c in out.columns
        if c in ("grade", "band", "scorecard_reasons") or c.startswith("reason")
    ]
    out.loc[early, text] = None
    out.loc[early, "status"] = STATUS_NOT_CREATED
    warnings.warn(
        f"score: {int(early.sum())} of {len(out)} row(s) ask for a score before the lead was "
        f"created (lead ids {examples(out.loc[early, 'lead_id'].tolist())}): not scored, "
        'status "not_created". Fix: score them at or after created_at.',
        RowsExcludedWarning,
        stacklevel=3,
    )
    return out


def _status(leads: pd.DataFrame, feats: pd.DataFrame) -> np.ndarray:
    """``"lost"`` where the lead was closed without converting at or before ``as_of``
    (``leads.lost_at``), else ``"open"``."""
    out = np.full(len(feats), STATUS_OPEN, dtype=object)
    if "lost_at" not in leads.columns or feats["as_of"].isna().all():
        return out
    lost = pd.Series(leads["lost_at"].to_numpy(), index=leads["lead_id"].to_numpy())
    lost_at = feats["lead_id"].map(lost).astype("datetime64[us, UTC]").reset_index(drop=True)
    out[(lost_at <= _utc(feats["as_of"])).fillna(False).to_numpy(dtype=bool)] = STATUS_LOST
    return out


def _utc(s: pd.Series) -> pd.Series:
    """``as_of`` as ``datetime64[us, UTC]`` (missing for flat models), index reset."""
    s = s.reset_index(drop=True)
    if getattr(s.dt, "tz", None) is None:
        s = s.dt.tz_localize("UTC")
    return s.astype("datetime64[us, UTC]")


def _dump(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, default=_json_default))


def _json_default(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (pd.Timestamp, pd.Timedelta)):
        return str(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")
