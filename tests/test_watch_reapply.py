"""watch's re-apply path on the real core, without threads: a Builder that plans only the
changed paths, as the watch loop drives it. After every change its destination must equal
what a fresh ``apply`` of the same spec produces in an empty folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import pytest

from staticbuild.api import ApplyResult, Builder, Project, load_project
from staticbuild.errors import StaticbuildError
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


def test_a_change_reaches_every_path_that_links_to_it(tmp_path: Path) -> None:
    assets = tmp_path / "site/assets"
    write(assets / "real/r.js", "1")
    write(assets / "other/o.js", "1")
    (assets / "alias").symlink_to("real", target_is_directory=True)
    (assets / "real/inner").symlink_to("../other", target_is_directory=True)
    (assets / "r-link.js").symlink_to("real/r.js")
    project, builder = watching(make_spec(tmp_path / "site", "sources: [assets]\n"))
    out = tmp_path / "site/out"

    def same_as_apply(step: str) -> None:
        assert tree(out) == fresh_apply(project, tmp_path / step), step

    write(assets / "real/r.js", "2")  # inotify reports only the real path
    write(assets / "other/o.js", "2")
    reapply(builder, assets / "real/r.js", assets / "other/o.js")
    assert tree(out)["alias/r.js"] == tree(out)["r-link.js"] == b"2"
    assert tree(out)["alias/inner/o.js"] == b"2"  # through two links
    same_as_apply("edited")
    write(assets / "real/new/n.js", "n")
    reapply(builder, assets / "real/new")
    same_as_apply("created")
    shutil.rmtree(assets / "real")
    reapply(builder, assets / "real/r.js", assets / "real/new", assets / "real")
    same_as_apply("deleted")
    write(assets / "real/back.js", "b")  # the dangling links lead somewhere again
    reapply(builder, assets / "real")
    assert tree(out)["alias/back.js"] == b"b"
    same_as_apply("recreated")


@pytest.mark.parametrize("storage", ["", "storage: {kind: manifest}\n"])
def test_a_link_in_the_middle_of_a_chain_removed_or_re_pointed(
    tmp_path: Path, storage: str
) -> None:
    assets = tmp_path / "site/assets"
    write(assets / "real/x.css", "x")
    write(assets / "other/y.css", "y")
    write(assets / "a.css", "a")
    write(assets / "b.css", "b")
    (assets / "alias").symlink_to("real", target_is_directory=True)
    (assets / "alias2").symlink_to("alias", target_is_directory=True)
    (assets / "f1.css").symlink_to("a.css")
    (assets / "f2.css").symlink_to("f1.css")
    project, builder = watching(make_spec(tmp_path / "site", "sources: [assets]\n" + storage))
    out = tmp_path / "site/out"

    def same_as_apply(step: str) -> None:
        assert tree(out) == fresh_apply(project, tmp_path / step), step

    (assets / "alias").unlink()  # inotify reports only the middle link
    (assets / "f1.css").unlink()
    reapply(builder, assets / "alias", assets / "f1.css")
    assert not any(name.startswith(("alias2/", "f2.")) for name in tree(out))
    same_as_apply("removed")
    (assets / "alias").symlink_to("real", target_is_directory=True)
    (assets / "f1.css").symlink_to("a.css")
    reapply(builder, assets / "alias", assets / "f1.css")
    same_as_apply("restored")
    (assets / "alias").unlink()
    (assets / "alias").symlink_to("other", target_is_directory=True)
    (assets / "f1.css").unlink()
    (assets / "f1.css").symlink_to("b.css")
    reapply(builder, assets / "alias", assets / "f1.css")
    same_as_apply("re-pointed")


@pytest.mark.parametrize("failures", [1, 2])
def test_a_re_apply_after_failed_ones_deletes_what_they_left(tmp_path: Path, failures: int) -> None:
    """A source edited while its re-apply runs fails that apply after it wrote some of the
    new outputs (here the siblings of a hashed name it could not copy). The re-applies
    after it delete those, as a one-shot apply would: nothing stale piles up."""
    lib = write(tmp_path / "site/vendor/lib.js", "v0;\n" * 200)
    write(tmp_path / "site/vendor/other.js", "o;\n" * 200)
    project, builder = watching(
        make_spec(
            tmp_path / "site",
            "sources: [vendor]\nhard_links: false\n"
            "storage: {kind: manifest, compress: [gzip, br]}\n",
        )
    )
    out = tmp_path / "site/out"
    for n in range(1, failures + 1):
        write(lib, f"v{n};\n" * 200)
        plan = builder.plan(changed=frozenset({lib}))
        write(lib, f"v{n} edited while it is applied;\n" * 200)
        with pytest.raises(StaticbuildError, match="changed during apply"):
            builder.apply(plan)
    left = {p for p in tree(out) if p.startswith("lib.") and p.count(".") == 3}
    assert left  # siblings of hashed names that the failed applies made
    write(lib, "settled;\n" * 200)
    reapply(builder, lib)
    assert not left & tree(out).keys()
    assert tree(out) == fresh_apply(project, tmp_path / "fresh")
    assert Builder(project).plan().actions == ()
