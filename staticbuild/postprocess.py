"""Outputs derived from the collected files: hashed copies, the manifest, ``.gz``/``.br``.

The engines (:mod:`staticbuild.storage.manifest`, :mod:`staticbuild.storage.compress`)
compute bytes and remember work by content; this module turns their answers into
:class:`~staticbuild.planner.Desired` outputs the planner treats like any other file.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from staticbuild.blobs import Blob, FileSlice, SourceFile
from staticbuild.errors import ApplyError, PostProcessError
from staticbuild.finders import FileInfo
from staticbuild.planner import Desired
from staticbuild.project import Project

if TYPE_CHECKING:  # the engines (brotli, regexes) load only when a spec asks for them
    from staticbuild.storage.compress import CompressCache
    from staticbuild.storage.encodings import CompressOptions
    from staticbuild.storage.manifest_cache import (
        ManifestCache,
        ManifestOptions,
        ManifestStats,
        Output,
    )


@dataclass
class Derived:
    desired: dict[str, Desired] = field(default_factory=dict)
    # digest -> the bytes, the path of a file holding them, or a function making them
    blobs: dict[str, Blob] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    manifest_cache: ManifestCache | None = None
    hashed: frozenset[str] = frozenset()  # hashed names (and their siblings) of this manifest
    manifest_stats: ManifestStats | None = None
    remembered: bool = False  # read back from the memo: names and digests only


def derive(
    project: Project,
    originals: Mapping[str, Desired],
    roots: tuple[str, ...],
    manifest_cache: ManifestCache | None,
    compress_cache: CompressCache | None,
    md5_hints: Mapping[str, str] | None = None,
    infos: Mapping[tuple[int, str], FileInfo] | None = None,
) -> Derived:
    """Everything post-processing adds to (or replaces in) the collected ``originals``.

    ``md5_hints`` maps content digests to the md5s read with them (no second read);
    ``infos`` gives each source's planned stat, which a hashed copy checks before copying.
    """
    derived = Derived()
    if not project.post_process:
        return derived
    outputs: Mapping[str, Desired] = originals
    storage = project.storage
    if storage.kind == "manifest":
        _hash_names(project, originals, roots, manifest_cache, derived, md5_hints, infos or {})
        outputs = {**originals, **derived.desired}
    if storage.compress and compress_cache is not None:
        manifest = storage.manifest_name if storage.kind == "manifest" else None
        _compress(project, outputs, roots, compress_cache, derived, skip=manifest)
    return derived


def _source(roots: tuple[str, ...], want: Desired) -> str:
    return f"{roots[want.root]}/{want.origin}"


def _refuse_a_collected_manifest_name(
    name: str, names: Sequence[str], originals: Mapping[str, Desired]
) -> None:
    """The manifest may not take a collected file's place (Django silently overwrites the
    file), nor a folder's (no apply could ever write it). ``names`` are the originals'
    paths, sorted: a folder's files follow its name + "/" there, a bisection away."""
    inside = name + "/"
    at = bisect.bisect_left(names, inside)
    below = names[at] if at < len(names) and names[at].startswith(inside) else None
    clash = originals.get(name) or (originals[below] if below is not None else None)
    if clash is not None:
        what = "a collected file" if name in originals else "a folder of collected files"
        raise PostProcessError(
            f"storage.manifest_name {name!r} is {what} (from {clash.origin!r}); "
            "choose another name for the manifest"
        )


def _hash_names(
    project: Project,
    originals: Mapping[str, Desired],
    roots: tuple[str, ...],
    cache: ManifestCache | None,
    derived: Derived,
    md5_hints: Mapping[str, str] | None,
    infos: Mapping[tuple[int, str], FileInfo],
) -> None:
    from staticbuild.storage.manifest import post_process
    from staticbuild.storage.manifest_cache import ManifestOptions

    storage = project.storage
    names = sorted(originals)
    _refuse_a_collected_manifest_name(storage.manifest_name, names, originals)

    def read(name: str) -> bytes:
        return _read(_source(roots, originals[name]))

    options = ManifestOptions(
        url=project.url,
        strict=storage.manifest_strict,
        js_module_imports=storage.js_module_imports,
        manifest_name=storage.manifest_name,
    )
    result = post_process(
        names, read, lambda name: originals[name].digest, options, cache, md5_hints
    )
    for output in result.outputs:
        source = originals[output.original]
        if not output.rewritten:
            size = source.size
            derived.blobs[output.digest] = SourceFile(
                _source(roots, source), infos.get((source.root, source.origin))
            )
        else:
            assert output.trace is not None
            size = output.trace.size
            derived.blobs[output.digest] = (
                output.content
                if output.content is not None
                else _remake(_source(roots, source), output, options)
            )
        derived.desired[output.name] = Desired(
            output.digest, size, "blob", -1, output.original, category="post-process"
        )
    for name, content in result.rewritten:
        digest = hashlib.sha256(content).hexdigest()
        derived.blobs[digest] = content
        derived.desired[name] = Desired(
            digest, len(content), "blob", -1, name, category="post-process"
        )
    manifest_digest = hashlib.sha256(result.manifest).hexdigest()
    derived.blobs[manifest_digest] = result.manifest
    derived.desired[storage.manifest_name] = Desired(
        manifest_digest, len(result.manifest), "blob", -1, "", category="post-process"
    )
    derived.warnings = result.warnings
    derived.manifest_cache = result.cache
    derived.manifest_stats = result.stats
    derived.hashed = frozenset(o.name for o in result.outputs)


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _remake(path: str, output: Output, options: ManifestOptions) -> Callable[[], bytes]:
    """The bytes of a rewritten output the cache vouches for but does not hold.

    They are made only if a write or a compression needs them (a no-op run needs none),
    from the source as it is then; a source edited since the plan gives other bytes, which
    must never be filed under the planned digest.
    """
    from staticbuild.storage.manifest import output_bytes

    def remake() -> bytes:
        try:
            data = output_bytes(output, lambda _: _read(path), options)
        except PostProcessError:  # not even the same references any more
            data = None
        if data is None or hashlib.sha256(data).hexdigest() != output.digest:
            raise ApplyError(f"source file {path!r} changed during apply; run apply again")
        return data

    return remake


def compress_options(project: Project) -> CompressOptions:
    from staticbuild.storage.encodings import SKIP_EXTENSIONS, CompressOptions

    storage = project.storage
    return CompressOptions(
        encodings=storage.compress,
        min_size=storage.compress_min_size or 0,
        skip_extensions=(
            storage.compress_skip_extensions
            if storage.compress_skip_extensions is not None
            else SKIP_EXTENSIONS
        ),
    )


def _compress(
    project: Project,
    outputs: Mapping[str, Desired],
    roots: tuple[str, ...],
    cache: CompressCache,
    derived: Derived,
    *,
    skip: str | None,
) -> None:
    from staticbuild.storage.encodings import SUFFIXES, wants_compression

    options = compress_options(project)
    wanted = {
        name: want
        for name, want in outputs.items()
        if name != skip and wants_compression(name, want.size, options)
    }
    jobs: list[tuple[str, str | bytes | Callable[[], bytes]]] = []
    for want in wanted.values():
        blob = derived.blobs.get(want.digest)
        if blob is None:
            jobs.append((want.digest, _source(roots, want)))
        else:
            assert not isinstance(blob, FileSlice)  # slices are the compressed outputs
            jobs.append((want.digest, blob.path if isinstance(blob, SourceFile) else blob))
    # First forget contents no output has any more (the slices it hands out stay valid).
    cache.tidy({digest for digest, _ in jobs})
    results = cache.compress_many(jobs, options)
    hashed = set(derived.hashed)
    for name, want in wanted.items():
        for encoding, compressed in results[want.digest].items():
            if not compressed.worth_it:
                continue
            assert compressed.blob is not None and compressed.digest is not None
            sibling = name + SUFFIXES[encoding]
            derived.blobs[compressed.digest] = compressed.blob
            derived.desired[sibling] = Desired(
                compressed.digest,
                compressed.size,
                "blob",
                -1,
                name,
                category="compress",
                encoding=encoding,
            )
            if name in hashed:
                hashed.add(sibling)
    derived.hashed = frozenset(hashed)
