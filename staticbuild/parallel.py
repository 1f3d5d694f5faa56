"""Spreading per-file work, in chunks: over threads, or over forked copies of the process.

One future per file costs more than copying a small file; chunks of files keep the pool's
overhead negligible while the GIL is released in the system calls and in hashlib.

Threads suit big files, where one system call does a lot. For many small files they do
not: every open, read, write and link releases and re-takes the GIL, and two threads hand
it back and forth (measured: 100,000 2 KB files copy faster on one thread than on two).
:func:`map_forked` gives each core a process of its own instead: forked copies take
chunks from a shared pipe and send their results back encoded.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

_T = TypeVar("_T")
_R = TypeVar("_R")

IO_THREADS = min(8, max(2, os.cpu_count() or 1))
#: at most this many forked workers: past it, they queue on the same folders' locks
FORKED_WORKERS = min(4, os.cpu_count() or 1)
#: at most this many chunks (a worker's overhead is per chunk)
_MAX_CHUNKS = 8192


def map_chunked(
    fn: Callable[[_T], _R], items: Sequence[_T], *, threshold: int = 32, chunk: int = 64
) -> list[_R]:
    """``[fn(x) for x in items]``, on threads when there are enough items to pay off."""
    if len(items) < threshold:
        return [fn(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor  # only when there is work to spread

    size = max(1, min(chunk, len(items) // (IO_THREADS * 4) or 1))
    parts = [items[i : i + size] for i in range(0, len(items), size)]
    out: list[_R] = []
    with ThreadPoolExecutor(IO_THREADS) as pool:
        for done in pool.map(lambda part: [fn(item) for item in part], parts):
            out.extend(done)
    return out


#: why an item has no result (None): its worker was killed (out of memory, a signal)
WORKER_LOST = "a worker process stopped before it finished; run apply again"
#: below this many items, forking costs more than it saves
FORK_THRESHOLD = 2000


def map_spread(
    fn: Callable[[_T], _R],
    items: Sequence[_T],
    result_type: type[_R],
    *,
    progress: Callable[[int], None] | None = None,
    fork_threshold: int | None = None,
    threads: bool = True,
) -> list[_R | None]:
    """``[fn(x) for x in items]`` on forked workers where that is safe and worth it (at
    least ``fork_threshold`` items, :data:`FORK_THRESHOLD` by default), else on threads
    (or, without ``threads``, here: CPU-bound work gains nothing from them).

    As for :func:`map_forked`, ``fn`` returns its failures as results.
    """
    threshold = FORK_THRESHOLD if fork_threshold is None else fork_threshold
    if len(items) >= threshold and can_fork():
        return map_forked(fn, items, result_type, progress=progress)
    run = fn if progress is None else _counting(fn, progress)
    if not threads:
        return [run(item) for item in items]
    return list(map_chunked(run, items, threshold=16))


def _counting(fn: Callable[[_T], _R], progress: Callable[[int], None]) -> Callable[[_T], _R]:
    def counted(item: _T) -> _R:
        result = fn(item)
        progress(1)
        return result

    return counted


def can_fork() -> bool:
    """Whether :func:`map_forked` may be used: a fork of a process running other threads
    could copy a lock some thread holds (the watcher and the server run threads)."""
    if not hasattr(os, "fork") or FORKED_WORKERS < 2:
        return False
    import threading

    return threading.active_count() == 1


def map_forked(
    fn: Callable[[_T], _R],
    items: Sequence[_T],
    result_type: type[_R],
    *,
    progress: Callable[[int], None] | None = None,
    chunk: int = 32,
) -> list[_R | None]:
    """``[fn(x) for x in items]`` in forked workers; this process only collects.

    ``fn`` must catch what it expects and return it as a result; its results are sent
    back msgpack-encoded as ``result_type``. An item whose worker died before answering
    (killed, out of memory) is None. ``progress`` is called here, as chunks come back.
    Only call this where :func:`can_fork` says so.
    """
    import msgspec

    size = max(chunk, -(-len(items) // _MAX_CHUNKS))
    count = -(-len(items) // size)
    queue_r, queue_w = os.pipe()  # chunk numbers, 4 bytes each, for whichever worker is free
    results: list[list[_R] | None] = [None] * count
    readers: dict[int, int] = {}  # result pipe -> worker pid
    handout: list[int] = []
    try:
        for _ in range(min(FORKED_WORKERS, count)):
            out_r, out_w = os.pipe()
            try:
                pid = os.fork()
            except OSError:  # no room for another process: make do with those running
                os.close(out_r)
                os.close(out_w)
                if readers:
                    break
                raise
            if pid == 0:  # pragma: no cover - runs in the child, reports through the pipe
                os.close(queue_w)
                os.close(out_r)
                _work(fn, items, size, queue_r, out_w)
            os.close(out_w)
            readers[out_r] = pid
        os.close(queue_r)
        queue_r = -1
        decoder = msgspec.msgpack.Decoder(tuple[int, list[result_type]])  # type: ignore[valid-type]
        numbers = b"".join(i.to_bytes(4, "big") for i in range(count))
        handout = [queue_w]  # _collect closes it once every number is out
        queue_w = -1
        failure = _collect(readers, decoder, results, progress, handout, numbers)
    except BaseException:
        for pid in readers.values():  # stop the workers before unwinding
            _kill(pid)
        raise
    finally:
        for fd in (queue_r, queue_w, *handout, *readers):
            if fd >= 0:
                os.close(fd)
        for pid in readers.values():
            _reap(pid)
    if failure:
        raise RuntimeError(f"a worker process failed: {failure}")
    out: list[_R | None] = []
    for index, part in enumerate(results):
        if part is None:
            out.extend([None] * len(items[index * size : (index + 1) * size]))
        else:
            out.extend(part)
    return out


def _work(fn: Callable[[_T], _R], items: Sequence[_T], size: int, queue: int, out: int) -> None:
    """A forked worker's life: take chunk numbers until the queue is empty, answer each
    as one frame (length, then ``(chunk, results)``), and leave without any clean-up the
    parent's objects might trigger."""
    status = 0
    try:
        import msgspec

        encode = msgspec.msgpack.Encoder().encode
        while index := os.read(queue, 4):
            start = int.from_bytes(index, "big") * size
            frame = encode((start // size, [fn(item) for item in items[start : start + size]]))
            _write_all(out, len(frame).to_bytes(4, "big") + frame)
    except BaseException as exc:  # a bug, or an interrupt: say which, then stop
        status = 1
        import traceback

        text = "".join(traceback.format_exception_only(exc)).strip().encode()
        with contextlib.suppress(OSError):
            _write_all(out, (len(text) | 1 << 31).to_bytes(4, "big") + text)
    finally:
        os._exit(status)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _collect(
    readers: dict[int, int],
    decoder: object,
    results: list[list[_R] | None],
    progress: Callable[[int], None] | None,
    handout: list[int],
    numbers: bytes,
) -> str:
    """Hand the chunk ``numbers`` out through the pipe in ``handout`` (taken out and
    closed once all are out, so workers then see its end) and read every worker's frames
    into ``results`` until all have finished; returns a worker's failure message, if one
    sent one."""
    import select

    queue = handout[0]
    os.set_blocking(queue, False)
    # Writes of at most PIPE_BUF bytes are whole: a worker never reads half a number.
    feed = memoryview(numbers)
    buffers = {fd: bytearray() for fd in readers}
    open_fds = set(readers)
    failure = ""
    decode = decoder.decode  # type: ignore[attr-defined]
    while open_fds:
        ready, writable, _ = select.select(list(open_fds), [queue] if feed else [], [])
        if writable:
            try:
                feed = feed[os.write(queue, feed[: select.PIPE_BUF]) :]
            except BlockingIOError:
                pass
            except BrokenPipeError:  # every worker is gone: their chunks stay unanswered
                feed = feed[:0]
            if not feed:
                os.close(handout.pop())
        for fd in ready:
            data = os.read(fd, 1 << 20)
            if not data:
                open_fds.discard(fd)
                continue
            buffer = buffers[fd]
            buffer += data
            while len(buffer) >= 4:
                head = int.from_bytes(buffer[:4], "big")
                length = head & ~(1 << 31)
                if len(buffer) < 4 + length:
                    break
                frame = bytes(buffer[4 : 4 + length])
                del buffer[: 4 + length]
                if head >> 31:
                    failure = failure or frame.decode(errors="replace")
                    continue
                index, part = decode(frame)
                results[index] = part
                if progress:
                    progress(len(part))
    return failure


def _reap(pid: int) -> None:
    """Wait for a child; one already reaped is fine (Ctrl-C can land between a wait that
    reaped it and the line that notes it)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _kill(pid: int) -> None:
    import signal

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


class Background(Generic[_R]):
    """``fn()`` computed in a forked child while this process goes on with other work.

    :meth:`result` waits for the child and decodes what it wrote (to an unnamed file:
    a pipe would stall a child whose parent is busy). Where forking is unsafe, or if the
    child did not finish, :meth:`result` runs ``fn`` here instead, so the answer (or the
    error) is always ``fn``'s. Use it as a context manager: leaving kills a running child.
    """

    def __init__(self, fn: Callable[[], _R], result_type: type[_R], *, fork: bool = True) -> None:
        self._fn = fn
        self._type = result_type
        self._pid = 0
        self._file: Any = None
        self._result: tuple[_R] | None = None
        if not fork or not can_fork():
            return
        self._file = _unnamed_file()
        try:
            pid = os.fork()
        except OSError:
            self._file.close()
            self._file = None
            return
        if pid == 0:  # pragma: no cover - runs in the child, reports through the file
            _answer(fn, self._file.fileno())
        self._pid = pid

    def result(self) -> _R:
        if self._result is None:
            self._result = (self._wait(),)
        return self._result[0]

    def _wait(self) -> _R:
        if self._pid:
            import msgspec

            _, status = os.waitpid(self._pid, 0)
            self._pid = 0
            if os.waitstatus_to_exitcode(status) == 0:
                self._file.seek(0)
                data = self._file.read()
                with contextlib.suppress(ValueError):
                    return msgspec.msgpack.decode(data, type=self._type)
        return self._fn()

    def __enter__(self) -> Background[_R]:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pid:
            _kill(self._pid)
            _reap(self._pid)
            self._pid = 0
        if self._file is not None:
            self._file.close()


def _unnamed_file() -> Any:
    """A read-write file with no name: in memory where the kernel offers that (and
    without importing ``tempfile``, a few ms of a no-op's start-up)."""
    if hasattr(os, "memfd_create"):
        with contextlib.suppress(OSError):
            return open(os.memfd_create("staticbuild", os.MFD_CLOEXEC), "w+b")  # noqa: SIM115
    import tempfile

    return tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it


def _answer(fn: Callable[[], _R], fd: int) -> None:
    status = 1
    try:
        import msgspec

        _write_all(fd, msgspec.msgpack.encode(fn()))
        status = 0
    finally:
        os._exit(status)
