"""Precompression: WhiteNoise's rules and bytes, and a cache that never recompresses."""

from __future__ import annotations

import gzip
import hashlib
import os
import random
import shutil
import threading
from pathlib import Path

import brotli
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whitenoise.compress import Compressor

from staticbuild.errors import PostProcessError
from staticbuild.storage.compress import CompressCache
from staticbuild.storage.encodings import (
    SKIP_EXTENSIONS,
    SUFFIXES,
    CompressOptions,
    compress_brotli,
    compress_gzip,
    is_effective,
    wants_compression,
)
from tests.conftest import RunCli, make_spec, write

BOTH = CompressOptions(encodings=("gzip", "br"))
CSS = b"body { color: red; background: url(../img/x.png); }\n" * 200


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def incompressible(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


# -- rules ----------------------------------------------------------------------------


def test_default_skip_list_is_whitenoise_s() -> None:
    assert SKIP_EXTENSIONS == Compressor.SKIP_COMPRESS_EXTENSIONS


@pytest.mark.parametrize(
    "name",
    ["a.css", "a.png", "A.PNG", "x.png.map", "dir/y.woff2", "z.tar.gz", "png", ".png", "a.Br",
     "spaced name é.js", "a.jpeg", "a.svg", "a.mp4", "noext"],
)  # fmt: skip
@pytest.mark.parametrize("extensions", [None, ("css",), ("CSS", "js"), ()])
def test_skip_list_matches_whitenoise(name: str, extensions: tuple[str, ...] | None) -> None:
    whitenoise = Compressor(extensions=extensions, quiet=True)
    options = CompressOptions(encodings=("gzip",))
    if extensions is not None:
        options = CompressOptions(encodings=("gzip",), skip_extensions=extensions)
    assert wants_compression(name, 100, options) == whitenoise.should_compress(name)


def test_min_size_and_empty_files() -> None:
    options = CompressOptions(encodings=("br",), min_size=1024)
    assert not wants_compression("a.css", 1023, options)
    assert wants_compression("a.css", 1024, options)
    assert not wants_compression("a.css", 0, BOTH)  # never effective (WhiteNoise: ratio rule)
    assert not wants_compression("a.css", 10_000, CompressOptions())  # no encodings wanted


def test_unknown_encoding_is_refused() -> None:
    with pytest.raises(ValueError, match="zstd"):
        CompressOptions(encodings=("zstd",))


def test_ratio_rule_is_whitenoise_s() -> None:
    whitenoise = Compressor(quiet=True)
    for orig, comp in [(100, 95), (100, 96), (20, 19), (0, 0), (1, 0), (1000, 950), (1000, 951)]:
        expected = whitenoise.is_compressed_effectively("x", "p", orig, b"x" * comp)
        assert is_effective(orig, comp) == expected, (orig, comp)


# -- bytes ----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=4096))
def test_round_trip_and_same_bytes_as_whitenoise(data: bytes) -> None:
    gz, br = compress_gzip(data), compress_brotli(data)
    assert gzip.decompress(gz) == data
    assert brotli.decompress(br) == data
    assert gz == Compressor.compress_gzip(data)
    assert br == Compressor.compress_brotli(data)


def test_gzip_bytes_depend_only_on_content() -> None:
    gz = compress_gzip(CSS)
    assert gz == compress_gzip(bytes(CSS))
    assert gz[3] == 0  # FLG: no FNAME, no comment
    assert gz[4:8] == b"\0\0\0\0"  # MTIME 0
    assert gz[8] == 2  # XFL 2: maximum compression (level 9)


# -- cache ----------------------------------------------------------------------------


def test_results_and_blobs(tmp_path: Path) -> None:
    cache = CompressCache(tmp_path / "state")
    noise = incompressible(5000)
    results = cache.compress_many([(sha(CSS), CSS), (sha(noise), noise)], BOTH)
    css = results[sha(CSS)]
    assert css["br"].worth_it and css["gzip"].worth_it
    assert cache.read(css["gzip"]) == compress_gzip(CSS)
    assert cache.read(css["br"]) == compress_brotli(CSS)
    assert css["br"].digest == sha(compress_brotli(CSS))
    assert css["br"].size == len(compress_brotli(CSS))
    # brotli not effective: gzip is not even tried, as in WhiteNoise
    assert not results[sha(noise)]["br"].worth_it
    assert not results[sha(noise)]["gzip"].worth_it
    assert cache.stats.compressed == 3
    assert cache.lookup(sha(noise), "gzip") is None  # the skip is not a fact about gzip


def test_gzip_alone_is_tried_without_brotli(tmp_path: Path) -> None:
    cache = CompressCache(tmp_path)
    noise = incompressible(5000)
    result = cache.compress_many([(sha(noise), noise)], CompressOptions(encodings=("gzip",)))
    assert not result[sha(noise)]["gzip"].worth_it
    assert cache.stats.compressed == 1
    assert cache.lookup(sha(noise), "gzip") is not None


def test_cache_never_recompresses(tmp_path: Path) -> None:
    src = tmp_path / "a.css"
    src.write_bytes(CSS)
    state = tmp_path / "state"
    first = CompressCache(state)
    jobs = [(sha(CSS), src), (sha(CSS), CSS)]  # same content twice: compressed once
    before = first.compress_many(jobs, BOTH)
    assert first.stats.compressed == 2
    assert first.stats.bytes_read == len(CSS)
    again = first.compress_many(jobs, BOTH)
    assert first.stats.compressed == 2 and again == before
    later = CompressCache(state)  # a later run, same state folder
    assert later.compress_many([(sha(CSS), src)], BOTH) == before
    assert later.stats.compressed == 0 and later.stats.bytes_read == 0
    assert later.stats.hits == 2
    only_gzip = later.compress_many([(sha(CSS), src)], CompressOptions(encodings=("gzip",)))
    assert only_gzip[sha(CSS)] == {"gzip": before[sha(CSS)]["gzip"]}
    assert later.stats.compressed == 0


def test_lost_or_corrupt_blob_is_recompressed(tmp_path: Path) -> None:
    cache = CompressCache(tmp_path)
    result = cache.compress_many([(sha(CSS), CSS)], BOTH)[sha(CSS)]["br"]
    assert result.blob is not None
    Path(result.blob.path).write_bytes(b"garbage")
    assert cache.read(result) is None  # checked against its digest, and dropped
    assert cache.lookup(sha(CSS), "br") is None
    again = cache.compress_many([(sha(CSS), CSS)], CompressOptions(encodings=("br",)))
    assert cache.read(again[sha(CSS)]["br"]) == compress_brotli(CSS)
    assert cache.stats.compressed == 3


def test_a_batch_is_one_pack_not_one_file_per_blob(tmp_path: Path) -> None:
    # Creating a file is what a cold apply pays most for on many file systems.
    contents = [CSS + str(i).encode() * 50 for i in range(40)]
    cache = CompressCache(tmp_path, workers=1)
    results = cache.compress_many([(sha(d), d) for d in contents], BOTH)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert len(files) == 3 and sum(f.endswith("index.log") for f in files) == 2, files
    later = CompressCache(tmp_path)  # slices of that one pack, read back exactly
    for data in contents:
        for encoding, coder in (("br", compress_brotli), ("gzip", compress_gzip)):
            found = later.lookup(sha(data), encoding)
            assert found == results[sha(data)][encoding]
            assert found is not None and later.read(found) == coder(data)


def test_truncated_index_line_is_ignored(tmp_path: Path) -> None:
    CompressCache(tmp_path).compress_many([(sha(CSS), CSS)], BOTH)
    logs = list(tmp_path.glob("*/index.log"))
    assert len(logs) == 2
    for log in logs:
        with open(log, "ab") as f:
            f.write(b'["abc", nul')
    later = CompressCache(tmp_path)
    assert later.lookup(sha(CSS), "gzip") is not None


def test_prune_forgets_what_is_not_kept(tmp_path: Path) -> None:
    noise = incompressible(5000)
    other = CSS.replace(b"red", b"blue")
    cache = CompressCache(tmp_path)
    results = cache.compress_many([(sha(d), d) for d in (CSS, other, noise)], BOTH)
    assert cache.prune({sha(CSS)}) == 2  # the two blobs of `other`
    assert results[sha(other)]["br"].blob is not None
    assert not Path(results[sha(other)]["br"].blob.path).exists()  # its pack is gone
    later = CompressCache(tmp_path)
    found = later.lookup(sha(CSS), "br")
    assert found is not None and later.read(found) == compress_brotli(CSS)
    assert later.lookup(sha(other), "br") is None
    assert later.lookup(sha(noise), "br") is None


def test_tidy_compacts_many_packs_and_forgets_what_no_output_has(tmp_path: Path) -> None:
    from staticbuild.storage.compress import MAX_PACKS, PACKS

    contents = [CSS + str(i).encode() * 40 for i in range(MAX_PACKS + 1)]
    cache = CompressCache(tmp_path, workers=1)
    for data in contents:  # one apply each: one pack each
        cache.compress_many([(sha(data), data)], CompressOptions(encodings=("gzip",)))
    assert len(list((tmp_path / PACKS).iterdir())) == MAX_PACKS + 1
    keep = {sha(d) for d in contents[1:]}
    assert cache.tidy(keep)
    assert len(list((tmp_path / PACKS).iterdir())) == 1
    later = CompressCache(tmp_path)
    assert later.lookup(sha(contents[0]), "gzip") is None  # no output has it any more
    for data in contents[1:]:
        found = later.lookup(sha(data), "gzip")
        assert found is not None and later.read(found) == compress_gzip(data)
    assert not later.tidy(keep)  # nothing to tidy now
    assert later.stats.compressed == 0


def test_content_changed_since_planning(tmp_path: Path) -> None:
    src = tmp_path / "a.css"
    src.write_bytes(b"new content " * 100)
    cache = CompressCache(tmp_path / "state")
    with pytest.raises(PostProcessError, match="changed"):
        cache.compress_many([(sha(CSS), src)], BOTH)
    assert cache.lookup(sha(CSS), "br") is None


def test_process_pool_gives_the_same_results(tmp_path: Path) -> None:
    files = [CSS + str(i).encode() * (i * 300) for i in range(12)] + [incompressible(20_000)]
    jobs = [(sha(d), d) for d in files]
    pooled = CompressCache(tmp_path / "pool", workers=2)
    inline = CompressCache(tmp_path / "inline", workers=1)
    a, b = pooled.compress_many(jobs, BOTH), inline.compress_many(jobs, BOTH)
    assert pooled.stats.pooled_batches == 1 and inline.stats.pooled_batches == 0
    assert pooled.stats.compressed == inline.stats.compressed == 2 * 12 + 1
    for digest in a:
        for encoding in ("gzip", "br"):
            assert a[digest][encoding].digest == b[digest][encoding].digest


def test_process_pool_while_other_threads_run(tmp_path: Path) -> None:
    # A running thread (watch mode, the dev server) makes the pool spawn instead of fork.
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        files = [CSS + str(i).encode() * (i * 300) for i in range(16)]
        cache = CompressCache(tmp_path, workers=2)
        results = cache.compress_many([(sha(d), d) for d in files], BOTH)
    finally:
        stop.set()
        other.join()
    assert cache.stats.pooled_batches == 1
    assert all(cache.read(results[sha(d)]["br"]) == compress_brotli(d) for d in files)


# -- against WhiteNoise ---------------------------------------------------------------


def sample_tree(root: Path) -> None:
    files = {
        "css/base.css": CSS,
        "css/tiny.css": b"a{}",
        "css/repeat.css": b"a" * 40,
        "js/app.js": b"function f(x) { return x * 2; }\n" * 300,
        "js/noise.js": incompressible(3000, seed=2),
        "img/x.png": incompressible(2000, seed=3),
        "img/logo.SVG": b"<svg><path d='M0 0'/></svg>\n" * 50,
        "fonts/f.woff2": incompressible(1000, seed=4),
        "empty.txt": b"",
        "données/fichier avec espace.json": b'{"key": "value"}\n' * 100,
        "vendor/lib.min.js.gz": compress_gzip(CSS),
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("encodings", [("gzip", "br"), ("gzip",), ("br",)])
def test_same_files_as_whitenoise(tmp_path: Path, encodings: tuple[str, ...]) -> None:
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    sample_tree(theirs)
    shutil.copytree(theirs, ours)
    compressor = Compressor(use_gzip="gzip" in encodings, use_brotli="br" in encodings, quiet=True)
    for name in tree(theirs):
        if compressor.should_compress(name):
            compressor.compress(os.path.join(theirs, name))

    options = CompressOptions(encodings=encodings)
    cache = CompressCache(tmp_path / "state")
    names = {n: d for n, d in tree(ours).items() if wants_compression(n, len(d), options)}
    results = cache.compress_many([(sha(d), ours / n) for n, d in names.items()], options)
    for name, data in names.items():
        for encoding, result in results[sha(data)].items():
            blob = cache.read(result)
            if blob is not None:
                (ours / (name + SUFFIXES[encoding])).write_bytes(blob)

    assert tree(ours) == tree(theirs)


def test_an_apply_that_tidies_the_cache_writes_whole_siblings(tmp_path: Path) -> None:
    import gzip as gzip_module

    from staticbuild.api import Builder, load_project
    from staticbuild.storage.compress import MAX_PACKS, PACKS
    from tests.conftest import small_site

    spec = small_site(tmp_path, "storage: {compress: [gzip]}\n")
    Builder(load_project(spec)).apply()
    packs = tmp_path / ".staticbuild" / "compress" / PACKS
    for i in range(MAX_PACKS + 1):  # as if many earlier applies had each left a pack
        (packs / f"old-{i}.pack").write_bytes(b"x")
    (tmp_path / "out/js/app.js.gz").unlink()
    (tmp_path / "assets/css/site.css").write_text("body { color: red; }\n" * 40)
    Builder(load_project(spec)).apply()
    assert len(list(packs.iterdir())) <= 2  # compacted, plus the new content's pack
    for name in ("js/app.js", "css/site.css"):
        sibling = (tmp_path / "out" / f"{name}.gz").read_bytes()
        assert gzip_module.decompress(sibling) == (tmp_path / "out" / name).read_bytes()


def test_skip_extensions_from_the_spec(run_cli: RunCli, tmp_path: Path) -> None:
    """compress_skip_extensions is written as a YAML list, and honoured."""
    write(tmp_path / "assets/a.css", CSS)
    write(tmp_path / "assets/b.js", CSS)
    spec = make_spec(
        tmp_path,
        "sources: [assets]\nstorage:\n  compress: [gzip]\n  compress_skip_extensions: [css]\n",
    )
    result = run_cli("-f", spec, "apply", "--no-input")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "out/a.css.gz").exists()
    assert (tmp_path / "out/b.js.gz").exists()


def test_a_damaged_cache_never_reaches_the_destination(run_cli: RunCli, tmp_path: Path) -> None:
    """Bytes flipped in the cache's packs (same size): the apply refuses them in one line,
    and the next one compresses anew; every sibling then decodes to its file."""
    from staticbuild.storage.compress import PACKS

    for i in range(6):
        write(tmp_path / f"assets/s{i}.css", CSS + b"/* %d */" % i)
    spec = make_spec(tmp_path, "sources: [assets]\nstorage: {compress: [gzip, br]}\n")
    assert run_cli("-f", spec, "apply", "--no-input").exit_code == 0
    for pack in (tmp_path / ".staticbuild/compress" / PACKS).iterdir():
        data = bytearray(pack.read_bytes())
        for at in range(0, len(data), 97):
            data[at] ^= 0xFF
        pack.write_bytes(bytes(data))
    shutil.rmtree(tmp_path / "out")
    result = run_cli("-f", spec, "apply", "--no-input")
    assert result.exit_code == 1
    assert "compression cache" in result.stderr and "damaged a file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

    def siblings_decode() -> None:
        for sibling in (tmp_path / "out").glob("*.css.*"):
            original = (tmp_path / "out" / sibling.stem).read_bytes()
            decode = gzip.decompress if sibling.suffix == ".gz" else brotli.decompress
            assert decode(sibling.read_bytes()) == original

    siblings_decode()  # what the failed apply wrote is whole and right
    assert run_cli("-f", spec, "apply", "--no-input").exit_code == 0
    assert len(list((tmp_path / "out").glob("*.css.*"))) == 12
    siblings_decode()
    assert '"actions": []' in run_cli("-f", spec, "plan", "--json").stdout


def test_a_worker_that_dies_is_one_clear_error_and_what_finished_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compression worker killed mid-chunk (the kernel's OOM killer, say): the pool
    reports it instead of waiting forever, and the other chunks' results are in the cache."""
    import signal

    from staticbuild.storage import compress

    if compress._start_method() != "fork":
        pytest.skip("the fake coder reaches the workers only through fork")
    real = compress.CODERS["br"]

    def dies_on_poison(data: bytes) -> bytes:
        if b"POISON" in data:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(data)

    monkeypatch.setitem(compress.CODERS, "br", dies_on_poison)
    # Each big file is a chunk of its own (chunks hold ~256 KiB), the poisoned one is last.
    files = [CSS * 30 + b"/* %d */" % i for i in range(4)] + [CSS + b"POISON"]
    cache = CompressCache(tmp_path, workers=2)
    with pytest.raises(PostProcessError, match="compression worker stopped"):
        cache.compress_many([(sha(d), d) for d in files], CompressOptions(encodings=("br",)))
    fresh = CompressCache(tmp_path, workers=1)
    assert any(fresh.lookup(sha(d), "br") is not None for d in files[:-1])
    assert fresh.lookup(sha(files[-1]), "br") is None
