"""plan/apply behaviour through the CLI and the Python API, on real trees."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from staticbuild.api import Builder, Overrides, find, load_project
from staticbuild.errors import PlanError, SourceError
from tests.conftest import RunCli, make_spec, tree, write


def actions(run_cli: RunCli, spec: Path, *extra: str) -> list[dict[str, object]]:
    result = run_cli("-f", spec, "plan", "--json", *extra)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["version"] == 1
    return list(data["actions"])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "a/css/site.css", "a-site")
    write(tmp_path / "a/img/ünï code.png", b"\x89PNG a")
    write(tmp_path / "b/css/site.css", "b-site")
    write(tmp_path / "b/css/only-b.css", "only-b")
    write(tmp_path / "lib/lib.js", "lib")
    write(tmp_path / "app/static/css/site.css", "app-site")
    write(tmp_path / "app/static/app.js", "app")
    return make_spec(
        tmp_path, "sources: [a, b, {path: lib, prefix: vendor}]\napps: [{path: app}]\n"
    )


def test_demo_apply_then_plan_is_empty(run_cli: RunCli, demo: Path) -> None:
    first = run_cli("-f", demo, "apply", "--no-input")
    assert first.exit_code == 0
    dest = demo.parent / "build/static"
    conflicts = ", 2 skipped due to conflict"  # css/base.css in three roots
    assert first.stdout.strip() == f"10 static files copied to '{dest}'{conflicts}."
    assert actions(run_cli, demo) == []
    second = run_cli("-f", demo, "apply")
    assert second.stdout.strip() == f"0 static files copied to '{dest}', 10 unmodified{conflicts}."
    # precedence, prefix, ignores and non-ASCII names all show in the demo
    files = tree(dest)
    assert files["css/base.css"] == (demo.parent / "examples/assets/css/base.css").read_bytes()
    assert "vendor/lib.js" in files and "img/café.svg" in files
    assert not any(name.endswith((".scss", "~", ".DS_Store")) or "draft" in name for name in files)


def test_first_match_wins_and_prefixes(run_cli: RunCli, project: Path) -> None:
    assert run_cli("-f", project, "apply").exit_code == 0
    out = tree(project.parent / "out")
    assert out == {
        "app.js": b"app",
        "css/only-b.css": b"only-b",
        "css/site.css": b"a-site",
        "img/ünï code.png": b"\x89PNG a",
        "vendor/lib.js": b"lib",
    }


def test_touch_without_change_is_no_work(run_cli: RunCli, project: Path) -> None:
    run_cli("-f", project, "apply")
    source = project.parent / "a/css/site.css"
    os.utime(source, ns=(1, 1))
    assert actions(run_cli, project) == []
    source.write_text("a-site v2")
    [action] = actions(run_cli, project)
    assert action["op"] == "update" and action["path"] == "css/site.css"
    assert run_cli("-f", project, "apply").stdout.startswith("1 static file copied")
    assert (project.parent / "out/css/site.css").read_text() == "a-site v2"


def test_stale_outputs_are_deleted_but_foreign_files_kept(run_cli: RunCli, project: Path) -> None:
    run_cli("-f", project, "apply")
    out = project.parent / "out"
    write(out / "keep/mine.txt", "not staticbuild's")
    (project.parent / "b/css/only-b.css").unlink()
    [action] = actions(run_cli, project)
    assert action == {"op": "delete", "path": "css/only-b.css", "reason": "stale"}
    result = run_cli("-f", project, "apply")
    assert result.stdout.startswith("1 static file deleted, ")
    assert not (out / "css/only-b.css").exists()
    assert (out / "keep/mine.txt").read_text() == "not staticbuild's"
    # clear removes what staticbuild did not write
    assert [a["path"] for a in actions(run_cli, project, "--clear")] == ["keep/mine.txt"]
    run_cli("-f", project, "apply", "--clear", "--no-input")
    assert not (out / "keep").exists()


def test_moving_a_file_between_roots_changes_the_winner(run_cli: RunCli, project: Path) -> None:
    run_cli("-f", project, "apply")
    (project.parent / "a/css/site.css").unlink()
    [action] = actions(run_cli, project)
    assert action["op"] == "update" and action["root"] == 1
    run_cli("-f", project, "apply")
    assert (project.parent / "out/css/site.css").read_text() == "b-site"


def test_link_mode_and_switching_back(run_cli: RunCli, project: Path) -> None:
    result = run_cli("-f", project, "apply", "--link")
    assert result.stdout.startswith("5 static files symlinked")
    link = project.parent / "out/css/site.css"
    assert link.is_symlink() and os.readlink(link) == str(project.parent / "a/css/site.css")
    assert actions(run_cli, project, "--link") == []
    updates = actions(run_cli, project)
    assert {a["op"] for a in updates} == {"update"} and len(updates) == 5
    run_cli("-f", project, "apply")
    assert not link.is_symlink() and link.read_text() == "a-site"


def test_identical_foreign_files_are_adopted_and_changed_ones_replaced(
    run_cli: RunCli, project: Path
) -> None:
    out = project.parent / "out"
    write(out / "css/site.css", "a-site")  # what would be collected
    write(out / "app.js", "someone else's")
    plan = actions(run_cli, project)
    by_path = {a["path"]: a for a in plan}
    assert "css/site.css" not in by_path
    assert by_path["app.js"]["op"] == "update" and by_path["app.js"]["foreign"] is True
    run_cli("-f", project, "apply", "--no-input")
    assert actions(run_cli, project) == []


@pytest.mark.parametrize(("answer", "code"), [("n", 1), ("y", 0)])
def test_prompt_on_a_terminal(project: Path, answer: str, code: int) -> None:
    """With a real terminal on stdin, overwriting a foreign file asks first."""
    out = project.parent / "out"
    write(out / "app.js", "someone else's")
    controller, terminal = os.openpty()
    try:
        os.write(controller, f"{answer}\n".encode())
        proc = subprocess.run(
            [sys.executable, "-m", "staticbuild", "-f", str(project), "apply"],
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.close(controller)
        os.close(terminal)
    assert proc.returncode == code, proc.stderr
    assert "did not write" in proc.stderr
    if code:
        assert "cancelled" in proc.stderr
        assert tree(out) == {"app.js": b"someone else's"}
    else:
        assert (out / "app.js").read_text() == "app"


def test_lost_state_is_recovered_by_content(run_cli: RunCli, project: Path) -> None:
    run_cli("-f", project, "apply")
    for path in (project.parent / ".staticbuild").iterdir():
        path.unlink()
    assert actions(run_cli, project) == []
    assert run_cli("-f", project, "apply").stdout.startswith("0 static files copied")


def test_plan_in_a_clean_project_changes_nothing(run_cli: RunCli, project: Path) -> None:
    before = tree(project.parent)
    for args in (["plan"], ["plan", "--json"], ["apply", "-n"], ["which", "app.js"]):
        assert run_cli("-f", project, *args).exit_code == 0
    assert tree(project.parent) == before
    assert not (project.parent / ".staticbuild").exists()
    # The first apply makes the state folder, and keeps the validated spec there at once:
    # the next run (a CI job that restored .staticbuild/) does not validate it again.
    assert run_cli("-f", project, "apply").exit_code == 0
    assert (project.parent / ".staticbuild/project.json").exists()


def test_dry_run_is_plan(run_cli: RunCli, project: Path) -> None:
    result = run_cli("-f", project, "apply", "-n")
    assert result.exit_code == 0 and "Plan: 5 to copy" in result.stdout
    assert not (project.parent / "out").exists()


def test_verbosity_after_the_command(run_cli: RunCli, project: Path) -> None:
    """``apply -v 0`` as ``collectstatic -v 0``; given both before and after the command,
    the one after wins."""
    quiet = run_cli("-f", project, "apply", "-v", "0")
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout == "" and (project.parent / "out/app.js").exists()
    loud = run_cli("-f", project, "-v", "0", "apply", "--verbosity", "1")
    assert loud.stdout.startswith("0 static files copied to ")
    plan = run_cli("-f", project, "-v", "1", "plan", "-v", "2")
    assert plan.stdout.startswith("Found another file with the destination path 'css/site.css'.")
    write(project, "version: 3\n")
    assert "Traceback" in run_cli("-f", project, "apply", "-v", "3").stderr
    assert "Traceback" not in run_cli("-f", project, "-v", "3", "apply", "-v", "1").stderr


def test_saved_plan_applies_and_refuses_when_inputs_change(run_cli: RunCli, project: Path) -> None:
    saved = project.parent / "plan.json"
    assert run_cli("-f", project, "plan", "--out", saved).exit_code == 0
    assert run_cli("-f", project, "apply", saved).exit_code == 0
    assert actions(run_cli, project) == []
    # a source change
    assert run_cli("-f", project, "plan", "--out", saved).exit_code == 0
    write(project.parent / "a/css/site.css", "changed after planning")
    refused = run_cli("-f", project, "apply", saved)
    assert refused.exit_code == 1
    assert "'css/site.css'" in refused.stderr and "out of date" in refused.stderr
    assert (project.parent / "out/css/site.css").read_text() == "a-site"
    # a destination change
    run_cli("-f", project, "plan", "--out", saved)
    write(project.parent / "out/app.js", "edited output")
    assert "destination file 'app.js'" in run_cli("-f", project, "apply", saved).stderr
    # a spec change
    run_cli("-f", project, "plan", "--out", saved)
    project.write_text(project.read_text() + "debug: true\n")
    assert "the spec file" in run_cli("-f", project, "apply", saved).stderr


def test_a_saved_plan_is_applied_with_the_options_it_was_made_with(
    run_cli: RunCli, project: Path
) -> None:
    foreign = write(project.parent / "out/foreign.txt", "not ours")
    saved = project.parent / "plan.json"
    assert run_cli("-f", project, "plan", "-c", "-i", "*.js", "--out", saved).exit_code == 0
    changed = run_cli("-f", project, "apply", "--link", saved)
    assert changed.exit_code == 2 and "--link" in changed.stderr
    assert foreign.exists() and not (project.parent / "out/css").exists()
    applied = run_cli("-f", project, "apply", saved)
    assert applied.exit_code == 0, applied.stderr
    assert sorted(tree(project.parent / "out")) == [
        "css/only-b.css",
        "css/site.css",
        "img/ünï code.png",
    ]
    # repeating an option the plan was made with is fine
    assert run_cli("-f", project, "plan", "-i", "*.js", "--out", saved).exit_code == 0
    assert run_cli("-f", project, "apply", "-i", "*.js", saved).exit_code == 0
    # and so is one that says what the spec already says
    project.write_text(project.read_text() + "clear: true\n")
    assert run_cli("-f", project, "plan", "--out", saved).exit_code == 0
    same = run_cli("-f", project, "apply", "--clear", "--no-input", saved)
    assert same.exit_code == 0, same.stderr


def test_apply_out_saves_the_plan_it_carries_out(run_cli: RunCli, project: Path) -> None:
    saved = project.parent / "applied.json"
    assert run_cli("-f", project, "apply", "--out", saved).exit_code == 0
    plan = json.loads(saved.read_text())
    assert sorted(a["path"] for a in plan["actions"]) == sorted(tree(project.parent / "out"))
    assert plan["inputs"]["destination"]["app.js"] == "missing:"


def test_apply_json_prints_one_object_at_any_verbosity(run_cli: RunCli, project: Path) -> None:
    result = run_cli("-f", project, "-v", "2", "apply", "--json")
    assert result.exit_code == 0
    assert len(json.loads(result.stdout)["actions"]) == 5


def test_a_saved_plan_of_another_version_is_refused(run_cli: RunCli, project: Path) -> None:
    saved = project.parent / "plan.json"
    assert run_cli("-f", project, "plan", "--out", saved).exit_code == 0
    saved.write_text(saved.read_text().replace('"version": 1', '"version": 2', 1))
    refused = run_cli("-f", project, "apply", saved)
    assert refused.exit_code == 1
    assert refused.stderr.count("\n") == 1
    assert str(saved) in refused.stderr and "version 2" in refused.stderr
    assert not (project.parent / "out").exists()


def test_a_saved_plan_records_wanted_paths_that_are_missing(run_cli: RunCli, project: Path) -> None:
    """Absent paths are inputs too: the plan file says so, as plans of older versions did."""
    assert run_cli("-f", project, "apply").exit_code == 0
    (project.parent / "out/app.js").unlink()
    saved = project.parent / "plan.json"
    assert run_cli("-f", project, "plan", "--out", saved).exit_code == 0
    inputs = json.loads(saved.read_text())["inputs"]["destination"]
    assert inputs["app.js"] == "missing:"
    assert inputs["css/site.css"].startswith("file:")


@pytest.mark.parametrize("clear", [False, True])
def test_an_empty_folder_where_a_file_goes_gives_way(
    run_cli: RunCli, project: Path, clear: bool
) -> None:
    """Folders holding nothing but empty folders have nothing to lose (left behind when
    the user deleted what was in them, say): they never block an apply."""
    (project.parent / "out/app.js/deep/deeper").mkdir(parents=True)
    (project.parent / "out/app.js/other").mkdir()
    flags = ["--clear"] if clear else []
    assert {"op": "copy", "path": "app.js"}.items() <= next(
        a for a in actions(run_cli, project, *flags) if a["path"] == "app.js"
    ).items()
    result = run_cli("-f", project, "apply", "--no-input", *flags)
    assert result.exit_code == 0, result.stderr
    assert (project.parent / "out/app.js").read_text() == "app"
    assert actions(run_cli, project, *flags) == []


def test_a_folder_holding_a_symlink_where_a_file_goes_is_a_clear_error(
    run_cli: RunCli, project: Path
) -> None:
    (project.parent / "out/app.js").mkdir(parents=True)
    (project.parent / "out/app.js/link").symlink_to(project.parent)
    result = run_cli("-f", project, "apply")
    assert result.exit_code == 1 and "'app.js'" in result.stderr
    assert (project.parent / "out/app.js/link").is_symlink()


def test_file_where_a_folder_must_go_is_a_clear_error(run_cli: RunCli, project: Path) -> None:
    write(project.parent / "out/css", "a file")
    result = run_cli("-f", project, "apply")
    assert result.exit_code == 1 and "css/" in result.stderr
    assert tree(project.parent / "out") == {"css": b"a file"}


def test_stale_file_gives_way_to_a_folder(run_cli: RunCli, tmp_path: Path) -> None:
    write(tmp_path / "src/thing", "file")
    spec = make_spec(tmp_path, "sources: [src]\n")
    run_cli("-f", spec, "apply")
    (tmp_path / "src/thing").unlink()
    write(tmp_path / "src/thing/inside.css", "now a folder")
    assert run_cli("-f", spec, "apply").exit_code == 0
    assert tree(tmp_path / "out") == {"thing/inside.css": b"now a folder"}


def test_stale_folder_gives_way_to_a_file(run_cli: RunCli, tmp_path: Path) -> None:
    write(tmp_path / "src/thing/deep/inside.css", "a folder")
    write(tmp_path / "src/thing/other.css", "a folder")
    spec = make_spec(tmp_path, "sources: [src]\n")
    assert run_cli("-f", spec, "apply").exit_code == 0
    shutil.rmtree(tmp_path / "src/thing")
    write(tmp_path / "src/thing", "now a file")
    result = run_cli("-f", spec, "apply")
    assert result.exit_code == 0, result.stderr
    assert tree(tmp_path / "out") == {"thing": b"now a file"}
    assert actions(run_cli, spec) == []


def test_a_folder_holding_foreign_files_where_a_file_goes(run_cli: RunCli, project: Path) -> None:
    """Refused (nothing changed) unless --clear asks for an exact destination."""
    write(project.parent / "out/app.js/mine.txt", "the user's")
    result = run_cli("-f", project, "apply")
    assert result.exit_code == 1 and "'app.js'" in result.stderr
    assert tree(project.parent / "out") == {"app.js/mine.txt": b"the user's"}
    result = run_cli("-f", project, "apply", "--clear", "--no-input")
    assert result.exit_code == 0, result.stderr
    assert (project.parent / "out/app.js").read_text() == "app"
    assert actions(run_cli, project, "--clear") == []


def test_a_name_that_is_not_utf8_is_skipped_with_a_warning(run_cli: RunCli, tmp_path: Path) -> None:
    """Such a name cannot go in a plan, a manifest or a URL: skipped like an unsafe symlink."""
    write(tmp_path / "src/good.css", "good")
    os.makedirs(os.fsencode(tmp_path / "src") + b"/bad\xffdir")
    for name in (b"/bad\xff.css", b"/bad\xffdir/inside.css"):
        with open(os.fsencode(tmp_path / "src") + name, "w") as f:
            f.write("x")
    spec = make_spec(tmp_path, "sources: [src]\nstorage: {kind: manifest}\n")
    result = run_cli("-f", spec, "apply")
    assert result.exit_code == 0, result.output
    assert "bad\\xff.css': its name is not valid UTF-8" in result.stderr
    assert "bad\\xffdir': its name is not valid UTF-8" in result.stderr
    assert sorted(tree(tmp_path / "out")) == [
        "good.755f85c2723b.css",
        "good.css",
        "staticfiles.json",
    ]
    assert actions(run_cli, spec) == []


def test_a_spec_in_a_folder_whose_name_is_not_utf8_is_a_clear_error(
    run_cli: RunCli, tmp_path: Path
) -> None:
    folder = os.fsencode(tmp_path) + b"/proj\xff"
    os.makedirs(folder + b"/src")
    with open(folder + b"/staticbuild.yaml", "w") as f:
        f.write("version: 1\ndestination: out\nsources: [src]\n")
    result = run_cli("-f", os.fsdecode(folder + b"/staticbuild.yaml"), "plan")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: {tmp_path}/proj\\xff/staticbuild.yaml: the spec's path is not valid UTF-8; "
        "rename the folder that holds it"
    ]


def test_a_destination_folder_that_is_a_symlink_into_a_source(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """Files seen through it are elsewhere: refused without --clear; with it, the link goes
    and the folder is written for real, in one apply. The source is never touched."""
    write(tmp_path / "assets/a.txt", "a")
    write(tmp_path / "assets/sub/s.txt", "s")
    spec = make_spec(tmp_path, "sources: [assets]\n")
    (tmp_path / "out").mkdir()
    os.symlink("../assets/sub", tmp_path / "out/sub")
    result = run_cli("-f", spec, "apply", "--no-input")
    assert result.exit_code == 1 and "'sub/s.txt'" in result.stderr
    assert run_cli("-f", spec, "apply", "--no-input", "--clear").exit_code == 0
    assert not (tmp_path / "out/sub").is_symlink()
    assert tree(tmp_path / "out") == {"a.txt": b"a", "sub/s.txt": b"s"}
    assert tree(tmp_path / "assets") == {"a.txt": b"a", "sub/s.txt": b"s"}
    assert actions(run_cli, spec, "--clear") == []


def test_a_destination_name_that_is_not_utf8_is_refused_by_clear(
    run_cli: RunCli, project: Path
) -> None:
    assert run_cli("-f", project, "apply").exit_code == 0
    with open(os.fsencode(project.parent / "out/css") + b"/for\xffeign.css", "w") as f:
        f.write("x")
    before = sorted(os.listdir(os.fsencode(project.parent / "out/css")))
    result = run_cli("-f", project, "apply", "--clear", "--no-input")
    assert result.exit_code == 1
    assert result.stderr.strip().endswith(
        "for\\xffeign.css', whose name is not valid UTF-8; move it away or remove it"
    )
    assert sorted(os.listdir(os.fsencode(project.parent / "out/css"))) == before
    assert run_cli("-f", project, "apply", "--no-input").exit_code == 0  # not ours: left


def test_symlink_loop_is_a_clear_error(run_cli: RunCli, project: Path) -> None:
    os.symlink(project.parent / "a", project.parent / "a/css/loop")
    result = run_cli("-f", project, "plan")
    assert result.exit_code == 1 and "symlink loop" in result.stderr
    with pytest.raises(SourceError):
        Builder(load_project(project)).plan()


def test_symlink_out_of_a_root_is_not_collected(run_cli: RunCli, project: Path) -> None:
    secret = write(project.parent / "secret.txt", "secret")
    os.symlink(secret, project.parent / "a/leak.txt")
    result = run_cli("-f", project, "apply")
    assert "leads outside" in result.stderr
    assert not (project.parent / "out/leak.txt").exists()
    assert run_cli("-f", project, "which", "leak.txt").exit_code == 1


def test_unwritable_destination_fails_cleanly(run_cli: RunCli, project: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores permissions")
    out = project.parent / "out"
    out.mkdir()
    out.chmod(0o500)
    try:
        result = run_cli("-f", project, "apply")
    finally:
        out.chmod(0o700)
    assert result.exit_code == 1 and "ermission denied" in result.stderr


def test_python_api(project: Path) -> None:
    builder = Builder(load_project(project, Overrides(ignore=("*.js",))))
    plan = builder.plan()
    assert sorted(a.path for a in plan.actions) == [
        "css/only-b.css",
        "css/site.css",
        "img/ünï code.png",
    ]
    result = builder.apply(plan)
    assert result.copied == 3 and result.summary().startswith("3 static files copied")
    assert Builder(load_project(project, Overrides(ignore=("*.js",)))).plan().actions == ()
    found = find(load_project(project), "css/site.css")
    assert [Path(p).parent.parent.name for p in found.locations] == ["a", "b", "static"]
    with pytest.raises(PlanError):
        write(project.parent / "out/app.js/x", "x")
        Builder(load_project(project)).plan()


def test_the_command_exits_fast_with_its_output_and_status_intact(demo: Path) -> None:
    """``main`` ends the process without tearing the plan down object by object: the
    output must still be complete and the exit status the command's."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "staticbuild", "-f", str(demo), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )

    planned = run("plan", "--json")
    assert planned.returncode == 0
    assert len(json.loads(planned.stdout)["actions"]) > 5  # all of it, flushed
    applied = run("apply", "--no-input")
    assert applied.returncode == 0 and applied.stdout.strip().endswith(".")
    assert run("apply", "missing-plan.json").returncode == 1
    usage = run("apply", "--no-such-flag")
    assert usage.returncode == 2 and "no-such-flag" in usage.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["plan"], ["plan", "--json"], ["--version"], ["--help"]])
def test_output_that_cannot_be_written_is_one_clear_line(demo: Path, args: list[str]) -> None:
    command = [sys.executable, "-m", "staticbuild", "-f", str(demo), *args]
    with open("/dev/full", "w") as full:
        failed = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True)
    assert failed.returncode == 1
    assert failed.stderr == "Error: cannot write to standard output: No space left on device\n"


def test_a_closed_pipe_ends_the_command_quietly(demo: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line, as with '| head -0'
    try:
        command = [sys.executable, "-m", "staticbuild", "-f", str(demo), "plan"]
        closed = subprocess.run(command, stdout=write_end, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(write_end)
    assert closed.returncode == 1 and closed.stderr == ""


def test_no_stdout_at_all_is_no_traceback(demo: Path) -> None:
    command = [sys.executable, "-m", "staticbuild", "-f", str(demo), "plan"]
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    closed = subprocess.run(
        command, stderr=subprocess.PIPE, text=True, preexec_fn=lambda: os.close(1)
    )
    assert done.returncode == 0
    assert "Traceback" not in closed.stderr and closed.stderr == ""


def test_a_builder_that_applied_plans_the_changed_paths_in_full(tmp_path: Path) -> None:
    """A one-shot builder lets go of its per-file wants when it applies (they are most of
    a large apply's memory), so a later plan, even one given the changed paths, looks at
    everything again instead of building on what it no longer holds."""
    write(tmp_path / "a/css/site.css", "a-site")
    write(tmp_path / "a/app.js", "a-app")
    write(tmp_path / "b/app.js", "b-app")
    spec = make_spec(tmp_path, "sources: [a, b]\n")
    builder = Builder(load_project(spec))
    builder.apply(builder.plan())
    write(tmp_path / "a/css/site.css", "a-site, edited")
    (tmp_path / "a/app.js").unlink()  # not reported: b's app.js now wins
    plan = builder.plan(frozenset({tmp_path / "a/css/site.css"}))
    assert sorted((type(a).__name__, a.path) for a in plan.actions) == [
        ("Update", "app.js"),
        ("Update", "css/site.css"),
    ]
    assert plan.collected == 2
    builder.apply(plan)
    assert (tmp_path / "out/app.js").read_text() == "b-app"
    assert builder.plan().actions == ()


def test_an_apply_reports_what_it_changed_and_a_later_apply_leaves_that_report_alone(
    tmp_path: Path,
) -> None:
    """A first apply files its records straight into the state's own table; what it
    reports as changed is still its own, not a view of that table."""
    write(tmp_path / "a/one.css", "1")
    spec = make_spec(tmp_path, "sources: [a]\n")
    builder = Builder(load_project(spec))
    first = builder.apply(builder.plan())
    assert first.changed_paths == ("one.css",)
    write(tmp_path / "a/two.css", "2")
    second = builder.apply(builder.plan())
    assert second.changed_paths == ("two.css",)
    assert first.changed_paths == ("one.css",)


def test_an_emptied_destination_is_collected_again_and_the_record_holds_only_its_files(
    demo: Path,
) -> None:
    """A CI job with ``.staticbuild/`` cached and a fresh destination, after a source was
    removed: the old output records are dropped, not carried over."""
    import shutil

    from staticbuild.state import load_state

    Builder(load_project(demo)).apply()
    (demo.parent / "examples/assets/js/app.js").unlink()
    shutil.rmtree(demo.parent / "build")
    builder = Builder(load_project(demo))
    builder.apply()
    out = demo.parent / "build/static"
    assert "js/app.js" not in tree(out)
    state = load_state(demo.parent / ".staticbuild", str(out))
    assert state is not None and sorted(state.outputs) == sorted(tree(out))
    again = Builder(load_project(demo))
    assert again.plan().actions == ()
    assert again.work.proved_unchanged


@pytest.mark.parametrize("where", ["spec", "destination"])
def test_plan_out_refuses_the_spec_and_the_destination(
    run_cli: RunCli, project: Path, where: str
) -> None:
    """The spec would be overwritten; the destination is public, and a plan names sources."""
    assert run_cli("-f", project, "apply").exit_code == 0
    out = project if where == "spec" else project.parent / "out/plan.json"
    spec_before = project.read_bytes()
    result = run_cli("-f", project, "plan", "--out", out)
    assert result.exit_code == 2
    assert "'--out'" in result.stderr
    assert project.read_bytes() == spec_before
    assert not (project.parent / "out/plan.json").exists()


def test_one_file_up_to_date_is_said_in_the_singular(run_cli: RunCli, tmp_path: Path) -> None:
    write(tmp_path / "src/a.css", "a")
    spec = make_spec(tmp_path, "sources: [src]\n")
    assert run_cli("-f", spec, "apply").exit_code == 0
    assert run_cli("-f", spec, "plan").stdout == "No changes. 1 file is up to date.\n"


def test_a_plan_printed_with_json_is_not_a_saved_plan(run_cli: RunCli, project: Path) -> None:
    printed = project.parent / "printed.json"
    printed.write_text(run_cli("-f", project, "plan", "--json").stdout)
    result = run_cli("-f", project, "apply", printed)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: plan file {str(printed)!r} has no recorded inputs (a 'plan --json' print?); "
        "save plans with 'plan --out'"
    )
    assert not (project.parent / "out").exists()
