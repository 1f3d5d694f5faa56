"""watch's re-apply path on the real core, without threads: a Builder that plans only the
changed paths, as the watch loop drives it. After every change its destination must equal
what a fresh ``apply`` of the same spec produces in an empty folder.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from staticbuild.api import ApplyResult, Builder, Project, load_project
from tests.conftest import make_spec, tree, write


def watching(spec: Path) -> tuple[Project, Builder]:
    """The project and a builder that has made its first (full) apply, as watch does."""
    project = load_project(spec)
    builder = Builder(project, incremental=True)
    builder.apply(builder.plan())
    return project, builder


def reapply(builder: Builder, *paths: Path) -> ApplyResult:
    return builder.apply(builder.plan(changed=frozenset(paths)))


def fresh_apply(project: Project, folder: Path) -> dict[str, bytes]:
    """What a fresh apply of ``project`` writes into the empty ``folder``."""
    other = msgspec.structs.replace(
        project, destination=str(folder / "out"), state_dir=str(folder / "state")
    )
    Builder(other).apply()
    return tree(folder / "out")


def test_a_symlink_out_of_the_root_is_skipped_as_apply_skips_it(tmp_path: Path) -> None:
    write(tmp_path / "outside/lib/e.js", "outside")
    site = tmp_path / "site"
    write(site / "assets/a.js", "a")
    project, builder = watching(make_spec(site, "sources: [assets]\n"))
    folder, file = site / "assets/lib", site / "assets/leak.js"
    folder.symlink_to(tmp_path / "outside/lib", target_is_directory=True)
    reapply(builder, folder)
    assert [w for w in builder.warnings if "leads outside" in w] == [
        f"skipping {str(folder)!r}: symlink leads outside {str(site / 'assets')!r}"
    ]
    file.symlink_to(tmp_path / "outside/lib/e.js")
    reapply(builder, file, folder / "e.js")  # a path below the link, looked up alone
    assert any(str(file) in w for w in builder.warnings)
    assert tree(site / "out") == {"a.js": b"a"} == fresh_apply(project, tmp_path / "fresh")
