"""Where numba keeps the compiled kernels: a per-user cache folder, never the installed package.

``numba.njit(cache=True)`` writes its cache beside the source, into the package's
``__pycache__``, whenever that folder is writable. Inside ``site-packages`` those
files outlive the install: ``pip uninstall`` (or the switch to an editable install)
removes the package's own files but leaves the folder, which then shadows the
editable package. :func:`use_user_cache` points numba's user-provided cache
locator (``NUMBA_CACHE_DIR``, numba's "Cache options") at :func:`cache_folder`
before any kernel is decorated, so that running the toolkit writes nothing inside
the installed package. A ``NUMBA_CACHE_DIR`` the user set wins.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

CACHE_VARIABLE = "NUMBA_CACHE_DIR"


def cache_folder(environ: Mapping[str, str] = os.environ) -> Path:
    """The per-user folder for compiled kernels, as the platform's conventions place caches:
    ``$XDG_CACHE_HOME/nuanalysis/numba`` (default ``~/.cache``) on Linux,
    ``~/Library/Caches/nuanalysis/numba`` on macOS, ``%LOCALAPPDATA%\\nuanalysis\\numba``
    on Windows."""
    if sys.platform == "win32" and environ.get("LOCALAPPDATA"):
        root = Path(environ["LOCALAPPDATA"])
    elif sys.platform == "darwin":
        root = Path.home() / "Library" / "Caches"
    elif environ.get("XDG_CACHE_HOME"):
        root = Path(environ["XDG_CACHE_HOME"])
    else:
        root = Path.home() / ".cache"
    return root / "nuanalysis" / "numba"


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def use_user_cache() -> Path:
    """Point numba's kernel cache at :func:`cache_folder` (or, where that cannot be
    written, a per-user folder under the system's temporary folder) unless
    ``NUMBA_CACHE_DIR`` is set; returns the folder in use.

    Must run before the first ``njit(cache=True)`` decoration: numba picks a
    function's cache locator when the decorator runs."""
    chosen = os.environ.get(CACHE_VARIABLE)
    if not chosen:
        folder = cache_folder()
        if not _writable(folder):
            user = os.getuid() if hasattr(os, "getuid") else os.getlogin()
            folder = Path(tempfile.gettempdir()) / f"nuanalysis-numba-{user}"
        chosen = os.environ[CACHE_VARIABLE] = str(folder)
    if "numba" in sys.modules:  # imported before us: numba re-reads its environment
        from numba.core.config import reload_config

        reload_config()
    return Path(chosen)
