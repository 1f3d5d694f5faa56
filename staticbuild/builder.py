"""The build session: keeps a snapshot of the source trees and the record between plans.

A :class:`Builder` turns a :class:`Project` into plans and applies them. The first plan walks
every root; later plans given ``changed`` paths (the watcher's) look only at those, so their
cost follows the change, not the tree.

It holds the session together; each step is elsewhere: :mod:`~staticbuild.collect` (what
the collected files ask for), :mod:`~staticbuild.derivation` (hashed names and siblings),
:mod:`~staticbuild.observe` and :mod:`~staticbuild.planner` (what is there, what to do),
:mod:`~staticbuild.executor` (doing it), :mod:`~staticbuild.settled` (a no-op proved from
stats), :mod:`~staticbuild.saved_plans` and :mod:`~staticbuild.reports`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import msgspec

from staticbuild.actions import Compress, Delete, Plan, Update, Write
from staticbuild.collect import collect_originals, hash_compared
from staticbuild.derivation import Derivation
from staticbuild.errors import PlanError, StalePlanError, StaticbuildError
from staticbuild.finders import IgnoreMatcher, shadowed
from staticbuild.gc_paused import gc_paused
from staticbuild.lock import project_lock
from staticbuild.observe import (
    check_parents,
    check_vacated,
    list_destination,
    observe_destination,
    outputs_still,
    unchanged_outputs,
)
from staticbuild.parallel import Background
from staticbuild.planner import Decision, Desired, Observed, decide, make_plan
from staticbuild.project import Project, keep_in_cache
from staticbuild.reports import ApplyResult, Work, apply_result
from staticbuild.saved_plans import plan_inputs, refuse_if_stale
from staticbuild.settled import Settled, inputs_key, read_settled, state_files, write_settled
from staticbuild.snapshot import Snapshot, SourceInfos
from staticbuild.state import (
    OutputRecord,
    State,
    adopt_outputs,
    fresh_state,
    load_outputs,
    load_state,
    mark_unfinished,
    read_pending,
    save_state,
    source_records,
    state_changed,
)

if TYPE_CHECKING:  # loaded where used: a proved no-op needs none of them
    from staticbuild.blobs import Blob
    from staticbuild.bucket import Bucket
    from staticbuild.executor import Outcome
    from staticbuild.postprocess import Derived


#: fewer recorded outputs than this are looked at in-process: a fork costs more
STILL_FORK_THRESHOLD = 2000


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
    #: found files that lost to an earlier one with the same destination path
    skipped: int = 0


class Builder:
    """Plans and applies one project.

    ``incremental``: this builder will be asked for plans of changed paths (the watcher),
    so every full plan collects everything they build on, even when nothing changed.
    """

    @gc_paused
    def __init__(self, project: Project, *, incremental: bool = False) -> None:
        self.project = project
        self.matcher = IgnoreMatcher(project.ignore_patterns)
        self.destination = project.destination_path
        #: an s3:// destination; None for a folder
        self.bucket = _bucket_of(project)
        self.state_dir = Path(project.state_dir)
        self.incremental = incremental
        self._root_paths = tuple(r.path for r in project.roots)
        self._home = os.path.dirname(project.spec_path)  # the folder that holds the spec
        self._originals: dict[str, Desired] = {}
        self.work = Work()
        self.warnings: list[str] = []
        self._read_record_afresh()

    def _read_record_afresh(self) -> None:
        """Forget what was read of the record, and what was built on it: the next plan
        reads the record (and the last apply's note) as they are on disk."""
        self._state: State | None = None
        #: the record files' stats when this builder read or last saved them
        self._record_seen: tuple[tuple[int, int, int], ...] | None = None
        self._settled = None if self.incremental else read_settled(self.state_dir)
        self._snapshot: Snapshot | None = None
        self._context: _Context | None = None
        self._derivation = Derivation(self.project, self.state_dir, lambda: self.state, self.work)

    @property
    def state(self) -> State:
        """The record, decoded the first time it is needed (a proved no-op never does)."""
        if self._state is None:
            self._record_seen = state_files(self.state_dir)  # before reading: a save since shows
            state = load_state(
                self.state_dir,
                self.project.destination,
                home=self._home,
                outputs=not self._destination_empty(),
            ) or fresh_state(self.project.destination, self._home)
            if self.bucket is not None:  # the bucket's own record: another machine may deploy
                kept = self.bucket.load_record()
                if kept is not None:
                    adopt_outputs(state, kept.outputs, kept.history)
            self._state = state
        return self._state

    def _destination_empty(self) -> bool:
        """Nothing at the destination (a CI job's fresh start): no recorded output exists."""
        if self.bucket is not None:
            return not self.bucket.listing()
        try:
            with os.scandir(self.destination) as entries:
                return next(entries, None) is None
        except FileNotFoundError:
            return True
        except OSError:
            return False  # not a folder, or unreadable: the plan says so

    # -- planning -------------------------------------------------------------------------
    @gc_paused
    def plan(self, changed: frozenset[Path] | None = None, *, with_inputs: bool = False) -> Plan:
        """What apply would do; with ``changed``, only for the destination paths those affect."""
        full = self._snapshot is None or changed is None
        if full:
            self._forget_if_saved_elsewhere()
        if self.bucket is not None and full:  # a full plan sees the bucket as it is now
            self.bucket.forget_listing()
            self._state = None  # and its record (another machine may have applied)
        provable = (
            full
            and not with_inputs
            and not self.project.clear
            and not self.incremental
            and self.bucket is None  # a bucket is proved by its listing, not by stats
        )
        settled = self._settled if provable else None
        if settled is not None and settled.records and self._destination_empty():
            settled = None  # every recorded output is gone: nothing to prove or look at
        if settled is not None:  # the child reads the records: this process may never need to
            count = settled.records
            look = functools.partial(self._outputs_still, self._state)
        else:
            records = self.state.outputs
            count = len(records)
            look = functools.partial(self._outputs_now, records)
        # A full plan's other half: are the recorded outputs as they were left? A forked
        # child looks (an lstat each) while this process walks the sources.
        fork = full and not with_inputs and count >= STILL_FORK_THRESHOLD and not self.bucket
        with Background(look, bytes, fork=fork) as still:
            return self._plan(full, changed, still, with_inputs, settled)

    def conflicts(self) -> list[str]:
        """The destination path of each found file that an earlier one with the same path
        shadows (collectstatic's "skipped due to conflict"), in search order, as the plan
        waiting to be applied found them; empty when no plan is waiting."""
        context = self._context
        if context is None:
            return []
        return shadowed(context.infos.by_root, self.project.roots)

    def reaches(self, path: Path) -> bool:
        """Whether a symlink the last plan followed leads to ``path`` or through it (see
        :meth:`Snapshot.reaches`); False before a plan."""
        return self._snapshot is not None and self._snapshot.reaches(path)

    def _outputs_now(self, records: Mapping[str, OutputRecord]) -> bytes:
        if self.bucket is not None:
            return self.bucket.outputs_still(records)
        return outputs_still(self.destination, records)

    def _outputs_still(self, state: State | None) -> bytes:
        if state is None:
            return outputs_still(
                self.destination,
                load_outputs(self.state_dir, self.project.destination, self._home),
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
        key_now = None
        self.work.proved_unchanged = False
        if snapshot is None or changed is None:
            snapshot = self._snapshot = Snapshot(self.project.roots, self.matcher)
            self._originals = {}
            affected = set()  # everything: a full plan looks at every path anyway
            key_now = inputs_key(self.project, snapshot)
            if settled is not None and key_now == settled.key:
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
        self.work.sources_hashed = collect_originals(
            self._originals,
            snapshot,
            self.state,
            self._root_paths,
            None if full else affected,
            lazy=lazy,
            md5=self._derivation.hashes_names,
            link=self.project.link,
        )
        derivation = self._derivation
        infos = snapshot.infos
        if full:
            derived = derivation.recall(self._originals)
        else:
            derivation.forget_memo()
            derived = None
        remembered = derived is not None
        if derived is None:
            derived = derivation.derive(self._originals, infos)
        looked = self._look(full, affected, derived, lazy, with_inputs, still)
        if remembered and any(isinstance(a, Write | Compress) for a in looked.decision.actions):
            derived = derivation.derive(self._originals, infos)  # the memo has no bytes
            looked = self._look(full, affected, derived, lazy, with_inputs, still)
        desired, observed, decision, foreign = looked
        self.warnings.extend(derived.warnings)
        plan = self._make_plan(decision, collected=len(self._originals))
        if with_inputs:
            inputs = plan_inputs(self.project, desired, observed, foreign, self.state.outputs)
            plan = msgspec.structs.replace(plan, inputs=inputs)
        self._context = _Context(
            plan,
            decision,
            desired,
            observed,
            snapshot.infos,
            derived.blobs,
            derived,
            key_now,
            wanted=len(desired),
            # every file found, less the destination paths they give: the losers
            skipped=len(snapshot.infos) - len(self._originals),
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

    def _proved_plan(self, settled: Settled, snapshot: Snapshot) -> Plan:
        """The empty plan, proved by the last apply's note: nothing is collected or decoded."""
        self.warnings = [*snapshot.warnings, *settled.warnings]
        self.work.proved_unchanged = True
        no_actions = Decision((), (), (), ())
        plan = msgspec.structs.replace(
            self._make_plan(no_actions, collected=settled.collected), unmodified=settled.desired
        )
        self._context = _Context(
            plan, no_actions, {}, {}, snapshot.infos, proved=settled, skipped=settled.skipped
        )
        self._snapshot = None  # nothing collected: a later plan starts from a full one
        return plan

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
                flags = self._outputs_now(records)
            unchanged, rest = unchanged_outputs(desired, records, flags)
            scope = records.keys() - desired.keys()  # stale outputs
            scope.update(rest)
        elif full:
            scope = set(desired) | set(records)
        else:
            previous = self._derivation.applied
            now = derived.desired
            scope = affected | {d for d, w in now.items() if previous.get(d) != w}
            scope |= {d for d in previous if d not in now}
        kept, expired = self._derivation.kept(derived.hashed)
        keep = {k for k in kept if k not in desired}
        if not full:
            # A manifest that just fell out of keep_previous was never in the last applied
            # outputs (kept files are not desired), so only the history names its files.
            scope |= {d for d in expired if d in records}
        self._check_destination()
        # What an interrupted apply was about to write: its files, recorded or not.
        pending = read_pending(self.state_dir) if full and not self.state.finished else frozenset()
        scope |= pending.difference(unchanged)  # those are settled: their records vouch
        keep |= self._derivation.left_as_is(scope, records, desired)
        foreign: list[str] = []
        leftovers: list[str] = []
        if full and (self.project.clear or not self.state.finished):
            if self.bucket is not None:
                files = self.bucket.files()  # an upload is whole or absent: no leftovers
            else:
                files, leftovers = list_destination(self.destination)
            if self.project.clear:
                foreign = [f for f in files if f not in desired and f not in records]
        if self.bucket is not None:
            self.bucket.refuse_reserved(desired)
            content = functools.partial(self._wanted_content, desired, derived.blobs)
            observed = self.bucket.observe(scope, records, content)
        else:
            observed = observe_destination(self.destination, scope, records)
        if lazy:
            assert self._snapshot is not None
            self.work.sources_hashed += hash_compared(
                self._originals,
                self._snapshot,
                self.state,
                self._root_paths,
                observed,
            )
        decision = decide(
            desired,
            observed,
            records,
            scope,
            foreign=foreign,
            leftovers=leftovers,
            keep=keep,
            pending=pending,
        )
        if unchanged:
            decision = decision._replace(unmodified=(*unchanged, *decision.unmodified))
        if self.bucket is None:  # keys have no folders to be in the way
            check_parents(self.destination, decision, observed)
            check_vacated(self.destination, decision)
        return _Looked(desired, observed, decision, foreign)

    def _wanted_content(
        self, desired: Mapping[str, Desired], blobs: Mapping[str, Blob], path: str
    ) -> tuple[str, str] | None:
        """The md5 and digest of what ``path`` should hold (None: nothing, or the bytes
        are not at hand): an object the record does not vouch for is compared by it."""
        from staticbuild.bucket import content_md5
        from staticbuild.copying import blob_bytes, read_source

        want = desired.get(path)
        if want is None or want.mode == "link":
            return None
        try:
            if want.root >= 0:
                data = read_source(os.path.join(self._root_paths[want.root], want.origin), None)
            else:
                blob = blobs.get(want.digest)
                if blob is None:
                    return None
                data = blob_bytes(blob, want.digest)
        except (OSError, StaticbuildError):  # changed meanwhile: compared as different
            return None
        return content_md5(data), want.digest

    def _needs_content(self) -> bool:
        # An upload needs its digest for the record, and a bucket cannot hash on the way.
        return self.project.link or self._derivation.enabled or self.bucket is not None

    def _check_destination(self) -> None:
        if self.bucket is not None:
            return  # the listing has shown that the bucket is there and can be read
        if self.destination.exists() and not self.destination.is_dir():
            raise PlanError(f"destination {str(self.destination)!r} exists and is not a folder")

    def _display_destination(self) -> str:
        if self.bucket is not None:
            return self.project.destination
        spec_dir = os.path.dirname(self.project.spec_path)
        rel = os.path.relpath(self.project.destination, spec_dir)
        return rel if not rel.startswith("..") else self.project.destination

    # -- applying -------------------------------------------------------------------------
    @gc_paused
    def apply(
        self, plan: Plan | None = None, *, progress: Callable[[int], None] | None = None
    ) -> ApplyResult:
        """Carry out ``plan`` (made by this builder, or loaded from a saved plan file)."""
        if plan is None:
            plan = self.plan()
        elif self._context is None or self._context.plan is not plan:
            plan = self.verify_saved(plan)
        context = self._context
        assert context is not None and context.plan is plan
        if context.proved is not None:
            self._context = None
            proved = context.proved
            return ApplyResult(
                self._where, self.project.link, unmodified=proved.originals, skipped=proved.skipped
            )
        with project_lock(self.state_dir, "apply"):
            self._check_record_unchanged()
            return self._apply_locked(plan, context, progress)

    def _forget_if_saved_elsewhere(self) -> bool:
        """Drop what this builder read of the record if another process has saved it since
        (a long-lived builder then plans from the record as it is now)."""
        if self._record_seen is None or state_files(self.state_dir) == self._record_seen:
            return False
        self._read_record_afresh()
        return True

    def _check_record_unchanged(self) -> None:
        """Under the lock: refuse to apply a plan made from a record another process has
        saved over since (its save would be lost, and the plan may be wrong)."""
        if not self._forget_if_saved_elsewhere():
            return
        raise StalePlanError(
            f"another staticbuild process applied this project since the plan was made "
            f"(its record in {str(self.state_dir)!r} changed); run the plan again"
        )

    def _apply_locked(
        self, plan: Plan, context: _Context, progress: Callable[[int], None] | None
    ) -> ApplyResult:
        self._settled = None  # true again only once this apply has finished
        state = self.state
        recovering = not state.finished  # an interrupted apply's note is cleared by saving
        if plan.actions:
            state.finished = False
            pending = _own_writes(plan)
            if recovering:  # the last one's, until this apply has settled them
                pending |= read_pending(self.state_dir)
            mark_unfinished(self.state_dir, pending)
            if self.bucket is not None:  # name the uploads first: a killed apply's are ours
                self.bucket.save_pending(_pending(plan))
        if self.incremental and context.derived is not None:
            self._derivation.attempt(context.derived)
        outcome = self._execute(context, progress)
        state.finished = outcome.error is None
        if outcome.error is None and context.derived is not None:
            self._derivation.record(context.derived)
        if (
            plan.actions
            or outcome.error
            or recovering
            or state_changed(state)
            or self._derivation.manifest_changed
        ):
            save_state(self.state_dir, state, manifest_changed=self._derivation.manifest_changed)
            self._derivation.manifest_changed = False
            self._record_seen = state_files(self.state_dir)
            if self.bucket is not None:  # if this fails, the next plan adopts by content
                self.bucket.save_record(state.outputs, state.history)
            if plan.actions:  # the first apply made the state folder: the spec cache can go in
                keep_in_cache(self.project)
        self._context = None
        if outcome.error is not None:
            raise outcome.error
        # The collected files left as they were: all but the generated ones.
        unmodified = context.decision.unmodified
        generated = context.derived.desired if context.derived else {}
        originals = len(unmodified) - len(generated.keys() & unmodified)
        self._settle(context, len(generated))
        return apply_result(
            plan,
            self._where,
            self.project.link,
            outcome.written,
            outcome.deleted,
            originals,
            context.skipped,
        )

    def _execute(self, context: _Context, progress: Callable[[int], None] | None) -> Outcome:
        """Run the plan's actions and file what they made (and what the plan adopted or
        forgot) in the state's records."""
        from staticbuild.executor import Sources, execute, present_files

        state = self.state
        records = state.outputs
        sources = Sources(
            self._root_paths,
            context.infos,
            context.blobs,
            present_files(
                context.plan.actions, context.decision.unmodified, context.observed, state.outputs
            )
            if self.project.hard_links and self.bucket is None
            else None,
        )
        if not self.incremental:
            self._release_wants(context)
        # A first apply files its records straight into the (empty) record: 100,000 are
        # then not held twice. Past a bound the record stops noting keys one by one.
        fill = None if records or context.decision.adopt else records
        if self.bucket is not None:
            outcome = self.bucket.execute(
                context.plan.actions,
                sources,
                last={self.project.storage.manifest_name},
                immutable=context.derived.hashed if context.derived else (),
                progress=progress,
                written=fill,
            )
        else:
            outcome = execute(
                self.destination,
                context.plan.actions,
                sources,
                functools.partial(source_records, state),
                durable=self.project.durable,
                progress=progress,
                written=fill,
                last={self.project.storage.manifest_name},
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
                want.digest, seen.size, seen.mtime_ns, seen.ino, link=seen.target, etag=seen.etag
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
            skipped=context.skipped,
            warnings=context.derived.warnings if context.derived else (),
            files=state_files(self.state_dir),
        )
        if settled != self._settled:
            write_settled(self.state_dir, settled)
        self._settled = settled

    @property
    def _where(self) -> str:
        """The destination as the summary names it: its absolute folder, or its URL."""
        return self.project.destination if self.bucket is not None else str(self.destination)

    def verify_saved(self, saved: Plan) -> Plan:
        """Plan afresh and refuse ``saved`` if anything it was made from changed; the fresh
        plan (the same actions) is the one :meth:`apply` then carries out without a new look.
        """
        if saved.inputs is None:
            raise StalePlanError("the plan file has no recorded inputs; save it with 'plan --out'")
        fresh = self.plan(with_inputs=True)
        refuse_if_stale(saved, fresh)
        return fresh


def _bucket_of(project: Project) -> Bucket | None:
    if "://" not in project.destination:  # a folder (the spec check allows only s3://)
        return None
    from staticbuild.bucket import Bucket

    if project.link:
        raise PlanError(
            f"--link cannot be used with the s3:// destination {project.destination!r} "
            "(a bucket holds no symlinks)"
        )
    settings = project.s3
    return Bucket(
        project.destination,
        settings.endpoint_url if settings else None,
        settings.region if settings else None,
    )


def _own_writes(plan: Plan) -> set[str]:
    """The paths the plan writes that are, or become, staticbuild's own: all but the files
    it overwrites that someone else made (those stay theirs until written)."""
    return {
        a.path
        for a in plan.actions
        if not isinstance(a, Delete)
        and not (isinstance(a, Update | Write | Compress) and a.foreign)
    }


def _pending(plan: Plan) -> dict[str, OutputRecord]:
    """Records of the plan's uploads, their ETags not known yet."""
    pending: dict[str, OutputRecord] = {}
    for action in plan.actions:
        digest = getattr(action, "digest", None)
        if digest is not None:
            pending[action.path] = OutputRecord(digest, getattr(action, "size", 0), 0, 0)
    return pending


__all__ = ["Builder"]
