"""A repository written by the version before records were split out reads as it did: its manifests
carry `pinned` and `locations`, its history is a verify.jsonl, its folder is named the old way. It is
read, pinned, unpinned and verified without a byte of those files rewritten."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from backup_tui.engine.config import Settings
from backup_tui.engine.core.models import manifest_checksum
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.verify import verify_backup
from backup_tui.engine.storage.catalog import Catalog


def make_old(settings: Settings) -> tuple[str, Path]:
    """A backup of ours, turned into what the previous version wrote."""
    made = run_backup(Context(settings), settings.databases[0])
    folder = Path(made.path).parent
    old_folder = folder.parent.parent / "old_style_folder"  # the old key: a lossy name, not folder_key's
    old_id = "old_style_folder-" + made.id.split("-")[-2]  # the old id: the old folder's name, no random part
    shutil.move(str(folder), old_folder / old_id)
    shutil.rmtree(folder.parent)
    target = old_folder / old_id
    for name in (f"{made.id}.dump.zst", f"{made.id}.dump.zst.sha256"):
        (target / name).rename(target / name.replace(made.id, old_id))
    sidecar = target / f"{old_id}.dump.zst.sha256"
    sidecar.write_text(sidecar.read_text().replace(made.id, old_id))
    data = json.loads((target / "manifest.json").read_text())
    for key in ("host", "manifest_sha256"):
        data.pop(key)
    data.update(id=old_id, file_name=f"{old_id}.dump.zst", database="old style folder", pinned=True,
                locations=["local"])
    data["manifest_sha256"] = manifest_checksum(data)
    (target / "manifest.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    (target / "verify.jsonl").write_text(json.dumps(
        {"at": "2025-01-01T00:00:00Z", "level": "quick", "ok": True, "problems": [], "checks": ["old"]}) + "\n")
    return old_id, target


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def test_an_old_repository_reads_pins_and_verifies_without_rewriting_its_files(settings: Settings) -> None:
    old_id, folder = make_old(settings)
    before = contents(folder)
    catalog = Catalog.from_settings(settings)
    [record] = catalog.list()
    assert (record.id, record.status, record.database, record.pinned) == (old_id, "valid", "old style folder", True)
    assert [v.checks for v in record.verifications] == [("old",)]
    assert record.host, "a manifest without a host is this host's"

    unpinned = catalog.repository_of(record).set_pinned(record, False)
    assert not unpinned.pinned and not catalog.list()[0].pinned
    result = verify_backup(Context(settings), catalog.list()[0], "quick")
    assert result.ok, result.problems
    [again] = catalog.list()
    assert not again.pinned and [v.level for v in again.verifications] == ["quick", "quick"]
    assert contents(folder) == before, "an old manifest, sidecar or history was rewritten"


def test_one_databases_listing_reads_its_own_folders_the_old_one_too(settings: Settings) -> None:
    """A run for one database of a fleet's repository reads that database's folders only (today's key and the old
    one), not every database's manifests, three times a run."""
    old_id, folder = make_old(settings)
    other = folder.parent.parent / "other" / "other-20260101T000000Z-abcd"
    other.mkdir(parents=True)
    (other / "manifest.json").write_text("{ not json")
    repo = Catalog.from_settings(settings).local
    assert [r.id for r in repo.list("old style folder")] == [old_id]
    assert sorted(r.id for r in repo.list()) == sorted([old_id, other.name])
    assert [r.id for r in repo.list("other")] == [other.name]
