"""Records read from a bucket, kept on this host between runs: a second launch lists and fills a catalog of
thousands of backups without a GET per manifest.

Kept in the user's cache folder (``$XDG_CACHE_HOME``, else ``~/.cache``: ``backup-tui/s3/<bucket's hash>/``),
not in the local repository: the repository holds backups (prune and space account for it, it may be read-only
or shared by the users of a host), while a cache is per user and disposable. ``BACKUP_CACHE_DIR`` moves it;
``BACKUP_CACHE_DIR=off`` turns it off.

An entry is keyed by (object key, ETag): records are written once, so an ETag names one content, and a record
whose object changed has a new ETag and is read again. The folder is untrusted input like the bucket: an entry
holds the raw bytes as the bucket sent them, behind a header naming its key, ETag and SHA-256; it is read
capped, never through a link, held against its header and (for a single-PUT object, whose ETag is the MD5 of
its bytes) against the ETag the listing gave; the caller then parses and validates the bytes exactly as it does
the bucket's. Anything that does not match is no entry: it is read from the bucket again and written over.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import stat
import time
from pathlib import Path

from backup_tui.engine.config import S3Config

SWEEP_AFTER_S = 3600.0  # an entry not in a whole listing, and older than this, is swept
HEADER_LIMIT = 4096  # the header line: a key (S3 caps them at 1,024 bytes), an ETag, a digest
_MD5_ETAG = re.compile(r'"?([0-9a-f]{32})"?')


def cache_home() -> Path | None:
    """Where caches go for this user; None when turned off."""
    chosen = os.environ.get("BACKUP_CACHE_DIR", "")
    if chosen.lower() in ("off", "none", "0"):
        return None
    if chosen:
        return Path(chosen)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return Path(xdg) / "backup-tui" if xdg else Path.home() / ".cache" / "backup-tui"


class RecordCache:
    """Raw bytes by (key, ETag) in one folder per bucket; every failure to read or write is a miss, never an error."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._ready: bool | None = None

    @classmethod
    def for_bucket(cls, config: S3Config) -> RecordCache | None:
        home = cache_home()
        if home is None:
            return None
        place = f"{config.endpoint_url or 'aws'}\0{config.bucket}\0{config.prefix}".encode()
        return cls(home / "s3" / hashlib.sha256(place).hexdigest()[:32])

    def _usable(self) -> bool:
        """The folder exists, is ours, a real folder (not a link) and private: made on first use."""
        if self._ready is None:
            try:
                self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                found = os.lstat(self.folder)
                self._ready = (stat.S_ISDIR(found.st_mode) and found.st_uid == os.geteuid()
                               and not found.st_mode & 0o077)
            except OSError:
                self._ready = False
        return self._ready

    def _path(self, key: str, etag: str) -> Path:
        return self.folder / hashlib.sha256(f"{key}\0{etag}".encode()).hexdigest()

    def get(self, key: str, etag: str, limit: int) -> bytes | None:
        """The bytes stored for (key, etag), or None: missing, too large, a link, damaged or not matching."""
        if not etag or not self._usable():
            return None
        try:
            fd = os.open(self._path(key, etag), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        try:
            found = os.fstat(fd)
            if not stat.S_ISREG(found.st_mode) or found.st_size > limit + HEADER_LIMIT:
                return None
            with os.fdopen(os.dup(fd), "rb") as fh:
                raw = fh.read(limit + HEADER_LIMIT + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        head, newline, data = raw.partition(b"\n")
        if not newline or len(data) > limit:
            return None
        try:
            header = json.loads(head)
        except ValueError:
            return None
        if not isinstance(header, dict) or header.get("key") != key or header.get("etag") != etag:
            return None
        if header.get("sha256") != hashlib.sha256(data).hexdigest():
            return None
        md5 = _MD5_ETAG.fullmatch(etag)
        if md5 is not None and hashlib.md5(data, usedforsecurity=False).hexdigest() != md5[1]:
            return None
        return data

    def put(self, key: str, etag: str, data: bytes) -> None:
        """Kept for the next run (a temp file renamed into place: a reader never sees half an entry)."""
        if not etag or not self._usable():
            return
        header = json.dumps({"key": key, "etag": etag, "sha256": hashlib.sha256(data).hexdigest()}).encode()
        if len(header) >= HEADER_LIMIT:
            return
        path = self._path(key, etag)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(header + b"\n" + data)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)

    def keep_only(self, live: set[tuple[str, str]], now: float | None = None) -> int:
        """After a whole listing was read: entries of records no longer in the bucket (deleted backups, replaced
        objects) go, so the folder does not grow for ever. An entry younger than ``SWEEP_AFTER_S`` stays (another
        run may have just written it from a newer listing); so does a temp file younger than that. The count gone."""
        if not self._usable():
            return 0
        names = {self._path(key, etag).name for key, etag in live}
        cutoff = (time.time() if now is None else now) - SWEEP_AFTER_S
        gone = 0
        with contextlib.suppress(OSError), os.scandir(self.folder) as entries:
            for entry in entries:
                if entry.name in names or not entry.is_file(follow_symlinks=False):
                    continue
                with contextlib.suppress(OSError):
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.path)
                        gone += 1
        return gone

    def drop(self, key: str, etag: str) -> None:
        """An entry that did not parse: gone, so the bucket's bytes take its place."""
        with contextlib.suppress(OSError):
            os.unlink(self._path(key, etag))
