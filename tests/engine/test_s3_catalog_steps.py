"""A bucket's catalog in two steps (every backup from the listing, then filled in as manifests are read) and the
records kept on this host between runs, read as untrusted as the bucket itself. Against moto's server over HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.copies import merge_copies
from backup_tui.engine.core.manifest import MAX_RECORD_BYTES
from backup_tui.engine.core.models import BackupRecord, utc_iso
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.delete import plan_delete
from backup_tui.engine.storage import s3
from backup_tui.engine.storage.catalog import Catalog
from backup_tui.engine.storage.progressive import list_in_steps, read_now, unjudged
from backup_tui.engine.storage.record_cache import RecordCache
from backup_tui.engine.storage.s3 import S3Repository, fill_order
from tests.conftest import Bucket

START = datetime(2024, 3, 1, 2, tzinfo=UTC)


def made(database: str, n: int, **changes: Any) -> BackupRecord:
    moment = START + timedelta(hours=6 * n)
    backup_id = f"{database}-{moment:%Y%m%dT%H%M%SZ}"
    record = BackupRecord(
        id=backup_id, database=database, created_at=utc_iso(moment), finished_at=utc_iso(moment + timedelta(1)),
        duration_s=1.5, format="custom", compression="zstd", raw_bytes=9_000 + n, stored_bytes=3_000 + n,
        sha256="ab" * 32, file_name=f"{backup_id}.dump.zst", row_counts={"public.t": n}, host="web-1",
        locations=("s3",),
    )
    return replace(record, **changes)


def put(repo: S3Repository, record: BackupRecord, manifest: bool = True) -> None:
    """A backup's objects at their places, as an upload leaves them (the manifest last)."""
    folder = repo.folder(record)
    repo.client.put_object(Bucket=repo.bucket, Key=folder + record.file_name, Body=b"x" * record.stored_bytes)
    repo.client.put_object(Bucket=repo.bucket, Key=folder + record.file_name + ".sha256",
                           Body=f"{record.sha256}  {record.file_name}\n".encode())
    if manifest:
        repo.client.put_object(Bucket=repo.bucket, Key=folder + "manifest.json", Body=record.manifest_json().encode())


class Counted:
    """GetObject calls made through a repository's (real) client."""

    def __init__(self, repo: S3Repository) -> None:
        self.gets = 0
        repo.client.meta.events.register("before-call.s3.GetObject", self._one)

    def _one(self, **_: Any) -> None:
        self.gets += 1


def new_process() -> None:
    """What a fresh process starts with: nothing read from any bucket in memory."""
    s3._RECORDS.clear()
    s3._LISTINGS.clear()


@pytest.fixture
def seeded(s3_bucket: Bucket, tmp_path: Path) -> Iterator[tuple[Settings, list[BackupRecord]]]:
    new_process()
    settings = Settings(repository=tmp_path / "repo", databases=(), s3=s3_bucket.config())
    (tmp_path / "repo").mkdir()
    repo = S3Repository(settings.s3)  # type: ignore[arg-type]
    records = [made("alpha", n) for n in range(6)] + [made("beta", n) for n in range(3)]
    for record in records:
        put(repo, record)
    yield settings, records
    new_process()


def test_every_backup_is_listed_unread_then_filled_newest_first(seeded: tuple[Settings, list[BackupRecord]]) -> None:
    settings, records = seeded
    repo = S3Repository(settings.s3)  # type: ignore[arg-type]
    broken = made("alpha", 40)
    put(repo, broken, manifest=False)  # the upload died before its commit point
    steps = list_in_steps(Catalog([repo]))
    quick = {r.id: r for r in steps.records}
    assert steps.unread == len(records)
    assert quick[broken.id].status == "incomplete" and "manifest missing" in quick[broken.id].reason
    for record in records:
        listed = quick[record.id]
        assert listed.status == "unread" and not listed.is_valid and not listed.trusted
        assert (listed.database, listed.created_at, listed.stored_bytes, listed.locations) == \
            (record.database, record.created_at, record.stored_bytes, ("s3",))
        assert listed.status_label == "not read yet" and listed.host == ""
    assert unjudged(steps.records) == {"alpha", "beta"}, "no database is judged on backups not read"

    batches = list(steps.fill(first_s=0.0, every_s=0.0))
    assert len(batches) >= 2 and steps.unread == 0
    final = {r.id: r for r in batches[-1]}
    assert final == {r.id: r for r in Catalog([S3Repository(settings.s3)]).list()}  # type: ignore[arg-type]
    for record in records:
        assert final[record.id].status == "valid" and final[record.id].row_counts == record.row_counts
        assert final[record.id].host == "web-1"
    assert unjudged(batches[-1]) == set()
    order = [f.backup_id for f in fill_order(repo.listing().folders)]
    assert order[:2] == [broken.id, made("beta", 2).id], "the newest of every database first"
    assert order[2:4] == [made("alpha", 5).id, made("beta", 1).id]


def test_the_listing_reads_each_database_and_year_apart_and_finds_every_place(s3_bucket: Bucket) -> None:
    new_process()
    repo = S3Repository(s3_bucket.config(prefix="fleet"))
    records = [made("alpha", n) for n in (0, 1500, 3000)] + [made("beta", 2)]  # alpha in 2024, 2025 and 2026
    for record in records:
        put(repo, record)
    manifest = records[0].manifest_json().encode()
    for stray in ("fleet/alpha.lock", "fleet/alpha/20x4/03/01/x/manifest.json", "fleet/alpha/2024/manifest.json",
                  f"fleet2/{repo.folder(records[0]).removeprefix('fleet/')}manifest.json", "fleet"):
        repo.client.put_object(Bucket=repo.bucket, Key=stray, Body=manifest)
    asked: list[str] = []
    repo.listing_client.meta.events.register("before-parameter-build.s3.ListObjectsV2",
                                             lambda params, **_: asked.append(params["Prefix"]))
    assert sorted(f.backup_id for f in repo.listing().folders) == sorted(r.id for r in records)
    years = {"/".join(repo.folder(r).split("/")[:3]) + "/" for r in records}
    assert len(years) == 4 and years <= set(asked), "one listing per database and year"
    assert set(asked) - years == {"fleet/", "fleet/alpha/", "fleet/beta/"}, "and the delimiter's steps to find them"
    new_process()


def test_one_databases_list_reads_its_folder_only_and_a_whole_listing_serves_it(
        seeded: tuple[Settings, list[BackupRecord]]) -> None:
    """A run for one database (a backup, an upload, a prune) lists and reads that database's folder, not every
    host's backups in a fleet's bucket, and sweeps none of this host's cached records of the others; a fresh
    whole listing (the app's) serves it without asking the bucket again."""
    settings, records = seeded
    Catalog.from_settings(settings).list()  # every record in this host's cache
    old = time.time() - 3700
    for entry in cache_files(settings):
        os.utime(entry, (old, old))  # old enough for a whole listing's sweep, were it one
    new_process()
    catalog = Catalog.from_settings(settings)
    repo = catalog.s3
    assert repo is not None
    asked: list[str] = []
    repo.listing_client.meta.events.register("before-parameter-build.s3.ListObjectsV2",
                                             lambda params, **_: asked.append(params["Prefix"]))
    beta = catalog.list("beta")
    assert sorted(r.id for r in beta) == sorted(r.id for r in records if r.database == "beta")
    assert all(r.status == "valid" for r in beta)
    assert asked and all(prefix.startswith(f"{repo._root()}beta/") for prefix in asked), asked
    assert len(cache_files(settings)) == len(records), "alpha's cached records are not swept by beta's listing"
    catalog.list("beta")
    assert all(prefix.startswith(f"{repo._root()}beta/") for prefix in asked), "kept LIST_TTL_S, as a whole one"

    new_process()
    repo = S3Repository(settings.s3)  # type: ignore[arg-type]
    asked = []
    repo.listing_client.meta.events.register("before-parameter-build.s3.ListObjectsV2",
                                             lambda params, **_: asked.append(params["Prefix"]))
    whole = repo.list()
    listed = len(asked)
    assert sorted(r.id for r in repo.list("alpha")) == sorted(r.id for r in whole if r.database == "alpha")
    assert len(asked) == listed, "the whole listing served alpha's"


def test_a_listing_read_in_full_is_not_listed_unread_again(seeded: tuple[Settings, list[BackupRecord]]) -> None:
    settings, records = seeded
    repo = S3Repository(settings.s3)  # type: ignore[arg-type]
    assert len(repo.list()) == len(records)
    repo.forget_listing()
    steps = list_in_steps(Catalog([repo]))  # listed again, every record in memory: nothing to read
    assert steps.unread == 0 and all(r.status == "valid" for r in steps.records)
    assert list(steps.fill()) == []


def test_an_unread_backup_is_read_at_once_when_acted_on(seeded: tuple[Settings, list[BackupRecord]]) -> None:
    settings, records = seeded
    catalog = Catalog.from_settings(settings)
    steps = list_in_steps(catalog)
    target = next(r for r in steps.records if r.id == records[2].id)
    assert target.status == "unread"
    full = read_now(catalog, target)
    assert full.status == "valid" and full.row_counts == records[2].row_counts and full.locations == ("s3",)


def test_a_delete_reads_the_records_that_decide_its_guard_not_the_whole_bucket(
        seeded: tuple[Settings, list[BackupRecord]]) -> None:
    settings, records = seeded
    ctx = Context(settings)
    counted = Counted(ctx.catalog.s3)  # type: ignore[arg-type]
    older = plan_delete(ctx, records[2])
    assert older.guarded == () and [c.record.id for c in older.copies] == [records[2].id]
    assert counted.gets == 2, "its own manifest and the newest of alpha, which outranks it"
    newest = plan_delete(ctx, records[5])
    assert newest.guarded == ("the newest valid backup of alpha in s3",) and "retention always keeps" in newest.refusal
    assert counted.gets == 2 + 4, "nothing outranks it: every other alpha read (two were in memory), no beta"


def test_copies_not_read_yet_never_outrank_or_hide_a_read_one() -> None:
    local = made("alpha", 1, locations=("local",))
    unread = replace(made("alpha", 1), status="unread", sha256="", row_counts={})
    assert merge_copies([local, unread]) == local, "valid on its own word; the bucket's copy joins once read"
    damaged = replace(local, status="damaged")
    assert merge_copies([damaged, unread]).status == "unread", "the unread copy may be the good one"


def cache_files(settings: Settings) -> list[Path]:
    cache = RecordCache.for_bucket(settings.s3)  # type: ignore[arg-type]
    assert cache is not None
    return sorted(p for p in cache.folder.iterdir() if not p.name.startswith("."))


def test_a_second_run_reads_the_records_from_this_hosts_cache(seeded: tuple[Settings, list[BackupRecord]],
                                                              tmp_path: Path) -> None:
    settings, records = seeded
    first = Catalog.from_settings(settings).list()
    entries = cache_files(settings)
    assert len(entries) == len(records)
    assert Path(os.environ["BACKUP_CACHE_DIR"]) in entries[0].parents, "the test's own cache folder"
    assert entries[0].stat().st_mode & 0o777 == 0o600 and entries[0].parent.stat().st_mode & 0o777 == 0o700

    new_process()
    catalog = Catalog.from_settings(settings)
    counted = Counted(catalog.s3)  # type: ignore[arg-type]
    assert catalog.list() == first
    assert counted.gets == 0

    new_process()
    catalog = Catalog.from_settings(settings)
    counted = Counted(catalog.s3)  # type: ignore[arg-type]
    steps = list_in_steps(catalog)
    assert steps.unread == len(records), "listed at once; the cache is read as the bucket would be, by the fill"
    assert list(steps.fill(first_s=0.0, every_s=0.0))[-1] == first
    assert counted.gets == 0


def test_entries_of_backups_gone_from_the_bucket_are_swept_after_an_hour(
        seeded: tuple[Settings, list[BackupRecord]], tmp_path: Path) -> None:
    settings, records = seeded
    Catalog.from_settings(settings).list()
    repo = S3Repository(settings.s3)  # type: ignore[arg-type]
    gone_path, _ = entry_of(settings, records[0], repo)
    fresh_path, _ = entry_of(settings, records[1], repo)
    for item in repo.client.list_objects_v2(Bucket=repo.bucket)["Contents"]:
        if item["Key"].startswith((repo.folder(records[0]), repo.folder(records[1]))):
            repo.client.delete_object(Bucket=repo.bucket, Key=item["Key"])
    hour_ago = time.time() - 3700
    os.utime(gone_path, (hour_ago, hour_ago))
    outside = tmp_path / "not-the-caches"
    outside.write_text("kept")
    planted = gone_path.with_name("0" * 64)  # a link planted among the entries, old, to a file outside
    planted.symlink_to(outside)
    os.utime(planted, (hour_ago, hour_ago), follow_symlinks=False)
    kept = [p for p in cache_files(settings) if p not in (gone_path, fresh_path)]
    new_process()
    assert len(Catalog.from_settings(settings).list()) == len(records) - 2
    assert cache_files(settings) == sorted([*kept, fresh_path]), "the old entry swept, the young one kept"
    assert planted.is_symlink() and outside.read_text() == "kept", "a link is neither followed nor swept"


def entry_of(settings: Settings, record: BackupRecord, repo: S3Repository) -> tuple[Path, str]:
    key = repo.folder(record) + "manifest.json"
    etag = repo.client.head_object(Bucket=repo.bucket, Key=key)["ETag"]
    cache = RecordCache.for_bucket(settings.s3)  # type: ignore[arg-type]
    assert cache is not None
    return cache._path(key, etag), key


@pytest.mark.parametrize("harm", ["flipped byte", "rewritten with its digest", "oversize", "a link", "not json"])
def test_a_damaged_cache_entry_is_ignored_and_read_again(seeded: tuple[Settings, list[BackupRecord]],
                                                          tmp_path: Path, harm: str) -> None:
    settings, records = seeded
    Catalog.from_settings(settings).list()
    repo = S3Repository(settings.s3)  # type: ignore[arg-type]
    target = records[1]
    path, _ = entry_of(settings, target, repo)
    head, _, data = path.read_bytes().partition(b"\n")
    if harm == "flipped byte":
        path.write_bytes(head + b"\n" + data.replace(b'"public.t": 1', b'"public.t": 7'))
    elif harm == "rewritten with its digest":  # consistent with its header: the ETag (MD5) still tells
        lied = data.replace(b'"public.t": 1', b'"public.t": 7')
        header = json.loads(head) | {"sha256": hashlib.sha256(lied).hexdigest()}
        path.write_bytes(json.dumps(header).encode() + b"\n" + lied)
    elif harm == "oversize":
        path.write_bytes(head + b"\n" + data + b" " * (MAX_RECORD_BYTES + 10))
    elif harm == "a link":
        planted = tmp_path / "planted"
        planted.write_bytes(path.read_bytes())
        path.unlink()
        path.symlink_to(planted)
    else:
        header = json.loads(head) | {"sha256": hashlib.sha256(b"{nope").hexdigest()}
        path.write_bytes(json.dumps(header).encode() + b"\n{nope")

    new_process()
    catalog = Catalog.from_settings(settings)
    counted = Counted(catalog.s3)  # type: ignore[arg-type]
    found = {r.id: r for r in catalog.list()}
    assert counted.gets == 1, "only the damaged entry is read from the bucket again"
    assert found[target.id].status == "valid" and found[target.id].row_counts == {"public.t": 1}
    assert not path.is_symlink() and path.read_bytes().partition(b"\n")[2] == data, "the bucket's bytes kept"


def test_a_record_whose_object_changed_is_read_again(seeded: tuple[Settings, list[BackupRecord]]) -> None:
    settings, records = seeded
    Catalog.from_settings(settings).list()
    repo = S3Repository(settings.s3)  # type: ignore[arg-type]
    changed = replace(records[0], reason="manual")
    repo.client.put_object(Bucket=repo.bucket, Key=repo.folder(changed) + "manifest.json",
                           Body=changed.manifest_json().encode())  # a new ETag
    new_process()
    catalog = Catalog.from_settings(settings)
    counted = Counted(catalog.s3)  # type: ignore[arg-type]
    found = {r.id: r for r in catalog.list()}
    assert counted.gets == 1 and found[changed.id].reason == "manual"


def test_the_cache_can_be_turned_off(s3_bucket: Bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKUP_CACHE_DIR", "off")
    assert RecordCache.for_bucket(s3_bucket.config()) is None


def test_a_write_while_a_listing_is_read_is_not_hidden_by_it(seeded: tuple[Settings, list[BackupRecord]]) -> None:
    settings, records = seeded
    repo = S3Repository(settings.s3)  # type: ignore[arg-type]
    listing = repo.listing()
    repo.set_pinned(records[0], True)  # written after the listing was taken
    assert not {r.id: r for r in listing.read_all()}[records[0].id].pinned
    assert repo.cached_list() is None, "the older listing is not kept as fresh"
    assert {r.id: r for r in repo.list()}[records[0].id].pinned
