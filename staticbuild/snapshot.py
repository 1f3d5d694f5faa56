"""What the searched folders hold, kept up to date between plans.

A full scan walks every root once; after that, :meth:`Snapshot.refresh` looks only at the
paths the watcher reports (a stat for a file, a walk of just the subtree for a folder)
and re-decides the winner only for the destination paths those touch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from staticbuild.finders import (
    FileInfo,
    IgnoreMatcher,
    Link,
    Listing,
    Winners,
    dest_path,
    inside_link,
    is_inside,
    stat_file,
    walk_root,
)
from staticbuild.project import Root


class SourceInfos(Mapping[tuple[int, str], FileInfo]):
    """Each collected file's stat by (root index, root-relative path), read through to the
    listings instead of copied: what the latest plan saw, since only a plan refreshes."""

    def __init__(self, listings: Sequence[Listing]) -> None:
        #: each root's files by root-relative path (for loops that look up many)
        self.by_root = [listing.files for listing in listings]

    def __getitem__(self, key: tuple[int, str]) -> FileInfo:
        return self.by_root[key[0]][key[1]]

    def get(self, key: tuple[int, str], default: Any = None) -> Any:
        return self.by_root[key[0]].get(key[1], default)

    def __iter__(self) -> Iterator[tuple[int, str]]:
        for index, files in enumerate(self.by_root):
            for rel in files:
                yield index, rel

    def __len__(self) -> int:
        return sum(len(files) for files in self.by_root)


class Snapshot:
    def __init__(self, roots: Sequence[Root], matcher: IgnoreMatcher) -> None:
        self.roots = tuple(roots)
        self.matcher = matcher
        self.listings = [walk_root(root, matcher) for root in self.roots]
        #: the warnings of the latest walk or refresh (a refresh reports only its own)
        self.warnings = [w for listing in self.listings for w in listing.warnings]
        #: destination path -> the root file that provides it (first root wins)
        self.winners = Winners(self.listings, self.roots)
        #: each collected file's stat by (root index, rel), kept current by refresh
        self.infos = SourceInfos(self.listings)

    def refresh(self, changed: Iterable[Path]) -> set[str]:
        """Update for changed absolute paths; return the destination paths affected."""
        affected: set[str] = set()
        self.warnings = []
        for full in self._with_aliases(changed):
            for index, root in enumerate(self.roots):
                if not is_inside(full, root.path):
                    continue
                rel = os.path.relpath(full, root.path).replace(os.sep, "/")
                for touched in self._refresh_one(index, "" if rel == "." else rel):
                    affected.add(dest_path(root, touched))
        return affected

    def reaches(self, path: Path) -> bool:
        """Whether a symlink the walk followed leads to ``path`` or through it: then a
        name the ignore patterns match (``pub -> .hidden``) is still collected, under the
        link's name, and a change to it is a change."""
        links = self._links()
        return bool(links) and next(self._aliases(os.path.abspath(path), links), None) is not None

    def _with_aliases(self, changed: Iterable[Path]) -> list[str]:
        """The changed paths, and each path that reaches one of them through a symlink
        inside a root (``alias -> real``: a change to ``real/r.js`` changes ``alias/r.js``
        too, and inotify reports only the real one). Every link the walk passed is known
        at its own path, so links through links are found as well."""
        paths = [os.path.abspath(path) for path in changed]
        links = self._links()
        if not links:
            return paths
        return paths + [alias for full in paths for alias in self._aliases(full, links)]

    def _links(self) -> list[tuple[str, Link]]:
        """Every link the walk followed, at its absolute path."""
        return [
            (os.path.join(root.path, rel), link)
            for root, listing in zip(self.roots, self.listings, strict=True)
            for rel, link in listing.links.items()
        ]

    @staticmethod
    def _aliases(full: str, links: list[tuple[str, Link]]) -> Iterator[str]:
        """The paths that reach ``full`` through one of ``links``; a link whose way passes
        ``full`` (a link in the middle of a chain, a renamed folder above its target) is
        looked at again whole."""
        real = os.path.realpath(full)
        # named as Link.via names the links met: the real folder, then the name
        here = os.path.join(os.path.realpath(os.path.dirname(full)), os.path.basename(full))
        for at, link in links:
            if is_inside(real, link.target):
                yield os.path.normpath(os.path.join(at, os.path.relpath(real, link.target)))
            elif any(is_inside(step, here) for step in (*link.via, link.target)):
                yield at

    def _refresh_one(self, index: int, rel: str) -> set[str]:
        root = self.roots[index]
        listing = self.listings[index]
        files, links = listing.files, listing.links
        full = os.path.join(root.path, rel) if rel else root.path
        for key in [k for k in links if not rel or k == rel or k.startswith(rel + "/")]:
            del links[key]
        if rel and os.path.islink(full):  # kept even while dangling: its target may appear
            link = inside_link(full, os.path.realpath(root.path))
            if link is not None:
                links[rel] = link
        if rel in files or (rel and not os.path.isdir(full) and not _has_children(files, rel)):
            files.pop(rel, None)
            info = stat_file(root, rel, self.matcher, self.warnings)
            if info is not None:
                files[rel] = info
            return {rel}
        # A folder appeared, vanished or moved: re-walk just that subtree.
        touched = {k for k in files if not rel or k.startswith(rel + "/")}
        for key in touched:
            del files[key]
        fresh = walk_root(root, self.matcher, rel) if os.path.isdir(full) else Listing()
        files.update(fresh.files)
        links.update(fresh.links)
        self.warnings.extend(fresh.warnings)
        return touched | set(fresh.files)


def _has_children(files: dict[str, FileInfo], rel: str) -> bool:
    head = rel + "/"
    return any(k.startswith(head) for k in files)
