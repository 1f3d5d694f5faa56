"""Run the manifest engine on a folder the way collectstatic would see it, for comparison."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from staticbuild.storage.manifest import output_bytes, post_process
from staticbuild.storage.manifest_cache import ManifestCache, ManifestOptions, ManifestResult

DEFAULT_IGNORE = ("CVS", ".*", "*~")


def collected_names(tree: Path) -> list[str]:
    """What Django's ``get_files`` yields for ``tree`` with the default ignore patterns."""
    names: list[str] = []
    for folder, dirs, files in os.walk(tree):
        rel = Path(folder).relative_to(tree).as_posix()
        dirs[:] = [d for d in dirs if not any(fnmatchcase(d, p) for p in DEFAULT_IGNORE)]
        for fn in files:
            path = fn if rel == "." else f"{rel}/{fn}"
            if not any(fnmatchcase(fn, p) or fnmatchcase(path, p) for p in DEFAULT_IGNORE):
                names.append(path)
    return sorted(names)


@dataclass
class Source:
    """A tree read through counting callables, so tests can see what the engine asked."""

    tree: Path
    reads: Counter[str] = field(default_factory=Counter)

    def read(self, name: str) -> bytes:
        self.reads[name] += 1
        return (self.tree / name).read_bytes()

    def fingerprint(self, name: str) -> str:
        return hashlib.sha256((self.tree / name).read_bytes()).hexdigest()


def run_engine(
    tree: Path, options: ManifestOptions | None = None, cache: ManifestCache | None = None
) -> tuple[ManifestResult, Source]:
    source = Source(tree)
    result = post_process(
        collected_names(tree), source.read, source.fingerprint, options or ManifestOptions(), cache
    )
    return result, source


def destination(
    tree: Path,
    result: ManifestResult,
    manifest_name: str,
    options: ManifestOptions | None = None,
) -> dict[str, bytes]:
    """STATIC_ROOT as Django leaves it: the copies, the hashed files, the manifest.

    Pass the ``options`` the result was computed with when some outputs came from a cache
    (their bytes are then made again from the originals).
    """
    read: Callable[[str], bytes] = lambda n: (tree / n).read_bytes()  # noqa: E731
    files = {n: read(n) for n in collected_names(tree)}
    for out in result.outputs:
        assert out.name not in files, out.name
        data = output_bytes(out, read, options or ManifestOptions())
        assert hashlib.sha256(data).hexdigest() == out.digest, out.name
        files[out.name] = data
    files.update(dict(result.rewritten))
    files[manifest_name] = result.manifest
    return files
