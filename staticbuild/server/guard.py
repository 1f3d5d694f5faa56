"""The one guarded path resolution of the development server.

A request path is first normalised as Django's ``django.views.static.serve`` does it
(:func:`normal_request_path`: ``posixpath.normpath``, leading slashes stripped), so
``css/./site.css``, ``css//site.css`` and ``css/../css/site.css`` serve ``css/site.css``
directly, with no redirect; one that would then still leave the destination (``..``
first) is refused. The normal name then goes through :func:`resolve_request_path` before
anything touches the file system, which refuses (returns ``None``) rather than repairs
anything not in that normal form. Its checks follow the classic traversal list (OWASP
"Path Traversal"; CVE-2021-41773 for the ``%2e`` form, Django ticket #29326 for
backslashes) and then confirm the result with ``realpath``, so symlinks count too: a
file may resolve into the destination or into one of the allowed roots (the source roots
that ``--link`` symlinks point into), nowhere else.
Inside an allowed root only what ``apply`` would collect is reachable: a hand-made link to
``assets/.env`` or to an ignored ``theme.scss`` is a 404, as ``which`` would not find it.
That is judged by the link's target as written, which is how apply names the file it
links (``out/pub/x.css -> src/pub/x.css``, with ``src/pub -> .hidden``): the resolved path
(``src/.hidden/x.css``) is a name the walk never used.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Collection, Sequence
from pathlib import Path, PureWindowsPath

from staticbuild.finders import IgnoreMatcher, is_inside, stat_file
from staticbuild.project import DEFAULT_IGNORE_PATTERNS, Root

#: Longest URL path (below the prefix) worth a file-system call, in UTF-8 bytes.
MAX_PATH_BYTES = 1024
#: Longest single segment; most file systems cap a name at 255 bytes (NAME_MAX).
MAX_SEGMENT_BYTES = 255
#: Django's default ignore patterns, for callers that do not pass the project's own.
DEFAULT_IGNORE = IgnoreMatcher(DEFAULT_IGNORE_PATTERNS)


def normal_request_path(url_path: str) -> str | None:
    """The decoded URL path (below the prefix) as Django's static ``serve`` reads it:
    ``posixpath.normpath``, then leading slashes stripped (``//x`` is ``x`` below the
    destination, never the absolute ``/x``); ``None`` if that still leaves the
    destination (``..`` first) or names the destination itself. Encoded dots and slashes
    (``%2e%2e``, ``%2f``) were decoded by the server already: they count as what they
    decode to, so a traversal spelled with them is refused like a literal one. Everything
    else (NUL, backslashes, drives, length) is left to :func:`split_request_path`."""
    normal = posixpath.normpath(url_path).lstrip("/")
    if normal in ("", ".", "..") or normal.startswith("../"):
        return None
    return normal


def split_request_path(url_path: str) -> tuple[str, ...] | None:
    """Split a decoded URL path (below the prefix) into safe segments, or ``None``.

    Refused: empty paths, NUL and other control characters, backslashes, absolute paths
    (a leading ``/`` or a drive), empty, ``.`` and ``..`` segments (the app has
    normalised them away with :func:`normal_request_path`: what is left is refused), and
    over-long paths.
    The server has already percent-decoded once; decoding again would turn ``%252e`` into
    ``.`` (double-decoding bugs), so a literal ``%`` stays part of a name.
    """
    if not url_path or len(url_path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        return None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in url_path):
        return None
    segments = tuple(url_path.split("/"))
    for segment in segments:
        if segment in ("", ".", ".."):
            return None
        if len(segment.encode("utf-8", "surrogatepass")) > MAX_SEGMENT_BYTES:
            return None
    # "C:" or "C:foo" would re-root the join on Windows; refuse it everywhere.
    if PureWindowsPath(segments[0]).drive:
        return None
    return segments


def resolve_request_path(
    destination: Path,
    url_path: str,
    allowed_roots: Sequence[Path] = (),
    ignore: IgnoreMatcher = DEFAULT_IGNORE,
    exempt: Collection[str] = (),
) -> Path | None:
    """Return the real path that serves ``url_path``, or ``None`` if it must be a 404.

    ``url_path`` is the decoded path below the URL prefix (``css/base.css``). The result
    lies inside ``destination`` or, through a symlink, is a file the walk of one of
    ``allowed_roots`` collects with the ``ignore`` patterns; it may not exist (the caller
    opens it and treats any failure as 404). A name the ``ignore`` patterns match (a
    dotfile, ``CVS``, ``*~``, the spec's own) is never served, wherever it is: apply does
    not collect such names, so one in the destination was put there by someone else.
    The folders in ``exempt`` (the sources' prefixes, and their parents) are not judged:
    the patterns apply below a source's prefix, as in Django.
    """
    segments = split_request_path(url_path)
    if segments is None or any(
        ignore.matches(name) and "/".join(segments[: i + 1]) not in exempt
        for i, name in enumerate(segments)
    ):
        return None  # a name apply never makes (.env, .git/, *.scss): someone else's file
    real_destination = os.path.realpath(destination)
    candidate = os.path.join(real_destination, *segments)
    try:
        real = os.path.realpath(candidate)
    except (OSError, ValueError):  # ValueError: an embedded NUL from an odd caller
        return None
    if real == real_destination:
        return None
    if is_inside(real, real_destination):
        return Path(real)
    linked = _linked_source(real_destination, segments, allowed_roots, ignore)
    return None if linked is None else Path(linked)


def _linked_source(
    real_destination: str,
    segments: Sequence[str],
    roots: Sequence[Path],
    ignore: IgnoreMatcher,
) -> str | None:
    """The real path of the source file reached through the symlink on the way to
    ``segments`` that leaves the destination, if apply could have made it: its target as
    written (absolute, as apply writes it), with the rest of the path, names a file the
    walk collects below one of ``roots``."""
    folder = real_destination
    for index, name in enumerate(segments):
        path = os.path.join(folder, name)
        real = os.path.realpath(path)
        if is_inside(real, real_destination):
            folder = real
            continue
        try:
            target = os.readlink(path)
        except (OSError, ValueError):
            return None
        if not os.path.isabs(target):
            return None
        return _collected(os.path.join(target, *segments[index + 1 :]), roots, ignore)
    return None


def _collected(path: str, roots: Sequence[Path], ignore: IgnoreMatcher) -> str | None:
    """The real path of ``path`` if it is a root's path and a file the walk collects
    below it (``which`` would find it), else None."""
    for root in roots:
        root_path = os.path.abspath(root)
        head = os.path.join(root_path, "")
        if not path.startswith(head):
            continue
        rel = path[len(head) :].replace(os.sep, "/")
        if stat_file(Root(root_path, "", "", "source"), rel, ignore) is not None:
            real = os.path.realpath(path)
            if is_inside(real, os.path.realpath(root_path)):
                return real
    return None
