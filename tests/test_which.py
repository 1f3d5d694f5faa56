"""``staticbuild which``: Django's findstatic output, limited to what apply collects."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from staticbuild.api import find, load_project
from tests.conftest import RunCli, make_spec, write


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    write(tmp_path / "a/css/x.css", "a")
    write(tmp_path / "a/css/x.scss", "ignored")
    write(tmp_path / "b/css/x.css", "b")
    write(tmp_path / "v/lib.js", "v")
    write(tmp_path / "secret.txt", "outside")
    return make_spec(tmp_path, "sources: [a, b, {path: v, prefix: vendor}]\nignore: ['*.scss']\n")


def test_all_locations_and_first(run_cli: RunCli, spec: Path) -> None:
    base = spec.parent
    result = run_cli("-f", spec, "which", "css/x.css")
    assert result.exit_code == 0
    assert result.stdout == f"Found 'css/x.css' here:\n  {base}/a/css/x.css\n  {base}/b/css/x.css\n"
    first = run_cli("-f", spec, "which", "css/x.css", "--first")
    assert first.stdout == f"Found 'css/x.css' here:\n  {base}/a/css/x.css\n"
    quiet = run_cli("-f", spec, "-v", "0", "which", "css/x.css", "vendor/lib.js")
    assert quiet.stdout.splitlines() == [
        f"{base}/a/css/x.css",
        f"{base}/b/css/x.css",
        f"{base}/v/lib.js",
    ]
    verbose = run_cli("-f", spec, "-v", "2", "which", "vendor/lib.js")
    assert "Looking in the following locations:" in verbose.stdout
    assert f"  {base}/v\n" in verbose.stdout


@pytest.mark.parametrize(
    ("before", "after"), [([], ["-v", "0"]), (["-v", "2"], ["-v", "0"]), (["-v", "0"], [])]
)
def test_verbosity_0_after_the_command(
    run_cli: RunCli, spec: Path, before: list[str], after: list[str]
) -> None:
    """``which PATH -v 0`` as ``findstatic PATH -v 0``: the one given after the command wins."""
    base = spec.parent
    result = run_cli("-f", spec, *before, "which", "css/x.css", *after)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{base}/a/css/x.css\n{base}/b/css/x.css\n"


def test_verbosity_2_after_the_command(run_cli: RunCli, spec: Path) -> None:
    base = spec.parent
    found = run_cli("-f", spec, "-v", "0", "which", "-v", "2", "vendor/lib.js")
    assert found.stdout == (
        f"Found 'vendor/lib.js' here:\n  {base}/v/lib.js\n"
        f"Looking in the following locations:\n  {base}/a\n  {base}/b\n  {base}/v\n"
    )
    missing = run_cli("-f", spec, "which", "nope.css", "--verbosity", "2")
    assert missing.exit_code == 1
    assert missing.stderr.startswith("No matching file found for 'nope.css'.\nLooking in")


@pytest.mark.parametrize(
    ("path", "found"),
    [
        ("./css/x.css", "a/css/x.css"),
        ("css//x.css", "a/css/x.css"),
        ("css/./x.css", "a/css/x.css"),
        ("./vendor//lib.js", "v/lib.js"),
        ("css/../css/x.css", "a/css/x.css"),
        ("css/x.css/", "a/css/x.css"),
        ("vendor/../vendor/lib.js", "v/lib.js"),
        ("vendor/../css/x.css", "a/css/x.css"),  # destination css/x.css, from a/
    ],
)
def test_dot_segments_and_doubled_slashes_are_normalised(
    run_cli: RunCli, spec: Path, path: str, found: str
) -> None:
    result = run_cli("-f", spec, "-v", "0", "which", "--first", path)
    assert result.exit_code == 0
    assert result.stdout == f"{spec.parent / found}\n"


@pytest.mark.parametrize(
    "path",
    [
        "css/x.scss",
        "//etc/passwd",
        "./../secret.txt",
        "css//../../secret.txt",
        "lib.js",
        "../secret.txt",
        "/etc/passwd",
        "css/../../secret.txt",
        "vendor/../secret.txt",  # secret.txt is beside the vendor root v/, outside
        "vendor/../../secret.txt",
        "css/../../a/css/x.css",  # leaves, then comes back: refused, as safe_join does
        "css/..",
        ".",
        "nope.css",
    ],
)
def test_not_found(run_cli: RunCli, spec: Path, path: str) -> None:
    result = run_cli("-f", spec, "which", "css/x.css", path)
    assert result.exit_code == 1
    assert f"No matching file found for '{path}'." in result.stderr
    assert "Found 'css/x.css'" in result.stdout


def test_a_prefixed_path_is_normalised_before_its_prefix_is_matched(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """``vendor/../robots.txt`` is the destination path ``robots.txt``: found where apply
    collects it from, never as the file beside the vendor root that joining it to that
    root would reach."""
    write(tmp_path / "robots.txt", "outside every root")
    write(tmp_path / "v/lib.js", "v")
    write(tmp_path / "a/robots.txt", "collected")
    spec = make_spec(tmp_path, "sources: [{path: v, prefix: vendor}, a]\n")
    result = run_cli("-f", spec, "-v", "0", "which", "vendor/../robots.txt")
    assert result.exit_code == 0
    assert result.stdout == f"{tmp_path / 'a/robots.txt'}\n"
    (tmp_path / "a/robots.txt").unlink()
    result = run_cli("-f", spec, "which", "vendor/../robots.txt")
    assert result.exit_code == 1
    assert result.stdout == ""


def test_packages_are_located_without_running_their_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "imported"
    write(tmp_path / "site/noisy_app/__init__.py", f"open({str(marker)!r}, 'w').close()\n")
    write(tmp_path / "site/noisy_app/static/noisy.css", "n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec = make_spec(tmp_path, "apps: [{package: noisy_app}]\n")
    project = load_project(spec)
    assert find(project, "noisy.css").locations == (
        str(tmp_path / "site/noisy_app/static/noisy.css"),
    )
    assert not marker.exists()
    assert "noisy_app" not in sys.modules


def test_the_project_s_own_apps_are_found_beside_the_spec(run_cli: RunCli, tmp_path: Path) -> None:
    """``package: blog`` for ``./blog/`` (and ``blog.sub`` inside it, and a folder without
    ``__init__.py``), as ``python manage.py`` beside the spec imports them; no code runs."""
    marker = tmp_path / "imported"
    run = f"open({str(marker)!r}, 'w').close()\n"
    write(tmp_path / "blog/__init__.py", run)
    write(tmp_path / "blog/static/blog/post.css", "post")
    write(tmp_path / "blog/sub/__init__.py", run)
    write(tmp_path / "blog/sub/static/sub/s.css", "s")
    write(tmp_path / "plain/static/plain/p.css", "p")
    spec = make_spec(tmp_path, "apps: [{package: blog}, {package: blog.sub}, {package: plain}]\n")
    result = run_cli("-f", spec, "apply")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out/blog/post.css").read_text() == "post"
    assert (tmp_path / "out/sub/s.css").read_text() == "s"
    assert (tmp_path / "out/plain/p.css").read_text() == "p"
    found = run_cli("-f", spec, "-v", "0", "which", "blog/post.css")
    assert found.stdout == f"{tmp_path}/blog/static/blog/post.css\n"
    assert not marker.exists()


def test_the_spec_s_folder_comes_before_installed_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in ``python manage.py``, whose folder is sys.path[0]: the project's package wins."""
    import importlib

    write(tmp_path / "site/shadowed_app/__init__.py", "")
    write(tmp_path / "site/shadowed_app/static/x.css", "installed")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec = make_spec(tmp_path / "proj", "apps: [{package: shadowed_app}]\n")
    (tmp_path / "proj/.staticbuild").mkdir()  # the validated spec is cached there
    installed = str(tmp_path / "site/shadowed_app/static/x.css")
    assert find(load_project(spec), "x.css").locations == (installed,)
    assert find(load_project(spec), "x.css").locations == (installed,)  # from the cache
    write(tmp_path / "proj/shadowed_app/__init__.py", "")
    write(tmp_path / "proj/shadowed_app/static/x.css", "the project's")
    importlib.invalidate_caches()  # this process listed proj/ before (a new one would not)
    assert find(load_project(spec), "x.css").locations == (
        str(tmp_path / "proj/shadowed_app/static/x.css"),
    )


def test_a_folder_listed_twice_is_one_location(run_cli: RunCli, tmp_path: Path) -> None:
    """A source, or an app's static folder, listed again (the same folder and prefix) is
    searched once, as findstatic lists a repeated STATICFILES_DIRS entry once."""
    write(tmp_path / "assets/css/a.css", "a")
    write(tmp_path / "vendor/v.js", "v")
    write(tmp_path / "blog/__init__.py", "")
    write(tmp_path / "blog/static/blog/b.css", "b")
    spec = make_spec(
        tmp_path,
        "sources: [assets, ./assets, {path: vendor, prefix: vendor}, "
        "{path: vendor/, prefix: vendor}]\n"
        "apps: [{path: blog}, {package: blog}, {path: ./blog}]\n",
    )
    for path, found in (
        ("css/a.css", "assets/css/a.css"),
        ("vendor/v.js", "vendor/v.js"),
        ("blog/b.css", "blog/static/blog/b.css"),
    ):
        result = run_cli("-f", spec, "-v", "0", "which", path)
        assert result.exit_code == 0, result.output
        assert result.stdout == f"{tmp_path / found}\n"
    assert find(load_project(spec), "css/a.css").locations == (str(tmp_path / "assets/css/a.css"),)
