"""Work a plain apply does per source file: read once, hash once, nothing left behind.

Counted, not timed: ``Builder.work.sources_hashed`` counts source files read only to hash
them (a copy that hashes on the way does not count), and the record of digests proves the
copies really were hashed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from staticbuild.api import Builder, load_project
from staticbuild.state import load_state
from tests.conftest import make_spec, tree, write

FILES = {f"css/f{i}.css": f"body {{ color: #{i:06x} }}" for i in range(40)}


def _project(tmp_path: Path) -> Path:
    for rel, text in FILES.items():
        write(tmp_path / "assets" / rel, text)
    return make_spec(tmp_path, "sources: [assets]\n")


def test_cold_apply_reads_each_source_once_and_records_its_digest(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    builder = Builder(load_project(spec))
    plan = builder.plan()
    assert builder.work.sources_hashed == 0  # nothing at the destination to compare with
    builder.apply(plan)
    assert tree(tmp_path / "out") == {k: v.encode() for k, v in FILES.items()}

    state = load_state(tmp_path / ".staticbuild", str(tmp_path / "out"))
    assert state is not None
    for rel, text in FILES.items():
        digest = hashlib.sha256(text.encode()).hexdigest()
        assert state.outputs[rel].digest == digest
        assert state.sources[str(tmp_path / "assets")][rel].digest == digest

    again = Builder(load_project(spec))
    assert again.plan().actions == ()
    assert again.work.sources_hashed == 0  # the stats vouch for every source


def test_existing_destination_files_are_compared_by_content(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    write(tmp_path / "out/css/f1.css", FILES["css/f1.css"])  # same bytes, not ours yet
    write(tmp_path / "out/css/f2.css", "someone else's")
    builder = Builder(load_project(spec))
    plan = builder.plan()
    assert builder.work.sources_hashed == 2  # only the two sources with something to match
    ops = {a.path: type(a).__name__ for a in plan.actions}
    assert "css/f1.css" not in ops and ops["css/f2.css"] == "Update"
    builder.apply(plan)
    assert (tmp_path / "out/css/f2.css").read_text() == FILES["css/f2.css"]


def test_saved_plans_carry_every_digest(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    plan = Builder(load_project(spec)).plan(with_inputs=True)
    assert plan.inputs is not None
    assert all(len(d) == 64 for d in plan.inputs.sources.values())
    assert all(getattr(a, "digest", "x") for a in plan.actions)


def test_new_files_appear_whole_with_the_usual_mode(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    old = os.umask(0o027)
    try:
        Builder(load_project(spec)).apply()
    finally:
        os.umask(old)
    out = tmp_path / "out/css"
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(k).name for k in FILES)
    assert {p.stat().st_mode & 0o777 for p in out.iterdir()} == {0o640}
    assert {p.stat().st_nlink for p in out.iterdir()} == {1}
