"""Safe outputs: checked before the work, written atomically, with the user's umask, and never
deleting anything leadml did not write."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from leadml.exceptions import ConfigError

__all__ = [
    "ParquetParts",
    "check_model_dir",
    "check_output_file",
    "make_temp_dir",
    "publish_file",
    "write_atomic",
]

OUTPUT_SUFFIXES = (".csv", ".parquet")


def _umask() -> int:
    """The process umask, read without changing it where the system allows (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it back at once
    os.umask(mask)
    return mask


def _writable_parent(path: Path, what: str) -> None:
    parent = path.parent
    while not parent.exists():  # the nearest existing ancestor must let us create the rest
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{what} {path}: cannot write in {parent} (permission denied or not a folder). "
            "Fix: choose a writable location."
        )


def check_output_file(path: str | Path, *, what: str = "output") -> Path:
    """Fail now, before any work, if ``path`` cannot be written as a CSV or Parquet output."""
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ConfigError(
            f"{what} {path}: unsupported extension {path.suffix!r}; use .csv or .parquet."
        )
    if path.is_dir():
        raise ConfigError(
            f"{what} {path}: is a folder; give a file name ending in .csv or .parquet."
        )
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"{what} {path}: exists and is not writable. Fix: choose another path.")
    _writable_parent(path, what)
    return path


def check_model_dir(
    path: str | Path, *, overwrite: bool = False, known: Iterable[str] = (), marker: str
) -> Path:
    """Fail now, before any work, unless ``path`` can receive a model folder.

    ``path`` may be new, an empty folder, or (with ``overwrite``) a leadml model folder (it holds
    ``marker``) whose entries are all ones leadml writes (``known``). A folder holding anything
    else is refused: leadml never deletes what it did not write.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"model folder {path}: is a file. Fix: choose a folder path (--out).")
    if path.is_dir():
        entries = sorted(p.name for p in path.iterdir())
        if entries:
            if marker not in entries:
                raise ConfigError(
                    f"model folder {path}: is not empty and is not a leadml model (it holds "
                    f"{_list(entries)}). leadml never deletes what it did not write. Fix: choose "
                    "a new or empty folder (--out)."
                )
            foreign = [e for e in entries if e not in set(known)]
            if foreign:
                raise ConfigError(
                    f"model folder {path}: holds a leadml model and also {_list(foreign)}, which "
                    "leadml did not write; replacing the model would delete them. Fix: move "
                    "them away, or choose another folder (--out)."
                )
            if not overwrite:
                raise ConfigError(
                    f"model folder {path}: already holds a leadml model. Fix: pass --overwrite "
                    "(overwrite=True) to replace it, or choose another folder (--out)."
                )
        if not os.access(path, os.W_OK | os.X_OK):
            raise ConfigError(f"model folder {path}: not writable. Fix: choose a writable folder.")
    _writable_parent(path, "model folder")
    return path


def make_temp_dir(near: Path) -> Path:
    """A new temporary folder beside ``near`` (same file system, so a rename is atomic), with the
    mode a folder made by ``mkdir`` would have (``mkdtemp`` makes 0700)."""
    near.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=near.parent, prefix=f".{near.name}."))
    tmp.chmod(0o777 & ~_umask())
    return tmp


def publish_file(tmp: str | Path, path: str | Path) -> None:
    """Give a finished temporary file the mode of a normally created file, then rename it into
    place atomically (``mkstemp`` makes 0600)."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file beside it and one rename (a reader
    sees the old file or the new one, never half of one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        publish_file(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


class ParquetParts:
    """One Parquet file written part by part, published in one rename when it is complete.

    ``with ParquetParts(out) as parts: parts.write(table) ...; parts.finish(empty)``: the parts go
    to a temporary file beside ``out`` with the first part's schema; ``finish`` writes ``empty()``
    (a table with the right columns) when no part was written, and renames the file into place.
    On an error nothing is published and the temporary file is removed.
    """

    def __init__(self, out: str | Path) -> None:
        self.out = Path(out)
        self.tmp = self.out.with_name(f".{self.out.name}.tmp")
        self.rows = 0
        self._writer: Any = None
        self._schema: Any = None

    def write(self, table: Any) -> None:
        """Append a ``pyarrow.Table`` (cast to the first part's schema)."""
        import pyarrow.parquet as pq

        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self.tmp, self._schema)
        self._writer.write_table(table.cast(self._schema))
        self.rows += table.num_rows

    def finish(self, empty: Callable[[], Any]) -> None:
        """Close the file (or write ``empty()`` when no part came) and publish it."""
        import pyarrow.parquet as pq

        if self._writer is None:
            pq.write_table(empty(), self.tmp)
        else:
            self._writer.close()
            self._writer = None
        publish_file(self.tmp, self.out)

    def __enter__(self) -> ParquetParts:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()
        self.tmp.unlink(missing_ok=True)


def _list(names: list[str], n: int = 5) -> str:
    shown = ", ".join(repr(x) for x in names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")
