"""Deploying to a bucket: Django's collectstatic with django-storages (and Collectfast, the
usual cure for its slowness) vs staticbuild, against one S3 API server on loopback.

    .venv/bin/python benchmarks/s3.py                # the real corpus, manifest storage
    .venv/bin/python benchmarks/s3.py --corpus syn-1k --storage plain

(an interpreter with boto3: staticbuild's own venv, ``make install``)

The server is moto's (``moto_server``), in its own process. It is not AWS: a request here
takes a millisecond or two where a real region takes tens, so the ratios below understate
what saving requests is worth. What the table shows is how many requests each tool needs;
the request count of each run is printed beside its time.

Phases: cold = empty bucket (and no staticbuild state; Collectfast's cache of remote ETags,
a file cache here, starts empty too); no-op = run again; fresh machine =
run again without ``.staticbuild/`` (a CI job's clone: staticbuild then has only the
record it keeps in the bucket; the peers keep nothing anyway); one file = one CSS/JS/SVG
file changed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from corpora import WORK, Corpus, ensure_venv, install_staticbuild, load
from report import revision
from runners import MAIN, STATICBUILD, Measurement, discard, empty_trash, measure

RESULTS = Path(__file__).resolve().parent / "results"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "benchmark",
    "AWS_SECRET_ACCESS_KEY": "benchmark",
    "AWS_DEFAULT_REGION": "us-east-1",
}
#: storage -> django-storages backend
BACKENDS = {
    "plain": "storages.backends.s3.S3Storage",
    "manifest": "storages.backends.s3.S3ManifestStaticStorage",
}


class Server:
    """moto's S3 server on a free loopback port, with a request counter (its log lines)."""

    def __init__(self, python: Path, log: Path) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = open(log, "wb")  # noqa: SIM115 - closed in stop()
        moto = python.parent / "moto_server"
        self.proc = subprocess.Popen(
            [str(moto), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit(f"moto_server did not start; see {log}") from None
                time.sleep(0.2)

    def requests(self) -> int:
        """Requests served so far (one werkzeug log line each)."""
        self._out.flush()
        return self.log.read_bytes().count(b' HTTP/1.1" ')

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self._out.close()


def client(server: Server) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=server.url, region_name="us-east-1")


def objects(s3: Any, bucket: str) -> dict[str, tuple[str, int]]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"]: (o["ETag"], o["Size"]) for p in pages for o in p.get("Contents", ())}


class Contender:
    name = ""

    def __init__(self, corpus: Corpus, storage: str, workdir: Path, server: Server) -> None:
        self.corpus, self.storage, self.server = corpus, storage, server
        self.workdir = workdir / self.name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.bucket = ""
        self.runs = 0

    def fresh_bucket(self) -> None:
        self.bucket = f"{self.name}-{os.urandom(4).hex()}"
        client(self.server).create_bucket(Bucket=self.bucket)
        self.configure()

    def configure(self) -> None:
        raise NotImplementedError

    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return {**os.environ, **CREDENTIALS}

    def run(self) -> tuple[Measurement, int]:
        self.runs += 1
        before = self.server.requests()
        m = measure(self.argv(), self.workdir / f"run{self.runs}.log", self.env())
        return m, self.server.requests() - before


class Peer(Contender):
    """``collectstatic --noinput`` with django-storages' S3 backend (``collectfast``:
    Collectfast's command over the same backend)."""

    def __init__(self, *args: Any, python: Path, collectfast: bool = False) -> None:
        self.name = "collectfast" if collectfast else "django-storages"
        super().__init__(*args)
        self.python, self.collectfast = python, collectfast

    def configure(self) -> None:
        apps = ["collectfast"] if self.collectfast else []
        options = {
            "bucket_name": self.bucket,
            "endpoint_url": self.server.url,
            "location": "static",
            "default_acl": None,
            "querystring_auth": False,
        }
        extra = ""
        if self.collectfast:
            extra = (
                "COLLECTFAST_STRATEGY = 'collectfast.strategies.boto3.Boto3Strategy'\n"
                "COLLECTFAST_THREADS = 16\n"
                "CACHES = {'default': {'BACKEND': "
                "'django.core.cache.backends.filebased.FileBasedCache', "
                f"'LOCATION': {str(self.workdir / 'cache')!r}}}}}\n"
            )
        (self.workdir / "s3_settings.py").write_text(
            "SECRET_KEY = 'benchmark'\n"
            f"INSTALLED_APPS = {[*apps, 'django.contrib.staticfiles']!r}\n"
            "STATIC_URL = '/static/'\n"
            f"STATICFILES_DIRS = {[str(s) for s in self.corpus.sources]!r}\n"
            f"STORAGES = {{'staticfiles': {{'BACKEND': {BACKENDS[self.storage]!r}, "
            f"'OPTIONS': {options!r}}}}}\n" + extra
        )

    def argv(self) -> list[str]:
        return [str(self.python), "-m", "django", "collectstatic", "--noinput", "-v", "0"]

    def env(self) -> dict[str, str]:
        return {
            **super().env(),
            "DJANGO_SETTINGS_MODULE": "s3_settings",
            "PYTHONPATH": str(self.workdir),
        }


class Ours(Contender):
    name = "staticbuild"

    def configure(self) -> None:
        sources = "".join(f"  - {str(s)!r}\n" for s in self.corpus.sources)
        kind = "manifest" if self.storage == "manifest" else "filesystem"
        (self.workdir / "staticbuild.yaml").write_text(
            "version: 1\n"
            f"destination: s3://{self.bucket}/static\n"
            f"s3: {{endpoint_url: '{self.server.url}', region: us-east-1}}\n"
            f"sources:\n{sources}"
            f"storage: {{kind: {kind}}}\n"
        )
        discard(self.workdir / ".staticbuild")

    def forget_state(self) -> None:
        discard(self.workdir / ".staticbuild")

    def argv(self) -> list[str]:
        spec = str(self.workdir / "staticbuild.yaml")
        return [str(STATICBUILD), "-f", spec, "-v", "0", "apply", "--no-input"]


def compare(server: Server, peer: Contender, ours: Contender) -> str:
    s3 = client(server)
    a = objects(s3, peer.bucket)
    b = {k: v for k, v in objects(s3, ours.bucket).items() if "/.staticbuild/" not in k}
    if a.keys() != b.keys():
        return f"names differ: {len(a)} vs {len(b)} objects, e.g. {sorted(a.keys() ^ b.keys())[:2]}"
    differ = [k for k in a if a[k] != b[k] and not k.endswith("staticfiles.json")]
    return f"same {len(a)} keys; " + (
        f"{len(differ)} differ ({differ[0]})" if differ else "same bytes"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="real")
    parser.add_argument("--storage", default="manifest", choices=sorted(BACKENDS))
    parser.add_argument("--out", type=Path, default=RESULTS / "s3-latest.md")
    parser.add_argument(
        "--staticbuild-only",
        action="store_true",
        help="run staticbuild alone (after a change to it: the peers take 20 minutes)",
    )
    args = parser.parse_args()
    os.environ.update(CREDENTIALS)  # for this harness's own client, too
    started = time.time()
    python = ensure_venv()
    install_staticbuild(MAIN)
    corpus = load(args.corpus, python)
    workdir = WORK / "runs" / f"s3-{corpus.name}-{args.storage}"
    discard(workdir)
    server = Server(python, WORK / f"moto-{os.getpid()}.log")
    rows: list[tuple[str, str, Measurement, int]] = []
    notes: list[str] = []
    try:
        ours = Ours(corpus, args.storage, workdir, server)
        peers: list[Contender] = [
            Peer(corpus, args.storage, workdir, server, python=python),
            Peer(corpus, args.storage, workdir, server, python=python, collectfast=True),
        ]
        if args.staticbuild_only:
            peers = []
        texts = corpus.text_files()

        def timed(tool: Contender, phase: str) -> None:
            m, requests = tool.run()
            rows.append((tool.name, phase, m, requests))
            failed = "" if m.ok else f"  FAILED {m.note}"
            print(f"{tool.name:16} {phase:14} {m.seconds:8.2f} s {requests:7} requests{failed}")

        for tool in [*peers, ours]:
            tool.fresh_bucket()
            timed(tool, "cold")
        if peers:
            verdict = compare(server, peers[0], ours)
            notes.append(f"after the cold runs, {peers[0].name} vs staticbuild: {verdict}")
        for tool in [*peers, ours]:
            timed(tool, "no-op")
            if tool is ours:
                ours.forget_state()
                timed(tool, "fresh machine")
            corpus.touch(texts[:1], "bench-s3")
            timed(tool, "one file")
            corpus.restore()
    finally:
        corpus.restore()
        server.stop()
        empty_trash()
    write_report(args, corpus, rows, notes, time.time() - started)


def write_report(
    args: argparse.Namespace,
    corpus: Corpus,
    rows: list[tuple[str, str, Measurement, int]],
    notes: list[str],
    elapsed: float,
) -> None:
    ours = {phase: m.seconds for name, phase, m, _ in rows if name == "staticbuild" and m.ok}
    lines = [
        "# staticbuild: deploying to a bucket (moto's S3 server on loopback)",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; staticbuild: {revision()}",
        f"- command: `python benchmarks/s3.py --corpus {args.corpus} --storage {args.storage}"
        f"{' --staticbuild-only' if args.staticbuild_only else ''}`"
        f" ({elapsed / 60:.1f} min)",
        f"- corpus: {corpus.name}, {corpus.files} files ({corpus.size / 1e6:.0f} MB); "
        f"storage: {args.storage}",
        "",
        "| tool | phase | seconds | requests | vs staticbuild | CPU s | RSS MB |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for name, phase, m, requests in rows:
        mine = ours.get(phase if phase != "fresh machine" else "no-op")
        ratio = f"{m.seconds / mine:.1f}x" if mine and name != "staticbuild" and m.ok else ""
        seconds = f"{m.seconds:.2f}" if m.ok else f"failed: {m.note}"
        lines.append(
            f"| {name} | {phase} | {seconds} | {requests} | {ratio} | "
            f"{m.cpu_seconds:.2f} | {m.rss_mb:.0f} |"
        )
    lines += ["", *(f"- {n}" for n in notes), ""]
    text = "\n".join(lines)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    if args.out != RESULTS / "s3-latest.md":
        shutil.copy(args.out, RESULTS / "s3-latest.md")


if __name__ == "__main__":
    main()
