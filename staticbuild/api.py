"""The Python API: what the CLI does, importable and typed.

>>> from staticbuild.api import load_project, Builder
>>> project = load_project("staticbuild.yaml")       # doctest: +SKIP
>>> builder = Builder(project)                        # doctest: +SKIP
>>> plan = builder.plan()                             # doctest: +SKIP
>>> print(builder.apply(plan).summary())              # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

from staticbuild.actions import Plan, decode_plan, encode_plan
from staticbuild.builder import Builder
from staticbuild.finders import IgnoreMatcher, find_all
from staticbuild.project import Overrides, Project, load_project
from staticbuild.reports import ApplyResult


@dataclass(frozen=True)
class Found:
    """Where a path was looked for and every file that provides it, in search order."""

    path: str
    locations: tuple[str, ...]
    searched: tuple[str, ...]


def find(project: Project, path: str, *, first: bool = False) -> Found:
    """Django's ``findstatic``, limited to what ``apply`` would collect."""
    matcher = IgnoreMatcher(project.ignore_patterns)
    hits: list[str] = []
    for _root, location in find_all(project.roots, matcher, path):
        hits.append(location)
        if first:
            break
    return Found(path, tuple(hits), tuple(r.path for r in project.roots))


__all__ = [
    "ApplyResult",
    "Builder",
    "Found",
    "Overrides",
    "Plan",
    "Project",
    "decode_plan",
    "encode_plan",
    "find",
    "load_project",
]
