"""A SIGKILLed ``apply`` never leaves a partial file at a final path, and the next converges.

``staticbuild apply --no-input`` runs as a real subprocess on a tree of thousands of files
(some of 50-200 KB) and is killed with SIGKILL as soon as the first files reach the
destination. Every file then at a final path must equal, byte for byte, what a clean apply
puts there (hidden ``.NAME.sbtmp-*`` temporaries may remain); the next apply must make the
destination byte-identical to a fresh apply into another folder, leave no temporaries, and
leave nothing for ``plan`` to do.

If an attempt cannot be killed part-way (the apply finished first, or had already written
everything), it is retried on a tree twice as big, so the tests never depend on timing.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.collectstatic_reference import snapshot

TEMP_MARK = ".sbtmp-"
#: A loaded CI box may run each attempt slowly; retries only happen on fast ones.
pytestmark = pytest.mark.timeout(600)
SIZES = (3000, 6000, 12000, 24000)


def make_tree(site: Path, count: int, seed: int = 0, version: int = 0) -> None:
    """``count`` files in two roots (an ``assets`` source and an app), one in twenty of
    50-200 KB, some paths in both roots; ``version`` changes the content of the big ones."""
    rng = random.Random(seed)
    for i in range(count):
        root = site / ("app/static" if i % 5 == 0 else "assets")
        rel = f"d{i % 61:02d}/s{i % 7}/f{i:05d}.bin"
        big = i % 20 == 0
        size = rng.randint(50_000, 200_000) if big else rng.randint(0, 2_000)
        data = rng.randbytes(size)
        if big and version:
            data = version.to_bytes(4, "big") + data[4:] + b"v%d" % version
        for folder in {root, site / "app/static"} if i % 50 == 1 else {root}:
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data if folder == root else b"loses to the source: " + data)


def write_spec(folder: Path, site: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    spec = folder / "staticbuild.yaml"
    rel = os.path.relpath(site, folder)
    spec.write_text(
        f"version: 1\ndestination: out\nsources: ['{rel}/assets']\napps:\n  - path: '{rel}/app'\n"
    )
    return spec


def cli(spec: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "staticbuild", "-f", str(spec), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def finals_and_temps(dest: Path) -> tuple[list[str], list[str]]:
    finals: list[str] = []
    temps: list[str] = []
    for dirpath, _dirs, files in os.walk(dest):
        for name in files:
            rel = os.path.relpath(os.path.join(dirpath, name), dest)
            (temps if name.startswith(".") and TEMP_MARK in name else finals).append(rel)
    return finals, temps


def has_final_file(dest: Path) -> bool:
    for _dirpath, _dirs, files in os.walk(dest):
        if any(not (n.startswith(".") and TEMP_MARK in n) for n in files):
            return True
    return False


Probe = Callable[[], bool]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def kill_part_way(
    spec: Path, started: Probe, part_way: Probe, signum: int = signal.SIGKILL, group: bool = False
) -> bool:
    """Start an apply, send ``signum`` as soon as ``started()`` (with ``group``, to its
    whole process group, workers included, as a terminal's Ctrl-C does); whether it
    stopped ``part_way()``. SIGINT must end it with status 1 and a one-line message."""
    log = spec.parent / "killed-apply.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "staticbuild", "-f", str(spec), "apply", "--no-input"],
            stdout=out,
            stderr=subprocess.STDOUT,
            # As from a terminal: a job started in the background of a script (CI) would
            # otherwise inherit SIGINT ignored, and Ctrl-C could not be tested.
            preexec_fn=_default_sigint,
            start_new_session=group,
        )
        deadline = time.monotonic() + 120
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                if started():
                    break
                time.sleep(0.001)
            if proc.poll() is None:
                (os.killpg if group else os.kill)(proc.pid, signum)
        finally:
            proc.wait(timeout=60)
    output = log.read_text(errors="replace")
    if proc.returncode == 0:
        return False  # it finished before the signal
    if signum == signal.SIGINT:
        assert proc.returncode == 1, output
        assert output.strip().splitlines()[-1] == (
            "Interrupted: no file is left half-written; run the command again to finish."
        ), output
        assert "Traceback" not in output
    else:
        assert proc.returncode == -signum, output
    return part_way()


def attempts(tmp_path: Path) -> Iterator[tuple[Path, Path, Path, Path]]:
    """Sites of growing size: (site, spec, its destination, a clean reference destination)."""
    for attempt, count in enumerate(SIZES):
        site = tmp_path / f"site{attempt}"
        make_tree(site, count)
        spec = write_spec(tmp_path / f"project{attempt}", site)
        reference = write_spec(tmp_path / f"reference{attempt}", site)
        yield site, spec, spec.parent / "out", reference.parent / "out"
    pytest.fail(f"apply always finished before the signal, even with {SIZES[-1]} files")


def clean_apply(spec: Path) -> None:
    result = cli(spec, "-v", "0", "apply", "--no-input")
    assert result.returncode == 0, result.stderr


def assert_converges(spec: Path, dest: Path, expected_dest: Path) -> None:
    result = cli(spec, "apply", "--no-input")
    assert result.returncode == 0, result.stderr
    assert finals_and_temps(dest)[1] == [], "temporary files left after the recovering apply"
    ours, theirs = snapshot(dest), snapshot(expected_dest)
    assert ours.keys() == theirs.keys()
    assert [k for k in ours if ours[k] != theirs[k]] == []
    plan = cli(spec, "plan", "--json")
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["actions"] == []


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_killed_first_apply_leaves_whole_files_and_the_next_converges(
    tmp_path: Path, signum: int
) -> None:
    for _site, spec, dest, expected_dest in attempts(tmp_path):
        clean_apply(expected_dest.parent / "staticbuild.yaml")
        total = len(finals_and_temps(expected_dest)[0])

        def part_way(dest: Path = dest, total: int = total) -> bool:
            return 0 < len(finals_and_temps(dest)[0]) < total

        if kill_part_way(spec, lambda dest=dest: has_final_file(dest), part_way, signum):
            break
    expected, got = snapshot(expected_dest), snapshot(dest)
    finals, _temps = finals_and_temps(dest)
    partial = [rel for rel in finals if got[rel] != expected.get(rel)]
    assert partial == [], f"files at final paths that are not whole copies: {partial[:10]}"
    assert_converges(spec, dest, expected_dest)


def test_killed_update_leaves_old_or_new_files_and_the_next_converges(tmp_path: Path) -> None:
    """Killed while overwriting: each final path holds the whole old or the whole new file."""
    for attempt, (site, spec, dest, expected_dest) in enumerate(attempts(tmp_path)):
        clean_apply(spec)
        old = snapshot(dest)
        make_tree(site, SIZES[attempt], version=1)  # one file in twenty changes
        clean_apply(expected_dest.parent / "staticbuild.yaml")
        new = snapshot(expected_dest)
        changed = [k for k in new if new[k] != old[k]]
        assert old.keys() == new.keys() and len(changed) >= len(new) // 40
        inodes = {k: os.stat(dest / k).st_ino for k in changed}

        def started(dest: Path = dest, inodes: dict[str, int] = inodes) -> bool:
            return any(os.stat(dest / k).st_ino != ino for k, ino in inodes.items())

        def part_way(dest: Path = dest, changed: list[str] = changed, new: dict = new) -> bool:
            now = snapshot(dest)
            return 0 < sum(now[k] == new[k] for k in changed) < len(changed)

        if kill_part_way(spec, started, part_way):
            break
    got = snapshot(dest)
    assert {k for k in got if TEMP_MARK not in k} == new.keys()
    torn = [k for k in new if got[k] not in (old[k], new[k])]
    assert torn == [], f"files at final paths that are neither old nor new: {torn[:10]}"
    assert_converges(spec, dest, expected_dest)


# -- compression: work done before an interruption is kept --------------------------


def make_compressible_tree(site: Path, count: int) -> None:
    """``count`` distinct text files of ~30 KB: brotli at quality 11 takes tens of ms each."""
    rng = random.Random(count)
    words = ["".join(rng.choices("abcdefghij", k=rng.randint(2, 9))) for _ in range(400)]
    (site / "app" / "static").mkdir(parents=True)
    for i in range(count):
        path = site / "assets" / f"d{i % 13}" / f"f{i:04d}.css"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"/* {i} */\n" + " ".join(rng.choices(words, k=5000)))


def br_index(project: Path) -> list[str]:
    """The content digests in the brotli index, one per compression the cache filed."""
    logs = list((project / ".staticbuild" / "compress").glob("br-*/index.log"))
    if not logs:
        return []
    return [json.loads(line)[0] for line in logs[0].read_text().splitlines() if line.strip()]


def processes_naming(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize(
    ("signum", "group"),
    [(signal.SIGKILL, False), (signal.SIGINT, False), (signal.SIGINT, True)],
    ids=["SIGKILL", "SIGINT", "SIGINT-group"],
)
def test_interrupted_apply_keeps_what_it_compressed(
    tmp_path: Path, signum: int, group: bool
) -> None:
    """Compressions finished before a kill or Ctrl-C are in the cache; the next apply
    compresses only the rest (no content is filed twice), and no worker outlives it."""
    for count in (200, 400, 800, 1600):
        site = tmp_path / f"site{count}"
        make_compressible_tree(site, count)
        spec = write_spec(tmp_path / f"project{count}", site)
        with spec.open("a") as f:
            f.write("storage: {kind: filesystem, compress: [br]}\n")
        project = spec.parent
        if kill_part_way(
            spec,
            lambda project=project: bool(br_index(project)),
            lambda project=project, count=count: 0 < len(br_index(project)) < count,
            signum,
            group,
        ):
            break
    else:
        pytest.fail("apply always finished compressing before the signal")
    kept = set(br_index(project))
    deadline = time.monotonic() + 60
    while processes_naming(str(spec)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_naming(str(spec)) == [], "a compressing worker outlived its apply"
    reference = write_spec(tmp_path / "reference", site)
    with reference.open("a") as f:
        f.write("storage: {kind: filesystem, compress: [br]}\n")
    clean_apply(reference)
    assert_converges(spec, project / "out", reference.parent / "out")
    filed = br_index(project)
    assert len(filed) == len(set(filed)) == count, "a content was compressed twice"
    assert kept <= set(filed)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_files_an_interrupted_apply_wrote_are_its_own_for_the_next(
    tmp_path: Path, signum: int
) -> None:
    """Files written before the kill but never recorded: when their sources are gone by the
    next apply, they are deleted as stale, not left behind as someone else's."""
    for attempt, count in enumerate(SIZES):
        site = tmp_path / f"site{attempt}"
        make_tree(site, 50)
        spec = write_spec(tmp_path / f"project{attempt}", site)
        dest = spec.parent / "out"
        clean_apply(spec)
        before = snapshot(dest)
        new = site / "assets" / "new"
        for i in range(count):
            path = new / f"d{i % 41}" / f"n{i:05d}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"new %d\n" % i * (1 + i % 50))

        def written(dest: Path = dest) -> int:
            return sum(len(files) for _, _, files in os.walk(dest / "new"))

        if kill_part_way(
            spec,
            lambda written=written: written() > 0,
            lambda written=written, count=count: 0 < written() < count,
            signum,
        ):
            break
    else:
        pytest.fail("apply always finished before the signal")
    shutil.rmtree(new)
    result = cli(spec, "apply", "--no-input")
    assert result.returncode == 0, result.stderr
    assert snapshot(dest) == before
    plan = cli(spec, "plan", "--json")
    assert json.loads(plan.stdout)["actions"] == []
