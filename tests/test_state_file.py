"""The state file written in pieces is the same bytes as encoding it in one go, and a
reloaded state is the saved one."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from staticbuild import state as state_module
from staticbuild.state import (
    OutputRecord,
    SourceRecord,
    State,
    load_state,
    save_state,
    source_records,
    write_encoded,
)


def _state(outputs: int, sources: int) -> State:
    return State(
        destination="/d",
        outputs={f"p/{i}.css": OutputRecord(f"{i:064x}", i, i * 7, i + 1) for i in range(outputs)},
        sources={
            f"/s{r}": {f"{i}.css": SourceRecord(i, i * 3, i + 2, f"{i:064x}", "") for i in range(n)}
            for r, n in enumerate((sources, sources // 3))
        },
        history=[["a.1.css"]],
    )


@pytest.mark.parametrize(
    ("outputs", "sources", "piece"),
    [(0, 0, 4), (15, 16, 4), (17, 40, 4), (70_000, 3, 4096), (3, 70_000, 4096)],
)
def test_pieces_are_the_bytes_of_one_encoding(
    outputs: int, sources: int, piece: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_module, "_PIECE", piece)  # several pieces, a last short one
    state = _state(outputs, sources)
    out = io.BytesIO()
    write_encoded(state, out.write)
    assert out.getvalue() == msgspec.msgpack.encode(state)


def test_a_state_saved_whole_loads_back(tmp_path: Path) -> None:
    state = _state(9000, 9000)
    save_state(tmp_path, state)
    loaded = load_state(tmp_path, "/d")
    assert loaded is not None
    assert dict(loaded.outputs) == state.outputs and dict(loaded.sources) == state.sources


def test_a_failed_replace_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    from staticbuild.atomic import replace_file

    target = tmp_path / "state.msgpack"
    replace_file(target, lambda write: write(b"old"))

    def fail(write: Callable[[bytes], object]) -> None:
        write(b"half of the n")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_file(target, fail)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.msgpack"]


@pytest.mark.parametrize("one_by_one", [False, True], ids=["update", "key-by-key"])
def test_changing_most_records_rewrites_the_file_and_a_small_change_is_journaled(
    tmp_path: Path, one_by_one: bool
) -> None:
    save_state(tmp_path, _state(100, 100))
    state = load_state(tmp_path, "/d")
    assert state is not None
    # A first apply's worth of new records (the executor files them one by one): the
    # changed keys are not all remembered, and the file is written whole, no journal.
    new = {f"q/{i}.js": OutputRecord(f"{i:064x}", i, i, i) for i in range(2000)}
    if one_by_one:
        for path, record in new.items():
            state.outputs[path] = record
    else:
        state.outputs.update(new)
    assert getattr(state.outputs, "changed", ()) is None
    save_state(tmp_path, state)
    assert not (tmp_path / "state.journal").exists()
    # Then a few records, one under a root not seen before: appended to the journal.
    state.outputs["p/1.css"] = OutputRecord("f" * 64, 5, 6, 7)
    source_records(state, "/s0")["1.css"] = SourceRecord(5, 6, 7, "e" * 64)
    source_records(state, "/new")["x.css"] = SourceRecord(1, 2, 3, "d" * 64)
    save_state(tmp_path, state)
    assert (tmp_path / "state.journal").exists()
    loaded = load_state(tmp_path, "/d")
    assert loaded is not None
    assert dict(loaded.outputs) == dict(state.outputs) and len(loaded.outputs) == 2100
    assert loaded.sources == state.sources and set(loaded.sources) == {"/s0", "/s1", "/new"}
    assert loaded.sources["/s0"]["1.css"].digest == "e" * 64


def test_a_state_loaded_without_outputs_keeps_the_rest_and_saves_without_them(
    tmp_path: Path,
) -> None:
    """An empty destination: the output records are left undecoded, and the next save
    drops them for good, also those only in the journal."""
    state = _state(50, 40)
    save_state(tmp_path, state)
    loaded = load_state(tmp_path, "/d")
    assert loaded is not None
    loaded.outputs["p/journal-only.css"] = OutputRecord("f" * 64, 1, 2, 3)
    save_state(tmp_path, loaded)  # a small change: a journal entry
    assert (tmp_path / "state.journal").exists()
    bare = load_state(tmp_path, "/d", outputs=False)
    assert bare is not None
    assert dict(bare.outputs) == {}
    assert {root: dict(r) for root, r in bare.sources.items()} == state.sources
    assert bare.history == state.history
    bare.outputs["p/new.css"] = OutputRecord("e" * 64, 4, 5, 6)
    save_state(tmp_path, bare)
    again = load_state(tmp_path, "/d")
    assert again is not None
    assert dict(again.outputs) == {"p/new.css": OutputRecord("e" * 64, 4, 5, 6)}
    assert {root: dict(r) for root, r in again.sources.items()} == state.sources


# -- a record that is not this destination's is replaced, never journaled onto ----------


def _cli(spec: Path, *args: str) -> str:
    from click.testing import CliRunner

    from staticbuild.cli import cli

    result = CliRunner().invoke(cli, ["-f", str(spec), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_two_specs_in_one_folder_never_take_each_other_s_files(tmp_path: Path) -> None:
    """Each keeps its own record (a spec not named staticbuild.yaml has a state folder of
    its own): A never thinks B's files are its own."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets/a.txt").write_text("a")
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra/robots.txt").write_text("robots")
    a = tmp_path / "a.yaml"
    a.write_text("version: 1\ndestination: outA\nsources: [assets]\n")
    b = tmp_path / "b.yaml"
    b.write_text("version: 1\ndestination: outB\nsources: [extra]\n")
    _cli(a, "apply")
    _cli(b, "apply")
    (tmp_path / "outA/robots.txt").write_text("robots")  # the user's own, same bytes as B's
    assert "deleted" not in _cli(a, "apply")
    assert (tmp_path / "outA/robots.txt").read_text() == "robots"


def test_a_record_for_another_destination_is_replaced_and_old_names_are_pruned(
    tmp_path: Path,
) -> None:
    (tmp_path / "assets").mkdir()
    source = tmp_path / "assets/t.txt"
    source.write_text("v1")
    spec = tmp_path / "staticbuild.yaml"
    spec.write_text("version: 1\ndestination: out\nsources: [assets]\nstorage: {kind: manifest}\n")
    _cli(spec, "apply")
    spec.write_text(spec.read_text().replace("destination: out", "destination: out2"))
    _cli(spec, "apply")
    for version in ("v2", "v3"):
        source.write_text(version)
        assert _cli(spec, "apply").startswith("1 static file deleted, ")  # the old hashed name
    names = sorted(p.name for p in (tmp_path / "out2").iterdir())
    assert len(names) == 3 and names[0] == "staticfiles.json" and names[2] == "t.txt"


def test_two_specs_in_one_folder_each_prune_their_old_hashed_names(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets/app.js").write_text("console.log(1)")
    for name in ("a", "b"):
        (tmp_path / f"{name}.yaml").write_text(
            f"version: 1\ndestination: build/{name}\nsources: [assets]\n"
            "storage: {kind: manifest}\n"
        )
        _cli(tmp_path / f"{name}.yaml", "apply")
    (tmp_path / "assets/app.js").write_text("console.log(2)")
    for name in ("a", "b"):
        assert _cli(tmp_path / f"{name}.yaml", "apply").startswith("1 static file deleted, ")
        assert len(list((tmp_path / "build" / name).iterdir())) == 3  # app.js, its hash, manifest


def test_a_moved_project_keeps_its_record(tmp_path: Path) -> None:
    """Moved (or cloned with its .staticbuild/) elsewhere, the destination is where it was
    relative to the spec: its files are still staticbuild's own, its sources still known."""
    from staticbuild.api import Builder, load_project

    before = tmp_path / "before"
    (before / "assets/css").mkdir(parents=True)
    (before / "assets/css/x.css").write_text("body{}")
    spec = before / "staticbuild.yaml"
    spec.write_text("version: 1\ndestination: out\nsources: [assets]\nstorage: {kind: manifest}\n")
    _cli(spec, "apply")
    old = set(msgspec.json.decode((before / "out/staticfiles.json").read_bytes())["paths"].values())
    after = tmp_path / "elsewhere/after"
    after.parent.mkdir()
    before.rename(after)
    builder = Builder(load_project(after / "staticbuild.yaml"))
    assert builder.plan().actions == ()
    assert builder.work.sources_hashed == 0  # the sources' records moved with them
    (after / "assets/css/x.css").write_text("body{color:red}")
    plan = _cli(after / "staticbuild.yaml", "plan", "--json")
    actions = msgspec.json.decode(plan)["actions"]
    assert not any(a.get("foreign") for a in actions), actions
    assert {a["path"] for a in actions if a["op"] == "delete"} == old
    _cli(after / "staticbuild.yaml", "apply")
    assert not any((after / "out" / name).exists() for name in old)
    assert msgspec.json.decode(_cli(after / "staticbuild.yaml", "plan", "--json"))["actions"] == []


def test_a_record_is_not_taken_for_a_destination_elsewhere(tmp_path: Path) -> None:
    """The same spec folder, another destination: the record is not this one's."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets/a.txt").write_text("a")
    spec = tmp_path / "staticbuild.yaml"
    spec.write_text("version: 1\ndestination: out\nsources: [assets]\n")
    _cli(spec, "apply")
    (tmp_path / "out2").mkdir()
    (tmp_path / "out2/a.txt").write_text("a")  # the user's own copy
    spec.write_text("version: 1\ndestination: out2\nsources: []\n")
    _cli(spec, "apply")
    assert (tmp_path / "out2/a.txt").exists()


@pytest.mark.parametrize("cut", ["last 3 bytes", "half"])
def test_a_torn_journal_loses_no_later_record(tmp_path: Path, cut: str) -> None:
    """A crash mid-append leaves a torn journal entry: the entries after it (the next
    apply's) must still be read, so the files they record are pruned when stale."""
    source = tmp_path / "s0"
    source.mkdir()
    (source / "a.txt").write_text("a")
    (source / "b.txt").write_text("b")
    spec = tmp_path / "staticbuild.yaml"
    spec.write_text("version: 1\ndestination: out\nsources: [s0]\n")
    _cli(spec, "apply")
    (source / "a.txt").write_text("a2")
    _cli(spec, "apply")  # a journal entry
    journal = tmp_path / ".staticbuild" / state_module.JOURNAL
    data = journal.read_bytes()
    journal.write_bytes(data[:-3] if cut == "last 3 bytes" else data[: len(data) // 2])
    (source / "c.txt").write_text("c")
    assert _cli(spec, "apply").startswith("1 static file copied")
    (source / "c.txt").unlink()
    _cli(spec, "apply")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.txt", "b.txt"]
    assert msgspec.json.decode(_cli(spec, "plan", "--json"))["actions"] == []


@pytest.mark.parametrize(
    ("destination", "outside"),
    [("../public", "public"), ("pub/static", "shared/static")],
    ids=["../public", "symlink pub -> ../shared"],
)
def test_a_copied_project_never_takes_a_folder_outside_it_for_its_destination(
    tmp_path: Path, destination: str, outside: str
) -> None:
    """A destination outside the project (as written, or through a symlink) does not move
    with it: in a copy, the folder there is another site's, whose files are not
    staticbuild's to delete."""
    first = tmp_path / "x/a"
    (first / "assets").mkdir(parents=True)
    (tmp_path / "x/shared").mkdir()
    (first / "pub").symlink_to("../shared")
    (first / "assets/old.css").write_text("old")
    spec = first / "staticbuild.yaml"
    spec.write_text(f"version: 1\ndestination: {destination}\nsources: [assets]\n")
    _cli(spec, "apply")
    assert (tmp_path / "x" / outside / "old.css").exists()
    copy = tmp_path / "y/a"
    shutil.copytree(first, copy, symlinks=True)
    (tmp_path / "y" / outside).mkdir(parents=True)
    (tmp_path / "y" / outside / "old.css").write_text("old")  # the same bytes, someone else's
    (copy / "assets/old.css").unlink()
    _cli(copy / "staticbuild.yaml", "apply", "--no-input")
    assert (tmp_path / "y" / outside / "old.css").read_text() == "old"
    assert (tmp_path / "x" / outside / "old.css").exists()  # the original's record is its own


def test_a_moved_project_whose_destination_is_a_symlink_inside_it_keeps_its_record(
    tmp_path: Path,
) -> None:
    before = tmp_path / "P"
    (before / "assets").mkdir(parents=True)
    (before / "build").mkdir()
    (before / "pub").symlink_to("build")
    (before / "assets/a.css").write_text("a")
    (before / "assets/b.css").write_text("b")
    (before / "staticbuild.yaml").write_text("version: 1\ndestination: pub\nsources: [assets]\n")
    _cli(before / "staticbuild.yaml", "apply")
    after = tmp_path / "Q"
    before.rename(after)
    (after / "assets/b.css").unlink()
    plan = msgspec.json.decode(_cli(after / "staticbuild.yaml", "plan", "--json"))
    assert [(a["op"], a["path"]) for a in plan["actions"]] == [("delete", "b.css")]
