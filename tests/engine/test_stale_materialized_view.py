"""A materialized view refreshed before its tables changed (a nightly refresh, a backup in the afternoon) is no
damage: its rows are not in the dump (the dump says REFRESH), so the manifest does not count them, and a full
verify of the backup passes where it failed on every backup while the view stayed stale."""

from __future__ import annotations

from backup_tui.engine.config import Settings
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.verify import verify_backup


def test_a_stale_materialized_view_never_fails_the_verification(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str
) -> None:
    pg_sandbox.psql("CREATE TABLE base AS SELECT g FROM generate_series(1, 10) g; "
                    "CREATE MATERIALIZED VIEW base_view AS SELECT * FROM base; "
                    "INSERT INTO base SELECT g FROM generate_series(1, 5) g", pagila_db)
    record = run_backup(Context(settings), settings.databases[0])
    assert record.row_counts["public.base"] == 15
    assert "public.base_view" not in record.row_counts
    result = verify_backup(Context(settings), record, "full")
    assert result.ok, result.problems
    assert result.row_counts["public.base_view"] == [None, 15]  # restored by its refresh, counted, not compared
