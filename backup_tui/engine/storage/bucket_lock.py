"""The per-database lock, extended to a bucket that several hosts write: one small object per database,

    <prefix>/locks/<key>.json     {"host", "pid", "operation", "since", "token"}

created with a conditional write (If-None-Match) where the store has it, read back to be sure where it
may not. The holder rewrites it every third of ``lock_ttl_seconds``; one the store has not seen
rewritten for longer is stale (its holder died, or lost the bucket) and is taken over with a warning.
The store's own clock (LastModified) judges the age, so no host's clock has to agree with another's.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

from backup_tui.engine.core.errors import BackupToolError, LockHeldError
from backup_tui.engine.core.models import utc_iso
from backup_tui.engine.core.names import folder_key
from backup_tui.engine.core.untrusted_json import load_json
from backup_tui.engine.storage.holders import alive, record_pid
from backup_tui.engine.storage.s3 import S3Conflict, S3Missing, S3Repository, b64_sha256, retrying
from backup_tui.engine.storage.state import this_host

LOCKS = "locks"


def lock_key(repo: S3Repository, database: str) -> str:
    return f"{repo.config.prefix + '/' if repo.config.prefix else ''}{LOCKS}/{folder_key(database)}.json"


class ForeignLock(LockHeldError):
    """The lock object holds no lock of ours (anyone who can write the bucket could have put it there): a backup to
    the local disk goes ahead under its local lock, as for a bucket out of reach; one streamed into the bucket
    waits for it to go stale, or for an operator to remove it."""


@contextmanager
def bucket_lock(repo: S3Repository, database: str, operation: str, warn: Callable[[str], None]) -> Iterator[None]:
    """Hold the bucket's lock of ``database`` for the block; LockHeldError (exit 3) names the holder."""
    key, token = lock_key(repo, database), secrets.token_hex(8)
    body = {"host": this_host(), "pid": os.getpid(), "operation": operation, "since": utc_iso(datetime.now(UTC)),
            "token": token}
    _acquire(repo, key, body, database, warn)
    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(repo, key, body, stop), name="s3-lock", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join(timeout=10)
        with suppress(BackupToolError):  # a bucket out of reach now: the lock goes stale, the next run takes it
            if _read(repo, key)[0].get("token") == token:
                retrying(repo.config, lambda: repo.client.delete_object(Bucket=repo.bucket, Key=key))


def _put(repo: S3Repository, key: str, body: dict[str, Any], once: bool) -> None:
    data = json.dumps(body, sort_keys=True).encode()
    kwargs: dict[str, Any] = {"IfNoneMatch": "*"} if once else {}
    retrying(repo.config, lambda: repo.client.put_object(
        Bucket=repo.bucket, Key=key, Body=data, ChecksumAlgorithm="SHA256", ChecksumSHA256=b64_sha256(data),
        ContentType="application/json", **kwargs))


def _read(repo: S3Repository, key: str) -> tuple[dict[str, Any], datetime]:
    """The lock's body (what it says, untrusted: only shown) and when the store last saw it written."""
    def get() -> tuple[dict[str, Any], datetime]:
        response = repo.client.get_object(Bucket=repo.bucket, Key=key, Range="bytes=0-4095")
        try:
            data = load_json(response["Body"].read(4096))
        except ValueError:
            data = {}
        return (data if isinstance(data, dict) else {}), response["LastModified"]

    return retrying(repo.config, get)


def _acquire(repo: S3Repository, key: str, body: dict[str, Any], database: str, warn: Callable[[str], None]) -> None:
    for _ in range(2):
        try:
            _put(repo, key, body, once=True)
        except S3Conflict:
            pass
        else:
            held, _ = _read(repo, key)  # a store that ignores If-None-Match: the last writer's token is there
            if held.get("token") == body["token"]:
                return
        try:
            held, written = _read(repo, key)
        except S3Missing:
            continue  # released between our write and our read: try again
        age, standing = (datetime.now(UTC) - written).total_seconds(), _standing(repo, held, written)
        if standing and not isinstance(held.get("token"), str):
            raise ForeignLock(f"{database}: the lock object {repo.url(key)} is not one a run of ours wrote (it names "
                              f"no holder); it is stale after {repo.config.lock_ttl_seconds} s, or remove it")
        holder = (f"{str(held.get('operation', 'a run'))[:40]} on {str(held.get('host', '?'))[:80]} "
                  f"(pid {str(held.get('pid', '?'))[:12]}) since {str(held.get('since', '?'))[:40]}")
        if standing:
            raise LockHeldError(f"{database} is locked in {repo.url(key)} by {holder}; it is stale after "
                                f"{repo.config.lock_ttl_seconds} s without renewal")
        why = (f"not renewed for {int(age)} s" if age > repo.config.lock_ttl_seconds
               else "its process is gone from this host")
        warn(f"took over the stale S3 lock of {database} held by {holder}: {why}")
        with suppress(S3Missing):
            retrying(repo.config, lambda: repo.client.delete_object(Bucket=repo.bucket, Key=key))
    raise LockHeldError(f"{database}: could not take its lock in {repo.url(key)}: another run keeps taking it")


def held_by_other(repo: S3Repository, database: str, streaming: bool) -> bool:
    """Whether ``bucket_lock`` would refuse now (exit 3), judged as ``_acquire`` judges, touching nothing: what
    ``backup --dry-run`` says. A lock object of no run of ours stops only a backup streamed to the bucket."""
    try:
        held, written = _read(repo, lock_key(repo, database))
    except S3Missing:
        return False
    return _standing(repo, held, written) and (streaming or isinstance(held.get("token"), str))


def _standing(repo: S3Repository, held: dict[str, Any], written: datetime) -> bool:
    """The lock stands: renewed within ``lock_ttl_seconds``, and not a run of ours on this host whose process is
    gone. The one judgement of the run that takes the lock and of the dry run that says whether it could."""
    return (datetime.now(UTC) - written).total_seconds() <= repo.config.lock_ttl_seconds and not _holder_gone(held)


def _holder_gone(held: dict[str, Any]) -> bool:
    """The lock names a run of ours on this host whose process is gone (killed with SIGKILL, the OOM killer, a
    reboot): it will never release it, and waiting out ``lock_ttl_seconds`` stopped every backup of the database
    here for hours. Its word is untrusted, but believing it only lets this host's run go ahead under its own local
    lock, as a stale lock would; a live pid, or another host's, is left to the TTL."""
    if held.get("host") != this_host() or not isinstance(held.get("token"), str):
        return False
    try:
        pid = record_pid(held.get("pid"))
    except ValueError:
        return False
    return pid != os.getpid() and not alive(pid)


def _renew(repo: S3Repository, key: str, body: dict[str, Any], stop: threading.Event) -> None:
    """Rewrite the lock while the run lasts, so no other host finds it stale."""
    every = max(1.0, repo.config.lock_ttl_seconds / 3)
    while not stop.wait(every):
        with suppress(BackupToolError):
            if _read(repo, key)[0].get("token") != body["token"]:
                return  # taken over (we were out of reach too long): never written over another's
            _put(repo, key, {**body, "renewed_at": utc_iso(datetime.now(UTC))}, once=False)
