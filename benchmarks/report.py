"""The Markdown report: machine, results table, output checks, start-up check."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runners import MAIN, STATICBUILD, Measurement

#: Empty destination, staticbuild's state kept (a CI cache); the peer's figure is its cold run.
KEPT_STATE = "cold, state kept"
PHASES = ("cold", KEPT_STATE, "no-op", "one file", "1% files")


@dataclass
class Result:
    """All rounds of one corpus x scenario."""

    corpus: str
    files: int
    megabytes: float
    scenario: str
    rounds: int
    runs: dict[tuple[str, str], list[Measurement]] = field(default_factory=dict)
    outputs: str = ""
    outputs_kept: str = ""

    def add(self, tool: str, phase: str, m: Measurement) -> None:
        self.runs.setdefault((tool, phase), []).append(m)

    def notes(self) -> list[str]:
        """Distinct failure notes, one per tool."""
        seen: dict[str, str] = {}
        for (tool, _), ms in self.runs.items():
            for m in ms:
                if not m.ok and tool not in seen:
                    seen[tool] = m.note
        return [f"{self.corpus}/{self.scenario}: {tool}: {note}" for tool, note in seen.items()]


def _median(ms: list[Measurement] | None, attr: str = "seconds") -> float | None:
    ok = [getattr(m, attr) for m in ms or [] if m.ok]
    return statistics.median(ok) if ok else None


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(results: list[Result]) -> str:
    """Medians per corpus, scenario and phase, as a Markdown table."""
    head = (
        "| corpus | files | scenario | phase | peer s | staticbuild s | peer/staticbuild "
        "| peer RSS MB | staticbuild RSS MB | peer CPU s | staticbuild CPU s | cp -a s |\n"
        "|---|--:|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n"
    )
    rows = []
    for r in results:
        for phase in PHASES:
            ours = r.runs.get(("staticbuild", phase))
            peer = r.runs.get(("peer", "cold" if phase == KEPT_STATE else phase))
            p, s = _median(peer), _median(ours)
            ratio = f"{p / s:.1f}x" if p is not None and s else "n/a"
            floor = _median(r.runs.get(("cp -a", phase))) if phase == "cold" else None
            rows.append(
                f"| {r.corpus} | {r.files} ({r.megabytes:.0f} MB) | {r.scenario} | {phase} "
                f"| {_fmt(p)} | {_fmt(s)} "
                f"| {ratio} | {_fmt(_median(peer, 'rss_mb'), 0)} "
                f"| {_fmt(_median(ours, 'rss_mb'), 0)} | {_fmt(_median(peer, 'cpu_seconds'))} "
                f"| {_fmt(_median(ours, 'cpu_seconds'))} | {_fmt(floor) if floor else ''} |"
            )
    return head + "\n".join(rows) + "\n"


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip()


def revision() -> str:
    """The checkout being measured (taken when it is installed: HEAD may move meanwhile)."""
    rev = _run(["git", "-C", str(MAIN), "rev-parse", "--short", "HEAD"]) or "unknown"
    dirty = _run(["git", "-C", str(MAIN), "status", "--porcelain", "--untracked-files=no"])
    return f"{rev} with uncommitted changes" if dirty else rev


def machine(bench_python: Path, rev: str) -> str:
    """Date, CPU, cores, Python and peer versions, staticbuild revision."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    code = (
        "from importlib.metadata import version as v; "
        "print(', '.join(f'{p} {v(p)}' for p in ('Django', 'whitenoise', 'brotli')))"
    )
    versions = _run([str(bench_python), "-c", code])
    cores = len(os.sched_getaffinity(0))
    return (
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}\n"
        f"- machine: {model}, {cores} cores ({os.cpu_count()} online), "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}\n"
        f"- Python {platform.python_version()} (harness); peers: {versions or 'unknown'}\n"
        f"- staticbuild: git {rev}\n"
    )


def startup() -> str:
    """Time of ``staticbuild --version`` and the top entries of ``-X importtime``."""
    if not STATICBUILD.exists():
        return f"`{STATICBUILD}` not installed yet: start-up not measured.\n"
    times = []
    for _ in range(7):
        start = time.perf_counter()
        version = subprocess.run([str(STATICBUILD), "--version"], capture_output=True, text=True)
        times.append(time.perf_counter() - start)
    python = STATICBUILD.parent / "python"
    trace = subprocess.run(
        [str(python), "-X", "importtime", "-c", "import staticbuild.cli"],
        capture_output=True, text=True,
    ).stderr  # fmt: skip
    entries = []
    for line in trace.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m:
            entries.append((int(m.group(2)), int(m.group(1)), len(m.group(3)) // 2, m.group(4)))
    total = next((c for c, _, _, name in entries if name == "staticbuild.cli"), None)
    top = sorted(entries, reverse=True)[:12]
    lines = [
        f"- `staticbuild --version`: median {statistics.median(times) * 1000:.0f} ms over 7 runs "
        f"(exit {version.returncode}, `{version.stdout.strip() or version.stderr.strip()[:80]}`)",
        f"- `import staticbuild.cli`: {_fmt(total / 1000 if total else None, 0)} ms cumulative;"
        " top entries (cumulative / self, ms):",
        "",
        "| module | cumulative ms | self ms |",
        "|---|--:|--:|",
    ]
    lines += [
        f"| {'  ' * depth}{name} | {c / 1000:.1f} | {s / 1000:.1f} |" for c, s, depth, name in top
    ]
    return "\n".join(lines) + "\n"


def document(
    results: list[Result],
    bench_python: Path,
    rev: str,
    args: str,
    elapsed: float,
    start_up: str,
    extra: Sequence[str] = (),
) -> str:
    """The whole report."""
    notes = [n for r in results for n in r.notes()]
    checks = [f"- {r.corpus}/{r.scenario}: {r.outputs}" for r in results if r.outputs]
    checks += [
        f"- {r.corpus}/{r.scenario}, {KEPT_STATE}: {r.outputs_kept}"
        for r in results
        if r.outputs_kept
    ]
    rounds = ", ".join(f"{r.corpus}/{r.scenario}: {r.rounds}" for r in results)
    parts = [
        "# staticbuild benchmarks\n",
        machine(bench_python, rev),
        f"- command: `python benchmarks/run.py {args}` ({elapsed / 60:.1f} min)\n",
        f"- rounds (medians over): {rounds}\n",
        "".join(f"- {line}\n" for line in extra),
        "\nPeer: Django `collectstatic --noinput` with StaticFilesStorage (plain), "
        "ManifestStaticFilesStorage (manifest), WhiteNoise CompressedManifestStaticFilesStorage "
        "(manifest+gzip+br). staticbuild: `staticbuild -f SPEC apply --no-input`. Phases: cold "
        "= empty destination (and no staticbuild state); cold, state kept = empty destination, "
        "staticbuild's `.staticbuild/` kept as a CI cache would keep it (the peer keeps "
        "nothing between runs: its figure there is its cold run); no-op = run again; "
        "one file / 1% files = that many CSS/JS/SVG files changed. RSS = peak of the "
        "largest process; CPU = user+sys of the whole process tree.\n\n",
        table(results),
        "\n## Output check (after the first cold run, peer vs staticbuild; the manifest "
        "is compared by its `paths`, its key order may differ)\n\n",
        "\n".join(checks) + "\n" if checks else "(none)\n",
    ]
    if notes:
        parts += ["\n## Failures\n\n", "\n".join(f"- {n}" for n in notes) + "\n"]
    parts += ["\n## Start-up\n\n", start_up]
    return "".join(parts)
