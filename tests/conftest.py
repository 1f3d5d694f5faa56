"""Shared fixtures: real trees in tmp_path and the CLI run in-process through click."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from staticbuild.cli import cli
from tests.django_reference import django61_python
from tests.manifest_apply_helpers import DjangoCollect

ROOT = Path(__file__).resolve().parent.parent

RunCli = Callable[..., Result]


@pytest.fixture
def run_cli() -> RunCli:
    """Run ``staticbuild ARGS`` in-process; the spec is always given with ``-f``."""

    def run(*args: str | Path, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)

    return run


@pytest.fixture(scope="session")
def dj61() -> Path:
    """Django 6.1.3's interpreter; builds .venv-django61 if needed (never skips)."""
    return django61_python()


@pytest.fixture
def start_django() -> Iterator[Callable[..., DjangoCollect]]:
    """Start Django runs (see :class:`DjangoCollect`); any left running is stopped after."""
    started: list[DjangoCollect] = []

    def start(*args: Any, **kwargs: Any) -> DjangoCollect:
        started.append(DjangoCollect(*args, **kwargs))
        return started[-1]

    yield start
    for run in started:
        run.close()


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """A copy of the demo spec and its example tree; returns the spec path."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    shutil.copy(ROOT / "staticbuild.yaml", tmp_path / "staticbuild.yaml")
    return tmp_path / "staticbuild.yaml"


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def tree(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (symlinks as ``-> target``), by posix relative path."""
    out: dict[str, bytes] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            out[rel] = b"-> " + str(path.readlink()).encode()
        elif path.is_file():
            out[rel] = path.read_bytes()
    return out


def make_spec(folder: Path, body: str) -> Path:
    return write(folder / "staticbuild.yaml", "version: 1\ndestination: out\n" + body)


#: A small site: a CSS file that refers to an image, the image, and a script.
SITE_CSS = "body { background: url('../img/dot.png'); }\n" + "/* padding */\n" * 40
SITE_JS = "console.log('hello');\n" * 40


def small_site(folder: Path, body: str) -> Path:
    """The small site under ``folder/assets`` and a spec collecting it, with ``body`` added."""
    write(folder / "assets/css/site.css", SITE_CSS)
    write(folder / "assets/img/dot.png", b"\x89PNG dot")
    write(folder / "assets/js/app.js", SITE_JS)
    return make_spec(folder, "sources: [assets]\n" + body)
