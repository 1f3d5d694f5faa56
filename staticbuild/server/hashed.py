"""Which served names are hashed, and so may be cached for a year: the manifest's.

A name that merely looks hashed (``build.202611271200.js``) is not: only the manifest
storage promises that a name never changes content, so only the names its manifest maps
to (and their ``.gz``/``.br`` siblings) get ``immutable``. The manifest is re-read when
its stat changes, so a re-apply that writes a new one is seen on the next request.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

#: Sibling suffixes that share their original's cache life.
_SIBLING_SUFFIXES = (".gz", ".br")

_Key = tuple[int, int, int]


class ManifestNames:
    """The hashed names of the manifest ``destination/manifest_name``, kept fresh."""

    def __init__(self, destination: Path, manifest_name: str) -> None:
        self.path = destination / manifest_name
        self._lock = threading.Lock()
        self._cached: tuple[_Key, frozenset[str]] | None = None

    def _names(self) -> frozenset[str]:
        try:
            st = os.stat(self.path)
        except OSError:
            return frozenset()
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self._cached
        if cached is not None and cached[0] == key:
            return cached[1]
        with self._lock:
            try:
                paths = json.loads(self.path.read_bytes()).get("paths", {})
                names = frozenset(v for v in paths.values() if isinstance(v, str))
            except (OSError, ValueError, AttributeError):
                names = frozenset()  # mid-write or hand-edited: nothing is promised
            self._cached = (key, names)
        return names

    def is_hashed(self, name: str) -> bool:
        """Whether ``name`` (destination-relative) is a hashed name or one's sibling. The
        name as given is looked up first: a source ``data.json.gz`` is hashed to
        ``data.json.<hash>.gz``, which is no sibling of anything."""
        names = self._names()
        if name in names:
            return True
        return any(
            name.endswith(suffix) and name[: -len(suffix)] in names for suffix in _SIBLING_SUFFIXES
        )
