"""The measure families of the point-in-time core, one module each, engines side by side.

=====================  ==============================================  ====================
family (module)        aggregates / feature kinds                      engines
=====================  ==============================================  ====================
``windowed``           ``count``, ``any`` / ``count``, ``trend``         numpy, SQL, plan
``history``            ``last``, ``half_life``, ``linear`` /             numpy, SQL, plan
                       ``recency``, ``decay``, ``count_ever``
``active_days``        ``active_days`` / ``active_days``                 numpy, SQL, plan
``accounts``           feature kinds ``account_*``                       numpy, plan
=====================  ==============================================  ====================

Each module states its definitions and holds, next to each other, its per-cut-off NumPy
evaluation (``numpy``: a single lead, a REST call), its ``CASE`` aggregate for the one generic
query (:func:`leadml.features.event_measures` on DuckDB or Spark SQL), and its part of the
feature builder's many-cut-off plan (:mod:`leadml.features._plan`, on DuckDB or Spark). The
shared measure and time semantics are in :mod:`leadml.features._families._base`. Every engine
of a family is tested equal to the definition and to the others on the same data
(``tests/features/test_measures.py``, ``tests/features/test_builder.py``,
``tests/features/test_spark.py``).
"""

from types import ModuleType

from leadml.features._families import accounts, active_days, history, windowed
from leadml.features._families._base import AGGREGATES, Aggregate, EventMeasure

__all__ = [
    "AGGREGATES",
    "FAMILY_OF",
    "Aggregate",
    "EventMeasure",
    "accounts",
    "active_days",
    "history",
    "windowed",
]

FAMILY_OF: dict[str, ModuleType] = {
    agg: module for module in (windowed, history, active_days) for agg in module.AGGREGATES
}
"""The family module that owns each :class:`EventMeasure` aggregate."""

if set(FAMILY_OF) != set(AGGREGATES):  # pragma: no cover - a module lists its aggregates
    raise RuntimeError("leadml internal error: an aggregate has no family.")
