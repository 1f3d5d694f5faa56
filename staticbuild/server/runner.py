"""Run the static-files app on waitress, with a known port and a clean stop.

waitress is a production WSGI server with no dependencies; its ``serve()`` blocks until
Ctrl-C, which a library cannot use. :class:`DevServer` binds in the constructor (so the
port is known at once, also for port 0), runs waitress's event loop in one thread in
short slices, and on :meth:`DevServer.close` closes every socket *from that thread*
(waitress's dispatcher map is not thread-safe) and joins the worker threads.
"""

from __future__ import annotations

import errno
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server

from staticbuild.errors import ServeError
from staticbuild.project import DEFAULT_IGNORE_PATTERNS
from staticbuild.server.app import StaticFilesApp, WSGIApplication, make_app, url_prefix

DEFAULT_ADDR = "127.0.0.1:8000"


def parse_addr(addr: str) -> tuple[str, int]:
    """Split ``HOST:PORT``, ``:PORT``, ``PORT`` or ``[::1]:PORT``; ValueError if malformed."""
    host, sep, port_s = addr.rpartition(":")
    if not sep:
        host, port_s = "", addr
    host = host.strip("[]") or "127.0.0.1"
    if not port_s.isascii() or not port_s.isdigit() or not 0 <= int(port_s) <= 65535:
        raise ValueError(f"not a HOST:PORT address: {addr!r}")
    return host, int(port_s)


def check_serving_allowed(*, debug: bool, insecure: bool) -> None:
    """Django's rule (``runserver`` serves static files only with DEBUG or --insecure)."""
    if not (debug or insecure):
        raise ServeError(
            "Refusing to serve static files: the spec has 'debug: false'. This development "
            "server is not meant for production; set 'debug: true' in the spec or pass "
            "--insecure to serve anyway."
        )


def _bind(host: str, port: int) -> socket.socket:
    """A bound (not yet listening) TCP socket for ``host:port``, or ServeError."""
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ServeError(f"Cannot serve on {host}:{port}: {exc.strerror}.") from exc
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(sockaddr)
    except OSError as exc:
        sock.close()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise ServeError(f"Cannot serve on {host}:{port}: {reason}.") from exc
    return sock


class DevServer:
    """A running development server; use as a context manager or call :meth:`close`.

    ``app`` is usually a :class:`StaticFilesApp`; any WSGI callable works (a project's
    app with ours mounted in it), and then :attr:`url` points at the root.
    """

    def __init__(
        self, app: StaticFilesApp | WSGIApplication, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.app = app
        self._map: dict[int, Any] = {}
        # We bind the socket ourselves: waitress starts its worker threads before it
        # binds, so "address in use" inside create_server would leak four threads.
        sock = _bind(host, port)
        self._server: Any = create_server(
            app, map=self._map, sockets=[sock], threads=4, ident="staticbuild"
        )
        self.host: str = self._server.effective_host
        self.port: int = int(self._server.effective_port)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="staticbuild-serve", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The URL the files are served at, e.g. ``http://127.0.0.1:8000/static/``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        prefix = self.app.config.prefix if isinstance(self.app, StaticFilesApp) else "/"
        return f"http://{host}:{self.port}{prefix}"

    def _run(self) -> None:
        try:
            while not self._stopping.is_set() and self._map:
                wasyncore.loop(timeout=0.5, map=self._map, use_poll=True, count=1)
        finally:
            # Under the lock: close() must never write to the trigger's pipe after its
            # file descriptors are closed (and possibly reused by another open()).
            with self._lock:
                self._closed = True
                for dispatcher in list(self._map.values()):
                    if isinstance(dispatcher, HTTPChannel):
                        # handle_close, not close: it also wakes a worker that waits
                        # for a slow client to drain the buffer; the worker then stops
                        # with ClientDisconnected instead of holding shutdown for 5 s.
                        dispatcher.handle_close()
                    else:
                        dispatcher.close()
            self._server.task_dispatcher.shutdown(timeout=5)

    def close(self) -> None:
        """Stop accepting, close every connection, join the loop and worker threads."""
        self._stopping.set()
        with self._lock:
            if not self._closed:
                self._server.trigger.pull_trigger()  # wake the loop now, not in 0.5 s
        self._thread.join(timeout=10)

    def __enter__(self) -> DevServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_server(
    destination: Path,
    url: str,
    allowed_roots: Sequence[Path],
    *,
    addr: str = DEFAULT_ADDR,
    debug: bool = False,
    insecure: bool = False,
    ignore: Sequence[str] = DEFAULT_IGNORE_PATTERNS,
    manifest: str | None = None,
    prefixes: Sequence[str] = (),
) -> DevServer:
    """Check Django's rule, bind ``addr`` and start serving; raise ServeError if not possible."""
    check_serving_allowed(debug=debug, insecure=insecure)
    try:
        host, port = parse_addr(addr)
    except ValueError as exc:
        raise ServeError(f"{exc}; expected HOST:PORT such as {DEFAULT_ADDR}.") from exc
    app = make_app(
        destination, url, allowed_roots, ignore=ignore, manifest=manifest, prefixes=prefixes
    )
    return DevServer(app, host, port)


__all__ = [
    "DEFAULT_ADDR",
    "DevServer",
    "check_serving_allowed",
    "parse_addr",
    "start_server",
    "url_prefix",
]
