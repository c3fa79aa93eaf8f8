"""Point-in-time features: FeatureSpec, cut-off schedules and training sets."""

from leadml.features._builder import build_features, build_training_set, label_rows
from leadml.features._flat import build_flat_training_set
from leadml.features._partitioned import PartitionedBuild, write_training_set
from leadml.features._spec import FAMILIES, OTHER_LEVEL, FeatureSpec
from leadml.features._sql import build_plan, feature_sql
from leadml.features._time import make_cutoffs, parse_duration

__all__ = [
    "FAMILIES",
    "OTHER_LEVEL",
    "FeatureSpec",
    "PartitionedBuild",
    "build_features",
    "build_flat_training_set",
    "build_plan",
    "build_training_set",
    "feature_sql",
    "label_rows",
    "make_cutoffs",
    "parse_duration",
    "write_training_set",
]
