"""The disk's copy of a backup goes by the disk's retention once the bucket holds the backup: held by a copy there
that restores. A bucket copy whose last verification failed (found by a host that reads the bucket alone, say)
holds nothing: taking the disk's copy then left only bytes known bad, kept "for a person to look at"."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.models import BackupRecord, Verification, utc_iso
from backup_tui.engine.core.retention import RetentionConfig
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.prune import BAD_IN_S3, plan_prune
from tests.conftest import Bucket
from tests.engine.planted import DATA, on_disk, record_of

NOW = datetime.now(UTC).replace(microsecond=0)


def in_bucket(bucket: Bucket, record: BackupRecord, verdict: bool | None) -> None:
    place = f"app/{record.created:%Y/%m/%d}/{record.id}/"
    put = bucket.client.put_object
    put(Bucket=bucket.name, Key=place + record.file_name, Body=DATA)
    put(Bucket=bucket.name, Key=place + f"{record.file_name}.sha256", Body=f"{record.sha256}  {record.file_name}\n")
    if verdict is not None:
        checked = Verification(at=utc_iso(NOW - timedelta(minutes=1)), level="full", ok=verdict,
                               problems=() if verdict else ("checksum mismatch",)).checked(record)
        put(Bucket=bucket.name, Key=place + "verifications/20260101T000000.000000Z-dr-00000000.json",
            Body=json.dumps(checked.to_json()))
    put(Bucket=bucket.name, Key=place + "manifest.json", Body=record.manifest_json())


@pytest.mark.parametrize(("verdict", "kept"), [(None, False), (True, False), (False, True)])
def test_the_disks_copy_stays_while_the_buckets_copy_is_known_bad(
    tmp_path: Path, s3_bucket: Bucket, verdict: bool | None, kept: bool
) -> None:
    older, newer = record_of(NOW - timedelta(days=2)), record_of(NOW - timedelta(hours=1))
    for record in (older, newer):
        on_disk(tmp_path / "repo", record)
        in_bucket(s3_bucket, record, verdict if record is older else None)
    settings = Settings(repository=tmp_path / "repo", log_dir=tmp_path / "logs", s3=s3_bucket.config(),
                        retention=RetentionConfig(daily=1, weekly=0, monthly=0))
    plan = {(d.record.id, d.location): d for d in plan_prune(Context(settings))}
    assert plan[older.id, "s3"].keep, "the bucket keeps 30 days"
    disk = plan[older.id, "local"]
    assert disk.keep is kept, disk.reasons
    if kept:
        assert disk.reasons[0] == BAD_IN_S3
