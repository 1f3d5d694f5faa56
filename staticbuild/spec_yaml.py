"""Reading the spec's YAML with positions: plain data for the models, and where each key
and item was written, so that every problem can name its file, line and column.

ruamel.yaml's round-trip loader keeps the positions; an alias bomb is refused before the
data is expanded.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from staticbuild.errors import SpecError

#: Aliases may repeat nodes; past this many expanded nodes a spec is refused (billion laughs).
MAX_EXPANDED_NODES = 100_000
KeyPath = tuple[str | int, ...]


def parse_yaml(path: Path, raw: bytes) -> tuple[Any, dict[KeyPath, tuple[int, int]]]:
    """The spec's data as plain dicts and lists, and the 1-based (line, column) of every
    key and item in it; a problem is a :class:`SpecError` naming file, line and column."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError([f"{path}: not UTF-8 text (byte {exc.start}) [SB-E001]"]) from None
    yaml = YAML(typ="rt", pure=True)
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{mark.line + 1}:{mark.column + 1}" if mark else "1:1"
        what = exc.problem or exc.context or "invalid YAML"
        raise SpecError([f"{path}:{where}: YAML syntax error: {what} [SB-E001]"]) from None
    except YAMLError as exc:
        message = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise SpecError([f"{path}:1:1: YAML error: {message} [SB-E001]"]) from None
    if data is None:
        raise SpecError(
            [
                f"{path}:1:1: the spec is empty; it needs at least 'version' and "
                "'destination' [SB-E001]"
            ]
        )
    if not isinstance(data, Mapping):
        raise SpecError(
            [
                f"{path}:1:1: the spec must be a mapping of keys (like 'version: 1'), "
                f"not a {_yaml_kind(data)} [SB-E001]"
            ]
        )
    if _expanded_size(data, {}) > MAX_EXPANDED_NODES:
        raise SpecError(
            [
                f"{path}:1:1: aliases expand to more than {MAX_EXPANDED_NODES} nodes; "
                "refusing to load (alias bomb?) [SB-E001]"
            ]
        )
    positions: dict[KeyPath, tuple[int, int]] = {}
    plain = _to_plain(data, (), positions)
    return plain, positions


def _yaml_kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    return "scalar value" if not isinstance(value, Mapping) else "mapping"


def _expanded_size(node: Any, memo: dict[int, int]) -> int:
    """Node count with aliases expanded, memoised by identity so the count itself stays cheap."""
    key = id(node)
    if key in memo:
        return memo[key]
    if isinstance(node, Mapping):
        size = 1 + sum(_expanded_size(v, memo) for v in node.values())
    elif isinstance(node, list):
        size = 1 + sum(_expanded_size(v, memo) for v in node)
    else:
        return 1
    memo[key] = size
    return size


def _to_plain(node: Any, key: KeyPath, positions: dict[KeyPath, tuple[int, int]]) -> Any:
    """ruamel's round-trip nodes to plain dicts/lists, recording 1-based (line, column) per key."""
    if isinstance(node, Mapping):
        out: dict[Any, Any] = {}
        lc = getattr(node, "lc", None)
        if lc is not None and key not in positions:
            positions[key] = (lc.line + 1, lc.col + 1)
        for k, v in node.items():
            child = (*key, str(k))
            if lc is not None:
                try:
                    line, col = lc.key(k)
                    positions[child] = (line + 1, col + 1)
                except (KeyError, TypeError):
                    pass
            # every key as a string: a key like '1:' is then an unknown key, found on its line
            out[str(k)] = _to_plain(v, child, positions)
        return out
    if isinstance(node, list):
        lc = getattr(node, "lc", None)
        items = []
        for i, v in enumerate(node):
            child = (*key, i)
            if lc is not None:
                try:
                    line, col = lc.item(i)
                    positions[child] = (line + 1, col + 1)
                except (KeyError, TypeError, IndexError):
                    pass
            items.append(_to_plain(v, child, positions))
        return items
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return str(node)
