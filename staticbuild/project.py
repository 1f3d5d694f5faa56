"""A spec resolved against the disk: absolute roots, final ignore patterns, CLI overrides.

A :class:`Project` is a plain msgspec value (no pydantic), so everything after loading —
planning, applying, watching — depends only on it.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from pathlib import Path

import msgspec

from staticbuild.atomic import replace_file
from staticbuild.errors import SpecError

#: Django's staticfiles app config ``ignore_patterns``.
DEFAULT_IGNORE_PATTERNS = ("CVS", ".*", "*~")
STATE_DIR_NAME = ".staticbuild"
DEFAULT_SPEC_NAME = "staticbuild.yaml"


def shown_if_not_utf8(path: str) -> str | None:
    """``path`` with its undecodable bytes shown as ``\\xff`` escapes, if it has any: names
    listed from the disk that are not UTF-8 come back as lone surrogates, which no plan,
    manifest or URL can carry. None for a path that is text."""
    if path.isascii():
        return None
    try:
        path.encode()
    except UnicodeEncodeError:
        return path.encode(errors="surrogateescape").decode(errors="backslashreplace")
    return None


def state_dir_of(spec_file: Path) -> Path:
    """Where a spec keeps its state: ``.staticbuild/`` beside it, or, for a spec with
    another name, a folder of its own in there: two specs in one folder must not take
    each other's records (each would treat the other's outputs as foreign)."""
    base = spec_file.parent / STATE_DIR_NAME
    return base if spec_file.name == DEFAULT_SPEC_NAME else base / "specs" / spec_file.name


class Root(msgspec.Struct, frozen=True):
    """One searched folder; ``label`` names it in plans the same on every machine."""

    path: str
    prefix: str
    label: str
    kind: str  # "source" | "app"


class StorageSettings(msgspec.Struct, frozen=True):
    kind: str = "filesystem"
    manifest_name: str = "staticfiles.json"
    manifest_strict: bool = True
    js_module_imports: bool = False
    keep_previous: int = 0
    compress: tuple[str, ...] = ()
    compress_min_size: int | None = None
    compress_skip_extensions: tuple[str, ...] | None = None


class Overrides(msgspec.Struct, frozen=True):
    """Command-line options that override the spec (``None``: keep the spec's value)."""

    clear: bool | None = None
    link: bool | None = None
    ignore: tuple[str, ...] = ()
    default_ignore: bool | None = None
    post_process: bool | None = None
    #: watch: a source folder that does not exist yet is a warning, not an error
    missing_sources_ok: bool = False


class BucketSettings(msgspec.Struct, frozen=True):
    """How an ``s3://`` destination is reached (credentials come from the environment)."""

    endpoint_url: str | None = None
    region: str | None = None


class Project(msgspec.Struct, frozen=True):
    spec_path: str
    spec_digest: str
    destination: str
    url: str
    debug: bool
    roots: tuple[Root, ...]
    ignore_patterns: tuple[str, ...]
    link: bool
    clear: bool
    post_process: bool
    durable: bool
    storage: StorageSettings
    state_dir: str
    #: the command-line options it was loaded with (a saved plan carries them)
    overrides: Overrides
    warnings: tuple[str, ...] = ()
    hard_links: bool = True
    s3: BucketSettings | None = None

    @property
    def destination_path(self) -> Path:
        return Path(self.destination)

    @property
    def spec_file(self) -> Path:
        return Path(self.spec_path)

    @property
    def watch_roots(self) -> tuple[Path, ...]:
        """Every folder whose changes can change the collection."""
        return tuple(Path(r.path) for r in self.roots)

    @property
    def link_roots(self) -> tuple[Path, ...]:
        """Folders that symlinks in the destination may point into."""
        return self.watch_roots

    @property
    def prefixes(self) -> tuple[str, ...]:
        """The sources' prefixes (folders of the destination that hold a source's files)."""
        return tuple(r.prefix for r in self.roots if r.prefix)


def find_spec_file(path: str | os.PathLike[str] | None) -> Path:
    """The spec file to use: the given path, or ``./staticbuild.yaml``."""
    chosen = Path(path) if path is not None else Path.cwd() / DEFAULT_SPEC_NAME
    return Path(os.path.abspath(chosen))


class _CachedProject(msgspec.Struct):
    key: str
    project: Project
    folders: dict[str, bool]  # every resolved folder and whether it existed
    #: the interpreter's search path (a digest), when ``package:`` apps were found on it
    search_path: str = ""
    #: every folder and the destination with symlinks resolved: a symlink made since can
    #: make the destination overlap a source (SB-E012)
    resolved: dict[str, str] = msgspec.field(default_factory=dict)


#: Entries kept in the cache: ``staticbuild`` and ``python -m staticbuild`` (or two
#: virtualenvs) search different paths, and alternating between them should not validate
#: the spec every time.
_CACHE_ENTRIES = 4


def _cache_key(raw: bytes, overrides: Overrides) -> str:
    import hashlib
    import sys

    parts = [raw, msgspec.json.encode(overrides), sys.executable.encode()]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()


def _search_path(project: Project) -> str:
    """What package resolution depended on, if any app is a package: the search path, and
    what in the spec's folder (searched first) could be those packages or the parts of
    their dotted names: a package with an ``__init__`` found anywhere on the path wins
    over a folder without one found earlier (PEP 420), so adding or removing
    ``./blog/__init__.py`` changes what ``package: blog`` is."""
    names = {
        root.label.removeprefix("package:").rpartition("/")[0]
        for root in project.roots
        if root.label.startswith("package:")
    }
    if not names:
        return ""
    import hashlib
    import sys

    base = os.path.dirname(project.spec_path)
    seen = [_candidates(base, name.split(".")) for name in sorted(names)]
    return hashlib.sha256(repr((sys.path, seen)).encode()).hexdigest()


def _candidates(base: str, parts: list[str]) -> list[object]:
    """For each folder a dotted name passes through below ``base``: its entries that are
    the next part (a folder, a module file) or its ``__init__`` files, and which of them
    are folders; None for a folder that cannot be listed (the name ends there)."""
    seen: list[object] = []
    folder = base
    for depth in range(len(parts) + 1):
        wanted = {"__init__"} if depth else set()
        if depth < len(parts):
            wanted.add(parts[depth])
        try:
            entries = sorted(n for n in os.listdir(folder) if n.partition(".")[0] in wanted)
        except OSError:
            seen.append(None)
            break
        seen.append([(n, os.path.isdir(os.path.join(folder, n))) for n in entries])
        if depth < len(parts):
            folder = os.path.join(folder, parts[depth])
    return seen


def _resolved(project: Project) -> dict[str, str]:
    paths = [r.path for r in project.roots]
    if not project.destination.startswith("s3://"):
        paths.append(project.destination)
    return {path: os.path.realpath(path) for path in paths}


def _cache_file(spec_file: Path) -> Path:
    return spec_file.parent / STATE_DIR_NAME / "project.json"


def _cached_entries(spec_file: Path) -> list[_CachedProject]:
    try:
        data = _cache_file(spec_file).read_bytes()
        return msgspec.json.decode(data, type=list[_CachedProject])
    except (OSError, ValueError):  # msgspec's errors, and bad UTF-8 in a string
        return []


def _from_cache(spec_file: Path, raw: bytes, overrides: Overrides) -> Project | None:
    """The project validated last time for these exact spec bytes, if the disk agrees.

    Validation imports pydantic and ruamel.yaml (most of a no-op apply's start-up); an
    entry is keyed by the spec's bytes, the overrides and the interpreter, and, when the
    spec names packages, by the interpreter's search path as well.
    """
    key = _cache_key(raw, overrides)
    for cached in _cached_entries(spec_file):
        if cached.key != key or cached.project.spec_path != str(spec_file):
            continue
        if cached.search_path and cached.search_path != _search_path(cached.project):
            continue
        if any(os.path.isdir(folder) != existed for folder, existed in cached.folders.items()):
            continue
        if cached.resolved != _resolved(cached.project):
            continue
        return cached.project
    return None


def _to_cache(spec_file: Path, raw: bytes, overrides: Overrides, project: Project) -> None:
    """Keep the project in the state folder, if there is one: a plan or a ``which`` in a
    clean project changes nothing on disk; the first apply makes the folder."""
    folders = {r.path: os.path.isdir(r.path) for r in project.roots}
    entry = _CachedProject(
        _cache_key(raw, overrides), project, folders, _search_path(project), _resolved(project)
    )
    others = [
        e
        for e in _cached_entries(spec_file)
        if (e.key, e.search_path) != (entry.key, entry.search_path)
    ]
    data = msgspec.json.encode([entry, *others][:_CACHE_ENTRIES])
    target = _cache_file(spec_file)
    # no state folder yet, or a read-only one: only the cache is lost
    with contextlib.suppress(OSError):
        replace_file(target, lambda write: write(data))


def keep_in_cache(project: Project) -> None:
    """Cache ``project`` once an apply has made its state folder, if no cache is there
    yet: the load before that apply could not (a plan in a clean project writes nothing),
    and the next load would otherwise validate the spec again."""
    spec_file = Path(project.spec_path)
    cache = _cache_file(spec_file)
    if cache.exists() or not cache.parent.is_dir():
        return
    try:
        raw = spec_file.read_bytes()
    except OSError:
        return
    if _digest(raw) == project.spec_digest:  # not edited since it was loaded
        _to_cache(spec_file, raw, project.overrides, project)


def load_project(
    spec_path: str | os.PathLike[str] | None = None, overrides: Overrides | None = None
) -> Project:
    """Load, validate and check the spec; raise :class:`SpecError` naming every problem."""
    overrides = overrides or Overrides()
    spec_file = find_spec_file(spec_path)
    shown = shown_if_not_utf8(str(spec_file))
    if shown is not None:
        raise SpecError(
            [f"{shown}: the spec's path is not valid UTF-8; rename the folder that holds it"]
        )
    try:
        raw = spec_file.read_bytes()
    except OSError:
        raw = None  # load_spec names the problem
    if raw is not None:
        cached = _from_cache(spec_file, raw, overrides)
        if cached is not None:
            return cached
    project = _validated(spec_file, overrides)
    if raw is not None and project.spec_digest == _digest(raw):
        _to_cache(spec_file, raw, overrides, project)
    return project


def _digest(raw: bytes) -> str:
    import hashlib

    return hashlib.sha256(raw).hexdigest()


def _validated(spec_file: Path, overrides: Overrides) -> Project:
    """:func:`_load_fresh` in a forked child where forking is safe: pydantic and
    ruamel.yaml then never load here, and an apply of 100,000 files does not carry their
    13 MB. A spec the child cannot load (an error) is loaded here, for the error itself."""
    from staticbuild.parallel import Background

    with Background(lambda: _load_fresh(spec_file, overrides), Project) as child:
        return child.result()


def _load_fresh(spec_file: Path, overrides: Overrides) -> Project:
    from staticbuild.checks import check_spec
    from staticbuild.spec import LoadedSpec, load_spec

    def check(loaded: LoadedSpec) -> list[str]:
        return check_spec(loaded, missing_sources_ok=overrides.missing_sources_ok).errors

    loaded = load_spec(spec_file, check)
    resolved = check_spec(loaded, missing_sources_ok=overrides.missing_sources_ok)
    if resolved.errors:
        raise SpecError(resolved.errors)
    spec = loaded.spec
    patterns = [*spec.ignore, *overrides.ignore]
    use_defaults = (
        spec.default_ignore if overrides.default_ignore is None else overrides.default_ignore
    )
    if use_defaults:
        patterns += DEFAULT_IGNORE_PATTERNS
    # collectstatic normalises and de-duplicates the patterns; the order does not matter.
    ignore = tuple(sorted({posixpath.normpath(p) for p in patterns}))
    st = spec.storage
    return Project(
        spec_path=str(loaded.path),
        spec_digest=loaded.digest,
        destination=resolved.destination,
        url=spec.url,
        debug=spec.debug,
        roots=resolved.roots,
        ignore_patterns=ignore,
        link=spec.link if overrides.link is None else overrides.link,
        clear=spec.clear if overrides.clear is None else overrides.clear,
        post_process=spec.post_process
        if overrides.post_process is None
        else overrides.post_process,
        durable=spec.durable,
        hard_links=spec.hard_links,
        storage=StorageSettings(
            kind=st.kind,
            manifest_name=st.manifest_name,
            manifest_strict=st.manifest_strict,
            js_module_imports=st.js_module_imports,
            keep_previous=st.keep_previous,
            compress=tuple(st.compress),
            compress_min_size=st.compress_min_size,
            compress_skip_extensions=st.compress_skip_extensions,
        ),
        state_dir=str(state_dir_of(loaded.path)),
        overrides=overrides,
        warnings=resolved.warnings,
        s3=BucketSettings(spec.s3.endpoint_url, spec.s3.region) if spec.s3 else None,
    )
