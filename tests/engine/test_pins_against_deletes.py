"""A pin set while a delete's or a prune's question is open is seen by the removal, and a pin never lands
between that check and the removal: the backup stays, pinned."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import EXIT_FAILED, BackupToolError, NotFoundError
from backup_tui.engine.core.models import BackupRecord, Verification, utc_iso
from backup_tui.engine.core.retention import RetentionConfig
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops import pins
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.delete import PINNED_SINCE, plan_delete, run_delete
from backup_tui.engine.ops.prune import plan_prune, run_prune
from backup_tui.engine.ops.upload import run_upload
from backup_tui.engine.ops.verify import verify_backup
from backup_tui.engine.storage import local as local_module
from backup_tui.engine.storage import s3 as s3_module
from backup_tui.engine.storage.files import read_capped
from backup_tui.engine.storage.journal import read_runs
from backup_tui.engine.storage.local import LocalRepository
from backup_tui.engine.storage.locks import deleting_backup, reading_backup
from backup_tui.engine.storage.s3 import S3Repository, S3Unreachable
from tests.conftest import Bucket, prune, restore


@contextmanager
def reader_queued_during(monkeypatch: pytest.MonkeyPatch, cls: type, method: str, repository: Path,
                         backup_id: str) -> Iterator[threading.Event]:
    """A verify, restore or pin that starts while a removal holds the backup's lock (inside ``cls.method``,
    which the removal calls under it) and waits behind it; set once it holds its reader's lock."""
    holding, release = threading.Event(), threading.Event()

    def reader() -> None:
        with reading_backup(repository, backup_id):
            holding.set()
            release.wait(10)

    queued = threading.Thread(target=reader)
    real = getattr(cls, method)

    def while_one_queues(self: object, *args: object) -> object:
        if not queued.is_alive() and not holding.is_set():
            queued.start()
            time.sleep(0.2)
        return real(self, *args)

    monkeypatch.setattr(cls, method, while_one_queues)
    try:
        yield holding
    finally:
        release.set()
        queued.join(10)


def test_a_backup_pinned_while_its_delete_was_asked_stays(settings: Settings) -> None:
    older = run_backup(Context(settings), settings.databases[0])
    run_backup(Context(settings), settings.databases[0])
    plan = plan_delete(Context(settings), older)  # neither pinned nor the newest: no refusal
    assert not plan.refusal
    pins.set_pinned(Context(settings), older, True)  # someone else, while the question is open
    result = run_delete(Context(settings), plan)
    assert result.deleted == () and result.kept == {"local": PINNED_SINCE}
    assert result.exit_code == EXIT_FAILED
    assert Path(older.path).exists() and Context(settings).catalog.get(older.id).pinned
    forced = plan_delete(Context(settings), Context(settings).catalog.get(older.id), force=True)
    assert run_delete(Context(settings), forced).deleted == ("local",)  # pinned when asked: the person chose


def test_a_backup_pinned_after_prune_planned_stays(settings: Settings) -> None:
    keep_one = replace(settings, retention=RetentionConfig(daily=1, weekly=0, monthly=0))
    older = run_backup(Context(keep_one), keep_one.databases[0])
    run_backup(Context(keep_one), keep_one.databases[0])
    plan = plan_prune(Context(keep_one))
    assert [d.record.id for d in plan if not d.keep] == [older.id]
    pins.set_pinned(Context(keep_one), older, True)
    [went] = [d for d in run_prune(Context(keep_one), plan) if d.record.id == older.id]
    assert went.keep and went.reasons[0] == f"kept for now: {PINNED_SINCE}"
    assert Path(older.path).exists()
    [run] = [r for r in read_runs(keep_one.repository) if r.operation == "delete"]
    assert run.ok, "retention keeping a pinned backup is no failure to alert on"


def test_a_copy_whose_pins_cannot_be_read_again_stays(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    older = run_backup(Context(settings), settings.databases[0])
    run_backup(Context(settings), settings.databases[0])
    plan = plan_delete(Context(settings), older)

    def unreadable(self: LocalRepository, record: BackupRecord) -> BackupRecord:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(LocalRepository, "refresh", unreadable)
    result = run_delete(Context(settings), plan)
    assert result.kept == {"local": "its pins could not be read again: [Errno 5] Input/output error"}
    assert Path(older.path).exists() and result.exit_code == EXIT_FAILED


def test_a_pin_waits_for_a_removal_under_way_and_then_says_the_backup_went(settings: Settings) -> None:
    record = run_backup(Context(settings), settings.databases[0])
    outcome: list[BaseException | None] = []

    def pin() -> None:
        try:
            pins.set_pinned(Context(settings), record, True)
            outcome.append(None)
        except NotFoundError as exc:
            outcome.append(exc)

    pinning = threading.Thread(target=pin)
    with deleting_backup(settings.repository, record.id) as free:
        assert free
        pinning.start()
        time.sleep(0.3)
        assert pinning.is_alive() and outcome == [], "the pin was written during the removal"
        Context(settings).catalog.local.delete(record)
    pinning.join(timeout=10)
    assert len(outcome) == 1 and isinstance(outcome[0], NotFoundError)
    assert "deleted meanwhile" in str(outcome[0].message)
    with pytest.raises(NotFoundError):
        Context(settings).catalog.get(record.id)


def test_a_reader_queued_behind_a_removal_that_kept_the_backup_still_holds_off_the_next_one(
    settings: Settings, monkeypatch: pytest.MonkeyPatch,
) -> None:
    older = run_backup(Context(settings), settings.databases[0])
    run_backup(Context(settings), settings.databases[0])
    plan = plan_delete(Context(settings), older)
    pins.set_pinned(Context(settings), older, True)
    with reader_queued_during(monkeypatch, LocalRepository, "refresh", settings.repository, older.id) as holding:
        assert run_delete(Context(settings), plan).kept == {"local": PINNED_SINCE}
        assert holding.wait(10)
        with deleting_backup(settings.repository, older.id) as free:
            assert not free, "a second removal took the backup while a reader held it"


def test_a_pin_pins_the_copies_left_and_writes_nothing_where_one_went(settings: Settings, s3_bucket: Bucket) -> None:
    with_s3 = replace(settings, s3=s3_bucket.config())
    gone_from_s3, gone_from_disk = (run_backup(Context(with_s3), with_s3.databases[0]) for _ in range(2))
    for record in (gone_from_s3, gone_from_disk):
        run_upload(Context(with_s3), record)
    listed = {r.id: r for r in Context(with_s3).catalog.list()}  # as a person's screen listed them
    bucket = Context(with_s3).catalog.s3
    assert bucket is not None
    bucket.delete(bucket.refresh(listed[gone_from_s3.id]))  # `delete --location s3`, meanwhile
    Context(with_s3).catalog.local.delete(listed[gone_from_disk.id])  # `delete --location local`, meanwhile

    assert pins.set_pinned(Context(with_s3), listed[gone_from_s3.id], True).locations == ("local",)
    keys = [o["Key"] for page in s3_bucket.client.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket.name)
            for o in page.get("Contents", []) if gone_from_s3.id in o["Key"]]
    assert keys == [], "a pin record stood alone where the S3 copy was"
    assert pins.set_pinned(Context(with_s3), listed[gone_from_disk.id], True).locations == ("s3",)
    assert {r.id: r.pinned for r in Context(with_s3).catalog.list()} == {gone_from_s3.id: True,
                                                                         gone_from_disk.id: True}


def test_a_pin_of_an_old_scripts_dump_deleted_meanwhile_says_so_and_leaves_no_marker(settings: Settings) -> None:
    daily = settings.repository / "daily"
    daily.mkdir(parents=True)
    for stamp in ("20240104_020000", "20240105_020000"):
        (daily / f"{settings.databases[0].database}_{stamp}.sql.gz").write_bytes(gzip.compress(b"-- a stand-in\n"))
    older = next(r for r in Context(settings).catalog.list() if r.id.endswith("20240104_020000"))
    Context(settings).catalog.local.delete(older)
    with pytest.raises(NotFoundError, match="deleted meanwhile"):
        pins.set_pinned(Context(settings), older, True)
    assert sorted(p.name for p in daily.iterdir()) == [f"{settings.databases[0].database}_20240105_020000.sql.gz"]


def test_removing_one_copy_keeps_the_lock_a_reader_of_the_other_holds(
    settings: Settings, s3_bucket: Bucket, monkeypatch: pytest.MonkeyPatch,
) -> None:
    with_s3 = replace(settings, s3=s3_bucket.config())
    record = run_backup(Context(with_s3), with_s3.databases[0])
    run_upload(Context(with_s3), record)
    plan = plan_delete(Context(with_s3), Context(with_s3).catalog.get(record.id), location="local", force=True)
    with reader_queued_during(monkeypatch, LocalRepository, "delete", with_s3.repository, record.id) as holding:
        assert run_delete(Context(with_s3), plan).deleted == ("local",)
        assert holding.wait(10)
        with deleting_backup(with_s3.repository, record.id) as free:
            assert not free, "the bucket's copy was taken for removal while a reader held it"


def test_an_uploaded_old_scripts_dump_is_pinned_on_disk_and_in_the_bucket(
    settings: Settings, s3_bucket: Bucket,
) -> None:
    with_s3 = replace(settings, s3=s3_bucket.config())
    daily = settings.repository / "daily"
    daily.mkdir(parents=True)
    dump = daily / f"{settings.databases[0].database}_20240105_020000.sql.gz"
    dump.write_bytes(gzip.compress(b"-- a stand-in\n"))
    [legacy] = Context(with_s3).catalog.list()
    run_upload(Context(with_s3), legacy)
    merged = Context(with_s3).catalog.get(legacy.id)
    assert set(merged.locations) == {"local", "s3"}
    assert set(pins.set_pinned(Context(with_s3), merged, True).locations) == {"local", "s3"}
    assert Path(f"{dump}.pinned").is_file()  # the disk's retention reads this one
    unreachable = replace(with_s3, s3=replace(s3_bucket.config(), endpoint_url="http://127.0.0.1:9"))
    with pytest.raises(BackupToolError):  # not a half-pinned backup said to be pinned
        pins.set_pinned(Context(unreachable), merged, False)


def test_an_uploaded_old_scripts_dump_verifies_and_restores_from_the_disk(
        settings: Settings, s3_bucket: Bucket, pg_sandbox: Sandbox) -> None:
    """Merged with its copy in the bucket (whose manifest outranked the old dump's own record), an old scripts'
    dump was read from the disk at the bucket's s3:// path: verify said its sidecar was outside the repository
    and restore refused a good backup."""
    with_s3 = replace(settings, s3=s3_bucket.config())
    database = settings.databases[0].database
    daily = settings.repository / "daily"
    daily.mkdir(parents=True)
    dump = daily / f"{database}_20240105_020000.sql.gz"
    plain = subprocess.run(["pg_dump", "--format=plain", "-d", pg_sandbox.conninfo(database)], capture_output=True,
                           check=True).stdout
    dump.write_bytes(gzip.compress(plain))
    Path(f"{dump}.sha256").write_text(f"{hashlib.sha256(dump.read_bytes()).hexdigest()}  {dump.name}\n")
    [legacy] = Context(with_s3).catalog.list()
    run_upload(Context(with_s3), legacy)
    merged = Context(with_s3).catalog.get(legacy.id)
    assert set(merged.locations) == {"local", "s3"}
    for level in ("quick", "full"):
        checked = verify_backup(Context(with_s3), merged, level)
        assert checked.ok, checked.problems
    counts = restore(with_s3, legacy.id, target_db=f"{database}_from_old").row_counts
    assert counts["public.rental"] == [None, 16044]  # the old scripts counted nothing: restored, and counted


def test_a_failed_verdict_is_kept_by_every_copy_and_outlives_the_local_one(settings: Settings,
                                                                           s3_bucket: Bucket) -> None:
    """A failed check is kept beside every copy: recorded beside the local one only, it was forgotten once prune
    took the local one. A pass is kept beside the copy it read only (see the test below)."""
    with_s3, record, bucket, _ = in_the_bucket(settings, s3_bucket)
    merged = Context(with_s3).catalog.get(record.id)
    assert set(merged.locations) == {"local", "s3"}
    verify_backup(Context(with_s3), merged, "quick")
    failed = Verification(at=utc_iso(datetime.now(UTC) + timedelta(seconds=1)), level="full", ok=False,
                          problems=("pg_restore failed",))
    Context(with_s3).catalog.record_verification(merged, failed, lambda event: None)
    Context(with_s3).catalog.local.delete(Context(with_s3).catalog.local.refresh(record))
    left = Context(with_s3).catalog.get(record.id)
    assert left.locations == ("s3",)
    assert [(v.level, v.ok) for v in left.verifications] == [("full", False)]  # the quick pass read the disk's bytes
    assert left.failed_last_check and bucket.refresh(left).failed_last_check


def test_a_pass_is_recorded_beside_the_copy_it_read_not_beside_a_bucket_copy_it_never_read(
        settings: Settings, s3_bucket: Bucket) -> None:
    """verify and restore read the local copy: their pass says nothing of the bucket's bytes, which may have changed
    since the upload. Recorded there too, the bucket copy of a backup whose object was altered read "valid, verified
    (full) ok" in list and health once the local copy was deleted, and did not restore."""
    with_s3, record, bucket, in_bucket = in_the_bucket(settings, s3_bucket)
    data_key = bucket.data_key(in_bucket)
    body = bytearray(s3_bucket.client.get_object(Bucket=s3_bucket.name, Key=data_key)["Body"].read())
    body[len(body) // 2] ^= 0xFF  # the bucket's bytes change after the upload, the size stays
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=data_key, Body=bytes(body))
    merged = Context(with_s3).catalog.get(record.id)
    assert verify_backup(Context(with_s3), merged, "full").ok  # of the local copy, which is sound
    assert restore(with_s3, record.id, target_db=f"{record.database}_from_disk").row_counts
    assert [v.ok for v in Context(with_s3).catalog.local.refresh(record).verifications] == [True, True]
    assert bucket.refresh(in_bucket).verifications == ()
    assert not [k for k in s3_bucket.objects() if "/verifications/" in k or "/reports/" in k]
    Context(with_s3).catalog.local.delete(Context(with_s3).catalog.local.refresh(record))
    left = Context(with_s3).catalog.get(record.id)
    assert left.locations == ("s3",) and left.last_verification is None  # never verified, as it is
    checked = verify_backup(Context(with_s3), left, "quick")
    assert not checked.ok and bucket.refresh(in_bucket).failed_last_check


def test_a_copy_gone_before_its_removal_is_no_failure(settings: Settings, s3_bucket: Bucket) -> None:
    with_s3 = replace(settings, s3=s3_bucket.config())
    record = run_backup(Context(with_s3), with_s3.databases[0])
    run_upload(Context(with_s3), record)
    plan = plan_delete(Context(with_s3), Context(with_s3).catalog.get(record.id), force=True)
    bucket = Context(with_s3).catalog.s3
    assert bucket is not None
    bucket.delete(bucket.refresh(record))  # a lifecycle rule, another host, meanwhile
    result = run_delete(Context(with_s3), plan)
    assert result.exit_code == 0 and not result.kept and set(result.deleted) == {"local", "s3"}


def test_a_pin_that_cannot_be_read_counts_as_set_where_an_older_record_says_unpinned(
    settings: Settings, s3_bucket: Bucket, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A delete or prune must never go ahead on a pin it failed to read: a disk error on the newest pin
    record, or a bucket that did not answer for it, reads as pinned, not as the older record's word."""
    with_s3 = replace(settings, s3=s3_bucket.config())
    record = run_backup(Context(with_s3), with_s3.databases[0])
    run_upload(Context(with_s3), record)
    record = Context(with_s3).catalog.get(record.id)  # as listed now: on disk and in the bucket
    for pinned in (True, False, True):
        record = pins.set_pinned(Context(with_s3), record, pinned)
        time.sleep(0.01)  # record names carry the moment: each one newer than the last
    local, bucket = Context(with_s3).catalog.local, Context(with_s3).catalog.s3
    assert bucket is not None
    on_disk, in_bucket = (next(r for r in repo.list(record.database) if r.id == record.id) for repo in (local, bucket))
    assert on_disk.pinned and in_bucket.pinned
    newest_on_disk = max((local.folder(on_disk) / "pins").iterdir()).name
    newest_in_bucket = max(k for k in s3_bucket.objects() if "/pins/" in k)
    get_object = S3Repository._get_bytes

    def disk_error(path: Path, *args: int, **kwargs: int | None) -> str:
        if path.name == newest_on_disk:
            raise OSError(5, "Input/output error")
        return read_capped(path, *args, **kwargs)  # type: ignore[arg-type]

    def no_answer(self: S3Repository, key: str, limit: int) -> tuple[bytes, str]:
        if key == newest_in_bucket:
            raise S3Unreachable("the bucket did not answer")
        return get_object(self, key, limit)

    monkeypatch.setattr(local_module, "read_capped", disk_error)
    monkeypatch.setattr(S3Repository, "_get_bytes", no_answer)
    monkeypatch.setattr(s3_module, "_RECORDS", {})  # nothing read before is taken from memory...
    monkeypatch.setattr(bucket, "cache", None)  # ...or from this host's cache of records
    assert local.refresh(on_disk).pinned and bucket.refresh(in_bucket).pinned


def test_a_planted_record_under_a_pin_s_name_is_no_pin(settings: Settings, s3_bucket: Bucket, tmp_path: Path) -> None:
    """Only a read that failed counts as a pin: junk, or a link out of the repository, planted as the newest pin
    record is skipped, and the backup reads as its real newest record says (unpinned), on disk and in the bucket."""
    with_s3 = replace(settings, s3=s3_bucket.config())
    record = run_backup(Context(with_s3), with_s3.databases[0])
    run_upload(Context(with_s3), record)
    record = pins.set_pinned(Context(with_s3), Context(with_s3).catalog.get(record.id), True)
    record = pins.set_pinned(Context(with_s3), record, False)
    local, bucket = Context(with_s3).catalog.local, Context(with_s3).catalog.s3
    assert bucket is not None
    on_disk, in_bucket = (next(r for r in repo.list(record.database) if r.id == record.id) for repo in (local, bucket))
    outside = tmp_path / "outside.json"
    outside.write_text('{"pinned": true}')
    folder = local.folder(on_disk) / "pins"
    (folder / "zzzz-junk.json").write_text('{"pinned": "yes"}')
    (folder / "zzzz-link.json").symlink_to(outside)
    pin_key = max(k for k in s3_bucket.objects() if "/pins/" in k)
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=pin_key.rsplit("/", 1)[0] + "/zzzz-junk.json",
                                Body=b'{"pinned": "yes"}')
    assert not local.refresh(on_disk).pinned and not bucket.refresh(in_bucket).pinned


def test_a_backup_that_committed_after_prune_planned_stays(settings: Settings) -> None:
    """Planned while its folder had no manifest yet and no run held the lock (a leftover, then), a backup that
    committed before the removal is the newest valid one: prune reads retention again under the lock."""
    keep_one = replace(settings, retention=RetentionConfig(daily=1, weekly=0, monthly=0))
    run_backup(Context(keep_one), keep_one.databases[0])
    newer = run_backup(Context(keep_one), keep_one.databases[0])
    folder = Path(newer.path).parent
    written = {p: p.read_bytes() for p in (folder / "manifest.json", next(folder.glob("*.sha256")))}
    for path in written:
        path.unlink()  # as it was while the backup ran: neither the sidecar nor the manifest yet
    plan = plan_prune(Context(keep_one))
    assert newer.id in [d.record.id for d in plan if not d.keep]
    for path, body in written.items():
        path.write_bytes(body)  # it commits
    [went] = [d for d in run_prune(Context(keep_one), plan) if d.record.id == newer.id]
    assert went.keep and went.reasons[0].startswith("kept: retention read again under the lock keeps it")
    assert Context(keep_one).catalog.get(newer.id).is_valid


def test_a_folder_another_prune_took_meanwhile_is_no_failure(settings: Settings) -> None:
    keep_one = replace(settings, retention=RetentionConfig(daily=1, weekly=0, monthly=0))
    older = run_backup(Context(keep_one), keep_one.databases[0])
    run_backup(Context(keep_one), keep_one.databases[0])
    first, second = plan_prune(Context(keep_one)), plan_prune(Context(keep_one))
    run_prune(Context(keep_one), first)
    [went] = [d for d in run_prune(Context(keep_one), second) if d.record.id == older.id]
    assert went.keep and went.reasons[0].endswith("gone already")
    assert all(r.ok for r in read_runs(keep_one.repository) if r.operation in ("prune", "delete"))


def test_a_pin_record_not_named_as_ours_writes_or_named_ahead_of_our_clock_does_not_win(settings: Settings) -> None:
    """The newest pin record by name is the word: a planted ``zz.json`` saying unpinned is not one of ours and
    is not read; a record named by a clock ahead of ours is, so the next pin is named after it; and a pin that
    did not take says so instead of reporting success."""
    record = run_backup(Context(settings), settings.databases[0])
    folder = Path(record.path).parent / "pins"
    folder.mkdir()
    (folder / "zz.json").write_text('{"pinned": false}\n')
    ahead = time.time_ns() + 3600 * 10**9
    (folder / f"{ahead:020d}-0000abcd.json").write_text('{"pinned": false}\n')
    assert pins.set_pinned(Context(settings), record, True).pinned
    assert Context(settings).catalog.get(record.id).pinned
    newest = max(p.name for p in folder.glob("*.json") if p.name != "zz.json")
    assert int(newest[:20]) > ahead


def in_the_bucket(settings: Settings, s3_bucket: Bucket) -> tuple[Settings, BackupRecord, S3Repository, BackupRecord]:
    """A backup uploaded: the settings with the bucket, the backup, the bucket, its copy there as listed."""
    with_s3 = replace(settings, s3=s3_bucket.config())
    record = run_backup(Context(with_s3), with_s3.databases[0])
    run_upload(Context(with_s3), record)
    bucket = Context(with_s3).catalog.s3
    assert bucket is not None
    return with_s3, record, bucket, next(r for r in bucket.list(record.database) if r.id == record.id)


def test_a_bucket_pin_record_not_named_as_ours_writes_or_named_ahead_of_our_clock_does_not_win(
        settings: Settings, s3_bucket: Bucket) -> None:
    """As on the disk: in the bucket a planted ``pins/zz.json`` saying unpinned is not read, the next pin is named
    after a record of a clock ahead of ours, and the pin reads back as set (prune reads the same records)."""
    with_s3, record, bucket, in_bucket = in_the_bucket(settings, s3_bucket)
    pins_at = bucket.folder(in_bucket) + "pins/"
    ahead = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y%m%dT%H%M%S.%fZ")
    for name in ("zz.json", f"{ahead}-otherhost-0000abcd.json"):
        s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=pins_at + name, Body=b'{"pinned": false}\n')
    assert not bucket.refresh(in_bucket).pinned
    pins.set_pinned(Context(with_s3), Context(with_s3).catalog.get(record.id), True)
    assert bucket.refresh(in_bucket).pinned
    newest = max(k.rsplit("/", 1)[1] for k in s3_bucket.objects() if k.startswith(pins_at) and k[-7:] != "zz.json")
    assert newest > f"{ahead}-otherhost"


def test_a_verification_record_dated_ahead_of_our_clock_is_never_the_last_word(settings: Settings) -> None:
    """An "ok" dated tomorrow (a host whose clock runs ahead, or a planted record) would outvote every failure
    found today, and prune would let the good older backup go: it sorts before the records that are real."""
    record = run_backup(Context(settings), settings.databases[0])
    folder = Path(record.path).parent / "verifications"
    folder.mkdir()
    tomorrow = utc_iso(datetime.now(UTC) + timedelta(days=1))
    (folder / f"{time.time_ns():020d}-0000abcd.json").write_text(
        f'{{"at": "{tomorrow}", "level": "full", "ok": true, "problems": [], "checks": []}}\n')
    failed = Verification(at=utc_iso(datetime.now(UTC)), level="quick", ok=False, problems=("sha256 differs",))
    Context(settings).catalog.record_verification(record, failed, lambda event: None)
    assert Context(settings).catalog.get(record.id).failed_last_check


def test_a_verification_record_of_another_backup_or_of_other_bytes_is_none_of_its_history(
        settings: Settings, s3_bucket: Bucket, pg_sandbox: Sandbox) -> None:
    """A check vouches for the bytes it read: its record names the backup and their sha256. One copied into
    another backup's folder, or left from bytes since replaced under the same id, does not make that backup
    verified, on the disk or in the bucket; a record written before records said which is read as before."""
    with_s3 = replace(settings, s3=s3_bucket.config())
    checked = run_backup(Context(with_s3), with_s3.databases[0])
    pg_sandbox.psql("DELETE FROM film_actor WHERE actor_id = 1", with_s3.databases[0].database)
    other = run_backup(Context(with_s3), with_s3.databases[0])
    assert other.sha256 != checked.sha256
    for record in (checked, other):
        run_upload(Context(with_s3), record)
    verify_backup(Context(with_s3), Context(with_s3).catalog.local.refresh(checked), "quick")
    [written] = (Path(checked.path).parent / "verifications").iterdir()
    body = json.loads(written.read_text())
    assert (body["backup_id"], body["sha256"], body["ok"]) == (checked.id, checked.sha256, True)
    local, bucket = Context(with_s3).catalog.local, Context(with_s3).catalog.s3
    assert bucket is not None
    in_bucket = next(r for r in bucket.list(other.database) if r.id == other.id)
    stale = {**body, "backup_id": other.id}  # its id, other bytes: a check of what stood there before
    older = {k: v for k, v in body.items() if k not in ("backup_id", "sha256")}
    for n, planted in enumerate((body, stale, older)):
        name = f"{time.time_ns() + n:020d}-0000abc{n}.json"
        (local.folder(other) / "verifications").mkdir(exist_ok=True)
        (local.folder(other) / "verifications" / name).write_text(json.dumps(planted))
        s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=f"{bucket.folder(in_bucket)}verifications/{name}",
                                    Body=json.dumps(planted).encode())
    for read in (local.refresh(other), bucket.refresh(in_bucket)):
        assert [(v.backup_id, v.sha256) for v in read.verifications] == [("", "")]  # the older one alone


def test_records_behind_a_link_where_the_pins_or_verifications_folder_should_be_are_not_read(
        settings: Settings, tmp_path: Path) -> None:
    """A link planted as ``pins/`` or ``verifications/`` is not followed: records from elsewhere are not this
    backup's (an "ok" from outside made it verified); a pins folder that cannot be read counts as a pin,
    the safe word, whatever the records behind the link say."""
    record = run_backup(Context(settings), settings.databases[0])
    outside = tmp_path / "outside"
    (outside / "pins").mkdir(parents=True)
    (outside / "verifications").mkdir()
    (outside / "pins" / f"{time.time_ns():020d}-0000abcd.json").write_text('{"pinned": false}\n')
    at = utc_iso(datetime.now(UTC))
    (outside / "verifications" / f"{time.time_ns():020d}-0000abcd.json").write_text(
        f'{{"at": "{at}", "level": "full", "ok": true, "problems": [], "checks": []}}\n')
    folder = Path(record.path).parent
    (folder / "pins").symlink_to(outside / "pins")
    (folder / "verifications").symlink_to(outside / "verifications")
    seen = Context(settings).catalog.get(record.id)
    assert seen.verifications == () and seen.pinned
    with pytest.raises(BackupToolError):
        pins.set_pinned(Context(settings), seen, False)  # writes refuse the link, in one line


def test_a_verification_dated_ahead_in_the_bucket_is_never_the_last_word_either(settings: Settings,
                                                                                 s3_bucket: Bucket) -> None:
    """The bucket orders a backup's verification records by the same rule as the local disk: an "ok" dated
    tomorrow does not outvote a failure found today."""
    _, record, bucket, in_bucket = in_the_bucket(settings, s3_bucket)
    tomorrow = utc_iso(datetime.now(UTC) + timedelta(days=1))
    bucket.put_small(f"{bucket.folder(in_bucket)}verifications/{tomorrow}-planted.json",
                     f'{{"at": "{tomorrow}", "level": "full", "ok": true, "problems": [], "checks": []}}\n', once=True)
    failed = Verification(at=utc_iso(datetime.now(UTC)), level="quick", ok=False, problems=("sha256 differs",))
    bucket.add_verification(in_bucket, failed, "report")
    again = next(r for r in S3Repository(s3_bucket.config()).list(record.database) if r.id == record.id)
    assert len(again.verifications) == 2 and again.failed_last_check


def test_a_place_outside_the_layout_is_damaged_and_prune_never_acts_on_it(
        settings: Settings, s3_bucket: Bucket) -> None:
    """Every act on a place goes by the layout (``folder``): a place whose id is not of its day, planted beside a
    real backup of that id, would have a delete, a pin or a verdict land on the real backup's place. It reads
    damaged, which prune never deletes; the real backup stays listed and valid."""
    with_s3 = replace(settings, s3=s3_bucket.config(lock_ttl_seconds=1))
    record = run_backup(Context(with_s3), with_s3.databases[0])
    run_upload(Context(with_s3), record)
    bucket = Context(with_s3).catalog.s3
    assert bucket is not None
    real = sorted(k for k in s3_bucket.objects())
    planted = f"{bucket.database_folder(record.database)}2020/01/01/{record.id}/junk"
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=planted, Body=b"x")
    bucket.forget_listing()  # written behind this process's back
    listed = [r for r in bucket.list(record.database) if r.id == record.id]
    [odd] = [r for r in listed if "/2020/" in r.path]
    assert odd.status == "damaged" and "not where the layout puts it" in odd.reason
    assert Context(with_s3).catalog.get(record.id).status == "valid"
    time.sleep(1.5)  # older than lock_ttl_seconds
    prune(with_s3, record.database)
    assert sorted(s3_bucket.objects()) == sorted([*real, planted])  # the real backup and the planted place stay


def test_prune_removes_a_place_a_killed_upload_left_once_its_last_write_is_older_than_the_lock_ttl(
        settings: Settings, s3_bucket: Bucket) -> None:
    """A place with a data object and no manifest names no host: prune kept it for good ("made on : its own prune
    decides"), every killed upload's bytes. Judged as this host's, it goes once both its start and its newest object
    are older than lock_ttl_seconds: a streamed backup hours long writes its data object moments before its
    manifest, under an id stamped hours before."""
    with_s3 = replace(settings, s3=s3_bucket.config(lock_ttl_seconds=2))
    record = run_backup(Context(with_s3), with_s3.databases[0])
    run_upload(Context(with_s3), record)
    bucket = Context(with_s3).catalog.s3
    assert bucket is not None
    real = sorted(s3_bucket.objects())
    day = datetime.now(UTC) - timedelta(days=2)
    killed = f"{record.id.rsplit('-', 2)[0]}-{day.strftime('%Y%m%dT%H%M%SZ')}-k1ll"
    left = bucket.folder_of(record.database, utc_iso(day), killed) + f"{killed}.dump.zst"
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=left, Body=b"x")
    bucket.forget_listing()  # written behind this process's back
    [listed] = [r for r in bucket.list(record.database) if r.id == killed]
    assert listed.status == "incomplete" and not listed.host
    kept = [d for d in prune(with_s3, record.database) if d.record.id == killed]
    assert [(d.keep, d.reasons[0]) for d in kept] == [(True, "incomplete in S3: an upload may still be under way")]
    assert left in s3_bucket.objects(), "its object was written a moment ago: an upload may be finishing"
    time.sleep(2.5)
    gone = [d for d in prune(with_s3, record.database) if d.record.id == killed]
    assert [d.keep for d in gone] == [False]
    assert sorted(s3_bucket.objects()) == real, "the leftover went, the real backup stayed"
