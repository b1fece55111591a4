"""The bucket as a repository, read as untrusted input, and the [s3] settings."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from backup_tui.engine.config import S3Config, Secret, load_settings, redacted
from backup_tui.engine.core.errors import BackupToolError, ConfigError
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.delete import plan_delete
from backup_tui.engine.ops.prune import plan_prune
from backup_tui.engine.ops.upload import run_upload
from backup_tui.engine.ops.verify import verify_backup
from backup_tui.engine.storage import bucket_lock, s3
from backup_tui.engine.storage.s3 import S3Repository
from tests.conftest import Bucket, closed_port


def test_s3_table_and_the_old_scripts_names(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[s3]\nbucket = "b1"\nprefix = "/fleet/"\nendpoint_url = "localhost:9000"\npart_size_mib = 8\n')
    found = load_settings(config, env={}).s3
    assert found is not None
    assert (found.bucket, found.prefix, found.endpoint_url, found.part_size_mib, found.concurrency) == \
        ("b1", "fleet", "http://localhost:9000", 8, 8)
    env = {"BACKUP_ENABLE_S3": "true", "S3_BUCKET": "b2", "S3_ENDPOINT": "minio.example.com:9000",
           "S3_ACCESS_KEY": "AKIAEXAMPLE", "S3_SECRET_KEY": "very-secret-value"}
    from_env = load_settings(env=env).s3
    assert from_env is not None
    assert (from_env.bucket, from_env.endpoint_url) == ("b2", "https://minio.example.com:9000")
    shown = json.dumps(redacted(load_settings(env=env))) + repr(from_env)
    assert "very-secret-value" not in shown and "AKIAEXAMPLE" not in shown
    assert load_settings(config, env={"BACKUP_ENABLE_S3": "false"}).s3 is None
    assert load_settings(env={"S3_BUCKET": "b3"}).s3 is None, "S3_* alone were off in the old scripts too"


@pytest.mark.parametrize(("table", "said"), [
    ('bucket = "b"\nregion_name = "x"', "unknown key(s) in [s3]: region_name"),
    ('prefix = "p"', "[s3] needs a bucket"),
    ('bucket = "b"\npart_size_mib = 1', "s3.part_size_mib must be between 5"),
    ('bucket = "b"\nsse = "DES"', "s3.sse must be one of AES256, aws:kms"),
    ('bucket = "b"\nprefix = "a/../b"', "has an empty, '.' or '..' part"),
    ('bucket = "b"\nkeep_local = "no"', "s3.keep_local must be true or false"),
    ('bucket = "../../x y"', "s3.bucket '../../x y' is no bucket name"),
    ('bucket = "backups/pg"', "(a folder inside the bucket goes in s3.prefix)"),
])
def test_s3_table_mistakes_are_one_line(tmp_path: Path, table: str, said: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f"[s3]\n{table}\n")
    with pytest.raises(ConfigError, match=None) as caught:
        load_settings(config, env={})
    assert said in caught.value.message


def test_commands_without_s3_never_load_boto3(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    code = ("import sys; from headless.cli import main; main(['list', '--json']); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))")
    env = {"BACKUP_DIR": str(tmp_path / "repo"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[-1] == "[]"


def test_listed_times_are_read_as_botocore_reads_them() -> None:
    from botocore.utils import parse_timestamp

    for value in ("2024-03-01T02:00:00.000Z", "2024-03-01T02:00:00Z", "Fri, 01 Mar 2024 02:00:00 GMT", "1709258400"):
        assert s3.parse_timestamp(value) == parse_timestamp(value)


def test_a_bucket_out_of_reach_is_waited_for_no_longer_than_said() -> None:
    """config check waits 10 s and a listing 5 s, each said as the seconds it waited, never retry_seconds'
    60; and no wait outlasts retry_seconds: an operator who set 1 s was kept 5 s by every listing."""
    down = S3Config(bucket="gone", endpoint_url=f"http://127.0.0.1:{closed_port()}", access_key="AKIAEXAMPLE",
                    secret_key=Secret("not-a-secret"))
    with pytest.raises(s3.S3Unreachable, match="unreachable after 1 s of retries"):
        s3.probe(down, patience=1)
    with pytest.raises(s3.S3Unreachable, match="unreachable after 1 s of retries"):
        S3Repository(replace(down, retry_seconds=1)).listing()
    began = time.monotonic()
    with pytest.raises(s3.S3Unreachable, match="unreachable after 2 s of retries"):
        s3.probe(replace(down, retry_seconds=2))
    assert time.monotonic() - began < 5, "the probe's 10 s gave way to retry_seconds"


def test_records_in_the_bucket_are_untrusted(uploaded: tuple[Context, S3Repository, str], s3_bucket: Bucket) -> None:
    ctx, repo, backup_id = uploaded
    client, bucket = s3_bucket.client, s3_bucket.name
    record = ctx.catalog.get(backup_id)
    assert record.locations == ("local", "s3")
    manifest_key = repo.folder(record) + "manifest.json"
    text = client.get_object(Bucket=bucket, Key=manifest_key)["Body"].read()

    # A manifest copied to another backup's place is not that backup.
    other = repo.folder(record).replace(backup_id, backup_id[:-4] + "zzzz")
    client.put_object(Bucket=bucket, Key=other + "manifest.json", Body=text)
    # One edited by hand no longer matches its own checksum.
    edited = json.loads(text)
    edited["database"] = "postgres"
    client.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(edited).encode())
    # Something huge where a record belongs is not read.
    client.put_object(Bucket=bucket, Key=repo.folder(record) + "verifications/x.json", Body=b"[" * (2 << 20))
    repo.forget_listing()  # the next list reads the bucket, not the short-lived cache
    found = {r.id: r for r in repo.list()}
    assert found[backup_id].status == "damaged" and "checksum" in found[backup_id].reason
    assert found[backup_id[:-4] + "zzzz"].status == "damaged"
    assert "does not match its folder" in found[backup_id[:-4] + "zzzz"].reason
    merged = ctx.catalog.get(backup_id)
    assert merged.status == "valid" and merged.locations == ("local",), "the good local copy wins, alone"


def test_pins_and_verifications_are_records_written_once(uploaded: tuple[Context, S3Repository, str],
                                                          s3_bucket: Bucket) -> None:
    ctx, repo, backup_id = uploaded
    record = repo.refresh(ctx.catalog.get(backup_id))
    manifest_key = repo.folder(record) + "manifest.json"
    before = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key=manifest_key)["ETag"]
    repo.set_pinned(record, True)
    assert repo.refresh(record).pinned
    repo.set_pinned(record, False)
    assert not repo.refresh(record).pinned
    assert s3_bucket.client.head_object(Bucket=s3_bucket.name, Key=manifest_key)["ETag"] == before
    pins = [k for k in s3_bucket.objects() if "/pins/" in k]
    assert len(pins) == 2 and all(k.startswith("fleet/") for k in pins)


def test_a_ranged_reader_reads_the_object_exactly_in_several_ranges(
    uploaded: tuple[Context, S3Repository, str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctx, repo, backup_id = uploaded
    record = ctx.catalog.get(backup_id)
    monkeypatch.setattr(s3, "RANGE_BYTES", 100_000)  # many ranges of a small dump
    with repo.open_stored(record).open() as remote, ctx.catalog.local.open_stored(record).open() as local:
        assert remote.read() == local.read()


@pytest.mark.parametrize("data", [None, b"short"], ids=["data object missing", "data object of another size"])
def test_a_manifest_without_its_data_is_no_copy_and_the_next_upload_sends_it(
    uploaded: tuple[Context, S3Repository, str], s3_bucket: Bucket, data: bytes | None,
) -> None:
    """The bucket's copy counted as there whenever its manifest was: with the data object gone, upload sent
    nothing, and prune deleted the local copy, the only good one, as kept in S3."""
    ctx, repo, backup_id = uploaded
    record = ctx.catalog.get(backup_id)
    key = repo.data_key(record)
    if data is None:
        s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key=key)
    else:
        s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=key, Body=data)
    repo.forget_listing()
    [there] = [r for r in repo.list() if r.id == backup_id]
    said = "missing" if data is None else f"5 bytes, not the manifest's {record.stored_bytes:,}"
    assert there.status == "damaged" and there.reason == f"{s3.DATA_NOT_AS_LISTED}{said}"
    assert ctx.catalog.get(backup_id).locations == ("local",), "no copy in S3: prune keeps the local one"
    assert [d.keep for d in plan_prune(ctx) if d.record.id == backup_id and d.location == "local"] == [True]
    again = run_upload(ctx, ctx.catalog.get(backup_id))
    assert again.status == "valid"
    repo.forget_listing()
    assert ctx.catalog.get(backup_id).locations == ("local", "s3")


def test_a_manifest_copied_under_another_day_leaves_the_delete_guard_in_place(
    uploaded: tuple[Context, S3Repository, str], s3_bucket: Bucket,
) -> None:
    """The newest valid backup in the bucket is guarded against a delete without --force. A copy of its manifest
    planted under another day was read first, damaged, and the guard saw no newest valid backup."""
    ctx, repo, backup_id = uploaded
    record = ctx.catalog.get(backup_id)
    manifest = s3_bucket.client.get_object(Bucket=s3_bucket.name, Key=repo.folder(record) + "manifest.json")
    planted = repo.folder(record).replace(record.created_at[:10].replace("-", "/"), "2020/01/01")
    assert planted != repo.folder(record)
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=planted + "manifest.json", Body=manifest["Body"].read())
    repo.forget_listing()
    plan = plan_delete(ctx, record, location="s3")
    assert plan.guarded and "retention always keeps it" in plan.refusal


def test_a_sidecar_in_the_bucket_that_is_not_text_is_a_failed_check_not_a_crash(
    uploaded: tuple[Context, S3Repository, str], s3_bucket: Bucket,
) -> None:
    ctx, repo, backup_id = uploaded
    record = ctx.catalog.get(backup_id)
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=repo.data_key(record) + ".sha256", Body=b"\xff" * 70)
    repo.forget_listing()
    bucket_only = replace(ctx.settings, repository=ctx.settings.repository.parent / "empty-repo")
    bucket_only.repository.mkdir()
    result = verify_backup(Context(bucket_only), Context(bucket_only).catalog.get(backup_id), "quick")
    assert not result.ok and any("sidecar unreadable" in p and "not UTF-8" in p for p in result.problems)


def test_a_lock_object_not_of_ours_leaves_local_backups_going(
    uploaded: tuple[Context, S3Repository, str], s3_bucket: Bucket,
) -> None:
    """Anyone who can write the bucket can put garbage where a database's lock goes: backups to the local disk go
    on (it stopped them all, for the lock's whole lifetime, as 'locked by a run on ?')."""
    ctx, repo, _ = uploaded
    db = ctx.settings.databases[0]
    key = bucket_lock.lock_key(repo, db.database)
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=key, Body=b"\x00garbage" * 10)
    said: list[str] = []
    record = run_backup(Context(ctx.settings, reporter=lambda e: said.append(str(getattr(e, "message", "")))), db)
    assert record.status == "valid"
    assert any("S3 lock not taken" in m and "not one a run of ours wrote" in m for m in said), said
    streamed = replace(ctx.settings, s3=replace(repo.config, keep_local=False))
    with pytest.raises(bucket_lock.ForeignLock):
        run_backup(Context(streamed), db)


def test_a_listing_gives_up_on_a_store_that_takes_connections_and_never_answers() -> None:
    """Each listing call waits LIST_PATIENCE_S without a byte, once: one page held botocore's 60 s read timeout
    three times over, and the app's catalog, its local backups too, waited minutes for it."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # connections complete in the kernel's backlog; nothing is ever read or answered
    try:
        config = S3Config(bucket="silent", endpoint_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
                          access_key="AKIAEXAMPLE", secret_key=Secret("not-a-secret"), retry_seconds=1)
        started = time.monotonic()
        with pytest.raises(BackupToolError) as caught:
            S3Repository(config).list()
        waited = time.monotonic() - started
    finally:
        silent.close()
    assert waited < 4 * s3.LIST_PATIENCE_S, waited
    assert "\n" not in caught.value.message and "not-a-secret" not in caught.value.message


def test_a_delete_takes_the_manifest_first_in_a_request_of_its_own(uploaded: tuple[Context, S3Repository, str]) -> None:
    """Versions go 1,000 to a request, in the listing's order: a delete killed between two requests of a backup whose
    data sorted before its manifest left the manifest without its data, damaged and kept for a person for good.
    Without its manifest first, what a killed delete leaves is incomplete, and the next prune removes it."""
    ctx, repo, backup_id = uploaded
    record = ctx.catalog.get(backup_id)
    asked: list[list[str]] = []
    delete_objects = repo.client.delete_objects

    def recorded(**kwargs: Any) -> Any:
        asked.append([item["Key"] for item in kwargs["Delete"]["Objects"]])
        return delete_objects(**kwargs)

    repo.client.delete_objects = recorded  # type: ignore[method-assign]
    repo.delete(record)
    folder = repo.folder(record)
    assert asked[0] == [f"{folder}{s3.MANIFEST}"] and len(asked) == 2
    assert f"{folder}{s3.MANIFEST}" not in asked[1] and repo.data_key(record) in asked[1]
    repo.forget_listing()
    assert backup_id not in [r.id for r in repo.list()]
