"""Out-of-time splits, metrics (including ECE and lift), the comparison report and the funnel."""

from leadml.evaluation._backtest import BacktestFold, plan_backtest, recent_block_start
from leadml.evaluation._funnel import FunnelReport, cohort_start, funnel, outcome_labels
from leadml.evaluation._metrics import (
    METRICS,
    bootstrap_metrics,
    brier_score,
    calibration_bins,
    calibration_in_the_large,
    calibration_slope_intercept,
    capture_at,
    expected_calibration_error,
    lift_at,
    log_loss,
    metric_table,
    pr_auc,
    roc_auc,
)
from leadml.evaluation._plots import DPI, figure_caption, figure_png, horizon_words, pyplot
from leadml.evaluation._report import (
    EXPLAIN_FIGURES,
    FIGURES,
    LABELS,
    ComparisonReport,
    LazyFigures,
    compare_models,
)
from leadml.evaluation._split import TimeSplit, order_split, time_split

__all__ = [
    "DPI",
    "EXPLAIN_FIGURES",
    "FIGURES",
    "LABELS",
    "METRICS",
    "BacktestFold",
    "ComparisonReport",
    "FunnelReport",
    "LazyFigures",
    "TimeSplit",
    "bootstrap_metrics",
    "brier_score",
    "calibration_bins",
    "calibration_in_the_large",
    "calibration_slope_intercept",
    "capture_at",
    "cohort_start",
    "compare_models",
    "expected_calibration_error",
    "figure_caption",
    "figure_png",
    "funnel",
    "horizon_words",
    "lift_at",
    "log_loss",
    "metric_table",
    "order_split",
    "outcome_labels",
    "plan_backtest",
    "pr_auc",
    "pyplot",
    "recent_block_start",
    "roc_auc",
    "time_split",
]
