"""The jobs leadml runs end to end: the demo, scheduled retraining with a promotion gate,
monitoring against real outcomes, recalibration. Each is one public function the CLI calls."""

from leadml.jobs._config import (
    DataSources,
    GateConfig,
    MonitorConfig,
    RetrainConfig,
    ScoreJobConfig,
    load_job_config,
)
from leadml.jobs._demo import DEMO_FIGURES, DEMO_RULES, DemoResult, run_demo, write_demo_figures
from leadml.jobs._gate import GateResult, captured_at_capacity, evaluate_gate, rows_hash
from leadml.jobs._lock import JobLock, LockHeldError
from leadml.jobs._monitor import (
    EXIT_ALERT,
    MonitorResult,
    expected_auc,
    monitor,
    psi,
    read_scores,
    score_trends,
)
from leadml.jobs._recalibrate import recalibrate, recalibration
from leadml.jobs._retrain import (
    EXIT_KEPT,
    EXIT_LOCKED,
    EXIT_PROMOTED,
    RetrainResult,
    retrain,
)
from leadml.jobs._score import ScoreJobResult, score_job

__all__ = [
    "DEMO_FIGURES",
    "DEMO_RULES",
    "EXIT_ALERT",
    "EXIT_KEPT",
    "EXIT_LOCKED",
    "EXIT_PROMOTED",
    "DataSources",
    "DemoResult",
    "GateConfig",
    "GateResult",
    "JobLock",
    "LockHeldError",
    "MonitorConfig",
    "MonitorResult",
    "RetrainConfig",
    "RetrainResult",
    "ScoreJobConfig",
    "ScoreJobResult",
    "captured_at_capacity",
    "evaluate_gate",
    "expected_auc",
    "load_job_config",
    "monitor",
    "psi",
    "read_scores",
    "recalibrate",
    "recalibration",
    "retrain",
    "rows_hash",
    "run_demo",
    "score_job",
    "score_trends",
    "write_demo_figures",
]
