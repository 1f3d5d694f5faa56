"""watchdog observers for the watch loop: the roots (recursive) and the spec's folder.

A source root may not exist yet (a ``vendor/dist`` that a JS build creates later) or may
vanish while we watch; inotify cannot watch what is not there, so :meth:`RootWatcher.refresh`
is called a few times a second and reports roots that appeared or vanished, and the
loop rescans those. The spec's folder is watched non-recursively: it is often the
project root, and a recursive watch there would see ``node_modules`` and ``.git``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from staticbuild.errors import SourceError

Sink = Callable[[FileSystemEvent], None]

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


class _Forward(FileSystemEventHandler):
    """Hands every event to ``sink`` (a queue's ``put``): no work on watchdog's thread."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def dispatch(self, event: FileSystemEvent) -> None:
        self.sink(event)


class RootWatcher:
    """One watchdog observer and its watches; a context manager that joins on exit."""

    def __init__(self, sink: Sink, observer_factory: Callable[[], Any] = Observer) -> None:
        warnings.filterwarnings(
            "ignore", _CALLBACK_EXISTS, RuntimeWarning, module=r"watchdog\.observers\."
        )
        logging.getLogger("watchdog.observers.inotify").addFilter(_QUIET_STOP)  # added once
        self._handler = _Forward(sink)
        self._observer = observer_factory()
        self._watches: dict[tuple[Path, bool], Any] = {}
        self._missing: set[tuple[Path, bool]] = set()

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
        wanted = {(Path(os.path.abspath(root)), True) for root in roots}
        wanted.add((Path(os.path.abspath(spec_path)).parent, False))
        for key in list(self._watches):
            if key not in wanted:
                self._unschedule(key)
        self._missing &= wanted
        for key in wanted - set(self._watches):
            self._schedule(key)

    def refresh(self) -> list[Path]:
        """Start watching roots that appeared, drop those that vanished; return both."""
        changed: list[Path] = []
        for key in list(self._watches):
            if not key[0].is_dir():
                self._unschedule(key)
                self._missing.add(key)
                changed.append(key[0])
        for key in list(self._missing):
            if key[0].is_dir() and self._schedule(key):
                changed.append(key[0])
        return changed

    @property
    def watched(self) -> frozenset[Path]:
        return frozenset(path for path, _ in self._watches)

    def _schedule(self, key: tuple[Path, bool]) -> bool:
        path, recursive = key
        if not path.is_dir():
            self._missing.add(key)
            return False
        try:
            self._watches[key] = self._observer.schedule(
                self._handler, str(path), recursive=recursive
            )
        except FileNotFoundError:  # vanished between the check and the call
            self._missing.add(key)
            return False
        except OSError as exc:
            raise SourceError(
                f"Cannot watch {path}: {exc.strerror or exc}. On Linux, raise "
                "fs.inotify.max_user_watches (sysctl) for large trees."
            ) from exc
        self._missing.discard(key)
        return True

    def _unschedule(self, key: tuple[Path, bool]) -> None:
        watch = self._watches.pop(key)
        # KeyError/OSError: its emitter already stopped because the folder went away.
        with contextlib.suppress(KeyError, OSError):
            self._observer.unschedule(watch)
