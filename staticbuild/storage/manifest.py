"""Hashed names and ``staticfiles.json``, byte-identical to Django 6.1's manifest storage.

Django runs ``post_process`` as repeated passes over every CSS/JS file until no hashed
name changes (at most ``max_post_process_passes``). Here the same fixed point is reached
as a dependency graph: each adjustable file is scanned once to learn which names it needs
(:mod:`.references` records them with placeholder hashes, which leave the text's structure
unchanged), files are ordered so each comes after the files it names, and each is then
rewritten and hashed once. A reference cycle never converges in Django ("Max post-process
passes exceeded."); here it is a :class:`PostProcessError` that names the cycle.

Incremental runs verify traces (as Shake does): a file is read again only if its
fingerprint changed or a name it looked up now resolves differently. Nothing here touches
the file system; the caller reads, writes and stores :class:`ManifestCache`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence

import msgspec

from staticbuild.errors import PostProcessError
from staticbuild.storage import references as refs

ENGINE = "django-6.1.3/1"  # bump to invalidate caches when the output could change
PLACEHOLDER = "0" * 12


class ManifestOptions(msgspec.Struct, frozen=True):
    url: str = "/static/"  # STATIC_URL
    strict: bool = True  # missing reference fails; False leaves it as written + a warning
    js_module_imports: bool = False  # Django's support_js_module_import_aggregation
    manifest_name: str = "staticfiles.json"


class Output(msgspec.Struct, frozen=True):
    name: str  # destination-relative hashed name, e.g. "css/base.5e0f8a1b2c3d.css"
    original: str  # the collected file it derives from
    content: bytes | None  # None: byte-identical to the original; else the rewritten bytes
    digest: str  # sha256 hex of the output's bytes


class Lookup(msgspec.Struct, frozen=True, array_like=True):
    """One call of Django's ``_stored_name`` made while rewriting a file."""

    arg: str
    kind: refs.Kind
    key: str
    line: int


class Adjusted(msgspec.Struct, frozen=True):
    """What one CSS/JS file needed and produced on the last run."""

    fingerprint: str
    lookups: tuple[Lookup, ...]
    values: tuple[str, ...]  # what each lookup resolved to when ``content`` was made
    name: str
    content: bytes | None
    digest: str


class ManifestCache(msgspec.Struct, frozen=True):
    engine: str = ENGINE
    url: str = "/static/"
    js_module_imports: bool = False
    md5: dict[str, str] = {}  # fingerprint -> first 12 hex digits of md5 of those bytes
    adjusted: dict[str, Adjusted] = {}  # CSS/JS name -> its trace


class ManifestStats(msgspec.Struct, frozen=True):
    files: int  # collected files considered
    read: int  # calls of ``read``
    hashed: int  # md5 computations over file bytes
    parsed: int  # CSS/JS files scanned for references
    rewritten: int  # CSS/JS files rewritten with final names


class ManifestResult(msgspec.Struct, frozen=True):
    paths: dict[str, str]  # original -> hashed name, as in staticfiles.json
    outputs: tuple[Output, ...]  # every hashed file to write, sorted by name
    # Collected files whose bytes Django replaces because a hashed output lands on their
    # name (only when a source already holds hashed names); never the manifest itself.
    rewritten: tuple[tuple[str, bytes], ...]
    manifest: bytes  # staticfiles.json exactly as Django 6.1 writes it
    warnings: tuple[str, ...]  # non-strict: one line per reference left as written
    cache: ManifestCache
    stats: ManifestStats


def manifest_bytes(paths: dict[str, str]) -> bytes:
    """``ManifestFilesMixin.save_manifest`` (6.1 sorts "paths"; 5.2 kept insertion order)."""
    items = sorted(paths.items())
    digest = hashlib.md5(json.dumps(items).encode(), usedforsecurity=False).hexdigest()[:12]
    return json.dumps({"paths": dict(items), "version": "1.1", "hash": digest}).encode()


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()[:12]


def _missing(name: str, lookup: Lookup) -> str:
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
    ) -> None:
        self.url = refs.static_url_setting(options.url)
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
        self.md5: dict[str, str] = {}
        self.reads = self.hashes = self.parses = self.rewrites = 0

    def read(self, name: str) -> bytes:
        """Read a collected file; CSS/JS bytes are kept, since scan and rewrite both need them."""
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

    def original_md5(self, name: str) -> str:
        fp = self.fps[name]
        if fp not in self.md5:
            cached = self.old.md5.get(fp)
            if cached is None:
                cached = _md5(self.read(name))
                self.hashes += 1
            self.md5[fp] = cached
        return self.md5[fp]

    def lookups(self, name: str) -> tuple[Lookup, ...]:
        """The trace of ``name``: from the cache if still valid, else by scanning it."""
        entry = self.old.adjusted.get(name)
        if entry is not None and entry.fingerprint == self.fps[name] and self._still(entry):
            return entry.lookups
        found: list[Lookup] = []

        def record(arg: str, line: int) -> str | None:
            target = refs.classify(arg, self.index)
            found.append(Lookup(arg, target.kind, target.key, line))
            if target.kind == "missing":
                return None
            if target.kind == "final":
                return refs.saved_name(target.key, PLACEHOLDER)
            return refs.stored_name(arg, target, PLACEHOLDER)

        self.parses += 1
        self._rewrite(name, self.text(name), record)
        return tuple(found)

    def _still(self, entry: Adjusted) -> bool:
        """Does every name the file looked up still resolve to the same kind of thing?"""
        return all(refs.classify(lk.arg, self.index) == (lk.kind, lk.key) for lk in entry.lookups)

    def _rewrite(self, name: str, text: str, stored: refs.StoredName) -> str:
        try:
            return refs.rewrite(name, text, self.patterns[name], self.url, stored)
        except ValueError as exc:  # urlsplit on a malformed URL; Django fails too
            raise PostProcessError(f"{name}: {exc}") from exc


def _dfs_cycle(graph: dict[str, list[str]], start: str, state: dict[str, int]) -> list[str] | None:
    stack: list[tuple[str, int]] = [(start, 0)]
    path = [start]
    state[start] = 1
    while stack:
        node, i = stack[-1]
        succ = graph.get(node, [])
        if i == len(succ):
            stack.pop()
            path.pop()
            state[node] = 2
            continue
        stack[-1] = (node, i + 1)
        nxt = succ[i]
        if state.get(nxt) == 1:
            return [*path[path.index(nxt) :], nxt]
        if nxt not in state:
            state[nxt] = 1
            stack.append((nxt, 0))
            path.append(nxt)
    return None


def _order(graph: dict[str, list[str]]) -> list[str]:
    """Post-order: every file after the files whose final names it needs."""
    order: list[str] = []
    done: set[str] = set()
    for root in sorted(graph):
        if root in done:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        done.add(root)
        while stack:
            node, i = stack[-1]
            succ = graph[node]
            if i == len(succ):
                stack.pop()
                order.append(node)
                continue
            stack[-1] = (node, i + 1)
            if succ[i] not in done:
                done.add(succ[i])
                stack.append((succ[i], 0))
    return order


def _cycle_error(graph: dict[str, list[str]], traces: dict[str, tuple[Lookup, ...]]) -> None:
    state: dict[str, int] = {}
    for root in sorted(graph):
        if root in state:
            continue
        cycle = _dfs_cycle(graph, root, state)
        if cycle:
            hops = []
            for a, b in zip(cycle, cycle[1:], strict=False):
                line = next(lk.line for lk in traces[a] if lk.kind == "final" and lk.key == b)
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
) -> ManifestResult:
    """Compute Django 6.1's hashed files and manifest for the collected ``names``.

    ``read`` returns a collected file's bytes and ``fingerprint`` a stable content id
    (sha256 hex). Pass the previous result's ``cache`` to skip unchanged work. Raises
    :class:`PostProcessError` for a missing reference (strict), a reference cycle (always:
    Django fails too) or a CSS/JS file that is not UTF-8. A collected file named like the
    manifest is simply replaced by ``manifest``, as Django does.
    """
    run = _Run(names, read, fingerprint, options, cache)
    adjustable = [n for n in run.names if run.patterns[n]]
    traces = {n: run.lookups(n) for n in adjustable}
    missing = [(n, lk) for n in adjustable for lk in traces[n] if lk.kind == "missing"]
    if missing and options.strict:
        raise PostProcessError(_missing(*missing[0]))
    warnings = [_left(n, lk) for n, lk in missing]
    key_to_name = {refs.clean_name(n): n for n in run.names}
    graph = {
        n: [
            key_to_name[lk.key]
            for lk in traces[n]
            if lk.kind == "final" and run.patterns[key_to_name[lk.key]]
        ]
        for n in adjustable
    }
    _cycle_error(graph, traces)

    final: dict[str, str] = {}
    outputs: dict[str, Output] = {}
    entries: dict[str, Adjusted] = {}
    for n in run.names:
        if not run.patterns[n]:
            final[refs.clean_name(n)] = refs.saved_name(n, run.original_md5(n))
    for n in _order(graph):
        entries[n] = entry = _adjust(run, n, traces[n], final)
        final[refs.clean_name(n)] = entry.name
        outputs[n] = Output(entry.name, n, entry.content, entry.digest)

    return _result(run, final, outputs, entries, warnings)


def _value(run: _Run, lookup: Lookup, final: dict[str, str]) -> str:
    if lookup.kind == "final":
        return final[lookup.key]
    if lookup.kind == "orig":
        return run.original_md5(lookup.key)
    return ""


def _adjust(run: _Run, name: str, trace: tuple[Lookup, ...], final: dict[str, str]) -> Adjusted:
    """Rewrite and hash one CSS/JS file, unless its trace says the old result still holds."""
    values = tuple(_value(run, lk, final) for lk in trace)
    fp = run.fps[name]
    old = run.old.adjusted.get(name)
    if old is not None and (old.fingerprint, old.lookups, old.values) == (fp, trace, values):
        return old
    pending = iter(zip(trace, values, strict=True))

    def stored(arg: str, line: int) -> str | None:
        lookup, value = next(pending)
        assert lookup.arg == arg, "a rewrite must repeat the scan's lookups"
        if lookup.kind == "missing":
            return None
        return refs.stored_name(arg, refs.Target(lookup.kind, lookup.key), value)

    original = run.read(name)
    out = run._rewrite(name, run.text(name), stored).encode()
    run.rewrites += 1
    run.hashes += 1
    file_hash = _md5(out)
    if out == original:
        run.md5.setdefault(fp, file_hash)
        return Adjusted(fp, trace, values, refs.saved_name(name, file_hash), None, fp)
    digest = hashlib.sha256(out).hexdigest()
    return Adjusted(fp, trace, values, refs.saved_name(name, file_hash), out, digest)


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
        out = adjusted.get(n) or Output(final[refs.clean_name(n)], n, None, run.fps[n])
        if out.name in run.index.files:
            # Django saves a hashed copy only if nothing is there yet, but deletes and
            # re-saves a rewritten CSS/JS file.
            if n in adjusted and out.digest != run.fps[out.name]:
                rewritten.append((out.name, run.read(n) if out.content is None else out.content))
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
