"""Derived outputs across one builder's plans: hashed names, rewritten CSS/JS, siblings.

What carries over from plan to plan lives here: the engines' caches (the manifest
engine's, decoded from the state once; the content-addressed compression cache), the memo
of the last derivation (a plan whose inputs match it recalls the outputs' names instead of
deriving them), and what the last apply wrote (a watcher's next plan compares against it).
The engines themselves load only when something is derived.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from staticbuild.finders import FileInfo
from staticbuild.planner import Desired
from staticbuild.project import Project
from staticbuild.reports import Work
from staticbuild.state import State, manifest_cache_of, set_manifest_cache

if TYPE_CHECKING:
    from staticbuild.postprocess import Derived
    from staticbuild.storage.compress import CompressCache
    from staticbuild.storage.manifest_cache import ManifestCache


class Derivation:
    """The derived outputs of one project's plans; ``state`` gives the record when needed."""

    def __init__(
        self, project: Project, state_dir: Path, state: Callable[[], State], work: Work
    ) -> None:
        self.project = project
        self.state_dir = state_dir
        self._state = state
        self.work = work
        storage = project.storage
        #: outputs are derived from the collected files (hashed names, siblings)
        self.enabled = project.post_process and (
            storage.kind == "manifest" or bool(storage.compress)
        )
        #: Django's hashed names: the sources' records carry their md5 too
        self.hashes_names = project.post_process and storage.kind == "manifest"
        #: the derived outputs the last apply wrote; None marks one that an apply which did
        #: not finish was to write (it may be there or not, old or new)
        self.applied: Mapping[str, Desired | None] = {}
        #: the manifest engine's cache changed: the state's copy must be saved
        self.manifest_changed = False
        self._compressor: CompressCache | None = None
        self._decoded_cache: ManifestCache | None | msgspec.UnsetType = msgspec.UNSET
        self._memo_key: str | None = None  # derived afresh under this key, not yet saved

    def recall(self, originals: Mapping[str, Desired]) -> Derived | None:
        """The last derivation's outputs (names and digests, no bytes) if what they depend
        on is unchanged; otherwise None, and the next :meth:`record` saves a new memo."""
        if not self.enabled:
            return None
        from staticbuild.memo import memo_key, recall
        from staticbuild.postprocess import Derived

        key = memo_key(self.project, originals)
        memo = recall(self.state_dir, key) if key else None
        if memo is None:
            self._memo_key = key
            return None
        self._memo_key = None
        return Derived(
            desired=memo.desired,
            warnings=memo.warnings,
            hashed=frozenset(memo.hashed),
            remembered=True,
        )

    def forget_memo(self) -> None:
        """A plan of changed paths: nothing to save a memo under."""
        self._memo_key = None

    def derive(
        self, originals: Mapping[str, Desired], infos: Mapping[tuple[int, str], FileInfo] | None
    ) -> Derived:
        """Derive for real: the engines run (each over what its caches do not hold)."""
        from staticbuild.postprocess import derive

        roots = tuple(r.path for r in self.project.roots)
        compressed_before = self._compressor.stats.compressed if self._compressor else 0
        state = self._state()
        # md5s read with the sha256s: Django's hashed names need no second read.
        hints = (
            {r.digest: r.md5 for rs in state.sources.values() for r in rs.values() if r.md5}
            if self.hashes_names
            else None
        )
        derived = derive(
            self.project,
            originals,
            roots,
            self._manifest_cache() if self.hashes_names else None,
            self.compress_cache(),
            hints,
            infos,
        )
        self.work.compressed = (
            self._compressor.stats.compressed - compressed_before if self._compressor else 0
        )
        stats = derived.manifest_stats
        if stats is not None:
            self.work.manifest_read = stats.read
            self.work.manifest_hashed = stats.hashed
            self.work.manifest_rewritten = stats.rewritten
        return derived

    def attempt(self, derived: Derived) -> None:
        """Before an apply of ``derived``: until it finishes, each output it writes may or
        may not be there, and each it deletes may still be. Both stay in what the next plan
        of changed paths compares against: a failed apply (a source edited while it ran,
        which a watcher meets often) keeps what it wrote, and that plan must delete what it
        wrote and no longer wants, as a full plan would."""
        applied = self.applied
        unsure = {p: None for p, want in derived.desired.items() if applied.get(p) != want}
        if unsure:  # a new dict: ``applied`` may be a Derived's own
            self.applied = {**applied, **unsure}

    def record(self, derived: Derived) -> None:
        """After a finished apply: keep what it wrote, its engine cache, memo and history."""
        self.applied = derived.desired
        state = self._state()
        if not derived.remembered and derived.manifest_cache != self._manifest_cache():
            set_manifest_cache(state, derived.manifest_cache)
            self._decoded_cache = derived.manifest_cache
            self.manifest_changed = True
        if self._memo_key is not None:
            from staticbuild.memo import remember

            remember(
                self.state_dir, self._memo_key, derived.desired, derived.hashed, derived.warnings
            )
            self._memo_key = None
        if not self.hashes_names:
            return  # no manifest made: the history of the last ones stays as it is
        if not state.history or frozenset(state.history[0]) != derived.hashed:
            state.history.insert(0, sorted(derived.hashed))
            del state.history[self.project.storage.keep_previous + 1 :]

    def kept(self, current: frozenset[str]) -> tuple[set[str], set[str]]:
        """Hashed outputs of the previous ``keep_previous`` manifests (for old pages), and
        those of older manifests (to delete; only with ``keep_previous``, else empty)."""
        count = self.project.storage.keep_previous if self.hashes_names else 0
        if not count:  # (no manifest now: nothing of an earlier one is kept)
            return set(), set()
        history = [set(h) for h in self._state().history if set(h) != current]
        kept: set[str] = set().union(*history[:count])
        return kept, set().union(*history[count:]) - kept

    def left_as_is(
        self,
        scope: Collection[str],
        records: Mapping[str, object],
        desired: Mapping[str, Desired],
    ) -> set[str]:
        """Of the recorded outputs in ``scope``: with post-processing off (and no ``clear``),
        what the last post-processing wrote stays as it is, as with ``collectstatic
        --no-post-process``: the manifest and its hashed files still serve the pages that
        name them. Siblings stay with a file that stays."""
        if self.project.post_process or self.project.clear:
            return set()
        hashed: set[str] = set().union(*self._state().history)  # kept manifests' too
        storage = self.project.storage
        if storage.kind == "manifest":
            hashed.add(storage.manifest_name)
        stale = [p for p in scope if p in records and p not in desired]
        left = {p for p in stale if p in hashed}
        for path in stale:
            if path.endswith((".gz", ".br")) and (path[:-3] in desired or path[:-3] in hashed):
                left.add(path)
        return left

    def compress_cache(self) -> CompressCache | None:
        if not self.project.storage.compress:
            return None
        if self._compressor is None:
            from staticbuild.storage.compress import CompressCache

            self._compressor = CompressCache(self.state_dir / "compress")
        return self._compressor

    def _manifest_cache(self) -> ManifestCache | None:
        """The manifest engine's cache, decoded from the state the first time it is needed."""
        if self._decoded_cache is msgspec.UNSET:
            self._decoded_cache = manifest_cache_of(self._state())
        assert not isinstance(self._decoded_cache, msgspec.UnsetType)
        return self._decoded_cache
