"""The summary line and the -v 2 conflict lines, against Django 6.1's ``collectstatic``.

6.1 writes ``{D static files deleted, }N static files copied to '…'{, U unmodified}
{, P post-processed}{, S skipped due to conflict}.``; S counts the found files that lost to
an earlier one with the same destination path, on every run.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from staticbuild.api import Builder, load_project
from tests.collectstatic_reference import Case, Source, case_from_spec, staticbuild
from tests.conftest import write
from tests.manifest_apply_helpers import DjangoCollect, write_manifest_spec

ROOT = Path(__file__).resolve().parent.parent
PLAIN = "django.contrib.staticfiles.storage.StaticFilesStorage"
MANIFEST = "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"
CONFLICT = "Found another file with the destination path "


def demo_spec(base: Path, kind: str) -> Path:
    """The demo tree (css/base.css is in three roots: two conflicts) as a spec of ``kind``."""
    shutil.copytree(ROOT / "examples", base / "examples")
    shutil.copy(ROOT / "staticbuild.yaml", base / "staticbuild.yaml")
    return write_manifest_spec(
        case_from_spec(base / "staticbuild.yaml"), "ours", {"kind": kind}, name="summary.yaml"
    )


def ours(spec: Path, *args: str) -> list[str]:
    result = staticbuild("-f", spec, *args)
    assert result.exit_code == 0, result.output
    return result.stdout.replace(str(spec.parent / "ours"), "DEST").splitlines()


def theirs(run: DjangoCollect, dest: Path) -> list[str]:
    run.ok()
    return run.stdout.replace(str(dest), "DEST").splitlines()


@pytest.mark.parametrize("kind", ["filesystem", "manifest"])
def test_summary_and_conflicts_as_django_61_reports_them(
    dj61: Path, start_django: Callable[..., DjangoCollect], tmp_path: Path, kind: str
) -> None:
    """With --clear over a foreign file, both delete it first (the 6.1 prefix), collect the
    tree and skip the two shadowed css/base.css; at -v 2 both log each conflict."""
    spec = demo_spec(tmp_path, kind)
    case = case_from_spec(spec)
    dest = tmp_path / "django"
    write(dest / "foreign.txt", "someone else's")
    write(tmp_path / "ours/foreign.txt", "someone else's")
    backend = PLAIN if kind == "filesystem" else MANIFEST
    django = start_django(dj61, case, dest, backend=backend, args=["-v", "2", "--clear"])
    mine = ours(spec, "-v", "2", "apply", "--no-input", "--clear")
    reference = theirs(django, dest)
    assert mine[-1] == reference[-1]
    assert mine[-1].startswith("1 static file deleted, ")
    assert mine[-1].endswith(", 2 skipped due to conflict.")
    conflicts = [line for line in reference if line.startswith(CONFLICT)]
    assert len(conflicts) == 2
    assert [line for line in mine if line.startswith(CONFLICT)] == conflicts


def test_a_no_op_apply_reports_conflicts_as_django_61_does(
    dj61: Path, start_django: Callable[..., DjangoCollect], tmp_path: Path
) -> None:
    """Again and again: 0 copied, all unmodified, the same conflicts; the last apply is
    proved empty from the note of the one before, which must carry the count."""
    spec = demo_spec(tmp_path, "filesystem")
    case = case_from_spec(spec)
    dest = tmp_path / "django"
    start_django(dj61, case, dest, backend=PLAIN).ok()
    ours(spec, "apply", "--no-input")
    for _ in range(2):  # a full plan that finds nothing to do, then a proved one
        django = start_django(dj61, case, dest, backend=PLAIN, args=["-v", "2"])
        mine = ours(spec, "-v", "2", "apply", "--no-input")
        reference = theirs(django, dest)
        assert (
            mine[-1]
            == reference[-1]
            == ("0 static files copied to 'DEST', 10 unmodified, 2 skipped due to conflict.")
        )
        conflicts = [line for line in reference if line.startswith(CONFLICT)]
        assert [line for line in mine if line.startswith(CONFLICT)] == conflicts
    builder = Builder(load_project(spec))
    plan = builder.plan()
    assert builder.work.proved_unchanged
    assert len(builder.conflicts()) == 2
    summary = builder.apply(plan).summary().replace(str(tmp_path / "ours"), "DEST")
    assert summary == reference[-1]


def test_stale_deletions_come_first(tmp_path: Path) -> None:
    """collectstatic deletes only with --clear; staticbuild's stale outputs are deletions
    too, and take the same place in the line."""
    spec = write(tmp_path / "staticbuild.yaml", "version: 1\ndestination: out\nsources: [a]\n")
    write(tmp_path / "a/x.css", "x")
    write(tmp_path / "a/y.css", "y")
    write(tmp_path / "a/z.css", "z")
    assert staticbuild("-f", spec, "apply").exit_code == 0
    (tmp_path / "a/y.css").unlink()
    (tmp_path / "a/z.css").unlink()
    result = staticbuild("-f", spec, "apply")
    copied = f"0 static files copied to '{tmp_path / 'out'}'"
    assert result.stdout == f"2 static files deleted, {copied}, 1 unmodified.\n"


def test_a_folder_listed_twice_is_searched_once_as_django_61_does(
    dj61: Path, start_django: Callable[..., DjangoCollect], tmp_path: Path
) -> None:
    """Django's FileSystemFinder keeps one of a repeated (prefix, root): no conflict is
    reported for a folder against itself. staticbuild warns (SB-W002) and agrees."""
    write(tmp_path / "assets/css/a.css", "a")
    write(tmp_path / "vendor/v.js", "v")
    case = Case(
        base=tmp_path,
        sources=[
            Source(tmp_path / "assets"),
            Source(tmp_path / "assets"),
            Source(tmp_path / "vendor", "vendor"),
            Source(tmp_path / "vendor", "vendor"),
        ],
    )
    spec = write_manifest_spec(case, "ours", {"kind": "filesystem"}, name="twice.yaml")
    dest = tmp_path / "django"
    django = start_django(dj61, case, dest, backend=PLAIN, args=["-v", "2"])
    result = staticbuild("-f", spec, "-v", "2", "apply", "--no-input")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("[SB-W002]") == 2
    mine = result.stdout.replace(str(tmp_path / "ours"), "DEST").splitlines()
    reference = theirs(django, dest)
    assert mine[-1] == reference[-1] == "2 static files copied to 'DEST'."
    assert not [line for line in mine if line.startswith(CONFLICT)]
