"""An ``s3://bucket/prefix`` destination: the same plans, carried out through the S3 API.

The planner and the record are the ones a folder has; only looking and writing differ.

* **Looking** is one listing of the prefix (1,000 keys a request), or for a few paths
  (a watcher's re-apply) one ``HeadObject`` each. An object is as the
  record left it when its ETag and size are the ones its upload returned: the ETag changes
  with every write of the key, as a folder file's inode and mtime do. An object the record
  does not vouch for is compared by content: a single-part upload's ETag is the md5 of its
  bytes, so no object is ever downloaded.
* **Writing** is one ``PutObject`` per file, whole (an object is never seen half-written),
  on threads. The manifest goes last and stale objects are deleted after everything else,
  so a page that reads the new manifest finds every file it names, and an old page keeps
  its old hashed files until the new ones are in place.
* **The record** is kept beside the files, in ``PREFIX/.staticbuild/record.json``
  (gzipped JSON), so a fresh CI machine deploys as incrementally as the last one, and
  knows which objects are its own to delete. Changes since it was written whole go to
  ``journal.json`` beside it (until they are a quarter of it), so writing the record
  costs what changed. Before the uploads the journal names them (with no ETag yet): a
  killed apply leaves objects that the next one recognises as its own.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import posixpath
import re
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import msgspec

from staticbuild.actions import Action, Copy, Delete, Update
from staticbuild.errors import ApplyError, PlanError, StaticbuildError, StorageError
from staticbuild.planner import Observed
from staticbuild.state import OutputRecord, merge_changes

if TYPE_CHECKING:
    from staticbuild.executor import Outcome, Sources

SCHEME = "s3://"
#: the record's key below the prefix; nothing under ``.staticbuild/`` is a collected file
RECORD_FOLDER = ".staticbuild/"
RECORD_NAME = RECORD_FOLDER + "record.json"
#: changes since the record was written whole, and the uploads of an apply under way
JOURNAL_NAME = RECORD_FOLDER + "journal.json"
#: S3's naming rules for new buckets (3 to 63 lowercase letters, digits, dots, hyphens)
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
#: uploads in flight at once: each waits on the network, not the CPU
UPLOAD_THREADS = 16
#: DeleteObjects takes at most this many keys a request
_DELETE_BATCH = 1000
#: files this large or larger are copied inside the bucket from a file with the same bytes
#: rather than sent again; below it a copy costs about what sending does (on moto's server
#: copying 10,000 small files made a cold deploy 24% slower)
COPY_AT_LEAST = 256 * 1024
#: up to this many paths are looked at one HeadObject each rather than by a listing
#: (a watcher's re-apply: its cost then follows the change, not the bucket)
HEAD_AT_MOST = 64


def is_bucket_url(destination: str) -> bool:
    return destination.startswith(SCHEME)


def parse_bucket_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` -> ``("bucket", "some/prefix")``; ValueError says what
    is wrong with it."""
    rest = url[len(SCHEME) :]
    bucket, _, prefix = rest.partition("/")
    if "?" in rest or "#" in rest:  # s3://b/x?region=... would become part of every key
        raise ValueError(
            f"{url!r} has a query or fragment; connection settings go in the s3 block, "
            "and a key prefix may not contain '?' or '#'"
        )
    if not _BUCKET_NAME.fullmatch(bucket):
        raise ValueError(
            f"{bucket!r} is not a valid bucket name (3 to 63 lowercase letters, digits, "
            "dots and hyphens)"
        )
    parts = [p for p in prefix.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise ValueError(f"the key prefix {prefix!r} may not contain '.' or '..'")
    return bucket, "/".join(parts)


def normal_bucket_url(url: str) -> str:
    bucket, prefix = parse_bucket_url(url)
    return f"{SCHEME}{bucket}/{prefix}" if prefix else f"{SCHEME}{bucket}"


class Listed(NamedTuple):
    etag: str
    size: int


class _RecordFile(msgspec.Struct, omit_defaults=True):
    """The record kept in the bucket: what each key holds, and the manifests kept."""

    version: int = 1
    outputs: dict[str, OutputRecord] = msgspec.field(default_factory=dict)
    history: list[list[str]] = msgspec.field(default_factory=list)


class _Journal(msgspec.Struct, omit_defaults=True):
    """Changes since the record was written whole (None: the path is gone), and the
    manifests kept, when they changed."""

    outputs: dict[str, OutputRecord | None] = msgspec.field(default_factory=dict)
    history: list[list[str]] | None = None
    version: int = 1


_File = TypeVar("_File", _RecordFile, _Journal)


class BucketRecord(NamedTuple):
    outputs: dict[str, OutputRecord]
    history: list[list[str]]


class Bucket:
    """One ``s3://`` destination, with a client made on first use (boto3 loads then)."""

    def __init__(self, url: str, endpoint_url: str | None = None, region: str | None = None):
        self.url = url
        self.name, self.prefix = parse_bucket_url(url)
        self.endpoint_url = endpoint_url
        self.region = region
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._listing: dict[str, Listed] | None = None
        # What the bucket's record holds (None: there is none) and its journal
        self._base: dict[str, OutputRecord] | None = None
        self._base_history: list[list[str]] = []
        self._journal: dict[str, OutputRecord | None] = {}
        self._journal_history: list[list[str]] | None = None
        self._journal_written = False

    def key(self, path: str) -> str:
        return f"{self.prefix}/{path}" if self.prefix else path

    # -- the connection -------------------------------------------------------------------
    @property
    def client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                import boto3
                from botocore.config import Config
                from botocore.exceptions import BotoCoreError

                config = Config(
                    max_pool_connections=UPLOAD_THREADS,
                    retries={"max_attempts": 5, "mode": "standard"},
                )
                try:
                    self._client = boto3.session.Session().client(
                        "s3", endpoint_url=self.endpoint_url, region_name=self.region, config=config
                    )
                except (ValueError, BotoCoreError) as exc:  # a bad endpoint or region
                    raise StorageError(f"cannot connect to {self.url}: {exc}") from None
            return self._client

    def _error(self, exc: Exception, doing: str) -> StorageError:
        """One line for what went wrong with the bucket (not a botocore traceback)."""
        from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

        where = f"{SCHEME}{self.name}"
        if isinstance(exc, NoCredentialsError):
            return StorageError(
                f"no credentials for {where}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
            )
        if isinstance(exc, EndpointConnectionError):
            return StorageError(f"cannot reach the S3 endpoint for {where}: {exc}")
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in ("NoSuchBucket", "404"):
                return StorageError(f"bucket {self.name!r} does not exist ({doing})")
            if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                return StorageError(f"access to {where} denied while {doing} ({code})")
            return StorageError(f"{where} refused {doing}: {code} {error.get('Message', '')}")
        return StorageError(f"{where}: {doing} failed: {exc}")

    def _call(self, doing: str, method: Callable[..., Any], **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, doing) from None

    def _call_or_none(self, doing: str, method: Callable[..., Any], path: str) -> Any:
        """``method`` on the object at ``path``; None where there is no such object."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return method(Bucket=self.name, Key=self.key(path))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise self._error(exc, doing) from None
        except BotoCoreError as exc:
            raise self._error(exc, doing) from None

    # -- looking --------------------------------------------------------------------------
    def forget_listing(self) -> None:
        """The next look lists the bucket again (a new plan sees it as it is now)."""
        self._listing = None

    def listing(self) -> dict[str, Listed]:
        """Every object below the prefix but the record: destination path -> (ETag, size)."""
        if self._listing is not None:
            return self._listing
        listing: dict[str, Listed] = {}
        start = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            for page in paginator.paginate(Bucket=self.name, Prefix=start):
                for item in page.get("Contents", ()):
                    path = item["Key"][len(start) :]
                    if path and not path.endswith("/") and not path.startswith(RECORD_FOLDER):
                        listing[path] = Listed(item["ETag"].strip('"'), item["Size"])
        except (BotoCoreError, ClientError) as exc:
            raise self._error(exc, "listing its objects") from None
        self._listing = listing
        return listing

    def refuse_reserved(self, paths: Collection[str]) -> None:
        """Refuse collected files under ``.staticbuild/``: that is where the record lives."""
        clash = next((p for p in paths if p.startswith(RECORD_FOLDER)), None)
        if clash is not None:
            raise PlanError(
                f"collected file {clash!r} would land in {self.key(RECORD_FOLDER)!r}, where "
                f"staticbuild keeps its record in {self.url}; ignore it or rename the folder"
            )

    def outputs_still(self, records: Mapping[str, OutputRecord]) -> bytes:
        """As :func:`staticbuild.observe.outputs_still`: whether each recorded object is
        the one its upload made (same ETag and size)."""
        listing = self.listing()
        flags = bytearray(len(records))
        for index, (path, record) in enumerate(records.items()):
            seen = listing.get(path)
            if seen is not None and record.etag and seen == (record.etag, record.size):
                flags[index] = 1
        return bytes(flags)

    def files(self) -> list[str]:
        return sorted(self.listing())

    def observe(
        self,
        paths: Collection[str],
        records: Mapping[str, OutputRecord],
        content: Callable[[str], tuple[str, str] | None],
    ) -> dict[str, Observed]:
        """What is at each path that holds an object. ``content(path)`` gives the wanted
        content's ``(md5, digest)`` (None for a path that is not wanted), to recognise an
        object the record does not vouch for."""
        if self._listing is None and len(paths) <= HEAD_AT_MOST:
            with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
                heads = dict(zip(paths, pool.map(self._head, paths), strict=True))
        else:
            listing = self.listing()
            heads = {path: listing.get(path) for path in paths}
        seen: dict[str, Observed] = {}
        for path, found in heads.items():
            if found is not None:
                seen[path] = _observed(found, records.get(path), functools.partial(content, path))
        return seen

    def _head(self, path: str) -> Listed | None:
        head = self._call_or_none(f"looking at {path!r}", self.client.head_object, path)
        return None if head is None else Listed(head["ETag"].strip('"'), head["ContentLength"])

    def load_record(self) -> BucketRecord | None:
        """The record kept in the bucket, with its journal's changes (and the uploads an
        unfinished apply named); None if there is neither (or they are unreadable)."""
        base = self._read(RECORD_NAME, _RecordFile)
        journal = self._read(JOURNAL_NAME, _Journal)
        self._base = dict(base.outputs) if base else None
        self._base_history = base.history if base else []
        self._journal = dict(journal.outputs) if journal else {}
        self._journal_history = journal.history if journal else None
        self._journal_written = journal is not None
        if base is None and journal is None:
            return None
        outputs = dict(self._base or {})
        merge_changes(outputs, self._journal)
        history = self._base_history if self._journal_history is None else self._journal_history
        return BucketRecord(outputs, history)

    def _read(self, name: str, kind: type[_File]) -> _File | None:
        response = self._call_or_none("reading its record", self.client.get_object, name)
        if response is None:
            return None
        data = self._call("reading its record", response["Body"].read)
        try:
            record = msgspec.json.decode(gzip.decompress(data), type=kind)
        except (OSError, EOFError, ValueError):
            return None
        return record if record.version == 1 else None

    def save_pending(self, uploads: Mapping[str, OutputRecord]) -> None:
        """Name the uploads an apply is about to make (no ETag yet) in the journal, so that
        a killed apply's objects are known as ours."""
        self._journal.update(uploads)
        self._write(JOURNAL_NAME, _Journal(outputs=self._journal, history=self._journal_history))
        self._journal_written = True

    def save_record(self, outputs: Mapping[str, OutputRecord], history: list[list[str]]) -> None:
        """Record what the bucket holds now: as a journal of the changes since the record
        was written whole (a watcher's re-apply uploads what it changed, not 100,000
        records), or whole again once the changes are a quarter of it."""
        base = self._base
        if base is not None:
            changes: dict[str, OutputRecord | None] = {
                path: record for path, record in outputs.items() if base.get(path) != record
            }
            changes.update(dict.fromkeys(base.keys() - outputs.keys()))
            if len(changes) * 4 <= len(base) + 64:
                self._journal = changes
                self._journal_history = None if history == self._base_history else history
                self._write(JOURNAL_NAME, _Journal(changes, self._journal_history))
                self._journal_written = True
                return
        whole = _RecordFile(outputs=dict(sorted(outputs.items())), history=history)
        self._write(RECORD_NAME, whole)
        self._base, self._base_history = dict(outputs), history
        self._journal, self._journal_history = {}, None
        if self._journal_written:  # the record has it all now
            self._call(
                "writing its record",
                self.client.delete_object,
                Bucket=self.name,
                Key=self.key(JOURNAL_NAME),
            )
            self._journal_written = False

    def _write(self, name: str, record: _RecordFile | _Journal) -> None:
        # gzip: hex digests and paths halve, and 100,000 records are 24 MB as JSON
        data = gzip.compress(msgspec.json.encode(record), compresslevel=6, mtime=0)
        self._call(
            "writing its record",
            self.client.put_object,
            Bucket=self.name,
            Key=self.key(name),
            Body=data,
            ContentType="application/json",
            ContentEncoding="gzip",
            CacheControl="no-store",
        )

    # -- writing --------------------------------------------------------------------------
    def execute(
        self,
        actions: Sequence[Action],
        sources: Sources,
        *,
        last: Collection[str] = (),
        immutable: Collection[str] = (),
        progress: Callable[[int], None] | None = None,
        written: dict[str, OutputRecord] | None = None,
    ) -> Outcome:
        """Upload every new or changed file (``last`` after all others), then delete the
        stale ones; on a failure, stop before the deletions and report what finished.
        ``immutable`` names files whose content never changes under their name (hashed
        names): they are sent with a year-long ``Cache-Control``.

        Large contents are sent once: a file of ``COPY_AT_LEAST`` bytes or more with the
        same content as one sent before it (a hashed copy and its original, their
        siblings) is copied inside the bucket instead.
        """
        from staticbuild.executor import Outcome

        outcome = Outcome() if written is None else Outcome(written)
        sends, copies, finals, twin = _by_content(actions, last)

        def make(action: Action) -> OutputRecord | str:
            flag = action.path in immutable
            source = twin.get(action.path)
            if source is not None and source in outcome.written:
                copied = self._copy_one(action, source, outcome.written[source], flag)
                if copied is not None:
                    return copied
            return self._upload_one(action, sources, flag)

        with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
            for stage in (sends, copies, finals):  # a copy's source is in place before it
                if stage is finals and outcome.error is not None:
                    return outcome  # no manifest naming files that are not there
                for action, result in zip(stage, pool.map(make, stage), strict=True):
                    if isinstance(result, OutputRecord):
                        outcome.written[action.path] = result
                    elif outcome.error is None:
                        outcome.error = ApplyError(result)
                    if progress:
                        progress(1)
        if outcome.error is not None:
            return outcome  # nor deletions: old pages keep their files
        self._delete_stale([a.path for a in actions if isinstance(a, Delete)], outcome, progress)
        self._listing = None
        return outcome

    def _delete_stale(
        self, deletions: list[str], outcome: Outcome, progress: Callable[[int], None] | None
    ) -> None:
        for start in range(0, len(deletions), _DELETE_BATCH):
            batch = deletions[start : start + _DELETE_BATCH]
            try:
                response = self._call(
                    "deleting stale objects",
                    self.client.delete_objects,
                    Bucket=self.name,
                    Delete={"Objects": [{"Key": self.key(p)} for p in batch], "Quiet": True},
                )
            except StorageError as exc:  # what was uploaded is still recorded
                outcome.error = ApplyError(exc.message)
                break
            failed = {self.key(p) for p in batch} & {e["Key"] for e in response.get("Errors", ())}
            done = [p for p in batch if self.key(p) not in failed]
            outcome.deleted.extend(done)
            if progress:
                progress(len(batch))
            if failed and outcome.error is None:
                outcome.error = ApplyError(
                    f"{SCHEME}{self.name} refused to delete {len(failed)} object(s), "
                    f"e.g. {sorted(failed)[0]!r}"
                )

    def _copy_one(
        self, action: Action, source: str, sent: OutputRecord, immutable: bool
    ) -> OutputRecord | None:
        """``action``'s file made by copying ``source`` (the same bytes) inside the bucket;
        None where that failed (the caller sends the bytes instead)."""
        try:
            response = self._call(
                f"copying {source!r} to {action.path!r}",
                self.client.copy_object,
                Bucket=self.name,
                Key=self.key(action.path),
                CopySource={"Bucket": self.name, "Key": self.key(source)},
                MetadataDirective="REPLACE",
                **object_headers(action.path, immutable=immutable),
            )
        except StorageError:
            return None
        etag = response["CopyObjectResult"]["ETag"].strip('"')
        return OutputRecord(sent.digest, sent.size, 0, 0, etag=etag)

    def _upload_one(self, action: Action, sources: Sources, immutable: bool) -> OutputRecord | str:
        try:
            body, digest = _bytes_of(action, sources)
            headers = object_headers(action.path, immutable=immutable)
            response = self._call(
                f"uploading {action.path!r}",
                self.client.put_object,
                Bucket=self.name,
                Key=self.key(action.path),
                Body=body,
                **headers,
            )
        except StaticbuildError as exc:
            return exc.message
        except OSError as exc:
            return f"cannot read {exc.filename or action.path!r}: {exc.strerror or exc}"
        return OutputRecord(digest, len(body), 0, 0, etag=response["ETag"].strip('"'))


def _by_content(
    actions: Sequence[Action], last: Collection[str]
) -> tuple[list[Action], list[Action], list[Action], dict[str, str]]:
    """The uploads in three stages: files whose bytes are sent, large files that copy one
    of those (same digest), and ``last``; and which path each copy copies."""
    sends: list[Action] = []
    copies: list[Action] = []
    finals: list[Action] = []
    sent: dict[str, str] = {}  # digest -> the path that sends it
    twin: dict[str, str] = {}
    for action in actions:
        if isinstance(action, Delete):
            continue
        if action.path in last:
            finals.append(action)
            continue
        digest = getattr(action, "digest", "")
        if digest in sent and getattr(action, "size", 0) >= COPY_AT_LEAST:
            twin[action.path] = sent[digest]
            copies.append(action)
        else:
            sent.setdefault(digest, action.path)
            sends.append(action)
    return sends, copies, finals, twin


def _observed(
    found: Listed, record: OutputRecord | None, content: Callable[[], tuple[str, str] | None]
) -> Observed:
    etag, size = found
    if record is not None and record.etag and (record.etag, record.size) == (etag, size):
        return Observed("file", record.digest, None, size, recorded=True, etag=etag)
    wanted = content()
    if wanted is not None and wanted[0] == etag:  # the wanted bytes are there already
        return Observed("file", wanted[1], None, size, etag=etag)
    # Written by someone else, or changed since; or named by an upload that may not have
    # finished (a record with no ETag yet): then it is ours, to replace or delete.
    pending = record is not None and not record.etag
    return Observed("file", f"etag:{etag}", None, size, recorded=pending, etag=etag)


#: WhiteNoise's Cache-Control for hashed names
IMMUTABLE = "public, max-age=31536000, immutable"


def object_headers(path: str, *, immutable: bool = False) -> dict[str, str]:
    """Content-Type (and, for a ``.gz``/``.br`` sibling, Content-Encoding), as WhiteNoise
    would serve the file: the media type of the name without the compression suffix; and
    for a hashed name, WhiteNoise's year-long Cache-Control."""
    name, encoding = path, None
    for suffix, coding in ((".br", "br"), (".gz", "gzip")):
        if path.endswith(suffix):
            name, encoding = path[: -len(suffix)], coding
    media = _media_types().get_type(posixpath.basename(name))
    if media.startswith("text/"):  # as the dev server says it (server/responder.py)
        media += "; charset=utf-8"
    headers = {"ContentType": media}
    if encoding:
        headers["ContentEncoding"] = encoding
    if immutable:
        headers["CacheControl"] = IMMUTABLE
    return headers


@functools.lru_cache(maxsize=1)
def _media_types() -> Any:
    from whitenoise.media_types import MediaTypes

    return MediaTypes()


def _bytes_of(action: Action, sources: Sources) -> tuple[bytes, str]:
    """The bytes a file is uploaded with, and their digest."""
    from staticbuild.copying import blob_bytes, read_source

    if isinstance(action, Copy | Update):
        path = sources.path(action.root, action.source)
        body = read_source(path, sources.infos.get((action.root, action.source)))
        return body, action.digest or hashlib.sha256(body).hexdigest()
    assert not isinstance(action, Delete)
    digest: str = getattr(action, "digest")  # noqa: B009 - Write, Compress and Link have one
    return blob_bytes(sources.blobs[digest], digest), digest


def content_md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()
