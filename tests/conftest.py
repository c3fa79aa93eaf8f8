"""Shared fixtures: small synthetic frames (with nulls and a deliberately broken index)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadml.datasets import make_crm

warnings.filterwarnings("error", category=FutureWarning)

SHARED = Path(
    os.environ.get(
        "LEADML_SHARED_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets"
    )
)


# Scheduling on two workers (``make unit``: ``--dist loadscope --no-loadscope-reorder``): a
# file's tests share its module fixtures (a trained model) and go to one worker as a whole; the
# docs pages, independent and long, are one class each (tests/test_docs.py) and so are spread
# page by page. The long poles are queued first (the queue is greedy: roughly longest first), so
# the two workers finish together instead of one idling while the other runs the 20k-lead
# acceptance fixture at the end.
LONG_POLES = (
    "tests/modeling/test_train.py",
    "tests/test_docs.py",
    "tests/test_benchmarks.py",
    "tests/jobs/test_retrain.py",
    "tests/test_pipelines.py",
    "tests/modeling/test_segments.py",
    "tests/test_cli.py",
    "tests/modeling/test_protocol.py",
    "tests/tracking/",
    "tests/jobs/",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next(
            (i for i, p in enumerate(LONG_POLES) if item.nodeid.startswith(p)), len(LONG_POLES)
        )

    items.sort(key=rank)  # stable: the order inside a file is kept


def ts(s: str) -> pd.Timestamp:
    return pd.Timestamp(s, tz="UTC")


@pytest.fixture(scope="session")
def crm_small():
    """A small CRM (shared by tests; never mutate it)."""
    return make_crm(1500, days=200, horizon_days=30, every_days=7, seed=3)


@pytest.fixture
def tiny():
    """Three leads (one with no events), with nulls in every profile column and a shuffled index."""
    leads = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c"],
            "created_at": ["2024-01-01T00:00:00Z", "2024-01-05T12:00:00Z", "2024-01-10"],
            "account_id": ["acc1", "acc1", None],
            "industry": ["software", None, "retail"],
            "employees": [50.0, np.nan, 1000.0],
            "is_partner": [True, False, None],
        },
        index=[10, 3, 7],
    )
    events = pd.DataFrame(
        {
            "lead_id": ["a", "a", "a", "b", "a"],
            "timestamp": [
                "2024-01-02T10:00:00Z",
                "2024-01-20T00:00:00Z",
                "2024-02-01T00:00:00Z",
                "2024-01-25T08:00:00Z",
                "2024-03-01T00:00:00Z",
            ],
            "event_type": ["page_view", "page_view", "demo_request", "page_view", "page_view"],
            "detail": ["/pricing", "/blog", None, "/pricing", "/pricing"],
        },
        index=[4, 4, 1, 0, 2],
    )
    conversions = pd.DataFrame(
        {"lead_id": ["a"], "converted_at": ["2024-02-15T00:00:00Z"]}, index=[99]
    )
    return leads, events, conversions


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """One real local Spark session (``local[2]``) for the whole run: the JVM starts once; its
    tables live in a temporary warehouse."""
    from leadml.features._spark import spark_session

    os.environ["LEADML_SPARK_WAREHOUSE"] = str(tmp_path_factory.mktemp("spark-warehouse"))
    session = spark_session("local[2]")
    yield session
    session.stop()
