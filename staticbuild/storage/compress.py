"""The compression cache: each content compressed once, ever, per encoding.

What is compressed and how is WhiteNoise's (:mod:`staticbuild.storage.encodings`).
Compression is pure, so :class:`CompressCache` remembers it by content: for each sha256
of an input and each encoding, either "not worth it" or the compressed blob, stored as a
slice of a pack file (one file per batch, not one per blob: creating files is what costs
on a cold apply). A later apply that must rewrite ``x.css.br`` copies the slice instead
of recompressing. Brotli at quality 11 runs at about 0.5 MB/s, so big batches go
to a process pool (the work is CPU-bound; threads would share one core's worth of GIL
between the pure-Python parts); small batches stay in-process, where a pool's start-up
would cost more than it saves.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import threading
import time
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path

import brotli
import msgspec

from staticbuild.blobs import FileSlice
from staticbuild.errors import PostProcessError
from staticbuild.storage.encodings import (
    CODERS,
    SUFFIXES,
    CompressOptions,
    is_effective,
)

# Cache folders are named after the codec and its library version: another zlib or
# brotli may produce other (equally valid) bytes, and a cache must never mix them.
_CODECS: dict[str, str] = {
    "gzip": f"gzip-9-zlib{zlib.ZLIB_RUNTIME_VERSION}",
    "br": f"br-11-brotli{getattr(brotli, '__version__', 'unknown')}",
}

# Rough throughput (bytes/s) on one core, used only to decide whether a pool pays off.
_SPEED = {"br": 500_000, "gzip": 15_000_000}
_POOL_MIN_SECONDS = 0.25
_CHUNK_BYTES = 256 * 1024


class Compressed(msgspec.Struct, frozen=True):
    """The outcome for one content and one encoding.

    ``blob`` is where the compressed bytes are (a slice of a pack in the cache) and
    ``digest`` their sha256; both are ``None`` when compression is not worth it.
    """

    encoding: str
    blob: FileSlice | None = None
    digest: str | None = None
    size: int = 0

    @property
    def worth_it(self) -> bool:
        """True when a ``.gz`` / ``.br`` sibling should exist."""
        return self.blob is not None


@dataclass
class CompressStats:
    """Work done by a :class:`CompressCache`; tests count this instead of timing."""

    hits: int = 0  # (content, encoding) pairs answered from the cache
    compressed: int = 0  # compressions actually run, one per (content, encoding)
    bytes_read: int = 0  # input bytes read to compress
    pooled_batches: int = 0  # batches handed to the process pool


# One job for a worker: (digest, source path or bytes, encodings still unknown).
_Job = tuple[str, "str | bytes", tuple[str, ...]]
# One answer: (digest, encoding, blob digest or None, blob size, pack name, offset in it);
# (digest, "!", path, 0, "", 0) when the source changed since it was planned.
_Answer = tuple[str, str, "str | None", int, str, int]
PACKS = "packs"
#: More packs than this are compacted into one (see :meth:`CompressCache.tidy`).
MAX_PACKS = 64


def _write_atomic(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _new_pack(root: str) -> tuple[str, str]:
    """A fresh pack's name and path (unique across processes and runs)."""
    name = f"{os.getpid()}-{os.urandom(6).hex()}.pack"
    return name, os.path.join(root, PACKS, name)


def _work(root: str, jobs: Sequence[_Job]) -> list[_Answer]:
    """Compress a chunk of jobs into one new pack; runs in a worker or inline.

    The pack is complete on disk before any answer names it, and the parent records the
    answers only after: an index entry never points at bytes that were not written.
    """
    answers: list[_Answer] = []
    blobs: list[bytes] = []
    name, path = _new_pack(root)
    offset = 0
    for digest, source, encodings in jobs:
        if isinstance(source, bytes):
            data = source
        else:
            with open(source, "rb") as f:
                data = f.read()
        if hashlib.sha256(data).hexdigest() != digest:
            # The file changed since it was planned: never file it under the old digest.
            where = source if isinstance(source, str) else "<bytes>"
            answers.append((digest, "!", where, 0, "", 0))
            continue
        for encoding in encodings:
            blob = CODERS[encoding](data)
            if not is_effective(len(data), len(blob)):
                answers.append((digest, encoding, None, len(data), "", 0))
                if encoding == "br":
                    break  # WhiteNoise: if brotli is not effective, gzip won't be either
                continue
            blobs.append(blob)
            answers.append(
                (digest, encoding, hashlib.sha256(blob).hexdigest(), len(blob), name, offset)
            )
            offset += len(blob)
    if blobs:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(b"".join(blobs))
    return answers


def _worker_start(parent: int) -> None:
    """Set a pool worker up: Ctrl-C is the parent's to handle (it stops the pool: one
    message, no traceback per worker), and a worker whose parent died (SIGKILL) exits at
    once rather than finish work nobody will record, or wait for more forever."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def exit_with_parent() -> None:  # brotli lets go of the GIL: this runs meanwhile
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=exit_with_parent, daemon=True).start()


def _stop_now(pool: ProcessPoolExecutor) -> None:
    """Shut ``pool`` down without waiting for the chunks in hand: an interrupted apply
    ends now, and what its workers were compressing is not recorded anyway."""
    pool.shutdown(wait=False, cancel_futures=True)
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14 and later
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError):
            process.terminate()


def _start_method() -> str:
    """``fork`` while single-threaded, else ``spawn``.

    ``fork`` starts in milliseconds and never re-imports ``__main__`` (``spawn`` does, so an
    API caller's unguarded script would break). Forking a process that runs threads can
    deadlock on a lock another thread held (and warns from Python 3.12), so watch mode and
    the dev server get ``spawn``.
    """
    if threading.active_count() == 1 and "fork" in get_all_start_methods():
        return "fork"
    return "spawn"


class _Entry(msgspec.Struct, array_like=True, frozen=True):
    """One line of an index log: content digest -> blob digest (None: not worth it),
    and where the blob is: ``size`` bytes at ``offset`` in the pack named ``pack``."""

    source: str
    blob: str | None
    size: int
    pack: str = ""
    offset: int = 0


class CompressCache:
    """Content-addressed compression results, kept on disk under ``folder``.

    Layout: ``folder/<codec>/index.log`` (JSON lines, append-only, last line wins) and
    ``folder/packs/*.pack``, the blobs of one batch each, back to back. A lost or corrupt
    blob is simply recompressed; a truncated last log line is ignored. ``folder`` belongs
    to staticbuild's state (``.staticbuild/``), never the destination.
    """

    def __init__(self, folder: Path, *, workers: int | None = None) -> None:
        self.folder = Path(folder).absolute()
        self.stats = CompressStats()
        self.workers = workers if workers is not None else len(os.sched_getaffinity(0))
        self._index: dict[str, dict[str, _Entry]] | None = None
        # Pack sizes on disk, from one scandir: an entry is usable while its pack holds it.
        self._packs: dict[str, int] | None = None

    # -- index -----------------------------------------------------------------------

    def _log(self, encoding: str) -> Path:
        return self.folder / _CODECS[encoding] / "index.log"

    def _load(self) -> dict[str, dict[str, _Entry]]:
        if self._index is None:
            self._index = {encoding: self._read_log(encoding) for encoding in SUFFIXES}
        return self._index

    def _read_log(self, encoding: str) -> dict[str, _Entry]:
        try:
            data = self._log(encoding).read_bytes()
        except FileNotFoundError:
            return {}
        try:  # fast path: the whole log as one JSON array
            body = data.rstrip(b"\n").replace(b"\n", b",")
            entries = msgspec.json.decode(b"[" + body + b"]", type=list[_Entry])
        except ValueError:  # a write cut short by a crash: keep every whole line
            entries = []
            decoder = msgspec.json.Decoder(_Entry)
            for line in data.splitlines():
                with contextlib.suppress(ValueError):
                    entries.append(decoder.decode(line))
        return {entry.source: entry for entry in entries}

    def _pack_sizes(self) -> dict[str, int]:
        if self._packs is None:
            self._packs = {}
            with contextlib.suppress(FileNotFoundError), os.scandir(self.folder / PACKS) as it:
                for entry in it:
                    with contextlib.suppress(OSError):
                        self._packs[entry.name] = entry.stat().st_size
        return self._packs

    def _record(self, entries: Iterable[tuple[str, _Entry]]) -> None:
        index = self._load()
        packs = self._pack_sizes()
        lines: dict[str, list[bytes]] = {}
        for encoding, entry in entries:
            index[encoding][entry.source] = entry
            if entry.pack:
                end = entry.offset + entry.size
                packs[entry.pack] = max(packs.get(entry.pack, 0), end)
            lines.setdefault(encoding, []).append(msgspec.json.encode(entry) + b"\n")
        for encoding, chunk in lines.items():
            log = self._log(encoding)
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "ab") as f:  # one write per batch: appends do not interleave
                f.write(b"".join(chunk))

    def _slice(self, entry: _Entry) -> FileSlice:
        return FileSlice(str(self.folder / PACKS / entry.pack), entry.offset, entry.size)

    # -- queries ---------------------------------------------------------------------

    def lookup(self, digest: str, encoding: str) -> Compressed | None:
        """What is known for this content and encoding; ``None`` when unknown."""
        entry = self._load()[encoding].get(digest)
        if entry is None:
            return None
        if entry.blob is None:
            return Compressed(encoding)
        if self._pack_sizes().get(entry.pack, -1) < entry.offset + entry.size:
            return None  # its pack is gone or cut short
        return Compressed(encoding, self._slice(entry), entry.blob, entry.size)

    def read(self, result: Compressed) -> bytes | None:
        """The blob's bytes, checked against its digest; ``None`` if lost or corrupt."""
        where = result.blob
        if where is None:
            return None
        try:
            with open(where.path, "rb") as f:
                f.seek(where.offset)
                data: bytes | None = f.read(where.size)
        except FileNotFoundError:
            data = None
        if data is None or hashlib.sha256(data).hexdigest() != result.digest:
            # Forget every entry in that pack: its bytes cannot be trusted any more.
            pack = os.path.basename(where.path)
            self._pack_sizes().pop(pack, None)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(where.path)
            return None
        return data

    def tidy(self, keep: Collection[str]) -> bool:
        """Prune (see :meth:`prune`) once the cache has grown well past what is kept: more
        than twice the kept contents, or more than :data:`MAX_PACKS` packs (each apply
        that compresses something adds one). Returns whether it pruned."""
        entries = max((len(e) for e in self._load().values()), default=0)
        if entries <= 2 * len(keep) + 256 and len(self._pack_sizes()) <= MAX_PACKS:
            return False
        self.prune(keep)
        return True

    def prune(self, keep: Collection[str]) -> int:
        """Forget every content whose digest is not in ``keep``; returns blobs removed.

        The kept blobs are copied into one fresh pack, the index logs are rewritten
        (atomically) to point there, and then the old packs are deleted.
        """
        index = self._load()
        removed = sum(
            1
            for entries in index.values()
            for digest, entry in entries.items()
            if digest not in keep and entry.blob is not None
        )
        old = set(self._pack_sizes())
        name, path = _new_pack(str(self.folder))
        kept: dict[str, list[_Entry]] = {}
        chunks: list[bytes] = []
        offset = 0
        for encoding, entries in index.items():
            kept[encoding] = []
            for digest, entry in entries.items():
                if digest not in keep:
                    continue
                if entry.blob is None:
                    kept[encoding].append(entry)
                    continue
                data = self.read(Compressed(encoding, self._slice(entry), entry.blob))
                if data is None:
                    continue
                chunks.append(data)
                kept[encoding].append(_Entry(digest, entry.blob, entry.size, name, offset))
                offset += len(data)
        if chunks:
            _write_atomic(path, b"".join(chunks))
        for encoding, entries_kept in kept.items():
            lines = b"".join(msgspec.json.encode(e) + b"\n" for e in entries_kept)
            _write_atomic(str(self._log(encoding)), lines)
            index[encoding] = {e.source: e for e in entries_kept}
        for pack in old:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.folder / PACKS / pack)
        self._packs = {name: offset} if chunks else {}
        return removed

    # -- work ------------------------------------------------------------------------

    def compress_many(
        self,
        jobs: Sequence[tuple[str, str | Path | bytes | Callable[[], bytes]]],
        options: CompressOptions,
    ) -> dict[str, dict[str, Compressed]]:
        """Results for every ``(sha256 hex, source)`` job and wanted encoding.

        A source is a path, bytes, or a function making the bytes. Only contents the cache
        does not know are read (a function is called only then: making the bytes may cost
        a rewrite) and compressed, each once even if it appears under several names. A
        path whose content no longer matches its digest raises :class:`PostProcessError`.
        Filtering by name and size (:func:`wants_compression`) is the caller's job.
        """
        encodings = options.ordered_encodings
        results: dict[str, dict[str, Compressed]] = {}
        pending: list[_Job] = []
        for digest, source in jobs:
            if digest in results:
                continue
            known = results[digest] = {}
            missing: list[str] = []
            for encoding in encodings:
                found = self.lookup(digest, encoding)
                if found is None:
                    missing.append(encoding)
                    continue
                self.stats.hits += 1
                known[encoding] = found
                if encoding == "br" and not found.worth_it:
                    break  # gzip is skipped, as WhiteNoise skips it
            if missing:
                made = source() if callable(source) else source
                src = made if isinstance(made, bytes) else os.fspath(made)
                pending.append((digest, src, tuple(missing)))
        for digest, encoding, blob, size, pack, offset in self._run(pending):
            if encoding == "!":
                raise PostProcessError(f"{blob} changed while it was being compressed")
            if blob is None:
                results[digest][encoding] = Compressed(encoding)
            else:
                where = self._slice(_Entry(digest, blob, size, pack, offset))
                results[digest][encoding] = Compressed(encoding, where, blob, size)
        self._fill_skipped_gzip(results, encodings)
        return results

    @staticmethod
    def _fill_skipped_gzip(
        results: dict[str, dict[str, Compressed]], encodings: tuple[str, ...]
    ) -> None:
        # Not stored in the cache: "gzip skipped" follows from brotli, not from gzip itself.
        if "gzip" in encodings and "br" in encodings:
            for known in results.values():
                if "gzip" not in known and "br" in known and not known["br"].worth_it:
                    known["gzip"] = Compressed("gzip")

    def _run(self, pending: list[_Job]) -> list[_Answer]:
        if not pending:
            return []
        sizes = [len(s) if isinstance(s, bytes) else os.stat(s).st_size for _, s, _ in pending]
        self.stats.bytes_read += sum(sizes)
        jobs = zip(sizes, pending, strict=True)
        seconds = sum(size / _SPEED[e] for size, (_, _, encs) in jobs for e in encs)
        root = str(self.folder)
        parts: Iterable[list[_Answer]]
        if self.workers < 2 or len(pending) < 2 or seconds < _POOL_MIN_SECONDS:
            parts = [_work(root, pending)]
        else:
            parts = self._run_pool(root, pending, sizes)
        answers: list[_Answer] = []
        for part in parts:
            # Indexed as each chunk comes in: an apply interrupted or killed half-way keeps
            # what it compressed, and the next one compresses only the rest.
            self._record(
                (enc, _Entry(digest, blob, size, pack, offset))
                for digest, enc, blob, size, pack, offset in part
                if enc != "!"
            )
            self.stats.compressed += sum(1 for answer in part if answer[1] != "!")
            answers.extend(part)
        return answers

    def _run_pool(
        self, root: str, pending: list[_Job], sizes: list[int]
    ) -> Iterator[list[_Answer]]:
        """Each chunk's answers, as chunks finish.

        Largest first, in chunks of ~256 KiB: few round trips, and no straggler at the end.
        On an interruption the workers are stopped at once: a chunk cut short has written
        at most a pack that no index entry names.
        """
        order = sorted(range(len(pending)), key=lambda i: -sizes[i])
        chunks: list[list[_Job]] = [[]]
        weight = 0
        for i in order:
            if weight >= _CHUNK_BYTES:
                chunks.append([])
                weight = 0
            chunks[-1].append(pending[i])
            weight += sizes[i]
        self.stats.pooled_batches += 1
        workers = min(self.workers, len(chunks))
        pool = ProcessPoolExecutor(
            workers,
            mp_context=get_context(_start_method()),
            initializer=_worker_start,
            initargs=(os.getpid(),),
        )
        try:
            futures = [pool.submit(_work, root, chunk) for chunk in chunks]
            for future in as_completed(futures):
                try:
                    yield future.result()
                except BrokenProcessPool:
                    raise PostProcessError(
                        "a compression worker stopped before it finished (out of memory?); "
                        "run apply again: what was compressed is kept"
                    ) from None
        finally:
            _stop_now(pool)
