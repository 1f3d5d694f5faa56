"""Whether a precompressed sibling (``app.js.br``) may stand in for its plain file.

Timestamps cannot tell: ``apply`` writes ``app.js.br`` a few microseconds *before*
``app.js`` and its hashed twin (one inode), while a hand edit of ``app.js`` leaves an
older ``.br`` behind, and a re-apply can be between the two writes. So the test is the
content itself: a sibling is used only if it decompresses to exactly the bytes of the plain
file. That holds for what staticbuild wrote and for hand-placed siblings alike. The answer
is remembered per version of both files (device, inode, mtime, size), so each pair is
decoded once; decoding is streamed and stops at the first difference.
"""

from __future__ import annotations

import os
import threading
import zlib
from collections.abc import Iterator

import brotli

CHUNK = 64 * 1024
#: Remembered answers; past this the memory is simply dropped (a dev server's tree).
MAX_REMEMBERED = 4096

FileKey = tuple[int, int, int, int]


def file_key(st: os.stat_result) -> FileKey:
    """What identifies one version of a file (the same parts as the server's ETag)."""
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


def _chunks(fd: int) -> Iterator[bytes]:
    offset = 0
    while data := os.pread(fd, CHUNK, offset):
        offset += len(data)
        yield data


def _gunzip(fd: int) -> Iterator[bytes]:
    decoder = zlib.decompressobj(wbits=31)  # 31: a gzip header and trailer
    for data in _chunks(fd):
        while data:  # max_length bounds memory however well the input compresses
            yield decoder.decompress(data, CHUNK)
            data = decoder.unconsumed_tail
    if not decoder.eof or decoder.unused_data:
        raise zlib.error("truncated, or more than one gzip member")


def _unbrotli(fd: int) -> Iterator[bytes]:
    decoder = brotli.Decompressor()
    for data in _chunks(fd):
        yield decoder.process(data, output_buffer_limit=CHUNK)
        while not decoder.can_accept_more_data():
            yield decoder.process(b"", output_buffer_limit=CHUNK)
    if not decoder.is_finished():
        raise brotli.error("truncated")


_DECODERS = {"gzip": _gunzip, "br": _unbrotli}


def decodes_to(coding: str, sibling_fd: int, plain_fd: int, plain_size: int) -> bool:
    """Whether the open sibling, decoded with ``coding``, is byte for byte the plain file."""
    offset = 0
    try:
        for piece in _DECODERS[coding](sibling_fd):
            if not piece:
                continue
            if offset + len(piece) > plain_size or os.pread(plain_fd, len(piece), offset) != piece:
                return False
            offset += len(piece)
    except (zlib.error, brotli.error, OSError):
        return False
    return offset == plain_size


class SiblingCheck:
    """:func:`decodes_to`, remembered per version of both files (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[tuple[str, FileKey, FileKey], bool] = {}

    def matches(
        self,
        coding: str,
        sibling_fd: int,
        sibling: os.stat_result,
        plain_fd: int,
        plain: os.stat_result,
    ) -> bool:
        """Whether the open ``sibling`` (its fstat given) encodes the open ``plain`` file."""
        key = (coding, file_key(sibling), file_key(plain))
        with self._lock:
            known = self._known.get(key)
        if known is None:
            known = decodes_to(coding, sibling_fd, plain_fd, plain.st_size)
            with self._lock:
                if len(self._known) >= MAX_REMEMBERED:
                    self._known.clear()
                self._known[key] = known
        return known
