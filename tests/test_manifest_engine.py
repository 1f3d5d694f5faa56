"""The manifest engine against real Django 6.1 (bytes) and 5.2 (where they agree).

Every tree is collected by Django's own ``collectstatic`` with ManifestStaticFilesStorage in
a subprocess (tests/django_reference.py) and compared, file by file, with what
``post_process`` says the destination should hold.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import django  # type: ignore[import-untyped]
import fontawesomefree  # type: ignore[import-untyped]
import pytest

from staticbuild.errors import PostProcessError
from staticbuild.storage.manifest_cache import ManifestOptions
from tests.django_reference import DjangoRun, collectstatic
from tests.manifest_reference import destination, run_engine
from tests.manifest_trees import CASES, MODULE_CHAINS_LENIENT, PREHASHED, Case, write_tree


def both(dj61: Path, tree: Path, **kw: Any) -> tuple[DjangoRun, DjangoRun]:
    """collectstatic under 6.1 and 5.2 at once (two cores, two subprocesses)."""
    with ThreadPoolExecutor(2) as pool:
        new = pool.submit(collectstatic, dj61, tree, **kw)
        old = pool.submit(collectstatic, Path(sys.executable), tree, **kw)
        return new.result(), old.result()


def diff(ours: dict[str, bytes], theirs: dict[str, bytes]) -> list[str]:
    return [k for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k)]


def assert_same_as_52(ours: dict[str, bytes], old: DjangoRun) -> None:
    """5.2 writes the same files; its manifest differs only in the order of "paths"."""
    assert old.ok, old.error
    assert diff(ours, old.files) == ["staticfiles.json"]
    assert json.loads(ours["staticfiles.json"]) == json.loads(old.files["staticfiles.json"])


def test_reference_versions(dj61: Path) -> None:
    assert django.VERSION[:2] == (5, 2)
    assert "3.12" in (dj61.parent.parent / "pyvenv.cfg").read_text()


# -- real trees -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tree",
    [
        pytest.param(Path(django.__file__).parent / "contrib/admin/static", id="admin"),
        pytest.param(Path(fontawesomefree.__file__).parent / "static", id="fontawesome"),
    ],
)
@pytest.mark.timeout(600)  # fontawesome: ~10k files through two real collectstatic runs
def test_real_tree_matches_django(dj61: Path, tree: Path) -> None:
    result, _ = run_engine(tree)
    ours = destination(tree, result, "staticfiles.json")
    new, old = both(dj61, tree)
    assert new.ok, new.error
    assert diff(ours, new.files) == []
    assert any(o.rewritten for o in result.outputs)  # references were really rewritten
    assert_same_as_52(ours, old)


# -- one tree per rule ------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule_tree_matches_django(dj61: Path, tmp_path: Path, case: Case) -> None:
    tree = write_tree(tmp_path / "tree", case.files)
    options = ManifestOptions(
        url=case.url, strict=not case.lenient, js_module_imports=case.js_module_imports
    )
    result, _ = run_engine(tree, options)
    ours = destination(tree, result, "staticfiles.json", options)
    new, old = both(
        dj61,
        tree,
        url=case.url,
        js_module_imports=case.js_module_imports,
        lenient=case.lenient,
        max_passes=case.max_passes,
    )
    assert new.ok, new.error
    assert diff(ours, new.files) == []
    for needle in case.expect:
        assert needle in b"".join(ours[o.name] for o in result.outputs if o.rewritten), needle
    assert len(result.warnings) == case.warnings, result.warnings
    if case.agrees_52:
        assert_same_as_52(ours, old)
    else:  # the tree shows a real 5.2/6.1 difference, and we follow 6.1
        assert not old.ok or diff(ours, old.files) != ["staticfiles.json"]


# -- failures ---------------------------------------------------------------------------

MISSING: dict[str, str | bytes] = {
    "css/base.css": "body { color: red; }\n\n.a { background: url(../img/missing.png); }\n",
    "img/ok.png": b"\x89PNG",
}


def test_missing_reference_fails_like_django(dj61: Path, tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "tree", MISSING)
    with pytest.raises(PostProcessError) as err:
        run_engine(tree)
    assert str(err.value) == (
        "css/base.css:3: references 'img/missing.png', which is not collected"
    )
    new = collectstatic(dj61, tree)
    assert not new.ok
    assert "img/missing.png' could not be found" in new.error


def test_missing_reference_lenient_leaves_it_and_warns(dj61: Path, tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "tree", MISSING)
    result, _ = run_engine(tree, ManifestOptions(strict=False))
    assert result.warnings == (
        "css/base.css:3: references 'img/missing.png', which is not collected; left as written",
    )
    out = next(o for o in result.outputs if o.original == "css/base.css")
    assert not out.rewritten  # nothing else to rewrite: byte-identical to the original
    new, old = both(dj61, tree, lenient=True)
    ours = destination(tree, result, "staticfiles.json")
    assert new.ok and diff(ours, new.files) == []
    assert_same_as_52(ours, old)


@pytest.mark.parametrize(
    ("files", "cycle"),
    [
        (
            {"css/a.css": '@import "b.css";\n', "css/b.css": "x{}\n@import 'a.css';\n"},
            "css/a.css:1 -> css/b.css:2 -> css/a.css",
        ),
        ({"css/self.css": ".x { background: url(self.css#x); }\n"}, "css/self.css:1 -> "),
    ],
    ids=["two", "self"],
)
def test_cycle_fails_like_django(
    dj61: Path, tmp_path: Path, files: dict[str, str | bytes], cycle: str
) -> None:
    tree = write_tree(tmp_path / "tree", {**files, "img/p.png": b"p"})
    for strict in (True, False):
        with pytest.raises(PostProcessError, match="reference cycle: ") as err:
            run_engine(tree, ManifestOptions(strict=strict))
        assert cycle in str(err.value)
        assert "Max post-process passes exceeded." in str(err.value)
    new = collectstatic(dj61, tree)
    assert not new.ok
    assert "Max post-process passes exceeded." in new.error


def test_malformed_reference_fails_like_django(dj61: Path, tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "tree", {"css/a.css": "a{}\n.a{background:url(/static///[x)}"})
    with pytest.raises(PostProcessError) as err:
        run_engine(tree)
    assert (
        str(err.value)
        == "css/a.css:2: cannot parse the reference '/static///[x' (Invalid IPv6 URL)"
    )
    new = collectstatic(dj61, tree)
    assert not new.ok
    assert "Invalid IPv6 URL" in new.error


def test_missing_hashed_name_of_a_module_fails_like_django(dj61: Path, tmp_path: Path) -> None:
    """A later pattern asks for the hashed name of r.js's original, never saved."""
    tree = write_tree(tmp_path / "tree", MODULE_CHAINS_LENIENT.files)
    with pytest.raises(PostProcessError) as err:
        run_engine(tree, ManifestOptions(js_module_imports=True))
    assert str(err.value) == (
        "js/query.js:1: references 'js/lib/r.a22532cd950d.js?v=1', which is not collected"
    )
    new = collectstatic(dj61, tree, js_module_imports=True)
    assert not new.ok
    assert "js/lib/r.a22532cd950d.js' could not be found" in new.error


def test_invalid_utf8_css_fails_like_django(dj61: Path, tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "tree", {"css/bad.css": b"a{b:url(x.png)}\xff\n"})
    with pytest.raises(PostProcessError, match=r"css/bad\.css: cannot rewrite references"):
        run_engine(tree)
    assert not collectstatic(dj61, tree).ok


def test_deep_chain_converges_where_django_runs_out_of_passes(dj61: Path, tmp_path: Path) -> None:
    """Django stops after 5 passes even without a cycle; given enough, it agrees with us."""
    files = {f"css/c{i}.css": f'@import "c{i + 1}.css";\n' for i in range(12)}
    files["css/c12.css"] = ".end { background: url(../img/p.png); }\n"
    tree = write_tree(tmp_path / "tree", {**files, "img/p.png": b"p"})
    result, _ = run_engine(tree)
    ours = destination(tree, result, "staticfiles.json")
    enough = collectstatic(dj61, tree, max_passes=50)
    assert enough.ok and diff(ours, enough.files) == []
    default = collectstatic(dj61, tree)  # converges only if listdir order happens to help
    if default.ok:
        assert diff(ours, default.files) == []
    else:
        assert "Max post-process passes exceeded." in default.error


def test_prehashed_names_land_where_django_puts_them(tmp_path: Path) -> None:
    tree = write_tree(tmp_path / "tree", PREHASHED.files)
    result, _ = run_engine(tree)
    # the rewritten k.css is saved over the collected copy of the same name; the hashed
    # copy of p.png is not written, since a file of that name is already there
    assert [name for name, _ in result.rewritten] == ["css/k.c463bfa7255a.css"]
    assert "img/p.e9dd2797018c.png" not in {o.name for o in result.outputs}
    assert result.paths["img/p.png"] == "img/p.e9dd2797018c.png"
