"""Hashed names and ``staticfiles.json``, byte-identical to Django 6.1's manifest storage.

Django runs ``post_process`` as repeated passes over every CSS/JS file until no hashed
name changes (at most ``max_post_process_passes``). Here the same fixed point is reached
as a dependency graph: each adjustable file is scanned once to learn which names it needs
(:mod:`.references` records them with placeholder hashes, which leave the text's structure
unchanged), files are ordered so each comes after the files it names, and each is then
rewritten and hashed once. A name a later pattern finds in what an earlier one wrote holds
a hash, so it is resolved only then (:mod:`.lookup_values`). A reference cycle never
converges in Django ("Max post-process passes exceeded."); here it is a
:class:`PostProcessError` that names the cycle.

Incremental runs verify traces (as Shake does): a file is read again only if its
fingerprint changed or a name it looked up now resolves differently. The cache keeps
traces, not rewritten bytes: those follow from the original and the trace, so
:func:`output_bytes` makes them again on the rare run that must write an output it did not
rewrite (a deleted or edited destination file). Nothing here touches the file system; the
caller reads, writes and stores :class:`ManifestCache`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence

from staticbuild.errors import PostProcessError
from staticbuild.parallel import WORKER_LOST, map_spread
from staticbuild.storage import lookup_values
from staticbuild.storage import references as refs
from staticbuild.storage.manifest_cache import (
    ENGINE,
    Adjusted,
    Lookup,
    ManifestCache,
    ManifestOptions,
    ManifestResult,
    ManifestStats,
    Output,
)
from staticbuild.storage.reference_graph import find_cycle, levels

PLACEHOLDER = refs.PLACEHOLDER
#: fewer files than this are scanned (or rewritten) in-process: a fork costs more
SCAN_FORK_THRESHOLD = 256


def manifest_bytes(paths: dict[str, str]) -> bytes:
    """``ManifestFilesMixin.save_manifest`` (6.1 sorts "paths"; 5.2 kept insertion order)."""
    items = sorted(paths.items())
    digest = hashlib.md5(json.dumps(items).encode(), usedforsecurity=False).hexdigest()[:12]
    return json.dumps({"paths": dict(items), "version": "1.1", "hash": digest}).encode()


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()[:12]


def _missing(name: str, lookup: Lookup) -> str:
    if lookup.kind == "invalid":
        return f"{name}:{lookup.line}: cannot parse the reference {lookup.arg!r} ({lookup.key})"
    return f"{name}:{lookup.line}: references {lookup.key!r}, which is not collected"


def _left(name: str, lookup: Lookup) -> str:
    return _missing(name, lookup) + "; left as written"


class _Run:
    """One call of :func:`post_process`; holds what was read so nothing is read twice."""

    def __init__(
        self,
        names: Sequence[str],
        read: Callable[[str], bytes],
        fingerprint: Callable[[str], str],
        options: ManifestOptions,
        cache: ManifestCache | None,
        known_md5: Mapping[str, str],
    ) -> None:
        self.url = refs.static_url_setting(options.url)
        self.known_md5 = known_md5
        self.options = options
        old = cache or ManifestCache()
        if (old.engine, old.url, old.js_module_imports) != (
            ENGINE,
            self.url,
            options.js_module_imports,
        ):
            old = ManifestCache()
        self.old = old
        self.names = sorted(set(names))
        self.index = refs.NameIndex(self.names)
        self._read = read
        self.fps = {n: fingerprint(n) for n in self.names}
        self.patterns = {n: refs.patterns_for(n, options.js_module_imports) for n in self.names}
        self.data: dict[str, bytes] = {}
        self.sizes: dict[str, int] = {}  # of files scanned and released: nothing to rewrite
        self.md5: dict[str, str] = {}
        self.normalised: set[str] = set()  # scanned: no lookups, yet the rewrite changes it
        self.reads = self.hashes = self.parses = self.rewrites = 0

    def read(self, name: str) -> bytes:
        """Read a collected file; CSS/JS bytes are kept, since scan and rewrite both need them.

        :func:`post_process` drops them (:meth:`release`) once the file is rewritten.
        """
        data = self.data.get(name)
        if data is None:
            self.reads += 1
            data = self._read(name)
            if self.patterns[name]:
                self.data[name] = data
        return data

    def text(self, name: str) -> str:
        try:
            return self.read(name).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PostProcessError(f"{name}: cannot rewrite references, {exc}") from exc

    def release(self, name: str) -> None:
        """Forget a file's bytes: on a big tree, holding every original until the end
        doubles the peak memory of the rewrite."""
        self.data.pop(name, None)

    def known(self, fp: str) -> str | None:
        """The md5 of content ``fp`` if this run knows it without reading."""
        return self.md5.get(fp) or self.old.md5.get(fp) or self.known_md5.get(fp)

    def size(self, name: str) -> int:
        data = self.data.get(name)
        if data is not None:
            return len(data)
        return self.sizes[name] if name in self.sizes else len(self.read(name))

    def original_md5(self, name: str) -> str:
        fp = self.fps[name]
        if fp not in self.md5:
            cached = self.known(fp)
            if cached is None:
                cached = _md5(self.read(name))
                self.hashes += 1
            self.md5[fp] = cached
        return self.md5[fp]

    def cached_lookups(self, name: str) -> tuple[Lookup, ...] | None:
        """The trace of ``name`` from the cache, if it still holds."""
        entry = self.old.adjusted.get(name)
        if entry is not None and entry.fingerprint == self.fps[name] and self._still(entry):
            return entry.lookups
        return None

    def scan_all(self, names: Sequence[str]) -> dict[str, tuple[Lookup, ...]]:
        """The trace of each of ``names``; the files to scan afresh are spread over worker
        processes when there are many (a scan is a regex pass in Python, CPU-bound)."""
        traces: dict[str, tuple[Lookup, ...]] = {}
        todo: list[str] = []
        for name in names:
            cached = self.cached_lookups(name)
            if cached is None:
                todo.append(name)
            else:
                traces[name] = cached

        def scan_read(name: str) -> tuple[tuple[Lookup, ...], bool, bytes, int, str, str]:
            """The trace and whether the rewrite changes the file; the bytes it was read
            from if the rewrite needs them (most files name nothing and stay as they
            are, and their bytes stay where they were read), else their size and md5 (if
            not known); or the failure."""
            try:
                data = self.read(name)
                found, changed = self.scan(name)
            except PostProcessError as exc:
                return (), False, b"", 0, "", exc.message
            if found or changed:
                return found, changed, data, len(data), "", ""
            md5 = self.known(self.fps[name]) or _md5(data)
            return found, changed, b"", len(data), md5, ""

        scanned = map_spread(
            scan_read,
            todo,
            tuple[tuple[Lookup, ...], bool, bytes, int, str, str],
            fork_threshold=SCAN_FORK_THRESHOLD,
            threads=False,
        )
        for name, result in zip(todo, scanned, strict=True):
            if result is None:
                raise PostProcessError(WORKER_LOST)
            found, changed, data, size, md5, error = result
            if error:
                raise PostProcessError(error)
            if name not in self.data:  # read in a worker: count it here
                self.reads += 1
                self.parses += 1
            if found or changed:
                self.data[name] = data
                if not found:
                    self.normalised.add(name)
            else:
                self.release(name)
                self.sizes[name] = size
                if self.known(self.fps[name]) is None:
                    self.hashes += 1
                    self.md5[self.fps[name]] = md5
            traces[name] = found
        return {name: traces[name] for name in names}

    def scan(self, name: str) -> tuple[tuple[Lookup, ...], bool]:
        """Find the names ``name`` looks up, by rewriting it with placeholder hashes; and
        whether that rewrite changed the text at all.

        A file that looks nothing up may still change: Django writes ``url(../img/)`` back
        as ``url("../img/")`` without asking for a name.
        """
        found: list[Lookup] = []
        text = self.text(name)
        # A name holding the placeholder was written by an earlier pattern, if the text (as
        # the names in it decode) and the file's own name cannot hold it: else another.
        placeholder = refs.placeholder_for(name, text)

        def record(arg: str, line: int, error: str) -> str | None:
            if error:
                target = refs.Target("invalid", error)
            elif placeholder in arg:
                arg = arg.replace(placeholder, PLACEHOLDER)  # the cache's own form
                target = refs.classify_rewritten(arg, self.index)
            else:
                target = refs.classify(arg, self.index)
            found.append(Lookup(arg, target.kind, target.key, line))
            if target.kind in ("missing", "invalid") or target == ("hashed", ""):
                return None
            if target.kind == "final":
                return refs.saved_name(target.key, placeholder)
            if target.kind == "hashed":  # as if found: Django's x.<h>.<h>.js
                return refs.stored_name(arg, refs.Target("orig", target.key), placeholder)
            return refs.stored_name(arg, target, placeholder)

        self.parses += 1
        changed = self._rewrite(name, text, record) != text
        return tuple(found), changed

    def _still(self, entry: Adjusted) -> bool:
        """Does every name the file looked up still resolve to the same kind of thing?

        An unparsable reference stays so whatever is collected.
        """
        again = lookup_values.classify
        return all(
            lk.kind == "invalid" or again(lk.arg, lk.kind, self.index) == (lk.kind, lk.key)
            for lk in entry.lookups
        )

    def _rewrite(self, name: str, text: str, stored: refs.StoredName) -> str:
        """Run the patterns of ``name`` (the scan uses it with placeholder hashes)."""
        try:
            return refs.rewrite(name, text, self.patterns[name], self.url, stored)
        except ValueError as exc:  # urlsplit on a malformed URL; Django fails too
            raise PostProcessError(f"{name}: {exc}") from exc


def _cycle_error(graph: dict[str, list[str]], traces: dict[str, tuple[Lookup, ...]]) -> None:
    cycle = find_cycle(graph)
    if cycle:
        hops = []
        for a, b in zip(cycle, cycle[1:], strict=False):
            needs = lookup_values.NEEDS_FINAL
            line = next(lk.line for lk in traces[a] if lk.kind in needs and lk.key == b)
            hops.append(f"{a}:{line}")
        raise PostProcessError(
            "reference cycle: "
            + " -> ".join([*hops, cycle[-1]])
            + " (Django gives up: Max post-process passes exceeded.)"
        )


def post_process(
    names: Sequence[str],
    read: Callable[[str], bytes],
    fingerprint: Callable[[str], str],
    options: ManifestOptions,
    cache: ManifestCache | None = None,
    known_md5: Mapping[str, str] | None = None,
) -> ManifestResult:
    """Compute Django 6.1's hashed files and manifest for the collected ``names``.

    ``read`` returns a collected file's bytes and ``fingerprint`` a stable content id
    (sha256 hex). Pass the previous result's ``cache`` to skip unchanged work, and
    ``known_md5`` (fingerprint -> 12-digit md5) for contents hashed elsewhere. Raises
    :class:`PostProcessError` for a missing reference (strict), a reference cycle (always:
    Django fails too) or a CSS/JS file that is not UTF-8. A collected file named like the
    manifest is simply replaced by ``manifest``, as Django does.
    """
    run = _Run(names, read, fingerprint, options, cache, known_md5 or {})
    adjustable = [n for n in run.names if run.patterns[n]]
    traces = run.scan_all(adjustable)
    missing = [(n, lk) for n in adjustable for lk in traces[n] if lk.kind in ("missing", "invalid")]
    if missing and options.strict:
        raise PostProcessError(_missing(*missing[0]))
    warnings = [_left(n, lk) for n, lk in missing]
    key_to_name = {refs.clean_name(n): n for n in run.names}
    graph = {
        n: [
            key_to_name[lk.key]
            for lk in traces[n]
            if lk.kind in lookup_values.NEEDS_FINAL and lk.key and run.patterns[key_to_name[lk.key]]
        ]
        for n in adjustable
    }
    _cycle_error(graph, traces)
    # Files whose original md5 another file may still ask for (``orig`` lookups); their
    # bytes stay until the end, as the md5 is computed only when first asked for.
    wanted = {lk.key for n in adjustable for lk in traces[n] if lk.kind == "orig"}

    final: dict[str, str] = {}
    outputs: dict[str, Output] = {}
    entries: dict[str, Adjusted] = {}
    for n in run.names:
        if not run.patterns[n]:
            final[refs.clean_name(n)] = refs.saved_name(n, run.original_md5(n))
    for level in levels(graph):
        for n, (entry, content) in zip(level, _adjust_all(run, level, traces, final), strict=True):
            entries[n] = entry
            for problem in lookup_values.missing(n, entry, run.index, run.original_md5, final):
                if options.strict:
                    raise PostProcessError(problem)
                warnings.append(problem + "; left as written")
            final[refs.clean_name(n)] = entry.name
            outputs[n] = Output(entry.name, n, entry.digest, entry, content)
            if n not in wanted and entry.name not in run.index.files:  # see _result
                run.release(n)

    return _result(run, final, outputs, entries, warnings)


def _replay(
    name: str,
    text: str,
    patterns: Sequence[refs.Pattern],
    url: str,
    lookups: tuple[Lookup, ...],
    values: tuple[str, ...],
) -> str:
    """Rewrite ``text`` with the names its trace resolved to (``values``, in scan order)."""
    pending = iter(zip(lookups, values, strict=True))

    def stored(arg: str, line: int, error: str) -> str | None:
        step = next(pending, None)
        if step is None or not (  # only if the text is not what was scanned
            step[0].arg == arg
            or step[0].kind == "hashed"
            and refs.same_but_hashes(step[0].arg, arg)
        ):
            raise PostProcessError(f"{name}: its references differ from its recorded trace")
        lookup, value = step
        if lookup.kind in ("missing", "invalid"):
            return None
        if lookup.kind == "hashed":
            return value or None
        return refs.stored_name(arg, refs.Target(lookup.kind, lookup.key), value)

    try:
        return refs.rewrite(name, text, patterns, url, stored)
    except ValueError as exc:  # urlsplit on a malformed URL; Django fails too
        raise PostProcessError(f"{name}: {exc}") from exc


def _adjust_all(
    run: _Run, names: Sequence[str], traces: dict[str, tuple[Lookup, ...]], final: dict[str, str]
) -> list[tuple[Adjusted, bytes | None]]:
    """Rewrite and hash CSS/JS files whose references all have their final names, unless
    a file's trace says its old result still holds. The rewrites (regex passes in Python)
    are spread over worker processes when there are many.

    Each result also has the rewritten bytes when they were made now and differ from the
    original.
    """
    done: dict[str, tuple[Adjusted, bytes | None]] = {}
    todo: list[tuple[str, tuple[str, ...]]] = []
    for name in names:
        trace = traces[name]
        values = lookup_values.resolve(name, trace, run.index, run.original_md5, final)
        fp = run.fps[name]
        old = run.old.adjusted.get(name)
        if old is not None and (old.fingerprint, old.lookups, old.values) == (fp, trace, values):
            done[name] = (old, None)
        elif not trace and name not in run.normalised:  # the rewrite gives the text back
            saved = refs.saved_name(name, run.original_md5(name))
            done[name] = (Adjusted(fp, trace, values, saved, fp, run.size(name)), None)
        else:
            run.text(name)  # read (and checked) here, once, for the rewrite
            todo.append((name, values))

    def rewrite(item: tuple[str, tuple[str, ...]]) -> tuple[bytes, str]:
        name, values = item
        try:
            text = run.text(name)
            return _replay(
                name, text, run.patterns[name], run.url, traces[name], values
            ).encode(), ""
        except PostProcessError as exc:
            return b"", exc.message

    made = map_spread(
        rewrite, todo, tuple[bytes, str], fork_threshold=SCAN_FORK_THRESHOLD, threads=False
    )
    for (name, values), result in zip(todo, made, strict=True):
        if result is None:
            raise PostProcessError(WORKER_LOST)
        out, error = result
        if error:
            raise PostProcessError(error)
        run.rewrites += 1
        run.hashes += 1
        fp = run.fps[name]
        trace = traces[name]
        file_hash = _md5(out)
        saved = refs.saved_name(name, file_hash)
        if out == run.read(name):
            run.md5.setdefault(fp, file_hash)
            done[name] = (Adjusted(fp, trace, values, saved, fp, len(out)), None)
        else:
            digest = hashlib.sha256(out).hexdigest()
            done[name] = (Adjusted(fp, trace, values, saved, digest, len(out)), out)
    return [done[name] for name in names]


def output_bytes(output: Output, read: Callable[[str], bytes], options: ManifestOptions) -> bytes:
    """The bytes of ``output``, made again from its original if this run did not keep them.

    ``read`` returns a collected file's bytes and ``options`` must be the ones the output
    was computed with. A rewritten output is the original rewritten with the names its
    trace recorded, so no other file is read. The caller checks the result against
    ``output.digest``: an original edited since then gives other bytes (or raises
    :class:`PostProcessError` when it no longer even has the same references).
    """
    if output.content is not None:
        return output.content
    data = read(output.original)
    if not output.rewritten:
        return data
    assert output.trace is not None
    name = output.original
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PostProcessError(f"{name}: cannot rewrite references, {exc}") from exc
    patterns = refs.patterns_for(name, options.js_module_imports)
    url = refs.static_url_setting(options.url)
    trace = output.trace
    return _replay(name, text, patterns, url, trace.lookups, trace.values).encode()


def _result(
    run: _Run,
    final: dict[str, str],
    adjusted: dict[str, Output],
    entries: dict[str, Adjusted],
    warnings: list[str],
) -> ManifestResult:
    outputs: dict[str, Output] = {}
    rewritten: list[tuple[str, bytes]] = []
    for n in run.names:
        out = adjusted.get(n) or Output(final[refs.clean_name(n)], n, run.fps[n])
        if out.name in run.index.files:
            # Django saves a hashed copy only if nothing is there yet, but deletes and
            # re-saves a rewritten CSS/JS file.
            if n in adjusted and out.digest != run.fps[out.name]:
                rewritten.append((out.name, output_bytes(out, run.read, run.options)))
            continue
        outputs.setdefault(out.name, out)
    used = {run.fps[n] for n in run.names}
    cache = ManifestCache(
        ENGINE,
        run.url,
        run.options.js_module_imports,
        {fp: h for fp, h in {**run.old.md5, **run.md5}.items() if fp in used},
        entries,
    )
    stats = ManifestStats(len(run.names), run.reads, run.hashes, run.parses, run.rewrites)
    return ManifestResult(
        paths=dict(sorted(final.items())),
        outputs=tuple(outputs[k] for k in sorted(outputs)),
        rewritten=tuple(sorted(rewritten)),
        manifest=manifest_bytes(final),
        warnings=tuple(warnings),
        cache=cache,
        stats=stats,
    )
