"""A no-op proved from stats alone: after a finished apply, a plan whose options, source
stats and output stats are all as that apply left them is empty without collecting,
deriving or decoding the record. Any change anywhere falls back to the full plan."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from staticbuild import builder as builder_module
from staticbuild.api import Builder, load_project
from staticbuild.errors import PlanError
from staticbuild.parallel import can_fork
from staticbuild.state import SETTLED, mark_unfinished
from tests.conftest import RunCli, small_site, tree, write

STORAGES = {
    "plain": "",
    "link": "link: true\n",
    "manifest": "storage: {kind: manifest}\n",
    "compressed": "storage: {kind: manifest, compress: [gzip, br]}\n",
}


def _fresh(spec: Path, **kwargs: bool) -> Builder:
    return Builder(load_project(spec), **kwargs)


def _collected_plan(spec: Path) -> Builder:
    """A builder whose plan collects (the last apply's note set aside)."""
    note = spec.parent / ".staticbuild" / SETTLED
    kept = note.read_bytes()
    note.unlink()
    try:
        b = _fresh(spec)
        b.plan()
    finally:
        note.write_bytes(kept)
    return b


@pytest.mark.parametrize("storage", STORAGES)
def test_a_noop_is_proved_and_reports_what_a_collecting_plan_reports(
    tmp_path: Path, storage: str
) -> None:
    spec = small_site(tmp_path, STORAGES[storage])
    _fresh(spec).apply()
    proved = _fresh(spec)
    plan = proved.plan()
    assert proved.work.proved_unchanged
    assert proved.work.sources_hashed == proved.work.manifest_read == 0
    collecting = _collected_plan(spec)
    assert not collecting.work.proved_unchanged
    assert plan == collecting._context.plan  # type: ignore[union-attr]
    assert plan.actions == () and plan.unmodified > 0 and plan.collected == 3
    summary = proved.apply(plan).summary()
    assert summary == collecting.apply().summary()
    verb = "symlinked" if storage == "link" else "copied"
    assert summary == f"0 static files {verb} to '{tmp_path / 'out'}', 3 unmodified."


def test_a_symlink_replaced_by_a_copy_of_its_target_is_not_proved(tmp_path: Path) -> None:
    spec = small_site(tmp_path, STORAGES["link"])
    _fresh(spec).apply()
    out = tmp_path / "out/js/app.js"
    content = out.read_bytes()
    out.unlink()
    out.write_bytes(content)
    b = _fresh(spec)
    assert [a.path for a in b.plan().actions] == ["js/app.js"]
    assert not b.work.proved_unchanged
    b.apply()
    assert out.is_symlink()
    assert _fresh(spec).plan().actions == ()


def test_warnings_are_shown_again_by_a_proved_noop(tmp_path: Path) -> None:
    spec = small_site(tmp_path, "storage: {kind: manifest, manifest_strict: false}\n")
    write(tmp_path / "assets/css/broken.css", "a { background: url('missing.png'); }\n")
    first = _fresh(spec)
    first.apply()
    assert any("missing.png" in w for w in first.warnings)
    again = _fresh(spec)
    again.plan()
    assert again.work.proved_unchanged
    assert again.warnings == first.warnings


def _edit_source(root: Path) -> None:
    path = root / "assets/js/app.js"
    path.write_text(path.read_text().replace("hello", "HELLO"))  # same size


def _touch_source(root: Path) -> None:
    path = root / "assets/js/app.js"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


CHANGES: dict[str, Callable[[Path], None]] = {
    "source edited, same size": _edit_source,
    "source touched": _touch_source,
    "source added": lambda root: write(root / "assets/js/new.js", "new();\n"),
    "source removed": lambda root: (root / "assets/js/app.js").unlink(),
    "output removed": lambda root: (root / "out/js/app.js").unlink(),
    "output edited": lambda root: write(root / "out/js/app.js", "tampered();\n"),
    "output replaced by a folder": lambda root: (
        (root / "out/js/app.js").unlink(),
        (root / "out/js/app.js").mkdir(),
        write(root / "out/js/app.js/inner", "x"),
    ),
    "spec changed": lambda root: write(
        root / "staticbuild.yaml",
        (root / "staticbuild.yaml").read_text() + "ignore: ['*.js']\n",
    ),
    "apply interrupted": lambda root: mark_unfinished(root / ".staticbuild"),
    "note removed": lambda root: (root / ".staticbuild" / SETTLED).unlink(),
}


@pytest.mark.parametrize("change", CHANGES)
@pytest.mark.parametrize("storage", ["plain", "compressed"])
def test_any_change_is_planned_in_full(tmp_path: Path, change: str, storage: str) -> None:
    site = tmp_path / "site"
    spec = small_site(site, STORAGES[storage])
    _fresh(spec).apply()
    CHANGES[change](site)
    b = _fresh(spec)
    if change == "output replaced by a folder":  # a conflict, reported, never proved away
        with pytest.raises(PlanError, match="in the way at destination path 'js/app.js'"):
            b.plan()
        return
    plan = b.plan()
    assert not b.work.proved_unchanged
    b.apply(plan)
    # What a fresh apply into an empty destination makes.
    fresh = tmp_path / "fresh"
    shutil.copytree(site, fresh, ignore=shutil.ignore_patterns("out", ".staticbuild"))
    _fresh(fresh / "staticbuild.yaml").apply()
    assert tree(site / "out") == tree(fresh / "out")
    # And from now on the no-op is proved again.
    again = _fresh(spec)
    assert again.plan().actions == () and again.work.proved_unchanged


def test_a_small_change_saved_in_the_journal_keeps_later_noops_proved(tmp_path: Path) -> None:
    spec = small_site(tmp_path, "")
    for i in range(40):  # enough records that one change goes to the journal
        write(tmp_path / f"assets/extra/e{i}.txt", f"{i}\n")
    _fresh(spec).apply()
    _edit_source(tmp_path)
    _fresh(spec).apply()
    assert (tmp_path / ".staticbuild" / "state.journal").exists()
    b = _fresh(spec)
    assert b.plan().actions == () and b.work.proved_unchanged


def test_a_builder_for_the_watcher_never_proves(tmp_path: Path) -> None:
    spec = small_site(tmp_path, "")
    _fresh(spec).apply()
    b = _fresh(spec, incremental=True)
    assert b.plan().actions == () and not b.work.proved_unchanged
    b.apply()
    _edit_source(tmp_path)
    plan = b.plan(changed=frozenset({tmp_path / "assets/js/app.js"}))
    assert [a.path for a in plan.actions] == ["js/app.js"]


def test_a_plan_of_changed_paths_after_a_proved_one_collects_in_full(tmp_path: Path) -> None:
    spec = small_site(tmp_path, "storage: {kind: manifest}\n")
    _fresh(spec).apply()
    b = _fresh(spec)
    b.apply(b.plan())
    assert b.work.proved_unchanged
    write(tmp_path / "assets/img/dot.png", b"\x89PNG changed")
    plan = b.plan(changed=frozenset({tmp_path / "assets/img/dot.png"}))
    assert not b.work.proved_unchanged
    paths = {a.path for a in plan.actions}
    assert "img/dot.png" in paths
    assert any(p.startswith("css/site.") for p in paths)  # the CSS that names the image
    b.apply(plan)
    assert _fresh(spec).plan().actions == ()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here")
def test_the_forked_look_reads_the_record_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: RunCli
) -> None:
    if not can_fork():
        pytest.skip("another thread runs in this test process")
    monkeypatch.setattr(builder_module, "STILL_FORK_THRESHOLD", 1)
    spec = small_site(tmp_path, "storage: {kind: manifest, compress: [gzip]}\n")
    assert run_cli("-f", spec, "apply").exit_code == 0
    b = _fresh(spec)
    assert b.plan().actions == () and b.work.proved_unchanged
    write(tmp_path / "out/js/app.js", "tampered();\n")
    b = _fresh(spec)
    assert "js/app.js" in [a.path for a in b.plan().actions]
    assert not b.work.proved_unchanged
    result = run_cli("-f", spec, "apply")
    assert "1 static file copied" in result.output


def test_a_proved_noop_loads_only_what_it_uses(tmp_path: Path) -> None:
    spec = small_site(tmp_path, STORAGES["compressed"])
    _fresh(spec).apply()
    probe = textwrap.dedent(
        f"""
        import sys
        from staticbuild.api import Builder, load_project
        b = Builder(load_project({str(spec)!r}))
        print(b.apply().summary(), b.work.proved_unchanged)
        unused = ("staticbuild.executor", "staticbuild.postprocess", "staticbuild.memo",
                  "staticbuild.storage.manifest", "staticbuild.storage.compress", "brotli",
                  "pydantic", "ruamel.yaml", "tempfile", "concurrent.futures")
        print(sorted(m for m in unused if m in sys.modules))
        """
    )
    # Twice: the first run validates the spec afresh (the project cache is keyed by the
    # interpreter's search path, which differs from this process's).
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, check=True
        ).stdout.splitlines()
    assert out[0].endswith("3 unmodified. True")
    assert out[1] == "[]"
