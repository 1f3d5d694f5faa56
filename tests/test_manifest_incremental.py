"""Incremental manifest runs: only what changed, and what names it, is read or hashed."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import msgspec
import pytest

from staticbuild.errors import PostProcessError
from staticbuild.storage.manifest import output_bytes
from staticbuild.storage.manifest_cache import ManifestCache, ManifestOptions, ManifestResult
from tests.manifest_reference import destination, run_engine
from tests.manifest_trees import CASES, MODULE_CHAINS, PNG, Case, write_tree

TREE: dict[str, str | bytes] = {
    "img/a.png": PNG + b"a",
    "img/b.png": PNG + b"b",
    "img/c.png": PNG + b"c",
    "css/x.css": ".x { background: url(../img/a.png); }\n",
    "css/y.css": '@import "x.css";\n.y { background: url(../img/b.png); }\n',
    "css/top.css": '@import "y.css";\n',
    "css/z.css": ".z { background: url(../img/c.png); }\n",
    "css/plain.css": "body { color: red; }\n",
    "js/app.js": "go();\n//# sourceMappingURL=app.js.map\n",
    "js/app.js.map": "{}",
}


def same(a: ManifestResult, b: ManifestResult) -> None:
    assert a.paths == b.paths
    assert a.outputs == b.outputs
    assert a.manifest == b.manifest
    assert a.rewritten == b.rewritten
    assert a.warnings == b.warnings


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "tree", TREE)


def test_cold_run_reads_and_hashes_each_file_once(tree: Path) -> None:
    result, source = run_engine(tree)
    assert set(source.reads.values()) == {1}
    assert result.stats.read == len(TREE)
    assert result.stats.hashed == len(TREE)
    assert result.stats.parsed == 6  # every CSS and JS file
    assert result.stats.rewritten == 5  # all but css/plain.css, which refers to nothing


def test_noop_run_reads_and_hashes_nothing(tree: Path) -> None:
    cold, _ = run_engine(tree)
    warm, source = run_engine(tree, cache=cold.cache)
    assert not source.reads
    assert (warm.stats.read, warm.stats.hashed, warm.stats.parsed, warm.stats.rewritten) == (
        0,
        0,
        0,
        0,
    )
    same(warm, cold)


def test_changed_image_reprocesses_it_and_what_names_it(tree: Path) -> None:
    cold, _ = run_engine(tree)
    (tree / "img/a.png").write_bytes(PNG + b"changed")
    warm, source = run_engine(tree, cache=cold.cache)
    # a.png, the CSS that names it, and the CSS that imports that, transitively
    assert set(source.reads) == {"img/a.png", "css/x.css", "css/y.css", "css/top.css"}
    assert warm.stats.read == 4
    assert warm.stats.hashed == 4
    assert warm.stats.parsed == 0  # their own bytes did not change: the trace still holds
    assert warm.stats.rewritten == 3
    same(warm, run_engine(tree)[0])
    assert warm.paths["css/z.css"] == cold.paths["css/z.css"]


def test_changed_css_is_rescanned(tree: Path) -> None:
    cold, _ = run_engine(tree)
    (tree / "css/y.css").write_text('@import "x.css";\n.y { background: url(../img/c.png); }\n')
    warm, source = run_engine(tree, cache=cold.cache)
    assert set(source.reads) == {"css/y.css", "css/top.css"}
    assert (warm.stats.parsed, warm.stats.rewritten, warm.stats.hashed) == (1, 2, 2)
    same(warm, run_engine(tree)[0])


def test_cache_survives_serialization(tree: Path) -> None:
    cold, _ = run_engine(tree)
    for encoded in (msgspec.json.encode(cold.cache), msgspec.msgpack.encode(cold.cache)):
        decode = msgspec.json.decode if encoded[:1] == b"{" else msgspec.msgpack.decode
        cache = decode(encoded, type=ManifestCache)
        warm, source = run_engine(tree, cache=cache)
        assert not source.reads
        same(warm, cold)


def test_other_static_url_starts_cold(tree: Path) -> None:
    cold, _ = run_engine(tree)
    warm, _ = run_engine(tree, ManifestOptions(url="/assets/"), cache=cold.cache)
    assert warm.stats.read == len(TREE)


def test_renamed_file_reuses_its_md5(tree: Path) -> None:
    cold, _ = run_engine(tree)
    (tree / "img/c.png").rename(tree / "img/d.png")
    (tree / "css/z.css").unlink()
    warm, source = run_engine(tree, cache=cold.cache)
    assert not source.reads and warm.stats.hashed == 0
    assert warm.paths["img/d.png"] == cold.paths["img/c.png"].replace("/c.", "/d.")


def test_file_appearing_resolves_a_lenient_reference(tree: Path) -> None:
    (tree / "img/c.png").unlink()
    lenient = ManifestOptions(strict=False)
    cold, _ = run_engine(tree, lenient)
    assert cold.warnings == (
        "css/z.css:1: references 'img/c.png', which is not collected; left as written",
    )
    with pytest.raises(PostProcessError, match=r"css/z\.css:1: references 'img/c\.png'"):
        run_engine(tree, cache=cold.cache)  # strict, from the cached trace alone
    (tree / "img/c.png").write_bytes(PNG)
    warm, source = run_engine(tree, lenient, cache=cold.cache)
    assert set(source.reads) == {"img/c.png", "css/z.css"}
    assert warm.stats.parsed == 1 and not warm.warnings
    same(warm, run_engine(tree, lenient)[0])


def test_random_edits_match_a_cold_run(tree: Path) -> None:
    """Whatever is edited, added or removed, the warm result is the cold result."""
    rng = random.Random(7)
    options = ManifestOptions(strict=False)
    cache = run_engine(tree, options)[0].cache
    names = [f"css/{n}.css" for n in "pqrs"] + [f"img/{n}.png" for n in "pqrs"]
    for _ in range(40):
        name = rng.choice(names)
        path = tree / name
        if rng.random() < 0.25 and path.exists():
            path.unlink()
        elif name.endswith(".css"):
            others = rng.sample(names, 2)
            body = "".join(f"@import url(../{o});\n" for o in others if o.endswith(".css"))
            body += "".join(f".i {{ background: url(../{o}); }}\n" for o in others)
            write_tree(tree, {name: body})
        else:
            write_tree(tree, {name: PNG + bytes([rng.randrange(4)])})
        try:
            cold = run_engine(tree, options)[0]
        except PostProcessError:  # a cycle: the warm run must say so too
            with pytest.raises(PostProcessError, match="reference cycle"):
                run_engine(tree, options, cache=cache)
            continue
        warm = run_engine(tree, options, cache=cache)[0]
        same(warm, cold)
        assert warm.stats.read <= cold.stats.read
        cache = warm.cache


# -- the cache keeps traces, not bytes -----------------------------------------------------


def test_changed_module_reprocesses_what_looks_up_its_hashed_name(tmp_path: Path) -> None:
    """js/app.js asks for x.js's hashed name itself (a module pattern matched what another
    wrote): a new x.js gives it a new name, and only the files that name x.js are redone."""
    options = ManifestOptions(js_module_imports=True)
    tree = write_tree(tmp_path / "tree", MODULE_CHAINS.files)
    cold, _ = run_engine(tree, options)
    write_tree(tree, {"js/lib/x.js": "export const x = 2\n"})
    warm, source = run_engine(tree, options, cache=cold.cache)
    same(warm, run_engine(tree, options)[0])
    assert set(source.reads) == {"js/lib/x.js", "js/lib/r.js", "js/app.js", "js/re.js"}
    assert (
        b"x.71a658c7b5c3"
        not in destination(tree, warm, "staticfiles.json", options)[warm.paths["js/app.js"]]
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cached_outputs_are_made_again_byte_for_byte(tmp_path: Path, case: Case) -> None:
    """No rewritten bytes go into the cache; a warm run makes the same ones from originals."""
    tree = write_tree(tmp_path / "tree", case.files)
    options = ManifestOptions(
        url=case.url, strict=not case.lenient, js_module_imports=case.js_module_imports
    )
    cold, _ = run_engine(tree, options)
    encoded = msgspec.msgpack.encode(cold.cache)
    made = [o for o in cold.outputs if o.rewritten]
    assert made or case.lenient  # a lenient tree may leave every reference as written
    for out in made:
        assert out.content is not None and out.content not in encoded, out.name
    warm, _ = run_engine(tree, options, cache=msgspec.msgpack.decode(encoded, type=ManifestCache))
    assert warm.stats.rewritten == 0 and all(o.content is None for o in warm.outputs)
    same(warm, cold)  # prehashed-names: its rewritten copy is made again from the trace
    ours = destination(tree, warm, "staticfiles.json", options)
    assert ours == destination(tree, cold, "staticfiles.json", options)


def test_an_edited_original_never_passes_for_the_cached_output(tree: Path) -> None:
    cold, _ = run_engine(tree)
    warm, source = run_engine(tree, cache=cold.cache)
    out = next(o for o in warm.outputs if o.original == "css/y.css")
    assert out.rewritten and out.content is None
    assert output_bytes(out, source.read, ManifestOptions()) == next(
        o.content for o in cold.outputs if o.original == "css/y.css"
    )
    # the same references: bytes are made, and differ
    (tree / "css/y.css").write_text('@import "x.css";\n.y { background: url(../img/b.png) }\n')
    data = output_bytes(out, source.read, ManifestOptions())
    assert hashlib.sha256(data).hexdigest() != out.digest  # the caller's check catches it
    (tree / "css/y.css").write_text('@import "z.css";\n')
    with pytest.raises(PostProcessError, match=r"css/y\.css: its references differ"):
        output_bytes(out, source.read, ManifestOptions())
