"""How fast a no-op apply can be: start-up and one stat per file, measured.

A no-op ``apply`` must start the interpreter, import its command line, stat every source
(an edit shows only there) and every output (a deleted or edited output must be made
again). staticbuild stats the sources in the main process while a forked child
``lstat``s the outputs, so the floor of its no-op is the start-up plus the longer of the
two walks. This measures each part beside both tools' no-op on one corpus (plain
storage, as in ``run.py``)::

    python benchmarks/noop_floor.py                  # syn-10k
    python benchmarks/noop_floor.py --corpus syn-1k --runs 15

The walks are timed in this process with the same calls staticbuild makes (``scandir``
of each open folder and a ``stat`` per entry; an ``lstat`` per output, relative to the
open destination), after a first run has warmed the page cache, as the no-op runs find
it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import corpora
from runners import MAIN, STATICBUILD, Peer, Staticbuild, empty_trash, measure


def _median_ms(run: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _quiet(argv: list[str]) -> Callable[[], object]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return lambda: subprocess.run(argv, stdout=subprocess.DEVNULL, env=env, check=True)


def _walk(folder: str) -> int:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return _walk_open(fd)
    finally:
        os.close(fd)


def _walk_open(fd: int) -> int:
    count = 0
    for entry in os.scandir(fd):
        st = entry.stat()
        if entry.is_dir():
            child = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            try:
                count += _walk_open(child)
            finally:
                os.close(child)
        elif st.st_size >= 0:
            count += 1
    return count


def _lstat_all(root: Path) -> int:
    found = (os.path.join(d, n) for d, _, names in os.walk(root) for n in names)
    paths = [os.path.relpath(path, root) for path in found]
    base = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    start = time.perf_counter()
    for path in paths:
        os.lstat(path, dir_fd=base)
    elapsed = time.perf_counter() - start
    os.close(base)
    return int(elapsed * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="syn-10k", choices=["real", *corpora.SYNTHETIC_SIZES])
    parser.add_argument("--runs", type=int, default=9, help="runs per median")
    args = parser.parse_args()
    python = corpora.ensure_venv(log=False)
    corpora.install_staticbuild(MAIN, log=False)
    corpus = corpora.load(args.corpus, python)
    workdir = corpora.WORK / "runs" / f"noop-floor-{corpus.name}"
    peer = Peer(corpus, "plain", workdir, python)
    ours = Staticbuild(corpus, "plain", workdir)
    for tool in (peer, ours):
        tool.reset()
        first = measure(tool.argv(), tool.workdir / "first.log", tool.env())
        if not first.ok:
            sys.exit(f"{tool.name}: {first.note}")
    runs = args.runs
    peer_ms = _median_ms(lambda: subprocess.run(peer.argv(), env=peer.env(), check=True), runs)
    ours_ms = _median_ms(_quiet(ours.argv()), runs)
    sb_python = str(STATICBUILD.parent / "python")
    bare_ms = _median_ms(_quiet([sb_python, "-c", "pass"]), runs)
    click_ms = _median_ms(_quiet([sb_python, "-c", "import click"]), runs)
    version_ms = _median_ms(_quiet([str(STATICBUILD), "--version"]), runs)
    sources = [str(s) for s in corpus.sources]
    walk_ms = _median_ms(lambda: [_walk(s) for s in sources], runs)
    lstat_ms = statistics.median(_lstat_all(ours.dest) for _ in range(runs)) / 1000
    floor = version_ms + max(walk_ms, lstat_ms)
    for tool in (peer, ours):
        tool.reset()
    empty_trash()
    print(f"corpus {corpus.name}: {corpus.files} files; medians of {runs} runs, in ms")
    print(f"  Django collectstatic, no-op:             {peer_ms:7.1f}")
    print(f"  staticbuild apply, no-op:                {ours_ms:7.1f}  ({peer_ms / ours_ms:.1f}x)")
    print(f"  python -c pass (interpreter and site):   {bare_ms:7.1f}")
    print(f"  python -c 'import click':                {click_ms:7.1f}")
    print(f"  staticbuild --version (all start-up):    {version_ms:7.1f}")
    print(f"  scandir + stat of every source:          {walk_ms:7.1f}")
    print(f"  lstat of every output (forked child):    {lstat_ms:7.1f}")
    print(f"  floor: start-up + the longer walk:       {floor:7.1f}  ({peer_ms / floor:.1f}x)")


if __name__ == "__main__":
    main()
