"""The pure event batcher, driven by real watchdog event objects and a fake clock."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from watchdog.events import (
    DirCreatedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
)

from staticbuild.finders import IgnoreMatcher
from staticbuild.project import DEFAULT_IGNORE_PATTERNS
from staticbuild.watch_batch import ChangeBatcher, ChangeSet, is_editor_temp

ROOT = Path("/project")
ASSETS = ROOT / "assets"
APP = ROOT / "apps/blog/static"
SPEC = ROOT / "staticbuild.yaml"
DEST = ROOT / "build/static"
STATE = ROOT / ".staticbuild"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def batcher(clock: Clock) -> ChangeBatcher:
    return ChangeBatcher(
        watch_roots=[ASSETS, APP],
        spec_path=SPEC,
        ignore_roots=[DEST, STATE],
        ignore_patterns=DEFAULT_IGNORE_PATTERNS,
        debounce=0.05,
        max_wait=0.5,
        clock=clock,
    )


def settle(batcher: ChangeBatcher, clock: Clock) -> ChangeSet:
    clock.advance(1.0)
    batch = batcher.pop_ready()
    assert batch is not None
    return batch


def test_debounce_waits_for_quiet(batcher: ChangeBatcher, clock: Clock) -> None:
    assert batcher.time_until_ready() is None and batcher.pop_ready() is None
    batcher.add(FileModifiedEvent(str(ASSETS / "a.css")))
    assert batcher.time_until_ready() == pytest.approx(0.05)
    clock.advance(0.04)
    assert batcher.pop_ready() is None
    batcher.add(FileModifiedEvent(str(ASSETS / "b.css")))  # the burst goes on
    clock.advance(0.04)
    assert batcher.pop_ready() is None
    clock.advance(0.011)
    batch = batcher.pop_ready()
    assert batch == ChangeSet(frozenset({ASSETS / "a.css", ASSETS / "b.css"}), False, 2)
    assert batcher.pop_ready() is None and not batcher.pending()


def test_max_wait_bounds_a_continuous_burst(batcher: ChangeBatcher, clock: Clock) -> None:
    for _ in range(12):
        batcher.add(FileModifiedEvent(str(ASSETS / "log.txt")))
        clock.advance(0.045)
    # 12 * 45 ms = 540 ms since the first event: past max_wait even without a pause.
    assert batcher.pop_ready() == ChangeSet(frozenset({ASSETS / "log.txt"}), False, 12)


def test_duplicates_fold_into_one_path(batcher: ChangeBatcher, clock: Clock) -> None:
    path = str(ASSETS / "a.css")
    for event in (FileCreatedEvent(path), FileModifiedEvent(path), FileClosedEvent(path)):
        batcher.add(event)
    assert settle(batcher, clock).paths == {ASSETS / "a.css"}


@pytest.mark.parametrize(
    "event",
    [
        FileOpenedEvent(str(ASSETS / "a.css")),
        FileClosedNoWriteEvent(str(ASSETS / "a.css")),
        DirModifiedEvent(str(ASSETS / "css")),
        FileModifiedEvent(str(DEST / "a.css")),
        FileCreatedEvent(str(DEST / "css/.base.css.sbtmp-x1")),
        FileModifiedEvent(str(STATE / "state.json")),
        FileModifiedEvent(str(ROOT / "README.md")),  # seen by the spec folder's watch
        FileModifiedEvent(str(ROOT / "assetsX/a.css")),  # a prefix is not a parent
        FileModifiedEvent("/elsewhere/a.css"),
    ],
)
def test_ignored_events_start_no_batch(batcher: ChangeBatcher, event: object) -> None:
    assert batcher.add(event) is False  # type: ignore[arg-type]
    assert not batcher.pending()


@pytest.mark.parametrize(
    "name",
    [
        "base.css~",
        ".#base.css",
        "#base.css#",
        ".base.css.swp",
        ".base.css.swx",
        "base.css.swp",
        "4913",
        "base.css.tmp",
        "base.css___jb_tmp___",
        "base.css___jb_old___",
        ".goutputstream-ABC123",
        ".DS_Store",
    ],
)
def test_editor_temp_names_are_recognised(name: str) -> None:
    assert is_editor_temp(name)


@pytest.mark.parametrize(
    "name", ["base.css~", ".#base.css", ".base.css.swp", ".DS_Store", "CVS", "CVS/Entries"]
)
def test_what_apply_never_collects_starts_no_batch(batcher: ChangeBatcher, name: str) -> None:
    assert batcher.add(FileClosedEvent(str(ASSETS / "css" / name))) is False
    assert not batcher.pending()


def test_an_ignored_name_a_link_reaches_is_a_change(clock: Clock) -> None:
    """``assets/pub -> .hidden``: the core says which paths a followed link reaches."""
    batcher = ChangeBatcher(
        watch_roots=[ASSETS],
        spec_path=SPEC,
        ignore_patterns=DEFAULT_IGNORE_PATTERNS,
        clock=clock,
        linked=lambda path: path.is_relative_to(ASSETS / ".hidden"),
    )
    assert batcher.add(FileModifiedEvent(str(ASSETS / ".hidden/x.css")))
    assert not batcher.add(FileModifiedEvent(str(ASSETS / ".x.css.swp")))


@pytest.mark.parametrize("name", ["worker.tmp", "4913", "#base.css#", "base.css.swp", "a.temp"])
def test_temp_names_apply_collects_are_changes(
    batcher: ChangeBatcher, clock: Clock, name: str
) -> None:
    """apply collects them, so watch must too; their close does not end a save."""
    assert batcher.add(FileClosedEvent(str(ASSETS / name))) is True
    assert batcher.time_until_ready() == pytest.approx(0.05)
    assert settle(batcher, clock).paths == {ASSETS / name}


@pytest.mark.parametrize("name", ["base.css", "4913.css", "swp.js", "tmp", "café menu.txt"])
def test_real_names_are_kept(name: str) -> None:
    assert not is_editor_temp(name)


def test_temp_file_then_rename_sees_the_target(batcher: ChangeBatcher, clock: Clock) -> None:
    """vim/JetBrains/gedit save: write NAME.tmp, rename it onto NAME; one batch, and the
    temp name in it is looked up again (gone by then: nothing to collect)."""
    tmp, final = str(ASSETS / "css/base.css.tmp"), str(ASSETS / "css/base.css")
    batcher.add(FileCreatedEvent(tmp))
    batcher.add(FileClosedEvent(tmp))
    assert batcher.time_until_ready() == pytest.approx(0.05)  # not the end of the save
    batcher.add(FileMovedEvent(tmp, final))
    assert batcher.time_until_ready() == pytest.approx(0.005)  # this is
    assert settle(batcher, clock).paths == {ASSETS / "css/base.css.tmp", ASSETS / "css/base.css"}


def test_move_gives_old_and_new_paths(batcher: ChangeBatcher, clock: Clock) -> None:
    batcher.add(FileMovedEvent(str(ASSETS / "a.css"), str(APP / "b.css")))
    assert settle(batcher, clock).paths == {ASSETS / "a.css", APP / "b.css"}


def test_move_out_of_the_watched_roots_keeps_the_old_path(
    batcher: ChangeBatcher, clock: Clock
) -> None:
    batcher.add(FileMovedEvent(str(ASSETS / "a.css"), "/tmp/trash/a.css"))
    assert settle(batcher, clock).paths == {ASSETS / "a.css"}


def test_folder_events_carry_the_folder(batcher: ChangeBatcher, clock: Clock) -> None:
    batcher.add(DirCreatedEvent(str(ASSETS / "img")))
    batcher.add(DirMovedEvent(str(ASSETS / "old"), str(ASSETS / "new")))
    assert settle(batcher, clock).paths == {ASSETS / "img", ASSETS / "old", ASSETS / "new"}


def test_deleted_root_is_a_change(batcher: ChangeBatcher, clock: Clock) -> None:
    batcher.add(FileDeletedEvent(str(ASSETS)))
    assert settle(batcher, clock).paths == {ASSETS}


def test_spec_changes_are_marked_apart(batcher: ChangeBatcher, clock: Clock) -> None:
    batcher.add(FileModifiedEvent(str(SPEC)))
    batch = settle(batcher, clock)
    assert batch.spec_changed and batch.paths == frozenset()


def test_spec_saved_by_rename_is_a_spec_change(batcher: ChangeBatcher, clock: Clock) -> None:
    batcher.add(FileCreatedEvent(str(ROOT / "staticbuild.yaml~")))
    batcher.add(FileMovedEvent(str(ROOT / ".staticbuild.yaml.swp"), str(SPEC)))
    batcher.add(FileModifiedEvent(str(ASSETS / "a.css")))
    batch = settle(batcher, clock)
    assert batch.spec_changed and batch.paths == {ASSETS / "a.css"}


def test_bytes_paths_from_watchdog_are_decoded(batcher: ChangeBatcher, clock: Clock) -> None:
    batcher.add(FileModifiedEvent(str(ASSETS / "café.css").encode()))
    assert settle(batcher, clock).paths == {ASSETS / "café.css"}


def test_relative_segments_are_normalised(batcher: ChangeBatcher, clock: Clock) -> None:
    batcher.add(FileModifiedEvent(str(ASSETS) + "/css/../a.css"))
    assert settle(batcher, clock).paths == {ASSETS / "a.css"}


def test_destination_inside_a_source_is_still_ignored(clock: Clock) -> None:
    batcher = ChangeBatcher(
        watch_roots=[ROOT], spec_path=SPEC, ignore_roots=[ROOT / "out"], clock=clock
    )
    assert batcher.add(FileModifiedEvent(str(ROOT / "out/a.css"))) is False
    assert batcher.add(FileModifiedEvent(str(ROOT / "outside.css"))) is True


def test_set_roots_retargets_and_keeps_pending(batcher: ChangeBatcher, clock: Clock) -> None:
    batcher.add(FileModifiedEvent(str(ASSETS / "a.css")))
    batcher.set_roots(watch_roots=[ROOT / "vendor"], spec_path=SPEC, ignore_roots=[DEST])
    assert batcher.add(FileModifiedEvent(str(ASSETS / "b.css"))) is False
    assert batcher.add(FileModifiedEvent(str(ROOT / "vendor/x.js"))) is True
    assert settle(batcher, clock).paths == {ASSETS / "a.css", ROOT / "vendor/x.js"}


def test_flush_returns_pending_batch_at_once(batcher: ChangeBatcher) -> None:
    assert batcher.flush() is None
    batcher.add_path(ASSETS / "x.css")
    assert batcher.flush() == ChangeSet(frozenset({ASSETS / "x.css"}), False, 1)


@given(st.lists(st.text(alphabet="ab./~#", min_size=1, max_size=8), max_size=20))
def test_batches_hold_only_paths_inside_watch_roots(names: list[str]) -> None:
    clock = Clock()
    batcher = ChangeBatcher(
        watch_roots=[ASSETS],
        spec_path=SPEC,
        ignore_roots=[ASSETS / "b"],
        ignore_patterns=DEFAULT_IGNORE_PATTERNS,
        clock=clock,
    )
    for name in names:
        batcher.add(FileModifiedEvent(str(ASSETS) + "/" + name))
    batch = batcher.flush()
    ignored = IgnoreMatcher(DEFAULT_IGNORE_PATTERNS)
    for path in batch.paths if batch else ():
        assert path.is_relative_to(ASSETS) and not path.is_relative_to(ASSETS / "b")
        assert not any(ignored.matches(part) for part in path.relative_to(ASSETS).parts)


@pytest.mark.parametrize(
    ("events", "wait"),
    [
        ([FileModifiedEvent(str(ASSETS / "a.css"))], 0.05),
        ([FileModifiedEvent(str(ASSETS / "a.css")), FileClosedEvent(str(ASSETS / "a.css"))], 0.005),
        ([FileMovedEvent(str(ASSETS / "a.tmp"), str(ASSETS / "a.css"))], 0.005),
        ([FileClosedEvent(str(ASSETS / "a.css")), FileModifiedEvent(str(ASSETS / "b.css"))], 0.05),
        ([DirMovedEvent(str(ASSETS / "old"), str(ASSETS / "new"))], 0.05),
        ([FileClosedEvent(str(ASSETS / "a.css~"))], None),  # ignored: no batch at all
        ([FileClosedEvent(str(ASSETS / "a.css.tmp"))], 0.05),  # a temp: the save goes on
    ],
)
def test_a_finished_save_settles_quickly(
    batcher: ChangeBatcher, events: list[object], wait: float | None
) -> None:
    """IN_CLOSE_WRITE or a rename ends a save: wait `settle`, not the whole debounce."""
    for event in events:
        batcher.add(event)  # type: ignore[arg-type]
    assert batcher.time_until_ready() == (None if wait is None else pytest.approx(wait))
