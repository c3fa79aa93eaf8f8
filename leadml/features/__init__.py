"""Point-in-time features: FeatureSpec, cut-off schedules and training sets."""

from leadml.features._builder import (
    build_features,
    build_training_set,
    compute_features,
    cutoff_exclusions,
    event_tables,
    label_rows,
    training_cutoffs,
)
from leadml.features._engines import ENGINES, Engine, choose_engine, run_sql
from leadml.features._flat import build_flat_training_set
from leadml.features._measures import (
    AGGREGATES,
    Aggregate,
    EventMeasure,
    event_measures,
    measures_sql,
)
from leadml.features._partitioned import PartitionedBuild, write_training_set
from leadml.features._plan import DAY_US, build_plan, feature_sql
from leadml.features._spark import (
    SparkEvents,
    spark_events,
    spark_frame,
    spark_safe_pandas,
    spark_session,
    spark_unknown_leads,
)
from leadml.features._spec import FAMILIES, OTHER_LEVEL, FeatureSpec
from leadml.features._time import make_cutoffs, parse_duration, to_us

__all__ = [
    "AGGREGATES",
    "DAY_US",
    "ENGINES",
    "FAMILIES",
    "OTHER_LEVEL",
    "Aggregate",
    "Engine",
    "EventMeasure",
    "FeatureSpec",
    "PartitionedBuild",
    "SparkEvents",
    "build_features",
    "build_flat_training_set",
    "build_plan",
    "build_training_set",
    "choose_engine",
    "compute_features",
    "cutoff_exclusions",
    "event_measures",
    "event_tables",
    "feature_sql",
    "label_rows",
    "make_cutoffs",
    "measures_sql",
    "parse_duration",
    "run_sql",
    "spark_events",
    "spark_frame",
    "spark_safe_pandas",
    "spark_session",
    "spark_unknown_leads",
    "to_us",
    "training_cutoffs",
    "write_training_set",
]
