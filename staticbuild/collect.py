"""What the collected files ask for: one :class:`Desired` output per winning source file.

A source whose stat matches its record is settled from the record; the rest are hashed,
either here or, in a *lazy* plan (no post-processing, links or saved plan needs every
content up front), only when their destination exists and content must be compared, or
while they are copied.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from staticbuild.finders import FileInfo
from staticbuild.observe import hash_sources
from staticbuild.planner import Desired, Observed
from staticbuild.snapshot import Snapshot
from staticbuild.state import State, source_records

#: the fields after ``target`` of a collected file's Desired, as its defaults give them
_PLAIN = (Desired._field_defaults["category"], Desired._field_defaults["encoding"])


def collect_originals(
    originals: dict[str, Desired],
    snapshot: Snapshot,
    state: State,
    roots: Sequence[str],
    affected: Collection[str] | None,
    *,
    lazy: bool,
    md5: bool,
    link: bool,
) -> int:
    """Update ``originals`` at the ``affected`` destination paths, or at all of them;
    return how many sources were read to hash them. ``md5``: the records must also
    carry Django's hashed-name md5."""
    listings = snapshot.infos.by_root
    winners = snapshot.winners
    # One pass: a source whose stat matches its record is settled here; only the
    # rest (new or changed files) go on to be hashed.
    records = [source_records(state, root) for root in roots]
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
    fresh, hashed = hash_sources(misses, md5=md5)
    for dest, root, rel, path, info in missed:
        record = records[root][rel] = fresh[path]
        target = path if link else None
        originals[dest] = Desired(record.digest, info.size, mode, root, rel, target)
    return hashed


def hash_compared(
    originals: dict[str, Desired],
    snapshot: Snapshot,
    state: State,
    roots: Sequence[str],
    observed: Mapping[str, Observed],
) -> int:
    """Digests for the unknown sources whose destination exists (only content can tell
    whether that file is already right); return how many were read."""
    unknown = {
        dest: want
        for dest, seen in observed.items()  # every path in scope that holds something
        if (want := originals.get(dest)) is not None and not want.digest
    }
    if not unknown:
        return 0
    paths = {dest: f"{roots[w.root]}/{w.origin}" for dest, w in unknown.items()}
    files = {paths[dest]: snapshot.infos[w.root, w.origin] for dest, w in unknown.items()}
    fresh, hashed = hash_sources(files)
    for dest, want in unknown.items():
        record = fresh[paths[dest]]
        source_records(state, roots[want.root])[want.origin] = record
        originals[dest] = want._replace(digest=record.digest)
    return hashed
