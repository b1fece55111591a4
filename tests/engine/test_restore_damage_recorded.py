"""Damage a restore finds in the stored bytes, while planning or while loading, is recorded as a failed check
(the record a failed verify writes), so the backup reads damaged in the catalog and health names it; a plan
that fails for the server records nothing. Real backups of pagila, damaged on disk."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.clock import system_clock
from backup_tui.engine.core.errors import BackupToolError, ConnectionFailed, VerificationError
from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.health import check_health
from backup_tui.engine.ops.restore import plan_restore, run_restore
from backup_tui.engine.storage.catalog import Catalog
from backup_tui.engine.storage.s3 import S3Unreachable
from tests.conftest import Bucket, history_records


def overwrite_header(record: BackupRecord) -> None:
    """The zstd frame's magic number gone: the plan's read of the table of contents stops at once."""
    path = Path(record.path)
    path.write_bytes(b"\0\0\0\0" + path.read_bytes()[4:])


def cut_to_first_kb(record: BackupRecord) -> None:
    path = Path(record.path)
    path.write_bytes(path.read_bytes()[:1024])


def remove_file(record: BackupRecord) -> None:
    Path(record.path).unlink()


DAMAGE: dict[str, tuple[Callable[[BackupRecord], None], str]] = {
    "header overwritten": (overwrite_header, "zstd stream is corrupt"),
}
# Found by the listing already, which reads the data file's size beside the manifest: damaged, never planned
LISTED_DAMAGE: dict[str, tuple[Callable[[BackupRecord], None], str]] = {
    "truncated": (cut_to_first_kb, "bytes, not the manifest's"),
    "data file missing": (remove_file, "its data file is missing"),
}


def _closed() -> int:
    """A local TCP port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reread(settings: Settings, backup_id: str) -> BackupRecord:
    return Catalog.from_settings(settings).get(backup_id)


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damage_found_while_planning_a_restore_is_recorded_and_named_by_health(case: str, settings: Settings) -> None:
    damage, said = DAMAGE[case]
    record = run_backup(Context(settings), settings.databases[0])
    damage(record)
    for _ in range(2):  # planned twice (the terminal app plans ahead): one record of one finding
        ctx = Context(settings)
        with pytest.raises(VerificationError, match="nothing was changed"):
            plan_restore(ctx, ctx.catalog.get(record.id), target_db=f"{record.database}_damaged")
    [recorded] = history_records(Path(record.path).parent)
    assert recorded["ok"] is False and said in recorded["problems"][0], recorded
    assert "while planning a restore" in recorded["not_done"][0]
    assert _reread(settings, record.id).status_label == "failed check"
    report = check_health(settings, system_clock())
    [problem] = [p for p in report.problems if p.rule == "failed_check"]
    assert (problem.severity, problem.backup_id) == ("critical", record.id)
    assert f"verification of {record.id} failed" in problem.message and said in problem.message


@pytest.mark.parametrize("case", list(LISTED_DAMAGE))
def test_a_data_file_cut_or_gone_is_damage_the_listing_names_before_any_plan(case: str, settings: Settings) -> None:
    damage, said = LISTED_DAMAGE[case]
    record = run_backup(Context(settings), settings.databases[0])
    damage(record)
    ctx = Context(settings)
    listed = ctx.catalog.get(record.id)
    assert listed.status == "damaged" and said in listed.reason
    with pytest.raises(VerificationError, match="it cannot be restored; nothing was changed"):
        plan_restore(ctx, listed, target_db=f"{record.database}_damaged")
    report = check_health(settings, system_clock())
    assert [p.backup_id for p in report.problems if p.rule == "damaged"] == [record.id]


def test_damage_that_cannot_be_recorded_is_still_the_error_said(settings: Settings,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A repository that refuses the record (read-only, full): the operator still reads the damage, exit 4."""
    record = run_backup(Context(settings), settings.databases[0])
    overwrite_header(record)
    said: list[str] = []
    ctx = Context(settings, reporter=lambda event: said.append(str(getattr(event, "message", ""))))

    def refused(*_: object) -> None:
        raise BackupToolError("the repository is read-only")

    monkeypatch.setattr(ctx.catalog, "record_verification", refused)
    with pytest.raises(VerificationError, match="zstd stream is corrupt"):
        plan_restore(ctx, ctx.catalog.get(record.id), target_db=f"{record.database}_damaged")
    assert any("could not be recorded: the repository is read-only" in line for line in said)


def test_damage_found_while_restoring_is_recorded(settings: Settings) -> None:
    """Planned while intact, damaged before the run: the load finds it, drops its database and records it."""
    record = run_backup(Context(settings), settings.databases[0])
    ctx = Context(settings)
    plan = plan_restore(ctx, record, target_db=f"{record.database}_late")
    path = Path(record.path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(VerificationError):
        run_restore(Context(settings), plan)
    [recorded] = history_records(path.parent)
    assert recorded["ok"] is False and "while restoring it" in recorded["not_done"][0]
    assert _reread(settings, record.id).failed_last_check


def test_a_plan_that_fails_for_the_server_records_nothing(settings: Settings) -> None:
    """A server down says nothing about the backup: even a damaged one is not judged by a read that never ran."""
    record = run_backup(Context(settings), settings.databases[0])
    overwrite_header(record)
    down = replace(settings, databases=(replace(settings.databases[0], host="127.0.0.1", port=_closed()),))
    ctx = Context(down)
    with pytest.raises(ConnectionFailed):
        plan_restore(ctx, ctx.catalog.get(record.id), target_db=f"{record.database}_down")
    assert history_records(Path(record.path).parent) == []
    assert not _reread(settings, record.id).failed_last_check


def test_a_bucket_copys_damage_is_recorded_in_the_bucket_and_an_unreachable_bucket_records_nothing(
    settings: Settings, s3_bucket: Bucket,
) -> None:
    bucket_only = replace(settings, s3=s3_bucket.config(keep_local=False))  # streamed straight to the bucket
    record = run_backup(Context(bucket_only), bucket_only.databases[0])
    [key] = [k for k in s3_bucket.objects() if k.endswith(".dump.zst")]
    target = f"{record.database}_from_bucket"

    stored = s3_bucket.client.get_object(Bucket=s3_bucket.name, Key=key)["Body"].read()
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=key, Body=b"\0\0\0\0" + stored[4:])
    assert bucket_only.s3 is not None
    gone = replace(bucket_only, s3=replace(bucket_only.s3, endpoint_url=f"http://127.0.0.1:{_closed()}"))
    ctx = Context(gone)
    with pytest.raises(S3Unreachable):
        plan_restore(ctx, record, target_db=target)
    assert not _reread(bucket_only, record.id).verifications  # out of reach: no read, no word on the backup

    ctx = Context(bucket_only)
    with pytest.raises(VerificationError, match="nothing was changed"):
        plan_restore(ctx, ctx.catalog.get(record.id), target_db=target)
    [recorded] = _reread(bucket_only, record.id).verifications
    assert not recorded.ok and "zstd stream is corrupt" in recorded.problems[0]
    assert [k for k in s3_bucket.objects() if "/verifications/" in k], s3_bucket.objects()
