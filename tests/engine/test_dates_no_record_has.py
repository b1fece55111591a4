"""A name in the repository dated at no time a record is (month 13, the year 9999, 1800) is listed for what the
layout says, never read as a time: one such folder, file or key, made by a person, another tool or an attacker,
stopped every listing, and with it list, prune and the backup's own clean-up, of every database."""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backup_tui.engine.storage.local import LocalRepository
from backup_tui.engine.storage.s3 import S3Repository
from tests.conftest import Bucket
from tests.engine.planted import on_disk, record_of


@contextmanager
def local_time(tz: str) -> Iterator[None]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = tz
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


NO_TIME = ["99991231T235959Z", "18000101T000000Z", "20261399T000000Z"]


def plant(root: Path, moment: datetime) -> str:
    """A valid backup of ours beside the stray, which must still be listed."""
    record = record_of(moment, "good")
    on_disk(root, record)
    return record.id


@pytest.mark.parametrize("stamp", NO_TIME)
def test_a_folder_whose_id_is_dated_at_no_time_is_listed_not_a_crash(tmp_path: Path, stamp: str) -> None:
    good = plant(tmp_path, datetime.now(UTC) - timedelta(hours=1))
    (tmp_path / "backups" / "app" / f"app-{stamp}-abcd").mkdir()  # what a killed run leaves, but no time
    listed = {r.id: r for r in LocalRepository(tmp_path).list()}
    assert listed[good].status == "valid"
    stray = listed[f"app-{stamp}-abcd"]
    assert stray.status == "incomplete"
    assert stray.created.year >= 1900, "a time every rule can read"


@pytest.mark.parametrize("stamp", ["99991231_235959", "18991231_120000", "00011231_000000"])
@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Tokyo"])
def test_an_old_scripts_dump_dated_at_no_time_is_not_theirs(tmp_path: Path, stamp: str, tz: str) -> None:
    good = plant(tmp_path, datetime.now(UTC) - timedelta(hours=1))
    (tmp_path / "daily").mkdir()
    (tmp_path / "daily" / f"app_{stamp}.sql.gz").write_bytes(gzip.compress(b"-- stand-in\n"))
    (tmp_path / "daily" / "app_20250101_020000.sql.gz").write_bytes(gzip.compress(b"-- stand-in\n"))
    with local_time(tz):  # their names are this machine's local time: 9999-12-31 west of UTC is past the calendar
        ids = {r.id for r in LocalRepository(tmp_path).list()}
    assert ids == {good, "legacy-daily-app_20250101_020000"}


@pytest.mark.parametrize("key", [
    "app/9999/12/31/app-99991231T235959Z-abcd/manifest.json",
    "app/1800/01/01/app-18000101T000000Z-abcd/app-18000101T000000Z-abcd.dump.zst",
    "app/2026/13/99/app-20261399T000000Z-abcd/manifest.json",
    "app/2026/01/01/app-20261399T000000Z-abcd/manifest.json",
])
def test_a_key_dated_at_no_time_is_damage_in_the_bucket_not_a_crash(s3_bucket: Bucket, key: str) -> None:
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=key, Body=b"{}")
    [stray] = S3Repository(s3_bucket.config()).list()
    assert stray.status == "damaged" and stray.created.year >= 1900
