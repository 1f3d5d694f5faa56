"""Writes spread over forked worker processes: the same files, records and errors as on
threads, results in order, and a worker that dies is an error, never a silent gap."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import pytest

from staticbuild import builder, parallel
from staticbuild.parallel import Background, can_fork, map_forked
from staticbuild.storage import manifest
from tests.conftest import RunCli, make_spec, tree, write

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")


@pytest.fixture
def forked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every stage of writes goes to worker processes, however small."""
    if not can_fork():
        pytest.skip("another thread runs in this test process")
    monkeypatch.setattr(parallel, "FORK_THRESHOLD", 1)
    monkeypatch.setattr(manifest, "SCAN_FORK_THRESHOLD", 1)
    monkeypatch.setattr(builder, "STILL_FORK_THRESHOLD", 1)


def _site(folder: Path) -> Path:
    for i in range(120):
        write(
            folder / f"src/d{i % 7}/f{i}.css", f".c{i} {{ background: url('../img/i{i}.png'); }}\n"
        )
        write(folder / f"src/img/i{i}.png", b"\x89PNG" + bytes([i]) * 50)
    for i in range(6):  # a chain of imports: six rounds of rewriting
        write(folder / f"src/chain/c{i}.css", f'@import url("c{i + 1}.css");\n.c{i} {{}}\n')
    write(folder / "src/chain/c6.css", ".end { background: url('../img/i1.png'); }\n")
    write(folder / "src/same/a.js", "same();\n" * 100)
    write(folder / "src/same/b.js", "same();\n" * 100)
    return make_spec(folder, "sources: [src]\nstorage:\n  kind: manifest\n  compress: [gzip]\n")


def test_forked_writes_match_threaded_writes(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forked: None
) -> None:
    spec = _site(tmp_path / "forked")
    result = run_cli("-f", spec, "apply")
    assert result.exit_code == 0, result.output
    monkeypatch.setattr(parallel, "FORK_THRESHOLD", 10**9)
    monkeypatch.setattr(manifest, "SCAN_FORK_THRESHOLD", 10**9)
    threaded = _site(tmp_path / "threaded")
    assert run_cli("-f", threaded, "apply").exit_code == 0
    assert tree(spec.parent / "out") == tree(threaded.parent / "out")
    # The workers' records are true: nothing is left to do, nothing is re-read.
    again = run_cli("-f", spec, "apply")
    assert "0 static files copied" in again.output
    assert '"actions": []' in run_cli("-f", spec, "plan", "--json").stdout
    # ... and an output someone edited is seen (its stat no longer matches its record).
    write(spec.parent / "out/img/i3.png", b"edited")
    actions = json.loads(run_cli("-f", spec, "plan", "--json").stdout)["actions"]
    paths = {a["path"] for a in actions} - {"img/i3.png"}  # and its hashed copy: one inode
    assert len(actions) == 2 and len(paths) == 1 and paths.pop().startswith("img/i3.")


def test_scans_in_workers_read_each_file_once_and_fail_as_in_process(
    run_cli: RunCli, tmp_path: Path, forked: None
) -> None:
    from staticbuild.api import Builder, load_project

    spec = _site(tmp_path)
    builder = Builder(load_project(spec))
    builder.apply()
    adjustable = len([*(tmp_path / "src").rglob("*.css"), *(tmp_path / "src").rglob("*.js")])
    assert builder.work.manifest_read == adjustable  # once each, though read in the workers
    write(tmp_path / "src/d0/bad.css", b"body { color: \xff }")
    failed = run_cli("-f", spec, "apply")
    assert failed.exit_code == 1
    assert failed.stderr.startswith("Error: d0/bad.css: cannot rewrite references, 'utf-8'")


def test_a_failure_in_a_worker_is_reported_like_any_other(tmp_path: Path, forked: None) -> None:
    from staticbuild.api import Builder, load_project
    from staticbuild.errors import ApplyError

    write(tmp_path / "src/a.css", "a")
    write(tmp_path / "src/b.css", "b")
    builder = Builder(load_project(make_spec(tmp_path, "sources: [src]\n")))
    plan = builder.plan()
    (tmp_path / "src/b.css").unlink()
    with pytest.raises(ApplyError, match="b.css"):
        builder.apply(plan)
    assert tree(tmp_path / "out") == {"a.css": b"a"}


def test_results_come_back_in_order_with_progress(forked: None) -> None:
    ticks: list[int] = []
    out = map_forked(
        lambda n: (n, os.getpid()), range(1000), tuple[int, int], progress=ticks.append
    )
    assert [n for n, _ in out] == list(range(1000))  # type: ignore[misc]
    assert {pid for _, pid in out} - {os.getpid()}  # type: ignore[misc]
    assert os.getpid() not in {pid for _, pid in out}  # type: ignore[misc]
    assert sum(ticks) == 1000


def test_thousands_of_chunks_are_handed_out_as_the_workers_take_them(forked: None) -> None:
    out = map_forked(lambda n: n * 2, range(30_000), int, chunk=1)  # 8,192 chunks of 3-4
    assert out == [n * 2 for n in range(30_000)]


def test_a_worker_killed_midway_leaves_its_items_unanswered(forked: None) -> None:
    def fn(n: int) -> int:
        if n == 500:
            os.kill(os.getpid(), signal.SIGKILL)
        return n

    out = map_forked(fn, range(1000), int, chunk=10)
    assert out[500:510] == [None] * 10  # the chunk it died in
    assert out[:500] + out[510:] == [*range(500), *range(510, 1000)]  # the other worker's


def test_workers_stop_when_their_parent_is_killed(tmp_path: Path) -> None:
    """A SIGKILLed apply's workers finish the chunk in hand and take no other (sending its
    results fails): nobody would record the files they write."""
    import subprocess
    import sys
    import time

    log = tmp_path / "done.log"
    script = f"""
import os, time
from staticbuild.parallel import map_forked
def fn(n):
    with open({str(log)!r}, "a") as f:
        f.write(f"{{n}}\\n")
    time.sleep(0.01)
    return n
map_forked(fn, range(2000), int, chunk=20)
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while (not log.exists() or len(log.read_text().split()) < 50) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    time.sleep(1.0)  # 100 items' worth: a worker that went on would show it
    first = len(log.read_text().split())
    time.sleep(1.0)
    assert len(log.read_text().split()) == first < 2000


def test_a_bug_in_a_worker_is_raised_here(forked: None) -> None:
    def fn(n: int) -> int:
        if n == 3:
            raise ZeroDivisionError("no such luck")
        return n

    with pytest.raises(RuntimeError, match="ZeroDivisionError: no such luck"):
        map_forked(fn, range(100), int)


def test_no_fork_while_another_thread_runs() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not can_fork()
    finally:
        stop.set()
        other.join()


def test_background_work_runs_in_a_child_and_comes_back(forked: None) -> None:
    with Background(lambda: [os.getpid(), 7], list[int]) as pending:
        pid, seven = pending.result()
    assert seven == 7 and pid != os.getpid()


def test_background_work_whose_child_died_is_done_here(forked: None) -> None:
    parent = os.getpid()

    def fn() -> int:
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return os.getpid()

    with Background(fn, int) as pending:
        assert pending.result() == parent


def test_background_work_that_fails_fails_here(forked: None) -> None:
    def fn() -> int:
        raise ZeroDivisionError("no such luck")

    with Background(fn, int) as pending, pytest.raises(ZeroDivisionError, match="no such luck"):
        pending.result()


def test_background_work_left_unread_is_stopped(forked: None) -> None:
    import time

    with Background(lambda: time.sleep(60) or 1, int) as pending:
        child = pending._pid
        assert child
    with pytest.raises(ChildProcessError):
        os.waitpid(child, os.WNOHANG)  # killed and reaped on leaving


def test_a_recorded_output_edited_or_removed_is_seen_by_the_forked_look(
    run_cli: RunCli, tmp_path: Path, forked: None
) -> None:
    for i in range(50):
        write(tmp_path / f"src/f{i}.txt", f"file {i}\n")
    spec = make_spec(tmp_path, "sources: [src]\n")
    assert run_cli("-f", spec, "apply").exit_code == 0
    assert "No changes. 50 files are up to date." in run_cli("-f", spec, "plan").output
    write(tmp_path / "out/f3.txt", "edited\n")
    (tmp_path / "out/f4.txt").unlink()
    lines = run_cli("-f", spec, "plan").output.splitlines()
    assert lines[:2] == [
        "~ update       f3.txt  (content changed, from src)",
        "+ copy         f4.txt  (from src)",
    ]


def test_digests_hashed_by_forked_copies_are_remembered(tmp_path: Path, forked: None) -> None:
    from staticbuild.api import Builder, load_project

    for i in range(40):
        write(tmp_path / f"src/d{i % 3}/f{i}.txt", f"file {i}\n")
    spec = make_spec(tmp_path, "sources: [src]\n")
    first = Builder(load_project(spec))
    first.apply()
    assert first.work.sources_hashed == 0  # hashed while copied, in the workers
    again = Builder(load_project(spec))
    assert again.plan().is_empty
    assert again.work.sources_hashed == 0  # the workers' digests were recorded
    for i in (3, 4):
        (tmp_path / f"out/d{i % 3}/f{i}.txt").unlink()
        write(tmp_path / f"out/d{i % 3}/f{i}.txt", f"file {i}\n")  # same bytes, new inode
    third = Builder(load_project(spec))
    assert third.plan().is_empty
    assert third.work.sources_hashed == 0  # compared by the recorded digest, not re-read
