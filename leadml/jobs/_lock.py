"""A lock file so that two runs of a job never overlap (``fcntl.flock``: released by the
operating system when the process ends, however it ends, so a killed run never leaves a stale
lock behind)."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from types import TracebackType

import pandas as pd

from leadml.exceptions import LeadmlError

__all__ = ["JobLock", "LockHeldError"]


class LockHeldError(LeadmlError):
    """Another run of the job holds the lock (nothing was done)."""


class JobLock:
    """``with JobLock(path, job="retrain leadml"):`` holds an exclusive lock on ``path`` or
    raises :class:`LockHeldError` at once, naming the run that holds it."""

    def __init__(self, path: str | Path, *, job: str) -> None:
        self.path = Path(path)
        self.job = job
        self._fd: int | None = None

    def __enter__(self) -> JobLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = ""
            try:
                holder = os.pread(fd, 4096, 0).decode(errors="replace").strip()
            finally:
                os.close(fd)
            raise LockHeldError(
                f"{self.job}: another run holds the lock {self.path} ({holder or 'unknown run'}). "
                "Nothing was done; the next scheduled run will try again."
            ) from None
        info = {
            "pid": os.getpid(),
            "started": pd.Timestamp.now(tz="UTC").isoformat(),
            "job": self.job,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
