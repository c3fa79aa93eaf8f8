"""Optional and heavy imports in one place, with the extra to install where one is optional."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

__all__ = ["cache_dir", "import_numba"]


def cache_dir() -> Path:
    """leadml's cache folder: ``$LEADML_CACHE_DIR``, else the user cache folder of the platform
    (``~/.cache/leadml`` on Linux). Never inside site-packages."""
    env = os.environ.get("LEADML_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("leadml"))


def import_numba() -> ModuleType:
    """numba, with its on-disk cache in leadml's cache folder (unless ``NUMBA_CACHE_DIR`` is set),
    so compiled kernels are loaded, not recompiled, in every new process."""
    import numba

    config = numba.config
    if not getattr(config, "CACHE_DIR", ""):
        path = cache_dir() / "numba"
        try:
            path.mkdir(parents=True, exist_ok=True)
            if not os.access(path, os.W_OK):
                raise PermissionError(path)
        except OSError:  # an unwritable home: a per-user temporary folder, never site-packages
            import tempfile
            import warnings

            fallback = Path(tempfile.gettempdir()) / f"leadml-cache-{os.getuid()}" / "numba"
            fallback.mkdir(parents=True, exist_ok=True)
            warnings.warn(
                f"leadml: the cache folder {path} is not writable; the compiled explanation "
                f"kernel is cached in {fallback} instead. Fix: set LEADML_CACHE_DIR to a writable "
                "folder so new processes do not recompile it.",
                stacklevel=2,
            )
            path = fallback
        config.CACHE_DIR = str(path)  # type: ignore[attr-defined]  # read at compile time
    return numba
