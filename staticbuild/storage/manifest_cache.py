"""The manifest engine's data: what it keeps between runs and what it returns.

A trace (:class:`Adjusted`) records, for one CSS/JS file, the names it looked up and what
each resolved to; with the original's bytes it is enough to make the rewritten bytes
again, so the state keeps traces, never rewritten bytes. Decoding a cached
:class:`ManifestCache` needs only this module, not the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from staticbuild.storage.references import Kind

ENGINE = "django-6.1.3/3"  # bump to invalidate caches when the output could change


class ManifestOptions(msgspec.Struct, frozen=True):
    url: str = "/static/"  # STATIC_URL
    strict: bool = True  # missing reference fails; False leaves it as written + a warning
    js_module_imports: bool = False  # Django's support_js_module_import_aggregation
    manifest_name: str = "staticfiles.json"


class Lookup(msgspec.Struct, frozen=True, array_like=True):
    """One call of Django's ``_stored_name`` made while rewriting a file."""

    arg: str
    kind: Kind
    key: str
    line: int


class Adjusted(msgspec.Struct, frozen=True):
    """What one CSS/JS file needed and produced on the last run.

    No output bytes: they are a function of the original (``fingerprint``) and ``values``,
    and keeping them made every run decode every rewritten file from the state.
    """

    fingerprint: str
    lookups: tuple[Lookup, ...]
    values: tuple[str, ...]  # what each lookup resolved to when the output was made
    name: str
    digest: str  # sha256 hex of the output; ``fingerprint`` when it equals the original
    size: int  # of the output, so a plan needs no bytes to describe it


@dataclass(frozen=True, slots=True)
class Output:
    """One hashed file to write.

    ``content`` is a cache of this run only (bytes it rewrote) and takes no part in
    equality: an output reused from :class:`ManifestCache` equals the same output made
    afresh. :func:`output_bytes` gives the bytes either way.
    """

    name: str  # destination-relative hashed name, e.g. "css/base.5e0f8a1b2c3d.css"
    original: str  # the collected file it derives from
    digest: str  # sha256 hex of the output's bytes
    trace: Adjusted | None = None  # a CSS/JS file's trace; None for a plain copy
    content: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def rewritten(self) -> bool:
        """Whether the bytes differ from the original's (else the original is copied)."""
        return self.trace is not None and self.trace.digest != self.trace.fingerprint


class ManifestCache(msgspec.Struct, frozen=True):
    engine: str = ENGINE
    url: str = "/static/"
    js_module_imports: bool = False
    md5: dict[str, str] = {}  # fingerprint -> first 12 hex digits of md5 of those bytes
    adjusted: dict[str, Adjusted] = {}  # CSS/JS name -> its trace


class ManifestStats(msgspec.Struct, frozen=True):
    files: int  # collected files considered
    read: int  # calls of ``read``
    hashed: int  # md5 computations over file bytes
    parsed: int  # CSS/JS files scanned for references
    rewritten: int  # CSS/JS files rewritten with final names


class ManifestResult(msgspec.Struct, frozen=True):
    paths: dict[str, str]  # original -> hashed name, as in staticfiles.json
    outputs: tuple[Output, ...]  # every hashed file to write, sorted by name
    # Collected files whose bytes Django replaces because a hashed output lands on their
    # name (only when a source already holds hashed names); never the manifest itself.
    rewritten: tuple[tuple[str, bytes], ...]
    manifest: bytes  # staticfiles.json exactly as Django 6.1 writes it
    warnings: tuple[str, ...]  # non-strict: one line per reference left as written
    cache: ManifestCache
    stats: ManifestStats
