"""Turn file-system events into change sets: filter, fold and debounce, with no threads.

Pure on purpose (watchfiles keeps its filters apart from its loop the same way): the
watch loop feeds events in and asks when the next batch is due, so tests drive it with a
fake clock and plain event objects. Saving a file produces a burst (vim: ``4913``, a
``~`` backup, write, rename; JetBrains: ``___jb_tmp___``), so a batch is ready only
after ``debounce`` seconds without events, or ``max_wait`` after its first event so a
file written continuously still gets applied. A close-after-write or a rename is how a
save ends (inotify's IN_CLOSE_WRITE / IN_MOVED_TO), so when the last event is one of
those the batch waits only ``settle``: that is most of the write-to-served latency.

What apply would never collect (a name the spec's ignore patterns match, as ``.*`` matches
vim's ``.base.css.swp``) is no change at all, unless a symlink in a root leads to it or
through it (``pub -> .hidden``: apply collects ``pub/x.css``; ignore patterns match the
names a file is found by, as Django's ``get_files`` does). Editor temp names that apply does collect
(``4913``, ``worker.tmp``) are changes like any other, or watch's output would differ
from apply's; only their close does not end a save, so the rename that follows still
falls in the same batch, and one that has vanished by then is not collected.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Protocol

from staticbuild.finders import IgnoreMatcher

DEBOUNCE = 0.03
SETTLE = 0.005
MAX_WAIT = 0.5

#: Names editors and tools write beside a file while saving it: writing one does not end
#: a save (the final rename onto the real name does).
EDITOR_TEMP_PATTERNS: tuple[str, ...] = (
    "*~",  # emacs/vim/gedit backups
    ".#*",  # emacs lock files
    "#*#",  # emacs auto-save
    "*.swp",  # vim swap files (.swp, .swo, ... and .swx)
    "*.swo",
    "*.swn",
    "*.swx",
    ".*.sw?",
    "4913",  # vim's "can I write here" probe (vim :help 'backupcopy')
    "*.tmp",
    "*.temp",
    "*___jb_tmp___",  # JetBrains safe write
    "*___jb_old___",
    ".goutputstream-*",  # GLib/GNOME safe write
    "*.kate-swp",
    ".DS_Store",
    "*.crdownload",
    ".*.sbtmp-*",  # staticbuild's own executor temporaries
)

#: Event types that say nothing changed on disk (watchdog's names).
_NO_CHANGE = frozenset({"opened", "closed_no_write"})
#: Event types that end a save.
_FINAL = frozenset({"closed", "moved"})


class FileEvent(Protocol):
    """The part of a watchdog ``FileSystemEvent`` the batcher reads."""

    @property
    def event_type(self) -> str: ...
    @property
    def src_path(self) -> bytes | str: ...
    @property
    def dest_path(self) -> bytes | str: ...
    @property
    def is_directory(self) -> bool: ...


@dataclass(frozen=True)
class ChangeSet:
    """One batch: absolute source paths that changed, and whether the spec did."""

    paths: frozenset[Path]
    spec_changed: bool = False
    events: int = 0


def is_editor_temp(name: str) -> bool:
    """True for a file name an editor writes while saving (see EDITOR_TEMP_PATTERNS)."""
    return any(fnmatchcase(name, pattern) for pattern in EDITOR_TEMP_PATTERNS)


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


class ChangeBatcher:
    """Collects events into a :class:`ChangeSet`; call :meth:`pop_ready` to take one."""

    def __init__(
        self,
        *,
        watch_roots: Iterable[Path],
        spec_path: Path,
        ignore_roots: Iterable[Path] = (),
        ignore_patterns: Sequence[str] = (),
        debounce: float = DEBOUNCE,
        settle: float = SETTLE,
        max_wait: float = MAX_WAIT,
        clock: Callable[[], float] = time.monotonic,
        linked: Callable[[Path], bool] = lambda path: False,
    ) -> None:
        self.debounce = debounce
        #: whether a symlink in a root leads to or through a path (the core knows)
        self._linked = linked
        self.settle = min(settle, debounce)
        self._quiet = debounce
        self.max_wait = max_wait
        self._clock = clock
        self.set_roots(
            watch_roots=watch_roots,
            spec_path=spec_path,
            ignore_roots=ignore_roots,
            ignore_patterns=ignore_patterns,
        )
        self._paths: set[Path] = set()
        self._spec_changed = False
        self._events = 0
        self._first: float | None = None
        self._last = 0.0

    def set_roots(
        self,
        *,
        watch_roots: Iterable[Path],
        spec_path: Path,
        ignore_roots: Iterable[Path] = (),
        ignore_patterns: Sequence[str] = (),
    ) -> None:
        """Re-target after a spec reload; what is pending stays pending."""
        self.watch_roots = tuple(_absolute(p) for p in watch_roots)
        self.spec_path = _absolute(spec_path)
        # The destination and the state folder are written by apply itself: seeing them
        # would make every apply trigger the next one.
        self.ignore_roots = tuple(_absolute(p) for p in ignore_roots)
        self._matcher = IgnoreMatcher(ignore_patterns)

    def classify(self, path: Path) -> str | None:
        """``"spec"``, ``"source"`` or ``None`` (ignored) for one absolute path."""
        if path == self.spec_path:
            return "spec"
        if any(_inside(path, root) for root in self.ignore_roots):
            return None
        roots = [root for root in self.watch_roots if _inside(path, root)]
        if not roots:
            return None  # e.g. a sibling of the spec, seen by the spec folder's watch
        if all(self._never_collected(path, root) for root in roots) and not self._linked(path):
            return None
        return "source"

    def _never_collected(self, path: Path, root: Path) -> bool:
        """A part of the path has a name the ignore patterns match: the walk skips such a
        file or prunes such a folder (a path pattern is not used: it may name a folder
        whose files are collected)."""
        return any(self._matcher.matches(part) for part in path.relative_to(root).parts)

    def add(self, event: FileEvent) -> bool:
        """Fold one event in; a move counts as its old and its new path. True if kept."""
        if event.event_type in _NO_CHANGE:
            return False
        if event.is_directory and event.event_type in ("modified", "attrib", "closed"):
            return False  # a folder's entries changed: their own events say which
        raw = [event.src_path]
        if event.event_type == "moved":
            raw.append(event.dest_path)
        kept = ends_save = False
        for value in raw:
            if value:
                path = Path(os.fsdecode(value))
                if self.add_path(path):
                    kept = True
                    ends_save = not is_editor_temp(path.name)  # a move: its new name
        if ends_save and event.event_type in _FINAL and not event.is_directory:
            self._quiet = self.settle
        return kept

    def add_path(self, path: Path) -> bool:
        """Fold one changed path in (a root that appeared, a retried failure)."""
        path = _absolute(path)
        kind = self.classify(path)
        if kind is None:
            return False
        if kind == "spec":
            self._spec_changed = True
        else:
            self._paths.add(path)
        now = self._clock()
        self._events += 1
        self._first = now if self._first is None else self._first
        self._last = now
        self._quiet = self.debounce  # add() shortens it again if this ended a save
        return True

    def pending(self) -> bool:
        return self._first is not None

    def time_until_ready(self) -> float | None:
        """Seconds until :meth:`pop_ready` will return a batch; ``None`` if nothing waits."""
        if self._first is None:
            return None
        due = min(self._last + self._quiet, self._first + self.max_wait)
        return max(0.0, due - self._clock())

    def pop_ready(self) -> ChangeSet | None:
        """The pending batch if it is due (quiet for ``debounce``), else ``None``."""
        wait = self.time_until_ready()
        if wait is None or wait > 0:
            return None
        return self.flush()

    def flush(self) -> ChangeSet | None:
        """The pending batch now, due or not (used at shutdown and by tests)."""
        if self._first is None:
            return None
        batch = ChangeSet(frozenset(self._paths), self._spec_changed, self._events)
        self._paths = set()
        self._spec_changed = False
        self._events = 0
        self._first = None
        return batch


def _absolute(path: Path) -> Path:
    """Absolute and normalised, without resolving symlinks (events carry watched paths)."""
    return Path(os.path.abspath(path))
