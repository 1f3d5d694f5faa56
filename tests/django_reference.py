"""Real Django as the reference: find or build the interpreters and run ``collectstatic``.

Django 6.1 needs Python 3.12, so it lives in its own venv (``.venv-django61``, also made by
``make``); Django 5.2 is the test venv's own. Both run ``tests/django_driver.py`` in a
subprocess, so either can be compared with staticbuild on the same tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DRIVER = Path(__file__).resolve().parent / "django_driver.py"
DJANGO61 = "6.1.3"
VENV61 = ROOT / ".venv-django61"


def find_python312() -> str | None:
    """A Python 3.12 interpreter: pyenv's 3.12.1 first, then whatever ``python3.12`` is."""
    env = {**os.environ, "PYENV_VERSION": "3.12.1"}
    candidates = []
    if shutil.which("pyenv"):
        found = subprocess.run(
            ["pyenv", "which", "python3.12"], env=env, capture_output=True, text=True
        )
        if found.returncode == 0 and found.stdout.strip():
            candidates.append(found.stdout.strip())
    if shutil.which("python3.12"):
        candidates.append("python3.12")
    for candidate in candidates:
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2] >= (3, 12))"],
            env=env,
            capture_output=True,
            text=True,
        )
        if probe.stdout.strip() == "True":
            return candidate
    return None


def _has_django(python: Path, version: str) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run(
        [str(python), "-c", "import django; print(django.__version__)"],
        capture_output=True,
        text=True,
    )
    return probe.stdout.strip() == version


def django61_python() -> Path:
    """The venv interpreter with Django 6.1.3, creating the venv if it is missing."""
    python = VENV61 / "bin" / "python"
    if _has_django(python, DJANGO61):
        return python
    base = find_python312()
    if base is None:
        raise RuntimeError("Django 6.1 needs Python 3.12; none found (pyenv 3.12.1?)")
    env = {**os.environ, "PYENV_VERSION": "3.12.1"}
    if not python.exists():
        subprocess.run([base, "-m", "venv", str(VENV61)], env=env, check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"django=={DJANGO61}"], env=env, check=True
    )
    return python


def django52_python() -> Path:
    return Path(sys.executable)


@dataclass(frozen=True)
class DjangoRun:
    ok: bool
    error: str
    files: dict[str, bytes]  # STATIC_ROOT after collectstatic, by posix relative path


def read_tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def collectstatic(
    python: Path,
    tree: Path,
    *,
    url: str = "/static/",
    js_module_imports: bool = False,
    lenient: bool = False,
    max_passes: int = 5,
) -> DjangoRun:
    """Run Django's collectstatic on ``tree`` with ManifestStaticFilesStorage."""
    with tempfile.TemporaryDirectory(prefix="sb-django-") as work:
        root = Path(work) / "root"
        config = Path(work) / "config.json"
        config.write_text(
            json.dumps(
                {
                    "tree": str(tree),
                    "root": str(root),
                    "url": url,
                    "js_module_imports": js_module_imports,
                    "lenient": lenient,
                    "max_passes": max_passes,
                }
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
        proc = subprocess.run(
            [str(python), str(DRIVER), str(config)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        if proc.returncode != 0 or not proc.stdout.strip():
            raise RuntimeError(f"django driver crashed:\n{proc.stderr}")
        outcome = json.loads(proc.stdout.strip().splitlines()[-1])
        files = read_tree(root) if root.exists() else {}
    return DjangoRun(outcome["ok"], outcome.get("error", ""), files)
