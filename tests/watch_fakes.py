"""A small fake of the core's Project/Builder interface, working on real files.

It implements what ``staticbuild.watch.run_watch`` needs (see ``staticbuild/api.py``):
``plan()`` / ``plan(changed=...)`` / ``apply(plan)`` with ``changed_paths`` and
``summary()``. The spec is JSON so that the fake needs no YAML: ``{"destination": ...,
"sources": [...], "url": ..., "debug": ..., "ignore": [...]}`` (the batcher reads the
patterns; the fake copies every file). A source file containing ``FAIL`` makes
the apply raise ApplyError, which is how the tests make a re-apply fail.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from staticbuild.errors import ApplyError, SpecError


@dataclass(frozen=True)
class FakeStorage:
    kind: str = "filesystem"
    manifest_name: str = "staticfiles.json"


@dataclass(frozen=True)
class FakeProject:
    spec_path: Path
    destination: Path
    url: str
    debug: bool
    state_dir: Path
    watch_roots: tuple[Path, ...]
    link_roots: tuple[Path, ...]
    ignore_patterns: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    storage: FakeStorage = FakeStorage()
    link: bool = False
    prefixes: tuple[str, ...] = ()


def load_fake_project(spec_path: Path) -> FakeProject:
    """Read the JSON spec; any problem is a SpecError, as with the real loader."""
    try:
        data = json.loads(spec_path.read_text(encoding="utf-8"))
        base = spec_path.parent
        roots = tuple(base / name for name in data["sources"])
        return FakeProject(
            spec_path=spec_path,
            destination=base / data["destination"],
            url=data.get("url", "/static/"),
            debug=bool(data.get("debug", False)),
            state_dir=base / ".staticbuild",
            watch_roots=roots,
            link_roots=roots,
            ignore_patterns=tuple(data.get("ignore", ())),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpecError([f"{spec_path}: {exc}"]) from exc


@dataclass(frozen=True)
class FakeAction:
    op: str
    path: str


@dataclass(frozen=True)
class FakePlan:
    actions: tuple[FakeAction, ...]

    def foreign(self) -> tuple[FakeAction, ...]:
        """The fake never tells its files from anyone else's."""
        return ()


@dataclass
class FakeResult:
    destination: Path
    changed_paths: tuple[str, ...]

    def summary(self) -> str:
        return f"{len(self.changed_paths)} static files copied to '{self.destination}'."


@dataclass
class FakeBuilder:
    """Copies the first provider of each name into the destination; records its calls."""

    project: FakeProject
    plans: list[frozenset[Path] | None] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _winner(self, rel: str) -> Path | None:
        for root in self.project.watch_roots:
            if (root / rel).is_file():
                return root / rel
        return None

    def _names(self, changed: frozenset[Path] | None) -> set[str]:
        dest = self.project.destination
        names = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
        if changed is None:
            for root in self.project.watch_roots:
                names |= {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
            return names
        wanted: set[str] = set()
        for path in changed:
            for root in self.project.watch_roots:
                if not path.is_relative_to(root):
                    continue
                rel = path.relative_to(root).as_posix()
                rel = "" if rel == "." else rel
                if path.is_dir():
                    wanted |= {
                        p.relative_to(root).as_posix() for p in path.rglob("*") if p.is_file()
                    }
                wanted |= {n for n in names if not rel or n == rel or n.startswith(rel + "/")}
                if path.is_file():
                    wanted.add(rel)
        return wanted

    def reaches(self, path: Path) -> bool:
        return False  # the fake follows no symlinks

    def conflicts(self) -> list[str]:
        return []  # the fake reports no shadowed files

    def plan(self, changed: frozenset[Path] | None = None) -> FakePlan:
        with self.lock:
            self.plans.append(changed)
        actions = []
        for rel in sorted(self._names(changed)):
            source, target = self._winner(rel), self.project.destination / rel
            if source is None:
                if target.exists():
                    actions.append(FakeAction("delete", rel))
            elif not target.is_file() or target.read_bytes() != source.read_bytes():
                actions.append(FakeAction("copy", rel))
        return FakePlan(tuple(actions))

    def apply(self, plan: FakePlan) -> FakeResult:
        dest = self.project.destination
        dest.mkdir(parents=True, exist_ok=True)
        self.project.state_dir.mkdir(parents=True, exist_ok=True)
        (self.project.state_dir / "state.json").write_text(json.dumps(len(plan.actions)))
        for action in plan.actions:
            target = dest / action.path
            if action.op == "delete":
                target.unlink()
                continue
            source = self._winner(action.path)
            assert source is not None
            if b"FAIL" in source.read_bytes():
                raise ApplyError(f"cannot copy {action.path}: it says FAIL")
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.sbtmp-1")
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)  # atomic, as the real executor does
        return FakeResult(dest, tuple(a.path for a in plan.actions))
