"""``staticbuild apply`` with ``storage.kind: manifest`` (and ``compress``), end to end.

Whole destinations are compared with real Django: 6.1 ``collectstatic`` with
ManifestStaticFilesStorage (byte for byte, ``staticfiles.json`` included), 5.2 where it agrees,
WhiteNoise's compressing storages under 5.2. Incremental behaviour is checked by the plan's
actions and by :attr:`Builder.work`, which counts hashing, manifest and compression work.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import brotli
import pytest
from click.testing import Result

from staticbuild.actions import op_of
from staticbuild.api import Builder, load_project
from staticbuild.errors import ApplyError, PostProcessError
from tests.collectstatic_reference import (
    App,
    Case,
    Source,
    assert_same_tree,
    case_from_spec,
    snapshot,
    staticbuild,
)
from tests.conftest import RunCli, make_spec, small_site, write
from tests.manifest_apply_helpers import (
    WHITENOISE_MANIFEST,
    WHITENOISE_PLAIN,
    DjangoCollect,
    django_urls,
    write_manifest_spec,
)
from tests.manifest_trees import COMMENTS, PNG, RULES, write_tree

ROOT = Path(__file__).resolve().parent.parent
DJ52 = Path(sys.executable)
MANIFEST = {"kind": "manifest"}


def apply_ok(spec: Path, *args: str) -> Result:
    result = staticbuild("-f", spec, "apply", "--no-input", *args)
    assert result.exit_code == 0, result.output
    return result


def plan_actions(spec: Path, *args: str) -> list[tuple[str, str]]:
    result = staticbuild("-f", spec, "plan", "--json", *args)
    assert result.exit_code == 0, result.output
    return [(a["op"], a["path"]) for a in json.loads(result.stdout)["actions"]]


def manifest(folder: Path) -> dict[str, str]:
    paths: dict[str, str] = json.loads((folder / "staticfiles.json").read_bytes())["paths"]
    return paths


def builder(spec: Path) -> Builder:
    """A fresh builder, as a new ``staticbuild`` process would make (state read from disk)."""
    return Builder(load_project(spec))


def work(b: Builder) -> tuple[int, int, int, int, int]:
    w = b.work
    return (
        w.sources_hashed,
        w.manifest_read,
        w.manifest_hashed,
        w.manifest_rewritten,
        w.compressed,
    )


def assert_same_but_manifest_order(
    ours: dict[str, tuple[str, bytes]], theirs: dict[str, tuple[str, bytes]]
) -> None:
    """Django 5.2 writes the same files; its manifest's "paths" are not sorted."""
    differ = sorted(k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k))
    assert differ in ([], ["staticfiles.json"]), differ
    if "staticfiles.json" in ours:
        assert json.loads(ours["staticfiles.json"][1]) == json.loads(theirs["staticfiles.json"][1])


# -- trees ------------------------------------------------------------------------------


def demo(base: Path) -> Case:
    """The demo tree and the demo spec's sources, prefix, apps and ignore patterns."""
    shutil.copytree(ROOT / "examples", base / "examples")
    shutil.copy(ROOT / "staticbuild.yaml", base / "staticbuild.yaml")
    return case_from_spec(base / "staticbuild.yaml")


def admin(base: Path) -> Case:
    return Case(base=base, apps=[App(package="django.contrib.admin")])


def handwritten(base: Path, *, comments: bool = False) -> Case:
    """Every rule of reference rewriting, spread over a source, a prefixed source and an app."""
    assets = write_tree(base / "hand/assets", RULES.files)
    vendor = write_tree(
        base / "hand/vendor",
        {
            "theme/t.css": (
                '@import url("../lib.css");\n'
                ".t { background: url(../../img/p.png); }\n"
                ".i { background: url(/static/vendor/theme/icons/i.svg#x); }\n"
                '@font-face { src: url("icons/f.eot?#iefix") format("embedded-opentype"); }\n'
                "/*# sourceMappingURL=t.css.map */\n"
            ),
            "theme/t.css.map": "{}",
            "theme/icons/i.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>",
            "theme/icons/f.eot": b"eot2",
            "lib.css": ".l { background: url('theme/icons/i.svg'); }\n",
        },
    )
    app: dict[str, str | bytes] = {
        "blog/b.css": (
            '@import "../css/other.css";\n'
            '.b { background: url("/static/vendor/theme/icons/i.svg?v=3#frag"); }\n'
            ".d { background: url(data:image/gif;base64,R0lGODlhAQABAAAAACw=); }\n"
            ".n { background: url(../vendor/theme/../../img/a%20b.png); }\n"
        ),
        "blog/b.js": "go();\n//# sourceMappingURL=b.js.map\n",
        "blog/b.js.map": "{}",
        # shadowed by assets/css/other.css (first match wins); its missing image never counts
        "css/other.css": ".gone { background: url(../img/never.png); }\n",
    }
    if comments:
        app.update({k: v for k, v in COMMENTS.files.items() if k.startswith(("css/", "js/"))})
    blog = write_tree(base / "hand/apps/blog/static", app)
    return Case(
        base=base,
        sources=[Source(assets), Source(vendor, "vendor")],
        apps=[App(path=blog.parent)],
    )


TREES: dict[str, Callable[[Path], Case]] = {
    "demo": demo,
    "admin": admin,
    "handwritten": handwritten,
    "comments-and-strings": lambda base: handwritten(base, comments=True),
}


# -- 1. the whole destination, byte for byte, against Django ------------------------------


@pytest.mark.parametrize("name", list(TREES))
def test_destination_matches_django(
    start_django: Callable[..., DjangoCollect], dj61: Path, tmp_path: Path, name: str
) -> None:
    case = TREES[name](tmp_path)
    spec = write_manifest_spec(case, "ours", MANIFEST, name="manifest.yaml")
    new = start_django(dj61, case, tmp_path / "django61")
    agrees_52 = name != "comments-and-strings"  # 5.2 rewrites url() in comments and strings
    old = start_django(DJ52, case, tmp_path / "django52") if agrees_52 else None
    apply_ok(spec)
    new.ok()
    assert_same_tree(tmp_path / "ours", tmp_path / "django61")
    ours = snapshot(tmp_path / "ours")
    paths = manifest(tmp_path / "ours")
    assert len(paths) > 5 and all(ours[h] for h in paths.values())
    if case.sources:  # references really were rewritten
        rewritten = [n for n, h in paths.items() if ours[h] != ours[n]]
        assert len(rewritten) >= 2, rewritten
    if old is not None:
        old.ok()
        assert_same_but_manifest_order(ours, snapshot(tmp_path / "django52"))


# -- 2. Django serves from our manifest ------------------------------------------------


def test_django_reads_our_manifest(tmp_path: Path) -> None:
    case = demo(tmp_path)
    spec = write_manifest_spec(case, "ours", MANIFEST, name="manifest.yaml")
    apply_ok(spec)
    paths = manifest(tmp_path / "ours")
    names = ["css/base.css", "vendor/lib.js", "img/café.svg", "blog/post.css"]
    answers = django_urls(DJ52, tmp_path / "ours", names)
    for name in names:
        assert paths[name] != name
        expected = "/static/" + paths[name]  # Django unquotes its hashed URLs
        assert answers[name] == [expected, expected], name


# -- 3. strict and non-strict references -------------------------------------------------

BROKEN = "body { color: red; }\n\n.a { background: url(../img/missing.png); }\n"


def case_of(base: Path) -> Case:
    """One source, ``base/src``, collected at the top level."""
    return Case(base=base, sources=[Source(base / "src")])


def small_tree(base: Path, **storage: Any) -> Path:
    write_tree(
        base / "src",
        {
            "img/p.png": PNG,
            "css/base.css": ".b { background: url(../img/p.png); }\n",
            "js/app.js": "go();\n",
        },
    )
    return write_manifest_spec(case_of(base), "out", {**MANIFEST, **storage})


def test_strict_missing_reference_fails_and_changes_nothing(tmp_path: Path) -> None:
    spec = small_tree(tmp_path)
    out = tmp_path / "out"
    broken = write_tree(tmp_path / "src", {"css/broken.css": BROKEN}) / "css/broken.css"
    result = staticbuild("-f", spec, "apply", "--no-input")
    assert result.exit_code == 1
    assert "css/broken.css:3" in result.stderr and "img/missing.png" in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists() or snapshot(out) == {}

    # a destination that holds an earlier apply stays exactly as it was
    broken.unlink()
    apply_ok(spec)
    before = snapshot(out)
    (tmp_path / "src/img/p.png").write_bytes(PNG + b"changed")  # other work that must wait
    broken.write_text(BROKEN, encoding="utf-8")
    result = staticbuild("-f", spec, "apply", "--no-input")
    assert result.exit_code == 1, result.output
    assert "css/broken.css:3" in result.stderr and "img/missing.png" in result.stderr
    assert snapshot(out) == before
    with pytest.raises(PostProcessError, match=r"css/broken\.css:3: .*img/missing\.png"):
        builder(spec).plan()
    assert snapshot(out) == before
    broken.unlink()  # once fixed, the waiting change goes through
    apply_ok(spec)
    assert (out / manifest(out)["img/p.png"]).read_bytes() == PNG + b"changed"


def test_lenient_missing_reference_warns_and_matches_django(
    start_django: Callable[..., DjangoCollect], dj61: Path, tmp_path: Path
) -> None:
    spec = small_tree(tmp_path, manifest_strict=False)
    write_tree(tmp_path / "src", {"css/broken.css": BROKEN})
    django = start_django(dj61, case_of(tmp_path), tmp_path / "django", options={"lenient": True})
    result = apply_ok(spec)
    warning = next(line for line in result.stderr.splitlines() if "missing.png" in line)
    assert warning.startswith("Warning:") and "css/broken.css:3" in warning
    hashed = manifest(tmp_path / "out")["css/broken.css"]
    assert (tmp_path / "out" / hashed).read_text() == BROKEN  # left exactly as written
    django.ok()
    assert_same_tree(tmp_path / "out", tmp_path / "django")


def test_reference_cycle_fails_naming_it(tmp_path: Path) -> None:
    spec = small_tree(tmp_path)
    write_tree(
        tmp_path / "src",
        {"css/a.css": '@import "b.css";\n', "css/b.css": "x{}\n@import 'a.css';\n"},
    )
    result = staticbuild("-f", spec, "apply", "--no-input")
    assert result.exit_code == 1
    assert "reference cycle" in result.stderr
    assert "css/a.css:1 -> css/b.css:2 -> css/a.css" in result.stderr
    assert not (tmp_path / "out").exists()


# -- 4. idempotency, counted ------------------------------------------------------------

PAD = "/* " + "padding, so that compression pays off " * 12 + "*/\n"
GRAPH: dict[str, str | bytes] = {
    "img/a.png": PNG + b"a",
    "img/b.png": PNG + b"b",
    "css/x.css": PAD + ".x { background: url(../img/a.png); }\n",  # a.png, directly
    "css/y.css": PAD + '@import "x.css";\n.y { background: url(../img/b.png); }\n',  # via x
    "css/top.css": PAD + '@import "y.css";\n',  # via y, via x
    "css/z.css": PAD + ".z { background: url(../img/b.png); }\n",  # not a.png
    "js/app.js": PAD + "go();\n",
}
CSS = ("css/x.css", "css/y.css", "css/top.css", "css/z.css")


def graph(base: Path, **storage: Any) -> Path:
    write_tree(base / "src", GRAPH)
    return write_manifest_spec(
        case_of(base), "out", {"kind": "manifest", "compress": ["gzip", "br"], **storage}
    )


def test_the_summary_counts_post_processed_files_as_collectstatic_does(tmp_path: Path) -> None:
    """Django 5.2's collectstatic says "3 static files copied to '…', 3 post-processed." for
    this tree: each collected file got a hashed copy; the manifest is not counted."""
    spec = small_site(tmp_path, "storage: {kind: manifest}\n")
    result = apply_ok(spec)
    assert result.stdout == f"3 static files copied to '{tmp_path / 'out'}', 3 post-processed.\n"


def test_second_apply_does_no_work(tmp_path: Path) -> None:
    spec = graph(tmp_path)
    first = builder(spec)
    first.apply(first.plan())
    # every source read once for its sha256 and md5; the engine reads only the 5 CSS/JS
    # files and rewrites (and md5s) the 4 that refer to something (js/app.js refers to
    # nothing: its hashed copy has its original's bytes); compressed once per distinct
    # content and encoding: 5 text originals, 4 rewritten copies
    assert work(first) == (7, 5, 4, 4, (5 + 4) * 2)
    before = snapshot(tmp_path / "out")
    result = apply_ok(spec)
    assert result.stdout.startswith("0 static files copied")
    assert "post-processed" not in result.stdout
    assert snapshot(tmp_path / "out") == before
    assert plan_actions(spec) == []
    again = builder(spec)
    assert again.plan().actions == ()
    assert work(again) == (0, 0, 0, 0, 0)
    assert again.plan().actions == () and work(again) == (0, 0, 0, 0, 0)  # same builder


def test_two_destinations_are_identical(tmp_path: Path) -> None:
    write_tree(tmp_path / "src", GRAPH)
    trees = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        case = Case(base=tmp_path / name, sources=[Source(tmp_path / "src")])
        spec = write_manifest_spec(case, f"out-{name}", {"kind": "manifest", "compress": ["br"]})
        apply_ok(spec)
        trees.append(snapshot(tmp_path / name / f"out-{name}"))
    assert trees[0] == trees[1] and "staticfiles.json" in trees[0]


def test_changing_one_image_reprocesses_it_and_what_references_it(tmp_path: Path) -> None:
    spec = graph(tmp_path)
    apply_ok(spec)
    old = manifest(tmp_path / "out")
    (tmp_path / "src/img/a.png").write_bytes(PNG + b"a, changed")
    b = builder(spec)
    plan = b.plan()
    # a.png read once (sha256 + md5); x, y, top read by the engine, rewritten, re-hashed,
    # compressed
    assert work(b) == (1, 3, 3, 3, 3 * 2)
    listed = plan_actions(spec)  # the CLI plans the same
    assert [(op_of(a), a.path) for a in plan.actions] == listed
    b.apply(plan)
    new = manifest(tmp_path / "out")
    changed = ["img/a.png", "css/x.css", "css/y.css", "css/top.css"]
    assert sorted(n for n in new if new[n] != old[n]) == sorted(changed)
    expected = {("update", "img/a.png"), ("post-process", "staticfiles.json")}
    for name in changed:
        expected |= {("post-process", new[name]), ("delete", old[name])}
        if name.endswith(".css"):
            for suffix in (".gz", ".br"):
                expected |= {("compress", new[name] + suffix), ("delete", old[name] + suffix)}
    assert sorted(listed) == sorted(expected)
    assert builder(spec).plan().actions == ()


# -- 5. old hashed names: pruned, or kept for keep_previous manifests ---------------------


def hashed_of(paths: dict[str, str], names: list[str]) -> set[str]:
    out = set()
    for name in names:
        out.add(paths[name])
        if name.endswith(".css"):
            out |= {paths[name] + ".gz", paths[name] + ".br"}
    return out


def test_old_hashed_names_are_pruned(tmp_path: Path) -> None:
    spec = graph(tmp_path)
    apply_ok(spec)
    old = manifest(tmp_path / "out")
    (tmp_path / "src/img/a.png").write_bytes(PNG + b"a, changed")
    apply_ok(spec)
    changed = ["img/a.png", "css/x.css", "css/y.css", "css/top.css"]
    gone = hashed_of(old, changed)
    assert len(gone) == 10 and not any((tmp_path / "out" / p).exists() for p in gone)
    # exactly what a fresh apply of the new sources gives
    (tmp_path / "fresh").mkdir()
    fresh = write_manifest_spec(
        Case(base=tmp_path / "fresh", sources=[Source(tmp_path / "src")]),
        "out",
        {"kind": "manifest", "compress": ["gzip", "br"]},
    )
    apply_ok(fresh)
    assert snapshot(tmp_path / "out") == snapshot(tmp_path / "fresh/out")


@pytest.mark.parametrize("incremental", [False, True], ids=["cli", "watch-builder"])
def test_keep_previous_keeps_one_manifest_back(tmp_path: Path, incremental: bool) -> None:
    """Each apply by the CLI, or all by one builder planning only what changed (as watch)."""
    spec = graph(tmp_path, keep_previous=1)
    out = tmp_path / "out"
    image = tmp_path / "src/img/a.png"
    changed = ["img/a.png", "css/x.css", "css/y.css", "css/top.css"]
    b = builder(spec)
    versions = []
    for step in range(3):
        if step:
            image.write_bytes(PNG + f"a, version {step}".encode())
        if incremental:
            b.apply(b.plan(frozenset({image}) if step else None))
        else:
            apply_ok(spec)
        versions.append(hashed_of(manifest(out), changed))
        assert all((out / p).exists() for p in versions[-1])
        if step:  # the previous manifest's hashed files stay for pages that still name them
            assert all((out / p).exists() for p in versions[-2])
    assert not any((out / p).exists() for p in versions[0])  # two changes back: removed
    assert builder(spec).plan().actions == ()


def test_an_apply_without_post_processing_does_not_use_up_keep_previous(tmp_path: Path) -> None:
    """The manifest left in place by --no-post-process is still the live one: the next
    post-processed apply keeps its hashed files as the previous manifest's."""
    spec = graph(tmp_path, keep_previous=1)
    out = tmp_path / "out"
    apply_ok(spec)
    (tmp_path / "src/img/a.png").write_bytes(PNG + b"version 2")
    apply_ok(spec)
    live = set(manifest(out).values())
    (tmp_path / "src/img/a.png").write_bytes(PNG + b"version 3")
    apply_ok(spec, "--no-post-process")
    assert set(manifest(out).values()) == live
    apply_ok(spec)
    assert all((out / name).exists() for name in live)


def test_keep_previous_keeps_nothing_once_the_storage_has_no_manifest(tmp_path: Path) -> None:
    """Switched to the filesystem kind, the destination is what a fresh apply makes: the
    hashed files of earlier manifests go with the manifest."""
    spec = graph(tmp_path, keep_previous=1)
    apply_ok(spec)
    spec.write_text(spec.read_text().replace('"kind": "manifest"', '"kind": "filesystem"'))
    assert '"kind": "filesystem"' in spec.read_text()
    apply_ok(spec)
    (tmp_path / "src/img/a.png").write_bytes(PNG + b"changed")
    apply_ok(spec)
    fresh = write_manifest_spec(
        case_of(tmp_path),
        "fresh",
        {"kind": "filesystem", "compress": ["gzip", "br"], "keep_previous": 1},
        name="fresh.yaml",
    )
    apply_ok(fresh)
    assert snapshot(tmp_path / "out") == snapshot(tmp_path / "fresh")


# -- 6. precompressed siblings, as WhiteNoise writes them ----------------------------------


@pytest.mark.parametrize(
    ("name", "kind"), [("demo", "manifest"), ("admin", "manifest"), ("demo", "filesystem")]
)
def test_compression_matches_whitenoise(
    start_django: Callable[..., DjangoCollect], tmp_path: Path, name: str, kind: str
) -> None:
    case = TREES[name](tmp_path)
    spec = write_manifest_spec(
        case, "ours", {"kind": kind, "compress": ["gzip", "br"]}, name="manifest.yaml"
    )
    backend = WHITENOISE_MANIFEST if kind == "manifest" else WHITENOISE_PLAIN
    django = start_django(DJ52, case, tmp_path / "whitenoise", backend=backend)
    apply_ok(spec)
    django.ok()
    ours = snapshot(tmp_path / "ours")
    theirs = snapshot(tmp_path / "whitenoise")
    assert sorted(ours) == sorted(theirs)  # the same file names ...
    assert_same_but_manifest_order(ours, theirs)  # ... and the same bytes
    siblings = [n for n in ours if n.endswith((".gz", ".br"))]
    assert any(n.endswith(".gz") for n in siblings) and any(n.endswith(".br") for n in siblings)
    for sibling in siblings:
        packed = (tmp_path / "ours" / sibling).read_bytes()
        unpack = gzip.decompress if sibling.endswith(".gz") else brotli.decompress
        assert unpack(packed) == (tmp_path / "ours" / sibling[:-3]).read_bytes(), sibling
    if kind == "manifest":
        hashed = set(manifest(tmp_path / "ours").values())
        assert {n[:-3] for n in siblings} & hashed
    else:
        assert "staticfiles.json" not in ours
    again = builder(spec)
    assert again.plan().actions == ()
    assert again.work.compressed == 0


@pytest.mark.parametrize("kind", ["manifest", "filesystem"])
def test_the_summary_counts_compressed_files_as_whitenoise_does(
    start_django: Callable[..., DjangoCollect], tmp_path: Path, kind: str
) -> None:
    """WhiteNoise's storages count each compressed file they write as post-processed. The
    reference is Django 5.2 (the 6.1 venv has no brotli), whose line has no conflicts; 6.1's
    count of them is compared in test_summary.py."""
    case = demo(tmp_path)
    spec = write_manifest_spec(
        case, "ours", {"kind": kind, "compress": ["gzip", "br"]}, name="manifest.yaml"
    )
    backend = WHITENOISE_MANIFEST if kind == "manifest" else WHITENOISE_PLAIN
    theirs = tmp_path / "whitenoise"
    django = start_django(DJ52, case, theirs, backend=backend, args=["-v", "1"])
    ours = apply_ok(spec).stdout.strip().replace(str(tmp_path / "ours"), "DEST")
    django.ok()
    ours = ours.replace(", 2 skipped due to conflict.", ".")
    assert ours == django.stdout.strip().splitlines()[-1].replace(str(theirs), "DEST")
    assert "post-processed" in ours


# -- 7. --no-post-process --------------------------------------------------------------


def test_no_post_process_leaves_what_post_processing_wrote(
    start_django: Callable[..., DjangoCollect], tmp_path: Path
) -> None:
    """As ``collectstatic --no-post-process`` over an earlier full run: the changed original
    is copied; the manifest, the hashed files and the siblings stay as they were, so pages
    that name them keep working. WhiteNoise's storage under 5.2 is the reference."""
    case = demo(tmp_path)
    spec = write_manifest_spec(
        case, "ours", {"kind": "manifest", "compress": ["gzip", "br"]}, name="manifest.yaml"
    )
    theirs = tmp_path / "whitenoise"
    start_django(DJ52, case, theirs, backend=WHITENOISE_MANIFEST).ok()
    apply_ok(spec)
    before = snapshot(tmp_path / "ours")
    edited = tmp_path / "examples/assets/js/app.js"
    edited.write_bytes(edited.read_bytes() + b"\nconsole.log('edited');\n")
    later = edited.stat().st_mtime + 10  # Django compares whole seconds
    os.utime(edited, (later, later))
    django = start_django(
        DJ52, case, theirs, backend=WHITENOISE_MANIFEST, args=["--no-post-process"]
    )
    planned = plan_actions(spec, "--no-post-process")
    assert planned == [("update", "js/app.js")]
    apply_ok(spec, "--no-post-process")
    django.ok()
    ours = snapshot(tmp_path / "ours")
    assert sorted(ours) == sorted(snapshot(theirs))
    assert_same_but_manifest_order(ours, snapshot(theirs))
    assert {k: v for k, v in ours.items() if k != "js/app.js"} == {
        k: v for k, v in before.items() if k != "js/app.js"
    }
    assert plan_actions(spec, "--no-post-process") == []
    apply_ok(spec)  # and post-processing again: the edited file's outputs follow it
    paths = manifest(tmp_path / "ours")
    assert paths["js/app.js"] != json.loads(before["staticfiles.json"][1])["paths"]["js/app.js"]
    old = json.loads(before["staticfiles.json"][1])["paths"]["js/app.js"]
    assert not (tmp_path / "ours" / old).exists()
    assert plan_actions(spec) == []


def test_no_post_process_with_clear_keeps_only_originals(tmp_path: Path) -> None:
    """``--clear`` asks for an exact destination: without post-processing, the originals."""
    case = demo(tmp_path)
    spec = write_manifest_spec(case, "ours", {"kind": "manifest"}, name="manifest.yaml")
    fresh = write_manifest_spec(case, "fresh", {"kind": "manifest"}, name="fresh.yaml")
    apply_ok(spec)
    apply_ok(spec, "--no-post-process", "--clear")
    apply_ok(fresh, "--no-post-process")
    assert not (tmp_path / "ours/staticfiles.json").exists()
    assert snapshot(tmp_path / "ours") == snapshot(tmp_path / "fresh")


# -- 8. rewritten bytes: kept out of the state, made again when a write needs them --------

MARKER = "only-in-css-3q7x"  # in every CSS source, so in every rewritten output


def marked(base: Path, **storage: Any) -> Path:
    write_tree(
        base / "src",
        {n: f"/* {MARKER} */\n{b!s}" if n.endswith(".css") else b for n, b in GRAPH.items()},
    )
    return write_manifest_spec(case_of(base), "out", {**MANIFEST, **storage})


def apply_in_new_process(spec: Path) -> None:
    """``staticbuild apply`` in a process of its own: nothing of an earlier run in memory."""
    done = subprocess.run(
        [sys.executable, "-m", "staticbuild", "-f", str(spec), "-v", "0", "apply", "--no-input"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


def test_state_holds_no_rewritten_bytes(tmp_path: Path) -> None:
    spec = marked(tmp_path)
    out, state = tmp_path / "out", tmp_path / ".staticbuild"
    for step in ("first apply", "an image changed: journal entry"):
        if step != "first apply":
            (tmp_path / "src/img/a.png").write_bytes(PNG + b"a, changed")
        apply_ok(spec)
        paths = manifest(out)
        url = ("../" + paths["img/a.png"]).encode()  # as rewritten in css/x.css
        assert MARKER.encode() in (out / paths["css/x.css"]).read_bytes()
        assert url in (out / paths["css/x.css"]).read_bytes()
        files = [p for p in state.rglob("*") if p.is_file()]
        assert state / "state.msgpack" in files
        for path in files:
            data = path.read_bytes()
            assert MARKER.encode() not in data and url not in data, (step, path)
    assert (state / "state.journal").exists()


def test_deleted_rewritten_output_is_made_again_in_a_new_process(tmp_path: Path) -> None:
    spec = marked(tmp_path)
    apply_ok(spec)
    out = tmp_path / "out"
    before = snapshot(out)
    gone = [manifest(out)[n] for n in ("css/x.css", "css/top.css")]
    for name in gone:
        (out / name).unlink()
    b = builder(spec)
    assert sorted((op_of(a), a.path) for a in b.plan().actions) == [
        ("post-process", name) for name in sorted(gone)
    ]
    assert work(b) == (0, 0, 0, 0, 0)  # planned from the cache alone: no bytes made yet
    apply_in_new_process(spec)
    assert snapshot(out) == before


@pytest.mark.parametrize("cache", ["kept", "lost"])
def test_deleted_siblings_are_made_again_in_a_new_process(tmp_path: Path, cache: str) -> None:
    """``lost``: no compression cache either, so the rewritten bytes are made to compress."""
    spec = marked(tmp_path, compress=["gzip", "br"])
    apply_ok(spec)
    out = tmp_path / "out"
    before = snapshot(out)
    hashed = manifest(out)["css/y.css"]
    gone = [hashed + ".gz", hashed + ".br"] + ([hashed] if cache == "lost" else [])

    def lose() -> None:
        for name in gone:
            (out / name).unlink()
        if cache == "lost":
            shutil.rmtree(tmp_path / ".staticbuild/compress")

    lose()
    apply_in_new_process(spec)
    assert snapshot(out) == before
    lose()
    b = builder(spec)
    plan = b.plan()
    assert sorted(a.path for a in plan.actions) == sorted(gone)
    # from the cache: nothing rewritten; "lost" recompresses all 9 contents from bytes made
    assert work(b) == (0, 0, 0, 0, 18 if cache == "lost" else 0)
    b.apply(plan)
    assert snapshot(out) == before


def test_source_edited_between_plan_and_apply_is_refused(tmp_path: Path) -> None:
    spec = marked(tmp_path)
    apply_ok(spec)
    out = tmp_path / "out"
    hashed = manifest(out)["css/x.css"]
    (out / hashed).unlink()
    b = builder(spec)
    plan = b.plan()
    source = tmp_path / "src/css/x.css"
    source.write_text(source.read_text().replace(MARKER, "edited"))  # same references
    with pytest.raises(ApplyError, match=r"css/x\.css' changed during apply; run apply again"):
        b.apply(plan)
    assert not (out / hashed).exists()
    apply_ok(spec)  # a new plan sees the edit
    assert b"edited" in (out / manifest(out)["css/x.css"]).read_bytes()


def test_an_emptied_destination_is_made_again_from_the_kept_state_without_compressing(
    tmp_path: Path,
) -> None:
    """A CI job that caches ``.staticbuild/`` starts from an empty destination: no source is
    hashed and nothing is compressed again."""
    spec = marked(tmp_path, compress=["gzip", "br"])
    apply_ok(spec)
    out = tmp_path / "out"
    before = snapshot(out)
    shutil.rmtree(out)
    b = builder(spec)
    b.apply(b.plan())
    assert snapshot(out) == before
    hashed, _, _, _, compressed = work(b)
    assert (hashed, compressed) == (0, 0)


def test_a_fresh_checkout_elsewhere_with_the_cached_state_compresses_nothing(
    tmp_path: Path,
) -> None:
    """CI: a new clone in another folder (new mtimes and inodes), ``.staticbuild/`` restored
    from a cache. The sources are hashed again (their stats are new), the siblings come
    from the compression cache, and the output is the same."""
    first, second = tmp_path / "first", tmp_path / "second"
    spec = marked(first, compress=["gzip", "br"])
    apply_ok(spec)
    shutil.copytree(first / "src", second / "src", copy_function=shutil.copyfile)
    shutil.copytree(first / ".staticbuild", second / ".staticbuild")
    shutil.copyfile(spec, second / spec.name)
    b = builder(second / spec.name)
    b.apply(b.plan())
    assert snapshot(second / "out") == snapshot(first / "out")
    hashed, _, _, _, compressed = work(b)
    assert (hashed, compressed) == (len(GRAPH), 0)


@pytest.mark.parametrize(
    ("manifest_name", "what"),
    [("css", "a folder of collected files"), ("css/base.css", "a collected file")],
)
def test_a_manifest_name_that_is_a_collected_path_is_refused(
    run_cli: RunCli, tmp_path: Path, manifest_name: str, what: str
) -> None:
    """Django silently writes over such a file; no apply could write over such a folder."""
    write(tmp_path / "assets/css/base.css", "a")
    spec = make_spec(
        tmp_path,
        f"sources: [assets]\nstorage: {{kind: manifest, manifest_name: {manifest_name}}}\n",
    )
    result = run_cli("-f", spec, "plan")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: storage.manifest_name {manifest_name!r} is {what} (from 'css/base.css'); "
        "choose another name for the manifest"
    )
    assert not (tmp_path / "out").exists()
