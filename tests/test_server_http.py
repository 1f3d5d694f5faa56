"""The development server over real HTTP on 127.0.0.1:0, in copy and link mode.

Link mode serves symlinks that point into a source root (``--link``), so every header
rule is checked through the symlink-following path as well (WhiteNoise runs every server
test in two modes; this is ours).
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import brotli
import pytest

from staticbuild.errors import ServeError, StaticbuildError
from staticbuild.server import DevServer, make_app, parse_addr, start_server
from tests.server_fixtures import Reply, fetch, no_leaked_threads, write

T0 = 1_700_000_000 * 10**9  # a fixed mtime (ns) so validators are predictable
CSS = b"body { color: red }\n"
JS = b"console.log('hello');\n" * 40
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
FILES: dict[str, bytes] = {
    "css/base.css": CSS,
    "css/base.0123456789ab.css": CSS,
    "js/app.js": JS,
    "js/app.js.gz": gzip.compress(JS, mtime=0),
    "js/app.js.br": brotli.compress(JS),
    "img/logo.png": PNG,
    "img/café menu.txt": "crème brûlée\n".encode(),
    "data/empty.txt": b"",
    "data/notes.unknownext": b"??",
}

MANIFEST = {"css/base.css": "css/base.0123456789ab.css"}


@pytest.fixture(autouse=True)
def _no_thread_leaks() -> Iterator[None]:
    with no_leaked_threads():
        yield


@dataclass
class Site:
    """A served destination; ``put`` writes where the mode keeps the bytes."""

    mode: str
    source: Path
    destination: Path
    server: DevServer

    def put(self, name: str, data: bytes, mtime_ns: int | None = None) -> None:
        if self.mode == "copy":
            write(self.destination / name, data, mtime_ns)
            return
        write(self.source / name, data, mtime_ns)
        link = self.destination / name
        if not link.is_symlink():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(self.source / name)

    def get(self, target: str, method: str = "GET", **headers: str) -> Reply:
        names = {key.replace("_", "-"): value for key, value in headers.items()}
        return fetch(self.server.host, self.server.port, target, method, names)


@pytest.fixture(params=["copy", "link"])
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    source, destination = tmp_path / "assets", tmp_path / "build" / "static"
    destination.mkdir(parents=True)
    server = start_server(
        destination,
        "/static/",
        [source],
        addr="127.0.0.1:0",
        insecure=True,
        manifest="staticfiles.json",
    )
    write(destination / "staticfiles.json", json.dumps({"paths": MANIFEST, "version": "1.1"}))
    site = Site(request.param, source, destination, server)
    for index, (name, data) in enumerate(FILES.items()):
        site.put(name, data, T0 + index)  # siblings come after their plain file
    try:
        yield site
    finally:
        server.close()


def test_get_sends_bytes_type_and_length(site: Site) -> None:
    reply = site.get("/static/css/base.css")
    assert reply.status == 200
    assert reply.body == CSS
    assert reply.header("Content-Type") == "text/css; charset=utf-8"
    assert reply.header("Content-Length") == str(len(CSS))
    assert reply.header("Accept-Ranges") == "bytes"


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("img/logo.png", "image/png"),
        ("js/app.js", "text/javascript; charset=utf-8"),
        ("data/notes.unknownext", "application/octet-stream"),
        ("data/empty.txt", "text/plain; charset=utf-8"),
    ],
)
def test_content_type_comes_from_the_media_table(site: Site, name: str, media_type: str) -> None:
    reply = site.get(f"/static/{name}")
    assert (reply.status, reply.header("Content-Type")) == (200, media_type)
    assert reply.body == FILES[name]


def test_non_ascii_and_space_names(site: Site) -> None:
    reply = site.get("/static/img/caf%C3%A9%20menu.txt")
    assert (reply.status, reply.body) == (200, FILES["img/café menu.txt"])


def test_query_string_is_ignored(site: Site) -> None:
    assert site.get("/static/css/base.css?v=3").body == CSS


def test_head_has_get_headers_and_no_body(site: Site) -> None:
    get, head = site.get("/static/js/app.js"), site.get("/static/js/app.js", "HEAD")
    assert head.status == 200 and head.body == b""
    for name in ("Content-Type", "Content-Length", "ETag", "Last-Modified", "Cache-Control"):
        assert head.header(name) == get.header(name)


@pytest.mark.parametrize("target", ["/static/missing.css", "/other/x", "/static/css/"])
def test_head_of_a_404_sends_no_body(site: Site, target: str) -> None:
    """Stray body bytes after a HEAD answer would be read as the next response."""
    with socket.create_connection((site.server.host, site.server.port), timeout=5) as sock:
        sock.sendall(f"HEAD {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        raw = b"".join(iter(lambda: sock.recv(65536), b""))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404 ")
    assert b"Content-Length: 10" in head  # what a GET would send, as HEAD must say
    assert body == b""


def test_other_methods_get_405(site: Site) -> None:
    reply = site.get("/static/css/base.css", "POST")
    assert reply.status == 405
    assert reply.header("Allow") == "GET, HEAD"


@pytest.mark.parametrize(
    "target",
    [
        "/static/css",
        "/static/css/",
        "/static/",
        "/static",
        "/static/missing.css",
        "/other/css/base.css",
        "/",
        "/static/css/./",
        "/static/css/../js",
        "/static/css/..",
        "/static/css/../missing.css",
    ],
)
def test_folders_and_missing_files_are_404(site: Site, target: str) -> None:
    reply = site.get(target)
    assert reply.status == 404
    assert reply.header("Content-Length") == str(len(reply.body))


@pytest.mark.parametrize(
    "target",
    [
        "/static/css/./base.css",
        "/static/css//base.css",
        "/static/./css/base.css",
        "/static//css/base.css",
        "/static/css/../css/base.css",
        "/static/js/../css/./base.css",
        "/static/css/%2e/base.css",  # decoded by the server first, as Django's runserver does
        "/static/css/%2e%2e/css/base.css",  # stays inside: no traversal
        "/static/css%2fbase.css",
        "/static/css/base.css/",  # normpath drops it, as in Django's serve
    ],
)
def test_dot_segments_and_doubled_slashes_are_served_as_django_serves_them(
    site: Site, target: str
) -> None:
    """Django's ``serve`` reads ``posixpath.normpath(path).lstrip('/')`` and serves that
    name directly (no redirect); so do we, headers and all."""
    for method in ("GET", "HEAD"):
        reply = site.get(target, method)
        assert reply.status == 200, (method, reply.status)
        assert reply.body == (CSS if method == "GET" else b"")
        assert reply.header("Content-Type") == "text/css; charset=utf-8"
        assert reply.header("Cache-Control") == "no-cache"
    assert site.get(target, "POST").status == 405


def test_a_normalised_name_keeps_its_hashed_and_precompressed_answers(site: Site) -> None:
    """What follows from the name (immutable caching, the .br/.gz siblings) follows from
    the normal name, not from the one as written."""
    hashed = site.get("/static/css/./base.0123456789ab.css")
    assert hashed.header("Cache-Control") == "public, max-age=31536000, immutable"
    reply = site.get("/static/js//app.js", accept_encoding="br")
    assert reply.status == 200
    assert reply.header("Content-Encoding") == "br"
    assert brotli.decompress(reply.body) == JS
    assert reply.header("Vary") == "Accept-Encoding"


@pytest.mark.parametrize(
    "target",
    ["/static/../build/static/css/base.css", "/static/css/../../static/css/base.css"],
)
def test_a_path_that_leaves_the_destination_is_404_even_if_it_comes_back(
    site: Site, target: str
) -> None:
    """Normalised, these still start with "..": Django's safe_join refuses them, and so
    do we, whatever they would come back to."""
    assert site.get(target).status == 404


# --- validators and 304 ----------------------------------------------------------------


def test_validators_are_sent(site: Site) -> None:
    reply = site.get("/static/css/base.css")
    etag = reply.header("ETag")
    assert etag is not None and etag.startswith('"') and etag.endswith('"')
    assert reply.header("Last-Modified") == formatdate(T0 / 1e9, usegmt=True)


@pytest.mark.parametrize("form", ["{}", "W/{}", '"other", {}', "*"])
def test_if_none_match_gives_304(site: Site, form: str) -> None:
    etag = site.get("/static/css/base.css").header("ETag")
    reply = site.get("/static/css/base.css", If_None_Match=form.format(etag))
    assert (reply.status, reply.body) == (304, b"")
    assert reply.header("ETag") == etag
    assert reply.header("Cache-Control") == "no-cache"


def test_if_none_match_other_etag_gives_200(site: Site) -> None:
    reply = site.get("/static/css/base.css", If_None_Match='"nope"')
    assert (reply.status, reply.body) == (200, CSS)


def test_if_modified_since(site: Site) -> None:
    last_modified = site.get("/static/css/base.css").header("Last-Modified")
    assert last_modified is not None
    assert site.get("/static/css/base.css", If_Modified_Since=last_modified).status == 304
    older = formatdate(T0 / 1e9 - 3600, usegmt=True)
    assert site.get("/static/css/base.css", If_Modified_Since=older).status == 200
    assert site.get("/static/css/base.css", If_Modified_Since="garbage").status == 200


def test_if_none_match_wins_over_if_modified_since(site: Site) -> None:
    future = formatdate(T0 / 1e9 + 3600, usegmt=True)
    reply = site.get("/static/css/base.css", If_None_Match='"nope"', If_Modified_Since=future)
    assert reply.status == 200


def test_same_size_rewrite_within_a_second_changes_the_etag(site: Site) -> None:
    """The watcher may rewrite a file twice in one second; a seconds ETag would go stale."""
    site.put("css/base.css", b"AAAA", T0 + 10)
    first = site.get("/static/css/base.css")
    site.put("css/base.css", b"BBBB", T0 + 20)
    again = site.get("/static/css/base.css", If_None_Match=first.header("ETag") or "")
    assert (again.status, again.body) == (200, b"BBBB")


# --- cache control ---------------------------------------------------------------------


def test_plain_names_revalidate_and_hashed_names_are_immutable(site: Site) -> None:
    assert site.get("/static/css/base.css").header("Cache-Control") == "no-cache"
    hashed = site.get("/static/css/base.0123456789ab.css").header("Cache-Control")
    assert hashed == "public, max-age=31536000, immutable"


def test_only_names_in_the_manifest_are_immutable(site: Site) -> None:
    """A date or a build number in a name promises nothing; the manifest does."""
    site.put("js/build.202611271200.js", JS)
    assert site.get("/static/js/build.202611271200.js").header("Cache-Control") == "no-cache"
    site.put("css/base.0123456789ab.css.gz", gzip.compress(CSS, mtime=0))
    sibling = site.get("/static/css/base.0123456789ab.css.gz").header("Cache-Control")
    assert sibling == "public, max-age=31536000, immutable"
    manifest = {"js/build.js": "js/build.202611271200.js"}
    write(site.destination / "staticfiles.json", json.dumps({"paths": manifest}), T0 + 999)
    rehashed = site.get("/static/js/build.202611271200.js").header("Cache-Control")
    assert rehashed == "public, max-age=31536000, immutable"  # a new manifest is seen at once
    assert site.get("/static/css/base.0123456789ab.css").header("Cache-Control") == "no-cache"


def test_a_hashed_name_ending_in_gz_is_immutable(site: Site) -> None:
    """A source data.json.gz is hashed to data.json.0123456789ab.gz: a name of its own in
    the manifest, not the sibling of one."""
    data = gzip.compress(b'{"a": 1}', mtime=0)
    site.put("data.json.0123456789ab.gz", data)
    manifest = {**MANIFEST, "data.json.gz": "data.json.0123456789ab.gz"}
    write(site.destination / "staticfiles.json", json.dumps({"paths": manifest}), T0 + 999)
    reply = site.get("/static/data.json.0123456789ab.gz")
    assert (reply.status, reply.body) == (200, data)
    assert reply.header("Cache-Control") == "public, max-age=31536000, immutable"


def test_without_a_manifest_nothing_is_immutable(tmp_path: Path) -> None:
    """Filesystem storage: names are as they are, however hashed they look."""
    write(tmp_path / "base.0123456789ab.css", CSS)
    with start_server(tmp_path, "/static/", [], addr="127.0.0.1:0", debug=True) as server:
        reply = fetch(server.host, server.port, "/static/base.0123456789ab.css")
    assert (reply.status, reply.header("Cache-Control")) == (200, "no-cache")


def test_almost_hashed_names_are_not_immutable(site: Site) -> None:
    site.put("css/base.0123456789a.css", CSS)  # 11 hex digits: not Django's hashed name
    reply = site.get("/static/css/base.0123456789a.css")
    assert reply.header("Cache-Control") == "no-cache"


# --- ranges ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [("bytes=0-0", 0, 0), ("bytes=2-", 2, 19), ("bytes=-3", 17, 19), ("bytes=5-999", 5, 19)],
)
def test_single_range_gives_206(site: Site, spec: str, first: int, last: int) -> None:
    reply = site.get("/static/css/base.css", Range=spec)
    assert reply.status == 206
    assert reply.body == CSS[first : last + 1]
    assert reply.header("Content-Range") == f"bytes {first}-{last}/{len(CSS)}"
    assert reply.header("Content-Length") == str(last - first + 1)


@pytest.mark.parametrize(
    ("name", "spec"),
    [("css/base.css", "bytes=20-"), ("css/base.css", "bytes=-0"), ("data/empty.txt", "bytes=0-")],
)
def test_unsatisfiable_range_gives_416(site: Site, name: str, spec: str) -> None:
    reply = site.get(f"/static/{name}", Range=spec)
    assert reply.status == 416
    assert reply.header("Content-Range") == f"bytes */{len(FILES[name])}"


@pytest.mark.parametrize(
    "spec", ["bytes=0-1,4-5", "bytes=5-2", "items=0-1", "bytes=x-y", "bytes=-"]
)
def test_multiple_or_invalid_ranges_are_ignored(site: Site, spec: str) -> None:
    reply = site.get("/static/css/base.css", Range=spec)
    assert (reply.status, reply.body) == (200, CSS)


def test_if_range(site: Site) -> None:
    etag = site.get("/static/css/base.css").header("ETag") or ""
    assert site.get("/static/css/base.css", Range="bytes=0-1", If_Range=etag).status == 206
    stale = site.get("/static/css/base.css", Range="bytes=0-1", If_Range='"old"')
    assert (stale.status, stale.body) == (200, CSS)


def test_head_ignores_range(site: Site) -> None:
    reply = site.get("/static/css/base.css", "HEAD", Range="bytes=0-1")
    assert reply.status == 200 and reply.header("Content-Length") == str(len(CSS))


# --- precompressed siblings -----------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "coding", "sibling"),
    [
        ("gzip, deflate, br", "br", "js/app.js.br"),
        ("gzip", "gzip", "js/app.js.gz"),
        ("br;q=0, gzip", "gzip", "js/app.js.gz"),
        ("*", "br", "js/app.js.br"),
        ("identity", None, "js/app.js"),
        ("gzip;q=0", None, "js/app.js"),
    ],
)
def test_precompressed_sibling_by_accept_encoding(
    site: Site, accept: str, coding: str | None, sibling: str
) -> None:
    reply = site.get("/static/js/app.js", Accept_Encoding=accept)
    assert reply.status == 200
    assert reply.header("Content-Encoding") == coding
    assert reply.body == FILES[sibling]
    assert reply.header("Content-Length") == str(len(FILES[sibling]))
    assert reply.header("Content-Type") == "text/javascript; charset=utf-8"
    assert reply.header("Vary") == "Accept-Encoding"


def test_no_accept_encoding_gives_identity_with_vary(site: Site) -> None:
    reply = site.get("/static/js/app.js")
    assert (reply.body, reply.header("Content-Encoding")) == (JS, None)
    assert reply.header("Vary") == "Accept-Encoding"


def test_files_without_siblings_have_no_vary(site: Site) -> None:
    assert site.get("/static/css/base.css", Accept_Encoding="gzip, br").header("Vary") is None


def test_each_coding_has_its_own_etag(site: Site) -> None:
    tags = {
        site.get("/static/js/app.js", Accept_Encoding=a).header("ETag") for a in ("br", "gzip", "")
    }
    assert len(tags) == 3


def test_stale_sibling_is_not_served(site: Site) -> None:
    """Mid re-apply the plain file is newer than its .br: serve the plain bytes."""
    site.put("js/app.js", b"new();\n", T0 + 100)
    reply = site.get("/static/js/app.js", Accept_Encoding="gzip, br")
    assert (reply.body, reply.header("Content-Encoding")) == (b"new();\n", None)


def test_sibling_older_than_its_plain_file_is_served(site: Site) -> None:
    """apply writes app.js.br just before app.js: the .br is older, and still current."""
    site.put("js/app.js", JS, T0 + 100)
    reply = site.get("/static/js/app.js", Accept_Encoding="gzip, br")
    assert (reply.header("Content-Encoding"), reply.body) == ("br", FILES["js/app.js.br"])
    assert reply.header("Vary") == "Accept-Encoding"


def test_sibling_of_other_content_is_not_served_whatever_its_age(site: Site) -> None:
    """A hand edit of app.js that keeps it older than its siblings: they are stale."""
    site.put("js/app.js", b"edited();\n", T0 - 100)
    reply = site.get("/static/js/app.js", Accept_Encoding="gzip, br")
    assert (reply.body, reply.header("Content-Encoding")) == (b"edited();\n", None)
    assert reply.header("Vary") is None


@pytest.mark.parametrize(
    "sibling", [b"", b"not compressed", brotli.compress(JS)[:-5], brotli.compress(JS + b"x")]
)
def test_broken_or_truncated_siblings_are_not_served(site: Site, sibling: bytes) -> None:
    site.put("js/app.js.br", sibling, T0 + 100)
    reply = site.get("/static/js/app.js", Accept_Encoding="br")
    assert (reply.body, reply.header("Content-Encoding")) == (JS, None)


def test_what_apply_compressed_is_served_for_plain_and_hashed_names(tmp_path: Path) -> None:
    """The real core with manifest storage and hard links (the default)."""
    api = pytest.importorskip("staticbuild.api")
    write(tmp_path / "assets/app.js", b"var a=1;\n" * 300)
    spec = tmp_path / "staticbuild.yaml"
    spec.write_text(
        "version: 1\ndestination: out\nsources: [assets]\n"
        "storage: {kind: manifest, compress: [gzip, br]}\n"
    )
    project = api.load_project(spec)
    builder = api.Builder(project)
    builder.apply(builder.plan())
    hashed = json.loads((tmp_path / "out/staticfiles.json").read_text())["paths"]["app.js"]
    with start_server(tmp_path / "out", "/static/", [], addr="127.0.0.1:0", debug=True) as server:
        for name in ("app.js", hashed):
            reply = fetch(
                server.host, server.port, f"/static/{name}", "GET", {"Accept-Encoding": "gzip, br"}
            )
            assert reply.header("Content-Encoding") == "br", name
            assert reply.header("Vary") == "Accept-Encoding"
            assert brotli.decompress(reply.body) == b"var a=1;\n" * 300


def test_range_requests_get_identity(site: Site) -> None:
    reply = site.get("/static/js/app.js", Accept_Encoding="br", Range="bytes=0-6")
    assert (reply.status, reply.body, reply.header("Content-Encoding")) == (206, JS[:7], None)


def test_sibling_served_directly_is_a_plain_file(site: Site) -> None:
    reply = site.get("/static/js/app.js.gz")
    assert reply.body == FILES["js/app.js.gz"] and reply.header("Content-Encoding") is None


# --- changes while serving ---------------------------------------------------------------


def test_files_appear_change_and_disappear_while_serving(site: Site) -> None:
    assert site.get("/static/css/new.css").status == 404
    site.put("css/new.css", b"a{}")
    assert site.get("/static/css/new.css").body == b"a{}"
    site.put("css/new.css", b"b{}")
    assert site.get("/static/css/new.css").body == b"b{}"
    (site.destination / "css/new.css").unlink()
    assert site.get("/static/css/new.css").status == 404


# --- the app as a library, and the server's life cycle ----------------------------------


def test_app_mounts_below_a_script_name_and_falls_back(tmp_path: Path) -> None:
    write(tmp_path / "dest/a.txt", b"A")

    def project(environ: dict[str, object], start_response: object) -> list[bytes]:
        assert callable(start_response)
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "7")])
        return [b"project"]

    static = make_app(tmp_path / "dest", "/static/", fallback=project)

    def mounted(environ: dict[str, object], start_response: object) -> object:
        path = str(environ.get("PATH_INFO", ""))
        if path.startswith("/static/"):  # what werkzeug's DispatcherMiddleware does
            environ = {**environ, "SCRIPT_NAME": "/static", "PATH_INFO": path[len("/static") :]}
        return static(environ, start_response)  # type: ignore[arg-type]

    with DevServer(mounted, "127.0.0.1", 0) as server:  # type: ignore[arg-type]
        assert fetch(server.host, server.port, "/static/a.txt").body == b"A"
        assert fetch(server.host, server.port, "/admin/").body == b"project"
        assert server.url == f"http://127.0.0.1:{server.port}/"


def test_absolute_url_serves_its_path(tmp_path: Path) -> None:
    write(tmp_path / "dest/a.txt", b"A")
    dest = tmp_path / "dest"
    with start_server(dest, "https://cdn.example/assets", [], addr="127.0.0.1:0", debug=True) as s:
        assert s.url == f"http://127.0.0.1:{s.port}/assets/"
        assert fetch(s.host, s.port, "/assets/a.txt").body == b"A"


def test_serving_needs_debug_or_insecure(tmp_path: Path) -> None:
    with pytest.raises(ServeError, match="--insecure") as info:
        start_server(tmp_path, "/static/", [], addr="127.0.0.1:0")
    assert isinstance(info.value, StaticbuildError) and info.value.exit_code == 1
    start_server(tmp_path, "/static/", [], addr="127.0.0.1:0", debug=True).close()


def test_address_in_use_is_a_serve_error(tmp_path: Path) -> None:
    first = start_server(tmp_path, "/static/", [], addr="127.0.0.1:0", insecure=True)
    try:
        with pytest.raises(ServeError, match="in use"):
            start_server(tmp_path, "/static/", [], addr=f"127.0.0.1:{first.port}", insecure=True)
    finally:
        first.close()


@pytest.mark.parametrize("addr", ["localhost", "127.0.0.1:99999", "host:port", ""])
def test_bad_addr_is_a_serve_error(tmp_path: Path, addr: str) -> None:
    with pytest.raises(ServeError, match="HOST:PORT"):
        start_server(tmp_path, "/static/", [], addr=addr, insecure=True)


@pytest.mark.parametrize(
    ("addr", "expected"),
    [
        ("127.0.0.1:8000", ("127.0.0.1", 8000)),
        (":9000", ("127.0.0.1", 9000)),
        ("8001", ("127.0.0.1", 8001)),
        ("[::1]:0", ("::1", 0)),
    ],
)
def test_parse_addr(addr: str, expected: tuple[str, int]) -> None:
    assert parse_addr(addr) == expected


def test_close_with_open_keepalive_connection_and_twice(tmp_path: Path) -> None:
    import http.client

    write(tmp_path / "a.txt", b"A")
    server = start_server(tmp_path, "/static/", [], addr="127.0.0.1:0", insecure=True)
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    conn.request("GET", "/static/a.txt")
    assert conn.getresponse().read() == b"A"  # the connection stays open (HTTP/1.1)
    started = time.monotonic()
    server.close()
    server.close()
    assert time.monotonic() - started < 5
    conn.close()
    assert not any(t.name == "staticbuild-serve" for t in threading.enumerate())


def test_close_during_a_stalled_download_is_prompt_and_quiet(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that stops reading leaves a worker waiting for buffer space; close ends it."""
    with (tmp_path / "big.bin").open("wb") as handle:
        handle.truncate(64 * 1024 * 1024)  # more than waitress buffers (16 MiB) + the kernel's
    server = start_server(tmp_path, "/static/", [], addr="127.0.0.1:0", insecure=True)
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 200 ")
        time.sleep(0.5)  # the worker fills the buffers and waits
        started = time.monotonic()
        server.close()
        assert time.monotonic() - started < 2
    assert "still running" not in caplog.text


def test_concurrent_requests(site: Site) -> None:
    results: list[bytes] = []

    def worker() -> None:
        for _ in range(10):
            results.append(site.get("/static/js/app.js").body)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [JS] * 60


def test_large_file_streams_completely(site: Site) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    site.put("big.bin", data)
    reply = site.get("/static/big.bin")
    assert reply.body == data
    tail = site.get("/static/big.bin", Range="bytes=-100")
    assert tail.body == data[-100:]


def test_a_prefix_the_ignore_patterns_match_is_still_served(tmp_path: Path) -> None:
    """Ignore patterns judge names below a source's prefix, as Django's finders do: files
    collected under prefix ``CVS`` or ``.well-known`` are served; a dotfile below them is
    not, nor one put in the destination by hand."""
    from click.testing import CliRunner

    from staticbuild.api import load_project
    from staticbuild.cli import cli
    from staticbuild.watch_serve import start_serving

    write(tmp_path / "lib/js/x.js", b"x")
    write(tmp_path / "lib/.hidden", b"secret")
    write(tmp_path / "wk/security.txt", b"contact")
    spec = tmp_path / "staticbuild.yaml"
    spec.write_text(
        "version: 1\ndestination: out\nsources:\n"
        "  - {path: lib, prefix: CVS}\n  - {path: wk, prefix: .well-known/sub}\n"
    )
    result = CliRunner().invoke(cli, ["-f", str(spec), "apply"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    write(tmp_path / "out/CVS/.env", b"secret")
    server = start_serving(load_project(spec), "127.0.0.1:0", insecure=True)
    try:
        for target, status in (
            ("/static/CVS/js/x.js", 200),
            ("/static/.well-known/sub/security.txt", 200),
            ("/static/CVS/.env", 404),
            ("/static/CVS/.hidden", 404),
        ):
            assert fetch(server.host, server.port, target).status == status, target
    finally:
        server.close()
