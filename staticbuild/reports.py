"""What a plan and an apply report: the summary the CLI prints, and the work counted.

:class:`Work` exists for the tests: they prove that nothing was redone by counting (files
hashed, rewritten, compressed), never by timing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

from staticbuild.actions import Compress, Copy, Link, Plan, Update, Write


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
    #: found files that lost to an earlier one with the same destination path
    skipped: int = 0
    #: what was written and deleted, kept as given: sorted only if asked for
    changes: tuple[Collection[str], ...] = field(default=(), repr=False)

    @property
    def changed_paths(self) -> tuple[str, ...]:
        """Destination paths written or deleted, sorted (what the dev server reloads)."""
        return tuple(sorted({path for paths in self.changes for path in paths}))

    def summary(self) -> str:
        """Django 6.1's collectstatic summary line. Its deletions are --clear's; here they
        are also the stale outputs staticbuild removes (collectstatic never makes those)."""
        modified = self.linked if self.link else self.copied + self.linked
        verb = "symlinked" if self.link else "copied"
        text = f"{_files(modified)} {verb} to '{self.destination}'"
        if self.deleted:
            text = f"{_files(self.deleted)} deleted, {text}"
        if self.unmodified:
            text += f", {self.unmodified} unmodified"
        if self.post_processed:
            text += f", {self.post_processed} post-processed"
        if self.skipped:
            text += f", {self.skipped} skipped due to conflict"
        return text + "."


def conflict_line(path: str) -> str:
    """What collectstatic logs at verbosity 2 for a found file that an earlier one with
    the same destination ``path`` shadows."""
    return (
        f"Found another file with the destination path '{path}'. It will be ignored since "
        "only the first encountered file is collected. If this is not what you want, make "
        "sure every static file has a unique path."
    )


def _files(count: int) -> str:
    return f"{count} static file" if count == 1 else f"{count} static files"


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


def apply_result(
    plan: Plan,
    destination: str,
    link: bool,
    written: Mapping[str, object],
    deleted: Sequence[str],
    unmodified: int,
    skipped: int,
) -> ApplyResult:
    """Count what ``plan`` did: its actions whose path was ``written``, and the deletions;
    ``skipped``: the found files that lost to an earlier one with the same path."""
    result = ApplyResult(
        destination, link, unmodified=unmodified, deleted=len(deleted), skipped=skipped
    )
    done: dict[type, int] = {}
    # Django counts the collected files that post-processing wrote for (collectstatic's
    # post_processed_files); the manifest (origin "") is not one of them. WhiteNoise's
    # storages add one for each compressed file they write.
    post_processed: set[str] = set()
    for action in plan.actions:
        if action.path in written:
            kind = type(action)
            if kind is Update and cast(Update, action).mode == "link":
                kind = Link
            elif kind is Write:
                post_processed.add(cast(Write, action).origin)
            done[kind] = done.get(kind, 0) + 1
    result.copied = done.get(Copy, 0) + done.get(Update, 0)
    result.linked = done.get(Link, 0)
    result.compressed = done.get(Compress, 0)
    result.post_processed = len(post_processed - {""}) + result.compressed
    # A copy of the names: a first apply's ``written`` is the state's own table.
    result.changes = (tuple(written), deleted)
    return result
