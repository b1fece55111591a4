"""Deleting a backup removes every copy the catalog knows (the disk and the bucket, moto over HTTP), and a copy
object lock keeps is said in the plan and reported by the run, not raised."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import ConfigError
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.delete import plan_delete, run_delete
from backup_tui.engine.ops.upload import run_upload
from backup_tui.engine.storage.journal import read_runs
from backup_tui.engine.storage.locks import reading_backup
from tests.conftest import Bucket

pytestmark = pytest.mark.slow


def versions(bucket: Bucket, name: str) -> list[str]:
    pages = bucket.client.get_paginator("list_object_versions").paginate(Bucket=name)
    return [v["Key"] for page in pages for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]


def test_delete_removes_the_local_copy_and_every_version_in_the_bucket(settings: Settings, s3_bucket: Bucket) -> None:
    s3_bucket.client.put_bucket_versioning(Bucket=s3_bucket.name, VersioningConfiguration={"Status": "Enabled"})
    with_s3 = replace(settings, s3=s3_bucket.config())
    record = run_backup(Context(with_s3), with_s3.databases[0])
    run_upload(Context(with_s3), record)
    assert Context(with_s3).catalog.get(record.id).locations == ("local", "s3")
    refused = plan_delete(Context(with_s3), Context(with_s3).catalog.get(record.id))
    assert refused.guarded == (f"the newest valid backup of {record.database} in local",
                               f"the newest valid backup of {record.database} in s3")
    with pytest.raises(ConfigError, match="retention always keeps it"):
        run_delete(Context(with_s3), refused)
    plan = plan_delete(Context(with_s3), Context(with_s3).catalog.get(record.id), force=True)
    assert [c.location for c in plan.copies] == ["local", "s3"]
    assert plan.copies[0].where.startswith(str(with_s3.repository)) and plan.copies[1].where.startswith(
        f"s3://{s3_bucket.name}/") and plan.copies[1].where.endswith(f"/{record.id}/")
    assert not any(c.retained for c in plan.copies)

    result = run_delete(Context(with_s3), plan)
    assert result.deleted == ("local", "s3") and not result.kept
    assert Context(with_s3).catalog.list() == []
    assert not list((with_s3.repository / "backups").glob(f"*/{record.id}"))
    assert [k for k in versions(s3_bucket, s3_bucket.name) if record.id in k] == []  # the lock objects stay


def test_an_object_locked_copy_is_reported_and_the_local_one_deleted(settings: Settings, s3_bucket: Bucket) -> None:
    name = s3_bucket.locked_twin()
    with_s3 = replace(settings, s3=replace(s3_bucket.config(), bucket=name))
    record = run_backup(Context(with_s3), with_s3.databases[0])
    run_upload(Context(with_s3), record)
    plan = plan_delete(Context(with_s3), record, force=True)
    locked = {c.location: c.retained for c in plan.copies}
    assert locked["local"] == ()
    assert any(item.startswith("manifest.json (governance until ") for item in locked["s3"]), locked
    assert any("object lock keeps" in line for line in plan.describe())

    result = run_delete(Context(with_s3), plan)  # no exception: what the lock keeps is an answer
    assert result.deleted == ("local",)
    assert "object lock" in result.kept["s3"]
    left = Context(with_s3).catalog.list()
    assert [(r.id, r.locations) for r in left] == [(record.id, ("s3",))]
    assert not list((with_s3.repository / "backups").glob(f"*/{record.id}"))


def test_a_delete_while_a_verify_reads_the_backup_deletes_no_copy_and_exits_as_a_held_lock(
    settings: Settings, s3_bucket: Bucket,
) -> None:
    with_s3 = replace(settings, s3=s3_bucket.config())
    record = run_backup(Context(with_s3), with_s3.databases[0])
    run_upload(Context(with_s3), record)
    newer = run_backup(Context(with_s3), with_s3.databases[0])
    run_upload(Context(with_s3), newer)  # newer in both places: this one is not guarded
    plan = plan_delete(Context(with_s3), Context(with_s3).catalog.get(record.id))
    assert [c.location for c in plan.copies] == ["local", "s3"] and not plan.refusal

    with reading_backup(with_s3.repository, record.id):
        result = run_delete(Context(with_s3), plan)
    assert (result.deleted, result.busy, result.exit_code) == ((), True, 3)
    assert result.kept == {"local": "a verify or restore is reading it", "s3": "a verify or restore is reading it"}
    assert Path(record.path).exists() and Context(with_s3).catalog.get(record.id).locations == ("local", "s3")
    [run] = [r for r in read_runs(with_s3.repository) if r.operation == "delete"]
    assert (run.ok, run.exit_code, run.backup_id) == (False, 3, record.id)
