"""The WSGI application that serves a destination folder under a URL prefix.

Importable on its own so that any WSGI project can mount it (Django's ``runserver``
through a WSGI wrapper, Flask's ``app.wsgi_app``, werkzeug's ``DispatcherMiddleware``):
the prefix is matched against ``SCRIPT_NAME + PATH_INFO``, so it works at the root and
when mounted below one. Nothing is cached between requests: the watcher rewrites files
while we serve, and a per-request ``stat`` is cheap next to a stale answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import urlsplit

from staticbuild.finders import IgnoreMatcher
from staticbuild.project import DEFAULT_IGNORE_PATTERNS
from staticbuild.server.guard import DEFAULT_IGNORE, normal_request_path, resolve_request_path
from staticbuild.server.hashed import ManifestNames
from staticbuild.server.responder import Response, not_found, respond, text_response

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class StartResponse(Protocol):
    """PEP 3333's ``start_response`` callable."""

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = ..., /
    ) -> Callable[[bytes], object]: ...


WSGIEnvironment = dict[str, Any]
#: a refusal may end at the next spec edit: no cache may keep it
NO_STORE = ("Cache-Control", "no-store")
WSGIApplication = Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]


def url_prefix(url: str) -> str:
    """The path part of the spec's ``url`` as ``/a/b/`` (``https://cdn/x`` gives ``/x/``)."""
    path = urlsplit(url).path or "/"
    return "/" + path.strip("/") + "/" if path.strip("/") else "/"


@dataclass(frozen=True)
class ServeConfig:
    """What is served, swapped as one value when a spec edit moves the destination."""

    destination: Path
    prefix: str
    allowed_roots: tuple[Path, ...]
    #: what ``apply`` skips in those roots: never served through a symlink either
    ignore: IgnoreMatcher = DEFAULT_IGNORE
    #: manifest storage: the hashed names that may be cached for a year
    hashed: ManifestNames | None = None
    #: why nothing is served for now (a spec edit turned ``debug`` off), or None
    refusal: str | None = None
    #: the sources' prefixes: folders of the destination the ignore patterns do not judge
    prefixes: frozenset[str] = frozenset()


def _config(
    destination: Path,
    url: str,
    allowed_roots: Sequence[Path],
    ignore: Sequence[str],
    manifest: str | None,
    refusal: str | None = None,
    prefixes: Sequence[str] = (),
) -> ServeConfig:
    destination = Path(destination)
    hashed = ManifestNames(destination, manifest) if manifest else None
    roots = tuple(allowed_roots)
    # A prefix "a/b" exempts "a" and "a/b": the folders it makes above the source's files.
    exempt = frozenset(p.rsplit("/", n)[0] for p in prefixes for n in range(p.count("/") + 1))
    return ServeConfig(
        destination, url_prefix(url), roots, IgnoreMatcher(ignore), hashed, refusal, exempt
    )


class StaticFilesApp:
    """WSGI callable serving ``destination`` at ``url``; other paths go to ``fallback``.

    Symlinks in ``destination`` are followed into ``allowed_roots`` (``--link`` outputs),
    to files the walk of those roots collects with the ``ignore`` patterns (the project's),
    judged by the link's target as written. ``manifest``
    names the manifest file (in ``destination``) of manifest storage: the names it maps
    to are served as immutable, everything else must be revalidated.
    """

    def __init__(
        self,
        destination: Path,
        url: str = "/static/",
        allowed_roots: Sequence[Path] = (),
        *,
        ignore: Sequence[str] = DEFAULT_IGNORE_PATTERNS,
        manifest: str | None = None,
        fallback: WSGIApplication | None = None,
        prefixes: Sequence[str] = (),
    ) -> None:
        self._lock = threading.Lock()
        self.fallback = fallback
        self.config = _config(destination, url, allowed_roots, ignore, manifest, prefixes=prefixes)

    def reconfigure(
        self,
        destination: Path,
        url: str,
        allowed_roots: Sequence[Path],
        *,
        ignore: Sequence[str] = DEFAULT_IGNORE_PATTERNS,
        manifest: str | None = None,
        refusal: str | None = None,
        prefixes: Sequence[str] = (),
    ) -> None:
        """Serve another destination/prefix from the next request on (a spec edit).

        With ``refusal`` (a reason, such as ``debug`` turned off) every request under the
        prefix gets a 503 that says it, until a later call without one.
        """
        with self._lock:
            self.config = _config(
                destination, url, allowed_roots, ignore, manifest, refusal, prefixes
            )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        config = self.config  # one read: a concurrent reconfigure cannot mix two configs
        full_path = _wsgi_text(environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""))
        if full_path is None or not full_path.startswith(config.prefix):
            if self.fallback is not None:
                return self.fallback(environ, start_response)
            response = not_found()
        elif config.refusal is not None:
            text = f"Not serving static files: {config.refusal}.\n"
            response = text_response("503 Service Unavailable", text, [NO_STORE])
        else:
            response = _serve(config, full_path[len(config.prefix) :], environ)
        start_response(response.status, response.headers)
        if environ.get("REQUEST_METHOD") == "HEAD":
            # A HEAD answer never has a body, whatever its status (RFC 9110 §9.3.2);
            # waitress sends what we return, and stray bytes would break keep-alive.
            response.close()
            return ()
        return response.body


def _serve(config: ServeConfig, path: str, environ: WSGIEnvironment) -> Response:
    method = environ.get("REQUEST_METHOD", "GET")
    # Served under its normal name, as Django's serve does (no redirect): the hashed-name
    # check, the siblings and the Content-Type all go by it.
    name = normal_request_path(path)
    if name is None:  # it leaves the destination: nothing resolves (a 404, or a 405)
        return respond(method, path, environ, _nothing)
    resolve = partial(
        resolve_request_path,
        config.destination,
        allowed_roots=config.allowed_roots,
        ignore=config.ignore,
        exempt=config.prefixes,
    )
    immutable = config.hashed is not None and config.hashed.is_hashed(name)
    return respond(method, name, environ, resolve, immutable=immutable)


def _nothing(name: str) -> None:
    return None


def _wsgi_text(value: str) -> str | None:
    """PEP 3333 paths are bytes carried as latin-1 text; names on disk are UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return None


def make_app(
    destination: Path,
    url: str = "/static/",
    allowed_roots: Sequence[Path] = (),
    *,
    ignore: Sequence[str] = DEFAULT_IGNORE_PATTERNS,
    manifest: str | None = None,
    fallback: WSGIApplication | None = None,
    prefixes: Sequence[str] = (),
) -> StaticFilesApp:
    """Build the WSGI app that serves ``destination`` at ``url`` (see :class:`StaticFilesApp`);
    ``prefixes``: the sources' prefixes (``ignore`` does not judge those folders' names)."""
    return StaticFilesApp(
        destination,
        url,
        allowed_roots,
        ignore=ignore,
        manifest=manifest,
        fallback=fallback,
        prefixes=prefixes,
    )
