"""Write-to-served latency of ``staticbuild watch --serve`` on generated trees.

For each tree size (default 2,000 and 20,000 files) this generates a source tree and a
spec, starts the real CLI as a subprocess::

    staticbuild -f SPEC watch --serve --insecure --addr 127.0.0.1:0

reads the bound port from its ``Serving static files at http://HOST:PORT/static/`` line,
then repeatedly writes new bytes into one source file and polls the server over HTTP
(one keep-alive connection) until those bytes are served. Targets (from the issue):
p50 <= 100 ms, p95 <= 300 ms, and p50 on 20k files <= 1.5 x p50 on 2k files, since a
re-apply must cost in proportion to the change, not to the tree.

    python benchmarks/serve_latency.py                  # both sizes, 40 samples each
    python benchmarks/serve_latency.py --sizes 2000 --samples 100 --json out.json
    python benchmarks/serve_latency.py --check          # exit 1 if a target is missed

Only the standard library is used here; the CLI under test is ``python -m staticbuild``
of this interpreter unless ``--cli`` names another executable.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

SERVING = re.compile(r"Serving static files at http://([^/\s]+):(\d+)(/\S*)")
P50_TARGET_MS = 100.0
P95_TARGET_MS = 300.0
SCALING_TARGET = 1.5
FILES_PER_FOLDER = 40
KINDS = (
    (".css", "body{{margin:{i}px}}\n"),
    (".js", "export const n{i} = {i};\n"),
    (".txt", "{i}\n"),
)


@dataclass
class Result:
    files: int
    samples: int
    startup_s: float
    p50_ms: float
    p95_ms: float
    max_ms: float
    mean_ms: float


def generate_tree(root: Path, files: int, seed: int = 1) -> list[str]:
    """``files`` small files in nested folders under root/assets; returns their names."""
    rng = random.Random(seed)
    names: list[str] = []
    for i in range(files):
        folder = i // FILES_PER_FOLDER
        ext, template = KINDS[i % len(KINDS)]
        name = f"d{folder // 25:02d}/s{folder % 25:02d}/f{i:05d}{ext}"
        path = root / "assets" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(i=i) + "/*" + "x" * rng.randrange(10, 400) + "*/\n")
        names.append(name)
    (root / "staticbuild.yaml").write_text(
        "version: 1\ndestination: build/static\nurl: /static/\ndebug: false\nsources:\n  - assets\n"
    )
    return names


class Watcher:
    """The CLI subprocess; its stdout is drained by a thread so it never blocks."""

    def __init__(self, command: list[str], spec: Path, timeout: float) -> None:
        argv = [
            *command,
            "-f",
            str(spec),
            "watch",
            "--serve",
            "--insecure",
            "--addr",
            "127.0.0.1:0",
        ]
        started = time.perf_counter()
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        self.lines: list[str] = []
        self._ready = threading.Event()
        self.host, self.port, self.prefix = "", 0, "/static/"
        threading.Thread(target=self._drain, daemon=True).start()
        if not self._ready.wait(timeout):
            self.stop()
            raise SystemExit("no 'Serving static files at' line:\n" + "".join(self.lines[-20:]))
        self.startup_s = time.perf_counter() - started

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            match = SERVING.search(line)
            if match and not self._ready.is_set():
                self.host, self.port, self.prefix = match[1], int(match[2]), match[3]
                self._ready.set()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def served(conn: http.client.HTTPConnection, url: str) -> bytes | None:
    conn.request("GET", url, headers={"Cache-Control": "no-cache"})
    response = conn.getresponse()
    body = response.read()
    return body if response.status == 200 else None


def measure(size: int, samples: int, command: list[str], workdir: Path, timeout: float) -> Result:
    root = workdir / f"tree-{size}"
    names = generate_tree(root, size)
    watcher = Watcher(command, root / "staticbuild.yaml", timeout=max(120.0, size / 50))
    rng = random.Random(size)
    latencies: list[float] = []
    conn = http.client.HTTPConnection(watcher.host, watcher.port, timeout=10)
    try:
        for sample in range(samples):
            name = rng.choice(names)
            data = f"/* sample {sample} {time.time_ns()} */\n".encode()
            url = watcher.prefix + name
            started = time.perf_counter()
            (root / "assets" / name).write_bytes(data)
            while served(conn, url) != data:
                if time.perf_counter() - started > timeout:
                    raise SystemExit(f"{url} not served within {timeout} s")
                time.sleep(0.002)
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.05)  # let the debounce window close before the next write
    finally:
        conn.close()
        code = watcher.stop()
        if code != 0:
            print(f"warning: watch exited with status {code}", file=sys.stderr)
    cut = statistics.quantiles(latencies, n=20, method="inclusive")
    return Result(
        files=size,
        samples=samples,
        startup_s=round(watcher.startup_s, 2),
        p50_ms=round(statistics.median(latencies), 1),
        p95_ms=round(cut[18], 1),
        max_ms=round(max(latencies), 1),
        mean_ms=round(statistics.fmean(latencies), 1),
    )


def verdicts(results: list[Result]) -> list[str]:
    """One line per missed target (empty: all met)."""
    missed = [
        f"{r.files} files: p50 {r.p50_ms} ms > {P50_TARGET_MS} ms"
        for r in results
        if r.p50_ms > P50_TARGET_MS
    ]
    missed += [
        f"{r.files} files: p95 {r.p95_ms} ms > {P95_TARGET_MS} ms"
        for r in results
        if r.p95_ms > P95_TARGET_MS
    ]
    by_size = {r.files: r for r in results}
    if 2000 in by_size and 20000 in by_size:
        ratio = by_size[20000].p50_ms / max(by_size[2000].p50_ms, 0.1)
        if ratio > SCALING_TARGET:
            missed.append(f"20k p50 is {ratio:.2f} x 2k p50 (> {SCALING_TARGET})")
    return missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--timeout", type=float, default=10.0, help="per sample, seconds")
    parser.add_argument("--cli", help="staticbuild command (default: python -m staticbuild)")
    parser.add_argument(
        "--workdir", type=Path, help="where trees are generated (default: a temp dir)"
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    command = shlex.split(args.cli) if args.cli else [sys.executable, "-m", "staticbuild"]
    with tempfile.TemporaryDirectory(prefix="sb-serve-latency-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        results = []
        for size in args.sizes:
            result = measure(size, args.samples, command, workdir, args.timeout)
            results.append(result)
            print(
                f"{size:>6} files  start {result.startup_s:>6.2f} s  p50 {result.p50_ms:>7.1f} ms"
                f"  p95 {result.p95_ms:>7.1f} ms  max {result.max_ms:>7.1f} ms",
                flush=True,
            )
    missed = verdicts(results)
    for line in missed:
        print(f"target missed: {line}")
    if not missed:
        print("all targets met")
    if args.json:
        payload = {
            "cpu_count": os.cpu_count(),
            "results": [asdict(r) for r in results],
            "missed": missed,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 1 if (missed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
