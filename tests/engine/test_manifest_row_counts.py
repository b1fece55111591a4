"""The manifest's row counts: one per table whose rows the dump holds, each under a key of its own. A schema whose
name holds a dot never shares a key with a table whose name does ("a.b".c and a."b.c" were both 'a.b.c'), and a
materialized view refreshed before its tables changed is not counted (the dump says REFRESH): a full verify of
the backup passes where it failed on every backup while the view stayed stale."""

from __future__ import annotations

from backup_tui.engine.config import Settings
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.verify import verify_backup
from backup_tui.engine.postgres.pg import count_key


def test_count_keys_stay_as_records_say_them_and_never_collide() -> None:
    assert count_key("public", "actor") == "public.actor"
    assert count_key("public", "new\nline") == "public.new\nline"
    keys = {count_key("a.b", "c"), count_key("a", "b.c"), count_key('"a', 'b".c'), count_key('a"', "x")}
    assert len(keys) == 4
    assert count_key("a.b", "c") == '"a.b".c'


def test_tables_whose_dotted_names_read_alike_keep_their_own_counts(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str
) -> None:
    # The bigger table sorts last by name and first by size: the backup and the restore counted them in opposite
    # orders, and the one key kept a different count on each side.
    pg_sandbox.psql('CREATE SCHEMA "a.b"; CREATE SCHEMA a; '
                    'CREATE TABLE "a.b".c AS SELECT g FROM generate_series(1, 3000) g; '
                    'CREATE TABLE a."b.c" AS SELECT g FROM generate_series(1, 7) g', pagila_db)
    record = run_backup(Context(settings), settings.databases[0])
    assert record.row_counts['"a.b".c'] == 3000
    assert record.row_counts["a.b.c"] == 7
    result = verify_backup(Context(settings), record, "full")
    assert result.ok, result


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
