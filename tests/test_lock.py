"""One writer per project: an apply (or a watcher) elsewhere is refused, never interleaved."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from staticbuild.api import Builder, load_project
from staticbuild.errors import StalePlanError
from tests.conftest import ROOT, RunCli, tree, write

HOLD = """
import sys
from pathlib import Path
from staticbuild.lock import project_lock
with project_lock(Path(sys.argv[1]), "apply"):
    print("held", flush=True)
    sys.stdin.read()
"""


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.fixture
def holder(demo: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the demo project's lock, as an apply would."""
    proc = _child("-c", HOLD, str(demo.parent / ".staticbuild"))
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    yield proc
    _stop(proc)


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def test_an_apply_is_refused_while_another_holds_the_lock_and_changes_nothing(
    demo: Path, holder: subprocess.Popen[str], run_cli: RunCli
) -> None:
    result = run_cli("-f", demo, "apply", "--no-input")
    assert result.exit_code == 1
    lock = demo.parent / ".staticbuild" / "lock"
    assert result.output.strip() == (
        f"Error: another staticbuild process (pid {holder.pid}, staticbuild apply) is "
        f"applying this project; wait for it to finish or stop it (lock: {lock})"
    )
    assert not (demo.parent / "build").exists()
    assert holder.stdin is not None
    holder.stdin.close()  # the holder finishes: the next apply goes ahead
    holder.wait(timeout=10)
    assert run_cli("-f", demo, "apply", "--no-input").exit_code == 0
    assert (demo.parent / "build/static/css/base.css").is_file()


def test_a_killed_holder_leaves_no_stale_lock(
    demo: Path, holder: subprocess.Popen[str], run_cli: RunCli
) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert (demo.parent / ".staticbuild" / "lock").exists()  # the file stays, unlocked
    assert run_cli("-f", demo, "apply", "--no-input").exit_code == 0


FORK_AND_DIE = """
import os, sys, time
from pathlib import Path
from staticbuild.lock import project_lock
with project_lock(Path(sys.argv[1]), "apply"):
    if os.fork() == 0:  # a worker that outlives its parent, as after a SIGKILL
        time.sleep(30)
        os._exit(0)
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_killed_holder_s_workers_do_not_keep_the_lock(demo: Path, run_cli: RunCli) -> None:
    proc = _child("-c", FORK_AND_DIE, str(demo.parent / ".staticbuild"))
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "held\n"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert run_cli("-f", demo, "apply", "--no-input").exit_code == 0
    finally:
        _stop(proc)


def test_a_plan_made_before_another_process_applied_is_refused(demo: Path) -> None:
    """The second apply would save its record over the first's: it must plan again."""
    first = Builder(load_project(demo))
    first.apply()
    write(demo.parent / "examples/assets/css/base.css", "body { color: red }\n")
    stale = first.plan()
    other = Builder(load_project(demo))  # as another process would
    write(demo.parent / "examples/assets/js/app.js", "other();\n")
    other.apply()
    after_other = tree(demo.parent / "build")
    with pytest.raises(StalePlanError, match="another staticbuild process applied this project"):
        first.apply(stale)
    assert tree(demo.parent / "build") == after_other
    first.apply(first.plan())  # planned afresh from the record as the other left it
    assert Builder(load_project(demo)).plan().actions == ()


def test_a_long_lived_builder_plans_from_the_record_another_process_saved(demo: Path) -> None:
    first = Builder(load_project(demo))
    first.apply()
    write(demo.parent / "examples/assets/js/app.js", "other();\n")
    Builder(load_project(demo)).apply()  # another process
    assert first.plan().actions == ()  # it sees that apply's record, not its own old one
    write(demo.parent / "examples/assets/js/app.js", "mine();\n")
    result = first.apply(first.plan())
    assert result.copied == 1
    assert Builder(load_project(demo)).plan().actions == ()


def test_watch_holds_the_lock_for_its_whole_run(demo: Path, run_cli: RunCli) -> None:
    """``--clear`` makes the apply look at the destination for real: an apply that the
    last one's note proves empty changes nothing, and goes ahead without the lock."""
    watch = _child("-m", "staticbuild", "-f", str(demo), "watch")
    try:
        assert watch.stdout is not None
        while "Watching for changes" not in (line := watch.stdout.readline()):
            assert line, "watch ended before watching"
        assert run_cli("-f", demo, "apply", "--no-input").exit_code == 0  # proved: no lock
        assert run_cli("-f", demo, "plan", "--clear").exit_code == 0  # plans never lock
        result = run_cli("-f", demo, "apply", "--no-input", "--clear")
        assert result.exit_code == 1
        assert f"(pid {watch.pid}, staticbuild watch)" in result.output
        watch.send_signal(signal.SIGTERM)
        assert watch.wait(timeout=15) == 0
    finally:
        _stop(watch)
    assert run_cli("-f", demo, "apply", "--no-input", "--clear").exit_code == 0


def test_watch_is_refused_while_an_apply_holds_the_lock(
    demo: Path, holder: subprocess.Popen[str], run_cli: RunCli
) -> None:
    result = run_cli("-f", demo, "watch")
    assert result.exit_code == 1
    assert "another staticbuild process" in result.output
    assert not (demo.parent / "build").exists()
