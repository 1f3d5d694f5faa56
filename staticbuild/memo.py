"""Remembered post-processing: same collected contents and options, same derived outputs.

Hashed names, rewritten CSS/JS and ``.gz``/``.br`` siblings depend only on the collected
files' contents and names and on the storage options. When all of those match the last
apply, the list of derived outputs (names, digests, sizes) is read back instead of derived
again, so a no-op apply neither loads the engines nor touches their caches. The bytes are
not remembered: if any derived output must be written, the caller derives for real.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

import msgspec

from staticbuild.atomic import replace_file
from staticbuild.planner import Desired
from staticbuild.project import Project

#: Bump when an engine's output for the same inputs could change.
MEMO_VERSION = b"staticbuild-derived/1"
MEMO_FILE = "derived.msgpack"


class DerivedMemo(msgspec.Struct, frozen=True):
    key: str
    desired: dict[str, Desired]  # decoded straight into the planner's tuples
    hashed: tuple[str, ...]
    warnings: tuple[str, ...]


class _KeyOnly(msgspec.Struct):
    key: str


def memo_key(project: Project, originals: Mapping[str, Desired]) -> str | None:
    """What the derived outputs depend on, as one digest; None if a content is unknown."""
    h = hashlib.sha256(MEMO_VERSION)
    h.update(msgspec.json.encode((project.url, project.post_process, project.storage)))
    lines = []
    for dest in sorted(originals):
        want = originals[dest]
        if not want.digest:
            return None
        lines.append(f"\n{dest}\0{want.digest}\0{want.size}")
    h.update("".join(lines).encode())
    return h.hexdigest()


def recall(state_dir: Path, key: str) -> DerivedMemo | None:
    """The memo saved under ``key``, or None (none saved, another key, or unreadable)."""
    try:
        data = (state_dir / MEMO_FILE).read_bytes()
        if msgspec.msgpack.decode(data, type=_KeyOnly).key != key:
            return None
        return msgspec.msgpack.decode(data, type=DerivedMemo)
    except (OSError, ValueError):
        return None


def remember(
    state_dir: Path,
    key: str,
    desired: Mapping[str, Desired],
    hashed: frozenset[str],
    warnings: tuple[str, ...],
) -> None:
    """Save the derived outputs under ``key`` (atomically: a torn memo is just a miss)."""
    memo = DerivedMemo(key, dict(sorted(desired.items())), tuple(sorted(hashed)), warnings)
    state_dir.mkdir(parents=True, exist_ok=True)
    data = msgspec.msgpack.encode(memo)
    replace_file(state_dir / MEMO_FILE, lambda write: write(data))


def forget(state_dir: Path) -> None:
    (state_dir / MEMO_FILE).unlink(missing_ok=True)
