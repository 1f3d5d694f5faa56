"""Where the bytes of a generated file come from, for the executor to write them.

Generated outputs (hashed copies, rewritten CSS/JS, ``.gz``/``.br`` siblings) are planned
by digest; their bytes are kept wherever they are cheapest to reach: in memory, in a whole
file (a source, for a hashed copy that needed no rewriting), in a slice of a file (a pack of
the compression cache), or as a function that makes them only if a write needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from staticbuild.finders import FileInfo


class SourceFile(NamedTuple):
    """A whole source file, as planned: copied only if its stat still says ``planned``
    (else the bytes may no longer be the digest the plan promised)."""

    path: str
    planned: FileInfo | None


class FileSlice(NamedTuple):
    """``size`` bytes of the file at ``path``, from ``offset``."""

    path: str
    offset: int
    size: int


Blob = bytes | SourceFile | FileSlice | Callable[[], bytes]
