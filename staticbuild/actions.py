"""The plan as a value: frozen, tagged msgspec Structs that ``plan --json`` prints as they are.

Every action names its destination-relative ``path``. Sources are named by the index of
their root in :attr:`Plan.roots` and the root-relative path, so a plan reads the same on
every machine and in every folder.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from staticbuild.project import Overrides

Mode = Literal["copy", "link"]

#: The plan format this staticbuild writes and applies (``"version"`` in its JSON).
PLAN_VERSION = 1


class _Action(msgspec.Struct, frozen=True, tag_field="op", omit_defaults=True, gc=False):
    path: str


class Copy(_Action, frozen=True, tag="copy"):
    """A new file, copied from a source file.

    ``digest`` is left out when nothing needed the source's content to decide (its
    destination is missing): the copy hashes it on the way instead of reading it twice.
    """

    root: int
    source: str
    size: int
    digest: str = ""


class Link(_Action, frozen=True, tag="link"):
    """A new symlink to a source file (absolute, as Django's ``--link`` makes)."""

    root: int
    source: str
    digest: str


class Update(_Action, frozen=True, tag="update"):
    """Replace what is at ``path`` (changed content, copy↔link switch, a foreign file)."""

    root: int
    source: str
    digest: str
    mode: Mode
    reason: str
    foreign: bool = False


class Write(_Action, frozen=True, tag="post-process"):
    """A file whose bytes staticbuild makes: a hashed copy, a rewritten CSS/JS, the manifest."""

    digest: str
    size: int
    origin: str
    replaces: bool = False
    foreign: bool = False


class Compress(_Action, frozen=True, tag="compress"):
    """A precompressed sibling (``.gz``/``.br``) of another output."""

    digest: str
    size: int
    origin: str
    encoding: str
    replaces: bool = False
    foreign: bool = False


class Delete(_Action, frozen=True, tag="delete"):
    """Remove a file staticbuild wrote that is no longer collected (or any file, with clear)."""

    reason: str
    foreign: bool = False


Action = Copy | Link | Update | Write | Compress | Delete

#: How the human diff marks each action.
MARKS = {
    "copy": "+",
    "link": "+",
    "update": "~",
    "post-process": "*",
    "compress": "*",
    "delete": "-",
}


class Inputs(msgspec.Struct, frozen=True):
    """What a saved plan was made from; ``apply PLAN`` refuses if any of it changed.

    ``flags`` are the command-line options the plan was made with: ``apply PLAN`` uses
    them, so a plan made with ``--clear`` is applied with ``--clear``.
    """

    spec: str
    options: str
    flags: Overrides
    sources: dict[str, str]
    destination: dict[str, str]


class Plan(msgspec.Struct, frozen=True, omit_defaults=True):
    version: int
    destination: str
    storage: str
    roots: tuple[str, ...]
    actions: tuple[Action, ...]
    unmodified: int
    collected: int
    inputs: Inputs | None = None

    @property
    def is_empty(self) -> bool:
        return not self.actions

    def foreign(self) -> tuple[Action, ...]:
        """Actions that delete or overwrite files staticbuild did not write."""
        return tuple(a for a in self.actions if getattr(a, "foreign", False))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for action in self.actions:
            op = action.__struct_config__.tag
            assert isinstance(op, str)
            out[op] = out.get(op, 0) + 1
        return out


def op_of(action: Action) -> str:
    tag = action.__struct_config__.tag
    assert isinstance(tag, str)
    return tag


def encode_plan(plan: Plan, *, with_inputs: bool) -> bytes:
    """The plan's JSON; ``inputs`` only in saved plans, where ``apply`` needs them."""
    if not with_inputs and plan.inputs is not None:
        plan = msgspec.structs.replace(plan, inputs=None)
    return msgspec.json.format(msgspec.json.encode(plan), indent=2) + b"\n"


class _Versioned(msgspec.Struct):
    version: int


def decode_plan(data: bytes) -> Plan:
    """The plan in ``data``; ValueError if it is not a plan of :data:`PLAN_VERSION`.

    The version is read first: a plan of another version is named as such, not as a
    plan with the wrong fields.
    """
    version = msgspec.json.decode(data, type=_Versioned).version
    if version != PLAN_VERSION:
        raise ValueError(
            f"it is a version {version} plan; this staticbuild applies version "
            f"{PLAN_VERSION} plans only"
        )
    return msgspec.json.decode(data, type=Plan)
