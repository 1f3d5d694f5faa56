"""Find and rewrite the file references in CSS and JS exactly as Django 6.1 does.

A line-by-line port of ``HashedFilesMixin`` from ``django/contrib/staticfiles/storage.py``
(Django 6.1): its ``patterns``, ``url_converter``, ``_url``, ``_stored_name`` and
``hashed_name``. The only change is that every storage call (``hashed_files.get``,
``exists``, ``open``) goes through :func:`classify` and a ``StoredName`` callback, so the
manifest engine can record what a file needs before it knows the final names. Keep the
odd-looking string handling (``unquote`` twice, ``urljoin``, ``?#``): byte-identical
output depends on it.
"""

from __future__ import annotations

import bisect
import posixpath
import re
from collections.abc import Callable, Collection, Iterable
from fnmatch import fnmatchcase
from typing import Literal, NamedTuple
from urllib.parse import quote, unquote, urldefrag, urljoin, urlsplit, urlunsplit

# Django 6.1 skips matches inside these blocks (comments, strings, escapes); 5.2 did not.
CSS_IGNORED = re.compile(
    r"/\*.*?\*/"  # block comment
    r"|\\."  # escape sequence
    r"|'(?:[^'\\\n]|\\.)*'"  # single-quoted string
    r'|"(?:[^"\\\n]|\\.)*"',  # double-quoted string
    re.DOTALL,
)
JS_IGNORED = re.compile(
    r"/\*.*?\*/"  # block comment
    r"|//[^\n]*"  # line comment
    r"|\\."  # escape sequence
    r"|'(?:[^'\\\n]|\\.)*'"  # single-quoted string
    r'|"(?:[^"\\\n]|\\.)*"'  # double-quoted string
    r"|`(?:[^`\\]|\\.)*`",  # template literal
    re.DOTALL,
)
_SCHEME = re.compile(r"^[a-z]+:")  # Django matches this case-sensitively


class Pattern(NamedTuple):
    regex: re.Pattern[str]
    template: str
    ignored: re.Pattern[str]
    #: text that every match contains; ``anycase``: in any letter case, as the regex
    #: (compiled with IGNORECASE) matches it. A text without it is not searched.
    needle: str
    anycase: bool


def _p(regex: str, template: str, ignored: re.Pattern[str], needle: str) -> Pattern:
    """A needle with capitals is matched case-sensitively by the regex too: ``(?-i:...)``."""
    return Pattern(re.compile(regex, re.IGNORECASE), template, ignored, needle, needle.islower())


CSS_PATTERNS = (
    _p(
        r"""(?P<matched>url\((?P<quote>['"]{0,1})\s*(?P<url>.*?)(?P=quote)\))""",
        """url("%(url)s")""",
        CSS_IGNORED,
        "url(",
    ),
    _p(
        r"""(?P<matched>@import\s*["']\s*(?P<url>.*?)["'])""",
        """@import url("%(url)s")""",
        CSS_IGNORED,
        "@import",
    ),
    _p(
        r"(?m)^(?P<matched>/\*#[ \t](?-i:sourceMappingURL)=(?P<url>.*)[ \t]*\*/)$",
        "/*# sourceMappingURL=%(url)s */",
        CSS_IGNORED,
        "sourceMappingURL=",
    ),
)
JS_PATTERNS = (
    _p(
        r"(?m)^(?P<matched>//# (?-i:sourceMappingURL)=(?P<url>.*))$",
        "//# sourceMappingURL=%(url)s",
        JS_IGNORED,
        "sourceMappingURL=",
    ),
)
# support_js_module_import_aggregation = True appends these after the sourcemap pattern.
JS_MODULE_PATTERNS = (
    _p(
        r"""(?P<matched>import(?P<import>[\s\{][^;]*?|\*\s*as\s*\w+)"""
        r"""\s*from\s*['"](?P<url>[./].*?)["'])""",
        """import%(import)s from "%(url)s\"""",
        JS_IGNORED,
        "import",
    ),
    _p(
        r"""(?P<matched>export(?P<exports>[\s\{][^;]*?)\s*from\s*["'](?P<url>[./].*?)["'])""",
        """export%(exports)s from "%(url)s\"""",
        JS_IGNORED,
        "export",
    ),
    _p(
        r"""(?P<matched>import\s*['"](?P<url>[./].*?)["'])""",
        """import"%(url)s\"""",
        JS_IGNORED,
        "import",
    ),
    _p(
        r"""(?P<matched>import\(["'](?P<url>[./].*?)["']\))""",
        """import("%(url)s")""",
        JS_IGNORED,
        "import(",
    ),
)


def patterns_for(name: str, js_module_imports: bool) -> tuple[Pattern, ...]:
    """The patterns Django applies to ``name``; empty when the file is not adjustable.

    Django matches its ``*.css`` / ``*.js`` globs with ``fnmatchcase``: ``A.CSS`` is copied
    and hashed but never rewritten.
    """
    if fnmatchcase(name, "*.css"):
        return CSS_PATTERNS
    if fnmatchcase(name, "*.js"):
        return JS_PATTERNS + JS_MODULE_PATTERNS if js_module_imports else JS_PATTERNS
    return ()


def static_url_setting(url: str) -> str:
    """``settings.STATIC_URL`` as Django reads it: a relative value gets the script prefix."""
    return url if url.startswith(("http://", "https://", "/")) else "/" + url


def clean_name(name: str) -> str:
    return name.replace("\\", "/")


def format_hashed_name(name: str, file_hash: str) -> str:
    """Django's ``hashed_name(name, content)`` once the content's 12-hex md5 is known."""
    parsed = urlsplit(unquote(name))
    path, filename = posixpath.split(parsed.path.strip())
    root, ext = posixpath.splitext(filename)
    parts = list(parsed)
    parts[2] = posixpath.join(path, f"{root}.{file_hash}{ext}")
    # Django's @font-face hack: url(myfont.eot?#iefix) keeps its "?".
    if "?#" in name and not parts[3]:
        parts[2] += "?"
    return urlunsplit(parts)


def saved_name(name: str, file_hash: str) -> str:
    """The name a collected file's hashed copy is saved under (``_save`` relpaths it)."""
    if _PLAIN_NAME.fullmatch(name) and not _ODD_SEGMENT.search(name) and name.strip() == name:
        # Nothing for unquote, urlsplit or normpath to change: same result, 10x cheaper.
        head, _, filename = name.rpartition("/")
        root, ext = posixpath.splitext(filename)
        return f"{head}/{root}.{file_hash}{ext}" if head else f"{root}.{file_hash}{ext}"
    return clean_name(posixpath.normpath(format_hashed_name(name, file_hash)))


#: Names made of characters that URL parsing and unquoting leave alone ...
_PLAIN_NAME = re.compile(r"[^%?#:;\\\x00-\x20\x7f]+")
#: ... and whose segments normpath would not touch (empty, ".", "..").
_ODD_SEGMENT = re.compile(r"(?:^|/)\.{0,2}(?:/|$)")


Kind = Literal["final", "orig", "dir", "missing", "invalid", "hashed"]


class Target(NamedTuple):
    """What Django's ``_stored_name(arg)`` consults: the final name of a collected file
    (``final``), the md5 of a collected file's original bytes (``orig``: the name is not a
    manifest key, e.g. it carries a query string), nothing (``dir``), no file at all, or
    nothing because urllib cannot parse the name (``invalid``; ``key`` is its error).

    ``hashed``: the name is one an earlier pattern wrote into the file, so it holds a hash
    (see :func:`classify_rewritten`); ``key`` is the collected file it may be the hashed
    name of, or "".
    """

    kind: Kind
    key: str


class NameIndex:
    """The collected names and the folders they imply, standing in for STATIC_ROOT."""

    def __init__(self, names: Iterable[str]) -> None:
        self.keys = frozenset(clean_name(n) for n in names)
        self.files = frozenset(names)
        dirs = {""}
        for name in self.files:
            parent = posixpath.dirname(name)
            while parent not in dirs:
                dirs.add(parent)
                parent = posixpath.dirname(parent)
        self.dirs = frozenset(dirs)


def _locate(filename: str, index: NameIndex) -> Target:
    """``storage.exists`` + ``storage.open`` on STATIC_ROOT, including ``safe_join``."""
    full = posixpath.normpath(posixpath.join("/R", filename))
    if full == "/R":
        return Target("dir", filename)
    if not full.startswith("/R/"):
        return Target("missing", filename)  # Django: SuspiciousFileOperation
    rel = full[3:]
    if rel in index.files:
        return Target("orig", rel)
    if rel in index.dirs:
        return Target("dir", filename)
    return Target("missing", filename)


def classify(arg: str, index: NameIndex) -> Target:
    """What ``_stored_name(arg, hashed_files)`` needs once post-processing has converged."""
    key = clean_name(posixpath.normpath(arg))
    if key in index.keys:
        return Target("final", key)
    try:
        path = urlsplit(unquote(posixpath.normpath(arg))).path
    except ValueError as exc:  # e.g. "Invalid IPv6 URL": Django's hashed_name raises it
        return Target("invalid", str(exc))
    return _locate(path.strip(), index)


#: What the scan writes where a hash goes: the text keeps its shape whatever the hashes.
PLACEHOLDER = "0" * 12
#: What it writes instead in a text that names something with PLACEHOLDER in it.
_OTHER_PLACEHOLDERS = tuple(c * 12 for c in "fedcba987654321")


def placeholder_for(name: str, text: str) -> str:
    """A placeholder no name looked up from ``text`` (a file named ``name``) can hold
    unless an earlier pattern wrote it: not in the text, nor in it percent-decoded, nor
    in the file's own folder (names are joined to it)."""
    texts = [text]
    if "%" in text:  # a name is decoded twice on its way to a lookup (as Django does)
        texts.append(unquote(text))
        texts.append(unquote(texts[-1]))
    for candidate in (PLACEHOLDER, *_OTHER_PLACEHOLDERS):
        if candidate not in name and not any(candidate in t for t in texts):
            return candidate
    return PLACEHOLDER  # every one is in the text: names that hold it count as written


def classify_rewritten(arg: str, index: NameIndex) -> Target:
    """The scan's view of a name that holds :data:`PLACEHOLDER`: a later pattern matched
    what an earlier one wrote (JS module patterns without semicolons: ``import './a.js'``
    then ``export {x} from './b.js'``), so Django looks up a hashed name (``b.<md5>.js``).
    Which file that is depends on the hash, so it is resolved only once the file it derives
    from (``key``) has its final name: :func:`resolve_rewritten`.
    """
    try:
        path = urlsplit(unquote(posixpath.normpath(arg))).path.strip()
    except ValueError:
        return Target("hashed", "")
    full = posixpath.normpath(posixpath.join("/R", path))
    source = full[3:].replace("." + PLACEHOLDER, "", 1)
    return Target("hashed", clean_name(source) if source in index.files else "")


def resolve_rewritten(arg: str, index: NameIndex, output: str) -> Target:
    """What ``_stored_name(arg)`` finds for a name an earlier pattern wrote, once Django's
    passes have converged: a collected file, a folder, ``output`` (the hashed file of the
    file the name derives from, saved by then: an ``orig`` target, so Django names it
    ``x.<h>.<h>.js``), or nothing.
    """
    target = classify(arg, index)
    if target.kind == "missing":
        full = posixpath.normpath(posixpath.join("/R", target.key))
        if full[3:] == output:
            return Target("orig", output)
    return target


def hash_in(saved: str, name: str) -> str:
    """The md5 that :func:`saved_name` put into ``saved``, the hashed name of ``name``."""
    zeros, fs = saved_name(name, "0" * 12), saved_name(name, "f" * 12)
    start = next(i for i, (a, b) in enumerate(zip(zeros, fs, strict=True)) if a != b)
    return saved[start : start + 12]


def same_but_hashes(scanned: str, arg: str) -> bool:
    """Is ``arg`` the name the scan saw as ``scanned``, with real hashes for placeholders?"""
    pattern = re.escape(scanned).replace(PLACEHOLDER, "[0-9a-f]{12}")
    return re.fullmatch(pattern, arg) is not None


def stored_name(arg: str, target: Target, value: str) -> str:
    """The result of ``_stored_name(arg)``: ``value`` is the final name (``final``) or the
    original's 12-hex md5 (``orig``)."""
    if target.kind == "final":
        return value
    name = posixpath.normpath(arg)
    if target.kind == "dir":
        return clean_name(name)
    return clean_name(format_hashed_name(name, value))


def _storage_url(name: str, base_url: str) -> str:
    """``FileSystemStorage.url``."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    rel = quote(clean_name(name), safe="/~!*()'").lstrip("/")
    if _PLAIN_BASE.fullmatch(base) and not _JOIN_CHANGES.search(rel):
        return base + rel  # what urljoin gives here, without parsing both halves
    return urljoin(base, rel)


#: A base URL that is a plain absolute path (no scheme, host, query, control character or
#: empty, "." or ".." segment) ...
_PLAIN_BASE = re.compile(r"/(?:(?!\.{1,2}/)[^/;?#:\x00-\x20\x7f]+/)*")
#: ... and what urljoin would resolve in a quoted name (which has no ":;?#" left).
_JOIN_CHANGES = re.compile(r"//|(?:^|/)\.{1,2}(?:/|$)")


# (the name given to _stored_name, the line of the reference, "") -> its result, or None
# to leave the reference as written (manifest_strict off). For a reference urllib cannot
# parse before a name is asked for: (the URL as written, its line, the error) -> None.
StoredName = Callable[[str, int, str], "str | None"]


def _url(name: str, static_url: str, stored: StoredName, line: int) -> str | None:
    """``HashedFilesMixin._url(self._stored_name, name, force=True, hashed_files=...)``."""
    clean, fragment = urldefrag(name)
    if urlsplit(clean).path.endswith("/"):  # don't hash paths
        hashed: str | None = name
    else:
        hashed = stored(clean, line, "")
    if hashed is None:
        return None
    final_url = _storage_url(hashed, static_url)
    query_fragment = "?#" in name
    if fragment or query_fragment:
        parts = list(urlsplit(final_url))
        if fragment and not parts[4]:
            parts[4] = fragment
        if query_fragment and not parts[3]:
            parts[2] += "?"
        final_url = urlunsplit(parts)
    return unquote(final_url)


def _in_blocks(pos: int, starts: list[int], ends: list[int]) -> bool:
    """``is_in_ignored_block``; blocks are sorted and disjoint, so one bisect suffices."""
    i = bisect.bisect_left(starts, pos) - 1
    return i >= 0 and pos < ends[i]


def _converter(
    name: str, text: str, pattern: Pattern, static_url: str, stored: StoredName
) -> Callable[[re.Match[str]], str]:
    """``url_converter`` for one pattern over ``text``."""
    starts: list[int] = []
    ends: list[int] = []
    blocks_found = False  # the ignored blocks are found at the first match, if one comes

    def line_of(pos: int) -> int:
        return text.count("\n", 0, pos) + 1  # C speed; a file has few references

    def convert(match: re.Match[str]) -> str:
        nonlocal blocks_found
        if not blocks_found:
            for block in pattern.ignored.finditer(text):
                starts.append(block.start())
                ends.append(block.end())
            blocks_found = True
        matches = match.groupdict()
        matched, url = matches["matched"], matches["url"]
        if starts and _in_blocks(match.start(), starts, ends):
            return str(matched)
        # Absolute, protocol-relative, data: URIs, and absolute paths outside STATIC_URL.
        if _SCHEME.match(url) or url.startswith("//"):
            return str(matched)
        if url.startswith("/") and not url.startswith(static_url):
            return str(matched)
        try:
            url_path, fragment = urldefrag(url)
            if not url_path:
                return str(matched)
            if url_path.startswith("/"):
                target = url_path.removeprefix(static_url)
            else:
                target = posixpath.join(posixpath.dirname(name), url_path)
            hashed_url = _url(unquote(target), static_url, stored, line_of(match.start()))
        except ValueError as exc:  # urlsplit: e.g. "Invalid IPv6 URL"; Django fails too
            hashed_url = stored(url, line_of(match.start()), str(exc))
        if hashed_url is None:
            return str(matched)
        transformed = "/".join(url_path.split("/")[:-1] + hashed_url.split("/")[-1:])
        if fragment:
            transformed += ("?#" if "?#" in url else "#") + fragment
        matches["url"] = unquote(transformed)
        return pattern.template % matches

    return convert


def rewrite(
    name: str, text: str, patterns: Collection[Pattern], static_url: str, stored: StoredName
) -> str:
    """Apply each pattern in turn, as ``_post_process`` does for an adjustable file.

    ``static_url`` must already be :func:`static_url_setting`'s form. Later patterns see the
    output of earlier ones (ignored blocks are recomputed each time), as in Django.
    """
    lowered = text.lower() if text.isascii() else None  # see _may_match
    for pattern in patterns:
        if _may_match(pattern, text, lowered):
            rewritten = pattern.regex.sub(_converter(name, text, pattern, static_url, stored), text)
            if rewritten is not text:  # sub gives the same object back when nothing matched
                text = rewritten
                lowered = text.lower() if text.isascii() else None
    return text


def _may_match(pattern: Pattern, text: str, lowered: str | None) -> bool:
    """False only when ``pattern`` cannot match ``text``: its needle is not in it.

    ``lowered`` is the text in lower case when it is ASCII; there, and only there, the
    regex's IGNORECASE is exactly a match in the lowered text (elsewhere it also matches
    letters like "ı" or "ſ" that lower() does not map to ASCII).
    """
    if not pattern.anycase:
        return pattern.needle in text
    return lowered is None or pattern.needle in lowered
