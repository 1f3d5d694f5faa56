"""``package:`` apps: found as ``python manage.py`` beside the spec would import them,
without running any of their code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.machinery import ModuleSpec
from pathlib import Path

import pytest

from staticbuild.api import find, load_project
from tests.conftest import ROOT, RunCli, make_spec, write

#: (name, found): a top package, a package under it, one two levels down, and names
#: under each that do not exist (``importlib.util.find_spec`` imports their parents)
NAMES = [
    ("noisy", True),
    ("noisy.app", True),
    ("noisy.app.sub", True),
    ("noisy.nope", False),
    ("noisy.app.nope", False),
    ("noisy.app.sub.nope", False),
]


@pytest.mark.parametrize("effect", ["raise RuntimeError('boom')", "import sys; sys.exit(7)"])
@pytest.mark.parametrize(("name", "found"), NAMES)
def test_packages_are_located_without_running_their_code(
    tmp_path: Path, name: str, found: bool, effect: str
) -> None:
    """Every ``__init__.py`` on the way records that it ran, then raises or exits: a name
    found or not, on the interpreter's path (PYTHONPATH) and not in the spec's folder."""
    marker = tmp_path / "ran"
    for package in ("noisy", "noisy/app", "noisy/app/sub"):
        code = f"open({str(marker)!r}, 'a').write({package!r} + '\\n')\n{effect}\n"
        write(tmp_path / "site" / package / "__init__.py", code)
        write(tmp_path / "site" / package / "static" / package / "x.css", package)
    spec = make_spec(tmp_path / "proj", f"apps: [{{package: {name}}}]\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)])}
    result = subprocess.run(
        [sys.executable, "-m", "staticbuild", "-f", str(spec), "plan"],
        env=env,
        cwd=tmp_path / "proj",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert not marker.exists(), marker.read_text()
    if found:
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    else:
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1, result.stderr
        assert f"package {name!r} is not installed" in result.stderr
        assert "[SB-E013]" in result.stderr


def test_packages_under_a_namespace_package(tmp_path: Path) -> None:
    """``ns.app`` and ``ns.plain`` where ``ns`` (no ``__init__.py``) spans two folders on
    the path, ``ns.plain`` a namespace package too: each is found in the folder that holds
    it, without importing anything."""
    marker = tmp_path / "ran"
    write(tmp_path / "one/ns/plain/static/plain/p.css", "p")
    write(tmp_path / "two/ns/app/__init__.py", f"open({str(marker)!r}, 'w').close()\n")
    write(tmp_path / "two/ns/app/static/app/a.css", "a")
    spec = make_spec(tmp_path / "proj", "apps: [{package: ns.app}, {package: ns.plain}]\n")
    path = os.pathsep.join([str(tmp_path / "one"), str(tmp_path / "two"), str(ROOT)])
    for name, found in (("app/a.css", "two/ns/app"), ("plain/p.css", "one/ns/plain")):
        argv = [sys.executable, "-m", "staticbuild", "-f", str(spec), "-v", "0", "which", name]
        result = subprocess.run(
            argv,
            env={**os.environ, "PYTHONPATH": path},
            cwd=tmp_path / "proj",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (result.returncode, result.stderr) == (0, "")
        assert result.stdout == f"{tmp_path / found / 'static' / name}\n"
    assert not marker.exists()


class _EditableFinder:
    """A meta path finder as setuptools' editable installs append one: it maps a top
    package to its folder, and finds the names under it in the folders it is given."""

    def __init__(self, top: str, folder: Path) -> None:
        self.top, self.folder = top, folder

    def find_spec(
        self, name: str, path: list[str] | None = None, target: object = None
    ) -> ModuleSpec | None:
        from importlib.machinery import PathFinder

        if name == self.top:
            return PathFinder.find_spec(name, [str(self.folder.parent)])
        return None


def test_a_package_found_by_an_editable_install_s_finder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A package off the path that a finder after the path finder knows (an editable
    install), and a package under it, are found; neither's code runs."""
    marker = tmp_path / "ran"
    run = f"open({str(marker)!r}, 'w').close()\n"
    write(tmp_path / "src/edapp/__init__.py", run)
    write(tmp_path / "src/edapp/static/edapp/e.css", "e")
    write(tmp_path / "src/edapp/inner/__init__.py", run)
    write(tmp_path / "src/edapp/inner/static/inner/i.css", "i")
    monkeypatch.setattr(
        sys, "meta_path", [*sys.meta_path, _EditableFinder("edapp", tmp_path / "src/edapp")]
    )
    spec = make_spec(tmp_path / "proj", "apps: [{package: edapp}, {package: edapp.inner}]\n")
    project = load_project(spec)
    assert find(project, "edapp/e.css").locations == (
        str(tmp_path / "src/edapp/static/edapp/e.css"),
    )
    assert find(project, "inner/i.css").locations == (
        str(tmp_path / "src/edapp/inner/static/inner/i.css"),
    )
    assert not marker.exists()
    assert "edapp" not in sys.modules


def test_the_cached_spec_follows_what_decides_a_package(tmp_path: Path) -> None:
    """A package with ``__init__.py`` anywhere on the path wins over a folder without one
    found earlier (PEP 420), so whether ``./blog`` beside the spec has one decides what
    ``package: blog`` is (as ``python -c 'import blog'`` there would); likewise for
    ``./news/sub`` under a namespace ``news``. The cached spec follows each change in the
    spec's folder, and is reused while nothing changes."""
    proj, ext = tmp_path / "proj", tmp_path / "ext"
    for where in ("blog", "blog/sub", "news/sub"):
        write(ext / where / "__init__.py", "")
    for where, name in (("blog", "who"), ("blog/sub", "sub"), ("news/sub", "news")):
        write(ext / where / f"static/{name}.txt", "EXT")
        write(proj / where / f"static/{name}.txt", "LOCAL")
    make_spec(proj, "apps: [{package: blog}, {package: blog.sub}, {package: news.sub}]\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ext), str(ROOT)])}
    cache = proj / ".staticbuild/project.json"

    def collected() -> tuple[str, ...]:
        argv = [sys.executable, "-m", "staticbuild", "apply", "--no-input", "-v", "0"]
        subprocess.run(argv, env=env, cwd=proj, check=True, timeout=60)
        return tuple((proj / "out" / f"{n}.txt").read_text() for n in ("who", "sub", "news"))

    assert collected() == ("EXT", "EXT", "EXT")
    kept = cache.stat().st_mtime_ns
    assert collected() == ("EXT", "EXT", "EXT")
    assert cache.stat().st_mtime_ns == kept  # nothing changed: the cached spec is used
    (proj / "blog/__init__.py").touch()
    assert collected() == ("LOCAL", "LOCAL", "EXT")
    (proj / "news/sub/__init__.py").touch()  # ./news comes first on news's path
    assert collected() == ("LOCAL", "LOCAL", "LOCAL")
    (proj / "blog/__init__.py").unlink()
    (proj / "news/sub/__init__.py").unlink()
    assert collected() == ("EXT", "EXT", "EXT")
    shutil.rmtree(proj / "blog")
    write(proj / "blog/static/who.txt", "LOCAL")
    write(proj / "blog/__init__.py", "")
    write(proj / "blog/sub/static/sub.txt", "LOCAL")
    assert collected() == ("LOCAL", "LOCAL", "EXT")
    shutil.rmtree(proj / "blog")
    write(proj / "blog/static/who.txt", "LOCAL")
    assert collected() == ("EXT", "EXT", "EXT")


def test_a_namespace_package_in_several_folders_is_refused(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Django refuses an app module with several file-system locations; taking the first
    would silently drop the other's static files."""
    write(tmp_path / "proj/nsx/static/near.css", "n")
    write(tmp_path / "ext/nsx/static/far.css", "f")
    monkeypatch.syspath_prepend(str(tmp_path / "ext"))
    spec = make_spec(tmp_path / "proj", "apps: [{package: nsx}]\n")
    result = run_cli("-f", spec, "plan")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "[SB-E031]" in lines[0], result.stderr
    assert str(tmp_path / "ext/nsx") in lines[0] and str(tmp_path / "proj/nsx") in lines[0]
    assert not (tmp_path / "proj/out").exists()


def test_a_namespace_package_in_one_folder_reached_twice_is_one_folder(
    run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spec's folder is searched first and may also be on sys.path (python -m, a .pth
    file), directly or through a symlink: still one folder, collected as usual."""
    write(tmp_path / "proj/ns1/static/n.css", "n")
    (tmp_path / "link").symlink_to(tmp_path / "proj")
    monkeypatch.syspath_prepend(str(tmp_path / "proj"))
    monkeypatch.syspath_prepend(str(tmp_path / "link"))
    spec = make_spec(tmp_path / "proj", "apps: [{package: ns1}]\n")
    result = run_cli("-f", spec, "apply")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "proj/out/n.css").read_text() == "n"
