"""A repository path blocked by a file is a configuration error naming the path, not an OS error mid-run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backup_tui.engine.config import DatabaseConfig, Settings
from backup_tui.engine.core.errors import ConfigError
from backup_tui.engine.ops.backup import plan_backup, run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.storage.catalog import Catalog
from backup_tui.engine.storage.local import check_repository, ensure_repository

NO_SERVER = DatabaseConfig(name="app", host="/nonexistent")  # never reached: the repository is checked first


def test_a_file_where_the_repository_should_be(tmp_path: Path) -> None:
    blocker = tmp_path / "backups.tar"
    blocker.write_text("not a folder")
    settings = Settings(repository=blocker, databases=(NO_SERVER,))
    for attempt in (lambda: run_backup(Context(settings), NO_SERVER), lambda: plan_backup(Context(settings), NO_SERVER),
                    lambda: Catalog.from_settings(settings).list()):
        with pytest.raises(ConfigError) as err:
            attempt()
        assert err.value.message == f"repository {blocker} is not a directory"
        assert err.value.exit_code == 2
    assert blocker.read_text() == "not a folder"


def test_a_file_above_the_repository(tmp_path: Path) -> None:
    blocker = tmp_path / "srv"
    blocker.write_text("")
    repo = blocker / "backups"
    with pytest.raises(ConfigError, match=f"repository {repo} cannot be created: {blocker} is not a directory"):
        ensure_repository(repo)
    with pytest.raises(ConfigError, match="is not a directory"):
        Catalog.from_settings(Settings(repository=repo)).list()


def test_a_file_where_the_backups_folder_should_be(tmp_path: Path) -> None:
    (tmp_path / "backups").write_text("")
    with pytest.raises(ConfigError, match=f"repository {tmp_path}: {tmp_path / 'backups'} is not a directory"):
        Catalog.from_settings(Settings(repository=tmp_path)).list()


def test_a_link_to_nowhere(tmp_path: Path) -> None:
    link = tmp_path / "repo"
    link.symlink_to(tmp_path / "mnt" / "nas")  # the share is not mounted
    with pytest.raises(ConfigError, match=f"repository {link} cannot be created: {link} links to .*nas, which does"):
        ensure_repository(link)
    assert not (tmp_path / "mnt").exists()


def test_missing_repository_is_fine_until_created(tmp_path: Path) -> None:
    repo = tmp_path / "a" / "b"
    check_repository(repo)  # backup creates it; the other commands' "does not exist" is the CLI's to say
    assert Catalog.from_settings(Settings(repository=repo)).list() == []
    ensure_repository(repo)
    assert repo.is_dir()
    ensure_repository(repo)  # idempotent


@pytest.mark.skipif(os.geteuid() == 0, reason="root: permissions do not stop us")
def test_unwritable_parent(tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    parent.mkdir(mode=0o500)
    try:
        with pytest.raises(ConfigError, match="cannot be created: permission denied"):
            ensure_repository(parent / "repo")
    finally:
        parent.chmod(0o700)


def test_a_folder_without_manifest_is_dated_by_its_id_not_its_mtime(tmp_path: Path) -> None:
    """Deleting a damaged manifest touches the folder: it must not jump to the top as the newest backup."""
    folder = tmp_path / "repo" / "backups" / "app" / "app-20250102T030405Z-1"
    folder.mkdir(parents=True)
    (folder / "app-20250102T030405Z-1.dump.zst.sha256").write_text("00  x\n")
    (record,) = Catalog.from_settings(Settings(repository=tmp_path / "repo")).list()
    assert record.status == "damaged" and record.created_at == "2025-01-02T03:04:05Z"
