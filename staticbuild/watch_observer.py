"""watchdog observers for the watch loop: the roots (recursive) and the spec's folder.

A source root may not exist yet (a ``vendor/dist`` that a JS build creates later) or may
vanish while we watch; inotify cannot watch what is not there, so :meth:`RootWatcher.refresh`
is called a few times a second and reports roots that appeared, vanished or now resolve
elsewhere (a re-pointed symlink), and the loop rescans those. The spec's folder is
watched non-recursively: it is often the project root, and a recursive watch there
would see ``node_modules`` and ``.git``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from staticbuild.errors import SourceError
from staticbuild.finders import is_inside

Sink = Callable[[Any], None]  # a watchdog FileSystemEvent or a SeenEvent

#: inotify keeps watching a folder moved out of a root (a watch follows the inode), and
#: watchdog keeps its watches; when the folder is moved back, watchdog adds them again,
#: finds its own callback already there and warns (InotifyFD._add_callback in
#: watchdog/observers/inotify_c.py). The callback is replaced by itself: nothing is lost.
_CALLBACK_EXISTS = r"Callback with id '[^']*' already exists for watch"


class _StoppedWithEventsInFlight(logging.Filter):
    """Drops watchdog's error that an inotify emitter being stopped (Ctrl-C, a vanished
    root) was handed one more event (InotifyEmitter.queue_events): once its watch is
    stopped, that event is not wanted anyway."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "called when the thread is inactive" not in record.getMessage()


_QUIET_STOP = _StoppedWithEventsInFlight()


@dataclass(frozen=True)
class SeenEvent:
    """A watchdog event retold at the spec's own paths (see :class:`RootWatcher`)."""

    event_type: str
    src_path: str
    dest_path: str
    is_directory: bool


class _Alias(NamedTuple):
    """A watched folder: ``real``, the path scheduled, names the spec's ``declared``."""

    real: str
    declared: str
    recursive: bool


class _Forward(FileSystemEventHandler):
    """Hands every event to ``sink`` (a queue's ``put``), at the spec's paths: no other
    work on watchdog's thread."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        #: replaced whole by the loop's thread, read here
        self.aliases: tuple[_Alias, ...] = ()
        self.spec: tuple[str, str] = ("", "")

    def dispatch(self, event: FileSystemEvent) -> None:
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(event.dest_path) if event.event_type == "moved" else ""
        sources, targets = self._names(src), self._names(dest)
        if sources == [src] and targets == [dest]:
            self.sink(event)  # nothing seen through a symlink
            return
        for name in sources:
            for target in targets:
                self.sink(SeenEvent(event.event_type, name, target, event.is_directory))

    def _names(self, path: str) -> list[str]:
        """The paths the spec knows ``path`` by: below each watched folder it is in."""
        if not path:
            return [path]
        names = [
            alias.declared + path[len(alias.real) :]
            for alias in self.aliases
            if is_inside(path, alias.real)
        ]
        real_spec, spec = self.spec
        if path == real_spec:
            names.append(spec)
        return list(dict.fromkeys(names)) or [path]


class RootWatcher:
    """One watchdog observer and its watches; a context manager that joins on exit.

    inotify does not follow a symlink given as the folder to watch (watchdog adds
    IN_DONT_FOLLOW), and a spec may be a symlink to a file elsewhere; so the resolved
    folders are watched, and their events are retold at the spec's paths, which the
    batcher and the core know. A root whose link is re-pointed is watched anew.
    """

    def __init__(self, sink: Sink, observer_factory: Callable[[], Any] = Observer) -> None:
        warnings.filterwarnings(
            "ignore", _CALLBACK_EXISTS, RuntimeWarning, module=r"watchdog\.observers\."
        )
        logging.getLogger("watchdog.observers.inotify").addFilter(_QUIET_STOP)  # added once
        self._handler = _Forward(sink)
        self._observer = observer_factory()
        self._roots: tuple[str, ...] = ()
        self._spec = ""
        #: scheduled (real folder, recursive) -> watchdog's watch
        self._watches: dict[tuple[str, bool], Any] = {}
        #: each declared folder -> the real folder watched for it (None: not there)
        self._resolved: dict[str, str | None] = {}

    def __enter__(self) -> RootWatcher:
        self._observer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the observer and join its threads (bounded)."""
        self._observer.stop()
        if self._observer.is_alive():
            self._observer.join(timeout=10)

    def watch(self, roots: Iterable[Path], spec_path: Path) -> None:
        """Watch exactly these roots (recursively) and the spec's folder (not)."""
        self._roots = tuple(os.path.abspath(root) for root in roots)
        self._spec = os.path.abspath(spec_path)
        self._sync()

    def refresh(self) -> list[Path]:
        """Start watching roots that appeared or now resolve elsewhere, drop those that
        vanished; return them, and the spec if it now resolves elsewhere."""
        return [Path(folder) for folder in self._sync()]

    @property
    def watched(self) -> frozenset[Path]:
        """The declared folders being watched."""
        return frozenset(Path(alias.declared) for alias in self._handler.aliases)

    def _sync(self) -> list[str]:
        """Bring the watches in line with where the folders now resolve; return the
        roots (and the spec) that now resolve elsewhere or not at all."""
        real_spec = os.path.realpath(self._spec)
        wanted = [(root, True) for root in self._roots]
        wanted += [(os.path.dirname(self._spec), False), (os.path.dirname(real_spec), False)]
        aliases: list[_Alias] = []
        for declared, recursive in wanted:
            real = os.path.realpath(declared)
            if os.path.isdir(real):
                aliases.append(_Alias(real, declared, recursive))
        needed = {(alias.real, alias.recursive) for alias in aliases}
        for key in set(self._watches) - needed:
            self._unschedule(key)
        failed = {key for key in needed - set(self._watches) if not self._schedule(key)}
        aliases = [a for a in aliases if (a.real, a.recursive) not in failed]
        self._handler.aliases = tuple(dict.fromkeys(aliases))
        self._handler.spec = (real_spec, self._spec)
        resolved: dict[str, str | None] = dict.fromkeys(self._roots)
        resolved.update((a.declared, a.real) for a in aliases if a.recursive)
        resolved[self._spec] = real_spec  # a re-pointed link to it or its folder: reload
        changed = [
            path
            for path, real in resolved.items()
            if path in self._resolved and self._resolved[path] != real
        ]
        self._resolved = resolved
        return changed

    def _schedule(self, key: tuple[str, bool]) -> bool:
        path, recursive = key
        try:
            self._watches[key] = self._observer.schedule(self._handler, path, recursive=recursive)
        except FileNotFoundError:  # vanished between the check and the call
            return False
        except OSError as exc:
            raise SourceError(
                f"Cannot watch {path}: {exc.strerror or exc}. On Linux, raise "
                "fs.inotify.max_user_watches (sysctl) for large trees."
            ) from exc
        return True

    def _unschedule(self, key: tuple[str, bool]) -> None:
        watch = self._watches.pop(key)
        # KeyError/OSError: its emitter already stopped because the folder went away.
        with contextlib.suppress(KeyError, OSError):
            self._observer.unschedule(watch)
