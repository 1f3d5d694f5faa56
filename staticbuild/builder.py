"""The build session: keeps a snapshot of the source trees and the record between plans.

A :class:`Builder` turns a :class:`Project` into plans and applies them. The first plan walks
every root; later plans given ``changed`` paths (the watcher's) look only at those, so their
cost follows the change, not the tree.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

import msgspec

from staticbuild.actions import Compress, Copy, Delete, Inputs, Link, Plan, Update, Write, op_of
from staticbuild.errors import PlanError, StalePlanError
from staticbuild.finders import FileInfo, IgnoreMatcher
from staticbuild.observe import (
    blocked_parents,
    hash_sources,
    list_destination,
    observe_destination,
    outputs_still,
    unchanged_outputs,
)
from staticbuild.parallel import Background
from staticbuild.planner import MISSING, Decision, Desired, Observed, decide, make_plan
from staticbuild.project import Project
from staticbuild.snapshot import Snapshot, SourceInfos
from staticbuild.state import (
    OutputRecord,
    Settled,
    State,
    load_outputs,
    load_state,
    manifest_cache_of,
    mark_unfinished,
    read_settled,
    save_state,
    set_manifest_cache,
    source_records,
    state_changed,
    state_files,
    track,
    write_settled,
)

if TYPE_CHECKING:  # loaded where used: a proved no-op needs none of them
    from staticbuild.blobs import Blob
    from staticbuild.executor import Outcome
    from staticbuild.postprocess import Derived
    from staticbuild.storage.compress import CompressCache
    from staticbuild.storage.manifest import ManifestCache


#: fewer recorded outputs than this are looked at in-process: a fork costs more
STILL_FORK_THRESHOLD = 2000
#: Bump when a plan comes to depend on more than the project and the sources' stats.
INPUTS_KEY_VERSION = b"staticbuild-inputs/1"


@dataclass
class ApplyResult:
    destination: str
    link: bool
    copied: int = 0
    linked: int = 0
    unmodified: int = 0
    post_processed: int = 0
    compressed: int = 0
    deleted: int = 0
    #: what was written and deleted, kept as given: sorted only if asked for
    changes: tuple[Collection[str], ...] = field(default=(), repr=False)

    @property
    def changed_paths(self) -> tuple[str, ...]:
        """Destination paths written or deleted, sorted (what the dev server reloads)."""
        return tuple(sorted({path for paths in self.changes for path in paths}))

    def summary(self) -> str:
        """Django's collectstatic summary line (plus deletions, which Django never makes)."""
        modified = self.linked if self.link else self.copied + self.linked
        noun = "static file" if modified == 1 else "static files"
        verb = "symlinked" if self.link else "copied"
        text = f"{modified} {noun} {verb} to '{self.destination}'"
        if self.unmodified:
            text += f", {self.unmodified} unmodified"
        if self.post_processed:
            text += f", {self.post_processed} post-processed"
        if self.deleted:
            text += f", {self.deleted} deleted"
        return text + "."


@dataclass
class Work:
    """Work the last plan did, counted so tests can prove what was not redone."""

    sources_hashed: int = 0  # source files read to hash them (the stat cache missed)
    manifest_read: int = 0  # files the manifest engine read
    manifest_hashed: int = 0  # md5 computations for hashed names
    manifest_rewritten: int = 0  # CSS/JS files rewritten
    compressed: int = 0  # (content, encoding) compressions run
    #: the plan was proved empty from stats alone: nothing collected, derived or decoded
    proved_unchanged: bool = False


class _Looked(NamedTuple):
    desired: Mapping[str, Desired]
    observed: dict[str, Observed]
    decision: Decision
    foreign: list[str]


@dataclass
class _Context:
    """What a plan was decided from, kept so that applying it needs no second look."""

    plan: Plan
    decision: Decision
    desired: Mapping[str, Desired]
    observed: dict[str, Observed]
    infos: SourceInfos
    blobs: dict[str, Blob] = field(default_factory=dict)
    derived: Derived | None = None
    #: the key of a full plan's inputs (recorded when its apply finishes)
    key: str | None = None
    #: set when the plan was proved empty from the last apply's note
    proved: Settled | None = None
    #: how many outputs the plan wants (``desired`` may be let go of before the end)
    wanted: int = 0


#: the fields after ``target`` of a collected file's Desired, as its defaults give them
_PLAIN = (Desired._field_defaults["category"], Desired._field_defaults["encoding"])

_F = TypeVar("_F", bound=Callable[..., Any])


def _gc_paused(method: _F) -> _F:
    """Run ``method`` with the cyclic garbage collector paused.

    A plan makes a few small objects per file and frees almost none until it ends; with
    the collector on, every few hundred allocations it re-scans all of them, which costs
    a third of a no-op apply at 100k files. Cycles made meanwhile are collected later.
    """

    @functools.wraps(method)
    def paused(*args: Any, **kwargs: Any) -> Any:
        if not gc.isenabled():
            return method(*args, **kwargs)
        gc.disable()
        try:
            return method(*args, **kwargs)
        finally:
            gc.enable()

    return cast(_F, paused)


class Builder:
    """Plans and applies one project.

    ``incremental``: this builder will be asked for plans of changed paths (the watcher),
    so every full plan collects everything they build on, even when nothing changed.
    """

    @_gc_paused
    def __init__(self, project: Project, *, incremental: bool = False) -> None:
        self.project = project
        self.matcher = IgnoreMatcher(project.ignore_patterns)
        self.destination = project.destination_path
        self.state_dir = Path(project.state_dir)
        self.incremental = incremental
        self._state: State | None = None
        self._settled = None if incremental else read_settled(self.state_dir)
        self._snapshot: Snapshot | None = None
        self._context: _Context | None = None
        self._originals: dict[str, Desired] = {}
        self._applied_derived: dict[str, Desired] = {}
        self._compressor: CompressCache | None = None
        self._decoded_cache: ManifestCache | None | msgspec.UnsetType = msgspec.UNSET
        self.work = Work()
        self._manifest_changed = False
        self._memo_key: str | None = None  # derived afresh under this key, not yet saved
        self.warnings: list[str] = []

    @property
    def state(self) -> State:
        """The record, decoded the first time it is needed (a proved no-op never does)."""
        if self._state is None:
            self._state = load_state(self.state_dir, self.project.destination) or track(
                State(destination=self.project.destination, finished=False)
            )
        return self._state

    # -- planning -------------------------------------------------------------------------
    @_gc_paused
    def plan(self, changed: frozenset[Path] | None = None, *, with_inputs: bool = False) -> Plan:
        """What apply would do; with ``changed``, only for the destination paths those affect."""
        full = self._snapshot is None or changed is None
        provable = full and not with_inputs and not self.project.clear and not self.incremental
        settled = self._settled if provable else None
        if settled is not None:  # the child reads the records: this process may never need to
            count = settled.records
            look = functools.partial(self._outputs_still, self._state)
        else:
            records = self.state.outputs
            count = len(records)
            look = functools.partial(outputs_still, self.destination, records)
        # A full plan's other half: are the recorded outputs as they were left? A forked
        # child looks (an lstat each) while this process walks the sources.
        with Background(
            look, bytes, fork=full and not with_inputs and count >= STILL_FORK_THRESHOLD
        ) as still:
            return self._plan(full, changed, still, with_inputs, settled)

    def _outputs_still(self, state: State | None) -> bytes:
        if state is None:
            return outputs_still(
                self.destination, load_outputs(self.state_dir, self.project.destination)
            )
        return outputs_still(self.destination, state.outputs)

    def _plan(
        self,
        full: bool,
        changed: frozenset[Path] | None,
        still: Background[bytes],
        with_inputs: bool,
        settled: Settled | None,
    ) -> Plan:
        snapshot = self._snapshot
        inputs_key = None
        self.work.proved_unchanged = False
        if snapshot is None or changed is None:
            snapshot = self._snapshot = Snapshot(self.project.roots, self.matcher)
            self._originals = {}
            affected = set()  # everything: a full plan looks at every path anyway
            inputs_key = self._inputs_key(snapshot)
            if settled is not None and inputs_key == settled.key:
                flags = still.result()
                if len(flags) == settled.records and not flags.count(0):
                    return self._proved_plan(settled, snapshot)
        else:
            affected = snapshot.refresh(changed)
        self.warnings = list(snapshot.warnings)
        # Only post-processing, links and saved plans need every source's content up
        # front; otherwise a source is hashed when its destination exists (to compare)
        # or while it is copied.
        lazy = not with_inputs and not self._needs_content()
        self._update_originals(None if full else affected, lazy=lazy)
        key = None
        if full and self._derives():
            from staticbuild.memo import memo_key

            key = memo_key(self.project, self._originals)
        derived = self._recall(key)
        remembered = derived is not None
        if derived is None:
            derived = self._derive()
        looked = self._look(full, affected, derived, lazy, with_inputs, still)
        if remembered and any(isinstance(a, Write | Compress) for a in looked.decision.actions):
            derived = self._derive()  # bytes to write: the memo has names, not contents
            looked = self._look(full, affected, derived, lazy, with_inputs, still)
        self._memo_key = None if remembered else key
        desired, observed, decision, foreign = looked
        self.warnings.extend(derived.warnings)
        plan = self._make_plan(decision, collected=len(self._originals))
        if with_inputs:
            plan = msgspec.structs.replace(plan, inputs=self._inputs(desired, observed, foreign))
        self._context = _Context(
            plan,
            decision,
            desired,
            observed,
            snapshot.infos,
            derived.blobs,
            derived,
            inputs_key,
            wanted=len(desired),
        )
        return plan

    def _make_plan(self, decision: Decision, *, collected: int) -> Plan:
        return make_plan(
            decision,
            destination=self._display_destination(),
            storage=self.project.storage.kind,
            roots=[r.label for r in self.project.roots],
            collected=collected,
        )

    def _inputs_key(self, snapshot: Snapshot) -> str:
        """The options and every source's stat, as one digest: while it and the outputs'
        stats stay the same, so does the plan (stats vouch for content, as records do)."""
        h = hashlib.sha256(INPUTS_KEY_VERSION)
        h.update(msgspec.json.encode(msgspec.structs.replace(self.project, warnings=())))
        encode = msgspec.msgpack.Encoder().encode
        for files in snapshot.infos.by_root:
            h.update(encode(files))  # each listing in walk order: a reordering only misses
        return h.hexdigest()

    def _proved_plan(self, settled: Settled, snapshot: Snapshot) -> Plan:
        """The empty plan, proved by the last apply's note: nothing is collected or decoded."""
        self.warnings = [*snapshot.warnings, *settled.warnings]
        self.work.proved_unchanged = True
        no_actions = Decision((), (), (), ())
        plan = msgspec.structs.replace(
            self._make_plan(no_actions, collected=settled.collected), unmodified=settled.desired
        )
        self._context = _Context(plan, no_actions, {}, {}, snapshot.infos, proved=settled)
        self._snapshot = None  # nothing collected: a later plan starts from a full one
        return plan

    def _derives(self) -> bool:
        """Whether outputs are derived from the collected files (hashed names, siblings)."""
        storage = self.project.storage
        return self.project.post_process and (storage.kind == "manifest" or bool(storage.compress))

    def _hashes_names(self) -> bool:
        return self.project.post_process and self.project.storage.kind == "manifest"

    def _recall(self, key: str | None) -> Derived | None:
        if not key:
            return None
        from staticbuild.memo import recall
        from staticbuild.postprocess import Derived

        memo = recall(self.state_dir, key)
        if memo is None:
            return None
        return Derived(
            desired=memo.desired,
            warnings=memo.warnings,
            hashed=frozenset(memo.hashed),
            remembered=True,
        )

    def _manifest_cache(self) -> ManifestCache | None:
        """The manifest engine's cache, decoded from the state the first time it is needed."""
        if self._decoded_cache is msgspec.UNSET:
            self._decoded_cache = manifest_cache_of(self.state)
        assert not isinstance(self._decoded_cache, msgspec.UnsetType)
        return self._decoded_cache

    def _derive(self) -> Derived:
        from staticbuild.postprocess import derive

        roots = tuple(r.path for r in self.project.roots)
        compressed_before = self._compressor.stats.compressed if self._compressor else 0
        # md5s read with the sha256s: Django's hashed names need no second read.
        hints = (
            {r.digest: r.md5 for rs in self.state.sources.values() for r in rs.values() if r.md5}
            if self._hashes_names()
            else None
        )
        derived = derive(
            self.project,
            self._originals,
            roots,
            self._manifest_cache() if self._hashes_names() else None,
            self._compress_cache(),
            hints,
            self._snapshot.infos if self._snapshot else None,
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

    def _look(
        self,
        full: bool,
        affected: set[str],
        derived: Derived,
        lazy: bool,
        with_inputs: bool,
        still: Background[bytes],
    ) -> _Looked:
        """Observe the destination where it matters and decide what to do there."""
        # Generated outputs shadow the originals they replace (a dict merge is C speed;
        # lookups in a ChainMap cost a Python call per file).
        desired: Mapping[str, Desired] = (
            {**self._originals, **derived.desired} if derived.desired else self._originals
        )
        records = self.state.outputs
        unchanged: list[str] = []
        if full and not with_inputs:  # a saved plan records what it saw at every path
            flags = still.result()
            if len(flags) != len(records):  # the child read a record saved since: look again
                flags = outputs_still(self.destination, records)
            unchanged, rest = unchanged_outputs(desired, records, flags)
            scope = records.keys() - desired.keys()  # stale outputs
            scope.update(rest)
        elif full:
            scope = set(desired) | set(records)
        else:
            previous = self._applied_derived
            now = derived.desired
            scope = affected | {d for d, w in now.items() if previous.get(d) != w}
            scope |= {d for d in previous if d not in now}
        kept, expired = self._kept(derived.hashed)
        keep = {k for k in kept if k not in desired}
        if not full:
            # A manifest that just fell out of keep_previous was never in the last applied
            # outputs (kept files are not desired), so only the history names its files.
            scope |= {d for d in expired if d in records}
        self._check_destination()
        foreign: list[str] = []
        leftovers: list[str] = []
        if full and (self.project.clear or not self.state.finished):
            files, leftovers = list_destination(self.destination)
            if self.project.clear:
                foreign = [f for f in files if f not in desired and f not in records]
        observed = observe_destination(self.destination, scope, records)
        if lazy:
            self._hash_compared(observed)
        decision = decide(
            desired, observed, records, scope, foreign=foreign, leftovers=leftovers, keep=keep
        )
        if unchanged:
            decision = decision._replace(unmodified=(*unchanged, *decision.unmodified))
        self._check_parents(decision, observed)
        return _Looked(desired, observed, decision, foreign)

    def _needs_content(self) -> bool:
        return self.project.link or self._derives()

    def _update_originals(self, affected: set[str] | None, *, lazy: bool = False) -> None:
        """Desired outputs for the collected files at ``affected`` destination paths, or at
        all of them (with ``lazy``, sources the record cannot vouch for get an unknown
        digest)."""
        snapshot = self._snapshot
        assert snapshot is not None
        roots = [r.path for r in self.project.roots]
        listings = snapshot.infos.by_root
        originals = self._originals
        winners = snapshot.winners
        # One pass: a source whose stat matches its record is settled here; only the
        # rest (new or changed files) go on to be hashed.
        records = [source_records(self.state, root) for root in roots]
        md5 = self._hashes_names()
        link = self.project.link
        mode = "link" if link else "copy"
        misses: dict[str, FileInfo] = {}
        missed: list[tuple[str, int, str, str, FileInfo]] = []
        if affected is None:
            originals.clear()
            triples: Iterable[tuple[str, int, str]] = winners.triples()
        else:
            for dest in affected:
                originals.pop(dest, None)
            triples = ((dest, *w) for dest in affected if (w := winners.get(dest)) is not None)
        want = tuple.__new__  # Desired(...) without its Python-level __new__: a call per file
        for dest, root, rel in triples:
            info = listings[root][rel]
            record = records[root].get(rel)
            if (
                record is not None
                and record.mtime_ns == info.mtime_ns
                and record.ino == info.ino
                and record.size == info.size
                and (record.md5 or not md5)
            ):
                digest = record.digest
            elif lazy:  # hashed later, if at all: while copied, or to compare
                digest = ""
            else:
                path = f"{roots[root]}/{rel}"
                misses[path] = info
                missed.append((dest, root, rel, path, info))
                continue
            target = f"{roots[root]}/{rel}" if link else None
            originals[dest] = want(Desired, (digest, info.size, mode, root, rel, target, *_PLAIN))
        fresh, self.work.sources_hashed = hash_sources(misses, md5=md5)
        for dest, root, rel, path, info in missed:
            record = records[root][rel] = fresh[path]
            target = path if link else None
            originals[dest] = Desired(record.digest, info.size, mode, root, rel, target)

    def _hash_compared(self, observed: Mapping[str, Observed]) -> None:
        """Digests for the unknown sources whose destination exists: only content can tell
        whether that file is already right."""
        snapshot = self._snapshot
        assert snapshot is not None
        roots = self.project.roots
        originals = self._originals
        unknown = {
            dest: want
            for dest, seen in observed.items()  # every path in scope that holds something
            if (want := originals.get(dest)) is not None and not want.digest
        }
        if not unknown:
            return
        paths = {dest: f"{roots[w.root].path}/{w.origin}" for dest, w in unknown.items()}
        files = {paths[dest]: snapshot.infos[w.root, w.origin] for dest, w in unknown.items()}
        fresh, hashed = hash_sources(files)
        self.work.sources_hashed += hashed
        for dest, want in unknown.items():
            record = fresh[paths[dest]]
            source_records(self.state, roots[want.root].path)[want.origin] = record
            self._originals[dest] = want._replace(digest=record.digest)

    def _compress_cache(self) -> CompressCache | None:
        if not self.project.storage.compress:
            return None
        if self._compressor is None:
            from staticbuild.storage.compress import CompressCache

            self._compressor = CompressCache(self.state_dir / "compress")
        return self._compressor

    def _kept(self, current: frozenset[str]) -> tuple[set[str], set[str]]:
        """Hashed outputs of the previous ``keep_previous`` manifests (for old pages), and
        those of older manifests (to delete; only with ``keep_previous``, else empty)."""
        count = self.project.storage.keep_previous
        if not count:
            return set(), set()
        history = [set(h) for h in self.state.history if set(h) != current]
        kept: set[str] = set().union(*history[:count])
        return kept, set().union(*history[count:]) - kept

    def _check_destination(self) -> None:
        if self.destination.exists() and not self.destination.is_dir():
            raise PlanError(f"destination {str(self.destination)!r} exists and is not a folder")

    def _check_parents(self, decision: Decision, observed: dict[str, Observed]) -> None:
        if not self.destination.is_dir():  # nothing in the way of anything yet
            return
        writes = [
            a.path
            for a in decision.actions
            if not isinstance(a, Delete) and observed.get(a.path, MISSING).kind == "missing"
        ]
        removable = {a.path for a in decision.actions if isinstance(a, Delete)}
        blocked = blocked_parents(self.destination, writes, removable)
        if blocked:
            raise PlanError(
                f"a file is in the way of a folder needed for destination path "
                f"{blocked[0]!r}; move it away or remove it"
            )

    def _display_destination(self) -> str:
        spec_dir = os.path.dirname(self.project.spec_path)
        rel = os.path.relpath(self.project.destination, spec_dir)
        return rel if not rel.startswith("..") else self.project.destination

    def _inputs(
        self, desired: Mapping[str, Desired], observed: dict[str, Observed], foreign: list[str]
    ) -> Inputs:
        options = msgspec.json.encode(msgspec.structs.replace(self.project, warnings=()))
        # Every path in the plan's scope (wanted or recorded); observed leaves out the missing.
        dest = dict.fromkeys(desired.keys() | self.state.outputs.keys(), "missing:")
        dest.update((p, f"{o.kind}:{o.digest or o.target or ''}") for p, o in observed.items())
        dest.update(dict.fromkeys(foreign, "foreign"))
        return Inputs(
            spec=self.project.spec_digest,
            options=hashlib.sha256(options).hexdigest(),
            sources={d: w.digest for d, w in sorted(desired.items())},
            destination=dict(sorted(dest.items())),
        )

    # -- applying -------------------------------------------------------------------------
    @_gc_paused
    def apply(
        self, plan: Plan | None = None, *, progress: Callable[[int], None] | None = None
    ) -> ApplyResult:
        """Carry out ``plan`` (made by this builder, or loaded from a saved plan file)."""
        if plan is None:
            plan = self.plan()
        elif self._context is None or self._context.plan is not plan:
            plan = self._verify_saved(plan)
        context = self._context
        assert context is not None and context.plan is plan
        if context.proved is not None:
            self._context = None
            return ApplyResult(
                str(self.destination), self.project.link, unmodified=context.proved.originals
            )
        self._settled = None  # true again only once this apply has finished
        state = self.state
        recovering = not state.finished  # an interrupted apply's note is cleared by saving
        if plan.actions:
            state.finished = False
            mark_unfinished(self.state_dir)
        outcome = self._execute(context, progress)
        state.finished = outcome.error is None
        if outcome.error is None:
            self._record_derived(context)
        if (
            plan.actions
            or outcome.error
            or recovering
            or state_changed(state)
            or self._manifest_changed
        ):
            save_state(self.state_dir, state, manifest_changed=self._manifest_changed)
            self._manifest_changed = False
        self._context = None
        if outcome.error is not None:
            raise outcome.error
        # The collected files left as they were: all but the generated ones.
        unmodified = context.decision.unmodified
        generated = context.derived.desired if context.derived else {}
        originals = len(unmodified) - len(generated.keys() & unmodified)
        self._settle(context, len(generated))
        return self._result(plan, outcome.written, outcome.deleted, originals)

    def _execute(self, context: _Context, progress: Callable[[int], None] | None) -> Outcome:
        """Run the plan's actions and file what they made (and what the plan adopted or
        forgot) in the state's records."""
        from staticbuild.executor import Sources, execute

        state = self.state
        records = state.outputs
        sources = Sources(
            tuple(r.path for r in self.project.roots),
            context.infos,
            context.blobs,
            self._present_files(context) if self.project.hard_links else None,
        )
        if not self.incremental:
            self._release_wants(context)
        # A first apply files its records straight into the (empty) record: 100,000 are
        # then not held twice. Past a bound the record stops noting keys one by one.
        fill = None if records or context.decision.adopt else records
        outcome = execute(
            self.destination,
            context.plan.actions,
            sources,
            functools.partial(source_records, state),
            durable=self.project.durable,
            progress=progress,
            written=fill,
        )
        del sources
        if not self.incremental:  # the listing has served: its table makes room for the records'
            context.infos = SourceInfos(())
        if fill is None:
            records.update(outcome.written)
        for path in outcome.deleted:
            records.pop(path, None)
        for path in context.decision.forget:
            records.pop(path, None)
        for path in context.decision.adopt:
            seen = context.observed[path]
            want = context.desired[path]
            records[path] = OutputRecord(
                want.digest, seen.size, seen.mtime_ns, seen.ino, link=seen.target
            )
        return outcome

    def _release_wants(self, context: _Context) -> None:
        """Let go of the plan's per-file wants (the actions carry what the apply needs):
        about 15 MB at 100,000 files, while the records the apply makes take their place.
        The next plan of this builder is then a full one, which collects them afresh."""
        context.desired = {path: context.desired[path] for path in context.decision.adopt}
        self._originals = {}
        self._snapshot = None

    def _settle(self, context: _Context, generated: int) -> None:
        """Note what this finished full apply left, for a later plan to prove a no-op by."""
        if context.key is None:
            return
        desired = context.wanted
        settled = Settled(
            context.key,
            collected=context.plan.collected,
            desired=desired,
            originals=desired - generated,
            records=len(self.state.outputs),
            warnings=context.derived.warnings if context.derived else (),
            files=state_files(self.state_dir),
        )
        if settled != self._settled:
            write_settled(self.state_dir, settled)
        self._settled = settled

    def _present_files(self, context: _Context) -> dict[str, tuple[str, int]] | None:
        """Regular files left in place, by content: what generated files may link to."""
        if not any(isinstance(a, Write | Compress) for a in context.plan.actions):
            return None
        present: dict[str, tuple[str, int]] = {}
        observed = context.observed
        records = self.state.outputs
        for path in context.decision.unmodified:
            seen = observed.get(path)
            if seen is None:  # vouched for by its record without a full look
                record = records.get(path)
                if record is not None and record.link is None:
                    present.setdefault(record.digest, (path, record.ino))
            elif seen.kind == "file" and seen.digest:
                present.setdefault(seen.digest, (path, seen.ino))
        return present

    def _record_derived(self, context: _Context) -> None:
        derived = context.derived
        if derived is None:
            return
        self._applied_derived = derived.desired
        state = self.state
        if not derived.remembered and derived.manifest_cache != self._manifest_cache():
            set_manifest_cache(state, derived.manifest_cache)
            self._decoded_cache = derived.manifest_cache
            self._manifest_changed = True
        if self._memo_key is not None:
            from staticbuild.memo import remember

            remember(
                self.state_dir, self._memo_key, derived.desired, derived.hashed, derived.warnings
            )
            self._memo_key = None
        if not state.history or frozenset(state.history[0]) != derived.hashed:
            state.history.insert(0, sorted(derived.hashed))
            del state.history[self.project.storage.keep_previous + 1 :]

    def _verify_saved(self, saved: Plan) -> Plan:
        if saved.inputs is None:
            raise StalePlanError("the plan file has no recorded inputs; save it with 'plan --out'")
        fresh = self.plan(with_inputs=True)
        assert fresh.inputs is not None
        changed = _first_difference(saved.inputs, fresh.inputs)
        if changed is None and fresh.actions != saved.actions:
            changed = "the planned actions"
        if changed is not None:
            raise StalePlanError(
                f"the saved plan is out of date: {changed} changed since it was "
                "made; run 'staticbuild plan' again"
            )
        return fresh

    def _result(
        self, plan: Plan, written: dict[str, OutputRecord], deleted: list[str], unmodified: int
    ) -> ApplyResult:
        result = ApplyResult(
            str(self.destination),
            self.project.link,
            unmodified=unmodified,
            deleted=len(deleted),
        )
        done: dict[type, int] = {}
        for action in plan.actions:
            if action.path in written:
                kind = type(action)
                if kind is Update and cast(Update, action).mode == "link":
                    kind = Link
                done[kind] = done.get(kind, 0) + 1
        result.copied = done.get(Copy, 0) + done.get(Update, 0)
        result.linked = done.get(Link, 0)
        result.post_processed = done.get(Write, 0)
        result.compressed = done.get(Compress, 0)
        # A copy of the names: a first apply's ``written`` is the state's own table.
        result.changes = (tuple(written), deleted)
        return result


def _first_difference(old: Inputs, new: Inputs) -> str | None:
    if old.spec != new.spec:
        return "the spec file"
    if old.options != new.options:
        return "the options (command-line flags or resolved folders)"
    for name, before, after in (
        ("source of", old.sources, new.sources),
        ("destination file", old.destination, new.destination),
    ):
        for path in sorted(before.keys() | after.keys()):
            if before.get(path) != after.get(path):
                return f"{name} {path!r}"
    return None


__all__ = ["ApplyResult", "Builder", "op_of"]
