"""staticbuild's own record of what it wrote, kept outside the destination.

The record makes the common case cheap (a stat that matches proves the content), but it is
never trusted over the disk: anything whose stat differs is re-read and hashed, and if the
record is lost every file is treated as foreign until its content proves otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Mapping
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from staticbuild.atomic import Write, replace_file
from staticbuild.finders import is_inside

if TYPE_CHECKING:  # the manifest engine loads only when a plan derives hashed names
    from staticbuild.storage.manifest_cache import ManifestCache

STATE_VERSION = 2
APPLYING = "applying"
JOURNAL = "state.journal"
SETTLED = "settled.msgpack"
#: Past this size the journal is folded into a fresh state file on the next save.
MAX_JOURNAL_BYTES = 4 << 20
_V = TypeVar("_V")


_NONE = msgspec.Raw(msgspec.msgpack.encode(None))


class OutputRecord(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One file staticbuild wrote: its content and the stat it had right after writing."""

    digest: str
    size: int
    mtime_ns: int
    ino: int
    link: str | None = None  # the symlink's target, for --link outputs
    etag: str = ""  # in an s3:// bucket: the ETag its upload returned ("": not known yet)


class SourceRecord(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A source file's content digest, valid while its stat stays the same."""

    size: int
    mtime_ns: int
    ino: int
    digest: str
    md5: str = ""  # first 12 hex digits of its md5 (Django's hashed name), when asked for


class State(msgspec.Struct):
    version: int = STATE_VERSION
    destination: str = ""
    #: the folder that held the spec when this was saved: a project moved or cloned
    #: elsewhere finds its record by the destination's place relative to the spec
    home: str = ""
    finished: bool = True
    outputs: dict[str, OutputRecord] = msgspec.field(default_factory=dict)
    #: by source root (its absolute folder), then root-relative path: the keys are the
    #: walk's own strings, not one new path string per file
    sources: dict[str, dict[str, SourceRecord]] = msgspec.field(default_factory=dict)
    #: the manifest engine's cache (``ManifestCache | None``), kept encoded: a no-op apply
    #: never needs it (see :func:`manifest_cache_of`)
    manifest_cache: msgspec.Raw = msgspec.field(default_factory=lambda: _NONE)
    #: hashed names (and their siblings) of the latest manifests, newest first
    history: list[list[str]] = msgspec.field(default_factory=list)


def manifest_cache_of(state: State) -> ManifestCache | None:
    from staticbuild.storage.manifest_cache import ManifestCache

    try:
        return msgspec.msgpack.decode(state.manifest_cache, type=ManifestCache | None)
    except ValueError:  # another engine's format (or damaged bytes): only a cache miss
        return None


def set_manifest_cache(state: State, cache: ManifestCache | None) -> None:
    state.manifest_cache = msgspec.Raw(msgspec.msgpack.encode(cache))


def state_file(state_dir: Path) -> Path:
    return state_dir / "state.msgpack"


def mark_unfinished(state_dir: Path, pending: Collection[str] = ()) -> None:
    """Note that an apply is under way, and the destination paths it is about to write: a
    crash (or Ctrl-C) leaves the note, and the next plan treats those paths as its own
    whatever they hold, so a file written but never recorded is not left behind forever."""
    state_dir.mkdir(parents=True, exist_ok=True)
    encoded = msgspec.msgpack.encode(sorted(pending))
    replace_file(state_dir / APPLYING, lambda write: write(encoded))
    (state_dir / SETTLED).unlink(missing_ok=True)


def read_pending(state_dir: Path) -> frozenset[str]:
    """The paths an unfinished apply was about to write (see :func:`mark_unfinished`)."""
    try:
        data = (state_dir / APPLYING).read_bytes()
        return frozenset(msgspec.msgpack.decode(data, type=list[str]))
    except (OSError, ValueError):
        return frozenset()


class _WithoutOutputs(msgspec.Struct):
    """:class:`State` without its output records (msgspec skips them undecoded)."""

    version: int = STATE_VERSION
    destination: str = ""
    home: str = ""
    finished: bool = True
    sources: dict[str, dict[str, SourceRecord]] = msgspec.field(default_factory=dict)
    manifest_cache: msgspec.Raw = msgspec.field(default_factory=lambda: _NONE)
    history: list[list[str]] = msgspec.field(default_factory=list)


def _moved(recorded: str, recorded_home: str, destination: str, home: str) -> bool | None:
    """Whether a record made for ``recorded`` (with the spec in ``recorded_home``) is the
    record of ``destination`` (the spec now in ``home``): False when it is, in place; True
    when it is, the project having moved with the destination inside it (the same place
    below the spec's folder); None when it is another destination's. A destination
    outside the project is matched only by its own path: the folder now at the same place
    relative to a moved spec is someone else's."""
    if recorded == destination:
        return False
    if not recorded_home or recorded_home == home or "://" in destination:
        return None
    if not is_inside(recorded, recorded_home):
        return None  # outside the project: it did not move with it (another folder now)
    if _rebased(recorded, recorded_home, home) != destination:
        return None
    # And really inside the project: a symlink on the way (pub -> ../shared) may lead out
    # of it, to a folder that did not move with it (one to build/ inside it is fine).
    return True if is_inside(os.path.realpath(destination), os.path.realpath(home)) else None


def _rebased(path: str, recorded_home: str, home: str) -> str:
    """A recorded folder inside the moved project, where it is now."""
    if not is_inside(path, recorded_home):
        return path  # outside the project: it did not move with it
    return os.path.normpath(os.path.join(home, os.path.relpath(path, recorded_home)))


def load_state(
    state_dir: Path, destination: str, *, home: str = "", outputs: bool = True
) -> State | None:
    """The recorded state for ``destination``, or None when there is none (or it is unusable).

    ``home`` is the folder that holds the spec: a record saved before the project moved is
    still this destination's if the destination is where it was relative to the spec.
    ``outputs=False`` (the destination is empty: none of them exists) leaves the output
    records undecoded and the next save rewrites the state without them, while the
    sources' records, the manifest engine's cache and the history are kept.
    """
    try:
        data = state_file(state_dir).read_bytes()
    except OSError:
        return None
    try:
        if outputs:
            state = msgspec.msgpack.decode(data, type=State)
        else:
            part = msgspec.msgpack.decode(data, type=_WithoutOutputs)
            state = State(**msgspec.structs.asdict(part))
    except ValueError:  # msgspec's DecodeError, or UnicodeDecodeError for damaged bytes
        return None
    moved = _moved(state.destination, state.home, destination, home)
    if state.version != STATE_VERSION or moved is None:
        return None
    # A decoded Raw is a view into the whole file: copied, the file's bytes can be freed.
    state.manifest_cache = state.manifest_cache.copy()
    whole = _replay(state, state_dir / JOURNAL, outputs=outputs)
    if moved:  # the sources' records are kept under their folders' new names
        state.sources = {
            _rebased(root, state.home, home): records for root, records in state.sources.items()
        }
        state.destination = destination
    # moved, saved before homes were kept, or a damaged journal (appending would bury
    # the new entries behind the damage)
    rewrite = not whole or (bool(home) and state.home != home)
    state.home = home or state.home
    track(state)
    if rewrite:
        assert isinstance(state.outputs, _Tracked)
        state.outputs.changed = None  # saved whole: the file names the old place
    if not outputs:
        none_yet: _Tracked[OutputRecord] = _Tracked()
        none_yet.changed = None  # saved whole: the file's old records must not come back
        state.outputs = none_yet
    if (state_dir / APPLYING).exists():
        state.finished = False
    return state


class _OutputsOnly(msgspec.Struct):
    version: int = STATE_VERSION
    destination: str = ""
    home: str = ""
    outputs: dict[str, OutputRecord] = msgspec.field(default_factory=dict)


def load_outputs(state_dir: Path, destination: str, home: str = "") -> dict[str, OutputRecord]:
    """Only the output records of :func:`load_state`, in the same order (empty where it
    would give None): what the outputs' look needs, without decoding the rest."""
    try:
        part = msgspec.msgpack.decode(state_file(state_dir).read_bytes(), type=_OutputsOnly)
    except (OSError, ValueError):
        return {}
    if (
        part.version != STATE_VERSION
        or _moved(part.destination, part.home, destination, home) is None
    ):
        return {}
    for delta in _deltas(state_dir / JOURNAL)[0]:  # as _replay: the same records
        merge_changes(part.outputs, delta.outputs)
    return part.outputs


class _Tracked(dict[str, _V]):
    """A dict that remembers which keys changed, so a save can write only those.

    ``changed`` is None once the changes outnumber four times what the dict held (a first
    apply fills it from empty): the save rewrites it whole then, by the rule of
    :func:`save_state`, so 100,000 keys need not be remembered one by one.
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.changed: set[str] | None = set()
        self._held = len(self)  # what it held when loaded or last saved

    def _note(self, key: str) -> None:
        changed = self.changed
        if changed is not None:
            if len(changed) >= 4 * self._held + 1024:
                self.changed = None  # the save will write it whole
            else:
                changed.add(key)

    def __setitem__(self, key: str, value: _V) -> None:
        self._note(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._note(key)
        super().__delitem__(key)

    def pop(self, key: str, *default: Any) -> Any:
        self._note(key)
        return super().pop(key, *default)

    def saved(self) -> None:
        """Start remembering afresh: what it holds now is what the file holds."""
        self.changed = set()
        self._held = len(self)

    def update(self, *args: Any, **kwargs: Any) -> None:
        items = args[0] if len(args) == 1 and not kwargs and isinstance(args[0], dict) else None
        if items is None:
            items = dict(*args, **kwargs)
        if self.changed is not None:
            if len(self.changed) + len(items) > 4 * self._held + 1024:
                self.changed = None  # the save will write it whole
            else:
                self.changed.update(items)
        super().update(items)


class _Delta(msgspec.Struct, omit_defaults=True):
    """One journal entry: the records that changed (None: removed) and the small fields."""

    finished: bool
    outputs: dict[str, OutputRecord | None]
    sources: dict[str, dict[str, SourceRecord | None]]
    history: list[list[str]]
    manifest_cache: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET


def source_records(state: State, root: str) -> dict[str, SourceRecord]:
    """The records of the sources below ``root`` (an absolute folder), kept in ``state``."""
    records = state.sources.get(root)
    if records is None:
        records = state.sources[root] = _Tracked()
    return records


def _tracked(state: State) -> list[_Tracked[Any]] | None:
    """Every record dict of ``state``, if each remembers its changes."""
    tracked: list[_Tracked[Any]] = []
    for records in (state.outputs, *state.sources.values()):
        if not isinstance(records, _Tracked):
            return None
        tracked.append(records)
    return tracked


def state_changed(state: State) -> bool:
    """Whether anything was changed since the last save (always, for an untracked state)."""
    tracked = _tracked(state)
    if tracked is None:
        return True
    return not state.finished or any(
        records.changed is None or records.changed for records in tracked
    )


def track(state: State) -> State:
    """Make ``state`` remember its changes (done on load and on creation)."""
    state.outputs = _Tracked(state.outputs)
    state.sources = {root: _Tracked(records) for root, records in state.sources.items()}
    return state


def fresh_state(destination: str, home: str = "") -> State:
    """A new record, for a destination that has none (or an unusable one: another
    destination's, a corrupt file). Its first save rewrites the state file whole: a
    journal appended to the file it replaces would be replayed onto that file's records."""
    state = track(State(destination=destination, home=home, finished=False))
    assert isinstance(state.outputs, _Tracked)
    state.outputs.changed = None
    return state


def save_state(state_dir: Path, state: State, *, manifest_changed: bool = True) -> None:
    """Record ``state``: append what changed to the journal, or rewrite it whole when the
    journal has grown, so a save costs what changed, not what exists."""
    state_dir.mkdir(parents=True, exist_ok=True)
    journal = state_dir / JOURNAL
    tracked = _tracked(state)
    if (
        tracked is not None
        and all(records.changed is not None for records in tracked)
        and state_file(state_dir).exists()
    ):
        size = sum(len(records.changed or ()) for records in tracked)
        try:
            logged = journal.stat().st_size
        except FileNotFoundError:
            logged = 0
        if size * 4 < sum(map(len, tracked)) + 64 and logged < MAX_JOURNAL_BYTES:
            delta = _Delta(
                state.finished,
                _changes(tracked[0]),
                {
                    root: _changes(records)
                    for root, records in zip(state.sources, tracked[1:], strict=True)
                    if records.changed
                },
                state.history,
                state.manifest_cache if manifest_changed else msgspec.UNSET,
            )
            frame = msgspec.msgpack.encode(delta)
            with open(journal, "ab") as fh:
                fh.write(len(frame).to_bytes(4, "big") + frame)
            _saved(state_dir, state)
            return
    replace_file(state_file(state_dir), lambda write: write_encoded(state, write))
    journal.unlink(missing_ok=True)
    _saved(state_dir, state)


def _changes(records: _Tracked[_V]) -> dict[str, _V | None]:
    """The changed keys' records (None: removed), for a journal entry."""
    return {key: records.get(key) for key in records.changed or ()}


#: records encoded per piece when the state is written whole
_PIECE = 4096


def write_encoded(state: State, write: Write) -> None:
    """Write ``msgspec.msgpack.encode(state)`` in pieces, so that 100k records' bytes are
    never all in memory at once beside the records themselves (about 26 MB at 100k)."""
    encode = msgspec.msgpack.Encoder().encode
    names = state.__struct_fields__
    write(_map_header(len(names)))
    for name in names:
        value = getattr(state, name)
        write(encode(name))
        if name == "sources":  # a map of maps: each root's records in pieces
            write(_map_header(len(value)))
            for root, records in value.items():
                write(encode(root))
                _write_records(records, write, encode)
        else:
            _write_records(value, write, encode)


def _write_records(value: Any, write: Write, encode: Callable[[Any], bytes]) -> None:
    if not isinstance(value, dict) or len(value) <= _PIECE:
        write(encode(value))
        return
    write(_map_header(len(value)))
    items = iter(value.items())
    while piece := dict(islice(items, _PIECE)):
        data = encode(piece)
        write(memoryview(data)[len(_map_header(len(piece))) :])  # entries only


def _map_header(size: int) -> bytes:
    """msgpack's (shortest) header of a map of ``size`` entries."""
    if size < 16:
        return bytes([0x80 | size])
    if size < 1 << 16:
        return b"\xde" + size.to_bytes(2, "big")
    return b"\xdf" + size.to_bytes(4, "big")


def _saved(state_dir: Path, state: State) -> None:
    for records in _tracked(state) or ():
        records.saved()
    if state.finished:
        (state_dir / APPLYING).unlink(missing_ok=True)


def _deltas(journal: Path) -> tuple[list[_Delta], bool]:
    """The journal's entries in order, up to a torn last one (a crash mid-append) or the
    first that cannot be decoded; and whether that was all of it (False: the next save
    must rewrite the state whole, or its entry would follow the damage and be lost)."""
    try:
        data = journal.read_bytes()
    except FileNotFoundError:
        return [], True
    deltas: list[_Delta] = []
    at = 0
    while at + 4 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        frame = data[at + 4 : at + 4 + size]
        if len(frame) < size:
            break
        try:
            deltas.append(msgspec.msgpack.decode(frame, type=_Delta))
        except ValueError:  # msgspec's DecodeError, or UnicodeDecodeError
            break
        at += 4 + size
    return deltas, at == len(data)


def _replay(state: State, journal: Path, *, outputs: bool = True) -> bool:
    """Apply the journal's entries in order (without their output records, if asked);
    False if some of it could not be read."""
    deltas, whole = _deltas(journal)
    for delta in deltas:
        state.finished = delta.finished
        state.history = delta.history
        if not isinstance(delta.manifest_cache, msgspec.UnsetType):
            state.manifest_cache = delta.manifest_cache.copy()
        if outputs:
            merge_changes(state.outputs, delta.outputs)
        for root, changes in delta.sources.items():
            merge_changes(state.sources.setdefault(root, {}), changes)
    return whole


def merge_changes(target: dict[str, _V], changes: Mapping[str, _V | None]) -> None:
    """Apply a journal's changes to ``target``: a value replaces, None removes."""
    for key, value in changes.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value


def adopt_outputs(state: State, outputs: dict[str, OutputRecord], history: list[list[str]]) -> None:
    """Take the output records (and manifest history) kept elsewhere (an s3:// bucket's own
    record) where they differ from this one: the destination's record is the truth."""
    if outputs != state.outputs:
        replaced: _Tracked[OutputRecord] = _Tracked(outputs)
        replaced.changed = None  # saved whole: none of the old records may come back
        state.outputs = replaced
    if history != state.history:
        state.history = history
