"""Where an app's package is, found as Python would find it, without importing it.

``package: django.contrib.admin`` names a folder: the package's, whose ``static/`` is
searched. Importing the package to ask would run its code (and its parents'), which a
tool that reads a spec must never do; here each part of the dotted name is looked up in
the folders of the one before it, as the import system would, and nothing runs.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from importlib.machinery import ModuleSpec
from pathlib import Path


def find_module(name: str, base: Path | None = None) -> ModuleSpec | None:
    """Where ``name`` is, found as ``python manage.py`` beside the spec finds it: the
    spec's folder ``base`` comes first on the search path (a project's own apps live
    there, next to manage.py, whose folder is sys.path[0]), then the interpreter's.

    Nothing is imported, not even the parents of a dotted name (``importlib.util.
    find_spec`` would run their ``__init__.py``): each part is looked up in the folders
    of the one before it, by the path finder, then by the finders the import system asks
    after it (an editable install's), which are given those folders as well."""
    search = None if base is None else [str(base), *sys.path]
    parent = ""
    spec: ModuleSpec | None = None
    for part in name.split("."):
        if spec is not None:
            if not spec.submodule_search_locations:
                return None  # a plain module has no submodules
            search = list(spec.submodule_search_locations)
        parent = f"{parent}.{part}" if parent else part
        spec = _find_spec(parent, search)
        if spec is None:
            return None
    return spec


def _find_spec(name: str, search: list[str] | None) -> ModuleSpec | None:
    """``name`` (its parent's folders ``search``), found without importing anything."""
    # By its last part: the folders of a namespace package found by its dotted name follow
    # its parent's __path__ in sys.modules, which holds only what was imported (KeyError).
    try:
        spec = importlib.machinery.PathFinder.find_spec(name.rpartition(".")[2], search)
    except (ImportError, ValueError):
        spec = None
    if spec is not None:
        if spec.submodule_search_locations is not None:  # as found, never recomputed
            spec.submodule_search_locations = list(spec.submodule_search_locations)
        return spec
    # Python asks the finders placed after the path finder (setuptools' editable
    # installs append theirs) only once it has found nothing; those before it are the
    # interpreter's own (builtin and frozen modules have no folder).
    finders = list(sys.meta_path)
    path_finder = importlib.machinery.PathFinder
    after = finders[finders.index(path_finder) + 1 :] if path_finder in finders else []
    for finder in after:
        find = getattr(finder, "find_spec", None)
        if find is None:
            continue
        try:
            found = find(name, search if "." in name else None)
        except (ImportError, ValueError):
            continue
        if isinstance(found, ModuleSpec):
            return found
    return None


def package_folders(name: str, base: Path | None = None) -> tuple[Path, ...] | None:
    """The folders of package ``name`` (see :func:`find_module`): one, or several for a
    namespace package spread over the path; None if there is no such package."""
    spec = find_module(name, base)
    if spec is None or not spec.submodule_search_locations:
        return None
    # One folder reached twice (the spec's folder is also on sys.path, or through a
    # symlink) is one folder: Django too keeps one of each in a namespace __path__.
    folders: dict[str, Path] = {}
    for place in spec.submodule_search_locations:
        folders.setdefault(os.path.realpath(place), Path(place))
    return tuple(folders.values())
