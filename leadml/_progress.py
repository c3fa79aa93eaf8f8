"""Progress of long steps, as records on the ``leadml.progress`` logger.

The library only emits: each stage once when it starts (``stage``), and counts where the work is
countable (``step``). Nothing is shown unless someone listens: the command line renders the
records (a live status line on a terminal, one line per stage in a log, nothing with
``--quiet``); a notebook or a job can attach its own handler::

    import logging
    logging.getLogger("leadml.progress").addHandler(logging.StreamHandler())
"""

from __future__ import annotations

import logging

__all__ = ["LOGGER", "stage", "step"]

LOGGER = logging.getLogger("leadml.progress")
LOGGER.addHandler(logging.NullHandler())


def stage(message: str) -> None:
    """A long step starts: ``message`` says what, with its size (rows, leads, trees)."""
    LOGGER.info(message, extra={"leadml_kind": "stage"})


def step(message: str, done: int, total: int) -> None:
    """Countable progress inside a stage: ``done`` of ``total``."""
    if LOGGER.isEnabledFor(logging.INFO):
        LOGGER.info(
            message, extra={"leadml_kind": "step", "leadml_done": done, "leadml_total": total}
        )
