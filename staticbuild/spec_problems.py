"""A spec's problems in its own terms: one line each, naming the file, line, column and key.

pydantic reports a wrong key or type in its own words and with its own bookkeeping in the
key path (union tags, model names); here they become the spec's words (``expected a
folder or {path: ..., prefix: ...}, got a list``) and the spec's keys, in the shape the
file-system checks use too: ``FILE:LINE:COL: KEY: MESSAGE [SB-E0xx] (hint: ...)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from staticbuild.spec_yaml import KeyPath


def format_problem(
    path: Path, where: tuple[int, int], key: KeyPath, code: str, message: str, hint: str = ""
) -> str:
    line, col = where
    dotted = _dotted(key) or "(top level)"
    tail = f" (hint: {hint})" if hint else ""
    return f"{path}:{line}:{col}: {dotted}: {message} [{code}]{tail}"


def locate(positions: Mapping[KeyPath, tuple[int, int]], key: KeyPath) -> tuple[int, int]:
    for end in range(len(key), -1, -1):
        if key[:end] in positions:
            return positions[key[:end]]
    return (1, 1)


def _dotted(key: Sequence[str | int]) -> str:
    out = ""
    for part in key:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def format_validation_error(
    path: Path, positions: Mapping[KeyPath, tuple[int, int]], err: Any
) -> str:
    # pydantic adds union-member tags and model names to ``loc``; keep only real keys.
    key = clean_loc(err["loc"])
    kind = err["type"]
    code = kind if kind.startswith("SB-") else "SB-E002"
    hint = ""
    if kind == "extra_forbidden":
        message = f"unknown key {str(key[-1])!r}"
        hint = "see schema/staticbuild.schema.json for the keys a spec may have"
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "literal_error" and key == ("version",):
        version = shown(err.get("input"))
        message = f"unsupported version {version}; this staticbuild reads version 1"
    elif kind.startswith("SB-"):
        message = err["msg"]
    elif kind in ("string_too_short", "too_short"):
        message = "must not be empty"
    else:
        message = f"{_expected(key, kind, err['msg'])}, got {shown(err.get('input'))}"
    return format_problem(path, locate(positions, key), key, code, message, hint)


#: pydantic's wording for a value of the wrong kind, in the spec's own terms.
_EXPECTED = {
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "int_type": "expected a whole number",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
    "model_type": "expected a mapping of keys",
    "dict_type": "expected a mapping of keys",
    "string_pattern_mismatch": "expected a dotted Python package name, like 'django.contrib.admin'",
}


def _expected(key: KeyPath, kind: str, pydantic_message: str) -> str:
    if kind in ("model_type", "dict_type") and len(key) == 2 and key[0] == "apps":
        return "expected {path: ...} or {package: ...}"
    if kind in ("model_type", "dict_type") and len(key) == 2 and key[0] == "sources":
        return "expected a folder or {path: ..., prefix: ...}"
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    return pydantic_message.replace("Input should be", "must be", 1)


def shown(value: Any) -> str:
    """A value as the spec wrote it, short."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing (null)"
    return repr(value)


def clean_loc(loc: Sequence[str | int]) -> KeyPath:
    return tuple(p for p in loc if isinstance(p, int) or (p not in _UNION_TAGS and "[" not in p))


_UNION_TAGS = frozenset({"str", "SourceSpec", "AppSpec", "function-after[_exactly_one(), AppSpec]"})
