"""Benchmark corpora: real packages' static folders, and seeded synthetic trees.

A corpus is a list of source folders searched in order (Django's ``STATICFILES_DIRS``,
staticbuild's ``sources``), kept under ``benchmarks/.work/corpora``. Benchmarks change
files in place to time incremental runs; :class:`Corpus.restore` undoes that, and a
corpus left dirty by an interrupted run is rebuilt on next use.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
VENV = WORK / "venv"
SB_VENV = WORK / "staticbuild-venv"
REQUIREMENTS = HERE / "requirements.txt"

#: Real corpus: (label, path of the static folder inside site-packages), search order.
REAL_SOURCES: tuple[tuple[str, str], ...] = (
    ("django-admin", "django/contrib/admin/static"),
    ("rest_framework", "rest_framework/static"),
    ("fontawesomefree", "fontawesomefree/static"),
    ("wagtail-admin", "wagtail/admin/static"),
    ("wagtail-images", "wagtail/images/static"),
    ("wagtail-documents", "wagtail/documents/static"),
    ("wagtail-snippets", "wagtail/snippets/static"),
    ("wagtail-embeds", "wagtail/embeds/static"),
    ("wagtail-table_block", "wagtail/contrib/table_block/static"),
    ("wagtail-typed_table_block", "wagtail/contrib/typed_table_block/static"),
    ("wagtail-search_promotions", "wagtail/contrib/search_promotions/static"),
    ("wagtail-styleguide", "wagtail/contrib/styleguide/static"),
)

SYNTHETIC_SIZES = {"syn-1k": 1_000, "syn-10k": 10_000, "syn-100k": 100_000}
SEED = 20240611
_GENERATOR_VERSION = 2  # bump when the generator changes, so cached corpora are rebuilt
_TEXT_EXTENSIONS = (".css", ".js", ".svg")


@dataclass
class Corpus:
    """Source folders of one corpus, plus the bookkeeping to undo in-place changes."""

    name: str
    root: Path
    sources: list[Path]
    files: int = 0
    size: int = 0  # bytes
    _originals: dict[Path, tuple[bytes, int]] = field(default_factory=dict)

    @property
    def dirty_marker(self) -> Path:
        return self.root / ".dirty"

    def text_files(self) -> list[Path]:
        """Files that a change can touch (CSS, JS, SVG), in a stable order."""
        found = [
            Path(dirpath) / name
            for source in self.sources
            for dirpath, _, names in os.walk(source)
            for name in names
            if name.endswith(_TEXT_EXTENSIONS)
        ]
        return sorted(found)

    def touch(self, paths: list[Path], tag: str) -> None:
        """Append a comment to each file, so its content (and hashed name) changes."""
        self.dirty_marker.touch()
        for path in paths:
            data = path.read_bytes()
            if path not in self._originals:
                self._originals[path] = (data, path.stat().st_mtime_ns)
            comment = f"<!-- {tag} -->" if path.suffix == ".svg" else f"/* {tag} */"
            path.write_bytes(data + f"\n{comment}\n".encode())

    def restore(self) -> None:
        """Put every touched file back, content and modification time."""
        for path, (data, mtime_ns) in self._originals.items():
            path.write_bytes(data)
            os.utime(path, ns=(mtime_ns, mtime_ns))
        self._originals.clear()
        self.dirty_marker.unlink(missing_ok=True)


def ensure_venv(log: bool = True) -> Path:
    """The benchmark virtualenv (Python 3.11, pinned peers); created on first use."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".requirements"
    wanted = REQUIREMENTS.read_text()
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    if log:
        print(f"setting up {VENV} ...", file=sys.stderr)
    base = shutil.which("python3.11") or sys.executable
    if not python.exists():
        subprocess.run([base, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS)], check=True)
    stamp.write_text(wanted)
    return python


def install_staticbuild(main: Path, log: bool = True) -> Path:
    """This checkout, installed as a user would (a regular, not editable, install with its
    bytecode compiled) into a venv of its own; reinstalled on every run."""
    python = SB_VENV / "bin" / "python"
    if log:
        print(f"installing {main} into {SB_VENV} ...", file=sys.stderr)
    if not python.exists():
        base = shutil.which("python3.11") or sys.executable
        subprocess.run([base, "-m", "venv", str(SB_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", str(main)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(main)],
        check=True,
    )
    return SB_VENV / "bin" / "staticbuild"


def _count(corpus: Corpus) -> Corpus:
    for source in corpus.sources:
        for dirpath, _, names in os.walk(source):
            corpus.files += len(names)
            corpus.size += sum(os.path.getsize(os.path.join(dirpath, n)) for n in names)
    return corpus


def real_corpus(python: Path) -> Corpus:
    """Copies of the static folders of Django admin, DRF, Font Awesome and Wagtail."""
    root = WORK / "corpora" / "real"
    stamp = root / ".stamp"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    key = json.dumps({"site": site, "requirements": REQUIREMENTS.read_text()})
    sources = [root / label for label, _ in REAL_SOURCES]
    if not (stamp.exists() and stamp.read_text() == key and not (root / ".dirty").exists()):
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        for label, rel in REAL_SOURCES:
            shutil.copytree(Path(site) / rel, root / label)
        stamp.write_text(key)
    return _count(Corpus("real", root, sources))


# -- synthetic ------------------------------------------------------------------------

_WORDS_RNG = random.Random(SEED)
_WORDS = [
    "".join(_WORDS_RNG.choices("abcdefghijklmnopqrstuvwxyz", k=_WORDS_RNG.randint(3, 10)))
    for _ in range(600)
]
_PROPS = ["color", "margin", "padding", "display", "font-size", "border", "width", "height",
          "line-height", "position", "top", "left", "z-index", "opacity", "transition"]  # fmt: skip


def _size(rng: random.Random, typical: int, spread: float = 0.6) -> int:
    return max(64, int(rng.lognormvariate(math.log(typical), spread)))


def _js(rng: random.Random, size: int) -> bytes:
    parts: list[str] = ["'use strict';\n"]
    total = 0
    while total < size:
        a, b, c, d = rng.choices(_WORDS, k=4)
        line = rng.choice(
            (
                f"function {a}({b}, {c}) {{ return {b}.{d}({c}, {rng.randint(0, 999)}); }}\n",
                f"const {a} = {b}.{c}('{d}') || {rng.random():.4f};\n",
                f"if ({a} && {b}.{c}) {{ {d}.push({a}); }}\n",
                f"export const {a}{b.title()} = [{rng.randint(0, 99)}, '{c}', {d}];\n",
            )
        )
        parts.append(line)
        total += len(line)
    return "".join(parts).encode()


def _css(rng: random.Random, size: int, images: list[str]) -> bytes:
    parts: list[str] = []
    total = 0
    while total < size:
        rule = [f".{rng.choice(_WORDS)}-{rng.choice(_WORDS)} {{"]
        for _ in range(rng.randint(2, 6)):
            prop = rng.choice(_PROPS)
            rule.append(f"  {prop}: {rng.randint(0, 64)}px;")
        if images and rng.random() < 0.3:
            rule.append(f"  background: url({rng.choice(images)}) no-repeat;")
        rule.append("}\n")
        text = "\n".join(rule)
        parts.append(text)
        total += len(text)
    return "".join(parts).encode()


def _svg(rng: random.Random, size: int) -> bytes:
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 512 512">']
    total = len(parts[0])
    while total < size:
        pts = " ".join(f"{rng.randint(0, 512)} {rng.randint(0, 512)}" for _ in range(8))
        path = f'<path d="M{pts}z" fill="#{rng.randint(0, 0xFFFFFF):06x}"/>'
        parts.append(path)
        total += len(path)
    return ("".join(parts) + "</svg>\n").encode()


def _binary(rng: random.Random, size: int, magic: bytes) -> bytes:
    return magic + rng.randbytes(size)


def _generate(root: Path, count: int) -> None:
    rng = random.Random(SEED + count)
    per_pkg = 200  # files per package folder: realistic nesting, no giant directories
    for pkg_index in range(max(1, math.ceil(count / per_pkg))):
        n = min(per_pkg, count - pkg_index * per_pkg)
        pkg = root / f"pkg{pkg_index:03d}"
        for sub in ("css", "js", "img", "svg", "data"):
            (pkg / sub).mkdir(parents=True, exist_ok=True)
        kinds = rng.choices(
            ["js", "css", "svg", "png", "json", "bigjs", "woff2"],
            weights=[34, 15, 20, 16, 10, 3, 2], k=n,
        )  # fmt: skip
        kinds.sort(key=["png", "woff2", "js", "bigjs", "css", "svg", "json"].index)
        images: list[str] = []
        for i, kind in enumerate(kinds):
            name = f"{rng.choice(_WORDS)}-{i}"
            if kind == "png":
                images.append(f"../img/{name}.png")
                data, rel = (
                    _binary(rng, _size(rng, 6000, 0.9), b"\x89PNG\r\n\x1a\n"),
                    f"img/{name}.png",
                )
            elif kind == "woff2":
                data, rel = _binary(rng, _size(rng, 40_000, 0.5), b"wOF2"), f"data/{name}.woff2"
            elif kind == "js":
                data, rel = _js(rng, _size(rng, 2000)), f"js/{name}.js"
            elif kind == "bigjs":
                data, rel = _js(rng, _size(rng, 60_000, 0.8)), f"js/{name}.bundle.js"
            elif kind == "css":
                data, rel = _css(rng, _size(rng, 2000), images), f"css/{name}.css"
            elif kind == "svg":
                data, rel = _svg(rng, _size(rng, 1500)), f"svg/{name}.svg"
            else:
                words = rng.choices(_WORDS, k=_size(rng, 2000) // 12)
                data, rel = (
                    json.dumps({w: i for i, w in enumerate(words)}).encode(),
                    f"data/{name}.json",
                )
            (pkg / rel).write_bytes(data)


def synthetic_corpus(name: str) -> Corpus:
    """A seeded tree of ``SYNTHETIC_SIZES[name]`` files: the same bytes on every machine."""
    count = SYNTHETIC_SIZES[name]
    root = WORK / "corpora" / name
    stamp = root / ".stamp"
    key = f"{_GENERATOR_VERSION}:{SEED}:{count}"
    src = root / "assets"
    if not (stamp.exists() and stamp.read_text() == key and not (root / ".dirty").exists()):
        shutil.rmtree(root, ignore_errors=True)
        src.mkdir(parents=True)
        _generate(src, count)
        stamp.write_text(key)
    return _count(Corpus(name, root, [src]))


def load(name: str, python: Path) -> Corpus:
    """The corpus called ``name`` (``real`` or one of :data:`SYNTHETIC_SIZES`)."""
    return real_corpus(python) if name == "real" else synthetic_corpus(name)
