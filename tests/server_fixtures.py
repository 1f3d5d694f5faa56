"""Helpers shared by the server and watch tests: a real HTTP client and a thread guard.

Plain functions and context managers, not fixtures, so that each test module declares
its own fixtures from them (tests/conftest.py belongs to the core).
"""

from __future__ import annotations

import http.client
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path


@dataclass
class Reply:
    """One HTTP response as the client saw it."""

    status: int
    headers: Message
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)


def fetch(
    host: str,
    port: int,
    target: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> Reply:
    """Send one request with http.client, exactly as written (no client-side normalising)."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.putrequest(method, target, skip_host=False, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        body = response.read()
        return Reply(response.status, response.headers, body)
    finally:
        conn.close()


def write(path: Path, data: bytes | str, mtime_ns: int | None = None) -> Path:
    """Write a file (making folders), optionally setting its mtime exactly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


@contextmanager
def no_leaked_threads(grace: float = 5.0) -> Iterator[None]:
    """Fail if a thread started inside the block is still alive ``grace`` seconds after it."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + grace
    while True:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked:
            return
        if time.monotonic() > deadline:
            names = ", ".join(sorted(t.name for t in leaked))
            raise AssertionError(f"threads leaked by the test: {names}")
        time.sleep(0.02)


def wait_until(predicate: object, timeout: float = 20.0, interval: float = 0.02) -> None:
    """Poll ``predicate()`` until true; fail after ``timeout`` seconds (bounded waits only)."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate!r}")
        time.sleep(interval)
