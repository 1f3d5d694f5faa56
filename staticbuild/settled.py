"""The settled note: how a plan proves that nothing changed without decoding the record.

A finished full apply leaves one digest of the options and of every source's stat (the
*inputs key*), the counts a no-op reports, and the stats of the record files themselves.
A later plan that walks the sources to the same key, finds every recorded output still as
recorded and the record untouched since, is empty: no record is decoded, nothing is
collected, derived or hashed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import msgspec

from staticbuild.atomic import replace_file
from staticbuild.project import Overrides, Project
from staticbuild.snapshot import Snapshot
from staticbuild.state import APPLYING, JOURNAL, SETTLED, state_file

#: Bump when a plan comes to depend on more than the project and the sources' stats.
INPUTS_KEY_VERSION = b"staticbuild-inputs/1"


def inputs_key(project: Project, snapshot: Snapshot) -> str:
    """The options and every source's stat, as one digest: while it and the outputs'
    stats stay the same, so does the plan (stats vouch for content, as records do)."""
    h = hashlib.sha256(INPUTS_KEY_VERSION)
    # The options as they act (patterns, clear, link...), not as they were given: a watch
    # (missing sources allowed) and an apply of the same spec share the proof.
    plain = msgspec.structs.replace(project, warnings=(), overrides=Overrides())
    h.update(msgspec.json.encode(plain))
    encode = msgspec.msgpack.Encoder().encode
    for files in snapshot.infos.by_root:
        h.update(encode(files))  # each listing in walk order: a reordering only misses
    return h.hexdigest()


class Settled(msgspec.Struct, frozen=True):
    """What the last finished full apply left: the key of its inputs (the options and
    every source's stat) and what a plan with nothing to do reports.

    With it a plan can prove that nothing changed from stats alone, without decoding the
    record or collecting: the same key, every recorded output still as recorded, and the
    record itself untouched since (its files' stats are part of this note).
    """

    key: str
    collected: int  # the plan's collected files
    desired: int  # the outputs asked for; in a no-op, all of them are unmodified
    originals: int  # of those, the collected files (what the summary counts)
    records: int  # recorded outputs, each of which must still be as recorded
    skipped: int  # found files that lost to an earlier one with the same path (a note
    #   written before this field fails to decode, and proves nothing)
    warnings: tuple[str, ...] = ()  # post-processing's warnings, shown again
    files: tuple[tuple[int, int, int], ...] = ()  # the state files' (size, mtime, inode)


def state_files(state_dir: Path) -> tuple[tuple[int, int, int], ...]:
    """The record files' (size, mtime, inode) now: every save changes one of them (a
    rewrite is a new file, an append grows the journal)."""
    out = []
    for path in (state_file(state_dir), state_dir / JOURNAL):
        try:
            st = path.stat()
        except FileNotFoundError:
            out.append((-1, 0, 0))
        else:
            out.append((st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(out)


def write_settled(state_dir: Path, settled: Settled) -> None:
    """Save ``settled``, whose ``files`` are :func:`state_files` after the state was saved."""
    data = msgspec.msgpack.encode(settled)
    replace_file(state_dir / SETTLED, lambda write: write(data))


def read_settled(state_dir: Path) -> Settled | None:
    """The last full apply's note, if it finished and the record has not changed since."""
    try:
        settled = msgspec.msgpack.decode((state_dir / SETTLED).read_bytes(), type=Settled)
    except (OSError, ValueError):
        return None
    if (state_dir / APPLYING).exists() or settled.files != state_files(state_dir):
        return None
    return settled
