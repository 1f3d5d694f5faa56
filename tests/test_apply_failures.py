"""Failures the disk causes: one clear line, exit 1, no torn file, and the next apply repairs.

Root ignores permission bits, so these use what stops root too: an immutable folder
(``chattr +i``) and a tiny tmpfs that fills up. Each skips where the machine forbids it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RunCli, make_spec, tree, write


def _run(*cmd: str) -> bool:
    return subprocess.run(cmd, capture_output=True).returncode == 0


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    if not _run("mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount)):
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mount
    finally:
        _run("umount", str(mount))


def test_disk_full_is_a_clear_error_and_nothing_is_torn(
    run_cli: RunCli, tmp_path: Path, tiny_fs: Path
) -> None:
    write(tmp_path / "src/a.css", "a" * 1000)
    write(tmp_path / "src/big.bin", os.urandom(300_000))
    write(tmp_path / "src/z.css", "z" * 1000)
    spec = make_spec(tmp_path, "sources: [src]\n").with_name("staticbuild.yaml")
    spec.write_text(f"version: 1\ndestination: {tiny_fs / 'out'}\nsources: [src]\n")
    result = run_cli("-f", spec, "apply")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: no space left on the device")
    out = tree(tiny_fs / "out")
    for name, data in out.items():
        assert ".sbtmp-" not in name
        assert data == (tmp_path / "src" / name).read_bytes()  # whole, never torn
    assert "big.bin" not in out
    # with room again, the next apply finishes the job
    (tmp_path / "src/big.bin").unlink()
    assert run_cli("-f", spec, "apply").exit_code == 0
    assert set(tree(tiny_fs / "out")) == {"a.css", "z.css"}
    assert '"actions": []' in run_cli("-f", spec, "plan", "--json").stdout


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "out"
    folder.mkdir()
    if shutil.which("chattr") is None or not _run("chattr", "+i", str(folder)):
        pytest.skip("chattr +i is not available here")
    try:
        yield folder
    finally:
        _run("chattr", "-i", str(folder))


def test_permission_denied_is_a_clear_error(
    run_cli: RunCli, tmp_path: Path, immutable: Path
) -> None:
    write(tmp_path / "src/a.css", "a")
    spec = make_spec(tmp_path, "sources: [src]\n")
    result = run_cli("-f", spec, "apply")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: permission denied: ")
    assert str(immutable) in result.stderr and result.stderr.count("\n") == 1
    assert list(immutable.iterdir()) == []


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_a_destination_that_is_a_broken_symlink_is_named(
    run_cli: RunCli, tmp_path: Path, command: str
) -> None:
    write(tmp_path / "src/a.css", "a")
    (tmp_path / "out").symlink_to("nowhere")
    spec = make_spec(tmp_path, "sources: [src]\n")
    before = tree(tmp_path)
    result = run_cli("-f", spec, command)
    assert result.exit_code == 1
    assert f"{spec}:2:1: destination: " in result.stderr
    assert "is a symlink to 'nowhere', which does not exist [SB-E029]" in result.stderr
    assert tree(tmp_path) == before


def test_a_destination_below_a_file_is_named(run_cli: RunCli, tmp_path: Path) -> None:
    write(tmp_path / "src/a.css", "a")
    write(tmp_path / "notes.txt", "n")
    spec = write(
        tmp_path / "staticbuild.yaml",
        "version: 1\ndestination: notes.txt/static\nsources: [src]\n",
    )
    result = run_cli("-f", spec, "apply")
    assert result.exit_code == 1
    assert f"cannot be created: '{tmp_path / 'notes.txt'}' is a file" in result.stderr


def test_a_destination_that_cannot_be_made_is_named(run_cli: RunCli, tmp_path: Path) -> None:
    """/proc takes no new folders (the apply said 'file vanished during apply')."""
    if not os.path.isdir("/proc/self") or os.path.exists("/proc/staticbuild-test"):
        pytest.skip("needs Linux's /proc")
    write(tmp_path / "src/a.css", "a")
    spec = write(
        tmp_path / "staticbuild.yaml",
        "version: 1\ndestination: /proc/staticbuild-test\nsources: [src]\n",
    )
    result = run_cli("-f", spec, "apply")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: cannot create the destination folder '/proc/staticbuild-test': "
    )
    assert result.stderr.count("\n") == 1


def test_source_vanishing_mid_apply(run_cli: RunCli, tmp_path: Path) -> None:
    """A source deleted between plan and apply: a clear error, then the next apply converges."""
    from staticbuild.api import Builder, load_project
    from staticbuild.errors import ApplyError

    write(tmp_path / "src/a.css", "a")
    write(tmp_path / "src/b.css", "b")
    spec = make_spec(tmp_path, "sources: [src]\n")
    builder = Builder(load_project(spec))
    plan = builder.plan()
    (tmp_path / "src/b.css").unlink()
    with pytest.raises(ApplyError, match="b.css"):
        builder.apply(plan)
    assert not any(".sbtmp-" in name for name in tree(tmp_path / "out"))
    assert run_cli("-f", spec, "apply").exit_code == 0
    assert tree(tmp_path / "out") == {"a.css": b"a"}


def test_a_hashed_copy_refuses_a_source_edited_since_the_plan(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """The hashed name promises the planned bytes: an edited source is not copied under it."""
    from staticbuild.api import Builder, load_project
    from staticbuild.errors import ApplyError

    write(tmp_path / "src/img/dot.png", b"\x89PNG planned")
    spec = make_spec(tmp_path, "sources: [src]\nhard_links: false\nstorage:\n  kind: manifest\n")
    builder = Builder(load_project(spec))
    plan = builder.plan()
    hashed = next(a.path for a in plan.actions if a.path.startswith("img/dot."))
    write(tmp_path / "src/img/dot.png", b"\x89PNG edited after the plan")
    with pytest.raises(ApplyError, match="dot.png"):
        builder.apply(plan)
    assert hashed not in tree(tmp_path / "out")
    assert run_cli("-f", spec, "apply").exit_code == 0
    assert tree(tmp_path / "out")["img/dot.png"] == b"\x89PNG edited after the plan"


def test_a_failed_first_manifest_apply_writes_no_manifest(run_cli: RunCli, tmp_path: Path) -> None:
    """The manifest goes last: when a write fails it is not there to name missing files."""
    write(tmp_path / "src/img/p.png", b"image")
    write(tmp_path / "src/site.css", ".a{background:url(img/p.png)}")
    long_name = "L" * 248 + ".css"  # fits; its hashed name (+13 characters) does not
    write(tmp_path / "src" / long_name, "x")
    spec = make_spec(tmp_path, "sources: [src]\nstorage: {kind: manifest}\n")
    result = run_cli("-f", spec, "apply")
    assert result.exit_code == 1
    assert "File name too long" in result.stderr
    assert f"{long_name[:-4]}." in result.stderr  # the hashed name that failed
    written = tree(tmp_path / "out")
    assert "staticfiles.json" not in written
    (tmp_path / "src" / long_name).unlink()
    plan = json.loads(run_cli("-f", spec, "plan", "--json").stdout)
    assert plan["unmodified"] == len(written) - 1  # once each; the long one is stale now
    assert run_cli("-f", spec, "apply").exit_code == 0
    assert '"actions": []' in run_cli("-f", spec, "plan", "--json").stdout


def test_a_failed_manifest_apply_keeps_the_old_manifest_and_everything_it_names(
    run_cli: RunCli, tmp_path: Path, tiny_fs: Path
) -> None:
    """Stale files go after the manifest: when a write fails (here the disk fills up),
    the old manifest and every file it names are still there."""
    write(tmp_path / "src/img/p.png", b"old image")
    write(tmp_path / "src/site.css", ".a{background:url(img/p.png)}")
    spec = tmp_path / "staticbuild.yaml"
    spec.write_text(
        f"version: 1\ndestination: {tiny_fs / 'out'}\nsources: [src]\nstorage: {{kind: manifest}}\n"
    )
    assert run_cli("-f", spec, "apply").exit_code == 0
    before = tree(tiny_fs / "out")
    write(tmp_path / "src/img/p.png", b"new image")
    write(tmp_path / "src/big.bin", os.urandom(300_000))
    result = run_cli("-f", spec, "apply")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: no space left on the device")
    after = tree(tiny_fs / "out")
    assert after["staticfiles.json"] == before["staticfiles.json"]
    unwritten = {k: v for k, v in before.items() if k != "img/p.png"}  # may be new already
    assert {k: after.get(k) for k in unwritten} == unwritten
    (tmp_path / "src/big.bin").unlink()
    assert run_cli("-f", spec, "apply").exit_code == 0
    assert '"actions": []' in run_cli("-f", spec, "plan", "--json").stdout


@pytest.mark.parametrize(
    ("damaged", "kind"),
    [
        (".staticbuild", "file"),
        (".staticbuild/state.journal", "folder"),
        (".staticbuild/applying", "folder"),
        (".staticbuild/compress", "file"),
        (".staticbuild/derived.msgpack", "folder"),
    ],
)
def test_a_damaged_state_folder_is_one_line_and_the_next_apply_recovers(
    run_cli: RunCli, tmp_path: Path, damaged: str, kind: str
) -> None:
    write(tmp_path / "src/a.css", "body { color: red; }\n" * 20)
    spec = make_spec(tmp_path, "sources: [src]\nstorage: {kind: manifest, compress: [gzip]}\n")
    assert run_cli("-f", spec, "apply").exit_code == 0
    target = tmp_path / damaged
    shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    target.mkdir() if kind == "folder" else target.write_text("damaged")
    write(tmp_path / "src/a.css", "body { color: blue; }\n" * 20)
    result = run_cli("-f", spec, "apply")
    if result.exit_code != 0:  # some damage is simply written over
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
        assert "state folder" in lines[0] and damaged.split("/")[-1] in lines[0]
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    assert run_cli("-f", spec, "apply").exit_code == 0
    assert '"actions": []' in run_cli("-f", spec, "plan", "--json").stdout


def test_state_files_with_bytes_that_are_not_utf8_are_read_as_lost(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """Damage that decodes as a string of bad UTF-8 (msgspec raises UnicodeDecodeError, not
    its DecodeError) is treated as any damage: the file is unusable, never a traceback."""
    write(tmp_path / "src/a.css", "body { color: red; }\n" * 20)
    spec = make_spec(tmp_path, "sources: [src]\nstorage: {kind: manifest, compress: [gzip]}\n")
    assert run_cli("-f", spec, "apply").exit_code == 0
    write(tmp_path / "src/a.css", "body { color: green; }\n" * 20)
    assert run_cli("-f", spec, "apply").exit_code == 0  # a journal entry too
    files = sorted(p for p in (tmp_path / ".staticbuild").rglob("*") if p.is_file())
    assert len(files) >= 5
    for path in files:
        if path.suffix not in (".pack", ".lock") and path.name != "lock":
            bad = b'["\xff\xfe"]' if path.suffix in (".json", ".log") else b"\xa2\xff\xfe"
            path.write_bytes(bad)
    write(tmp_path / "src/a.css", "body { color: blue; }\n" * 20)
    result = run_cli("-f", spec, "apply")
    assert result.exit_code == 0, result.stderr
    assert '"actions": []' in run_cli("-f", spec, "plan", "--json").stdout
