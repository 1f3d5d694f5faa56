"""The watch loop against real files in tmp_path: a fake core, a real observer and server.

Every wait is bounded (``wait_until``); every test must leave no thread behind.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from staticbuild.errors import ApplyError, ServeError
from staticbuild.watch import run_watch
from tests.server_fixtures import fetch, no_leaked_threads, wait_until, write
from tests.watch_fakes import FakeBuilder, FakeProject, load_fake_project

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_thread_leaks() -> Iterator[None]:
    with no_leaked_threads():
        yield


def write_spec(spec: Path, **data: object) -> Path:
    spec.write_text(json.dumps({"destination": "build/static", "sources": ["assets"], **data}))
    return spec


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    write(tmp_path / "assets/css/base.css", "body{}")
    write(tmp_path / "assets/js/app.js", "app()")
    return write_spec(tmp_path / "spec.json", debug=True)


class Daemon:
    """``run_watch`` in a thread, stopped through ``stop_event``; output captured."""

    def __init__(
        self,
        spec: Path,
        *,
        serve: bool = False,
        insecure: bool = False,
        loader: Callable[[], Any] | None = None,
        factory: Callable[[Any], Any] | None = None,
        verbosity: int = 1,
    ) -> None:
        self.spec = spec
        self.verbosity = verbosity
        self.loader = loader or (lambda: load_fake_project(self.spec))
        self.factory = factory or self._fake_factory
        self.out: list[str] = []
        self.err: list[str] = []
        self.builders: list[FakeBuilder] = []
        self.stop = threading.Event()
        self.code: int | None = None
        self.serve, self.insecure = serve, insecure
        self.thread = threading.Thread(target=self._run, name="test-watch")

    def _fake_factory(self, project: FakeProject) -> FakeBuilder:
        self.builders.append(FakeBuilder(project))
        return self.builders[-1]

    def _run(self) -> None:
        self.code = run_watch(
            self.loader,
            self.factory,
            serve=self.serve,
            insecure=self.insecure,
            addr="127.0.0.1:0",
            verbosity=self.verbosity,
            echo=self.out.append,
            err_echo=self.err.append,
            stop_event=self.stop,
        )

    def __enter__(self) -> Daemon:
        self.thread.start()
        self.wait_out("Watching for changes")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "run_watch did not stop"
        assert self.code == 0

    def wait_out(self, text: str, stream: str = "out") -> str:
        lines = self.out if stream == "out" else self.err
        wait_until(lambda: any(text in line for line in lines))
        return next(line for line in lines if text in line)

    @property
    def plans(self) -> list[frozenset[Path] | None]:
        return [plan for builder in self.builders for plan in builder.plans]

    @property
    def address(self) -> tuple[str, int]:
        line = self.wait_out("Serving static files at ")
        match = re.search(r"http://([\d.]+):(\d+)/static/$", line)
        assert match, line
        return match.group(1), int(match.group(2))

    def get(self, name: str) -> tuple[int, bytes]:
        reply = fetch(*self.address, f"/static/{name}")
        return reply.status, reply.body


def test_applies_once_then_reapplies_a_modified_file(spec: Path) -> None:
    dest = spec.parent / "build/static"
    with Daemon(spec) as daemon:
        assert (dest / "css/base.css").read_text() == "body{}"
        assert daemon.out[0] == f"2 static files copied to '{dest}'."
        write(spec.parent / "assets/css/base.css", "body{color:red}")
        line = daemon.wait_out("Re-applied")
        assert re.fullmatch(r"Re-applied 1 change in \d+ ms: css/base\.css", line)
        assert (dest / "css/base.css").read_text() == "body{color:red}"
        assert daemon.plans[0] is None  # the first plan is a full scan
        assert all(plan is not None for plan in daemon.plans[1:])  # the rest incremental
        assert spec.parent / "assets/css/base.css" in set().union(*daemon.plans[1:])


def test_create_delete_and_move(spec: Path) -> None:
    assets, dest = spec.parent / "assets", spec.parent / "build/static"
    with Daemon(spec):
        write(assets / "img/new file é.txt", "x")
        wait_until(lambda: (dest / "img/new file é.txt").exists())
        (assets / "js/app.js").unlink()
        wait_until(lambda: not (dest / "js/app.js").exists())
        os.replace(assets / "css/base.css", assets / "css/moved.css")
        wait_until(
            lambda: (dest / "css/moved.css").exists() and not (dest / "css/base.css").exists()
        )


def test_editor_save_by_temp_file_and_rename(spec: Path) -> None:
    write_spec(spec, debug=True, ignore=[".*", "*~"])
    css, dest = spec.parent / "assets/css", spec.parent / "build/static/css"
    with Daemon(spec) as daemon:
        write(css / "base.css~", "backup")
        write(css / ".base.css.swp", "swap")
        write(css / "4913", "")
        (css / "4913").unlink()
        write(css / "base.css.tmp", "saved")
        os.replace(css / "base.css.tmp", css / "base.css")
        wait_until(lambda: (dest / "base.css").read_text() == "saved")
        seen = set().union(*(plan or set() for plan in daemon.plans))
        assert {p.name for p in seen} <= {"base.css", "base.css.tmp", "4913"}
        assert sorted(p.name for p in dest.iterdir()) == ["base.css"]


def test_a_temp_named_file_that_stays_is_collected_as_apply_would(spec: Path) -> None:
    assets, dest = spec.parent / "assets", spec.parent / "build/static"
    with Daemon(spec):
        write(assets / "worker.tmp", "w")
        write(assets / "js/4913", "")
        (assets / "js/4913").unlink()
        wait_until(lambda: (dest / "worker.tmp").exists())
        (assets / "worker.tmp").unlink()
        wait_until(lambda: not (dest / "worker.tmp").exists())
        assert not (dest / "js/4913").exists()


def test_own_writes_never_trigger_a_reapply(spec: Path) -> None:
    with Daemon(spec) as daemon:
        write(spec.parent / "build/static/extra.css", "written by someone")
        write(spec.parent / ".staticbuild/cache", "state")
        write(spec.parent / "notes.txt", "beside the spec")
        time.sleep(0.5)  # a negative: give the watcher time to (not) react
        assert daemon.plans == [None]


def test_serves_and_picks_up_changes(spec: Path) -> None:
    with Daemon(spec, serve=True) as daemon:
        assert daemon.get("css/base.css") == (200, b"body{}")
        write(spec.parent / "assets/css/base.css", "changed")
        wait_until(lambda: daemon.get("css/base.css") == (200, b"changed"))
        assert daemon.get("../spec.json")[0] == 404


def test_serving_is_refused_without_debug_or_insecure(tmp_path: Path) -> None:
    write(tmp_path / "assets/a.css", "a")
    spec = write_spec(tmp_path / "spec.json", debug=False)
    with pytest.raises(ServeError, match="--insecure"):
        run_watch(
            lambda: load_fake_project(spec),
            FakeBuilder,
            serve=True,
            insecure=False,
            addr="127.0.0.1:0",
            verbosity=1,
            echo=print,
        )
    assert not (tmp_path / "build").exists()  # refused before anything was applied
    with Daemon(spec, serve=True, insecure=True) as daemon:
        assert daemon.get("a.css") == (200, b"a")


def test_turning_debug_off_stops_serving_until_it_is_back_on(spec: Path) -> None:
    """Django's rule holds for the whole run: the port stays, requests get a 503."""
    with Daemon(spec, serve=True) as daemon:
        host, port = daemon.address
        assert daemon.get("css/base.css") == (200, b"body{}")
        write_spec(spec, debug=False)
        line = daemon.wait_out("Stopped serving static files", "err")
        assert line == (
            "Stopped serving static files (requests get 503): the spec has 'debug: false'; "
            "set 'debug: true' or restart with --insecure."
        )
        reply = fetch(host, port, "/static/css/base.css")
        assert reply.status == 503 and reply.header("Cache-Control") == "no-store"
        assert reply.body.decode().startswith("Not serving static files: the spec has 'debug")
        assert reply.body.count(b"\n") == 1
        write_spec(spec, debug=True)
        wait_until(lambda: sum("Serving static files at" in line for line in daemon.out) == 2)
        assert daemon.get("css/base.css") == (200, b"body{}")


def test_with_insecure_turning_debug_off_keeps_serving(spec: Path) -> None:
    with Daemon(spec, serve=True, insecure=True) as daemon:
        write_spec(spec, debug=False)
        daemon.wait_out("Reloaded")
        assert daemon.get("css/base.css") == (200, b"body{}")
        assert daemon.err == []


def test_busy_address_fails_before_the_first_apply(spec: Path) -> None:
    from staticbuild.server import start_server

    busy = start_server(spec.parent, "/", [], addr="127.0.0.1:0", insecure=True)
    with busy, pytest.raises(ServeError, match="in use"):
        run_watch(
            lambda: load_fake_project(spec),
            FakeBuilder,
            serve=True,
            insecure=False,
            addr=f"127.0.0.1:{busy.port}",
            verbosity=1,
            echo=print,
        )
    assert not (spec.parent / "build").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--serve", "--insecure", "--addr", "nonsense"], "not a HOST:PORT address"),
        (["--addr", "127.0.0.1:0"], "--addr is used only with --serve"),
    ],
)
def test_addr_mistakes_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    write(tmp_path / "assets/app.js", "app()")
    spec = write(tmp_path / "staticbuild.yaml", "version: 1\ndestination: out\nsources: [assets]\n")
    command = [sys.executable, "-m", "staticbuild", "-f", str(spec), "watch", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "out").exists()  # refused before the first apply


def test_bad_spec_keeps_the_last_good_state_and_a_good_one_reloads(spec: Path) -> None:
    write(spec.parent / "vendor/v.js", "vendor()")
    with Daemon(spec, serve=True) as daemon:
        spec.write_text("{ not json")
        daemon.wait_out("The spec is not valid", "err")
        assert daemon.get("css/base.css") == (200, b"body{}")
        write(spec.parent / "assets/css/base.css", "still watched")
        wait_until(lambda: daemon.get("css/base.css") == (200, b"still watched"))
        write_spec(spec, sources=["assets", "vendor"], debug=True)
        daemon.wait_out("Reloaded")
        assert daemon.get("v.js") == (200, b"vendor()")
        assert len(daemon.builders) == 2 and daemon.builders[1].plans[0] is None
        write(spec.parent / "vendor/w.js", "w()")  # the new root is watched
        wait_until(lambda: daemon.get("w.js") == (200, b"w()"))


def test_failed_reapply_keeps_serving_and_is_retried(spec: Path) -> None:
    base = spec.parent / "assets/css/base.css"
    with Daemon(spec, serve=True) as daemon:
        write(base, "FAIL")
        assert "cannot copy css/base.css" in daemon.wait_out("Error:", "err")
        assert daemon.get("css/base.css") == (200, b"body{}")
        write(spec.parent / "assets/other.css", "o")  # the next batch retries base.css too
        write(base, "fixed")
        wait_until(lambda: daemon.get("css/base.css") == (200, b"fixed"))
        assert daemon.get("other.css") == (200, b"o")


class Racing(FakeBuilder):
    """Its first re-apply finds a source still being written, as during a big cp -r."""

    raced = False

    def apply(self, plan: Any) -> Any:
        if self.plans[-1] is not None and not Racing.raced:
            Racing.raced = True
            write(self.project.watch_roots[0] / "css/base.css", "copied in full")
            raise ApplyError("source file 'css/base.css' changed during apply; run apply again")
        return super().apply(plan)


def test_a_change_in_progress_is_retried_quietly(spec: Path) -> None:
    Racing.raced = False
    with Daemon(spec, factory=Racing) as daemon:
        write(spec.parent / "assets/css/base.css", "half copied")
        daemon.wait_out("Re-applied")
        assert (spec.parent / "build/static/css/base.css").read_text() == "copied in full"
        assert Racing.raced and daemon.err == []


def test_a_failed_reapply_says_the_next_change_retries(spec: Path) -> None:
    with Daemon(spec) as daemon:
        write(spec.parent / "assets/css/base.css", "FAIL")
        assert daemon.wait_out("Error:", "err").endswith(
            "Still watching; the last good output is kept, and the next change retries."
        )


def test_a_root_that_appears_later_is_watched(spec: Path) -> None:
    write_spec(spec, sources=["assets", "late"], debug=True)
    dest = spec.parent / "build/static"
    with Daemon(spec):
        write(spec.parent / "late/x/y.js", "late")
        wait_until(lambda: (dest / "x/y.js").exists())
        write(spec.parent / "late/x/y.js", "later")
        wait_until(lambda: (dest / "x/y.js").read_text() == "later")


def test_a_root_that_is_a_symlink_is_watched_through_it(tmp_path: Path) -> None:
    """inotify does not follow a symlink given as the folder to watch: the real folder is
    watched, its events are named by the spec's paths, and a re-pointed root is rescanned."""
    write(tmp_path / "real/a.css", "a")
    write(tmp_path / "other/o.css", "o")
    root = tmp_path / "assets"
    root.symlink_to("real", target_is_directory=True)
    dest = tmp_path / "build/static"
    with Daemon(write_spec(tmp_path / "spec.json")) as daemon:
        write(root / "a.css", "a2")
        wait_until(lambda: (dest / "a.css").read_text() == "a2")
        write(tmp_path / "real/b.css", "b")
        wait_until(lambda: (dest / "b.css").exists())
        root.unlink()
        root.symlink_to("other", target_is_directory=True)
        wait_until(lambda: sorted(os.listdir(dest)) == ["o.css"])
        write(tmp_path / "other/o.css", "o2")
        wait_until(lambda: (dest / "o.css").read_text() == "o2")
    changed = set().union(*daemon.plans[1:])
    assert changed and all(path.is_relative_to(root) for path in changed)


@pytest.mark.parametrize("linked", ["its folder", "the file"])
def test_a_spec_reached_through_a_symlink_reloads(tmp_path: Path, linked: str) -> None:
    """The spec's folder is a symlink (``-f plink/spec.json``), or the spec is a symlink
    to a file elsewhere: an edit of the real file reloads it."""
    write(tmp_path / "proj/assets/a.css", "a")
    write(tmp_path / "proj/more/m.css", "m")
    (tmp_path / "proj/conf").mkdir()
    real = write_spec(tmp_path / "proj/conf/real.json")
    (tmp_path / "proj/spec.json").symlink_to("conf/real.json")
    (tmp_path / "plink").symlink_to("proj", target_is_directory=True)
    spec = tmp_path / ("plink" if linked == "its folder" else "proj") / "spec.json"
    with Daemon(spec) as daemon:
        write_spec(real, sources=["assets", "more"])
        daemon.wait_out("Reloaded")
        assert (spec.parent / "build/static/m.css").read_text() == "m"


def run_cli(spec: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cli = [sys.executable, "-m", "staticbuild", "-f", str(spec), *args]
    return subprocess.run(cli, capture_output=True, text=True, env=env, check=False)


@contextlib.contextmanager
def cli_watch(spec: Path) -> Iterator[list[str]]:
    """``staticbuild watch`` in a subprocess, stopped with SIGINT; yields a list that gets
    its stderr once it has exited with status 0."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cli = [sys.executable, "-m", "staticbuild", "-f", str(spec), "watch"]
    proc = subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    err: list[str] = []
    try:
        assert proc.stdout is not None
        assert "Watching for changes" in proc.stdout.readline() + proc.stdout.readline()
        yield err
        proc.send_signal(signal.SIGINT)
        err.append(proc.communicate(timeout=15)[1])
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0, err


@pytest.mark.parametrize(("args", "stopped"), [(["watch", "-v", "2"], True), (["watch"], False)])
def test_the_cli_takes_verbosity_after_watch(
    tmp_path: Path, args: list[str], stopped: bool
) -> None:
    """``watch -v 2`` as ``-v 2 watch``: "Stopped." is printed at verbosity 2 only."""
    write(tmp_path / "assets/a.js", "a")
    spec = tmp_path / "staticbuild.yaml"
    spec.write_text("version: 1\ndestination: out\nsources: [assets]\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cli = [sys.executable, "-m", "staticbuild", "-f", str(spec), *args]
    proc = subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        assert "Watching for changes" in proc.stdout.readline() + proc.stdout.readline()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0, err
    assert ("Stopped." in out) is stopped


def test_the_cli_waits_for_a_source_a_build_creates_later(tmp_path: Path) -> None:
    """SB-E010 for plan and apply; for watch a warning (Django's W004), and once the
    folder appears, its files are collected as a fresh apply would collect them."""
    write(tmp_path / "assets/a.js", "a")
    spec = tmp_path / "staticbuild.yaml"
    spec.write_text(
        "version: 1\ndestination: out\nsources:\n  - assets\n"
        "  - {path: vendor/dist, prefix: vendor}\n"
    )
    plan = run_cli(spec, "plan")
    assert plan.returncode == 1 and "SB-E010" in plan.stderr
    with cli_watch(spec) as err:
        write(tmp_path / "vendor/dist/lib/v.js", "v")
        wait_until(lambda: (tmp_path / "out/vendor/lib/v.js").exists())
    assert "SB-W010" in err[0] and "vendor/dist" in err[0] and "Traceback" not in err[0]
    plan = run_cli(spec, "plan")
    assert plan.returncode == 0 and plan.stdout.startswith("No changes."), plan.stdout


def test_a_folder_moved_out_and_back_in_warns_nothing(tmp_path: Path) -> None:
    """inotify keeps watching a folder moved out of a root; watchdog, asked to watch it
    again when it comes back, warns that its callback exists (it is replaced by itself)."""
    write(tmp_path / "fonts2/sub/f.woff", "f")
    spec = tmp_path / "staticbuild.yaml"
    spec.write_text("version: 1\ndestination: out\nsources: [src]\n")
    (tmp_path / "src").mkdir()
    inside, outside = tmp_path / "src/fonts2", tmp_path / "f3"
    collected = tmp_path / "out/fonts2/sub/f.woff"
    with cli_watch(spec) as err:
        os.replace(tmp_path / "fonts2", inside)
        wait_until(collected.exists)
        for _ in range(2):
            os.replace(inside, outside)
            wait_until(lambda: not collected.exists())
            os.replace(outside, inside)
            wait_until(collected.exists)
    assert err == [""]


def test_with_the_real_core(tmp_path: Path) -> None:
    """The same loop on staticbuild.api's real load_project and Builder."""
    api = pytest.importorskip("staticbuild.api")
    write(tmp_path / "assets/css/base.css", "a{}")
    spec = tmp_path / "staticbuild.yaml"
    good = "version: 1\ndestination: build/static\ndebug: true\nsources:\n  - assets\n"
    spec.write_text(good)
    loader = functools.partial(api.load_project, spec)
    with Daemon(spec, serve=True, loader=loader, factory=api.Builder) as daemon:
        assert daemon.get("css/base.css") == (200, b"a{}")
        write(tmp_path / "assets/css/base.css", "b{}")
        wait_until(lambda: daemon.get("css/base.css") == (200, b"b{}"))
        assert re.fullmatch(r"Re-applied 1 change in \d+ ms: css/base\.css", daemon.wait_out("Re-"))
        spec.write_text("version: 1\ndestination: [oops\n")
        daemon.wait_out("The spec is not valid", "err")
        write(tmp_path / "assets/js/new.js", "n()")
        wait_until(lambda: daemon.get("js/new.js") == (200, b"n()"))
        spec.write_text(good.replace("debug: true", "debug: true\nurl: /assets/"))
        daemon.wait_out("Reloaded")
        reply = fetch(*daemon.address, "/assets/js/new.js")
        assert (reply.status, reply.body) == (200, b"n()")


def test_a_full_apply_reports_conflicts_as_apply_does(tmp_path: Path) -> None:
    """The summary counts the shadowed files; at -v 2 each is named first, as collectstatic
    logs it (the CLI's builder: incremental)."""
    api = pytest.importorskip("staticbuild.api")
    write(tmp_path / "assets/css/base.css", "a{}")
    write(tmp_path / "app/static/css/base.css", "shadowed{}")
    spec = tmp_path / "staticbuild.yaml"
    spec.write_text("version: 1\ndestination: out\nsources: [assets]\napps: [{path: app}]\n")
    loader = functools.partial(api.load_project, spec)
    factory = functools.partial(api.Builder, incremental=True)
    with Daemon(spec, loader=loader, factory=factory, verbosity=2) as daemon:
        conflict, summary = daemon.out[:2]
    assert conflict.startswith("Found another file with the destination path 'css/base.css'.")
    assert summary == f"1 static file copied to '{tmp_path / 'out'}', 1 skipped due to conflict."


def test_manifest_storage_with_the_real_core(tmp_path: Path) -> None:
    """Hashed names of the manifest are immutable, and what apply compressed is served."""
    api = pytest.importorskip("staticbuild.api")
    write(tmp_path / "assets/app.js", "var a=1;\n" * 300)
    spec = tmp_path / "staticbuild.yaml"
    spec.write_text(
        "version: 1\ndestination: out\ndebug: true\nsources: [assets]\n"
        "storage: {kind: manifest, compress: [br]}\n"
    )
    loader = functools.partial(api.load_project, spec)
    with Daemon(spec, serve=True, loader=loader, factory=api.Builder) as daemon:
        hashed = json.loads((tmp_path / "out/staticfiles.json").read_text())["paths"]["app.js"]
        immutable = "public, max-age=31536000, immutable"
        for name, cache in [(hashed, immutable), ("app.js", "no-cache")]:
            reply = fetch(*daemon.address, f"/static/{name}", headers={"Accept-Encoding": "br"})
            assert reply.header("Cache-Control") == cache
            assert reply.header("Content-Encoding") == "br"


@pytest.mark.parametrize("link", [True, False])
def test_only_links_staticbuild_would_make_are_followed(tmp_path: Path, link: bool) -> None:
    """With link: true, its own links work and one to an ignored file is a 404; without
    link: true staticbuild makes no links, so none into a source is followed."""
    api = pytest.importorskip("staticbuild.api")
    write(tmp_path / "assets/app.css", "a{}")
    write(tmp_path / "assets/theme.scss", "$secret: 1;")
    write(tmp_path / "assets/.env", "SECRET=1")
    spec = tmp_path / "staticbuild.yaml"
    spec.write_text(
        f"version: 1\ndestination: out\ndebug: true\nsources: [assets]\n"
        f"ignore: ['*.scss']\nlink: {str(link).lower()}\n"
    )
    loader = functools.partial(api.load_project, spec)
    with Daemon(spec, serve=True, loader=loader, factory=api.Builder) as daemon:
        assert (tmp_path / "out/app.css").is_symlink() == link
        assert daemon.get("app.css") == (200, b"a{}")
        for name, target in [("t.txt", "theme.scss"), ("e.txt", ".env"), ("a.txt", "app.css")]:
            (tmp_path / "out" / name).symlink_to(tmp_path / "assets" / target)
        assert daemon.get("t.txt")[0] == 404
        assert daemon.get("e.txt")[0] == 404
        assert daemon.get("a.txt") == ((200, b"a{}") if link else (404, b"Not Found\n"))


def test_an_ignored_name_collected_through_a_link_is_watched(tmp_path: Path) -> None:
    """Ignore patterns match the names a file is found by (Django's get_files): apply
    collects pub/x.css through pub -> .hidden, so an edit of .hidden/x.css re-applies it."""
    api = pytest.importorskip("staticbuild.api")
    src = tmp_path / "src"
    write(src / ".hidden/x.css", "x")
    write(src / ".a.css", "dot")
    write(src / "theme.scss", "scss")
    write(src / "CVS/c.css", "cvs")
    for link, target in [("pub", ".hidden"), ("pub.css", ".a.css"), ("theme.css", "theme.scss")]:
        (src / link).symlink_to(target)
    (src / "cvs").symlink_to("CVS")
    spec = tmp_path / "staticbuild.yaml"
    spec.write_text("version: 1\ndestination: out\nsources: [src]\nignore: ['*.scss']\n")
    loader = functools.partial(api.load_project, spec)
    factory = functools.partial(api.Builder, incremental=True)

    def edited(name: str) -> bool:
        return (tmp_path / "out" / name).is_file() and (tmp_path / "out" / name).read_text() == "e"

    with Daemon(spec, loader=loader, factory=factory):
        for name in [".hidden/x.css", ".a.css", "theme.scss", "CVS/c.css", ".hidden/new.css"]:
            write(src / name, "e")
        for name in ["pub/x.css", "pub.css", "theme.css", "cvs/c.css", "pub/new.css"]:
            wait_until(functools.partial(edited, name))


SCRIPT = """
import sys, time
from pathlib import Path
from staticbuild.watch import run_watch
from tests.watch_fakes import FakeBuilder, load_fake_project

class Slow(FakeBuilder):
    def apply(self, plan):
        print("applying", flush=True)
        time.sleep(60)

spec = Path(sys.argv[1])
factory = Slow if sys.argv[2] == "slow" else FakeBuilder
code = run_watch(lambda: load_fake_project(spec), factory, serve=True, insecure=False,
                 addr="127.0.0.1:0", verbosity=2, echo=lambda m: print(m, flush=True))
print("exit", code, flush=True)
sys.exit(code)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("builder", ["fake", "slow"])
def test_sigint_and_sigterm_stop_cleanly(spec: Path, signum: int, builder: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(spec), builder],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        if builder == "fake":
            lines = [proc.stdout.readline() for _ in range(3)]
            assert lines[1].startswith("Serving static files at http://127.0.0.1:")
        else:  # signal inside the minute-long first apply
            assert proc.stdout.readline() == "applying\n"
        started = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=15)
        assert time.monotonic() - started < 10
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0, err
    assert out.rstrip().endswith("Stopped.\nexit 0")
    assert "Traceback" not in err
