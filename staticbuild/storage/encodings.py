"""What is compressed, and how: ``NAME.gz`` / ``NAME.br`` byte for byte as WhiteNoise writes them.

The rules are WhiteNoise's (``whitenoise/compress.py``, 6.x), so that its middleware finds
and serves our files exactly as it would serve its own:

* names whose extension is in the skip list are never compressed; the test is WhiteNoise's
  regex ``\\.(ext|...)$``, case-insensitive, and a custom list *replaces* the default one
  (``WHITENOISE_SKIP_COMPRESS_EXTENSIONS``);
* gzip at ``compresslevel=9``, ``mtime=0`` and an empty file name in the header, so the
  bytes depend only on the content (WhiteNoise writes no name either);
* brotli at its default quality (11);
* a compressed copy is kept only when ``len(compressed) / len(original) <= 0.95``; an
  empty file never is;
* when brotli is wanted and is not effective, gzip is not even tried (WhiteNoise's
  shortcut: gzip never beats brotli), so no ``.gz`` is written either.

``min_size`` is ours (WhiteNoise has none; the default 0 keeps its behaviour).
"""

from __future__ import annotations

import functools
import gzip
import io
import re
from collections.abc import Callable

import brotli
import msgspec

#: Encoding name -> suffix of the sibling file, in the order WhiteNoise tries them.
SUFFIXES: dict[str, str] = {"br": ".br", "gzip": ".gz"}

#: WhiteNoise's ``Compressor.SKIP_COMPRESS_EXTENSIONS`` (already compressed formats).
SKIP_EXTENSIONS: tuple[str, ...] = (
    "jpg", "jpeg", "png", "gif", "webp",  # images
    "zip", "gz", "tgz", "bz2", "tbz", "xz", "br",  # compressed files
    "swf", "flv",  # flash
    "woff", "woff2",  # fonts
    "3gp", "3gpp", "asf", "avi", "m4v", "mov", "mp4", "mpeg", "mpg", "webm", "wmv",  # video
)  # fmt: skip

#: WhiteNoise's threshold: keep a copy only if it is at most this fraction of the original.
MAX_RATIO = 0.95


class CompressOptions(msgspec.Struct, frozen=True):
    """What to compress: which encodings, and which files are worth trying."""

    encodings: tuple[str, ...] = ()
    min_size: int = 0
    skip_extensions: tuple[str, ...] = SKIP_EXTENSIONS

    def __post_init__(self) -> None:
        unknown = [e for e in self.encodings if e not in SUFFIXES]
        if unknown:
            raise ValueError(f"unknown encoding(s) {unknown}; expected any of {list(SUFFIXES)}")

    @property
    def ordered_encodings(self) -> tuple[str, ...]:
        """The wanted encodings, brotli first (WhiteNoise's order; see the module doc)."""
        return tuple(e for e in SUFFIXES if e in self.encodings)


@functools.lru_cache(maxsize=16)
def _skip_re(extensions: tuple[str, ...]) -> re.Pattern[str]:
    # Same expression as whitenoise.compress.Compressor.get_extension_re.
    if not extensions:
        return re.compile("^$")
    return re.compile(r"\.({})$".format("|".join(map(re.escape, extensions))), re.IGNORECASE)


def wants_compression(name: str, size: int, options: CompressOptions) -> bool:
    """Whether ``name`` (``size`` bytes) is a candidate for ``.gz`` / ``.br`` siblings."""
    if not options.encodings or size == 0 or size < options.min_size:
        return False
    return not _skip_re(options.skip_extensions).search(name)


def compress_gzip(data: bytes) -> bytes:
    """Gzip ``data`` exactly as WhiteNoise does (level 9, no timestamp, no file name)."""
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
        gz.write(data)
    return out.getvalue()


def compress_brotli(data: bytes) -> bytes:
    """Brotli ``data`` at the default quality, as WhiteNoise does."""
    return bytes(brotli.compress(data))


def is_effective(original_size: int, compressed_size: int) -> bool:
    """WhiteNoise's rule: worth keeping when at most 95% of a non-empty original."""
    return original_size > 0 and compressed_size / original_size <= MAX_RATIO


#: encoding -> its coder
CODERS: dict[str, Callable[[bytes], bytes]] = {"gzip": compress_gzip, "br": compress_brotli}
