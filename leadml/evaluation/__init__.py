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
from leadml.evaluation._report import (
    LABELS,
    ComparisonReport,
    LazyFigures,
    compare_models,
    figure_png,
)
from leadml.evaluation._split import TimeSplit, order_split, time_split

__all__ = [
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
    "figure_png",
    "funnel",
    "lift_at",
    "log_loss",
    "metric_table",
    "order_split",
    "outcome_labels",
    "plan_backtest",
    "pr_auc",
    "recent_block_start",
    "roc_auc",
    "time_split",
]
