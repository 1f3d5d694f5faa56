"""The contenders: Django's collectstatic (the peer), staticbuild, and ``cp -a`` (the floor).

Each run is one isolated child process, timed on the wall clock; its peak RSS and CPU
time come from ``os.wait4``, i.e. the rusage of that child alone (the largest process of
its tree for RSS, summed over the tree for CPU).
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from corpora import SB_VENV, WORK, Corpus

MAIN = Path(__file__).resolve().parent.parent
STATICBUILD = SB_VENV / "bin" / "staticbuild"  # see corpora.install_staticbuild
TRASH = WORK / "trash"  # trees put out of the way during a run; see discard
EMPTIED = WORK / "trash-emptied"  # its mtime: when the trash was last deleted
SETTLE_SECONDS = 370

#: scenario -> (Django storage backend, staticbuild storage kind, compress encodings)
SCENARIOS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "plain": ("django.contrib.staticfiles.storage.StaticFilesStorage", "filesystem", ()),
    "manifest": ("django.contrib.staticfiles.storage.ManifestStaticFilesStorage", "manifest", ()),
    "manifest+gzip+br": (
        "whitenoise.storage.CompressedManifestStaticFilesStorage", "manifest", ("gzip", "br"),
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Measurement:
    """One timed run; ``ok`` is False when the tool failed or is not available."""

    seconds: float
    rss_mb: float
    cpu_seconds: float
    ok: bool = True
    note: str = ""


def measure(argv: list[str], log: Path, env: dict[str, str] | None = None) -> Measurement:
    """Run ``argv`` as a child, its output to ``log``; wall time, peak RSS, CPU time."""
    with open(log, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=_child_env(env))
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    if proc.returncode != 0:
        lines = log.read_text(errors="replace").strip().splitlines() or ["(no output)"]
        note = f"exit {proc.returncode}: {lines[-1][:160]}"
        return Measurement(seconds, usage.ru_maxrss / 1024, cpu, ok=False, note=note)
    return Measurement(seconds, usage.ru_maxrss / 1024, cpu)


def discard(path: Path) -> None:
    """Move ``path`` out of the way now; ``empty_trash`` deletes it once timing is over.

    Deleting a tree just before a timed run would make that run pay for it. On an ext4
    without a journal (this VM's root: no ``/proc/fs/jbd2`` entry), each file created
    scans the inodes freed in the last 60-360 s (``recently_deleted`` in
    ``fs/ext4/ialloc.c``, found with ``perf``): 20,000 files took 4.3 s to create right
    after 40,000 were deleted, and 0.3 s when nothing had been. A rename frees nothing.
    """
    if os.path.lexists(path):
        TRASH.mkdir(parents=True, exist_ok=True)
        os.rename(path, TRASH / f"{path.name}-{os.urandom(6).hex()}")


def empty_trash() -> bool:
    """Delete what ``discard`` put aside; True if there was anything. The time is noted
    for :func:`settle`."""
    found = TRASH.exists()
    shutil.rmtree(TRASH, ignore_errors=True)
    if found:
        EMPTIED.touch()
    return found


def settle(log: Callable[[str], object]) -> None:
    """Wait until the last :func:`empty_trash` no longer slows the disk down.

    An inode freed within the last 60 s counts as recently deleted, and within 360 s
    while its block of the inode table is dirty, which creating files next to it makes
    it again: a run started right after the previous one emptied its trash paid for
    that deletion (the 100k cold apply took 21 s instead of 4.7 s, ``cp -a`` 34 s).
    """
    os.sync()  # whatever was deleted before (tests, say) is then recent for 60 s at most
    try:
        age = time.time() - EMPTIED.stat().st_mtime
    except FileNotFoundError:
        return
    if age < SETTLE_SECONDS:
        wait = SETTLE_SECONDS - age
        log(f"waiting {wait:.0f} s: files were deleted {age:.0f} s ago (see runners.discard)")
        time.sleep(wait)


def _child_env(env: dict[str, str] | None) -> dict[str, str]:
    """The child's environment, minus what would make its start-up unlike a user's."""
    result = dict(os.environ if env is None else env)
    result.pop("PYTHONDONTWRITEBYTECODE", None)  # users' Pythons cache bytecode
    return result


class Tool:
    """A contender set up for one corpus and scenario, with its own destination."""

    name = "tool"

    def __init__(self, corpus: Corpus, scenario: str, workdir: Path) -> None:
        self.corpus = corpus
        self.scenario = scenario
        self.workdir = workdir / self.name
        self.dest = self.workdir / "dest"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.runs = 0

    def reset(self) -> None:
        """Forget everything: an empty destination (and no state)."""
        discard(self.dest)

    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str] | None:
        return None

    def available(self) -> str:
        """Empty when the tool can run; otherwise why not."""
        return ""

    def run(self) -> Measurement:
        """One run against the current corpus and destination."""
        missing = self.available()
        if missing:
            return Measurement(0.0, 0.0, 0.0, ok=False, note=missing)
        self.runs += 1
        return measure(self.argv(), self.workdir / f"run{self.runs}.log", self.env())


class Peer(Tool):
    """``manage.py collectstatic --noinput`` with the scenario's Django/WhiteNoise storage."""

    name = "peer"

    def __init__(self, corpus: Corpus, scenario: str, workdir: Path, python: Path) -> None:
        super().__init__(corpus, scenario, workdir)
        self.python = python
        backend = SCENARIOS[scenario][0]
        (self.workdir / "bench_settings.py").write_text(
            "SECRET_KEY = 'benchmark'\n"
            "INSTALLED_APPS = ['django.contrib.staticfiles']\n"
            "STATIC_URL = '/static/'\n"
            f"STATIC_ROOT = {str(self.dest)!r}\n"
            f"STATICFILES_DIRS = {[str(s) for s in corpus.sources]!r}\n"
            f"STORAGES = {{'staticfiles': {{'BACKEND': {backend!r}}}}}\n"
        )

    def argv(self) -> list[str]:
        return [str(self.python), "-m", "django", "collectstatic", "--noinput", "-v", "0"]

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench_settings",
            "PYTHONPATH": str(self.workdir),
        }


class Staticbuild(Tool):
    """``staticbuild -f SPEC apply --no-input`` with the scenario's storage."""

    name = "staticbuild"

    def __init__(self, corpus: Corpus, scenario: str, workdir: Path) -> None:
        super().__init__(corpus, scenario, workdir)
        _, kind, compress = SCENARIOS[scenario]
        self.spec = self.workdir / "staticbuild.yaml"
        sources = "".join(f"  - {str(s)!r}\n" for s in corpus.sources)
        self.spec.write_text(
            "version: 1\n"
            f"destination: {str(self.dest)!r}\n"
            "url: /static/\n"
            f"sources:\n{sources}"
            "storage:\n"
            f"  kind: {kind}\n"
            f"  compress: [{', '.join(compress)}]\n"
        )

    def reset(self) -> None:
        super().reset()
        discard(self.workdir / ".staticbuild")  # cold: no state

    def reset_destination(self) -> None:
        """An empty destination, the state (records, compression cache) kept."""
        discard(self.dest)

    def available(self) -> str:
        if not STATICBUILD.exists():
            return f"{STATICBUILD} not installed yet"
        return ""

    def argv(self) -> list[str]:
        return [str(STATICBUILD), "-f", str(self.spec), "-v", "0", "apply", "--no-input"]


class Copy(Tool):
    """``cp -a`` of the sources into the destination: the floor for a cold copy."""

    name = "cp -a"

    def argv(self) -> list[str]:
        # Last source first, so that the first source wins as in Django's search order.
        steps = [f"cp -a '{s}/.' '{self.dest}/'" for s in reversed(self.corpus.sources)]
        return ["sh", "-c", f"mkdir -p '{self.dest}' && " + " && ".join(steps)]


def tree_files(root: Path) -> set[str]:
    """Relative paths of the files under ``root``."""
    if not root.exists():
        return set()
    return {
        os.path.relpath(os.path.join(d, n), root) for d, _, names in os.walk(root) for n in names
    }


def compare_outputs(peer: Path, ours: Path, manifest: str = "staticfiles.json") -> str:
    """How the two destinations compare: names, bytes, and the manifest's ``paths``."""
    a, b = tree_files(peer), tree_files(ours)
    counts = f"{len(a)} files vs {len(b)}"
    if a == b:
        differ = [n for n in sorted(a - {manifest}) if not filecmp.cmp(peer / n, ours / n, False)]
        same_bytes = "same bytes" if not differ else f"{len(differ)} differ in bytes ({differ[0]})"
        verdict = f"same file names ({counts}), {same_bytes}"
    else:
        only_peer, only_ours = sorted(a - b), sorted(b - a)
        examples = ", ".join(only_peer[:2] + only_ours[:2])
        verdict = (
            f"names differ ({counts}): {len(only_peer)} only peer, "
            f"{len(only_ours)} only staticbuild, e.g. {examples}"
        )
    if (peer / manifest).exists() and (ours / manifest).exists():
        theirs = json.loads((peer / manifest).read_text()).get("paths")
        mine = json.loads((ours / manifest).read_text()).get("paths")
        verdict += "; manifest paths " + ("same" if theirs == mine else "differ")
    return verdict
