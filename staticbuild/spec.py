"""The spec file: YAML with positions in, a validated :class:`Spec` out.

This is the only module that imports pydantic. Every problem — YAML syntax, a wrong key or
type, and the file-system checks of :mod:`staticbuild.checks` — is reported at once, one
line each, naming the file, line, column and key, Django-checks style (``SB-E0xx``);
:mod:`staticbuild.spec_problems` words them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from staticbuild.errors import SpecError
from staticbuild.project import STATE_DIR_NAME
from staticbuild.spec_parts import Parts, valid_parts
from staticbuild.spec_problems import (
    clean_loc,
    format_problem,
    format_validation_error,
    locate,
    shown,
)
from staticbuild.spec_yaml import KeyPath, parse_yaml

SPEC_NAME = "staticbuild.yaml"


def _problem(code: str, message: str) -> PydanticCustomError:
    """A validation error with a stable id as its type (braces escaped: no templating)."""
    return PydanticCustomError(code, message.replace("{", "{{").replace("}", "}}"))


def _no_nul(value: str) -> str:
    # The OS ends a path at a NUL byte, and Python's file calls refuse one with a ValueError.
    if "\0" in value:
        raise _problem("SB-E027", f"{value!r} contains a NUL byte, which no path may hold")
    return value


#: A path or path part written in the spec.
PathText = Annotated[str, AfterValidator(_no_nul)]


def _source_kind(value: Any) -> str:
    return "str" if isinstance(value, str) else "SourceSpec"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class SourceSpec(_Model):
    """A folder searched first (Django's STATICFILES_DIRS entry), with an optional prefix."""

    path: PathText = Field(min_length=1, description="Folder, relative to the spec's folder.")
    prefix: PathText = Field("", description="Destination sub-folder its files appear under.")

    @field_validator("prefix")
    @classmethod
    def _prefix_has_no_slash_at_end(cls, value: str) -> str:
        # Django refuses this too (staticfiles.E003).
        if value.endswith("/") or value.startswith("/"):
            raise _problem("SB-E011", f"prefix {value!r} must not start or end with '/'")
        if any(part in ("", ".", "..") for part in value.split("/")) and value:
            raise _problem("SB-E011", f"prefix {value!r} must be plain folder names")
        return value


class AppSpec(_Model):
    """An app searched after the sources (INSTALLED_APPS): a folder or an installed package."""

    path: PathText | None = Field(
        None, min_length=1, description="App folder; its static/ is searched."
    )
    package: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$",
        description="Installed Python package; <its folder>/static/ is searched.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> AppSpec:
        if (self.path is None) == (self.package is None):
            raise PydanticCustomError("SB-E016", "an app needs exactly one of 'path' or 'package'")
        return self


class S3Spec(_Model):
    """Connection of an ``s3://`` destination; credentials come from the environment."""

    endpoint_url: str | None = None
    region: str | None = None

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint_is_a_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^/\s]+(/\S*)?", value):
            raise _problem("SB-E023", f"endpoint_url {value!r} must be an http(s) URL")
        return value

    @field_validator("region")
    @classmethod
    def _region_is_a_name(cls, value: str | None) -> str | None:
        # botocore's own rule; it would otherwise fail only once the bucket is reached
        if value is not None and not re.fullmatch(
            r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?", value
        ):
            raise _problem("SB-E023", f"region {value!r} is not a region name, like 'eu-west-1'")
        return value


Encoding = Literal["gzip", "br"]


class StorageSpec(_Model):
    """How outputs are named (plain or hashed) and which precompressed siblings are made."""

    kind: Literal["filesystem", "manifest"] = "filesystem"
    manifest_name: str = Field("staticfiles.json", min_length=1)
    manifest_strict: bool = True
    js_module_imports: bool = Field(
        False, description="Rewrite JS module import/export (Django's aggregation support)."
    )
    keep_previous: int = Field(
        0, ge=0, description="Keep the hashed files of the previous N manifests."
    )
    compress: tuple[Encoding, ...] = ()
    compress_min_size: int | None = Field(
        None, ge=0, description="Files smaller than this many bytes are not compressed."
    )
    compress_skip_extensions: tuple[str, ...] | None = Field(
        None, description="Extensions never compressed (default: WhiteNoise's list)."
    )

    @field_validator("manifest_name")
    @classmethod
    def _manifest_name_stays_inside(cls, value: str) -> str:
        # The manifest is written into the destination under this name: a name that could
        # leave it, or land in the state folder, is refused as Django refuses it
        # (SuspiciousFileOperation from FileSystemStorage.path).
        parts = value.split("/")
        if value.startswith("/"):
            why = "is absolute"
        elif "\\" in value or "\0" in value:
            why = "contains a backslash or NUL byte"
        elif any(part in ("", ".", "..") for part in parts):
            why = "has '..', '.' or empty parts"
        elif parts[0] == STATE_DIR_NAME:
            why = f"is inside staticbuild's state folder {STATE_DIR_NAME}/"
        else:
            return value
        raise _problem(
            "SB-E024",
            f"manifest_name {value!r} {why}; it must be a plain relative path inside the "
            "destination, like 'staticfiles.json'",
        )

    @field_validator("compress", "compress_skip_extensions", mode="before")
    @classmethod
    def _list_to_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("compress")
    @classmethod
    def _each_encoding_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        twice = sorted({e for e in value if value.count(e) > 1})
        if twice:
            raise _problem("SB-E030", f"compress lists {twice[0]!r} more than once")
        return value


class Spec(_Model):
    """The whole ``staticbuild.yaml``."""

    version: Literal[1]
    destination: PathText = Field(min_length=1, description="Folder or s3://bucket/prefix.")
    url: str = "/static/"
    debug: bool = False
    sources: tuple[
        Annotated[
            Annotated[Annotated[PathText, Field(min_length=1)], Tag("str")]
            | Annotated[SourceSpec, Tag("SourceSpec")],
            Discriminator(_source_kind),
        ],
        ...,
    ] = ()
    apps: tuple[AppSpec, ...] = ()
    ignore: tuple[str, ...] = ()
    default_ignore: bool = True
    link: bool = False
    clear: bool = False
    post_process: bool = True
    durable: bool = Field(
        False, description="fsync each written file (slower, survives power loss)."
    )
    hard_links: bool = Field(
        True,
        description=(
            "Outputs with identical bytes (a hashed copy and its original, their .gz/.br) "
            "share one file through hard links; false writes each separately."
        ),
    )
    storage: StorageSpec = StorageSpec()
    s3: S3Spec | None = None

    @field_validator("sources", "apps", "ignore", mode="before")
    @classmethod
    def _list_to_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("version", mode="before")
    @classmethod
    def _version_is_an_integer(cls, value: Any) -> Any:
        # Literal[1] takes True and 1.0 too (they equal 1); the JSON Schema does not.
        if isinstance(value, bool | float):
            raise _problem(
                "SB-E002", f"unsupported version {shown(value)}; this staticbuild reads version 1"
            )
        return value

    @field_validator("destination")
    @classmethod
    def _destination_is_a_folder_or_bucket(cls, value: str) -> str:
        # Anything else with a scheme would silently become a local folder named 'gs:'.
        if re.match(r"s3:/(?!/)", value, re.IGNORECASE):  # one slash: a typo, not a folder
            raise _problem(
                "SB-E026",
                f"destination {value!r} looks like a bucket URL with one slash; "
                f"did you mean 's3://{value[4:]}'?",
            )
        scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", value)
        if scheme and scheme.group(0) != "s3://":
            suggestion = (
                f"did you mean 's3://{value[scheme.end() :]}'?"
                if scheme.group(1).lower() == "s3"
                else "write a folder, or s3://bucket/prefix for an S3-API bucket"
            )
            raise _problem(
                "SB-E026",
                f"destination {value!r} is a {scheme.group(1)}:// URL; only s3:// URLs are "
                f"supported ({suggestion})",
            )
        return value

    @field_validator("url")
    @classmethod
    def _url_is_a_prefix(cls, value: str) -> str:
        # What Django takes as STATIC_URL, where files can still be served under it: a
        # relative 'static/' gets the script prefix ('/static/'), and a space is a space.
        why = _url_problem(value)
        if why:
            raise _problem("SB-E015", f"url {value!r} {why}")
        return value

    def source_entries(self) -> tuple[SourceSpec, ...]:
        """Sources in their long form."""
        return tuple(SourceSpec(path=s) if isinstance(s, str) else s for s in self.sources)


def _url_problem(url: str) -> str:
    """Why ``url`` cannot prefix the collected files' URLs ('' if it can)."""
    if re.search(r"[\x00-\x1f\x7f]", url):
        return "contains a control character, which no URL may hold"
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"is not a URL ({exc})"
    if (
        parts.scheme not in ("", "http", "https")
        or (parts.scheme and not parts.netloc)
        or " " in parts.netloc
    ):
        return "must be a path or an http(s) URL with a host, like 'https://cdn.example.com/s/'"
    if "?" in url or "#" in url:
        # FileSystemStorage.url joins each name to STATIC_URL with urljoin, which drops it.
        return "has a query or fragment, which is dropped when a file name is joined to it"
    if not url.endswith("/"):
        return "must end in '/' (as Django's STATIC_URL must), like '/static/'"
    if any(part in (".", "..") for part in parts.path.split("/")):
        return "has '.' or '..' segments, which clients resolve away before asking for a file"
    return ""


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the spec, as committed in ``schema/staticbuild.schema.json``."""
    schema = Spec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "staticbuild.yaml"
    return schema


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


class LoadedSpec:
    """A validated spec with where it came from; ``locate`` maps a key path to line/column.

    For a spec that is not valid, ``spec`` holds only its valid parts (see
    :mod:`staticbuild.spec_parts`): ``parts`` maps their keys back to the file's.
    """

    def __init__(
        self,
        path: Path,
        raw: bytes,
        spec: Spec,
        positions: Mapping[KeyPath, tuple[int, int]],
        parts: Parts | None = None,
    ):
        self.path = path
        self.raw = raw
        self.spec = spec
        self.digest = hashlib.sha256(raw).hexdigest()
        self._positions = positions
        self._indices = parts.indices if parts is not None else {}
        #: False when the destination is invalid or missing: its checks cannot run
        self.destination_known = parts is None or parts.destination_known
        self._where: dict[str, tuple[int, int]] = {}

    def locate(self, key: KeyPath) -> tuple[int, int]:
        return locate(self._positions, key)

    def original(self, key: KeyPath) -> KeyPath:
        """``key`` as the file has it (an item kept from a list that lost others moved up)."""
        if len(key) > 1 and isinstance(key[1], int) and key[0] in self._indices:
            return (key[0], self._indices[str(key[0])][key[1]], *key[2:])
        return key

    def problem(self, key: KeyPath, code: str, message: str, hint: str = "") -> str:
        """One formatted problem line, the same shape for schema and file-system problems."""
        key = self.original(key)
        where = self.locate(key)
        text = format_problem(self.path, where, key, code, message, hint)
        self._where[text] = where
        return text

    def position_of(self, problem: str) -> tuple[int, int]:
        """Where a line made by :meth:`problem` points."""
        return self._where.get(problem, (0, 0))

    def by_position(self, problems: Iterable[str]) -> list[str]:
        """``problems`` made by :meth:`problem`, in the order of the file."""
        return sorted(problems, key=self.position_of)


#: The file-system checks of a spec: one formatted line per problem.
Check = Callable[[LoadedSpec], Sequence[str]]


def load_spec(path: Path, check: Check | None = None) -> LoadedSpec:
    """Read, parse and validate the spec; raise :class:`SpecError` listing every problem.

    ``check``: the file-system checks, for a spec that is not valid to run on the parts of
    it that are (each source, each app, the destination), so that every problem is named
    in one round. A valid spec is returned unchecked."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError([f"{path}: spec file not found [SB-E001]"]) from None
    except IsADirectoryError:
        raise SpecError([f"{path}: is a folder, not a spec file [SB-E001]"]) from None
    except OSError as exc:
        raise SpecError([f"{path}: cannot read spec file: {exc.strerror} [SB-E001]"]) from None
    try:
        data, positions = parse_yaml(path, raw)
    except RecursionError:  # the YAML reader and the plain-data walk both recurse
        raise SpecError([f"{path}: nested too deeply to be a spec [SB-E001]"]) from None
    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        found = [
            (locate(positions, clean_loc(e["loc"])), format_validation_error(path, positions, e))
            for e in errors
        ]
        partial = _valid_part(path, raw, data, positions, errors) if check else None
        if partial is not None and check is not None:
            found += [(partial.position_of(text), text) for text in check(partial)]
        raise SpecError([text for _, text in sorted(found, key=lambda f: f[0])]) from None
    return LoadedSpec(path, raw, spec, positions)


def _valid_part(
    path: Path,
    raw: bytes,
    data: Any,
    positions: Mapping[KeyPath, tuple[int, int]],
    errors: Sequence[Any],
) -> LoadedSpec | None:
    """The spec made of its valid parts, or None if they do not make one."""
    parts = valid_parts(data, [clean_loc(e["loc"]) for e in errors], Spec.model_fields)
    if parts is None:
        return None
    try:
        spec = Spec.model_validate(parts.data)
    except ValidationError:  # parts that are valid alone but not together: none here
        return None
    return LoadedSpec(path, raw, spec, positions, parts)
