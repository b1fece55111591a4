from backup_tui.engine.backup import run_backup
from backup_tui.engine.config import Settings


def test_backup_commits_manifest(settings: Settings) -> None:
    record = run_backup(settings, settings.databases[0])
    assert record.status == "valid"
    assert record.row_counts["public.rental"] == 16044
