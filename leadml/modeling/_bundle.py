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

from leadml._files import check_model_dir, make_temp_dir
from leadml._math import logit, sigmoid
from leadml.exceptions import (
    ConfigError,
    DataContractError,
    NotFittedError,
)
from leadml.explain import Explainer, LeadExplanation, feature_matrix
from leadml.features import Engine, FeatureSpec
from leadml.modeling._calibration import Calibrator, ScoreScale
from leadml.modeling._linear import LogisticBaseline
from leadml.rules import PointsScorecard, ScorecardConfig
from leadml.schema import LeadData, UnknownLeads
from leadml.scoring import (
    SCORE_COLUMNS,
    compute_measures,
    explain_lead,
    explain_leads,
    requested_cutoffs,
    score_leads,
    validate_inputs,
)

__all__ = ["FORMAT_VERSION", "SCORE_COLUMNS", "LeadScoringModel", "library_versions"]

FORMAT_VERSION = 2
SUPPORTED_FORMATS = (1, 2)  # 1: no checksums (loaded with a warning)
FILES = {
    "booster": "lightgbm_model.txt",
    "calibrator": "calibrator.json",
    "spec": "feature_spec.json",
    "rules": "scorecard.yaml",
    "rules_fit": "scorecard_mapping.json",
    "linear": "logistic_baseline.json",
    "meta": "metadata.json",
}
SEGMENTS_DIR = "segments"
"""Sub-folder of the per-segment models (one model folder each, ``segments/0`` ...)."""
KNOWN_ENTRIES = (*FILES.values(), "report", SEGMENTS_DIR)
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
        calibrator: Calibrator | None,
        scale: ScoreScale,
        scorecard: PointsScorecard,
        linear: LogisticBaseline | None = None,
        linear_calibrator: Calibrator | None = None,
        metadata: dict[str, Any] | None = None,
        segment_column: str | None = None,
        segments: dict[str, LeadScoringModel] | None = None,
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
        self.segment_column = segment_column
        self.segments: dict[str, LeadScoringModel] = dict(segments or {})
        """Per-segment models by segment value (same spec; leads of other values: this model)."""
        if self.segments and segment_column is None:
            raise ConfigError("LeadScoringModel: per-segment models need their segment_column.")
        for value, sub in self.segments.items():
            if sub.segments or sub.booster is None or not _same_spec(sub.spec, spec):
                raise ConfigError(
                    f"LeadScoringModel: the model of segment {value!r} must be a LightGBM model "
                    "with this model's feature spec and no segments of its own."
                )
        self._explainer: Explainer | None = None
        self._cat_levels = {
            spec.profile_names_[c]: list(spec.levels_[c]) for c in spec.categorical_
        }
        if booster is None:  # the rules scorecard as the model (a cold start)
            return
        if calibrator is None:
            raise ConfigError("LeadScoringModel: a LightGBM model needs its calibrator.")
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
    def segment_model(self, value: str) -> LeadScoringModel:
        """The model that scores leads of segment ``value`` (this one when it has none)."""
        return self.segments.get(str(value), self)

    @property
    def feature_names(self) -> list[str]:
        return list(self.spec.feature_names_)

    @property
    def kind(self) -> str:
        """``"model"`` (LightGBM, calibrated) or ``"rules"`` (the points scorecard is the model:
        what a retraining job registers on a cold start, before there is data to learn from)."""
        return "rules" if self.booster is None else "model"

    @property
    def is_flat(self) -> bool:
        """True for a model of one row per lead (flat mode: no events, no cut-off times)."""
        return not self.spec.behaviour

    def __repr__(self) -> str:
        m = self.metadata
        trees = "rules" if self.booster is None else self.booster.num_trees()
        return (
            f"LeadScoringModel(features={len(self.feature_names)}, trees="
            f"{trees}, horizon={m.get('horizon')!r}, trained_at="
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
        if self.booster is None or self.calibrator is None:
            raise NotFittedError(
                "this is a rules model (the scorecard, a cold start): its probabilities come from "
                "the scorecard inputs; use score() or probabilities(features, scorecard_inputs)."
            )
        return self.calibrator.transform(self.predict_margin(X))

    def probabilities(self, X: pd.DataFrame, rules_x: pd.DataFrame) -> np.ndarray:
        """The model's probability per row: LightGBM's from the features ``X``, or for a rules
        model the scorecard's calibrated points from its inputs ``rules_x``."""
        if self.booster is None:
            return np.asarray(self.scorecard.predict_proba(rules_x)[:, 1], dtype=float)
        return self.predict_proba(X)

    def predict_linear(self, X: pd.DataFrame) -> np.ndarray:
        """The logistic-regression reference's calibrated probability."""
        if self.linear is None or self.linear_calibrator is None:
            raise NotFittedError("this model has no logistic-regression reference.")
        return self.linear_calibrator.transform(self.linear.decision_function(X))

    # ------------------------------------------------------------------ scoring
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
        """Model features and scorecard inputs at each requested (lead, as_of), in order (see
        :func:`leadml.scoring.compute_measures`)."""
        data = validate_inputs(self, leads, events, unknown_leads)
        cut = requested_cutoffs(self, data, as_of, cutoffs, unknown_leads)
        return compute_measures(self, data, cut, engine=engine)

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
        """Score leads: one row per requested (lead, as_of), in the order requested, with the
        score columns (see :func:`leadml.scoring.score_leads`, which does the work)."""
        return score_leads(
            self,
            leads,
            events,
            as_of=as_of,
            cutoffs=cutoffs,
            unknown_leads=unknown_leads,
            reasons=reasons,
            engine=engine,
        )

    @property
    def explainer(self) -> Explainer:
        """The :class:`~leadml.explain.Explainer` of this model (built on first use)."""
        if self.booster is None or self.calibrator is None:
            raise NotFittedError(
                "a rules model has no LightGBM contributions to explain: its reasons are the "
                "scorecard rules that fired (score(..., reasons=k) gives them)."
            )
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
        """Structured reasons per (lead, as_of, direction, rank) (see
        :func:`leadml.scoring.explain_leads`)."""
        return explain_leads(
            self,
            leads,
            events,
            as_of=as_of,
            cutoffs=cutoffs,
            k=k,
            unknown_leads=unknown_leads,
            engine=engine,
        )

    def explain_lead(
        self,
        leads: pd.DataFrame | LeadData,
        events: pd.DataFrame | None = None,
        *,
        lead_id: Any,
        as_of: str | pd.Timestamp | None = None,
        top: int = 8,
        engine: Engine = "auto",
    ) -> LeadExplanation:
        """One lead at ``as_of``, reason by reason, from the model's starting point to its
        ``p_convert`` (see :func:`leadml.scoring.explain_lead`); draw it with
        :func:`leadml.explain.reasons_waterfall`.

        Examples
        --------
        >>> lead = model.explain_lead(leads, events, lead_id="L000123", as_of="2024-07-01")
        ... # doctest: +SKIP
        >>> Path("why.png").write_bytes(reasons_waterfall(lead))  # doctest: +SKIP
        """
        out: LeadExplanation = explain_lead(
            self, leads, events, lead_id=lead_id, as_of=as_of, top=top, engine=engine
        )
        return out

    def recalibrated(self, a: float, b: float, *, note: str = "") -> LeadScoringModel:
        """A copy whose probabilities are ``sigmoid(a * logit(p) + b)`` of this model's ``p``
        (a logistic recalibration: ``b`` moves the level, ``a`` the spread; ranking unchanged for
        ``a > 0``). The 0-100 score keeps its meaning (each training-time quantile is moved the
        same way), so the bands and capacity thresholds still hold."""
        if self.booster is None or self.calibrator is None:
            raise NotFittedError("a rules model has no LightGBM calibrator to recalibrate.")
        if not a > 0:
            raise ConfigError(
                f"recalibrated: the slope must be positive (got {a}); it would reverse the model."
            )
        c = self.calibrator
        if c.method == "sigmoid":
            cal = Calibrator("sigmoid", a=a * c.a, b=a * c.b + b, note=note)
        else:
            y = sigmoid(a * (logit(np.asarray(c.y)) + c.shift) + b)
            cal = Calibrator("isotonic", x=list(c.x), y=[float(v) for v in y], note=note)
        q = sigmoid(a * logit(np.asarray(self.scale.quantiles)) + b)
        model = LeadScoringModel(
            spec=self.spec,
            booster=self.booster,
            calibrator=cal,
            scale=ScoreScale([float(v) for v in q], dict(self.scale.bands)),
            scorecard=self.scorecard,
            linear=self.linear,
            linear_calibrator=self.linear_calibrator,
            segment_column=self.segment_column,
            segments={  # the same move for every segment's model
                k: m.recalibrated(a, b, note=note) for k, m in self.segments.items()
            },
            metadata={
                k: v
                for k, v in self.metadata.items()  # a new model: not the old one's registry entry
                if k not in ("registered_name", "registered_version", "mlflow_run_id")
            },
        )
        return model

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
            if self.booster is not None and self.calibrator is not None:
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
            routing = self._save_segments(tmp)
            checksums = {
                f.name: _sha256(f)
                for f in sorted(tmp.iterdir())
                if f.is_file() and f.name != FILES["meta"]
            }
            for sub in routing.get("models", {}).values():  # each checks its own files on load
                checksums[f"{sub}/{FILES['meta']}"] = _sha256(tmp / sub / FILES["meta"])
            meta = {
                **self.metadata,
                **({"segment_routing": routing} if routing else {}),
                "format_version": FORMAT_VERSION,
                "kind": self.kind,
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

    def _save_segments(self, folder: Path) -> dict[str, Any]:
        """Write each segment's model into ``segments/<i>``; the routing for the metadata."""
        if self.segment_column is None:
            return {}
        models = {}
        for i, (value, sub) in enumerate(sorted(self.segments.items())):
            rel = f"{SEGMENTS_DIR}/{i}"
            (folder / SEGMENTS_DIR).mkdir(exist_ok=True)
            sub.save(folder / rel)
            models[value] = rel
        return {"column": self.segment_column, "models": models}

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
        rules_only = meta.get("kind") == "rules"
        booster = None if rules_only else lgb.Booster(model_file=str(path / FILES["booster"]))
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
        for key in ("files", "format_version", "checksums", "kind"):
            meta.pop(key, None)
        routing = meta.pop("segment_routing", None) or {}
        segments = {
            str(value): cls.load(path / rel) for value, rel in routing.get("models", {}).items()
        }
        model = cls(
            spec=spec,
            booster=booster,
            calibrator=None
            if rules_only
            else Calibrator.from_dict(json.loads((path / FILES["calibrator"]).read_text())),
            scale=scale,
            scorecard=sc,
            linear=linear,
            linear_calibrator=lin_cal,
            metadata=meta,
            segment_column=routing.get("column"),
            segments=segments,
        )
        model.source = str(path.resolve())
        return model


def _same_spec(a: FeatureSpec, b: FeatureSpec) -> bool:
    return a is b or a.to_dict() == b.to_dict()


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
    parts: tuple[str, ...] = ("spec", "rules", "rules_fit")
    if meta.get("kind") != "rules":
        parts = ("booster", "calibrator", *parts)
    required = [FILES[k] for k in parts]
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
