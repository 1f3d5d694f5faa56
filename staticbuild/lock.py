"""One writer per project: a lock on ``.staticbuild/lock`` while ``apply`` or ``watch`` runs.

Two applies at once (or an apply beside a running ``watch``) would each write the
destination and the record from what they saw, and the later save would drop what the
other recorded (Terraform locks its state for the same reason). The lock is ``flock(2)``:
the kernel lets go of it when its holder exits, so a killed apply never leaves a stale
lock behind. The file's text only names the holder, for the message of the one refused.

Within one process the lock is re-entrant: ``watch`` holds it for its whole run, and each
of its applies takes it again. Forked workers do not hold it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from staticbuild.errors import ApplyError, LockedError

LOCK_NAME = "lock"

_held: dict[str, tuple[int, int]] = {}  # lock path -> (its fd, how many holders here)
_guard = threading.Lock()


def _forget_in_child() -> None:
    """A forked worker lets go of its copies of the lock: if its parent is killed, the
    lock must go with the parent, not linger until the worker notices and exits."""
    for fd, _ in _held.values():
        with contextlib.suppress(OSError):
            os.close(fd)  # the parent's descriptor still holds the lock
    _held.clear()


if hasattr(os, "register_at_fork"):  # POSIX; elsewhere nothing forks
    os.register_at_fork(after_in_child=_forget_in_child)


@contextmanager
def project_lock(state_dir: Path, command: str) -> Iterator[None]:
    """Hold the project's lock; raise :class:`LockedError` at once if another process has it.

    ``command`` ("apply", "watch") is what the refused process is told the holder runs.
    """
    path = os.path.join(state_dir, LOCK_NAME)
    with _guard:
        fd, depth = _held.get(path) or (_acquire(state_dir, path, command), 0)
        _held[path] = (fd, depth + 1)
    try:
        yield
    finally:
        with _guard:
            fd, depth = _held.pop(path)
            if depth > 1:
                _held[path] = (fd, depth - 1)
            else:
                os.close(fd)  # the kernel releases the flock with the last descriptor


def _acquire(state_dir: Path, path: str, command: str) -> int:
    try:
        import fcntl
    except ImportError:  # no flock (Windows): one writer at a time is up to the user
        return os.open(os.devnull, os.O_RDONLY)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise ApplyError(f"cannot create the lock file {path!r}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
        os.close(fd)
        raise LockedError(
            f"another staticbuild process ({holder or 'starting'}) is applying this "
            f"project; wait for it to finish or stop it (lock: {path})"
        ) from None
    except OSError:  # no locks on this file system (ENOLCK on some NFS mounts): go unlocked
        return fd
    text = f"pid {os.getpid()}, staticbuild {command}\n".encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, text, 0)
    return fd
