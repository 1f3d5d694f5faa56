"""An ``s3://`` destination, against moto's S3 server on loopback (real HTTP, real boto3).

The reference for what the bucket should hold is staticbuild's own folder apply of the same
tree: the contract says plan, apply, idempotency, manifest and compression behave as for a
folder.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from moto.server import ThreadedMotoServer

from staticbuild.api import Builder, load_project
from staticbuild.errors import ApplyError
from tests.conftest import RunCli, make_spec, small_site, tree, write

COMPRESSED_MANIFEST = "storage: {kind: manifest, compress: [gzip, br]}\n"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Store:
    client: Any
    bucket: str
    endpoint: str

    def spec_lines(self, prefix: str) -> str:
        return (
            f"destination: s3://{self.bucket}/{prefix}\n"
            f"s3: {{endpoint_url: '{self.endpoint}', region: us-east-1}}\n"
        )

    def objects(self, prefix: str = "site/") -> dict[str, dict[str, Any]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        )
        return {o["Key"][len(prefix) :]: o for page in pages for o in page.get("Contents", ())}

    def contents(self, prefix: str = "site/") -> dict[str, bytes]:
        """Every object but staticbuild's record, by destination path (as ``tree`` gives)."""
        return {
            path: self.get(prefix + path)
            for path in sorted(self.objects(prefix))
            if not path.startswith(".staticbuild/")
        }

    def get(self, key: str) -> bytes:
        data: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return data

    def etags(self) -> dict[str, str]:
        return {path: o["ETag"] for path, o in self.objects().items()}


@pytest.fixture
def store(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    bucket = f"sb-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return Store(client, bucket, endpoint)


def _site(
    folder: Path, store: Store, body: str = COMPRESSED_MANIFEST, prefix: str = "site"
) -> Path:
    """The small site, collected into the bucket under ``prefix``; returns its folder."""
    spec = small_site(folder, body)
    spec.write_text(spec.read_text().replace("destination: out\n", store.spec_lines(prefix)))
    return folder


def _folder_apply(run_cli: RunCli, folder: Path, body: str) -> dict[str, bytes]:
    """What a folder apply of the same tree writes: the reference for the bucket."""
    reference = folder.parent / (folder.name + "-as-folder")
    shutil.copytree(folder / "assets", reference / "assets")
    spec = make_spec(reference, "sources: [assets]\n" + body)
    assert run_cli("-f", spec, "apply", "--no-input").exit_code == 0
    return tree(reference / "out")


def test_a_bucket_gets_what_a_folder_gets_with_media_types(
    run_cli: RunCli, tmp_path: Path, store: Store
) -> None:
    site = _site(tmp_path / "site", store)
    planned = run_cli("-f", site / "staticbuild.yaml", "plan")
    assert planned.exit_code == 0 and "+ copy         css/site.css" in planned.output
    assert store.objects() == {}  # a plan changes nothing anywhere
    result = run_cli("-f", site / "staticbuild.yaml", "apply", "--no-input")
    assert result.exit_code == 0, result.output
    assert f"to 's3://{store.bucket}/site'" in result.output
    expected = _folder_apply(run_cli, tmp_path / "site", COMPRESSED_MANIFEST)
    assert store.contents() == expected
    assert "css/site.css.br" in expected and "staticfiles.json" in expected
    head = store.client.head_object
    css = head(Bucket=store.bucket, Key="site/css/site.css")
    assert css["ContentType"] == "text/css; charset=utf-8" and "ContentEncoding" not in css
    br = head(Bucket=store.bucket, Key="site/css/site.css.br")
    assert (br["ContentType"], br["ContentEncoding"]) == ("text/css; charset=utf-8", "br")
    assert head(Bucket=store.bucket, Key="site/img/dot.png")["ContentType"] == "image/png"
    # Hashed names never change content: cached for a year, as WhiteNoise serves them.
    manifest = json.loads(store.get("site/staticfiles.json"))["paths"]
    hashed_css = manifest["css/site.css"]
    for key in (hashed_css, hashed_css + ".br", manifest["img/dot.png"]):
        cache = head(Bucket=store.bucket, Key=f"site/{key}").get("CacheControl")
        assert cache == "public, max-age=31536000, immutable", key
    for key in ("css/site.css", "css/site.css.br", "staticfiles.json"):
        assert "CacheControl" not in head(Bucket=store.bucket, Key=f"site/{key}"), key


def test_a_second_apply_uploads_nothing(run_cli: RunCli, tmp_path: Path, store: Store) -> None:
    spec = _site(tmp_path / "site", store) / "staticbuild.yaml"
    assert run_cli("-f", spec, "apply", "--no-input").exit_code == 0
    before = store.etags()
    again = run_cli("-f", spec, "apply", "--no-input")
    assert again.output.startswith("0 static files copied"), again.output
    assert store.etags() == before
    planned = json.loads(run_cli("-f", spec, "plan", "--json").output)
    assert planned["actions"] == []


def test_a_fresh_machine_uploads_nothing_and_prunes_by_the_buckets_record(
    run_cli: RunCli, tmp_path: Path, store: Store
) -> None:
    """A CI job starts without ``.staticbuild/``: the record kept in the bucket says what
    each object is, so nothing is uploaded again and stale files are still ours to delete."""
    site = _site(tmp_path / "site", store)
    spec = site / "staticbuild.yaml"
    assert run_cli("-f", spec, "apply", "--no-input").exit_code == 0
    before = store.etags()
    shutil.rmtree(site / ".staticbuild")
    (site / "assets/js/app.js").unlink()
    planned = json.loads(run_cli("-f", spec, "plan", "--json").output)
    ops = {(a["op"], a["path"]) for a in planned["actions"]}
    assert ("delete", "js/app.js") in ops and ("post-process", "staticfiles.json") in ops
    assert not {op for op, path in ops if op in ("copy", "update")}
    assert run_cli("-f", spec, "apply", "--no-input").exit_code == 0
    assert store.contents() == _folder_apply(run_cli, site, COMPRESSED_MANIFEST)
    after = store.etags()
    rewritten = {p for p in after.keys() & before.keys() if after[p] != before[p]}
    assert rewritten == {"staticfiles.json"}  # and the record's journal is new


def test_an_edit_uploads_that_file_and_what_refers_to_it(
    run_cli: RunCli, tmp_path: Path, store: Store
) -> None:
    site = _site(tmp_path / "site", store)
    spec = site / "staticbuild.yaml"
    assert run_cli("-f", spec, "apply", "--no-input").exit_code == 0
    before = store.etags()
    write(site / "assets/img/dot.png", b"\x89PNG another dot")
    assert run_cli("-f", spec, "apply", "--no-input").exit_code == 0
    after = store.etags()
    changed = {p for p in after.keys() & before.keys() if after[p] != before[p]}
    added, removed = after.keys() - before.keys(), before.keys() - after.keys()
    assert changed == {"img/dot.png", "staticfiles.json"}
    added.remove(".staticbuild/journal.json")  # the record's changes
    # The new hashed names (image and the CSS that refers to it) came, the old ones went.
    assert {p.split("/")[0] for p in added | removed} == {"img", "css"}
    assert all(p.startswith(("img/dot.", "css/site.")) for p in added | removed)
    assert store.contents() == _folder_apply(run_cli, site, COMPRESSED_MANIFEST)


def test_foreign_objects_stay_unless_clear_and_a_changed_object_is_repaired(
    run_cli: RunCli, tmp_path: Path, store: Store
) -> None:
    spec = _site(tmp_path / "site", store, "") / "staticbuild.yaml"
    store.client.put_object(Bucket=store.bucket, Key="site/uploads/photo.jpg", Body=b"user's")
    assert run_cli("-f", spec, "apply", "--no-input").exit_code == 0
    store.client.put_object(Bucket=store.bucket, Key="site/js/app.js", Body=b"tampered")
    planned = json.loads(run_cli("-f", spec, "plan", "--json").output)
    assert [(a["op"], a["path"]) for a in planned["actions"]] == [("update", "js/app.js")]
    assert run_cli("-f", spec, "apply", "--no-input").exit_code == 0
    assert store.get("site/js/app.js") == (tmp_path / "site/assets/js/app.js").read_bytes()
    assert "uploads/photo.jpg" in store.objects()
    cleared = run_cli("-f", spec, "apply", "--clear", "--no-input")
    assert cleared.exit_code == 0, cleared.output
    left = set(store.objects())
    assert "uploads/photo.jpg" not in left and ".staticbuild/record.json" in left


def test_a_failed_apply_keeps_what_finished_and_the_next_one_repairs(
    run_cli: RunCli, tmp_path: Path, store: Store
) -> None:
    """A source that vanishes mid-apply: one clear error, the old stale objects are not
    deleted yet, and the next apply (another machine's, even) finishes the job."""
    site = _site(tmp_path / "site", store, "storage: {kind: manifest}\n")
    builder = Builder(load_project(site / "staticbuild.yaml"))
    plan = builder.plan()
    moved = (site / "assets/js/app.js").read_bytes()
    (site / "assets/js/app.js").unlink()
    with pytest.raises(ApplyError, match="app.js"):
        builder.apply(plan)
    objects = store.objects()
    assert "js/app.js" not in objects and "css/site.css" in objects
    assert "staticfiles.json" not in objects  # the manifest goes last: not before its files
    write(site / "assets/js/app.js", moved)
    shutil.rmtree(site / ".staticbuild")
    planned = json.loads(run_cli("-f", site / "staticbuild.yaml", "plan", "--json").output)
    assert {a["path"] for a in planned["actions"]} == {
        a.path for a in plan.actions if a.path.startswith("js/") or a.path == "staticfiles.json"
    }
    assert run_cli("-f", site / "staticbuild.yaml", "apply", "--no-input").exit_code == 0
    assert store.contents() == _folder_apply(run_cli, site, "storage: {kind: manifest}\n")


class _Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no handler sees it."""


def test_objects_of_a_killed_apply_are_known_as_ours(
    run_cli: RunCli, tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after its uploads, before its record is written again: the record written
    before the uploads names them, so the next apply deletes a file no longer wanted
    instead of leaving it behind as someone else's."""
    from staticbuild.bucket import Bucket

    site = _site(tmp_path / "site", store, "")
    spec = site / "staticbuild.yaml"
    assert run_cli("-f", spec, "apply", "--no-input").exit_code == 0
    write(site / "assets/js/extra.js", "extra();\n")
    real_save = Bucket.save_record

    def die(self: Bucket, *args: Any) -> None:  # the record after the uploads
        raise _Killed

    monkeypatch.setattr(Bucket, "save_record", die)
    with pytest.raises(_Killed):
        Builder(load_project(spec)).apply()
    monkeypatch.setattr(Bucket, "save_record", real_save)
    assert {"js/extra.js", ".staticbuild/journal.json"} <= set(store.objects())
    (site / "assets/js/extra.js").unlink()
    shutil.rmtree(site / ".staticbuild")
    planned = json.loads(run_cli("-f", spec, "plan", "--json").output)
    assert planned["actions"] == [{"op": "delete", "path": "js/extra.js", "reason": "stale"}]
    assert run_cli("-f", spec, "apply", "--no-input").exit_code == 0
    assert store.contents() == _folder_apply(run_cli, site, "")
    shutil.rmtree(site / ".staticbuild")
    assert json.loads(run_cli("-f", spec, "plan", "--json").output)["actions"] == []


def test_a_saved_plan_is_refused_when_the_bucket_changed(
    run_cli: RunCli, tmp_path: Path, store: Store
) -> None:
    spec = _site(tmp_path / "site", store, "") / "staticbuild.yaml"
    assert run_cli("-f", spec, "apply", "--no-input").exit_code == 0
    write(spec.parent / "assets/js/app.js", "changed();\n")
    assert run_cli("-f", spec, "plan", "--out", tmp_path / "plan.json").exit_code == 0
    store.client.put_object(Bucket=store.bucket, Key="site/js/app.js", Body=b"someone else")
    refused = run_cli("-f", spec, "apply", tmp_path / "plan.json", "--no-input")
    assert refused.exit_code == 1
    assert "destination file 'js/app.js'" in refused.output
    assert store.get("site/js/app.js") == b"someone else"


def test_a_bucket_with_no_prefix(run_cli: RunCli, tmp_path: Path, store: Store) -> None:
    spec = _site(tmp_path / "site", store, "", prefix="") / "staticbuild.yaml"
    assert "destination: s3://sb-" in spec.read_text()
    assert run_cli("-f", spec, "apply", "--no-input").exit_code == 0
    assert store.contents(prefix="") == _folder_apply(run_cli, tmp_path / "site", "")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("missing bucket", "bucket 'sb-no-such-bucket' does not exist"),
        ("no credentials", "no credentials for s3://"),
        ("--link", "--link cannot be used with the s3:// destination"),
    ],
)
def test_bucket_problems_are_one_clear_line(
    run_cli: RunCli,
    tmp_path: Path,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    change: str,
    message: str,
) -> None:
    spec = _site(tmp_path / "site", store, "") / "staticbuild.yaml"
    args = ["-f", spec, "apply", "--no-input"]
    if change == "missing bucket":
        spec.write_text(spec.read_text().replace(store.bucket, "sb-no-such-bucket"))
    elif change == "no credentials":
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            monkeypatch.delenv(name)
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    else:
        args.append("--link")
    result = run_cli(*args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert "Traceback" not in result.output
    assert not (spec.parent / ".staticbuild/state").exists() or change != "missing bucket"


def test_a_collected_file_may_not_take_the_records_place(
    run_cli: RunCli, tmp_path: Path, store: Store
) -> None:
    site = _site(tmp_path / "site", store, "default_ignore: false\n")
    write(site / "assets/.staticbuild/record.json", "{}")
    result = run_cli("-f", site / "staticbuild.yaml", "apply", "--no-input")
    assert result.exit_code == 1
    assert "'.staticbuild/record.json' would land in 'site/.staticbuild/'" in result.output
    assert store.objects() == {}


@pytest.mark.parametrize(
    ("lines", "key", "code"),
    [
        ("destination: s3://Bad_Bucket/x\n", "destination", "SB-E020"),
        ("destination: s3://good-bucket\nlink: true\n", "link", "SB-E021"),
        ("destination: out\ns3: {region: eu-west-1}\n", "s3", "SB-E022"),
        (
            "destination: s3://good-bucket\ns3: {endpoint_url: 'localhost:9000'}\n",
            "s3.endpoint_url",
            "SB-E023",
        ),
        ("destination: s3://good-bucket\ns3: {region: 'eu west'}\n", "s3.region", "SB-E023"),
    ],
)
def test_bucket_spec_errors_name_the_key(
    run_cli: RunCli, tmp_path: Path, lines: str, key: str, code: str
) -> None:
    write(tmp_path / "assets/a.css", "a")
    spec = write(tmp_path / "staticbuild.yaml", "version: 1\nsources: [assets]\n" + lines)
    result = run_cli("-f", spec, "plan")
    assert result.exit_code == 1
    assert f"{key}:" in result.output and code in result.output


def test_watch_keeps_a_bucket_up_to_date(tmp_path: Path, store: Store) -> None:
    """``watch`` (without ``--serve``: there is no folder to serve) re-applies an edit to
    the bucket; Ctrl-C stops it cleanly."""
    import os
    import signal
    import subprocess
    import sys
    import time

    site = _site(tmp_path / "site", store, "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "staticbuild", "-f", str(site / "staticbuild.yaml"), "watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("3 static files copied to 's3://"), first
        assert proc.stdout.readline().startswith("Watching for changes")
        write(site / "assets/js/app.js", "edited();\n")
        deadline = time.monotonic() + 20
        while store.get("site/js/app.js") != b"edited();\n":
            assert time.monotonic() < deadline, "the edit never reached the bucket"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Re-applied 1 change" in out and "Traceback" not in err


def test_a_watchers_re_apply_looks_only_at_what_changed(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-apply for a changed path asks the bucket about its outputs alone (one
    HeadObject each), never for a listing of every object."""
    from staticbuild.bucket import Bucket

    site = _site(tmp_path / "site", store)
    for i in range(MANY := 80):  # more objects than a re-apply looks at one by one
        write(site / f"assets/more/f{i}.js", f"f({i});\n")
    builder = Builder(load_project(site / "staticbuild.yaml"), incremental=True)
    builder.apply(builder.plan())
    record_etag = store.objects()[".staticbuild/record.json"]["ETag"]
    listings: list[int] = []
    real_listing = Bucket.listing

    def counted(self: Bucket) -> Any:
        listings.append(1)
        return real_listing(self)

    monkeypatch.setattr(Bucket, "listing", counted)
    write(site / "assets/js/app.js", "edited();\n")
    plan = builder.plan(frozenset({site / "assets/js/app.js"}))
    assert {a.path for a in plan.actions} >= {"js/app.js", "staticfiles.json"}
    builder.apply(plan)
    assert listings == []
    assert store.get("site/js/app.js") == b"edited();\n"
    assert len(store.objects()) > MANY
    # The record is not rewritten whole: its journal takes the few changes.
    assert store.objects()[".staticbuild/record.json"]["ETag"] == record_etag
    assert ".staticbuild/journal.json" in store.objects()
    builder.apply(builder.plan(frozenset({site / "assets/js/app.js"})))  # nothing to do
    shutil.rmtree(site / ".staticbuild")
    monkeypatch.setattr(Bucket, "listing", real_listing)
    fresh = Builder(load_project(site / "staticbuild.yaml"))
    assert fresh.plan().actions == ()  # a fresh machine reads the record and its journal


_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["write", "delete", "tamper", "remove", "forget", "apply"]),
        st.sampled_from(["a.css", "b.js", "d/c.css", "d/e/f.txt"]),
    ),
    min_size=1,
    max_size=8,
)


@hsettings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(steps=_STEPS, storage=st.sampled_from(["", "storage: {kind: manifest}\n"]))
def test_whatever_changed_a_bucket_ends_as_a_fresh_folder_apply(
    store: Store, run_cli: RunCli, steps: list[tuple[str, str]], storage: str
) -> None:
    """Edits to sources, objects changed or removed behind staticbuild's back, a lost
    ``.staticbuild/``, applies in between: the last apply leaves the bucket as a folder
    apply of the final sources would be (an object someone else replaced stays theirs
    once it is no longer wanted, as in a folder), and the plan after it is empty."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        prefix = f"p{uuid.uuid4().hex[:8]}"
        for name in ("a.css", "b.js", "d/c.css"):
            write(base / "src" / name, f"/* {name} */\n")
        spec = write(
            base / "staticbuild.yaml",
            f"version: 1\n{store.spec_lines(prefix)}sources: [src]\n{storage}",
        )
        Builder(load_project(spec)).apply()
        tampered: set[str] = set()
        for number, (what, name) in enumerate(steps):
            source, key = base / "src" / name, f"{prefix}/{name}"
            if what == "write":
                write(source, f"/* {name} {number} */\n")
            elif what == "delete":
                source.unlink(missing_ok=True)
            elif what == "tamper" and name in store.objects(prefix + "/"):
                store.client.put_object(Bucket=store.bucket, Key=key, Body=b"tampered")
                tampered.add(name)
            elif what == "remove":
                store.client.delete_object(Bucket=store.bucket, Key=key)
            elif what == "forget":
                shutil.rmtree(base / ".staticbuild", ignore_errors=True)
            elif what == "apply":
                Builder(load_project(spec)).apply()
        Builder(load_project(spec)).apply()
        fresh = make_spec(base / "fresh", f"sources: [{base / 'src'}]\n{storage}")
        assert run_cli("-f", fresh, "apply", "--no-input").exit_code == 0
        made, expected = store.contents(prefix + "/"), tree(base / "fresh/out")
        assert {p: made[p] for p in expected if p in made} == expected
        leftovers = {p: made[p] for p in made if p not in expected}
        assert leftovers == dict.fromkeys((p for p in leftovers if p in tampered), b"tampered")
        assert Builder(load_project(spec)).plan().actions == ()


def test_bytes_are_sent_once_and_copied_inside_the_bucket(
    run_cli: RunCli, tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hashed copy that needed no rewriting has its original's bytes (and so do their
    siblings): a large content is uploaded once and its other names copied in the
    bucket; a small one is sent again (a copy would cost as much)."""
    from staticbuild.bucket import Bucket

    site = _site(tmp_path / "site", store)
    write(site / "assets/js/app.js", "console.log('big');\n" * 20_000)  # 400 KB
    calls: dict[str, list[str]] = {"_upload_one": [], "_copy_one": []}
    for name, paths in calls.items():
        real = getattr(Bucket, name)

        def counted(self: Bucket, action: Any, *args: Any, _real: Any = real, _paths=paths) -> Any:
            _paths.append(action.path)
            return _real(self, action, *args)

        monkeypatch.setattr(Bucket, name, counted)
    assert run_cli("-f", site / "staticbuild.yaml", "apply", "--no-input").exit_code == 0
    contents = store.contents()
    assert contents == _folder_apply(run_cli, tmp_path / "site", COMPRESSED_MANIFEST)
    sent, copied = calls["_upload_one"], calls["_copy_one"]
    assert sorted(sent + copied) == sorted(contents)
    big = {p for p in contents if len(contents[p]) >= 256 * 1024}
    assert set(copied) <= big
    assert len({contents[p] for p in sent if p in big}) == len(big & set(sent))  # once each
    hashed_js = json.loads(contents["staticfiles.json"])["paths"]["js/app.js"]
    assert len({"js/app.js", hashed_js} & set(copied)) == 1  # one of the two is a copy
    assert "img/dot.png" in sent and len(contents["img/dot.png"]) < 1024  # small: sent
