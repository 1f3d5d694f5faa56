"""Files replaced whole: written under a temporary name beside the final one and renamed
over it (or, where the kernel can, written unnamed and linked in whole), so a reader or a
crash finds the old bytes or the new, never a torn file."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

Write = Callable[[bytes | memoryview], object]
#: in the hidden name of a file being written: ``.NAME.sbtmp-XXXXXXXX``
TEMP_MARK = ".sbtmp-"


class Kernel:
    """What this kernel and file systems support; learnt on first failure, per process."""

    anonymous_files = hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd")
    copy_file_range = hasattr(os, "copy_file_range")  # False once it fails across file systems
    hard_links = True  # False once the destination's file system refuses them


KERNEL = Kernel()


def replace_file(path: Path, fill: Callable[[Write], object]) -> None:
    """Give ``path`` the bytes ``fill`` writes (through the function it is given)."""
    import tempfile

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fill(fh.write)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def open_named(folder: str, final: str) -> tuple[int, str]:
    """A new file under a hidden temporary name beside ``final``: its fd and that name."""
    # O_EXCL: never write through a file or link someone put there; mode 0o666 & ~umask
    # is what Django's FileSystemStorage gives new files.
    tmp = temp_name(folder, final)
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), tmp


def open_anonymous(folder: str) -> int:
    """An unnamed file in ``folder``, or -1 where the file system cannot make one."""
    try:
        return os.open(folder, os.O_WRONLY | os.O_TMPFILE | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):
            KERNEL.anonymous_files = False
            return -1
        raise


def publish(fd: int, folder: str, final: str) -> None:
    """Give the unnamed file ``fd`` its final name, replacing whatever appeared there."""
    proc = f"/proc/self/fd/{fd}"
    try:
        os.link(proc, final, src_dir_fd=fd, follow_symlinks=True)  # linkat(AT_SYMLINK_FOLLOW)
    except FileExistsError:
        tmp = temp_name(folder, final)
        os.link(proc, tmp, src_dir_fd=fd, follow_symlinks=True)
        rename_over(tmp, final)


def rename_over(tmp: str, final: str) -> None:
    """Rename ``tmp`` to ``final``; a folder there that holds nothing but empty folders
    gives way (the plan allowed it: there is nothing in it to lose)."""
    try:
        os.replace(tmp, final)
    except IsADirectoryError:
        try:
            removed = remove_if_empty(final)
        except OSError:  # something appeared in it meanwhile, or it is a mount point
            removed = False
        if not removed:
            os.unlink(tmp)
            raise
        os.replace(tmp, final)


def holds_nothing(folder: str) -> bool:
    """Whether ``folder`` holds nothing but folders that hold nothing (a symlink counts as
    something: it is not followed)."""
    try:
        with os.scandir(folder) as entries:
            return all(e.is_dir(follow_symlinks=False) and holds_nothing(e.path) for e in entries)
    except NotADirectoryError:
        return False


def remove_if_empty(folder: str) -> bool:
    """Remove ``folder`` if it :func:`holds_nothing`; whether it did."""
    if not holds_nothing(folder):
        return False
    for dirpath, _dirs, _files in os.walk(folder, topdown=False):
        os.rmdir(dirpath)
    return True


def temp_name(folder: str, final: str) -> str:
    """A fresh hidden name beside ``final``, which a later plan knows to clear away."""
    return os.path.join(folder, f".{os.path.basename(final)}{TEMP_MARK}{os.urandom(4).hex()}")
