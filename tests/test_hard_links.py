"""Identical outputs share one file: a hashed copy is a hard link to its original, and so
are their ``.gz``/``.br`` siblings; ``hard_links: false`` writes each file separately.

Sharing an inode is safe because staticbuild never writes into an existing file (a
changed output is a new file renamed over the old name), so a later change to one name
never shows through the other.
"""

from __future__ import annotations

import os
from pathlib import Path

from staticbuild.api import Builder, load_project
from tests.conftest import SITE_JS as JS
from tests.conftest import make_spec, small_site, tree, write


def _project(tmp_path: Path, extra: str = "") -> Path:
    return small_site(tmp_path, f"storage: {{kind: manifest, compress: [gzip]}}\n{extra}")


def _apply(spec: Path) -> Builder:
    builder = Builder(load_project(spec))
    builder.apply()
    return builder


def _hashed(out: Path, original: str) -> str:
    stem, dot, ext = original.rpartition(".")
    names = [
        p.relative_to(out).as_posix()
        for p in out.rglob(f"{Path(stem).name}.*.{ext}")
        if p.relative_to(out).as_posix() != original
    ]
    assert len(names) == 1, names
    return names[0]


def _same_file(a: Path, b: Path) -> bool:
    return os.lstat(a).st_ino == os.lstat(b).st_ino


def test_unchanged_hashed_copies_and_their_siblings_share_the_original(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    _apply(spec)
    out = tmp_path / "out"
    js = _hashed(out, "js/app.js")
    png = _hashed(out, "img/dot.png")
    css = _hashed(out, "css/site.css")
    assert _same_file(out / js, out / "js/app.js")
    assert _same_file(out / png, out / "img/dot.png")
    assert _same_file(out / f"{js}.gz", out / "js/app.js.gz")
    # A rewritten CSS file has other bytes than its original: a file of its own.
    assert (out / css).read_bytes() != (out / "css/site.css").read_bytes()
    assert not _same_file(out / css, out / "css/site.css")
    assert _apply(spec).work.compressed == 0  # and the next apply has nothing to do


def test_hard_links_false_writes_every_file_separately(tmp_path: Path) -> None:
    spec = _project(tmp_path, "hard_links: false\n")
    _apply(spec)
    linked_spec = _project(tmp_path / "linked")
    _apply(linked_spec)
    out = tmp_path / "out"
    js = _hashed(out, "js/app.js")
    assert not _same_file(out / js, out / "js/app.js")
    assert not _same_file(out / f"{js}.gz", out / "js/app.js.gz")
    assert tree(out) == tree(tmp_path / "linked/out")  # the same bytes either way


def test_changing_the_source_leaves_the_old_hashed_copy_intact(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "sources: [assets]\nstorage: {kind: manifest, keep_previous: 1}\n")
    write(tmp_path / "assets/js/app.js", JS)
    _apply(spec)
    out = tmp_path / "out"
    old = _hashed(out, "js/app.js")
    write(tmp_path / "assets/js/app.js", JS + "console.log('more');\n")
    _apply(spec)
    assert (out / old).read_text() == JS  # kept for old pages, with its old bytes
    assert (out / "js/app.js").read_text().endswith("'more');\n")
    new = next(
        p.relative_to(out).as_posix() for p in out.rglob("app.*.js") if p.name != Path(old).name
    )
    assert _same_file(out / new, out / "js/app.js")


def test_an_original_edited_in_place_is_repaired_with_its_copies(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    _apply(spec)
    out = tmp_path / "out"
    expected = tree(out)
    js = _hashed(out, "js/app.js")
    with open(out / "js/app.js", "a") as fh:  # what an editor writing in place does
        fh.write("tampered\n")
    assert (out / js).read_text().endswith("tampered\n")  # one file, two names
    builder = Builder(load_project(spec))
    plan = builder.plan()
    assert {a.path for a in plan.actions} == {"js/app.js", js}
    builder.apply(plan)
    assert tree(out) == expected


def test_a_deleted_hashed_copy_comes_back_linked_to_the_unchanged_original(
    tmp_path: Path,
) -> None:
    spec = _project(tmp_path)
    _apply(spec)
    out = tmp_path / "out"
    js = _hashed(out, "js/app.js")
    (out / js).unlink()
    _apply(spec)
    assert _same_file(out / js, out / "js/app.js")
    assert (out / js).read_text() == JS
