"""What of a spec that is not valid can still be checked against the disk.

A spec with an unknown key and a missing source folder should name both at once (one
message per problem, in one round). The schema problems come first from the models; the
parts they do not touch — each source, each app, the destination — are put back together
here, so that :mod:`staticbuild.checks` can look at them as it looks at a valid spec.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from staticbuild.spec_yaml import KeyPath

#: Lists whose items are checked one by one: one bad item leaves the others checkable.
ITEMIZED = ("sources", "apps")


@dataclass
class Parts:
    """The spec's data without its invalid parts."""

    data: dict[str, Any]
    #: for each list that lost items, the spec's index of each item kept
    indices: dict[str, list[int]] = field(default_factory=dict)
    #: False when the destination is invalid or missing: nothing that needs it is checked
    destination_known: bool = True


def valid_parts(data: Any, problems: Iterable[KeyPath], fields: Collection[str]) -> Parts | None:
    """``data`` without what ``problems`` (the keys of the schema problems) point at: an
    invalid item of a list in :data:`ITEMIZED`, any other invalid key, unknown keys (not in
    ``fields``). None when the spec as a whole is wrong (not a mapping)."""
    if not isinstance(data, Mapping):
        return None
    bad_items: dict[str, set[int]] = {name: set() for name in ITEMIZED}
    bad_keys: set[str | int] = set()
    for key in problems:
        if not key:
            return None
        if key[0] in bad_items and len(key) > 1 and isinstance(key[1], int):
            bad_items[str(key[0])].add(key[1])
        else:
            bad_keys.add(key[0])
    kept = {k: v for k, v in data.items() if k in fields and k not in bad_keys}
    parts = Parts(kept)
    for name, bad in bad_items.items():
        items = kept.get(name)
        if bad and isinstance(items, list):
            parts.indices[name] = [i for i in range(len(items)) if i not in bad]
            kept[name] = [items[i] for i in parts.indices[name]]
    kept["version"] = 1  # the one version there is; a wrong one was reported
    if "destination" not in kept:
        parts.destination_known = False
        kept["destination"] = "."  # a stand-in; no check that needs the destination runs
    return parts
