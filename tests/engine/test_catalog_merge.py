"""The catalog merges the copies of one backup across repositories and picks the best: a valid copy
over a damaged one, wherever each lies and in whichever order they are read; two different backups
under one id are a conflict, never a silent merge."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.copies import merge_copies
from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.verify import verify_backup
from backup_tui.engine.storage.catalog import Catalog
from backup_tui.engine.storage.local import LocalRepository


class Mirror(LocalRepository):
    """A second repository (a mounted copy, later a bucket): same layout, another name."""

    name = "mirror"


def record(status: str = "valid", sha256: str = "a" * 64, where: str = "local") -> BackupRecord:
    return BackupRecord(id="app-20250101T000000Z", database="app", created_at="2025-01-01T00:00:00Z",
                        finished_at="2025-01-01T00:01:00Z", duration_s=60.0, format="custom", compression="zstd",
                        raw_bytes=10, stored_bytes=5, sha256=sha256, file_name="app-20250101T000000Z.dump.zst",
                        status=status, locations=(where,), path=f"/{where}/x")  # type: ignore[arg-type]


@pytest.mark.parametrize("order", [0, 1])
def test_a_valid_copy_outranks_a_damaged_one_in_any_order(order: int) -> None:
    copies = [record("damaged", where="local"), record("valid", where="mirror")]
    merged = merge_copies(copies if order else copies[::-1])
    assert (merged.status, merged.locations, merged.path) == ("valid", ("mirror",), "/mirror/x")


def test_two_good_copies_are_one_backup_in_two_places() -> None:
    merged = merge_copies([record(where="local"), record(where="mirror")])
    assert (merged.status, merged.locations) == ("valid", ("local", "mirror"))


def test_two_different_backups_under_one_id_are_a_conflict() -> None:
    merged = merge_copies([record(sha256="a" * 64), record(sha256="b" * 64, where="mirror")])
    assert merged.status == "damaged" and "claim the id" in merged.reason
    assert not merged.trusted


def test_catalog_over_two_repositories_reads_and_verifies_the_good_copy(settings: Settings, tmp_path: Path) -> None:
    made = run_backup(Context(settings), settings.databases[0])
    mirror_root = tmp_path / "mirror"
    shutil.copytree(settings.repository / "backups", mirror_root / "backups")
    local_file = Path(made.path)
    local_file.write_bytes(local_file.read_bytes()[:100])  # the local copy is cut short
    (local_file.parent / "manifest.json").unlink()  # and lost its manifest: damaged here

    catalog = Catalog([LocalRepository(settings.repository), Mirror(mirror_root)])
    [merged] = catalog.list()
    assert (merged.status, merged.locations) == ("valid", ("mirror",))
    assert Path(merged.path).is_relative_to(mirror_root)
    assert catalog.repository_of(merged).name == "mirror"
    result = verify_backup(Context(settings, over=catalog), merged, "quick")
    assert result.ok, result.problems
    assert replace(catalog.list()[0], verifications=()).locations == ("mirror",)
