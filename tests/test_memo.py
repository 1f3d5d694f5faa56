"""Remembered post-processing (staticbuild.memo): a no-op skips the engines entirely, and
anything the memo cannot vouch for falls back to deriving for real."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from staticbuild.api import Builder, load_project
from staticbuild.memo import MEMO_FILE
from staticbuild.state import SETTLED
from tests.conftest import small_site, tree, write


def _project(tmp_path: Path, storage: str = "{kind: manifest, compress: [gzip, br]}") -> Path:
    return small_site(tmp_path, f"storage: {storage}\n")


def _hashed_css(name: str) -> bool:
    return name.startswith("css/site.") and name.endswith(".css") and name.count(".") == 2


def _fresh(spec: Path) -> Builder:
    return Builder(load_project(spec))


def test_noop_loads_no_engine(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    _fresh(spec).apply()
    assert (tmp_path / ".staticbuild" / MEMO_FILE).exists()
    probe = textwrap.dedent(
        f"""
        import sys
        from staticbuild.api import Builder, load_project
        b = Builder(load_project({str(spec)!r}))
        plan = b.plan()
        print(len(plan.actions), plan.unmodified)
        engines = ("brotli", "staticbuild.storage.compress", "staticbuild.storage.manifest")
        print(sorted(m for m in engines if m in sys.modules))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0].split()[0] == "0" and int(out[0].split()[1]) > 3
    assert out[1] == "[]"  # no engine, not even to decode its cache: nothing derived again


def test_missing_derived_output_falls_back_to_deriving(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    _fresh(spec).apply()
    before = tree(tmp_path / "out")
    hashed_css = next(n for n in before if _hashed_css(n))
    for name in (hashed_css, hashed_css + ".gz", hashed_css + ".br"):
        (tmp_path / "out" / name).unlink()
    b = _fresh(spec)
    plan = b.plan()
    assert sorted(a.path for a in plan.actions) == sorted(
        [hashed_css, hashed_css + ".br", hashed_css + ".gz"]
    )
    b.apply(plan)
    assert tree(tmp_path / "out") == before


def test_changed_options_or_content_miss_the_memo(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    _fresh(spec).apply()
    first = set(tree(tmp_path / "out"))
    assert any(n.endswith(".gz") for n in first)
    spec.write_text(spec.read_text().replace("compress: [gzip, br]", "compress: [br]"))
    _fresh(spec).apply()
    assert not any(n.endswith(".gz") for n in tree(tmp_path / "out"))

    write(tmp_path / "assets/img/dot.png", b"\x89PNG another dot")
    _fresh(spec).apply()
    names = set(tree(tmp_path / "out"))
    old_css = {n for n in first if _hashed_css(n)}
    assert old_css and not old_css & names  # the CSS names the image's new hash


def test_a_broken_memo_is_only_a_miss(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    _fresh(spec).apply()
    before = tree(tmp_path / "out")
    (tmp_path / ".staticbuild" / MEMO_FILE).write_bytes(b"\x00garbage")
    # Without the last apply's note a no-op is not proved from stats alone: the plan
    # collects, and so reads the memo.
    (tmp_path / ".staticbuild" / SETTLED).unlink()
    b = _fresh(spec)
    assert b.plan().actions == ()
    assert b.work.manifest_read == 0  # the manifest cache still saves the reading
    b.apply()
    assert tree(tmp_path / "out") == before
    assert b"garbage" not in (tmp_path / ".staticbuild" / MEMO_FILE).read_bytes()
