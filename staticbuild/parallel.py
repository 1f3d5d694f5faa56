"""Spreading I/O-bound work over a few threads, in chunks.

One future per file costs more than copying a small file; chunks of files keep the pool's
overhead negligible while the GIL is released in the system calls and in hashlib.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

_T = TypeVar("_T")
_R = TypeVar("_R")

IO_THREADS = min(8, max(2, os.cpu_count() or 1))


def map_chunked(
    fn: Callable[[_T], _R], items: Sequence[_T], *, threshold: int = 32, chunk: int = 64
) -> list[_R]:
    """``[fn(x) for x in items]``, on threads when there are enough items to pay off."""
    if len(items) < threshold:
        return [fn(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor  # only when there is work to spread

    size = max(1, min(chunk, len(items) // (IO_THREADS * 4) or 1))
    parts = [items[i : i + size] for i in range(0, len(items), size)]
    out: list[_R] = []
    with ThreadPoolExecutor(IO_THREADS) as pool:
        for done in pool.map(lambda part: [fn(item) for item in part], parts):
            out.extend(done)
    return out
