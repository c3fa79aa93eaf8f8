"""Faster trees for tests whose subject is not the trees (bookkeeping, calibration, scoring paths,
tracking, the retraining gate): learning rate 0.1 and an early-stopping patience of 30 rounds
instead of the defaults (0.03 and 150). The acceptance test, the README figures, the demo, the
shipped pipeline files and the benchmarks keep the library defaults. The suite has a time budget."""

from __future__ import annotations

QUICK_TREES = {"params": {"learning_rate": 0.1}, "early_stopping_rounds": 30}
"""The ``lightgbm`` section of a TrainConfig (``train(..., lightgbm=QUICK_TREES)``)."""
