"""Traversal attempts, first against the guard function, then over real HTTP.

A secret file sits beside the destination; no request may ever return it, whatever
encoding or trick the path uses. Symlinks may point into the allowed roots only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from staticbuild.api import Builder, load_project
from staticbuild.finders import IgnoreMatcher
from staticbuild.server import (
    normal_request_path,
    resolve_request_path,
    split_request_path,
    start_server,
)
from staticbuild.server.runner import DevServer
from tests.conftest import make_spec
from tests.server_fixtures import fetch, no_leaked_threads, write

SECRET = b"TOP-SECRET"


@pytest.fixture(autouse=True)
def _no_thread_leaks() -> Iterator[None]:
    with no_leaked_threads():
        yield


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """dest/ (served), assets/ (allowed link root), secret.txt and private/ (neither)."""
    dest, assets, private = tmp_path / "dest", tmp_path / "assets", tmp_path / "private"
    write(tmp_path / "secret.txt", SECRET)
    write(private / "key.pem", SECRET)
    write(assets / "css/site.css", b"site")
    write(assets / ".env", SECRET)  # in a source root, but never collected
    write(assets / "theme.scss", SECRET)  # excluded by the spec's ignore patterns
    write(assets / ".git/config", SECRET)
    write(dest / "css/base.css", b"base")
    write(dest / ".env", SECRET)  # put in the destination by hand: never served
    (dest / "linked.css").symlink_to(assets / "css/site.css")  # --link: allowed
    (dest / "linkdir").symlink_to(assets / "css", target_is_directory=True)
    (dest / "escape.txt").symlink_to(tmp_path / "secret.txt")  # not allowed
    (dest / "escdir").symlink_to(private, target_is_directory=True)
    (dest / "abs.txt").symlink_to("/etc/passwd")
    (dest / "loop").symlink_to(dest / "loop")
    (dest / "dangling.css").symlink_to(tmp_path / "nowhere.css")
    (dest / "env.txt").symlink_to(assets / ".env")  # hand-made links to ignored files
    (dest / "t.txt").symlink_to(assets / "theme.scss")
    (dest / "git").symlink_to(assets / ".git", target_is_directory=True)
    (dest / "assets").symlink_to(assets, target_is_directory=True)
    return {"root": tmp_path, "dest": dest, "assets": assets}


@pytest.fixture
def server(layout: dict[str, Path]) -> Iterator[DevServer]:
    server = start_server(
        layout["dest"],
        "/static/",
        [layout["assets"]],
        addr="127.0.0.1:0",
        insecure=True,
        ignore=["*.scss", ".*"],
    )
    try:
        yield server
    finally:
        server.close()


LONG = "a/" * 3000 + "x.css"
BAD_NAMES = [
    "../secret.txt",
    "css/../../secret.txt",
    "..",
    ".",
    "./css/base.css",
    "css/./base.css",
    "css//base.css",
    "/etc/passwd",
    "//etc/passwd",
    "..\\secret.txt",
    "css\\..\\..\\secret.txt",
    "C:/Windows/win.ini",
    "C:secret.txt",
    "css/base.css\x00.png",
    "\x00",
    "css/\x01base.css",
    "",
    "css/",
    LONG,
    "x" * 300 + ".css",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_guard_refuses(layout: dict[str, Path], name: str) -> None:
    assert split_request_path(name) is None
    assert resolve_request_path(layout["dest"], name, [layout["assets"]]) is None


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("css/base.css", "css/base.css"),
        ("./css/base.css", "css/base.css"),
        ("css/./base.css", "css/base.css"),
        ("css//base.css", "css/base.css"),
        ("css/../css/base.css", "css/base.css"),
        ("/etc/passwd", "etc/passwd"),  # below the destination, as Django's serve reads it
        ("//etc/passwd", "etc/passwd"),
        ("css/base.css/", "css/base.css"),
        ("..\\secret.txt", "..\\secret.txt"),  # a name to posix; the guard refuses it
        ("css/base.css\x00.png", "css/base.css\x00.png"),
        ("../secret.txt", None),
        ("css/../../secret.txt", None),
        ("css/../../dest/css/base.css", None),  # leaves, then comes back: still refused
        ("..", None),
        (".", None),
        ("", None),
        ("css/..", None),
    ],
)
def test_request_paths_are_normalised_as_django_serve_does(name: str, normal: str | None) -> None:
    assert normal_request_path(name) == normal


@pytest.mark.parametrize("name", ["escape.txt", "escdir/key.pem", "abs.txt"])
def test_guard_refuses_symlinks_out_of_the_allowed_roots(
    layout: dict[str, Path], name: str
) -> None:
    assert split_request_path(name) is not None  # the name is fine, the target is not
    assert resolve_request_path(layout["dest"], name, [layout["assets"]]) is None


@pytest.mark.parametrize(
    "name", ["env.txt", "t.txt", "git/config", "assets/.env", "assets/.git/config", "assets"]
)
def test_guard_refuses_links_to_what_apply_would_not_collect(
    layout: dict[str, Path], name: str
) -> None:
    """A source root holds more than the collection: ignored files are never served."""
    ignore = IgnoreMatcher(["*.scss", ".*"])
    assert resolve_request_path(layout["dest"], name, [layout["assets"]], ignore) is None
    assert resolve_request_path(layout["dest"], "assets/css/site.css", [layout["assets"]], ignore)


@pytest.mark.parametrize("name", [".env", ".git/config", "css/theme.scss", "css/base.css~"])
def test_guard_refuses_ignored_names_put_in_the_destination_itself(
    layout: dict[str, Path], name: str
) -> None:
    """apply never collects such a name, so one in the destination is someone else's (a
    stray .env, a .git checkout): it is not served, as which would not find it."""
    write(layout["dest"] / name, SECRET)
    ignore = IgnoreMatcher(["*.scss", ".*", "*~"])
    assert resolve_request_path(layout["dest"], name, [layout["assets"]], ignore) is None
    assert resolve_request_path(layout["dest"], "css/base.css", [layout["assets"]], ignore)


def test_guard_applies_the_default_ignore_patterns_when_given_none(
    layout: dict[str, Path],
) -> None:
    assert resolve_request_path(layout["dest"], "env.txt", [layout["assets"]]) is None
    assert resolve_request_path(layout["dest"], "t.txt", [layout["assets"]]) is not None


def test_guard_follows_symlinks_into_allowed_roots(layout: dict[str, Path]) -> None:
    dest, assets = layout["dest"], layout["assets"]
    assert resolve_request_path(dest, "linked.css", [assets]) == (assets / "css/site.css").resolve()
    assert resolve_request_path(dest, "linkdir/site.css", [assets]) is not None
    assert resolve_request_path(dest, "linked.css", []) is None  # not allowed without the root
    assert resolve_request_path(dest, "css/base.css") == (dest / "css/base.css").resolve()


def test_guard_keeps_literal_percent_names(layout: dict[str, Path]) -> None:
    """Decoding twice would turn %2e%2e into '..'; a literal name stays a name."""
    resolved = resolve_request_path(layout["dest"], "%2e%2e/secret.txt")
    assert resolved == (layout["dest"] / "%2e%2e/secret.txt").resolve()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("./\\%2eEfC:\x00a~")), max_size=40))
def test_guard_never_leaves_the_roots(tmp_path_factory: pytest.TempPathFactory, name: str) -> None:
    root = tmp_path_factory.mktemp("prop")
    dest = root / "dest"
    dest.mkdir(exist_ok=True)
    resolved = resolve_request_path(dest, name)
    assert resolved is None or resolved.is_relative_to(dest.resolve())
    normal = normal_request_path(name)  # what the app resolves
    resolved = None if normal is None else resolve_request_path(dest, normal)
    assert resolved is None or resolved.is_relative_to(dest.resolve())


TARGETS = [
    "/static/../secret.txt",
    "/static/css/../../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/.%2e/secret.txt",
    "/static/%2e%2e%2fsecret.txt",
    "/static/..%2fsecret.txt",
    "/static/..%2Fsecret.txt",
    "/static/css%2f..%2f..%2fsecret.txt",
    "/static/%252e%252e/secret.txt",
    "/static/..%5csecret.txt",
    "/static/..%5Csecret.txt",
    "/static/..\\secret.txt",
    "/static/css\\..\\..\\secret.txt",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    f"/static/{'%2e%2e/' * 20}etc/passwd",
    "/static/C:/secret.txt",
    "/static/C:%5csecret.txt",
    "/static/css/base.css%00.png",
    "/static/%00",
    "/static/..%00/secret.txt",
    "/static/%c0%ae%c0%ae/secret.txt",  # overlong UTF-8 dots
    "/static/%ff%fe",
    "/static/escape.txt",
    "/static/escdir/key.pem",
    "/static/abs.txt",
    "/static/loop",
    "/static/dangling.css",
    "/static/env.txt",
    "/static/t.txt",
    "/static/git/config",
    "/static/assets/.env",
    "/static/.env",
    "/static/css/../.env",
    "/static/assets/theme.scss",
    "/static/linkdir",
    "/static/" + LONG,
    "/static/" + "x" * 300 + ".css",
    "/secret.txt",
    "/static/../static/../secret.txt",
    "/static/linkdir/../escape.txt",
    "/static/css/./../../secret.txt",
    "/static/css//..//..//secret.txt",
    "/static/css/%2e%2e/%2e%2e/secret.txt",
    "/static/css/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/static/./escdir/./key.pem",
    "http://127.0.0.1/secret.txt",
    "http://127.0.0.1/static/../secret.txt",
]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_traversal_over_http_is_404(server: DevServer, target: str, method: str) -> None:
    reply = fetch(server.host, server.port, target, method)
    assert reply.status in (400, 404), (target, reply.status)
    assert SECRET not in reply.body
    assert b"root:" not in reply.body


@pytest.mark.parametrize(
    ("target", "body"),
    [
        ("/static/css/base.css", b"base"),
        ("/static/linked.css", b"site"),
        ("/static/linkdir/site.css", b"site"),
        ("/static/./linked.css", b"site"),
        ("/static/linkdir//site.css", b"site"),
        # Lexical, as Django's normpath is: "escdir/.." is the destination, not private/'s
        # parent, whatever escdir links to.
        ("/static/escdir/../css/base.css", b"base"),
    ],
)
def test_allowed_paths_over_http(server: DevServer, target: str, body: bytes) -> None:
    assert fetch(server.host, server.port, target).body == body


def test_links_apply_made_are_served_as_the_walk_named_them(tmp_path: Path) -> None:
    """With link: true apply links out/pub/x.css -> src/pub/x.css (src/pub -> .hidden) and
    out/y.css -> src/sub/y.css (collected from the root src/sub, ignored under src): the
    guard judges a link by its target as written, not by the path it resolves to."""
    src = tmp_path / "src"
    write(src / ".hidden/x.css", b"hidden")
    write(src / "sub/y.css", b"nested")
    (src / "pub").symlink_to(".hidden", target_is_directory=True)
    spec = make_spec(tmp_path, "sources: [src, src/sub]\nignore: ['sub/*']\nlink: true\n")
    project = load_project(spec)
    Builder(project).apply()
    out = tmp_path / "out"
    assert os.readlink(out / "pub/x.css") == str(src / "pub/x.css")
    (out / "h.css").symlink_to(src / ".hidden/x.css")  # the same file, by an ignored name
    server = start_server(
        out,
        "/static/",
        project.link_roots,
        addr="127.0.0.1:0",
        insecure=True,
        ignore=project.ignore_patterns,
    )
    try:
        for target, body in [("y.css", b"nested"), ("pub/x.css", b"hidden")]:
            reply = fetch(server.host, server.port, f"/static/{target}")
            assert (reply.status, reply.body) == (200, body)
        assert fetch(server.host, server.port, "/static/h.css").status == 404
    finally:
        server.close()


def test_destination_itself_may_be_a_symlink(tmp_path: Path) -> None:
    write(tmp_path / "real/a.txt", b"A")
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    assert resolve_request_path(tmp_path / "link", "a.txt") == (tmp_path / "real/a.txt").resolve()


def test_fifo_is_404_and_does_not_hang(server: DevServer, layout: dict[str, Path]) -> None:
    os.mkfifo(layout["dest"] / "pipe.css")
    assert fetch(server.host, server.port, "/static/pipe.css").status == 404


def test_unreadable_file_is_404_not_500(server: DevServer, layout: dict[str, Path]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads everything")
    target = write(layout["dest"] / "locked.css", b"x")
    target.chmod(0)
    assert fetch(server.host, server.port, "/static/locked.css").status == 404
