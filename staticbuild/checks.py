"""File-system checks of a spec, Django system-checks style.

They run on a valid spec, and on the valid parts of one that is not (its schema problems
and these are then reported together).

Each problem has a stable id and a hint; all are collected before any is reported, so a
user fixes a spec in one round. Errors (``SB-E``) stop the run; warnings (``SB-W``) print.

=========  =========================================================
SB-E010    a source folder does not exist or is not a folder
SB-E012    the destination is, contains, or is inside a searched folder
SB-E013    an app package is not installed
SB-E017    an app folder does not exist or is not a folder
SB-E020    an s3:// destination that is not a valid bucket URL
SB-E021    link: true with an s3:// destination (a bucket holds no symlinks)
SB-E022    s3 settings with a destination that is not s3://
SB-E023    an s3 endpoint_url or region that cannot be one (checked in spec.py)
SB-E024    a manifest_name that leaves the destination (checked in spec.py)
SB-E025    the destination holds the spec file or staticbuild's state folder, or is inside it
SB-E026    a destination URL whose scheme is not s3:// (checked in spec.py)
SB-E027    a path in the spec with a NUL byte (checked in spec.py)
SB-E028    an app package that is a plain module (it has no folder for static/)
SB-E029    the destination is a file or a broken symlink, or cannot be created
SB-E030    storage.compress lists an encoding more than once (checked in spec.py)
SB-E031    an app package that is a namespace package in several folders (Django refuses it)
SB-W001    an app has no static/ folder (nothing to collect from it)
SB-W002    a folder is listed twice (searched once, as Django's finders do)
SB-W010    (watch) a source folder does not exist yet: it is watched for
=========  =========================================================
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from staticbuild.bucket import is_bucket_url, normal_bucket_url, parse_bucket_url
from staticbuild.packages import find_module, package_folders
from staticbuild.project import STATE_DIR_NAME, Root
from staticbuild.spec import LoadedSpec


@dataclass
class Resolved:
    destination: str  # a normalised folder path, or an s3:// URL
    roots: tuple[Root, ...] = ()
    errors: list[str] = field(default_factory=list)
    warnings: tuple[str, ...] = ()


def check_spec(loaded: LoadedSpec, *, missing_sources_ok: bool = False) -> Resolved:
    """Resolve every folder of the spec and report what is wrong with them, all at once.

    ``missing_sources_ok`` (watch): a source folder that does not exist is a warning, as
    Django's staticfiles.W004 is, since a build may create it while watch runs; a plan or
    apply of a folder that is not there is more likely a mistake, and stays an error.
    """
    spec = loaded.spec
    base = loaded.path.parent
    errors: list[str] = []
    warnings: list[str] = []
    # A spec with invalid parts (see load_spec) may have no destination to check.
    known = loaded.destination_known
    bucket = is_bucket_url(spec.destination)
    destination = spec.destination if bucket else os.path.normpath(base / spec.destination)
    if known:
        errors.extend(_bucket_problems(loaded, bucket))
    if bucket and not errors:
        destination = normal_bucket_url(spec.destination)
    roots: list[Root] = []
    keys: list[tuple[str | int, ...]] = []  # the spec entry of each root, for messages
    seen: set[tuple[str, str]] = set()
    for i, source in enumerate(spec.source_entries()):
        key: tuple[str | int, ...] = ("sources", i)
        folder = Path(os.path.normpath(base / source.path))
        why = _not_a_folder(folder)
        if why and missing_sources_ok and not os.path.lexists(folder):
            warnings.append(
                loaded.problem(
                    key,
                    "SB-W010",
                    f"source folder {str(folder)!r} does not exist yet; collected once it does",
                )
            )
        elif why:
            errors.append(
                loaded.problem(
                    key,
                    "SB-E010",
                    f"source folder {str(folder)!r} {why}",
                    "create it or remove the entry",
                )
            )
        # Searched once, as Django's FileSystemFinder keeps one of a repeated (prefix, root)
        # in STATICFILES_DIRS: the copy would only shadow itself (a conflict per file).
        if (source.prefix, str(folder)) in seen:
            warnings.append(loaded.problem(key, "SB-W002", f"{source.path!r} is listed twice"))
            continue
        seen.add((source.prefix, str(folder)))
        roots.append(Root(str(folder), source.prefix, _label(source.path, source.prefix), "source"))
        keys.append(key)
    seen_apps: set[str] = set()  # static folders
    for i, app in enumerate(spec.apps):
        key = ("apps", i)
        if app.package is not None:
            found = _package_folder(loaded, (*key, "package"), app.package, base)
            if isinstance(found, str):
                errors.append(found)
                continue
            package_dir = found
            label = f"package:{app.package}/static"
        else:
            assert app.path is not None
            package_dir = Path(os.path.normpath(base / app.path))
            why = _not_a_folder(package_dir)
            if why:
                errors.append(
                    loaded.problem(
                        (*key, "path"), "SB-E017", f"app folder {str(package_dir)!r} {why}"
                    )
                )
                continue
            label = f"{app.path.rstrip('/')}/static"
        static = package_dir / "static"
        if str(static) in seen_apps:  # Django refuses an app installed twice
            warnings.append(loaded.problem(key, "SB-W002", f"{label!r} is listed twice"))
            continue
        seen_apps.add(str(static))
        why = _not_a_folder(static)
        if why:
            warnings.append(
                loaded.problem(
                    key, "SB-W001", f"{label!r} {why}; nothing is collected from this app"
                )
            )
        roots.append(Root(str(static), "", label, "app"))
        keys.append(key)
    if known and not bucket:
        errors.extend(_folder_problems(loaded, destination, roots, keys))
    return Resolved(destination, tuple(roots), loaded.by_position(errors), tuple(warnings))


def _folder_problems(
    loaded: LoadedSpec,
    destination: str,
    roots: list[Root],
    keys: list[tuple[str | int, ...]],
) -> list[str]:
    """What is wrong with a destination folder: it holds the spec or the state, cannot be
    made, or overlaps a searched folder (``keys``: each root's spec entry)."""
    errors = _own_files_problems(loaded, destination)
    errors.extend(_unusable_destination(loaded, destination))
    for root, key in zip(roots, keys, strict=True):
        if _overlaps(destination, root.path):
            errors.append(
                loaded.problem(
                    ("destination",),
                    "SB-E012",
                    f"destination {destination!r}{_resolves_to(destination)} overlaps the "
                    f"searched folder {root.path!r}{_resolves_to(root.path)} "
                    f"({_dotted(loaded.original(key))})",
                    "collect to a folder outside every source and app",
                )
            )
    return errors


def _bucket_problems(loaded: LoadedSpec, bucket: bool) -> list[str]:
    spec = loaded.spec
    if not bucket:
        if spec.s3 is None:
            return []
        return [
            loaded.problem(
                ("s3",),
                "SB-E022",
                f"s3 settings are given but the destination {spec.destination!r} is a folder",
                "write the destination as s3://bucket/prefix, or remove the s3 block",
            )
        ]
    problems: list[str] = []
    try:
        parse_bucket_url(spec.destination)
    except ValueError as exc:
        problems.append(
            loaded.problem(("destination",), "SB-E020", str(exc), "write it as s3://bucket/prefix")
        )
    if spec.link:
        problems.append(
            loaded.problem(
                ("link",),
                "SB-E021",
                "cannot be true with an s3:// destination (a bucket holds no symlinks)",
                "remove link, or collect to a folder",
            )
        )
    return problems


def _not_a_folder(path: Path) -> str:
    """What keeps ``path`` from being searched as a folder ('' if nothing does)."""
    try:
        is_folder = stat.S_ISDIR(path.stat().st_mode)
    except FileNotFoundError:
        return "is a symlink to nothing" if path.is_symlink() else "does not exist"
    except NotADirectoryError:
        return "does not exist (a parent of it is a file)"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    return "" if is_folder else "is a file, not a folder"


def _package_folder(
    loaded: LoadedSpec, key: tuple[str | int, ...], name: str, base: Path
) -> Path | str:
    """The folder of the app package ``name``, or the problem line saying why not."""
    folders = package_folders(name, base)
    if folders is None:
        return _missing_package(loaded, key, name)
    if len(folders) > 1:  # Django refuses such an app module too
        shown = ", ".join(repr(str(f)) for f in folders)
        return loaded.problem(
            key,
            "SB-E031",
            f"package {name!r} is a namespace package in several folders ({shown}); "
            "which one's static/ is meant is not known",
            "give the app as {path: FOLDER}",
        )
    return folders[0]


def _missing_package(loaded: LoadedSpec, key: tuple[str | int, ...], name: str) -> str:
    """SB-E013, or SB-E028 when the name is a plain module, which has no folder of its own."""
    base = loaded.path.parent
    module = find_module(name, base)
    if module is None:
        folder = _app_folder_named(name, base)
        if folder is not None:  # a folder the name was meant for, but not importable so
            hint = (
                f"give the app as 'path: {folder}' (the folder beside the spec with a "
                "static/ folder), or pip install the package"
            )
        else:
            hint = f"pip install it, or check the name (Python {_python_version()})"
        return loaded.problem(
            key,
            "SB-E013",
            f"package {name!r} is not installed, nor a package in the spec's folder {str(base)!r}",
            hint,
        )
    where = f" ({module.origin})" if module.origin and os.path.isabs(module.origin) else ""
    return loaded.problem(
        key,
        "SB-E028",
        f"{name!r} is a module{where}, not a package: it has no folder to hold a static/ folder",
        "name the package that holds its static/ folder, or give the app as path:",
    )


def _app_folder_named(name: str, base: Path) -> str | None:
    """A folder beside the spec that ``name`` seems to mean (``mysite.blog``: ``blog``, or
    the dotted path as folders) and that has a static/ folder, spec-relative."""
    for rel in dict.fromkeys((name.replace(".", "/"), name.rpartition(".")[2])):
        try:
            if (base / rel / "static").is_dir():
                return rel
        except OSError:  # a name too long for a file name: no such folder
            continue
    return None


def _overlaps(destination: str, folder: str) -> bool:
    """Whether the two are, contain or lie inside each other."""
    return _inside(destination, folder) or _inside(folder, destination)


def _inside(inner: str, outer: str) -> bool:
    """Whether ``inner`` is or lies inside ``outer``, as written or with symlinks resolved:
    a destination reached through a symlink into a source would turn the source's files
    into links to themselves, and ``clear`` would delete them. A path that does not exist
    yet resolves through its nearest existing parent."""
    for a, b in (
        (Path(inner), Path(outer)),
        (Path(os.path.realpath(inner)), Path(os.path.realpath(outer))),
    ):
        if a.is_relative_to(b):
            return True
    return False


def _unusable_destination(loaded: LoadedSpec, destination: str) -> list[str]:
    """A destination that is not a folder and cannot become one (apply would fail on it)."""
    path = Path(destination)
    if os.path.lexists(path):
        why = _not_a_folder(path)
        if why == "is a symlink to nothing":
            why = f"is a symlink to {os.readlink(path)!r}, which does not exist"
    else:
        parent = next(p for p in path.parents if os.path.lexists(p))
        why = _not_a_folder(parent)
        if why:
            why = f"cannot be created: {str(parent)!r} {why}"
    if not why:
        return []
    return [
        loaded.problem(
            ("destination",),
            "SB-E029",
            f"destination {destination!r} {why}",
            "collect to a folder, or to a path where one can be made",
        )
    ]


def _own_files_problems(loaded: LoadedSpec, destination: str) -> list[str]:
    """The destination must not hold the spec or staticbuild's state: ``clear`` would delete
    them, and a destination inside the state folder would lose its own record each apply."""
    spec_file = str(loaded.path)
    state = str(loaded.path.parent / STATE_DIR_NAME)
    if _inside(spec_file, destination):
        what = f"contains the spec file {spec_file!r}"
    elif _inside(destination, state):
        what = f"is, or is inside, staticbuild's state folder {state!r}"
    elif _inside(state, destination):
        what = f"contains staticbuild's state folder {state!r}"
    else:
        return []
    return [
        loaded.problem(
            ("destination",),
            "SB-E025",
            f"destination {destination!r}{_resolves_to(destination)} {what}",
            "collect to a folder of its own, like 'build/static'",
        )
    ]


def _resolves_to(path: str) -> str:
    real = os.path.realpath(path)
    return f" (through symlinks: {real!r})" if real != path else ""


def _label(path: str, prefix: str) -> str:
    clean = path.rstrip("/") or "."
    return f"{clean} as {prefix}" if prefix else clean


def _dotted(key: tuple[str | int, ...]) -> str:
    return f"{key[0]}[{key[1]}]"


def _python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"
