"""``s3 init``: make the bucket fit to hold backups. Creates it when missing, turns versioning on (a
deleted or overwritten object stays recoverable), and optionally sets a default object-lock retention,
so that a host whose credentials are stolen cannot delete its own backups within that period. What
is already set is found and said, never changed behind the operator's back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from backup_tui.engine.core.errors import BackupToolError, ConfigError
from backup_tui.engine.storage.s3 import S3NoBucket, S3Repository, retrying

LockMode = Literal["governance", "compliance"]


@dataclass
class BucketSetup:
    bucket: str
    dry_run: bool
    changed: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "dry_run": self.dry_run, "changed": self.changed, "found": self.found}


MAX_LOCK_DAYS = 36_500  # S3's largest default retention


def init_bucket(repo: S3Repository, *, lock_days: int | None = None, lock_mode: LockMode = "governance",
                dry_run: bool = False) -> BucketSetup:
    """Each step looks first, then changes only what differs (``dry_run``: says what it would change)."""
    if lock_days is not None and not 1 <= lock_days <= MAX_LOCK_DAYS:
        raise ConfigError(f"--object-lock-days must be from 1 to {MAX_LOCK_DAYS:,} (S3's limit, 100 years): a "
                          "compliance lock can never be shortened, so a typo is refused before anything is set")
    config, client, bucket = repo.config, repo.client, repo.bucket
    done = BucketSetup(bucket, dry_run)
    verb = "would " if dry_run else ""
    try:
        retrying(config, lambda: client.head_bucket(Bucket=bucket))
        exists = True
    except S3NoBucket:
        exists = False
    if exists:
        done.found.append(f"bucket {bucket} exists")
    else:
        kwargs: dict[str, Any] = {"Bucket": bucket}
        if config.region and config.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": config.region}
        if lock_days is not None:
            kwargs["ObjectLockEnabledForBucket"] = True  # object lock is simplest turned on at creation
        if not dry_run:
            retrying(config, lambda: client.create_bucket(**kwargs))
        done.changed.append(f"{verb}create bucket {bucket}" + (" with object lock" if lock_days is not None else ""))
    status = retrying(config, lambda: client.get_bucket_versioning(Bucket=bucket)).get("Status") if exists else None
    if status == "Enabled":
        done.found.append("versioning is on")
    else:
        if not dry_run:
            retrying(config, lambda: client.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}))
        done.changed.append(f"{verb}turn versioning on")
    current = _lock_rule(repo) if exists else None
    if current:
        done.found.append(f"default object lock: {current[0].lower()} for {current[1]} days")
    if lock_days is not None:
        wanted = (lock_mode.upper(), lock_days)
        if current != wanted:
            if not dry_run:
                lock: Any = {"ObjectLockEnabled": "Enabled",
                             "Rule": {"DefaultRetention": {"Mode": wanted[0], "Days": lock_days}}}
                try:
                    retrying(config, lambda: client.put_object_lock_configuration(
                        Bucket=bucket, ObjectLockConfiguration=lock))
                except BackupToolError as exc:
                    raise BackupToolError(f"default object lock not set on {bucket}: {exc.message} (a bucket made "
                                          "without object lock may need it turned on by its provider)") from None
            done.changed.append(f"{verb}set default object lock: {lock_mode} for {lock_days} days")
    elif not current:
        done.found.append("no default object lock (--object-lock-days N sets one)")
    return done


def _lock_rule(repo: S3Repository) -> tuple[str, int] | None:
    """The bucket's default retention (mode, days), or None when it has none or no object lock at all."""
    try:
        found = retrying(repo.config, lambda: repo.client.get_object_lock_configuration(Bucket=repo.bucket))
    except BackupToolError:  # ObjectLockConfigurationNotFoundError: no object lock on this bucket
        return None
    retention = found.get("ObjectLockConfiguration", {}).get("Rule", {}).get("DefaultRetention", {})
    days = retention.get("Days") or (retention.get("Years") or 0) * 365
    return (str(retention["Mode"]), int(days)) if retention.get("Mode") and days else None
