"""Differential tests: ``staticbuild apply`` / ``which`` against real Django 5.2.

Each case is run by Django's ``collectstatic`` (in a subprocess, with a generated settings
module) and by ``staticbuild apply`` on the same tree; the two destinations must be
byte-identical: the same relative names, the same bytes, and for ``--link`` the same
symlink targets. ``which`` is compared with ``findstatic -v 0`` (all locations and
``--first``) on paths that no ignore pattern excludes.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.collectstatic_reference import (
    App,
    Case,
    Flags,
    Source,
    assert_same_tree,
    case_from_spec,
    django_collect,
    django_find,
    snapshot,
    start_collect,
    staticbuild,
    staticbuild_apply,
    staticbuild_which,
    write_spec,
)

ROOT = Path(__file__).resolve().parent.parent


def put(path: Path, content: str | bytes | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if content is None:
        content = f"/* {path.name} */\n".encode()
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def run_both(case: Case, flags: Flags | None = None, spec: Path | None = None) -> dict:
    """Collect with both tools into sibling folders; assert identical; return the snapshot."""
    flags = flags or Flags()
    theirs = case.base / "django-out"
    if spec is None:
        spec = write_spec(case, "sb-out")
        ours = case.base / "sb-out"
    else:
        ours = case.base / "build" / "static"
    django = start_collect(case, theirs, flags)  # runs beside staticbuild: 2 cores, half the time
    staticbuild_apply(spec, flags)
    django.wait()
    collected = assert_same_tree(ours, theirs)
    assert collected, "the case collected nothing; it proves nothing"
    if case.link or flags.link:
        assert all(kind == "link" for kind, _ in collected.values())
    return collected


# -- trees ---------------------------------------------------------------------------------


def precedence_tree(base: Path) -> Case:
    """The same paths in several sources and apps, prefixes that collide with plain paths,
    and unicode and space-containing names."""
    s1, s2, s3, s4 = base / "s1", base / "my assets", base / "vendor dist", base / "ünï"
    app1, app2, app3 = base / "apps" / "blog", base / "apps" / "shop app", base / "apps" / "ç"
    for root in (s1, s4, app1 / "static", app2 / "static", app3 / "static"):
        put(root / "css" / "site.css", f"site from {root}\n")
    put(s1 / "vendor" / "lib.js", "s1 shadows the prefixed vendor/lib.js\n")
    put(s1 / "only-s1.txt")
    put(s2 / "lib.js", "vendor lib, loses to s1's vendor/lib.js\n")
    put(s2 / "sub" / "x.js", "vendor sub x\n")
    put(s2 / "ünïcödé" / "файл.txt", "prefixed unicode\n")
    put(s3 / "deep.css", "under a two-level prefix\n")
    put(s4 / "vendor" / "sub" / "x.js", "loses to the prefixed my assets/sub/x.js\n")
    put(s4 / "with space" / "a b.css", "spaces\n")
    put(s4 / "日本" / "語 file.js", "cjk\n")
    put(s4 / "💾.bin", bytes(range(256)) * 3)
    put(s4 / "empty.txt", b"")
    put(app1 / "static" / "blog" / "post.css")
    put(app1 / "static" / "shared.js", "app1 wins over app2\n")
    put(app1 / "static" / "vendor" / "lib.js", "app loses to sources\n")
    put(app1 / "__init__.py", "# next to static/, never collected\n")
    put(app2 / "static" / "shared.js", "app2 loses\n")
    put(app2 / "static" / "shop" / "cart.js")
    put(app2 / "static" / "deep" / "er" / "deep.css", "loses to the prefixed source\n")
    put(app3 / "static" / "ç" / "ü.svg", "<svg/>\n")
    put(app2 / "not-static" / "never.js")  # outside static/: never searched
    (base / "apps" / "none").mkdir()  # an app without a static folder
    return Case(
        base=base,
        sources=[Source(s1), Source(s2, "vendor"), Source(s3, "deep/er"), Source(s4)],
        apps=[App(path=app1), App(path=app2), App(path=app3), App(path=base / "apps" / "none")],
    )


def ignore_tree(base: Path) -> Case:
    """Every kind of ignore pattern Django matches: file names, folder names, relative
    paths, patterns with '/', globs with ?, [...] and *, plus the default ignores."""
    a, b = base / "assets", base / "lib"
    app = base / "apps" / "main"
    for root in (a, app / "static"):
        put(root / "keep.css")
        put(root / "theme.scss")
        put(root / "css" / "nested.scss")
        put(root / "css" / "keep.css")
        put(root / "src" / "top.js")  # 'src/*': root-relative path, ignored
        put(root / "src" / "deeper" / "x.js")  # 'src/*' matches across '/' too
        put(root / "css" / "src" / "kept.js")  # not at the root: 'src/*' does not match
        put(root / "node_modules" / "pkg" / "index.js")  # folder name, pruned anywhere
        put(root / "js" / "node_modules" / "x.js")
        put(root / "node_modules.js")  # a file named like the folder pattern... kept
        put(root / "docs" / "readme.md")  # 'docs/*.md'
        put(root / "docs" / "keep.txt")
        put(root / "legacy" / "old.js")  # 'legacy' as a path pattern 'js/legacy' doesn't hit
        put(root / "js" / "legacy" / "old.js")  # 'js/legacy/*' does
        put(root / "js" / "legacy.js")
        put(root / "a.txt")  # '?.txt'
        put(root / "ab.txt")
        put(root / "a.log")  # '[ab]*.log'
        put(root / "c.log")
        put(root / "app.min.js")  # '*.min.*'
        put(root / "junk" / "x.css")  # 'junk/' normalises to a folder-name pattern
        put(root / "sub" / "junk")  # ... and to a file-name one
        put(root / "x.txt")  # './x.txt' normalises to 'x.txt'
        put(root / "[weird].css")  # '[[]weird].css' escapes the bracket
        put(root / "ünï çödé.css")  # unicode pattern 'ünï*'
        put(root / "space name.txt")  # 'space name.txt'
        # default ignores
        put(root / ".hidden")
        put(root / ".git" / "config")
        put(root / "css" / ".DS_Store")
        put(root / "CVS" / "Entries")
        put(root / "CVS.txt")
        put(root / "x~")
        put(root / "css" / "site.css~")
        put(root / "notCVS" / "a.js")
    put(b / "src" / "lib.js", "prefixed: 'src/*' is matched root-relative, so ignored\n")
    put(b / "lib" / "src" / "x.js", "root-relative lib/src/x.js: kept\n")
    put(b / "vendor.scss")
    put(b / ".env")
    return Case(
        base=base,
        sources=[Source(a), Source(b, "lib")],
        apps=[App(path=app)],
        ignore=["*.scss", "src/*", "node_modules", "docs/*.md", "js/legacy/*", "js/legacy"],
    )


_IGNORE_FLAGS = (
    "?.txt",
    "[ab]*.log",
    "*.min.*",
    "junk/",
    "./x.txt",
    "[[]weird].css",
    "ünï*",
    "space name.txt",
)


# -- (a) the demo ----------------------------------------------------------------------------


@pytest.mark.parametrize("link", [False, True], ids=["copy", "link"])
def test_demo_tree_matches_collectstatic(tmp_path: Path, link: bool) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    spec = shutil.copy(ROOT / "staticbuild.yaml", tmp_path / "staticbuild.yaml")
    case = case_from_spec(Path(spec))
    collected = run_both(case, Flags(link=link), spec=Path(spec))
    # The demo exercises precedence, a prefix, its ignore patterns and the default ones.
    assert "vendor/lib.js" in collected
    assert not any(p.endswith((".scss", "~", ".DS_Store")) for p in collected)


# -- (b) installed packages ---------------------------------------------------------------------


@pytest.mark.timeout(300)  # ~10,000 files through both tools
def test_admin_and_fontawesomefree_match_collectstatic(tmp_path: Path) -> None:
    override = tmp_path / "overrides"
    put(override / "admin" / "css" / "base.css", "/* the project's own admin base.css */\n")
    put(override / "fontawesomefree" / "css" / "all.min.css", "/* pinned */\n")
    case = Case(
        base=tmp_path,
        sources=[Source(override)],
        apps=[App(package="django.contrib.admin"), App(package="fontawesomefree")],
    )
    collected = run_both(case)
    assert collected["admin/css/base.css"] == ("file", b"/* the project's own admin base.css */\n")
    assert "admin/js/core.js" in collected
    assert sum(p.startswith("fontawesomefree/") for p in collected) > 5000


def test_admin_linked_matches_collectstatic(tmp_path: Path) -> None:
    case = Case(base=tmp_path, apps=[App(package="django.contrib.admin")], link=True)
    collected = run_both(case)
    assert len(collected) > 100


# -- (c) hand-made trees ----------------------------------------------------------------------


@pytest.mark.parametrize("link", [False, True], ids=["copy", "link"])
def test_precedence_and_prefixes_match_collectstatic(tmp_path: Path, link: bool) -> None:
    case = precedence_tree(tmp_path)
    case.link = link
    collected = run_both(case)
    if not link:
        assert collected["vendor/lib.js"][1] == b"s1 shadows the prefixed vendor/lib.js\n"
        assert collected["shared.js"][1] == b"app1 wins over app2\n"
    assert "vendor/ünïcödé/файл.txt" in collected
    assert "deep/er/deep.css" in collected
    assert "💾.bin" in collected


def test_backslash_in_a_name_is_kept_where_djangos_copy_splits_it(tmp_path: Path) -> None:
    """The one known divergence, by design: Django's ``Storage.save`` turns ``\\`` into ``/``
    (so a copied ``back\\slash.css`` lands at ``back/slash.css``) while its ``--link`` keeps the
    name. On posix a backslash is an ordinary name character; staticbuild keeps it in both
    modes, so ``which`` and the destination agree with each other."""
    name = "back\\slash.css"
    put(tmp_path / "assets" / name, "x\n")
    for link in (False, True):
        case = Case(base=tmp_path, sources=[Source(tmp_path / "assets")], link=link)
        theirs, ours = tmp_path / f"django-{link}", f"sb-{link}"
        django = start_collect(case, theirs)
        staticbuild_apply(write_spec(case, ours))
        django.wait()
        assert list(snapshot(tmp_path / ours)) == [name]
        assert list(snapshot(theirs)) == [name if link else "back/slash.css"]
    assert staticbuild_which(write_spec(case, "sb-out"), name) == [str(tmp_path / "assets" / name)]


IgnoreVariant = Callable[[Case], Flags]

IGNORE_VARIANTS: dict[str, IgnoreVariant] = {
    "spec-patterns": lambda case: Flags(),
    "cli-patterns": lambda case: Flags(ignore=_IGNORE_FLAGS),
    "no-default-ignore-flag": lambda case: Flags(ignore=_IGNORE_FLAGS, no_default_ignore=True),
    "default-ignore-false-in-spec": lambda case: (
        setattr(case, "default_ignore", False) or Flags(ignore=("?.txt",))
    ),
    "only-defaults": lambda case: case.ignore.clear() or Flags(),
    "nothing-ignored": lambda case: (
        case.ignore.clear() or setattr(case, "default_ignore", False) or Flags()
    ),
    "link-with-patterns": lambda case: Flags(ignore=_IGNORE_FLAGS, link=True),
}


@pytest.mark.parametrize("variant", list(IGNORE_VARIANTS))
def test_ignore_patterns_match_collectstatic(tmp_path: Path, variant: str) -> None:
    case = ignore_tree(tmp_path)
    flags = IGNORE_VARIANTS[variant](case)
    collected = run_both(case, flags)
    defaults_on = case.default_ignore and not flags.no_default_ignore
    assert (".hidden" in collected) is not defaults_on
    assert ("CVS/Entries" in collected) is not defaults_on
    assert ("x~" in collected) is not defaults_on
    assert ("theme.scss" in collected) is not bool(case.ignore)
    assert "css/src/kept.js" in collected
    assert "lib/lib/src/x.js" in collected


# -- which vs findstatic ---------------------------------------------------------------------


def test_which_agrees_with_findstatic(tmp_path: Path) -> None:
    case = precedence_tree(tmp_path)
    spec = write_spec(case, "sb-out")
    django_collect(case, tmp_path / "django-out")
    collected = sorted(snapshot(tmp_path / "django-out"))
    paths = [
        *collected,  # present in one root or several
        "vendor/lib.js",  # in s1 (plain) and s2 (prefixed) and app1
        "vendor/sub/x.js",  # prefixed source first, then a plain one
        "deep/er/deep.css",  # two-level prefix, then an app
        "lib.js",  # only reachable under the prefix: not found
        "vendor/missing.js",
        "missing.css",
        "sub/x.js",  # exists in s2 but only as vendor/sub/x.js
        "never.js",
        "not-static/never.js",
    ]
    for first in (False, True):
        expected = django_find(case, paths, first=first)
        got = {p: staticbuild_which(spec, p, first=first) for p in paths}
        assert got == expected, f"first={first}"
    several = django_find(case, ["css/site.css", "vendor/lib.js", "shared.js"])
    assert len(several["css/site.css"]) == 5
    assert len(several["vendor/lib.js"]) == 3
    assert len(several["shared.js"]) == 2


def test_which_does_not_find_ignored_files(tmp_path: Path) -> None:
    case = ignore_tree(tmp_path)
    spec = write_spec(case, "sb-out")
    ignored = [
        "theme.scss",
        "css/nested.scss",
        "src/top.js",
        "src/deeper/x.js",
        "node_modules/pkg/index.js",
        "js/node_modules/x.js",
        "docs/readme.md",
        "js/legacy/old.js",
        ".hidden",
        ".git/config",
        "css/.DS_Store",
        "CVS/Entries",
        "x~",
        "css/site.css~",
        "lib/src/lib.js",
        "lib/vendor.scss",
        "lib/.env",
    ]
    # findstatic does not apply ignore patterns: Django finds every one of them ...
    found_by_django = django_find(case, ignored)
    assert all(found_by_django[p] for p in ignored), found_by_django
    # ... but which reports what apply would collect.
    for path in ignored:
        assert staticbuild_which(spec, path) == [], path
        result = staticbuild("-f", spec, "which", path)
        assert result.exit_code == 1
        assert f"No matching file found for '{path}'." in result.stderr
    # Not ignored: which agrees with findstatic on them.
    kept = ["css/src/kept.js", "lib/lib/src/x.js", "legacy/old.js", "js/legacy.js", "CVS.txt"]
    expected = django_find(case, kept)
    assert {p: staticbuild_which(spec, p) for p in kept} == expected
    assert all(expected.values())
    # With default_ignore: false, the default-ignored files become findable again.
    case.default_ignore = False
    spec = write_spec(case, "sb-out")
    hidden = [".hidden", ".git/config", "CVS/Entries", "x~", "lib/.env"]
    expected = django_find(case, hidden)
    assert {p: staticbuild_which(spec, p) for p in hidden} == expected
    assert all(expected.values())
