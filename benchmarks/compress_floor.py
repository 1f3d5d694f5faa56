"""How fast a cold ``manifest + gzip + br`` apply can be: brotli's own cost, measured.

WhiteNoise compresses every original and every hashed copy; staticbuild compresses each
distinct content once. Both use brotli at quality 11, which dominates either run, so the
best possible cold ratio is about the bytes WhiteNoise compresses over the distinct bytes,
and the best possible cold time is brotli's CPU time for the distinct content spread over
the cores. This measures both on a corpus (same file selection as the benchmark: the
sources in order, first wins, WhiteNoise's skip list)::

    .venv/bin/python benchmarks/compress_floor.py              # the real corpus
    .venv/bin/python benchmarks/compress_floor.py --corpus syn-10k

Run it with an interpreter that has staticbuild installed (``make install``); the corpus
is built by the benchmark harness's own code, as for ``run.py``.

``--coders`` also times every brotli encoder at hand on the same contents (quality 11,
the same window): Google's C library through ``brotli`` (what staticbuild and WhiteNoise
use) and ``brotlicffi``, and the Rust port through ``cramjam`` and ``brotli-rs``
(``pip install -e '.[bench]'`` installs them). A faster encoder of the same format would
lower the floor; each is timed in turn, in one process, so they share the machine's state.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from collections.abc import Callable

import corpora

from staticbuild.storage.encodings import (
    CompressOptions,
    compress_brotli,
    compress_gzip,
    is_effective,
    wants_compression,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="real", choices=["real", *corpora.SYNTHETIC_SIZES])
    parser.add_argument(
        "--coders", action="store_true", help="also time the other brotli encoders at hand"
    )
    args = parser.parse_args()
    corpus = corpora.load(args.corpus, corpora.ensure_venv(log=False))
    options = CompressOptions(encodings=("br", "gzip"))
    collected: dict[str, str] = {}  # destination path -> source file (first root wins)
    for source in corpus.sources:
        for folder, _, names in os.walk(source):
            for name in names:
                full = os.path.join(folder, name)
                collected.setdefault(os.path.relpath(full, source), full)
    total = 0
    distinct: dict[bytes, bytes] = {}
    for dest, full in collected.items():
        size = os.path.getsize(full)
        if wants_compression(dest, size, options):
            total += size
            with open(full, "rb") as f:
                data = f.read()
            distinct.setdefault(hashlib.sha256(data).digest(), data)
    unique = sum(map(len, distinct.values()))
    start = time.process_time()
    kept = 0
    for data in distinct.values():
        if is_effective(len(data), len(compress_brotli(data))):
            kept += 1
            compress_gzip(data)
    cpu = time.process_time() - start
    cores = len(os.sched_getaffinity(0))
    mb = 1e6
    print(f"corpus {corpus.name}: {len(collected)} files collected")
    print(f"compressible originals: {total / mb:.1f} MB; WhiteNoise compresses them and")
    print(f"  their hashed copies: about {2 * total / mb:.1f} MB")
    print(f"distinct compressible contents: {len(distinct)}, {unique / mb:.1f} MB")
    print(f"  bytes ratio (WhiteNoise / distinct): {2 * total / unique:.2f}x")
    print(f"brotli (+ gzip where kept, {kept}) over the distinct contents: {cpu:.1f} s CPU")
    print(f"  floor of a cold apply on {cores} cores: {cpu / cores:.1f} s")
    if args.coders:
        time_coders(list(distinct.values()))


def _coders() -> dict[str, Callable[[bytes], bytes]]:
    """The brotli encoders that can be imported here, each at quality 11, window 22."""
    found: dict[str, Callable[[bytes], bytes]] = {"brotli (C)": compress_brotli}
    try:
        import brotlicffi

        found["brotlicffi (C)"] = lambda data: brotlicffi.compress(data, quality=11, lgwin=22)
    except ImportError:
        print("brotlicffi: not installed")
    try:
        import cramjam

        found["cramjam (Rust)"] = lambda data: bytes(cramjam.brotli.compress(data, level=11))
    except ImportError:
        print("cramjam: not installed")
    try:
        import brotli_rs

        found["brotli-rs (Rust)"] = lambda data: brotli_rs.compress(data, quality=11)
    except ImportError:
        print("brotli-rs: not installed")
    return found


def time_coders(contents: list[bytes]) -> None:
    for name, coder in _coders().items():
        start = time.process_time()
        out = sum(len(coder(data)) for data in contents)
        cpu = time.process_time() - start
        print(f"{name:18s} {cpu:6.1f} s CPU, {out / 1e6:.2f} MB out")


if __name__ == "__main__":
    main()
