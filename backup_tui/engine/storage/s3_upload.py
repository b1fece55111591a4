"""Bytes into a bucket, two ways over one machinery (``_Upload``: parts sent by a pool with their SHA-256,
completion, the store's size and checksums held against what was sent, abort on any failure):

- ``MultipartSink``: a stream of unknown size (a backup written straight to S3). Each part is filled in a
  temporary file of its own, hashed as it is written and sent read from the file: no part is held in memory,
  whatever the part size, and at most SPILL_DISK of parts are in flight.
- ``upload_file``: a finished local file (``ops.upload``). Parts are ranges of the file, hashed as it is
  read once in order and sent read from disk again, so ``concurrency`` parts are in flight with next to
  no memory, as boto3's ``upload_file`` does. The file must not change on the way: its sha256 against the
  manifest's, and its size, inode and mtime before and after, are checked before the object is completed.

Part sizes and how many are in flight come from ``core.parts``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

from backup_tui.engine.config import S3Config
from backup_tui.engine.core.errors import VerificationError
from backup_tui.engine.core.parts import MIB, file_part_size, parts_in_flight, stream_part_size
from backup_tui.engine.core.progress import CancelToken
from backup_tui.engine.storage.s3 import b64_sha256, retrying

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# A stream's parts are filled in temporary files (``spill_dir``: the repository's tmp/, unlinked at once) and
# sent read from them, as a local file's ranges are. Held in memory, three 16 MiB parts took 48 MB of a
# streamed backup's 190 MB, and past 2,000 parts (31 GiB stored) a stream's parts double to stay within S3's
# 10,000, and memory grew with them: zstd's level 9 and encryption brought it to 266 MB. So much of them
# may be in flight at once (at least one part), besides the one being filled.
SPILL_DISK = 256 << 20
# A stream of unknown size is one PUT if it ends within this much (and the threshold): waiting longer to
# find out would hold its upload back behind the dump (a 155 MB backup would send 100 MiB only at its end).
DECIDE_WITHIN = 32 << 20
READ_BLOCK = 1 << 20  # the file path reads and hashes in blocks of this size (one reused buffer)
SPILL_HASH_BLOCK = 256 << 10  # each worker hashing a spilled part reads it back in blocks of this size


@dataclass
class UploadedPart:
    number: int
    size: int
    sha256_b64: str
    etag: str = ""


class _Body(Protocol):
    """What botocore sends: a seekable reader with a length (re-read from the start on a retry)."""

    def __len__(self) -> int: ...
    def read(self, n: int = -1) -> bytes: ...
    def seek(self, pos: int, whence: int = 0) -> int: ...
    def tell(self) -> int: ...


class _Seekable:
    length = 0
    pos = 0

    def __len__(self) -> int:
        return self.length

    def tell(self) -> int:
        return self.pos

    def seek(self, pos: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.length}[whence]
        self.pos = max(0, min(self.length, base + pos))
        return self.pos

    def _span(self, n: int) -> int:
        return self.length - self.pos if n is None or n < 0 else min(n, self.length - self.pos)


class _FileRange(_Seekable):
    """``length`` bytes of an open file from ``offset``, read from disk as botocore sends them (``pread``:
    the workers share one descriptor without moving each other's position)."""

    def __init__(self, fd: int, offset: int, length: int) -> None:
        self.fd, self.offset, self.length = fd, offset, length

    def read(self, n: int = -1) -> bytes:
        span = self._span(n)
        if span <= 0:
            return b""
        data = os.pread(self.fd, span, self.offset + self.pos)
        if not data:
            raise OSError(f"the file ended at byte {self.offset + self.pos:,} while it was sent (it shrank)")
        self.pos += len(data)
        return data


class _Chain(_Seekable):
    """Ranges of files read one after another: the parts of a stream that ended below the threshold, sent in
    one PUT."""

    def __init__(self, ranges: list[_FileRange]) -> None:
        self.ranges = ranges
        self.length = sum(len(r) for r in ranges)

    def read(self, n: int = -1) -> bytes:
        span, out, at = self._span(n), [], 0
        for piece in self.ranges:
            if span <= 0:
                break
            if self.pos < at + len(piece):
                piece.seek(self.pos - at)
                data = piece.read(span)
                out.append(data)
                self.pos += len(data)
                span -= len(data)
            at += len(piece)
        return b"".join(out) if len(out) != 1 else out[0]


class _SpilledPart:
    """A part filled in a temporary file (unlinked at once, gone with its descriptor) and sent read from it: a
    large part costs disk, not memory. Its SHA-256 is taken by the worker that sends it, read back from the
    page cache, not by the thread that feeds zstd."""

    def __init__(self, size: int, folder: Path | None) -> None:
        self.file = _temporary(folder)
        self.fd, self.size, self.filled = self.file.fileno(), size, 0

    def write(self, view: memoryview) -> int:
        """Up to what the part still takes of ``view``; how much it took."""
        piece = view[:self.size - self.filled]
        written = 0
        while written < len(piece):
            written += os.write(self.fd, piece[written:])
        self.filled += len(piece)
        return len(piece)

    @property
    def full(self) -> bool:
        return self.filled == self.size

    def body(self) -> _FileRange:
        return _FileRange(self.fd, 0, self.filled)

    def digest(self) -> str:
        return _hash_range(self.fd, 0, self.filled, None, bytearray(SPILL_HASH_BLOCK))

    def close(self) -> None:
        self.file.close()


def _temporary(folder: Path | None) -> BinaryIO:
    """An unlinked file in ``folder`` (made if missing), else in $TMPDIR where ``folder`` cannot take one or
    is a link (planted as the repository's tmp/, it would take the parts wherever it points)."""
    if folder is not None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if not folder.is_symlink():
                return tempfile.TemporaryFile(prefix="backup-tui-part-", dir=folder)  # lives until sent
        except OSError:
            pass
    return tempfile.TemporaryFile(prefix="backup-tui-part-")


@dataclass
class _Upload:
    """One object on its way: one PUT, or a multipart upload whose parts a pool sends, never more at once
    than ``core.parts.parts_in_flight`` allows within ``budget`` (None: parts read from a file as they are
    sent, a local backup's, take no room of their own). Every part goes with
    its SHA-256; ``finish`` completes and proves the object; ``abort`` leaves no part behind."""

    client: S3Client
    config: S3Config
    bucket: str
    key: str
    extra: dict[str, Any]
    on_sent: Callable[[int], None]
    budget: int | None
    upload_id: str = ""
    parts: list[UploadedPart] = field(default_factory=list)
    _pool: ThreadPoolExecutor | None = None
    _pending: list[Future[UploadedPart]] = field(default_factory=list)
    _room: threading.Condition = field(default_factory=threading.Condition)
    _in_flight: int = 0
    _sent: int = 0
    put_done: bool = False  # one PUT wrote the object: an abort deletes it (it has no manifest, it is no backup)

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def start(self) -> None:
        response = retrying(self.config, lambda: self.client.create_multipart_upload(
            Bucket=self.bucket, Key=self.key, ChecksumAlgorithm="SHA256", **self.extra))
        self.upload_id = response["UploadId"]
        self._pool = ThreadPoolExecutor(max_workers=self.config.concurrency, thread_name_prefix="s3-part")

    def put_whole(self, body: _Body, digest: str) -> None:
        """The object in one PUT (below the threshold)."""
        def put() -> object:
            body.seek(0)
            return self.client.put_object(Bucket=self.bucket, Key=self.key, Body=body,  # type: ignore[arg-type]
                                          ChecksumAlgorithm="SHA256", ChecksumSHA256=digest, **self.extra)
        retrying(self.config, put)
        self.put_done = True
        self.parts = [UploadedPart(1, len(body), digest)]
        self.on_sent(len(body))

    def send(self, body: _Body, digest: str | Callable[[], str], done: Callable[[], None] = lambda: None) -> None:
        """Part ``len(parts sent so far) + 1``, sent by the pool once there is room; ``digest`` (its SHA-256,
        or how the worker computes it); ``done`` runs when the part is no longer needed (sent or failed),
        before its room is given back."""
        assert self._pool is not None, "start() first"
        number = len(self._pending) + 1
        with self._room:
            while self._in_flight >= parts_in_flight(len(body), self.config.concurrency, self.budget):
                self._room.wait()
            self._failed_early()
            self._in_flight += 1
        try:
            self._pending.append(self._pool.submit(self._send_part, number, body, digest, done))
        except BaseException:
            self._release(done)
            raise

    def _failed_early(self) -> None:
        for future in self._pending:
            if future.done() and future.exception() is not None:
                future.result()

    def _release(self, done: Callable[[], None]) -> None:
        done()
        with self._room:
            self._in_flight -= 1
            self._room.notify_all()

    def _send_part(self, number: int, body: _Body, digest_of: str | Callable[[], str],
                   done: Callable[[], None]) -> UploadedPart:
        try:
            digest = digest_of if isinstance(digest_of, str) else digest_of()
            def put() -> Any:
                body.seek(0)
                return self.client.upload_part(
                    Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number,
                    Body=body, ChecksumAlgorithm="SHA256", ChecksumSHA256=digest)  # type: ignore[arg-type]
            response = retrying(self.config, put)
            returned = response.get("ChecksumSHA256")
            if returned and returned != digest:
                raise VerificationError(f"{self.key}: the store's checksum of part {number} differs from ours")
            with self._room:
                self._sent += len(body)
                sent = self._sent
            self.on_sent(sent)
            return UploadedPart(number, len(body), digest, str(response["ETag"]))
        finally:
            self._release(done)

    def wait_parts(self) -> None:
        """Every part sent (the first failure raised)."""
        self.parts = [f.result() for f in self._pending]

    def finish(self, total: int) -> None:
        """Complete the multipart upload (its parts all sent), then prove the object as stored."""
        if self.upload_id:
            self.wait_parts()
            retrying(self.config, lambda: self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                MultipartUpload={"Parts": [{"PartNumber": p.number, "ETag": p.etag,
                                            "ChecksumSHA256": p.sha256_b64} for p in self.parts]}))
        self.shutdown()
        self.check_stored(total)

    def expected_checksum(self) -> str:
        """What the store should report for the whole object: the digest for one PUT, else the digest of
        the parts' digests (S3's composite checksum)."""
        if not self.upload_id:
            return self.parts[0].sha256_b64
        joined = b"".join(base64.b64decode(p.sha256_b64) for p in self.parts)
        return b64_sha256(joined)

    def check_stored(self, total: int) -> None:
        """The object as the store reports it, held against what we sent: size, whole checksum, each part's."""
        head = retrying(self.config, lambda: self.client.head_object(
            Bucket=self.bucket, Key=self.key, ChecksumMode="ENABLED"))
        if int(head["ContentLength"]) != total:
            raise VerificationError(f"{self.where}: the store holds {head['ContentLength']} bytes, {total} were sent")
        reported = str(head.get("ChecksumSHA256") or "").split("-")[0]
        if reported and reported != self.expected_checksum():
            raise VerificationError(f"{self.where}: the store's SHA-256 differs from the bytes sent")
        # The composite checksum is the digest of every part's: matching, it vouches for each part. A store
        # that reports none is asked part by part.
        if self.upload_id and not reported:
            for part in self.parts:
                got = retrying(self.config, lambda p=part: self.client.head_object(  # type: ignore[misc]
                    Bucket=self.bucket, Key=self.key, PartNumber=p.number, ChecksumMode="ENABLED"))
                said_sum = got.get("ChecksumSHA256")
                if int(got["ContentLength"]) != part.size or (said_sum and said_sum != part.sha256_b64):
                    raise VerificationError(f"{self.where}: part {part.number} as stored differs from the part sent")

    def abort(self) -> None:
        """No orphan parts: the multipart upload is aborted (tried for retry_seconds; a store still down
        then leaves it to the next upload of this key, which aborts what it finds first)."""
        self.shutdown(cancel=True)
        if self.put_done:
            self.put_done = False
            with contextlib.suppress(Exception):
                retrying(self.config, lambda: self.client.delete_object(Bucket=self.bucket, Key=self.key))
        if self.upload_id:
            upload_id, self.upload_id = self.upload_id, ""
            with contextlib.suppress(Exception):
                retrying(self.config, lambda: self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=upload_id))

    def shutdown(self, cancel: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=cancel)
            self._pool = None
            if cancel:  # parts never started gave nothing back: their buffers go, their room with them
                with self._room:
                    self._in_flight = 0
                    self._room.notify_all()


def threshold(config: S3Config) -> int:
    return max(config.multipart_threshold_mib, config.part_size_mib) * MIB


# -- a stream ------------------------------------------------------------------------------------


@dataclass
class MultipartSink:
    """Blocks in, one object out (the ``stream.sinks.Sink`` calls). Each part of ``core.parts.stream_part_size``
    is filled in a temporary file of its own (``spill_dir``), hashed as it is written and sent from the file:
    the stream holds no part in memory, whatever the part size. Whole parts are held (on disk) while the
    stream may still be one PUT (``_take``); any other is a multipart upload.
    ``close`` completes the object and proves it; ``abort`` leaves no part behind."""

    client: S3Client
    config: S3Config
    bucket: str
    key: str
    extra: dict[str, Any] = field(default_factory=dict)  # storage class, server-side encryption
    on_sent: Callable[[int], None] = lambda n: None
    size_hint: int | None = None  # known in advance: multipart decided at once, nothing held to find out
    spill_dir: Path | None = None  # where parts are filled; None: $TMPDIR
    total: int = 0
    _upload: _Upload | None = None
    _hash: Any = field(default_factory=hashlib.sha256)
    _filling: _SpilledPart | None = None
    _held: list[_SpilledPart] = field(default_factory=list)  # whole parts held while one PUT may still do
    _hasher: ThreadPoolExecutor | None = None
    _hashing: Future[None] | None = None

    def __post_init__(self) -> None:
        self._upload = _Upload(self.client, self.config, self.bucket, self.key, self.extra, self.on_sent,
                               SPILL_DISK)

    @property
    def upload_id(self) -> str:
        return self._up.upload_id

    @property
    def parts(self) -> list[UploadedPart]:
        return self._up.parts

    @property
    def _up(self) -> _Upload:
        assert self._upload is not None
        return self._upload

    @property
    def sha256(self) -> str:
        self._hashed()
        return str(self._hash.hexdigest())

    def _hashed(self) -> None:
        if self._hashing is not None:
            self._hashing.result()
            self._hashing = None

    def _part_size(self) -> int:
        return stream_part_size(len(self._up._pending) + len(self._held) + 1, self.config.part_size_mib * MIB)

    def write(self, block: bytes) -> None:
        # The whole object's hash runs beside the caller (hashlib lets go of the GIL), one block behind.
        self._hashed()
        if self._hasher is None:
            self._hasher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="s3-sha256")
        self._hashing = self._hasher.submit(self._hash.update, block)
        self.total += len(block)
        if not self.upload_id and self.size_hint is not None and self.size_hint > threshold(self.config):
            self._up.start()
        view, at = memoryview(block), 0
        while at < len(view):
            if self._filling is None:
                self._filling = _SpilledPart(self._part_size(), self.spill_dir)
            at += self._filling.write(view[at:])
            if self._filling.full:
                part, self._filling = self._filling, None
                self._take(part)

    def _take(self, part: _SpilledPart) -> None:
        """A whole part: sent, or held while one PUT may still do (below the threshold, and DECIDE_WITHIN when
        the stream's size is not known)."""
        if not self.upload_id:
            self._held.append(part)
            held = sum(p.filled for p in self._held)
            if held < threshold(self.config) and (self.size_hint is not None or held < DECIDE_WITHIN):
                return
            self._up.start()
            while self._held:
                self._send(self._held.pop(0))
            return
        self._send(part)

    def _send(self, part: _SpilledPart) -> None:
        try:
            self._up.send(part.body(), part.digest, part.close)  # hashed by the worker; the file goes once sent
        except BaseException:
            part.close()
            raise

    def close(self) -> None:
        """Complete the object and prove it; on any failure the upload is aborted, then the error raised."""
        try:
            self._hashed()
            last, self._filling = self._filling, None
            if not self.upload_id:  # the whole stream below the threshold: one PUT, its digest the whole's
                parts = [*self._held, *([last] if last is not None else [])]
                self._held = []
                try:
                    whole = base64.b64encode(self._hash.digest()).decode()
                    self._up.put_whole(_Chain([p.body() for p in parts]), whole)
                finally:
                    for part in parts:
                        part.close()
            elif last is not None:
                self._send(last)
            self._up.finish(self.total)
            self._stop_hasher()
        except BaseException:
            self.abort()
            raise

    def expected_checksum(self) -> str:
        return self._up.expected_checksum()

    def check_stored(self) -> None:
        self._up.check_stored(self.total)

    def abort(self) -> None:
        for part in [*self._held, *([self._filling] if self._filling is not None else [])]:
            part.close()
        self._held, self._filling = [], None
        self._stop_hasher()
        self._up.abort()

    def _stop_hasher(self) -> None:
        if self._hasher is not None:
            self._hasher.shutdown(wait=True)
            self._hasher = None


# -- a file --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileUploaded:
    sha256: str  # hex, of the bytes read in order: what the manifest says the file is
    total: int
    parts: list[UploadedPart]


class SourceChanged(VerificationError):
    """The local file is not what its manifest says, or changed while it was sent: nothing was completed."""


def _identity(fd: int) -> tuple[int, int, int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def upload_file(client: S3Client, config: S3Config, bucket: str, key: str, src: BinaryIO, *,
                extra: dict[str, Any] | None = None, on_sent: Callable[[int], None] = lambda n: None,
                cancel: CancelToken | None = None, expected_sha256: str = "") -> FileUploaded:
    """Send the open file ``src`` as ``key``: one PUT up to the threshold, else parts that are ranges of the
    file. The file is read once in order on this thread, hashed whole and part by part; each range is
    handed to the pool as soon as it is hashed and read again from disk as it is sent. Before completing:
    the whole sha256 against ``expected_sha256`` (the manifest's), and the file's size, inode and mtime as
    they were at the start (bytes changed after they were hashed are caught there). Any failure or a
    cancel aborts the upload: no orphan parts, no object."""
    fd = src.fileno()
    before = _identity(fd)
    size = before[2]
    up = _Upload(client, config, bucket, key, extra or {}, on_sent, None)
    whole = hashlib.sha256()
    block = bytearray(READ_BLOCK)

    def unchanged() -> None:
        if cancel is not None:
            cancel.raise_if_cancelled()
        if expected_sha256 and whole.hexdigest() != expected_sha256:
            raise SourceChanged("its sha256 differs from its manifest's (changed since the backup?)")
        if _identity(fd) != before:
            raise SourceChanged("it changed while it was sent (size, inode or modification time)")

    try:
        if size <= threshold(config):
            digest = _hash_range(fd, 0, size, whole, block)
            unchanged()  # before the PUT: a bad object is never written
            up.put_whole(_FileRange(fd, 0, size), digest)
            unchanged()  # changed while it was sent: abort deletes what the PUT wrote
        else:
            part = file_part_size(size, config.part_size_mib * MIB)
            up.start()
            for offset in range(0, size, part):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                length = min(part, size - offset)
                up.send(_FileRange(fd, offset, length), _hash_range(fd, offset, length, whole, block))
            up.wait_parts()
            unchanged()
        up.finish(size)
    except BaseException:
        up.abort()
        raise
    return FileUploaded(whole.hexdigest(), size, up.parts)


def _hash_range(fd: int, offset: int, length: int, whole: Any | None, block: bytearray) -> str:
    """The range's SHA-256 (base64, as S3 wants it), fed to ``whole`` as well (unless None); read into one
    reused buffer."""
    part = hashlib.sha256()
    view = memoryview(block)
    done = 0
    while done < length:
        n = os.preadv(fd, [view[:min(len(view), length - done)]], offset + done)
        if n <= 0:
            raise SourceChanged(f"it ended at byte {offset + done:,} while it was read (it shrank)")
        part.update(view[:n])
        if whole is not None:
            whole.update(view[:n])
        done += n
    return base64.b64encode(part.digest()).decode()
