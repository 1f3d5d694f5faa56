"""HTTP semantics for one static file: representation choice, validators, ranges.

Written against RFC 9110 (conditional requests §13, ranges §14, content coding §8.4) and
kept free of any server: :func:`respond` takes the request method and headers and returns
a status, headers and a body iterator. WhiteNoise's ``StaticFile`` was the starting point,
but a development server has other needs, so three things differ:

* ETags come from ``(inode, mtime_ns, size)`` of the exact bytes sent, not whole seconds:
  the watcher can rewrite a file twice within one second with the same size, and a
  seconds-based ETag would then answer 304 with stale content.
* Headers are computed from ``fstat`` of the already-open file, so an atomic replace
  during the request cannot pair new headers with old bytes.
* A precompressed sibling is used only if it decodes to exactly the plain file's bytes
  (:mod:`.precompressed`); timestamps cannot tell, since ``apply`` writes ``app.js.br``
  just before ``app.js``. While a re-apply is between the two, the plain file is served.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import BinaryIO, Literal

from whitenoise.media_types import MediaTypes

from staticbuild.server.precompressed import SiblingCheck

#: Content codings we look for as siblings, best first (brotli beats gzip on text).
ENCODINGS: tuple[tuple[str, str], ...] = (("br", ".br"), ("gzip", ".gz"))
_RANGE_SPEC = re.compile(r"([0-9]*)-([0-9]*)")
IMMUTABLE = "public, max-age=31536000, immutable"
# no-cache = "store it, but revalidate every time": with ETags that is a cheap 304, and
# an edited file is never shown stale (unlike max-age=0 heuristics in some browsers).
REVALIDATE = "no-cache"
CHUNK = 64 * 1024

_MEDIA_TYPES = MediaTypes()
_SIBLINGS = SiblingCheck()

Resolver = Callable[[str], Path | None]
Headers = list[tuple[str, str]]


@dataclass(frozen=True)
class Response:
    """What the WSGI layer sends: ``status`` like ``"200 OK"``, headers, body chunks."""

    status: str
    headers: Headers
    body: Iterator[bytes]

    def close(self) -> None:
        """Release the open file when the body will not be iterated (HEAD, errors)."""
        close = getattr(self.body, "close", None)
        if close is not None:
            close()


def _empty() -> Iterator[bytes]:
    yield from ()


def text_response(status: str, text: str, extra: Headers | None = None) -> Response:
    """A short plain-text response (404, 405) with a correct Content-Length."""
    data = text.encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))]
    return Response(status, headers + (extra or []), iter((data,)))


NOT_FOUND_TEXT = "Not Found\n"


def not_found() -> Response:
    """The one 404: folders, missing files and refused paths all look the same."""
    return text_response("404 Not Found", NOT_FOUND_TEXT)


def content_type(name: str) -> str:
    """Media type from WhiteNoise's table (nginx's list); text gets ``charset=utf-8``."""
    media_type = _MEDIA_TYPES.get_type(name)
    return f"{media_type}; charset=utf-8" if media_type.startswith("text/") else media_type


def accepted_encodings(header: str) -> set[str]:
    """Codings with q > 0 in ``Accept-Encoding`` (RFC 9110 §12.5.3); ``*`` stands for all."""
    accepted: set[str] = set()
    refused: set[str] = set()
    for item in header.split(","):
        coding, _, params = item.strip().partition(";")
        coding = coding.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        (accepted if quality > 0 else refused).add(coding)
    if "*" in accepted:
        accepted |= {name for name, _ in ENCODINGS} - refused
    return accepted


def parse_range(header: str, size: int) -> tuple[int, int] | Literal[False] | None:
    """One ``bytes=`` range as ``(first, last)``; ``None`` to ignore it; ``False`` for 416.

    Several ranges or bad syntax are ignored (RFC 9110 §14.2 allows serving 200 instead).
    """
    unit, _, spec = header.partition("=")
    match = _RANGE_SPEC.fullmatch(spec.strip())
    if unit.strip().lower() != "bytes" or match is None or match.group(0) == "-":
        return None
    first_s, last_s = match.groups()
    if not first_s:  # suffix range: the last N bytes
        length = int(last_s)
        if length == 0 or size == 0:
            return False
        return max(size - length, 0), size - 1
    first = int(first_s)
    if last_s and int(last_s) < first:
        return None
    if first >= size:
        return False
    return first, min(int(last_s), size - 1) if last_s else size - 1


def _etag_matches(header: str, etag: str) -> bool:
    """Weak comparison for If-None-Match (RFC 9110 §13.1.2): ``W/`` is ignored, ``*`` matches."""
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in header.split(","))


def _not_modified_since(header: str, mtime: float) -> bool:
    try:
        since = parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return False
    return int(mtime) <= since


def _if_range_allows(header: str | None, etag: str, last_modified: str) -> bool:
    """A Range is honoured only if If-Range (when sent) still names this representation."""
    if header is None:
        return True
    header = header.strip()
    if header.startswith('"'):
        return header == etag  # strong comparison (RFC 9110 §13.1.5)
    return header == last_modified


def _etag(*stats: os.stat_result, coding: str) -> str:
    parts = [coding] + [f"{s.st_dev}:{s.st_ino}:{s.st_mtime_ns}:{s.st_size}" for s in stats]
    return '"' + hashlib.blake2b("|".join(parts).encode(), digest_size=10).hexdigest() + '"'


def _open_regular(path: Path) -> tuple[BinaryIO, os.stat_result] | None:
    """Open a regular file (never a folder, FIFO or device) and fstat the open handle."""
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer and hang
    # the worker thread; for regular files the flag changes nothing.
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError:
        return None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return None
    return os.fdopen(fd, "rb"), st


def _matching_siblings(
    resolve: Resolver, name: str, handle: BinaryIO, base: os.stat_result
) -> dict[str, tuple[BinaryIO, os.stat_result]]:
    """The precompressed siblings that encode exactly the open plain file, opened."""
    siblings: dict[str, tuple[BinaryIO, os.stat_result]] = {}
    for coding, suffix in ENCODINGS:
        path = resolve(name + suffix)
        opened = _open_regular(path) if path is not None else None
        if opened is None:
            continue
        sibling, st = opened
        if _SIBLINGS.matches(coding, sibling.fileno(), st, handle.fileno(), base):
            siblings[coding] = opened
        else:
            sibling.close()
    return siblings


def read_chunks(handle: BinaryIO, length: int) -> Iterator[bytes]:
    """Yield ``length`` bytes from the handle's current position, then close it."""
    try:
        while length > 0:
            data = handle.read(min(CHUNK, length))
            if not data:
                break
            length -= len(data)
            yield data
    finally:
        handle.close()


def respond(
    method: str,
    name: str,
    environ: Mapping[str, str],
    resolve: Resolver,
    *,
    immutable: bool = False,
) -> Response:
    """Answer a GET or HEAD for the destination-relative ``name`` (already decoded).

    ``resolve`` is the guarded resolver bound to the destination and allowed roots; it is
    used for the file and for each precompressed sibling. ``immutable``: the name is a
    hashed one, whose content never changes, so it may be cached for a year.
    """
    if method not in ("GET", "HEAD"):
        return text_response(
            "405 Method Not Allowed", "Method Not Allowed\n", [("Allow", "GET, HEAD")]
        )
    path = resolve(name)
    opened = _open_regular(path) if path is not None else None
    if opened is None:
        return not_found()
    handle, base = opened
    siblings = _matching_siblings(resolve, name, handle, base)
    has_variants = bool(siblings)
    range_header = environ.get("HTTP_RANGE") if method == "GET" else None
    coding = None
    if siblings and range_header is None:
        wanted = accepted_encodings(environ.get("HTTP_ACCEPT_ENCODING", ""))
        coding = next((c for c, _ in ENCODINGS if c in wanted and c in siblings), None)
    stats = [base]
    if coding is not None:
        handle.close()
        handle, variant_stat = siblings.pop(coding)
        stats.append(variant_stat)
    for other, _ in siblings.values():
        other.close()
    cache = IMMUTABLE if immutable else REVALIDATE
    return _build(method, name, environ, handle, stats, coding, cache, has_variants=has_variants)


def _build(
    method: str,
    name: str,
    environ: Mapping[str, str],
    handle: BinaryIO,
    stats: list[os.stat_result],
    coding: str | None,
    cache: str,
    *,
    has_variants: bool,
) -> Response:
    size = stats[-1].st_size
    etag = _etag(*stats, coding=coding or "identity")
    last_modified = formatdate(stats[0].st_mtime, usegmt=True)
    validators: Headers = [
        ("Cache-Control", cache),
        ("ETag", etag),
        ("Last-Modified", last_modified),
    ]
    if has_variants:
        validators.append(("Vary", "Accept-Encoding"))
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if_modified_since = environ.get("HTTP_IF_MODIFIED_SINCE")
    # If-None-Match wins over If-Modified-Since when both are sent (RFC 9110 §13.2.2).
    if (if_none_match is not None and _etag_matches(if_none_match, etag)) or (
        if_none_match is None
        and if_modified_since is not None
        and _not_modified_since(if_modified_since, stats[0].st_mtime)
    ):
        handle.close()
        return Response("304 Not Modified", validators, _empty())
    headers: Headers = [("Content-Type", content_type(name)), ("Accept-Ranges", "bytes")]
    headers += validators
    if coding is not None:
        headers.append(("Content-Encoding", coding))
    status, first, length = "200 OK", 0, size
    range_header = environ.get("HTTP_RANGE") if method == "GET" else None
    if range_header is not None and _if_range_allows(
        environ.get("HTTP_IF_RANGE"), etag, last_modified
    ):
        span = parse_range(range_header, size)
        if span is False:
            handle.close()
            return text_response(
                "416 Range Not Satisfiable",
                "Range Not Satisfiable\n",
                [("Content-Range", f"bytes */{size}")],
            )
        if isinstance(span, tuple):
            first, last = span
            status, length = "206 Partial Content", last - first + 1
            headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
    headers.append(("Content-Length", str(length)))
    if method == "HEAD":
        handle.close()
        return Response(status, headers, _empty())
    handle.seek(first)
    return Response(status, headers, read_chunks(handle, length))
