"""staticbuild's own record of what it wrote, kept outside the destination.

The record makes the common case cheap (a stat that matches proves the content), but it is
never trusted over the disk: anything whose stat differs is re-read and hashed, and if the
record is lost every file is treated as foreign until its content proves otherwise.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import msgspec

from staticbuild.storage.manifest import ManifestCache

STATE_VERSION = 1


class OutputRecord(msgspec.Struct, frozen=True, array_like=True):
    """One file staticbuild wrote: its content and the stat it had right after writing."""

    digest: str
    size: int
    mtime_ns: int
    ino: int
    link: str | None = None  # the symlink's target, for --link outputs


class SourceRecord(msgspec.Struct, frozen=True, array_like=True):
    """A source file's content digest, valid while its stat stays the same."""

    size: int
    mtime_ns: int
    ino: int
    digest: str


class State(msgspec.Struct):
    version: int = STATE_VERSION
    destination: str = ""
    finished: bool = True
    outputs: dict[str, OutputRecord] = msgspec.field(default_factory=dict)
    sources: dict[str, SourceRecord] = msgspec.field(default_factory=dict)
    manifest_cache: ManifestCache | None = None
    #: hashed names (and their siblings) of the latest manifests, newest first
    history: list[list[str]] = msgspec.field(default_factory=list)


def state_file(state_dir: Path) -> Path:
    return state_dir / "state.msgpack"


def load_state(state_dir: Path, destination: str) -> State | None:
    """The recorded state for ``destination``, or None when there is none (or it is unusable)."""
    try:
        data = state_file(state_dir).read_bytes()
    except OSError:
        return None
    try:
        state = msgspec.msgpack.decode(data, type=State)
    except msgspec.DecodeError:
        return None
    if state.version != STATE_VERSION or state.destination != destination:
        return None
    return state


def save_state(state_dir: Path, state: State) -> None:
    """Write the state atomically: a reader sees the old record or the new one, never half."""
    state_dir.mkdir(parents=True, exist_ok=True)
    data = msgspec.msgpack.encode(state)
    fd, tmp = tempfile.mkstemp(prefix=".state-", dir=state_dir)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, state_file(state_dir))
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
