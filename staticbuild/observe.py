"""Looking at the disk for the planner: content digests of sources, and the destination.

Stat first, read only when the record cannot vouch for the content, hash each file once,
and spread the reading over a few threads (hashlib releases the GIL on large buffers).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

from staticbuild.actions import Delete
from staticbuild.atomic import TEMP_MARK, holds_nothing
from staticbuild.errors import PlanError, SourceError
from staticbuild.finders import FileInfo
from staticbuild.parallel import WORKER_LOST, map_chunked, map_spread
from staticbuild.planner import MISSING, Decision, Desired, Observed
from staticbuild.project import shown_if_not_utf8
from staticbuild.state import OutputRecord, SourceRecord


def file_digest(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _both_digests(path: str) -> tuple[str, str]:
    """sha256 and Django's 12-digit md5 of a file, from one read."""
    sha = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    with open(path, "rb", buffering=0) as fh:
        while chunk := fh.read(1 << 20):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()[:12]


def hash_sources(
    files: Mapping[str, FileInfo], *, md5: bool = False
) -> tuple[dict[str, SourceRecord], int]:
    """A record of each absolute source path (files whose record could not vouch for
    them): its digest with the stat it was read under, and with ``md5`` the file's md5
    (for hashed names) from the same read; and how many files were read."""
    out: dict[str, SourceRecord] = {}
    items = list(files.items())

    def hash_one(item: tuple[str, FileInfo]) -> tuple[str, str, str]:
        """sha256, md5 (if asked for) and why the file could not be read (else "")."""
        try:
            digest, short = _both_digests(item[0]) if md5 else (file_digest(item[0]), "")
        except OSError as exc:
            return "", "", f"cannot read source file {item[0]!r}: {exc.strerror}"
        return digest, short, ""

    hashed = map_spread(hash_one, items, tuple[str, str, str])
    for (path, info), result in zip(items, hashed, strict=True):
        if result is None:
            raise SourceError(WORKER_LOST)
        digest, short, error = result
        if error:
            raise SourceError(error)
        out[path] = SourceRecord(info.size, info.mtime_ns, info.ino, digest, short)
    return out, len(items)


def outputs_still(destination: Path, records: Mapping[str, OutputRecord]) -> bytes:
    """One flag per record, in the records' order: whether its path still holds the
    regular file (or, for a ``--link`` output, the symlink) the record describes: same
    size, mtime and inode, one lstat each. (A symlink's target cannot change in place.)

    A no-op plan is this loop plus the source walk, so the planner runs it in a forked
    child (:class:`~staticbuild.parallel.Background`) while it walks.
    """
    lstat = os.lstat
    isreg, islnk = stat.S_ISREG, stat.S_ISLNK
    try:
        base = os.open(destination, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:  # no destination yet: nothing is still there
        return bytes(len(records))
    flags = bytearray(len(records))
    try:
        for index, (path, record) in enumerate(records.items()):
            try:
                st = lstat(path, dir_fd=base)  # relative to the open folder: a shorter lookup
            except OSError:
                continue
            if (
                st.st_mtime_ns == record.mtime_ns
                and st.st_ino == record.ino
                and st.st_size == record.size
                and (isreg if record.link is None else islnk)(st.st_mode)
            ):
                flags[index] = 1
    finally:
        os.close(base)
    return bytes(flags)


def unchanged_outputs(
    desired: Mapping[str, Desired], records: Mapping[str, OutputRecord], still: bytes
) -> tuple[list[str], set[str]]:
    """Split the desired files into those whose record says they already hold the desired
    content and whose stat still matches that record (``still``, from
    :func:`outputs_still`: nothing else to decide for them), and the rest, which the
    planner looks at in full.
    """
    get = desired.get
    unchanged = [
        path
        for (path, record), same in zip(records.items(), still, strict=True)
        if same
        and (want := get(path)) is not None
        and want.digest == record.digest
        and want.mode != "link"
        and record.link is None  # a link's record is settled by its target, in full
    ]
    return unchanged, desired.keys() - unchanged


def _real_folder(base: str, folder: str, known: dict[str, bool]) -> bool:
    """Whether ``folder`` is a folder of the destination, not reached through a symlink: a
    file seen through a symlinked folder is elsewhere (the planner writes it for real)."""
    there = known.get(folder)
    if there is None:
        parent = folder.rpartition("/")[0]
        try:
            mode = os.lstat(f"{base}/{folder}").st_mode
        except OSError:
            mode = 0
        there = known[folder] = stat.S_ISDIR(mode) and _real_folder(base, parent, known)
    return there


def observe_destination(
    destination: Path, paths: Collection[str], records: Mapping[str, OutputRecord]
) -> dict[str, Observed]:
    """What is at each destination path that holds something (an absent path is missing:
    a cold apply's 100,000 entries would say only that); files not vouched for by a record
    are hashed."""
    base = str(destination)
    if not os.path.isdir(base):  # a first apply: nothing there yet
        return {}
    seen: dict[str, Observed] = {}
    unvouched: list[str] = []
    get = records.get
    folders: dict[str, bool] = {"": True}  # whether each folder exists: one stat per folder
    for path in sorted(paths):  # lstat is cheaper than a thread hand-off: one pass
        if not _real_folder(base, path.rpartition("/")[0], folders):
            continue  # a cold apply's usual case: nothing to stat below a missing folder
        found = _observe(base, path, get(path))
        if found is None:
            unvouched.append(path)
        elif found is not MISSING:
            seen[path] = found
    for path, found in zip(
        unvouched, map_chunked(lambda p: _hash(base, p), unvouched), strict=True
    ):
        seen[path] = found
    return seen


def _observe(base: str, path: str, record: OutputRecord | None) -> Observed | None:
    """What a stat (and the record) tells; None when only reading the file can tell."""
    full = f"{base}/{path}"
    try:
        st = os.lstat(full)
    except (FileNotFoundError, NotADirectoryError):
        return MISSING
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:  # cannot be there; writing it says why
            return MISSING
        raise SourceError(f"cannot inspect destination file {full!r}: {exc.strerror}") from None
    mode = st.st_mode
    if stat.S_ISREG(mode):  # the common case first: a file the record vouches for
        if (
            record is not None
            and record.mtime_ns == st.st_mtime_ns
            and record.ino == st.st_ino
            and record.size == st.st_size
            and record.link is None
        ):
            return Observed(
                "file", record.digest, None, record.size, record.mtime_ns, record.ino, True
            )
        return None
    key = (st.st_size, st.st_mtime_ns, st.st_ino)
    if stat.S_ISLNK(mode):
        target = os.readlink(full)
        recorded = (
            record is not None
            and record.link == target
            and (record.size, record.mtime_ns, record.ino) == key
        )
        return Observed(
            "link", record.digest if recorded and record else None, target, *key, recorded=recorded
        )
    if stat.S_ISDIR(mode):
        return Observed("dir", size=st.st_size)
    return Observed("other")


def _hash(base: str, path: str) -> Observed:
    full = os.path.join(base, path)
    try:
        with open(full, "rb") as fh:
            st = os.fstat(fh.fileno())
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError as exc:
        raise SourceError(f"cannot read destination file {full!r}: {exc.strerror}") from None
    return Observed("file", digest, None, st.st_size, st.st_mtime_ns, st.st_ino)


def _refuse_unnamable(path: str) -> None:
    """A destination entry whose name is not UTF-8 can be neither planned nor kept track
    of: the user must look at it (the sources' walk skips such names with a warning)."""
    shown = shown_if_not_utf8(path)
    if shown is not None:
        raise PlanError(
            f"the destination holds '{shown}', whose name is not valid UTF-8; "
            "move it away or remove it"
        )


def list_destination(destination: Path) -> tuple[list[str], list[str]]:
    """Every file below the destination (not following symlinks), and the executor's leftovers."""
    files: list[str] = []
    leftovers: list[str] = []
    if not destination.is_dir():
        return files, leftovers
    stack = [("", str(destination))]
    while stack:
        rel, folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            raise SourceError(
                f"cannot read destination folder {folder!r}: {exc.strerror}"
            ) from None
        for entry in entries:
            if not entry.name.isascii():
                _refuse_unnamable(entry.path)
            child = f"{rel}/{entry.name}" if rel else entry.name
            if entry.is_dir(follow_symlinks=False):
                stack.append((child, entry.path))
            elif TEMP_MARK in entry.name and entry.name.startswith("."):
                leftovers.append(child)
            else:
                files.append(child)
    return sorted(files), sorted(leftovers)


def check_parents(destination: Path, decision: Decision, observed: Mapping[str, Observed]) -> None:
    """Refuse a plan that would write below a file (or symlink) where it needs a folder."""
    if not destination.is_dir():  # nothing in the way of anything yet
        return
    writes = [
        a.path
        for a in decision.actions
        if not isinstance(a, Delete) and observed.get(a.path, MISSING).kind == "missing"
    ]
    removable = {a.path for a in decision.actions if isinstance(a, Delete)}
    blocked = blocked_parents(destination, writes, removable)
    if blocked:
        raise PlanError(
            f"a file is in the way of a folder needed for destination path "
            f"{blocked[0]!r}; move it away or remove it"
        )


def check_vacated(destination: Path, decision: Decision) -> None:
    """Refuse a plan that would write a file where a folder is, unless the plan deletes
    every file in it (a stale output folder, or foreign files under ``clear``) or it holds
    only empty folders: a folder holding something not staticbuild's is the user's."""
    if not decision.vacate:
        return
    deleted = {a.path for a in decision.actions if isinstance(a, Delete)}
    for folder in decision.vacate:
        if holds_nothing(str(destination / folder)):
            continue  # nothing to lose: it gives way when the file is renamed into place
        files = [
            os.path.relpath(os.path.join(dirpath, name), destination).replace(os.sep, "/")
            for dirpath, dirs, names in os.walk(destination / folder)
            for name in (*names, *(d for d in dirs if os.path.islink(os.path.join(dirpath, d))))
        ]
        if not files or any(f not in deleted for f in files):
            raise PlanError(
                f"a folder is in the way at destination path {folder!r}; move it away or remove it"
            )


def blocked_parents(destination: Path, paths: Iterable[str], removable: set[str]) -> list[str]:
    """Destination paths whose parent folders cannot be made: a file or symlink is in the way.

    A symlinked folder counts as in the way: writing through it could leave the destination.
    """
    ok_dirs: set[str] = {""}
    blocked: list[str] = []
    base = str(destination)
    for path in sorted(paths):
        parent = path.rpartition("/")[0]
        chain: list[str] = []
        while parent not in ok_dirs:
            chain.append(parent)
            parent = parent.rpartition("/")[0]
        bad = False
        for folder in reversed(chain):
            try:
                st = os.lstat(os.path.join(base, folder))
            except (FileNotFoundError, NotADirectoryError):
                ok_dirs.add(folder)  # will be created
                continue
            if stat.S_ISDIR(st.st_mode) or folder in removable:
                ok_dirs.add(folder)
            else:
                bad = True
                blocked.append(path)
                break
        if bad:
            continue
    return blocked
