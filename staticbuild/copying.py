"""Copying bytes in the kernel: ``copy_file_range`` (what ``shutil.copyfile`` uses on
Linux), falling back to ``sendfile`` where it cannot work (across file systems).

A copy refuses a source whose stat is no longer the one planned: its bytes may no longer
be the digest the plan promised.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os

from staticbuild.atomic import KERNEL
from staticbuild.blobs import Blob, FileSlice, SourceFile
from staticbuild.errors import ApplyError
from staticbuild.finders import FileInfo

#: copy_file_range cannot work here (across file systems, or not supported): use sendfile
_NO_COPY_RANGE = (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP)


def copy_into(fd: int, source: str, planned: FileInfo | None) -> None:
    """Copy in the kernel (copy_file_range), refusing a source edited since it was planned."""
    src, size = _open_source(source, planned)
    try:
        _copy_range(src, fd, 0, size)
    finally:
        os.close(src)


def copy_slice(fd: int, where: FileSlice, digest: str) -> None:
    """Write a cached blob, checked as :func:`read_slice` checks it."""
    write_all(fd, read_slice(where, digest))


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` (``os.write`` may write less than it is given)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _copy_range(src: int, fd: int, offset: int, count: int) -> int:
    """Copy ``count`` bytes from ``offset`` in ``src`` to ``fd``'s position, in the kernel;
    returns how many there were."""
    done = 0
    while done < count:
        sent = 0
        if KERNEL.copy_file_range:
            try:
                sent = os.copy_file_range(src, fd, count - done, offset + done)
            except OSError as exc:
                if exc.errno not in _NO_COPY_RANGE:
                    raise
                KERNEL.copy_file_range = False
        if not KERNEL.copy_file_range:
            sent = os.sendfile(fd, src, offset + done, count - done)
        if sent == 0:
            break
        done += sent
    return done


def copy_hashing(fd: int, source: str, planned: FileInfo | None) -> str:
    """Copy through memory and hash on the way: for a source never hashed before, this
    reads it once instead of twice (once to plan, once to copy)."""
    src, size = _open_source(source, planned)
    digest = hashlib.sha256()
    # Ask for what the stat promised (a 1 MiB request costs a 1 MiB allocation per call).
    want = min(size, _CHUNK) or _CHUNK
    try:
        while chunk := os.read(src, want):
            digest.update(chunk)
            write_all(fd, chunk)
    finally:
        os.close(src)
    return digest.hexdigest()


_CHUNK = 1 << 20


def _open_source(source: str, planned: FileInfo | None) -> tuple[int, int]:
    """The source opened, and its size; refused if edited since it was planned."""
    src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    st = os.fstat(src)
    if planned is not None and planned != FileInfo(st.st_size, st.st_mtime_ns, st.st_ino):
        os.close(src)
        raise ApplyError(f"source file {source!r} changed during apply; run apply again")
    return src, st.st_size


def read_source(source: str, planned: FileInfo | None) -> bytes:
    """A source's bytes, read whole (an upload's body); refused if edited since planned."""
    src, _ = _open_source(source, planned)
    with os.fdopen(src, "rb", closefd=True) as fh:
        return fh.read()


def read_slice(where: FileSlice, digest: str) -> bytes:
    """A cached blob's bytes, checked against its sha256: a damaged cache must never reach
    the destination. A damaged pack is removed, so the next apply compresses anew."""
    try:
        with open(where.path, "rb", buffering=0) as fh:
            data = os.pread(fh.fileno(), where.size, where.offset)
    except FileNotFoundError:  # removed since the plan (by a worker that found it damaged)
        data = b""
    if len(data) == where.size and hashlib.sha256(data).hexdigest() == digest:
        return data
    with contextlib.suppress(OSError):
        os.unlink(where.path)
    raise ApplyError(
        f"the compression cache in {os.path.dirname(os.path.dirname(where.path))!r} lost "
        "or damaged a file (dropped now); run apply again to compress anew"
    )


def blob_bytes(blob: Blob, digest: str) -> bytes:
    """A generated file's bytes (``digest`` is their sha256), wherever the plan keeps them
    (see :mod:`~staticbuild.blobs`)."""
    if isinstance(blob, SourceFile):
        return read_source(blob.path, blob.planned)
    if isinstance(blob, FileSlice):
        return read_slice(blob, digest)
    return bytes(blob() if callable(blob) else blob)
