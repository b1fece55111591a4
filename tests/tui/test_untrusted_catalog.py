"""The terminal app starts on a repository someone else wrote: manifests of the wrong shape, a
planted link, an id that is not its folder's. It lists them as damaged with the reason, never crashes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from textual.widgets import DataTable

from backup_tui.engine.config import DatabaseConfig, Settings
from backup_tui.engine.core.models import manifest_checksum
from backup_tui.engine.core.names import folder_key
from backup_tui.engine.storage.catalog import Catalog
from backup_tui.tui.app import BackupApp
from tests.tui.conftest import running, sync, wait_until

ID = "app-20250101T020000Z-abcd"


def plant(repo: Path, backup_id: str, **changes: object) -> None:
    folder = repo / "backups" / folder_key("app") / backup_id
    folder.mkdir(parents=True)
    data = b"not really a dump"
    (folder / f"{backup_id}.dump.zst").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    (folder / f"{backup_id}.dump.zst.sha256").write_text(f"{digest}  {backup_id}.dump.zst\n")
    manifest: dict[str, object] = {
        "id": backup_id, "database": "app", "created_at": "2025-01-01T02:00:00Z", "finished_at": "2025-01-01T02:01:00Z",
        "duration_s": 60.0, "format": "custom", "compression": "zstd", "raw_bytes": 100, "stored_bytes": len(data),
        "sha256": digest, "file_name": f"{backup_id}.dump.zst", "manifest_version": 1, **changes}
    manifest["manifest_sha256"] = manifest_checksum(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


@sync
async def test_the_app_starts_on_a_hostile_repository_and_names_the_damage(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    plant(repo, ID)
    plant(repo, "app-20250102T020000Z-abcd", row_counts=["not", "a", "table"])
    plant(repo, "app-20250103T020000Z-abcd", file_name="../../../../etc/passwd")
    plant(repo, "app-20250104T020000Z-abcd", id="someone-else")
    (repo / "backups" / folder_key("app") / "app-20250105T020000Z-abcd").symlink_to(tmp_path)
    settings = Settings(repository=repo, log_dir=tmp_path / "logs",
                        databases=(DatabaseConfig(name="app", host="127.0.0.1", port=1),))
    statuses = {r.id: r.status for r in Catalog.from_settings(settings).list()}
    assert statuses == {ID: "valid", "app-20250102T020000Z-abcd": "damaged", "app-20250103T020000Z-abcd": "damaged",
                        "app-20250104T020000Z-abcd": "damaged", "app-20250105T020000Z-abcd": "damaged"}

    app = BackupApp(settings, refresh_seconds=0)
    app.animation_level = "none"
    async with running(app, (120, 36)) as pilot:
        await pilot.press("2")
        table: DataTable[object] = app.main.query_one("#backup-table", DataTable)
        await wait_until(pilot, lambda: table.row_count == 5)
        shown = " ".join(str(cell) for row in range(table.row_count) for cell in table.get_row_at(row))
        assert shown.count("damaged") == 4


@sync
async def test_the_app_starts_on_a_repository_whose_own_folders_are_planted_links(tmp_path: Path) -> None:
    """locks/, swaps/, scratch/ and runs/ linked elsewhere: the catalog, the health and the busy databases still
    load (the links hold nothing of ours), where a lock path refused for a link failed the whole load."""
    repo = tmp_path / "repo"
    plant(repo, ID)
    outside = tmp_path / "outside"
    outside.mkdir()
    for folder in ("locks", "swaps", "scratch", "runs"):
        (repo / folder).symlink_to(outside)
    settings = Settings(repository=repo, log_dir=tmp_path / "logs",
                        databases=(DatabaseConfig(name="app", host="127.0.0.1", port=1),))
    app = BackupApp(settings, refresh_seconds=0)
    app.animation_level = "none"
    async with running(app, (120, 36)) as pilot:
        await wait_until(pilot, lambda: app.catalog_loads >= 1)
        assert [r.id for r in app.records] == [ID] and [h.database for h in app.health] == ["app"]
    assert list(outside.iterdir()) == []
