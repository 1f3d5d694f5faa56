"""Files replaced whole: written under a temporary name beside the final one and renamed
over it, so a reader (or a crash) finds the old bytes or the new, never a torn file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

Write = Callable[[bytes | memoryview], object]


def replace_file(path: Path, fill: Callable[[Write], object]) -> None:
    """Give ``path`` the bytes ``fill`` writes (through the function it is given)."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fill(fh.write)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
