"""Real Django (6.1 or 5.2) ``collectstatic`` with a hashing or compressing storage, on a whole
:class:`~tests.collectstatic_reference.Case` (sources with prefixes, apps, ignore patterns).

The settings module, the app wrappers and the driver are the ones
:mod:`tests.collectstatic_reference` writes; only the ``staticfiles`` storage is swapped for
``tests/django_driver.py``'s :class:`ReferenceStorage` (Django's ManifestStaticFilesStorage
with a lenient switch) or one of WhiteNoise's storages. Apps given as installed packages are
handed to Django as their folders, so Django 6.1 (its own venv, its own admin) collects the
very files staticbuild collects from the test venv's packages.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.collectstatic_reference import App, Case, _django_dir, write_spec

TESTS = Path(__file__).resolve().parent

REFERENCE = "django_driver.ReferenceStorage"  # ManifestStaticFilesStorage (+ lenient)
WHITENOISE_MANIFEST = "whitenoise.storage.CompressedManifestStaticFilesStorage"
WHITENOISE_PLAIN = "whitenoise.storage.CompressedStaticFilesStorage"


def package_folder(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, package
    return Path(next(iter(spec.submodule_search_locations)))


def _folders_only(case: Case, base: Path) -> Case:
    apps = [App(path=package_folder(a.package)) if a.package is not None else a for a in case.apps]
    return dataclasses.replace(case, base=base, apps=apps)


def write_manifest_spec(
    case: Case, destination: str, storage: dict[str, Any], *, name: str = "staticbuild.yaml"
) -> Path:
    """The case as a spec (see :func:`write_spec`) with a ``storage`` block."""
    spec = write_spec(case, destination, name)
    body = json.loads(spec.read_text(encoding="utf-8"))
    body["storage"] = storage
    spec.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
    return spec


class DjangoCollect:
    """``collectstatic --noinput`` under ``python`` with ``backend`` as the staticfiles storage,
    started at once in a subprocess (so it can run beside staticbuild); :meth:`wait` waits."""

    def __init__(
        self,
        python: Path,
        case: Case,
        root: Path,
        *,
        backend: str = REFERENCE,
        options: dict[str, Any] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        # one settings folder per run: two runs of one case may go on at the same time
        base = root.parent / f"{root.name}.django"
        base.mkdir(parents=True, exist_ok=True)
        folder = _django_dir(_folders_only(case, base), root)
        storages = {
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            "staticfiles": {"BACKEND": backend, "OPTIONS": options or {}},
        }
        with open(folder / "sbref_settings.py", "a", encoding="utf-8") as fh:
            fh.write(f"STORAGES = {storages!r}\nDEBUG = False\n")
        command = ["collectstatic", "--noinput", "-v", "0", *args]
        for pattern in case.ignore:
            command += ["-i", pattern]
        if not case.default_ignore:
            command.append("--no-default-ignore")
        env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
        env.update(PYTHONPATH=os.pathsep.join([str(folder), str(TESTS)]), PYTHONUTF8="1")
        self.stdout = ""  # what collectstatic printed, once it has finished
        self._proc = subprocess.Popen(
            [str(python), str(folder / "sbref_driver.py"), *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            env=env,
            cwd=folder,
        )

    def wait(self) -> tuple[int, str]:
        """Exit status and stderr."""
        try:
            self.stdout, err = self._proc.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.communicate()
            raise
        return self._proc.returncode, err

    def close(self) -> None:
        """Stop the run if it is still going and release its pipes (test teardown)."""
        if self._proc.returncode is None:
            self._proc.kill()
            self._proc.communicate()

    def ok(self) -> None:
        code, err = self.wait()
        assert code == 0, f"Django's collectstatic failed:\n{err}"


_URLS = """\
import json, sys
from django.conf import settings
settings.configure(
    DEBUG=False, SECRET_KEY="x", USE_TZ=True,
    INSTALLED_APPS=["django.contrib.staticfiles"],
    STATIC_URL=sys.argv[2], STATIC_ROOT=sys.argv[1],
    STORAGES={"staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"}},
)
import django
django.setup()
from django.contrib.staticfiles.storage import staticfiles_storage
from django.templatetags.static import static
names = json.loads(sys.argv[3])
print(json.dumps({n: [staticfiles_storage.url(n), static(n)] for n in names}))
"""


def django_urls(
    python: Path, root: Path, names: Sequence[str], url: str = "/static/"
) -> dict[str, list[str]]:
    """What a Django site with STATIC_ROOT = ``root`` (ManifestStaticFilesStorage, DEBUG off)
    answers for each name: ``[staticfiles_storage.url(name), {% static name %}]``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    proc = subprocess.run(
        [str(python), "-c", _URLS, str(root), url, json.dumps(list(names))],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    answers: dict[str, list[str]] = json.loads(proc.stdout)
    return answers
