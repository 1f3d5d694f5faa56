"""Saved plans: what a plan records of its inputs, and why a saved plan is refused.

``plan --out`` saves the plan with what it was decided from: the spec's digest, the
command-line options (``apply PLAN_FILE`` loads the project with them), each collected
file's digest and what each destination path held. ``apply PLAN_FILE`` plans again,
recording the same, and refuses the saved plan at the first difference, naming it
(Terraform's "saved plan is stale").
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

import msgspec

from staticbuild.actions import Inputs, Plan, decode_plan
from staticbuild.errors import StalePlanError, StaticbuildError
from staticbuild.planner import Desired, Observed
from staticbuild.project import Project


def read_plan_file(path: Path) -> Plan:
    """The plan saved in ``path``, or an error naming the file: a plan that cannot be read,
    is not a plan, or is of another plan version cannot be carried out exactly."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StaticbuildError(f"cannot read plan file {str(path)!r}: {exc.strerror}") from None
    try:
        plan = decode_plan(data)
    except ValueError as exc:
        raise StaticbuildError(
            f"plan file {str(path)!r} is not a plan this staticbuild can apply: {exc}"
        ) from None
    if plan.inputs is None:
        raise StaticbuildError(
            f"plan file {str(path)!r} has no recorded inputs (a 'plan --json' print?); "
            "save plans with 'plan --out'"
        )
    return plan


def plan_inputs(
    project: Project,
    desired: Mapping[str, Desired],
    observed: Mapping[str, Observed],
    foreign: Iterable[str],
    recorded: Collection[str],
) -> Inputs:
    """The inputs of a full plan: ``recorded`` are the destination paths of the record."""
    options = msgspec.json.encode(msgspec.structs.replace(project, warnings=()))
    # Every path in the plan's scope (wanted or recorded); observed leaves out the missing.
    dest = dict.fromkeys(desired.keys() | recorded, "missing:")
    dest.update((p, f"{o.kind}:{o.digest or o.target or ''}") for p, o in observed.items())
    dest.update(dict.fromkeys(foreign, "foreign"))
    return Inputs(
        spec=project.spec_digest,
        options=hashlib.sha256(options).hexdigest(),
        flags=project.overrides,
        sources={d: w.digest for d, w in sorted(desired.items())},
        destination=dict(sorted(dest.items())),
    )


def refuse_if_stale(saved: Plan, fresh: Plan) -> None:
    """Raise :class:`StalePlanError` naming the first input (or action) that differs."""
    assert saved.inputs is not None and fresh.inputs is not None
    changed = first_difference(saved.inputs, fresh.inputs)
    if changed is None and fresh.actions != saved.actions:
        changed = "the planned actions"
    if changed is not None:
        raise StalePlanError(
            f"the saved plan is out of date: {changed} changed since it was "
            "made; run 'staticbuild plan' again"
        )


def first_difference(old: Inputs, new: Inputs) -> str | None:
    if old.spec != new.spec:
        return "the spec file"
    if old.options != new.options:
        return "the options (command-line flags or resolved folders)"
    for name, before, after in (
        ("source of", old.sources, new.sources),
        ("destination file", old.destination, new.destination),
    ):
        for path in sorted(before.keys() | after.keys()):
            if before.get(path) != after.get(path):
                return f"{name} {path!r}"
    return None
