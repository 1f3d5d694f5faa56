"""The serving side of ``watch --serve``: what the spec says to serve, kept up to date.

Django's rule (serve only with ``debug: true`` or ``--insecure``) holds for the whole
run, not only at start-up: a spec edit that turns ``debug`` off stops the serving. The
server keeps its port (so nothing else takes it, and turning ``debug`` back on resumes at
the same address) and answers every static request with a 503 that gives the reason,
and the watcher says so once on stderr. Django's ``runserver`` would restart and then
404 its static URLs; a 503 that names the cause is clearer and no cache keeps it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from staticbuild.errors import ServeError
from staticbuild.server import DevServer, StaticFilesApp, check_serving_allowed, start_server

Echo = Callable[[str], None]


class StorageLike(Protocol):
    """What serving reads from ``Project.storage``."""

    @property
    def kind(self) -> str: ...
    @property
    def manifest_name(self) -> str: ...


class ServedProject(Protocol):
    """What serving reads from ``staticbuild.api.Project``."""

    @property
    def destination(self) -> str | os.PathLike[str]: ...
    @property
    def url(self) -> str: ...
    @property
    def debug(self) -> bool: ...
    @property
    def link_roots(self) -> tuple[Path, ...]: ...
    @property
    def storage(self) -> StorageLike: ...
    @property
    def link(self) -> bool: ...
    @property
    def ignore_patterns(self) -> tuple[str, ...]: ...
    @property
    def prefixes(self) -> tuple[str, ...]: ...


def local_destination(project: ServedProject) -> Path | None:
    """The destination folder, or ``None`` for an ``s3://`` bucket (nothing to serve)."""
    text = os.fspath(project.destination)
    return None if "://" in text else Path(os.path.abspath(text))


def manifest_name(project: ServedProject) -> str | None:
    """The manifest file whose names the server marks immutable (manifest storage only)."""
    storage = project.storage
    return storage.manifest_name if storage.kind == "manifest" else None


def served_link_roots(project: ServedProject) -> tuple[Path, ...]:
    """Symlinks are followed only where staticbuild makes them: with ``link: true``."""
    return project.link_roots if project.link else ()


def refusal(project: ServedProject, insecure: bool) -> str | None:
    """Why this project may not be served now, or ``None`` if it may."""
    if not (project.debug or insecure):
        return "the spec has 'debug: false'; set 'debug: true' or restart with --insecure"
    if local_destination(project) is None:
        return f"the destination {os.fspath(project.destination)!r} is not a local folder"
    return None


def start_serving(project: ServedProject, addr: str, insecure: bool) -> DevServer:
    """Bind and serve the project's destination; ServeError if Django's rule says no."""
    check_serving_allowed(debug=project.debug, insecure=insecure)
    destination = local_destination(project)
    if destination is None:
        raise ServeError(f"Cannot serve {os.fspath(project.destination)!r}: not a local folder.")
    return start_server(
        destination,
        project.url,
        served_link_roots(project),
        addr=addr,
        debug=project.debug,
        insecure=insecure,
        ignore=project.ignore_patterns,
        manifest=manifest_name(project),
        prefixes=project.prefixes,
    )


class Serving:
    """A running server that follows spec edits and says when it stops or resumes."""

    def __init__(self, server: DevServer, *, insecure: bool, echo: Echo, err_echo: Echo) -> None:
        self.server = server
        self.insecure = insecure
        self.echo = echo
        self.err_echo = err_echo
        self.refused: str | None = None
        self.url = server.url

    def follow(self, project: ServedProject) -> None:
        """Serve what the reloaded spec says, from the next request on."""
        app = self.server.app
        if not isinstance(app, StaticFilesApp):
            return
        reason = refusal(project, self.insecure)
        app.reconfigure(
            local_destination(project) or app.config.destination,
            project.url,
            served_link_roots(project),
            ignore=project.ignore_patterns,
            manifest=manifest_name(project),
            refusal=reason,
            prefixes=project.prefixes,
        )
        if reason is not None and self.refused is None:
            self.err_echo(f"Stopped serving static files (requests get 503): {reason}.")
        elif reason is None and (self.refused is not None or self.server.url != self.url):
            self.echo(f"Serving static files at {self.server.url}")
        self.refused, self.url = reason, self.server.url
