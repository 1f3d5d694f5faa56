"""Files someone else put in the destination, under ``staticbuild watch`` (a subprocess).

The first apply behaves as ``apply`` does: on a terminal it asks before it overwrites or
deletes them (``no`` stops it, exit 1, nothing changed), ``--no-input`` never asks, and
without a terminal on stdin it does not ask. Later re-applies ask no one: they print a
warning naming the file and overwrite it, as ``apply --no-input`` would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server_fixtures import wait_until, write

REPO = Path(__file__).resolve().parent.parent
QUESTION = "This will delete or overwrite 1 file(s) that staticbuild did not write"


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    """``out/f.txt`` is someone else's; the source ``a/f.txt`` collects to it."""
    write(tmp_path / "out/f.txt", "foreign")
    write(tmp_path / "a/f.txt", "mine")
    write(tmp_path / "a/g.txt", "g")
    return write(tmp_path / "staticbuild.yaml", "version: 1\ndestination: out\nsources: [a]\n")


@contextlib.contextmanager
def terminal(answer: str | None) -> Iterator[int]:
    """A pseudo-terminal for stdin, the ``answer`` already typed into it."""
    controller, tty = os.openpty()
    try:
        if answer is not None:
            os.write(controller, f"{answer}\n".encode())
        yield tty
    finally:
        os.close(controller)
        os.close(tty)


class Watch:
    """``staticbuild watch ARGS`` with the given stdin; output read once it has exited."""

    def __init__(self, spec: Path, stdin: int, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        command = [sys.executable, "-m", "staticbuild", "-f", str(spec), "watch", *args]
        self.proc = subprocess.Popen(
            command, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.out = self.err = ""

    def watching(self) -> bool:
        """Read stdout up to "Watching for changes" (True) or to its end (False)."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.out += line
            if line.startswith("Watching for changes"):
                return True
        return False

    def stop(self, signum: int | None = signal.SIGINT) -> int:
        if signum is not None and self.proc.poll() is None:
            self.proc.send_signal(signum)
        out, self.err = self.proc.communicate(timeout=20)
        self.out += out
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.mark.parametrize(("answer", "code"), [("n", 1), ("y", 0)])
def test_the_first_apply_asks_on_a_terminal(spec: Path, answer: str, code: int) -> None:
    out = spec.parent / "out"
    with terminal(answer) as tty:
        watch = Watch(spec, tty)
        try:
            assert watch.watching() is (code == 0), watch.out
            assert watch.stop() == code, watch.err
        finally:
            watch.kill()
    assert QUESTION in watch.err
    assert "  f.txt" in watch.err  # the file it named
    if code:
        assert "Error: watch cancelled; nothing was changed" in watch.err
        assert "Traceback" not in watch.err
        assert sorted(p.name for p in out.iterdir()) == ["f.txt"]
        assert (out / "f.txt").read_text() == "foreign"
    else:
        assert (out / "f.txt").read_text() == "mine"
        assert "did not write: f.txt" not in watch.err  # asked: no warning on top


@pytest.mark.parametrize(
    ("on_a_terminal", "flags"),
    [(True, ["--no-input"]), (True, ["--noinput"]), (False, [])],
    ids=["no-input", "noinput", "no-terminal"],
)
def test_it_does_not_ask_with_no_input_or_without_a_terminal(
    spec: Path, on_a_terminal: bool, flags: list[str]
) -> None:
    with contextlib.ExitStack() as stack:
        # On a terminal nothing is typed: a question would wait for ever.
        stdin = stack.enter_context(terminal(None)) if on_a_terminal else subprocess.DEVNULL
        watch = Watch(spec, stdin, *flags)
        try:
            assert watch.watching(), watch.out
            assert watch.stop() == 0, watch.err
        finally:
            watch.kill()
    assert "Are you sure" not in watch.err
    assert "Warning: overwriting 1 file that staticbuild did not write: f.txt" in watch.err
    assert (spec.parent / "out/f.txt").read_text() == "mine"


def test_a_re_apply_warns_and_overwrites_a_file_someone_else_put_there(spec: Path) -> None:
    """While watching there is no one to ask: the re-apply names the file and goes ahead,
    as ``apply --no-input`` does; the destination keeps matching the sources."""
    (spec.parent / "out/f.txt").unlink()
    out = spec.parent / "out"
    watch = Watch(spec, subprocess.DEVNULL)
    try:
        assert watch.watching(), watch.out
        write(out / "h.txt", "someone else's")
        write(spec.parent / "a/h.txt", "mine too")
        wait_until(lambda: (out / "h.txt").read_text() == "mine too")
        assert watch.stop() == 0, watch.err
    finally:
        watch.kill()
    assert watch.err.splitlines() == [
        "Warning: overwriting 1 file that staticbuild did not write: h.txt"
    ]
    assert "Re-applied 1 change in" in watch.out


def test_when_the_first_apply_fails_the_one_that_runs_asks(tmp_path: Path) -> None:
    """The first apply stops at a missing reference; the full apply that runs once the
    file is there is the one to ask, not to overwrite with a warning."""
    write(tmp_path / "out/f.txt", "foreign")
    write(tmp_path / "a/f.txt", "mine")
    write(tmp_path / "a/css/site.css", "body { background: url(x.png); }\n")
    spec = write(
        tmp_path / "staticbuild.yaml",
        "version: 1\ndestination: out\nsources: [a]\nstorage: {kind: manifest}\n",
    )
    with terminal("n") as tty:
        watch = Watch(spec, tty)
        try:
            assert watch.watching(), watch.out
            write(tmp_path / "a/css/x.png", "PNG")
            assert watch.proc.wait(timeout=20) == 1
            watch.stop(None)
        finally:
            watch.kill()
    assert "references 'css/x.png'" in watch.err
    assert QUESTION in watch.err
    assert "Error: watch cancelled" in watch.err
    assert (tmp_path / "out/f.txt").read_text() == "foreign"
