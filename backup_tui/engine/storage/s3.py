"""An S3-compatible bucket as a repository: the only module that speaks to boto3, which it imports
when a bucket is first used, so a command without S3 never loads it.

    <prefix>/<key>/<YYYY>/<MM>/<DD>/<id>/<id>.dump.zst          the stored bytes (multipart above the threshold)
    <prefix>/<key>/<YYYY>/<MM>/<DD>/<id>/<id>.dump.zst.sha256   sha256sum format
    <prefix>/<key>/<YYYY>/<MM>/<DD>/<id>/manifest.json          written once, last: the commit point
    <prefix>/<key>/<YYYY>/<MM>/<DD>/<id>/pins/*.json            written once each; the newest name wins
    <prefix>/<key>/<YYYY>/<MM>/<DD>/<id>/verifications/*.json   one record per verification
    <prefix>/<key>/<YYYY>/<MM>/<DD>/<id>/reports/*.txt          readable reports

``<key>`` is ``core.names.folder_key(database)``, the date the backup's start in UTC. Every key is
derived from this layout and a record's database, start and id, never from a field of an object;
every record read is validated as a local one is (``core.manifest``), and one found under another
backup's place is damaged. The listing is paginated and kept for ``LIST_TTL_S`` seconds; manifests
and records, written once, are kept for the life of the process by key and ETag.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import hashlib
import io
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, cast

from backup_tui.engine.config import S3Config
from backup_tui.engine.core.copies import merge_copies
from backup_tui.engine.core.errors import BackupToolError, ConfigError
from backup_tui.engine.core.manifest import (
    MAX_RECORD_BYTES,
    InvalidRecord,
    parse_manifest,
    parse_pin,
    parse_verification,
)
from backup_tui.engine.core.models import (
    YEARS,
    BackupRecord,
    Verification,
    history_order,
    own_history,
    parse_utc,
    utc_iso,
)
from backup_tui.engine.core.names import folder_key, id_prefix, is_backup_id
from backup_tui.engine.core.policy import pin_not_taken, pin_refusal
from backup_tui.engine.core.retention import outranks
from backup_tui.engine.core.untrusted_json import load_json
from backup_tui.engine.storage.files import RECORD_LIMIT
from backup_tui.engine.storage.local import ID_LETTERS, ID_STAMP, database_of_key, dated, sidecar_text
from backup_tui.engine.storage.record_cache import RecordCache
from backup_tui.engine.storage.repository import Capabilities
from backup_tui.engine.storage.state import this_host
from backup_tui.engine.stream.sources import ReadAhead

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import MultipartUploadTypeDef

    from backup_tui.engine.core.progress import CancelToken
    from backup_tui.engine.storage.s3_upload import FileUploaded, MultipartSink

NAME = "s3"
MANIFEST = "manifest.json"
PINS, VERIFICATIONS, REPORTS = "pins", "verifications", "reports"
SUFFIXES = {("custom", "zstd"): ".dump.zst", ("plain", "gzip"): ".sql.gz"}  # what we store, by kind
LIST_TTL_S = 30.0  # the TUI opens on a listing this fresh; our own writes drop it
LIST_PATIENCE_S = 5.0  # a listing waits this long (retry_seconds if less) for an unreachable bucket: local ones first
RANGE_BYTES = 64 << 20  # one ranged GET: large enough for throughput, read as a stream, never held whole
# An object's first bytes, kept once read: a restore's planning reads the archive's table of contents three
# times (its needs, its database's properties, and again beside the load), each a GET from byte 0 that a store
# answers with a round trip (and moto with a read of the whole object: 0.1 s of its CPU per GET of 190 MB).
# With the read-ahead's ramp (stream.sources) a table of contents of a few MiB is read within this.
HEAD_KEEP = 8 << 20
MIB = 1 << 20
T = TypeVar("T")
_FOLDER = re.compile(r"(?P<key>[^/]+)/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/(?P<id>[^/]+)/(?P<rest>.+)")
_YEAR = re.compile(r"\d{4}/")
_RETRIED_CODES = {"Throttling", "ThrottlingException", "SlowDown", "RequestTimeout", "RequestTimeTooSkewed",
                  "InternalError", "ServiceUnavailable", "RequestLimitExceeded", "TooManyRequests"}
_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidClientTokenId", "ExpiredToken",
                "InvalidToken", "AuthorizationHeaderMalformed"}


class S3Unreachable(BackupToolError):
    """The bucket did not answer within retry_seconds (exit 1: the next run tries again)."""


class S3Refused(ConfigError):
    """Credentials, bucket or permission: the operator's to fix (exit 2)."""


class S3NoBucket(S3Refused):
    """The bucket does not exist."""


class S3Missing(BackupToolError):
    """The object asked for is not in the bucket."""


class S3Conflict(BackupToolError):
    """A conditional write found the object there already."""


def said(exc: BaseException) -> str:
    """One line for an error of botocore's, without anything secret (botocore never puts keys in these)."""
    code, message = error_code(exc), ""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        message = str(response.get("Error", {}).get("Message") or "")
    text = f"{code}: {message}" if code and message else code or str(exc).splitlines()[0] if str(exc) else ""
    return text or type(exc).__name__


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or "")
    return ""


def _status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return 0


def _transient(exc: BaseException) -> bool:
    """Throttling, a 5xx or a connection that failed: worth another try. The rest is an answer."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError, ReadTimeoutError

    if isinstance(exc, ClientError):
        return error_code(exc) in _RETRIED_CODES or _status(exc) >= 500
    return isinstance(exc, ConnectionError | HTTPClientError | ReadTimeoutError | ConnectionResetError)


def refusal(exc: BaseException, config: S3Config, waited: float | None = None) -> BackupToolError:
    """A botocore error as our one line and exit code: what the operator must fix, named. ``waited``: how long
    the retries went on (a listing or config check waits less than retry_seconds, and must not say 60 s)."""
    from botocore.exceptions import NoCredentialsError, PartialCredentialsError

    code, bucket = error_code(exc), config.bucket
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return S3Refused("S3: no credentials: set S3_ACCESS_KEY and S3_SECRET_KEY, or AWS_* variables, a profile "
                         "or an instance role")
    if code in _CREDENTIALS:
        return S3Refused(f"S3: wrong credentials for bucket {bucket!r} ({code})")
    if code == "NoSuchBucket" or (code == "404" and _status(exc) == 404 and getattr(exc, "operation_name", "")
                                  == "HeadBucket"):
        return S3NoBucket(f"S3: bucket {bucket!r} does not exist (backup-headless s3 init creates it)")
    if code in ("PreconditionFailed", "ConditionalRequestConflict"):
        return S3Conflict(f"S3: {code}")
    if code in ("NoSuchKey", "404"):
        return S3Missing(f"S3: not in bucket {bucket!r}")
    if code in ("AccessDenied", "403", "AllAccessDisabled"):
        return S3Refused(f"S3: no permission on bucket {bucket!r} ({said(exc)})")
    if _transient(exc):
        where = config.endpoint_url or "AWS"
        waited = config.retry_seconds if waited is None else waited
        return S3Unreachable(f"S3 at {where} unreachable after {waited:g} s of retries: {said(exc)}")
    return BackupToolError(f"S3: {said(exc)}")


def retrying(config: S3Config, call: Callable[[], T], *, patience: float | None = None,
             sleep: Callable[[float], None] = time.sleep) -> T:
    """``call`` again with backoff while S3 is throttling, failing with a 5xx or unreachable, for up to
    ``patience`` seconds, on top of botocore's own retries; then the one-line error. No call waits longer than
    retry_seconds: an operator who set 1 s is not kept 5 s by a listing's own patience."""
    patience = config.retry_seconds if patience is None else min(patience, config.retry_seconds)
    deadline = time.monotonic() + patience
    delay = 0.25
    while True:
        try:
            return call()
        except Exception as exc:
            if not _transient(exc) or time.monotonic() + delay > deadline:
                if isinstance(exc, BackupToolError):
                    raise
                if type(exc).__module__.startswith("botocore"):
                    raise refusal(exc, config, patience) from None
                raise
            sleep(delay)
            delay = min(delay * 2, 8.0)


def make_client(config: S3Config, *, read_timeout: float = 60, attempts: int = 3) -> S3Client:
    """A boto3 client for the bucket: path-style addressing for any endpoint that is not AWS's own.
    The keys, when the old scripts' names give them, go to boto3 only: never printed, never on a command line.
    ``read_timeout`` and ``attempts``: how long one call waits for a silent store, how many times botocore tries."""
    import boto3
    import botocore.session
    from botocore.config import Config

    botocore_config = Config(
        s3={"addressing_style": "path"} if config.endpoint_url else {},
        retries={"mode": "standard", "max_attempts": attempts},
        connect_timeout=5, read_timeout=read_timeout, max_pool_connections=max(10, config.concurrency * 2),
        request_checksum_calculation="when_required", response_checksum_validation="when_required",
    )
    kwargs: dict[str, Any] = {"config": botocore_config}
    if config.endpoint_url:
        kwargs["endpoint_url"] = config.endpoint_url
    if config.region:
        kwargs["region_name"] = config.region
    elif config.endpoint_url:
        kwargs["region_name"] = "us-east-1"  # MinIO and friends ignore it; botocore wants one to sign
    if config.access_key and config.secret_key:
        kwargs["aws_access_key_id"] = config.access_key
        kwargs["aws_secret_access_key"] = str(config.secret_key)
    session = botocore.session.get_session()
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=parse_timestamp)
    return boto3.session.Session(botocore_session=session).client("s3", **kwargs)


def parse_timestamp(value: str) -> datetime:
    """S3's ISO 8601 times (every listed object's LastModified) by the standard library, others by botocore's
    own: its general parser took two thirds of a 15,000-key listing's time on the client."""
    from botocore.utils import parse_timestamp as general

    if value.endswith("Z"):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value)
    return general(value)


def b64_sha256(data: bytes | bytearray | memoryview) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


# -- reading: ranged GETs --------------------------------------------------------------


class _RangedReader(io.RawIOBase):
    """The object from its first byte, one ranged GET of ``RANGE_BYTES`` at a time, read as it arrives
    (never a whole range in memory). Every range asks for the ETag the first one saw: an object replaced
    mid-read fails the read instead of splicing two objects. A dropped connection resumes where it was.
    The object's first bytes come from ``_HEADS`` when this process read them before under that ETag."""

    def __init__(self, source: S3Source) -> None:
        self.source, self.pos, self.etag = source, 0, ""
        self._body: Any = None
        self._range_end = 0
        with _CACHE_LOCK:
            kept = _HEADS.get(source.where)
        self._kept = kept[1] if kept is not None and source.etag and kept[0] == source.etag else b""
        if self._kept:
            self.etag = source.etag  # the ranges after it must be of the object it was read from
        self._head = bytearray()  # what this reader fetched of the start past what was kept, to keep too

    def readable(self) -> bool:
        return True

    def _open_range(self) -> None:
        end = min(self.pos + RANGE_BYTES, self.source.length) - 1
        kwargs: dict[str, Any] = {"Bucket": self.source.bucket, "Key": self.source.key,
                                  "Range": f"bytes={self.pos}-{end}"}
        if self.etag:
            kwargs["IfMatch"] = self.etag
        response = retrying(self.source.config, lambda: self.source.client.get_object(**kwargs))
        self.etag = self.etag or str(response.get("ETag", ""))
        self._body, self._range_end = response["Body"], end + 1

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self.pos >= self.source.length or not len(view):
            return 0
        if self.pos < len(self._kept):
            n = min(len(view), len(self._kept) - self.pos)
            view[:n] = self._kept[self.pos:self.pos + n]
            self.pos += n
            return n
        for attempt in range(4):
            try:
                if self._body is None:
                    self._open_range()
                data = self._body.read(min(len(view), self._range_end - self.pos))
            except S3Conflict:
                raise S3Unreachable(f"{self.source.where} was replaced while it was read (at byte "
                                    f"{self.pos:,}): read it again") from None
            except S3Missing:
                raise OSError(f"{self.source.where} was deleted while it was read") from None
            except BackupToolError:
                raise  # unreachable, refused: not the backup's fault, said as it is
            except Exception as exc:  # a connection dropped mid-body: a new range from here
                self._drop()
                if attempt == 3:
                    raise S3Unreachable(f"reading {self.source.where} failed at byte {self.pos:,}: "
                                        f"{said(exc)}") from None
                continue
            if not data:  # the range ended early: the store sent less than it said
                self._drop()
                if attempt == 3:
                    raise OSError(f"{self.source.where}: the store sent nothing at byte {self.pos:,}")
                continue
            view[: len(data)] = data
            if self.pos == len(self._kept) + len(self._head) < HEAD_KEEP:  # the start, read on from what is kept
                self._head += data[: HEAD_KEEP - self.pos]
            self.pos += len(data)
            if self.pos >= self._range_end:
                self._drop()
            return len(data)
        return 0

    def _drop(self) -> None:
        if self._body is not None:
            with contextlib.suppress(Exception):
                self._body.close()
        self._body = None

    def close(self) -> None:
        self._drop()
        if self._head and self.etag and self.etag == self.source.etag:
            start = self._kept + self._head
            with _CACHE_LOCK:
                kept = _HEADS.get(self.source.where)
                if kept is None or kept[0] != self.etag or len(kept[1]) < len(start):
                    _HEADS.clear()  # one object's: a restore reads one, and this bounds the memory
                    _HEADS[self.source.where] = (self.etag, bytes(start))
        super().close()


@dataclass
class S3Source:
    """One stored object, read with ranged GETs: what ``open_stored`` gives the decoder."""

    client: S3Client
    config: S3Config
    bucket: str
    key: str
    length: int = -1  # -1: not asked yet
    etag: str = ""  # the object's, from the same HEAD request

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def size(self) -> int | None:
        if self.length < 0:
            try:
                head = retrying(self.config, lambda: self.client.head_object(Bucket=self.bucket, Key=self.key))
            except S3Missing:
                return None
            self.length = int(head["ContentLength"])
            self.etag = str(head.get("ETag", ""))
        return self.length

    def open(self) -> BinaryIO:
        if self.size() is None:
            raise OSError(f"{self.where} is missing")
        return cast(BinaryIO, ReadAhead(cast(BinaryIO, _RangedReader(self))))


# -- the repository ----------------------------------------------------------------------


@dataclass
class _Folder:
    """The objects of one backup's place, as the listing found them: relative name -> (size, etag)."""

    prefix: str
    key: str
    day: str  # YYYY/MM/DD
    backup_id: str
    objects: dict[str, tuple[int, str]] = field(default_factory=dict)


_RECORDS: dict[tuple[str, str], object] = {}  # (key, etag) -> what it parsed to: written once, kept
# Listings read in full: by bucket and scope (one database's folder, or None: the whole bucket).
_LISTINGS: dict[tuple[str | None, str, str, str | None], tuple[float, list[BackupRecord] | BackupToolError]] = {}
_WRITES: dict[tuple[str | None, str, str], int] = {}  # our writes to a bucket so far: a listing older is not kept
_CACHE_LOCK = threading.Lock()
_HEADS: dict[str, tuple[str, bytes]] = {}  # s3://bucket/key -> (ETag, its first bytes): one object at a time


class S3Repository:
    name = NAME
    capabilities = Capabilities(rewrite=False, lock=True, object_lock=False, local_paths=False)

    def __init__(self, config: S3Config, client: S3Client | None = None, cache: RecordCache | None = None,
                 spill_dir: Path | None = None) -> None:
        self.config, self.bucket = config, config.bucket
        self.cache = cache  # records kept between runs on this host (see record_cache); None: this process only
        self.spill_dir = spill_dir  # where a stream's parts are filled (s3_upload.MultipartSink); None: $TMPDIR
        self._client = client
        self._listing_client = client  # one given (a test's) serves both
        self._client_lock = threading.Lock()

    @property
    def client(self) -> S3Client:
        with self._client_lock:
            if self._client is None:
                self._client = make_client(self.config)
            return self._client

    @property
    def listing_client(self) -> S3Client:
        """For the listings that wait ``LIST_PATIENCE_S`` at most: each call gives up after that long without a
        byte, once (``retrying`` tries again within the patience). A store that took connections and never answered
        held one page for botocore's 60 s read timeout three times over, and the app's catalog, its local backups
        too, waited minutes for it."""
        with self._client_lock:
            if self._listing_client is None:
                self._listing_client = make_client(self.config, read_timeout=LIST_PATIENCE_S, attempts=1)
            return self._listing_client

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.config.prefix + '/' if self.config.prefix else ''}"

    def _root(self) -> str:
        return f"{self.config.prefix}/" if self.config.prefix else ""

    # -- layout ------------------------------------------------------------

    def database_folder(self, database: str) -> str:
        """``<prefix>/<key>/``: where every backup of ``database`` lies."""
        return f"{self._root()}{folder_key(database)}/"

    def folder_of(self, database: str, created_at: str, backup_id: str) -> str:
        """``<prefix>/<key>/<YYYY>/<MM>/<DD>/<id>/``: from a record's database, start and id alone."""
        day = parse_utc(created_at).strftime("%Y/%m/%d")
        return f"{self.database_folder(database)}{day}/{backup_id}/"

    def folder(self, record: BackupRecord) -> str:
        if not is_backup_id(record.id):
            raise ConfigError(f"{record.id[:80]!r} is not a backup id: nothing in the bucket is touched")
        return self.folder_of(record.database, record.created_at, record.id)

    def data_key(self, record: BackupRecord) -> str:
        return self.folder(record) + stored_name(record)

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def forget_listing(self) -> None:
        """The next ``list`` reads the bucket (our own writes call this; so may a front end's refresh key)."""
        bucket = self._bucket_key()
        with _CACHE_LOCK:
            for key in [key for key in _LISTINGS if key[:3] == bucket]:
                del _LISTINGS[key]
            _WRITES[bucket] = _WRITES.get(bucket, 0) + 1

    def _bucket_key(self) -> tuple[str | None, str, str]:
        return self.config.endpoint_url, self.bucket, self.config.prefix

    def _cache_key(self, database: str | None = None) -> tuple[str | None, str, str, str | None]:
        return *self._bucket_key(), database

    # -- reading -----------------------------------------------------------

    def list(self, database: str | None = None) -> list[BackupRecord]:
        """Every backup's place in the bucket, paginated, its records read concurrently; kept LIST_TTL_S.
        ``database``: the places under its folder only, what a run for one database reads (a fleet's bucket
        holds every host's databases)."""
        cached = self.cached_list(database)
        if cached is not None:
            return cached
        return self.listing(database).read_all()

    def cached_list(self, database: str | None = None) -> builtins.list[BackupRecord] | None:
        """The records of a listing read in full less than LIST_TTL_S ago (its error, raised), else None. A whole
        listing serves one database's too."""
        scopes = [None] if database is None else [database, None]
        for scope in scopes:
            with _CACHE_LOCK:
                cached = _LISTINGS.get(self._cache_key(scope))
            if cached is None or time.monotonic() - cached[0] >= LIST_TTL_S:
                continue
            if isinstance(cached[1], BackupToolError):
                raise cached[1]  # said once, not waited for again by every list of one run
            records = list(cached[1])
            return records if scope == database else [r for r in records if r.database == database]
        return None

    def listing(self, database: str | None = None) -> S3Listing:
        """One pass of the paginated listing (``database``: of its folder only): every backup's place, nothing
        read yet (see ``S3Listing``)."""
        with _CACHE_LOCK:
            writes = _WRITES.get(self._bucket_key(), 0)
        prefix = self._root() if database is None else self.database_folder(database)
        try:
            folders = self._scan(prefix, patience=LIST_PATIENCE_S, partitioned=True)
        except BackupToolError as exc:
            with _CACHE_LOCK:
                _LISTINGS[self._cache_key(database)] = (time.monotonic(), exc)
            raise
        return S3Listing(self, fill_order(list(folders.values())), writes, database)

    def guard_records(self, record: BackupRecord, now: datetime) -> builtins.list[BackupRecord]:
        """``record``'s copy here and enough of its database's records to say what retention keeps of it
        (``core.retention.delete_guards``): read newest first until one outranks it, so a delete asked for while
        thousands of manifests are still being read waits for one database's listing and a read or two, not for
        the whole bucket. The full list when one is fresh; empty when the bucket has no copy."""
        cached = self.cached_list(record.database)
        if cached is not None:
            return cached
        folders = fill_order(list(self._scan(self.database_folder(record.database)).values()))
        places = [self._read_folder(f) for f in folders if f.backup_id == record.id]
        if not places:
            return []
        # Every place of the id, merged as the catalog merges copies, not the first place listed: a manifest copied
        # under another day was damaged, read first, and left the real backup unguarded against a delete.
        own = merge_copies(places)
        read = [own]
        if own.trusted and not own.dated_after(now):  # else retention's newest is another one: nothing to read
            for folder in folders:
                if folder.backup_id != own.id:
                    read.append(self._read_folder(folder))
                    if outranks(read[-1], own, now):
                        break
        return read

    def _listed(self, folder: _Folder) -> BackupRecord:
        """A place as the listing alone tells it: read in full when this process holds all its records already,
        else ``unread`` (or judged incomplete or damaged when the listing says enough). This host's cache is read
        by the fill, as the bucket is: 5,000 entries checked and parsed took 0.6 s before the first row showed."""
        with _CACHE_LOCK:
            held = all(key in _RECORDS for key in self._record_keys(folder))
        if held:
            return self._read_folder(folder)  # nothing to fetch or parse
        judged = self._judged_by_listing(folder, ())
        if judged is not None:
            return judged
        return replace(self._unreadable(folder, database_of_key(folder.key), (), NOT_READ, False), status="unread")

    def _record_keys(self, folder: _Folder) -> builtins.list[tuple[str, str]]:
        return [(folder.prefix + name, etag) for name, (_, etag) in folder.objects.items()
                if name == MANIFEST or (name.startswith((f"{PINS}/", f"{VERIFICATIONS}/")) and name.endswith(".json"))]

    def _scan(self, prefix: str, patience: float | None = None, *, partitioned: bool = False) -> dict[str, _Folder]:
        """Every backup's place under ``prefix``. ``partitioned`` (the root, or a database's folder): listed as one
        listing per database and year, ``concurrency`` at a time (``_partitions``): a store answers pages of one
        prefix one after another, and a listing of thousands waited for each in turn."""
        folders: dict[str, _Folder] = {}
        root = self._root()
        parts = self._partitions(prefix, patience) if partitioned else [prefix]
        with ThreadPoolExecutor(max_workers=self.config.concurrency, thread_name_prefix="s3-scan") as pool:
            listed = [item for pages in pool.map(lambda part: self._pages(part, patience), parts)
                      for page in pages for item in page.get("Contents", [])]
        for item in listed:
            key = item["Key"]
            match = _FOLDER.fullmatch(key[len(root):]) if key.startswith(root) else None
            if match is None:
                continue  # the lock objects, or what is not ours
            place = key[: len(key) - len(match["rest"])]
            folder = folders.setdefault(place, _Folder(place, match["key"], f"{match['y']}/{match['m']}/"
                                                       f"{match['d']}", match["id"]))
            folder.objects[match["rest"]] = (int(item.get("Size", 0)), str(item.get("ETag", "")))
        return folders

    def _partitions(self, prefix: str, patience: float | None) -> builtins.list[str]:
        """The prefixes a backup under ``prefix`` can sit under, one per database and year (``<root><key>/<YYYY>/``),
        found with the delimiter; a place of the layout is under exactly one, and what is outside them all is not
        ours."""
        def below(prefix: str) -> builtins.list[str]:
            return [p["Prefix"] for page in self._pages(prefix, patience, "/") for p in page.get("CommonPrefixes", [])]

        def years(key: str) -> builtins.list[str]:
            return [year for year in below(key) if _YEAR.fullmatch(year[len(key):])]

        with ThreadPoolExecutor(max_workers=self.config.concurrency, thread_name_prefix="s3-scan") as pool:
            keys = below(prefix) if prefix == self._root() else [prefix]
            return [year for found in pool.map(years, keys) for year in found]

    def _pages(self, prefix: str, patience: float | None, delimiter: str = "") -> builtins.list[Any]:
        """Every page of one listing of ``prefix`` (``delimiter``: its next level's prefixes, not its keys),
        retried as a whole while S3 is unreachable for ``patience`` seconds."""
        client = self.client if patience is None else self.listing_client
        paginator = client.get_paginator("list_objects_v2")
        extra: dict[str, Any] = {"Delimiter": delimiter} if delimiter else {}
        return retrying(self.config, lambda: list(paginator.paginate(Bucket=self.bucket, Prefix=prefix, **extra)),
                        patience=patience)

    def _get_bytes(self, key: str, limit: int) -> tuple[bytes, str]:
        """At most ``limit`` bytes of a small object, and the ETag of what was sent."""
        def get() -> tuple[bytes, str]:
            response = self.client.get_object(Bucket=self.bucket, Key=key, Range=f"bytes=0-{limit}")
            data = response["Body"].read(limit + 1)
            if len(data) > limit:
                raise InvalidRecord(f"{key.rsplit('/', 1)[-1]} is larger than {limit:,} bytes: not ours")
            return data, str(response.get("ETag", ""))

        return retrying(self.config, get)

    def _get_text(self, key: str, etag: str, limit: int) -> str:
        """A small text object; bytes that are not UTF-8 are no record of ours (InvalidRecord, as for a file on
        disk: one planted sidecar ended ``verify --all`` for every backup with a UnicodeDecodeError)."""
        try:
            return self._get_bytes(key, limit)[0].decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRecord(f"{key.rsplit('/', 1)[-1]} is not UTF-8 text: not ours") from None

    def _record(self, key: str, etag: str, parse: Callable[[object], T], limit: int = RECORD_LIMIT) -> T:
        """A small record, parsed once per (key, ETag): written once, it never changes under that tag."""
        with _CACHE_LOCK:
            found = _RECORDS.get((key, etag))
        if found is None:
            found = self._parsed(key, etag, parse, limit)
            with _CACHE_LOCK:
                _RECORDS[(key, etag)] = found
        if isinstance(found, InvalidRecord):
            raise found
        return cast(T, found)

    def _parsed(self, key: str, etag: str, parse: Callable[[object], T], limit: int) -> T | InvalidRecord:
        """From this host's cache when it holds the bytes, else from the bucket (and then kept); parsed and
        validated the same way from either. A cached entry that does not parse is dropped and read again."""
        kept = self.cache.get(key, etag, limit) if self.cache is not None else None
        if kept is not None:
            try:
                return parse(load_json(kept.decode("utf-8")))
            except (ValueError, InvalidRecord):
                assert self.cache is not None
                self.cache.drop(key, etag)
        try:
            data, sent = self._get_bytes(key, limit)
        except InvalidRecord as exc:
            return exc
        if self.cache is not None and sent == etag:  # replaced since it was listed: not kept under the old tag
            self.cache.put(key, etag, data)
        try:
            return parse(load_json(data.decode("utf-8")))
        except InvalidRecord as exc:
            return exc
        except ValueError:
            return InvalidRecord(f"{key.rsplit('/', 1)[-1]} is not JSON")

    def _judged_by_listing(self, folder: _Folder, history: tuple[Verification, ...]) -> BackupRecord | None:
        """What the listing alone proves wrong with a place (no manifest, a name or size not ours), else None."""
        database = database_of_key(folder.key)
        if not is_backup_id(folder.backup_id):
            return self._unreadable(folder, database, history, "folder name is not a backup id", True)
        if self.folder_of(database, utc_iso(_started(folder)), folder.backup_id) != folder.prefix:
            # Every act on a place goes by the layout (``folder``): one whose id's day or database key is not its
            # own would have a delete, a verdict or a pin land on another place, a real backup of that id.
            return self._unreadable(folder, database, history, NOT_IN_LAYOUT, True)
        if MANIFEST not in folder.objects:
            # Never committed: the sidecar goes up just before the manifest, so a run killed between the two left
            # it. Incomplete (prune removes it once lock_ttl_seconds is past), not damaged: read as damaged, a
            # streamed backup's leftover was kept for ever, failed every verify --all and warned in monitor.
            finished = any(name.endswith(".sha256") for name in folder.objects)
            why = "manifest missing: the upload did not finish" if finished else "manifest missing"
            return self._unreadable(folder, database, history, why, False)
        if folder.objects[MANIFEST][0] > MAX_RECORD_BYTES:
            return self._unreadable(folder, database, history, "manifest unreadable: too large to be ours", True)
        return None

    def _read_folder(self, folder: _Folder) -> BackupRecord:
        return own_history(self._read_folder_records(folder))

    def _read_folder_records(self, folder: _Folder) -> BackupRecord:
        history = self._history(folder)
        database = database_of_key(folder.key)
        judged = self._judged_by_listing(folder, history)
        if judged is not None:
            return judged
        etag = folder.objects[MANIFEST][1]
        try:
            record = self._record(folder.prefix + MANIFEST, etag, lambda data: _parse(data, folder.backup_id),
                                  MAX_RECORD_BYTES)
        except InvalidRecord as exc:
            return self._unreadable(folder, database, history, exc.message, True)
        except BackupToolError as exc:
            return self._unreadable(folder, database, history, f"manifest unreadable: {exc.message}", True)
        if folder.prefix != self.folder_of(record.database, record.created_at, record.id):
            return self._unreadable(folder, database, history, f"manifest names database {record.database!r} "
                                    "and a start that are not those of its place in the bucket", True)
        found = replace(record, path=self.url(folder.prefix + stored_name(record)), locations=(NAME,),
                        pinned=self._pinned(folder, record.pinned), verifications=history)
        size = folder.objects.get(stored_name(record), (None, ""))[0]
        if size != record.stored_bytes:  # the listing says it: a manifest alone is no copy
            where = "missing" if size is None else f"{size:,} bytes, not the manifest's {record.stored_bytes:,}"
            return replace(found, status="damaged", reason=f"{DATA_NOT_AS_LISTED}{where}")
        return found

    def _history(self, folder: _Folder) -> tuple[Verification, ...]:
        found = []
        for name, (_, etag) in sorted(folder.objects.items()):
            if name.startswith(f"{VERIFICATIONS}/") and name.endswith(".json"):
                with contextlib.suppress(InvalidRecord, BackupToolError):
                    found.append((name, self._record(folder.prefix + name, etag, parse_verification)))
        return history_order(found, datetime.now(UTC))

    def _pinned(self, folder: _Folder, from_manifest: bool) -> bool:
        """The newest pin record's word. Only our record names count (a ``pins/zz.json`` would sort after every
        one); one that is not a pin record is skipped; one that cannot be fetched (the store did not answer)
        counts as a pin: a delete must not go ahead on a pin it failed to read."""
        for name, (_, etag) in sorted(folder.objects.items(), reverse=True):
            if _PIN_NAME.fullmatch(name):
                try:
                    return self._record(folder.prefix + name, etag, parse_pin)
                except InvalidRecord:
                    continue
                except BackupToolError:
                    return True
        return from_manifest

    def _unreadable(self, folder: _Folder, database: str, history: tuple[Verification, ...], problem: str,
                    damaged: bool) -> BackupRecord:
        """A place listed for what its key says, nothing taken from its objects: its id, database, day, size."""
        data = next((n for n in folder.objects if n.startswith(folder.backup_id) and not n.endswith(".sha256")),
                    f"{folder.backup_id}{SUFFIXES['custom', 'zstd']}")
        return BackupRecord(
            id=folder.backup_id, database=database, created_at=utc_iso(_started(folder)), finished_at="",
            duration_s=0.0,
            format="custom", compression="zstd", raw_bytes=0, stored_bytes=folder.objects.get(data, (0, ""))[0],
            sha256="", file_name=data, status="damaged" if damaged else "incomplete",
            path=self.url(folder.prefix + data), reason=problem, verifications=history, host="", locations=(NAME,),
        )

    def last_written(self, record: BackupRecord) -> datetime | None:
        """When the newest object of the record's place was written; None when the place holds none now."""
        return max((item["LastModified"] for page in self._pages(self.folder(record), None)
                    for item in page.get("Contents", []) if isinstance(item.get("LastModified"), datetime)),
                   default=None)

    def refresh(self, record: BackupRecord) -> BackupRecord:
        prefix = self.folder(record)
        folders = self._scan(prefix)
        if prefix not in folders:
            raise BackupToolError(f"{record.id}: no longer in {self.where}")
        return self._read_folder(folders[prefix])

    def holds(self, record: BackupRecord) -> bool:
        try:
            return bool(self._scan(self.folder(record)))
        except BackupToolError:
            return False

    def has_manifest(self, record: BackupRecord) -> bool:
        """The backup reached the bucket: its commit point, the manifest, is there."""
        folder = self._scan(self.folder(record)).get(self.folder(record))
        return folder is not None and MANIFEST in folder.objects

    def open_stored(self, record: BackupRecord) -> S3Source:
        return S3Source(self.client, self.config, self.bucket, self.data_key(record))  # its size: the store's word

    def read_sidecar(self, record: BackupRecord) -> str | None:
        key = self.data_key(record) + ".sha256"
        folder = self._scan(self.folder(record)).get(self.folder(record))
        if folder is None or key[len(folder.prefix):] not in folder.objects:
            return None
        return self._get_text(key, "", RECORD_LIMIT)

    # -- writing -----------------------------------------------------------

    def extra_args(self) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.config.storage_class:
            extra["StorageClass"] = self.config.storage_class
        if self.config.sse:
            extra["ServerSideEncryption"] = self.config.sse
        if self.config.sse_kms_key_id:
            extra["SSEKMSKeyId"] = self.config.sse_kms_key_id
        return extra

    def sink_for(self, key: str, on_sent: Callable[[int], None] = lambda n: None,
                 size: int | None = None) -> MultipartSink:
        """A stream into ``key`` (storage.s3_upload); ``size``, when known, decides multipart up front."""
        from backup_tui.engine.storage.s3_upload import MultipartSink

        return MultipartSink(self.client, self.config, self.bucket, key, self.extra_args(), on_sent, size_hint=size,
                             spill_dir=self.spill_dir)

    def send_file(self, key: str, src: BinaryIO, *, on_sent: Callable[[int], None] = lambda n: None,
                  cancel: CancelToken | None = None, expected_sha256: str = "") -> FileUploaded:
        """A local file into ``key`` in ranges read from disk as they are sent (storage.s3_upload.upload_file)."""
        from backup_tui.engine.storage.s3_upload import upload_file

        try:
            return upload_file(self.client, self.config, self.bucket, key, src, extra=self.extra_args(),
                               on_sent=on_sent, cancel=cancel, expected_sha256=expected_sha256)
        finally:
            self.forget_listing()

    def put_small(self, key: str, text: str, *, once: bool = False) -> None:
        """A small object; ``once``: only if nothing is there yet (a conditional write where the store has it)."""
        data = text.encode()
        kwargs: dict[str, Any] = {"IfNoneMatch": "*"} if once else {}
        try:
            retrying(self.config, lambda: self.client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ChecksumAlgorithm="SHA256", ChecksumSHA256=b64_sha256(data),
                **kwargs, **self.extra_args()))
        except S3Conflict:
            raise BackupToolError(f"{self.url(key)} exists already: it is not written over") from None
        self.forget_listing()

    def abort_unfinished(self, key: str) -> int:
        """Abort the multipart uploads a failed run left for ``key``; how many there were."""
        return len(self._abort_uploads(key, lambda upload: upload.get("Key") == key))

    def abort_abandoned(self, database: str, now: datetime) -> builtins.list[str]:
        """Abort the multipart uploads under ``database``'s folder begun more than ``lock_ttl_seconds`` before
        ``now``: a run killed mid-upload (a backup streamed to the bucket, whose random id no later upload sends
        again) left them, and the store keeps, and bills, their parts until they are aborted. A younger one may be
        an upload under way on some host, as for a place without its manifest. The keys aborted."""
        prefix, older = self.database_folder(database), now - timedelta(seconds=self.config.lock_ttl_seconds)
        return self._abort_uploads(prefix, lambda upload: "Initiated" in upload and upload["Initiated"] < older)

    def _abort_uploads(self, prefix: str, chosen: Callable[[MultipartUploadTypeDef], bool]) -> builtins.list[str]:
        """Abort the multipart uploads under ``prefix`` that ``chosen`` picks, from every page; their keys. A key the
        store lists outside ``prefix`` is never touched."""
        def uploads() -> builtins.list[tuple[str, str]]:
            found: builtins.list[tuple[str, str]] = []
            for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=prefix):
                found += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])
                          if u.get("Key", "").startswith(prefix) and chosen(u)]
            return found

        aborted = []
        for key, upload_id in retrying(self.config, uploads):
            retrying(self.config, lambda k=key, u=upload_id: self.client.abort_multipart_upload(  # type: ignore[misc]
                Bucket=self.bucket, Key=k, UploadId=u))
            aborted.append(key)
        return aborted

    def commit(self, record: BackupRecord, *, manifest_there: bool = False) -> BackupRecord:
        """The sidecar, then the manifest, last and only if none is there: from then on it is a backup here.
        ``manifest_there``: the data of a backup whose manifest (of these very bytes) is here already was sent
        again; the manifest is written once, and stays."""
        folder = self.folder(record)
        self.put_small(self.data_key(record) + ".sha256", sidecar_text(record.sha256, stored_name(record)))
        body = replace(record, file_name=stored_name(record), locations=(NAME,))
        if not manifest_there:
            self.put_small(folder + MANIFEST, body.manifest_json(), once=True)
        return replace(body, status="valid", path=self.url(self.data_key(record)), verifications=record.verifications)

    def new_backup(self, database: str, moment: datetime) -> S3BackupWriter:
        stamp = moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        backup_id = f"{id_prefix(database)}-{stamp}-{''.join(secrets.choice(ID_LETTERS) for _ in range(4))}"
        return S3BackupWriter(self, backup_id, database, moment)

    def delete(self, record: BackupRecord) -> None:
        """Every version of every object of the backup (a versioned bucket keeps them otherwise). Versions
        that object lock protects are refused by the store: said in one line, the rest deleted."""
        folder = self.folder(record)

        def versions() -> list[dict[str, str]]:
            found: list[dict[str, str]] = []
            paginator = self.client.get_paginator("list_object_versions")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=folder):
                for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                    found.append({"Key": item["Key"], "VersionId": item.get("VersionId") or "null"})
            return found

        listed = retrying(self.config, versions)
        # The manifest's versions go first, in a request of their own: a run killed between requests (a backup
        # of more than 1,000 versions) leaves a place without its manifest, incomplete and removed by the next
        # prune, not a manifest without its data, damaged and kept for a person for good.
        commits = [t for t in listed if t["Key"] == f"{folder}{MANIFEST}"]
        rest = [t for t in listed if t["Key"] != f"{folder}{MANIFEST}"]
        batches = [commits[i:i + 1000] for i in range(0, len(commits), 1000)]
        batches += [rest[i:i + 1000] for i in range(0, len(rest), 1000)]
        refused: list[str] = []
        for batch in batches:
            response = retrying(self.config, lambda b=batch: self.client.delete_objects(  # type: ignore[misc]
                Bucket=self.bucket, Delete={"Objects": b, "Quiet": True}, BypassGovernanceRetention=False))
            refused += [f"{e.get('Key', '?')} ({e.get('Code', '?')})" for e in response.get("Errors", [])]
        self.forget_listing()
        if refused:
            raise ObjectLocked(f"{record.id}: {len(refused)} object version(s) in {self.where} not deleted, "
                               f"object lock or permissions keep them: {refused[0]}")

    def retained(self, record: BackupRecord, now: datetime) -> tuple[str, ...]:
        """The backup's object versions that object lock keeps past ``now`` ("key (MODE until DATE)"): what a
        delete will leave, said before it runs. One call when the bucket has no lock configured."""
        try:
            setup = retrying(self.config, lambda: self.client.get_object_lock_configuration(Bucket=self.bucket))
        except S3Unreachable:
            raise  # said as every unreachable store is: a raw connection error left the app's d silent
        except BackupToolError:
            return ()  # no object lock on this bucket (or no right to read it: the delete will say)
        if setup.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") != "Enabled":
            return ()
        kept: list[str] = []
        paginator = self.client.get_paginator("list_object_versions")
        for page in retrying(self.config, lambda: [*paginator.paginate(Bucket=self.bucket,
                                                                          Prefix=self.folder(record))]):
            for item in page.get("Versions", []):
                # HEAD carries the version's retention (GetObjectRetention is missing or broken on some stores)
                try:
                    found = retrying(self.config, lambda i=item: self.client.head_object(  # type: ignore[misc]
                        Bucket=self.bucket, Key=i["Key"], VersionId=i["VersionId"]))
                except BackupToolError:
                    continue  # not readable to us: the delete itself will say what the store keeps
                until = found.get("ObjectLockRetainUntilDate")
                if isinstance(until, datetime) and until > now:
                    name = item["Key"].rsplit("/", 1)[-1]
                    kept.append(f"{name} ({str(found.get('ObjectLockMode', '?')).lower()} until {utc_iso(until)})")
        return tuple(kept)

    def set_pinned(self, record: BackupRecord, pinned: bool) -> BackupRecord:
        reason = pin_refusal(record)
        if reason is not None:
            raise ConfigError(reason)
        prefix, now = self.folder(record), datetime.now(UTC)
        # Named after every record there (one of a host whose clock is ahead included): the newest name is the word.
        there = self._scan(prefix).get(prefix, _Folder(prefix, "", "", ""))
        named = [datetime.strptime(m[1], "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC) + timedelta(microseconds=1)
                 for m in map(_PIN_NAME.fullmatch, there.objects) if m]
        moment = max([now, *named])
        self.put_small(f"{prefix}{PINS}/{_record_name(moment)}",
                       json.dumps({"pinned": pinned, "at": utc_iso(now)}) + "\n", once=True)
        after = self._scan(prefix).get(prefix, there)
        if self._pinned(after, record.pinned) != pinned:  # read back: what prune will read is what we say
            raise BackupToolError(pin_not_taken(record, pinned, f"{self.url(prefix + PINS)}/"))
        return replace(record, pinned=pinned)

    def add_verification(self, record: BackupRecord, result: Verification, report: str) -> Path:
        folder, now = self.folder(record), datetime.now(UTC)
        name = _record_name(now)
        self.put_small(f"{folder}{VERIFICATIONS}/{name}", json.dumps(result.to_json(), sort_keys=True) + "\n",
                       once=True)
        report_key = f"{folder}{REPORTS}/verify-{name.removesuffix('.json')}-{result.level}.txt"
        self.put_small(report_key, report, once=True)
        return Path(self.url(report_key))


def _started(folder: _Folder) -> datetime:
    """When a place's backup began, as its id says (its folder's day, for an id without the second in it)."""
    match = ID_STAMP.search(folder.backup_id)
    # A stamp or day that is no time records are dated at (month 13, the year 9999) is none: the place is then
    # not where the layout puts it (damaged), where it stopped every listing of the bucket.
    return ((dated(match[1], "%Y%m%dT%H%M%SZ") if match else None) or dated(folder.day, "%Y/%m/%d")
            or datetime(YEARS[0], 1, 1, tzinfo=UTC))


NOT_READ = "manifest not read yet"
NOT_IN_LAYOUT = "not where the layout puts it: its database or day is not that of its id"
# A manifest whose data object the listing finds missing, or of another size: damaged, and no copy in the bucket
# (a prune deleted the only good copy, the local one, on the word of a manifest alone); ``upload`` sends it again.
DATA_NOT_AS_LISTED = "its data object is "


@dataclass
class S3Listing:
    """One pass of a bucket's listing. ``quick``: every backup at once from what the listing tells (its id, and so
    its start, database and size), ``unread`` until its manifest is read: nothing is valid before that. ``fill``:
    each place's full record as it is read, in ``folders``' order; once all are read, what ``list`` returns."""

    repo: S3Repository
    folders: list[_Folder]
    writes: int = 0  # our writes to the bucket before it was listed: one since, and it is not kept as fresh
    database: str | None = None  # listed under this database's folder only; None: the whole bucket

    def quick(self) -> list[BackupRecord]:
        return [self.repo._listed(folder) for folder in self.folders]

    def fill(self, cancelled: Callable[[], bool] = lambda: False) -> Generator[tuple[int, BackupRecord]]:
        """(index in ``folders``, full record) as each is read, ``concurrency`` at a time. Stopping early (the
        generator closed, or ``cancelled``) cancels what has not started."""
        pool = ThreadPoolExecutor(max_workers=self.repo.config.concurrency, thread_name_prefix="s3-list")
        records: list[BackupRecord | None] = [None] * len(self.folders)
        try:
            futures = {pool.submit(self.repo._read_folder, folder): i for i, folder in enumerate(self.folders)}
            for future in as_completed(futures):
                if cancelled():
                    return
                index, record = futures[future], future.result()
                records[index] = record
                yield index, record
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        done = [r for r in records if r is not None]
        with _CACHE_LOCK:
            if len(done) == len(records) and _WRITES.get(self.repo._bucket_key(), 0) == self.writes:
                _LISTINGS[self.repo._cache_key(self.database)] = (time.monotonic(), done)
        # This host's cache is swept by whole listings only: one database's says nothing of the others' records.
        if len(done) == len(records) and self.database is None and self.repo.cache is not None:
            self.repo.cache.keep_only({k for folder in self.folders for k in self.repo._record_keys(folder)})

    def read_all(self) -> list[BackupRecord]:
        records: list[BackupRecord | None] = [None] * len(self.folders)
        for index, record in self.fill():
            records[index] = record
        return [r for r in records if r is not None]


def fill_order(folders: list[_Folder]) -> list[_Folder]:
    """Newest first, the newest of every database before any database's second: the dashboard and the top rows
    are what the operator reads first."""
    def start(folder: _Folder) -> str:
        match = ID_STAMP.search(folder.backup_id)
        return match[1] if match else folder.day.replace("/", "")

    by_database: dict[str, list[_Folder]] = {}
    for folder in sorted(folders, key=start, reverse=True):
        by_database.setdefault(folder.key, []).append(folder)
    newest_first = sorted(((rank, f) for group in by_database.values() for rank, f in enumerate(group)),
                          key=lambda item: start(item[1]), reverse=True)
    return [f for _, f in sorted(newest_first, key=lambda item: item[0])]  # stable: newest first in each round


class ObjectLocked(BackupToolError):
    """The store kept versions that object lock (or a policy) protects: reported, not a failed prune."""


@dataclass
class S3BackupWriter:
    """A backup streamed straight to the bucket (keep_local = false): the bytes, then the commit."""

    repo: S3Repository
    id: str
    database: str
    moment: datetime
    _sink: MultipartSink | None = None
    file_name: str = ""

    def __post_init__(self) -> None:
        self.file_name = f"{self.id}{SUFFIXES['custom', 'zstd']}"

    def _key(self) -> str:
        return self.repo.folder_of(self.database, utc_iso(self.moment, milliseconds=True), self.id) + self.file_name

    def sink(self) -> MultipartSink:
        self._sink = self.repo.sink_for(self._key())
        return self._sink

    def commit(self, record: BackupRecord) -> BackupRecord:
        return self.repo.commit(record)

    def abandon(self) -> None:
        if self._sink is not None:
            self._sink.abort()
        with contextlib.suppress(BackupToolError):
            self.repo.delete(replace(_stub(self.id, self.database, self.moment)))


def _stub(backup_id: str, database: str, moment: datetime) -> BackupRecord:
    return BackupRecord(id=backup_id, database=database, created_at=utc_iso(moment, milliseconds=True),
                        finished_at="", duration_s=0.0, format="custom", compression="zstd", raw_bytes=0,
                        stored_bytes=0, sha256="", file_name="")


def stored_name(record: BackupRecord) -> str:
    """The data object's name: ``<id>`` and the suffix of its kind (the old scripts' dumps too)."""
    suffix = SUFFIXES.get((record.format, record.compression))
    if suffix is None:
        raise ConfigError(f"{record.id}: a {record.format}/{record.compression} backup has no place in S3")
    return f"{record.id}{suffix}"


def _parse(data: object, backup_id: str) -> BackupRecord:
    kind = (data.get("format"), data.get("compression")) if isinstance(data, dict) else None
    suffix = SUFFIXES.get(kind) if kind else None  # type: ignore[arg-type]
    return parse_manifest(data, expected_id=backup_id, data_suffix=suffix or SUFFIXES["custom", "zstd"],
                          default_host="")


_PIN_NAME = re.compile(rf"{PINS}/(\d{{8}}T\d{{6}}\.\d{{6}}Z)-[^/]{{0,40}}-[0-9a-f]{{8}}\.json")  # _record_name's


def _record_name(moment: datetime) -> str:
    """Sortable by time, unique without asking: two hosts writing in one millisecond differ in the end."""
    return f"{moment.strftime('%Y%m%dT%H%M%S.%fZ')}-{this_host()[:40]}-{secrets.token_hex(4)}.json".replace("/", "_")



def probe(config: S3Config, patience: float = 10.0) -> str:
    """``config check``'s line for the bucket: one list call tells no credentials, wrong credentials, a
    missing bucket, no permission and an unreachable endpoint apart (each raised as its one line)."""
    repo = S3Repository(config)
    retrying(config, lambda: repo.client.list_objects_v2(Bucket=config.bucket, Prefix=repo._root(), MaxKeys=1),
             patience=patience)
    return f"{repo.where} readable ({config.endpoint_url or 'AWS'})"
