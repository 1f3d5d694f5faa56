"""What each name a CSS/JS file looked up resolves to, once the names it needs are final.

The scan (:mod:`.manifest`) records a file's lookups with placeholder hashes; here they
get their values, in scan order, which are all the rewrite needs (:func:`resolve`). Most
are plain: a final name or an original's md5. A ``hashed`` lookup is a name an earlier
pattern wrote (JS module patterns without semicolons), so which file it names depends on
the hash put into it: it is resolved here, against the collected files and the hashed
files Django has saved by the time its passes converge.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from staticbuild.errors import PostProcessError
from staticbuild.storage import references as refs
from staticbuild.storage.manifest_cache import Adjusted, Lookup

#: Lookups that need their key's final name first: the reference graph's edges.
NEEDS_FINAL = ("final", "hashed")

Md5 = Callable[[str], str]  # a collected file's name -> the md5 of its original


def classify(arg: str, kind: str, index: refs.NameIndex) -> refs.Target:
    """A lookup's target again, as the scan found it (to check a cached trace)."""
    if kind == "hashed":
        return refs.classify_rewritten(arg, index)
    return refs.classify(arg, index)


def resolve(
    name: str,
    trace: tuple[Lookup, ...],
    index: refs.NameIndex,
    original_md5: Md5,
    final: dict[str, str],
) -> tuple[str, ...]:
    """What each lookup of ``name`` resolves to, in scan order: a final name, an original's
    md5, or "" for nothing; a ``hashed`` lookup's value is its whole result."""
    return tuple(
        _hashed(name, trace, i, index, original_md5, final)
        if lk.kind == "hashed"
        else _plain(lk, original_md5, final)
        for i, lk in enumerate(trace)
    )


def missing(
    name: str, entry: Adjusted, index: refs.NameIndex, original_md5: Md5, final: dict[str, str]
) -> list[str]:
    """A line per ``hashed`` lookup of ``name`` that found nothing (others are known from
    the scan)."""
    problems = []
    for i, (lk, value) in enumerate(zip(entry.lookups, entry.values, strict=True)):
        if lk.kind == "hashed" and not value:
            found = _rewritten_arg(entry.lookups, i, original_md5, final)
            shown = found[0] if found else lk.arg.replace(refs.PLACEHOLDER, "<md5>")
            key = refs.clean_name(posixpath.normpath(shown))
            problems.append(f"{name}:{lk.line}: references {key!r}, which is not collected")
    return problems


def _plain(lookup: Lookup, original_md5: Md5, final: dict[str, str]) -> str:
    if lookup.kind == "final":
        return final[lookup.key]
    if lookup.kind == "orig":
        return original_md5(lookup.key)
    return ""


def _rewritten_arg(
    trace: tuple[Lookup, ...], i: int, original_md5: Md5, final: dict[str, str]
) -> tuple[str, str] | None:
    """The name the ``hashed`` lookup ``trace[i]`` really asks for (its placeholder
    replaced by the hash the earlier pattern wrote), and the hashed name of the file it
    derives from; None when it derives from no collected file."""
    lookup = trace[i]
    source = next(
        (
            lk
            for lk in reversed(trace[:i])
            if lk.kind in ("final", "orig") and refs.clean_name(lk.key) == lookup.key
        ),
        None,
    )
    if not lookup.key or source is None:
        return None
    output = final[lookup.key]
    written = (
        refs.hash_in(output, lookup.key) if source.kind == "final" else original_md5(source.key)
    )
    return lookup.arg.replace(refs.PLACEHOLDER, written), output


def _hashed(
    name: str,
    trace: tuple[Lookup, ...],
    i: int,
    index: refs.NameIndex,
    original_md5: Md5,
    final: dict[str, str],
) -> str:
    found = _rewritten_arg(trace, i, original_md5, final)
    if found is None:
        return ""
    arg, output = found
    target = refs.resolve_rewritten(arg, index, output)
    if target.kind == "final":  # only in a source that already holds hashed names
        if target.key in final:  # Django's passes converge on its final name
            return final[target.key]
        raise PostProcessError(
            f"{name}:{trace[i].line}: {arg!r}, which an earlier pattern wrote, names the"
            f" collected file {target.key!r}, which is rewritten itself; staticbuild cannot"
            " tell its name at that point (end the import before it with a semicolon)"
        )
    if target.kind == "orig":
        md5 = (
            original_md5(target.key)
            if target.key in index.files
            else refs.hash_in(output, trace[i].key)
        )
        return refs.stored_name(arg, target, md5)
    if target.kind == "dir":
        return refs.stored_name(arg, target, "")
    return ""
