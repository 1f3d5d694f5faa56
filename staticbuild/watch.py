"""``staticbuild watch``: apply once, then re-apply what changed, optionally serving.

The loop owns no policy of its own: :class:`~staticbuild.watch_batch.ChangeBatcher`
decides what a change is, the core's ``Builder`` decides what to do about it, and the
server serves whatever the destination holds (:mod:`staticbuild.watch_serve` keeps it in
step with spec edits). What lives here is the order of things
and the failure rules of a daemon: a bad spec edit or a failed re-apply is printed and
the last good output keeps being served; SIGINT and SIGTERM take the same clean path
(observer joined, server closed, exit status 0), as Django's ``runserver`` does.

The CLI is a thin layer::

    code = run_watch(partial(load_project, spec_file), Builder, serve=serve,
                     insecure=insecure, addr=addr, verbosity=verbosity,
                     echo=click.echo, err_echo=partial(click.echo, err=True))
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from staticbuild.actions import Delete
from staticbuild.errors import Cancelled, SpecError, StaticbuildError
from staticbuild.lock import project_lock
from staticbuild.reports import conflict_line
from staticbuild.watch_batch import DEBOUNCE, ChangeBatcher, ChangeSet
from staticbuild.watch_observer import RootWatcher
from staticbuild.watch_serve import ServedProject, Serving, local_destination, start_serving

#: How often the loop looks at the stop flag and for watch roots that appeared.
POLL = 0.25
#: How many changed paths a re-apply line names before "and N more".
SHOWN = 3
#: How long a failed re-apply waits for the watcher's news of changes made meanwhile.
SETTLE = 0.05


class ProjectLike(ServedProject, Protocol):
    """What the loop reads from ``staticbuild.api.Project``."""

    @property
    def spec_path(self) -> str | os.PathLike[str]: ...
    @property
    def state_dir(self) -> str | os.PathLike[str]: ...
    @property
    def watch_roots(self) -> tuple[Path, ...]: ...
    @property
    def warnings(self) -> tuple[str, ...]: ...


class ApplyResultLike(Protocol):
    @property
    def changed_paths(self) -> tuple[str, ...]: ...
    def summary(self) -> str: ...


class BuilderLike(Protocol):
    """``staticbuild.api.Builder``: full and incremental plans, and apply."""

    @property
    def warnings(self) -> Sequence[str]: ...
    def plan(self, changed: frozenset[Path] | None = None) -> Any: ...
    def apply(self, plan: Any) -> ApplyResultLike: ...
    def conflicts(self) -> Sequence[str]: ...
    def reaches(self, path: Path) -> bool: ...


Echo = Callable[[str], None]
#: Before the first apply: may its plan delete or overwrite files staticbuild did not
#: write? True if it asked and was told yes, False if it did not ask; Cancelled on "no".
Confirm = Callable[[Any], bool]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _names(paths: Sequence[str]) -> str:
    shown = ", ".join(paths[:SHOWN])
    more = len(paths) - SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


class _Signals:
    """SIGINT/SIGTERM set the stop flag; during an apply they also interrupt it.

    An apply can take minutes on a big tree, so there the signal raises
    KeyboardInterrupt as Ctrl-C would (the executor never leaves a partial file at a
    final path). Elsewhere only the flag is set and the loop stops within ``POLL``.
    Handlers exist only in the main thread (Python delivers signals there only).
    """

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.interruptible = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.stop.set()
        if self.interruptible:
            self.interruptible = False
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        try:
            yield
        finally:
            for number, handler in self._previous.items():
                signal.signal(number, handler)

    @contextlib.contextmanager
    def interruptible_section(self) -> Iterator[None]:
        self.interruptible = not self.stop.is_set()
        try:
            if self.stop.is_set():
                raise KeyboardInterrupt
            yield
        finally:
            self.interruptible = False


class _Session:
    """The current project and builder, and what the last failure left to retry."""

    def __init__(
        self,
        project: ProjectLike,
        builder_factory: Callable[[Any], BuilderLike],
        *,
        verbosity: int,
        echo: Echo,
        err_echo: Echo,
    ) -> None:
        self.project = project
        self.builder_factory = builder_factory
        self.builder: BuilderLike | None = None
        self.verbosity = verbosity
        self.echo = echo
        self.err_echo = err_echo
        self.retry: frozenset[Path] = frozenset()
        self.needs_full = True
        #: asks about foreign files until a full apply has gone through (the first one
        #: may fail, a missing reference say: the one that then runs asks instead)
        self.confirm: Confirm | None = None
        self._shown: set[str] = set()
        #: whether changes made during the last apply are waiting (set by run_watch)
        self.changes_pending: Callable[[], bool] = lambda: False

    def _warn(self, warnings: Sequence[str]) -> None:
        """Print the last plan's warnings, as plan and apply do; one that every
        incremental plan repeats (a missing reference) is printed again only after a
        plan without it."""
        if self.verbosity >= 1:
            for warning in warnings:
                if warning not in self._shown:
                    self.err_echo(f"Warning: {warning}")
        self._shown = set(warnings)

    def reaches(self, path: Path) -> bool:
        """Whether a symlink in a root leads to ``path`` (its ignored name may be collected
        under the link's)."""
        return self.builder is not None and self.builder.reaches(path)

    def _warn_foreign(self, plan: Any) -> None:
        """Name the files someone else put where this apply writes (or, with ``clear``,
        that it deletes). A daemon has no one to ask; it goes ahead as ``apply
        --no-input`` does, since a path the spec collects to holds what the sources say,
        but never silently."""
        foreign = plan.foreign()
        if not foreign or self.verbosity < 1:
            return
        deleted = [a.path for a in foreign if isinstance(a, Delete)]
        replaced = [a.path for a in foreign if not isinstance(a, Delete)]
        for verb, paths in (("overwriting", replaced), ("deleting", deleted)):
            if paths:
                files = "1 file" if len(paths) == 1 else f"{len(paths)} files"
                self.err_echo(
                    f"Warning: {verb} {files} that staticbuild did not write: {_names(paths)}"
                )

    def full_apply(self) -> bool:
        """Build a fresh builder, plan everything and apply; print the summary line.
        :attr:`confirm` may ask about foreign files, or cancel."""
        confirm = self.confirm
        self._shown = set()
        try:
            self.builder = self.builder_factory(self.project)
            plan = self.builder.plan()
            self._warn([*self.project.warnings, *self.builder.warnings])
            if self.verbosity >= 2:
                for path in self.builder.conflicts():
                    self.echo(conflict_line(path))
            if confirm is None or not confirm(plan):
                self._warn_foreign(plan)
            result = self.builder.apply(plan)
        except Cancelled:
            raise
        except StaticbuildError as exc:
            self.err_echo(f"Error: {exc}\nStill watching; the last good output is kept.")
            self.needs_full = True
            return False
        self.needs_full, self.retry, self.confirm = False, frozenset(), None
        if self.verbosity >= 1:
            self.echo(result.summary())
        return True

    def reapply(self, changed: frozenset[Path]) -> None:
        """Incremental re-plan and apply of ``changed`` (plus what failed last time)."""
        if self.needs_full or self.builder is None:
            self.full_apply()
            return
        paths = changed | self.retry
        started = time.perf_counter()
        try:
            plan = self.builder.plan(changed=paths)
            self._warn(self.builder.warnings)
            self._warn_foreign(plan)
            result = self.builder.apply(plan)
        except StaticbuildError as exc:
            self.retry = paths
            # The loop is the "again": the next change retries what failed.
            message = str(exc).removesuffix("; run apply again")
            if self.changes_pending():
                # A file was still being written (a big cp -r): the next batch retries.
                if self.verbosity >= 2:
                    self.echo(f"Re-apply met a change in progress; retrying: {message}")
                return
            self.err_echo(
                f"Error: {message}\nStill watching; the last good output is kept, "
                "and the next change retries."
            )
            return
        self.retry = frozenset()
        written = list(result.changed_paths)
        if written and self.verbosity >= 1:
            noun = "change" if len(written) == 1 else "changes"
            self.echo(f"Re-applied {len(written)} {noun} in {_ms(started)} ms: {_names(written)}")
        elif self.verbosity >= 2:
            self.echo(f"Nothing to re-apply for {len(paths)} changed path(s) ({_ms(started)} ms).")
        if self.verbosity >= 3:
            for path in sorted(paths):
                self.echo(f"  changed: {path}")

    def reload(self, loader: Callable[[], ProjectLike]) -> bool:
        """Re-read the spec; on success re-plan fully. False (and kept state) if invalid."""
        started = time.perf_counter()
        try:
            project = loader()
        except SpecError as exc:
            self.err_echo(f"The spec is not valid; still serving the last good state.\n{exc}")
            return False
        self.project = project
        if self.full_apply() and self.verbosity >= 1:
            self.echo(f"Reloaded {os.fspath(project.spec_path)} in {_ms(started)} ms.")
        return True


def _ignore_roots(project: ProjectLike) -> list[Path]:
    roots = [Path(os.fspath(project.state_dir))]
    destination = local_destination(project)
    return roots + ([destination] if destination is not None else [])


def run_watch(
    project_loader: Callable[[], Any],
    builder_factory: Callable[[Any], BuilderLike],
    *,
    serve: bool,
    insecure: bool,
    addr: str,
    verbosity: int,
    echo: Echo,
    err_echo: Echo | None = None,
    stop_event: threading.Event | None = None,
    debounce: float = DEBOUNCE,
    confirm: Confirm | None = None,
) -> int:
    """Apply, then watch and re-apply until SIGINT/SIGTERM or ``stop_event``; return 0.

    ``project_loader()`` returns a ``Project`` (raising SpecError) and is called again on
    every spec edit; ``builder_factory(project)`` returns a ``Builder``. Raises
    StaticbuildError only before the first apply (an invalid spec; another process holding
    the project's lock; ``--serve`` refused: no ``debug``/``--insecure``, an ``s3://``
    destination, a bad or busy address; Cancelled: ``confirm`` was answered no) or when a
    root cannot be watched (SourceError: inotify's watch limit). ``echo`` gets normal
    output, ``err_echo`` errors (default: stderr).

    ``confirm`` sees the first apply's plan, as ``apply`` asks on a terminal before it
    deletes or overwrites files staticbuild did not write. Later applies ask no one: they
    print a warning naming such files and go ahead (see ``_Session._warn_foreign``).
    """
    err_echo = err_echo or _stderr
    stop = stop_event or threading.Event()
    project: ProjectLike = project_loader()
    with contextlib.ExitStack() as stack:
        # The project is this watcher's for its whole run: an apply elsewhere is refused.
        stack.enter_context(project_lock(Path(os.fspath(project.state_dir)), "watch"))
        # Bind first: a busy port or a refused --serve fails before a long first apply.
        server = start_serving(project, addr, insecure) if serve else None
        serving = None
        if server is not None:
            stack.callback(server.close)
            serving = Serving(server, insecure=insecure, echo=echo, err_echo=err_echo)
        signals = _Signals(stop)
        session = _Session(
            project, builder_factory, verbosity=verbosity, echo=echo, err_echo=err_echo
        )
        events: queue.SimpleQueue[Any] = queue.SimpleQueue()
        stack.enter_context(signals.installed())
        try:
            session.confirm = confirm
            with signals.interruptible_section():
                session.full_apply()
            watcher = stack.enter_context(RootWatcher(events.put))
            watcher.watch(project.watch_roots, Path(os.fspath(project.spec_path)))
            batcher = ChangeBatcher(
                watch_roots=project.watch_roots,
                spec_path=Path(os.fspath(project.spec_path)),
                ignore_roots=_ignore_roots(project),
                ignore_patterns=project.ignore_patterns,
                debounce=debounce,
                linked=session.reaches,
            )
            session.changes_pending = partial(_changes_pending, events, batcher)
            # Printed only now: once this line is out, every later write is seen.
            if server is not None:
                echo(f"Serving static files at {server.url}")
            if verbosity >= 1:
                echo("Watching for changes. Quit with CONTROL-C.")
            _loop(session, project_loader, watcher, batcher, serving, events, signals)
        except KeyboardInterrupt:
            stop.set()
    if verbosity >= 2:
        echo("Stopped.")
    return 0


def _changes_pending(events: queue.SimpleQueue[Any], batcher: ChangeBatcher) -> bool:
    """Take in what the watcher saw meanwhile (briefly waiting for it); True if a batch is
    on its way. Our own writes to the destination are filtered out by the batcher."""
    deadline = time.monotonic() + SETTLE
    while batcher.time_until_ready() is None:
        try:
            batcher.add(events.get(timeout=max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            return False
    return True


def _loop(
    session: _Session,
    project_loader: Callable[[], Any],
    watcher: RootWatcher,
    batcher: ChangeBatcher,
    serving: Serving | None,
    events: queue.SimpleQueue[Any],
    signals: _Signals,
) -> None:
    next_poll = time.monotonic()
    while not signals.stop.is_set():
        wait = batcher.time_until_ready()
        try:
            batcher.add(events.get(timeout=POLL if wait is None else min(wait, POLL)))
            while True:  # drain the burst without sleeping between events
                batcher.add(events.get_nowait())
        except queue.Empty:
            pass
        if time.monotonic() >= next_poll:
            next_poll = time.monotonic() + POLL
            for root in watcher.refresh():
                batcher.add_path(root)  # appeared or vanished: rescan it
        batch = batcher.pop_ready()
        if batch is not None and not signals.stop.is_set():
            with signals.interruptible_section():
                _handle(batch, session, project_loader, watcher, batcher, serving)


def _handle(
    batch: ChangeSet,
    session: _Session,
    project_loader: Callable[[], Any],
    watcher: RootWatcher,
    batcher: ChangeBatcher,
    serving: Serving | None,
) -> None:
    if batch.spec_changed and session.reload(project_loader):
        project = session.project
        spec_path = Path(os.fspath(project.spec_path))
        watcher.watch(project.watch_roots, spec_path)
        batcher.set_roots(
            watch_roots=project.watch_roots,
            spec_path=spec_path,
            ignore_roots=_ignore_roots(project),
            ignore_patterns=project.ignore_patterns,
        )
        if serving is not None:
            serving.follow(project)
        return  # the full apply covered the paths of this batch too
    if batch.paths:
        session.reapply(batch.paths)
