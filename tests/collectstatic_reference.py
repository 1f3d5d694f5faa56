"""Real Django 5.2 ``collectstatic`` / ``findstatic`` as a reference for staticbuild.

A :class:`Case` describes one collection the way the spec does (sources with prefixes, apps
as folders or installed packages, ignore patterns, default ignores, link). The same case is
turned into a ``staticbuild.yaml`` (:func:`write_spec`) and into a Django settings module
(:func:`django_collect`, :func:`django_find`), and Django runs in a subprocess with that
settings module on its ``sys.path``.

An app given as a folder becomes, for Django, a tiny generated package ``sbref_appN`` whose
``AppConfig.path`` is that folder: ``AppDirectoriesFinder`` searches ``<app_config.path>/static``,
exactly as it would for a package whose ``__init__.py`` sits next to ``static/``, and the
folder under test stays untouched (no ``__init__.py`` needs to be added to it).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner, Result

from staticbuild.cli import cli

#: Apps Django needs beside ``django.contrib.admin``; none of them has a static folder.
_ADMIN_DEPENDENCIES = ("django.contrib.auth", "django.contrib.contenttypes")


@dataclass(frozen=True)
class Source:
    path: Path
    prefix: str = ""


@dataclass(frozen=True)
class App:
    path: Path | None = None
    package: str | None = None


@dataclass
class Case:
    """One collection, described once, run by both tools."""

    base: Path  # the folder that holds the spec (and the generated Django files)
    sources: list[Source] = field(default_factory=list)
    apps: list[App] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)  # in the spec (Django: -i)
    default_ignore: bool = True  # in the spec (Django: --no-default-ignore when False)
    link: bool = False  # in the spec (Django: --link)
    url: str = "/static/"


@dataclass(frozen=True)
class Flags:
    """Command-line options given to both tools on top of the case."""

    ignore: tuple[str, ...] = ()
    no_default_ignore: bool = False
    link: bool = False

    def staticbuild_args(self) -> list[str]:
        args = [arg for p in self.ignore for arg in ("-i", p)]
        if self.no_default_ignore:
            args.append("--no-default-ignore")
        if self.link:
            args.append("--link")
        return args


def case_from_spec(spec: Path) -> Case:
    """A case read from an existing spec with a plain YAML parser (not staticbuild's)."""
    from ruamel.yaml import YAML

    data = YAML(typ="safe", pure=True).load(spec.read_text(encoding="utf-8"))
    base = spec.parent
    sources = []
    for entry in data.get("sources") or ():
        if isinstance(entry, str):
            sources.append(Source(base / entry))
        else:
            sources.append(Source(base / entry["path"], entry.get("prefix", "")))
    apps = [
        App(path=base / a["path"]) if "path" in a else App(package=a["package"])
        for a in data.get("apps") or ()
    ]
    return Case(
        base=base,
        sources=sources,
        apps=apps,
        ignore=list(data.get("ignore") or ()),
        default_ignore=data.get("default_ignore", True),
        link=data.get("link", False),
        url=data.get("url", "/static/"),
    )


# -- staticbuild ---------------------------------------------------------------------------


def write_spec(case: Case, destination: str, name: str = "staticbuild.yaml") -> Path:
    """The case as a spec (JSON is YAML); folders relative to the spec's folder."""

    def rel(path: Path) -> str:
        return os.path.relpath(path, case.base)

    body = {
        "version": 1,
        "destination": destination,
        "url": case.url,
        "sources": [
            {"path": rel(s.path), "prefix": s.prefix} if s.prefix else rel(s.path)
            for s in case.sources
        ],
        "apps": [
            {"path": rel(a.path)} if a.path is not None else {"package": a.package}
            for a in case.apps
        ],
        "ignore": case.ignore,
        "default_ignore": case.default_ignore,
        "link": case.link,
    }
    spec = case.base / name
    spec.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
    return spec


def staticbuild(*args: str | os.PathLike[str]) -> Result:
    """``staticbuild ARGS`` in-process."""
    return CliRunner().invoke(cli, [os.fspath(a) for a in args], catch_exceptions=False)


def staticbuild_apply(spec: Path, flags: Flags = Flags()) -> Result:
    result = staticbuild("-v", "0", "-f", spec, "apply", "--no-input", *flags.staticbuild_args())
    assert result.exit_code == 0, result.output
    return result


def staticbuild_which(spec: Path, path: str, *, first: bool = False) -> list[str]:
    """The locations ``staticbuild -v 0 which`` prints for one path ([] when not found)."""
    result = staticbuild("-v", "0", "-f", spec, "which", path, *(["--first"] if first else []))
    assert result.exit_code in (0, 1), result.output
    lines = [line for line in result.stdout.splitlines() if line]
    assert (result.exit_code == 1) == (not lines), result.output
    return lines


# -- Django --------------------------------------------------------------------------------

_DRIVER = textwrap.dedent(
    """\
    import io, json, os, sys
    os.environ["DJANGO_SETTINGS_MODULE"] = "sbref_settings"
    import django
    django.setup()
    from django.core.management import call_command
    command, *args = sys.argv[1:]
    if command == "collectstatic":
        call_command("collectstatic", *args)
    else:
        first = command == "findstatic-first"
        out = {}
        for path in json.loads(sys.stdin.read()):
            buffer = io.StringIO()
            extra = ["--first"] if first else []
            quiet = {"verbosity": 0, "stdout": buffer, "stderr": io.StringIO()}
            call_command("findstatic", path, *extra, **quiet)
            out[path] = [line for line in buffer.getvalue().splitlines() if line]
        sys.stdout.write(json.dumps(out))
    """
)


def _django_dir(case: Case, static_root: Path) -> Path:
    """Write the settings module, the app wrappers and the driver; return their folder."""
    folder = case.base / "_django"
    folder.mkdir(exist_ok=True)
    installed = ["django.contrib.staticfiles"]
    for i, app in enumerate(case.apps):
        if app.package is not None:
            installed.append(app.package)
            continue
        name = f"sbref_app{i}"
        pkg = folder / name
        pkg.mkdir(exist_ok=True)
        (pkg / "__init__.py").write_text("", encoding="utf-8")
        (pkg / "apps.py").write_text(
            "from django.apps import AppConfig\n\n\n"
            "class Config(AppConfig):\n"
            f"    name = {name!r}\n"
            f"    path = {str(app.path)!r}\n",
            encoding="utf-8",
        )
        installed.append(f"{name}.apps.Config")
    if "django.contrib.admin" in installed:
        installed += [a for a in _ADMIN_DEPENDENCIES if a not in installed]
    dirs = [(s.prefix, str(s.path)) if s.prefix else str(s.path) for s in case.sources]
    (folder / "sbref_settings.py").write_text(
        f"SECRET_KEY = 'staticbuild-reference'\n"
        f"INSTALLED_APPS = {installed!r}\n"
        f"STATICFILES_DIRS = {dirs!r}\n"
        f"STATIC_ROOT = {str(static_root)!r}\n"
        f"STATIC_URL = {case.url!r}\n"
        "STORAGES = {'staticfiles': {'BACKEND': "
        "'django.contrib.staticfiles.storage.StaticFilesStorage'}}\n"
        "USE_TZ = True\n",
        encoding="utf-8",
    )
    (folder / "sbref_driver.py").write_text(_DRIVER, encoding="utf-8")
    return folder


class DjangoRun:
    """A Django management command running in a subprocess; :meth:`wait` returns its stdout."""

    def __init__(self, folder: Path, args: Sequence[str], stdin: str = "") -> None:
        env = {**os.environ, "PYTHONPATH": str(folder), "PYTHONUTF8": "1"}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        self.args = list(args)
        self._stdin = stdin
        self._proc = subprocess.Popen(
            [sys.executable, str(folder / "sbref_driver.py"), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=env,
            cwd=folder,
        )

    def wait(self) -> str:
        try:
            out, err = self._proc.communicate(self._stdin, timeout=120)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.communicate()
            raise
        assert self._proc.returncode == 0, f"Django failed ({self.args}):\n{err}"
        return out


def start_collect(case: Case, static_root: Path, flags: Flags = Flags()) -> DjangoRun:
    """Start ``manage.py collectstatic --noinput`` with the case's patterns and options."""
    folder = _django_dir(case, static_root)
    args = ["collectstatic", "--noinput", "-v", "0"]
    for pattern in [*case.ignore, *flags.ignore]:
        args += ["-i", pattern]
    if not case.default_ignore or flags.no_default_ignore:
        args.append("--no-default-ignore")
    if case.link or flags.link:
        args.append("--link")
    return DjangoRun(folder, args)


def django_collect(case: Case, static_root: Path, flags: Flags = Flags()) -> None:
    """``manage.py collectstatic --noinput`` with the case's patterns and options."""
    start_collect(case, static_root, flags).wait()


def django_find(case: Case, paths: Sequence[str], *, first: bool = False) -> dict[str, list[str]]:
    """``manage.py findstatic -v 0 [--first] PATH`` for each path: the lines it prints."""
    folder = _django_dir(case, case.base / "_django_unused_root")
    command = "findstatic-first" if first else "findstatic"
    return json.loads(DjangoRun(folder, [command], json.dumps(list(paths))).wait())


# -- comparing -----------------------------------------------------------------------------


#: Files up to this size are kept whole in a snapshot; larger ones by their SHA-256.
INLINE_LIMIT = 64 * 1024


def snapshot(folder: Path) -> dict[str, tuple[str, bytes]]:
    """Every entry below ``folder`` that is not a folder: regular files by content (or by
    SHA-256 when large), symlinks by target, anything else by kind; keyed by posix relative
    path. Nothing is followed."""
    out: dict[str, tuple[str, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in [
            *filenames,
            *(d for d in dirnames if os.path.islink(os.path.join(dirpath, d))),
        ]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, folder).replace(os.sep, "/")
            if os.path.islink(full):
                out[rel] = ("link", os.readlink(full).encode("utf-8", "surrogateescape"))
            elif os.path.isfile(full):
                with open(full, "rb") as fh:
                    data = fh.read()
                if len(data) > INLINE_LIMIT:  # keep memory small: compare a digest instead
                    out[rel] = ("file-sha256", hashlib.sha256(data).hexdigest().encode())
                else:
                    out[rel] = ("file", data)
            else:
                out[rel] = ("other", b"")
    return out


def assert_same_tree(ours: Path, theirs: Path) -> dict[str, tuple[str, bytes]]:
    """Byte-identical trees (names, kinds, bytes, symlink targets); returns the snapshot."""
    a, b = snapshot(ours), snapshot(theirs)
    only_ours = sorted(a.keys() - b.keys())
    only_theirs = sorted(b.keys() - a.keys())
    assert not only_ours and not only_theirs, (
        f"only in staticbuild's destination: {only_ours}\nonly in Django's: {only_theirs}"
    )
    differ = sorted(k for k in a if a[k] != b[k])
    assert not differ, f"different content or kind: {differ}"
    return b
