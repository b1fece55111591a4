"""A restore's row counts, taken over two sessions where the tables are big enough to share: the same
exact counts as one session takes, and settings restored meanwhile never reach the counting sessions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import VerificationError
from backup_tui.engine.core.progress import ProgressEvent, StepFinished, StepStarted
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.restore import counts_said, plan_restore, run_restore
from backup_tui.engine.postgres import pg
from backup_tui.engine.postgres.row_counts import count_rows, counting, shares
from tests.conftest import db_config, restore

MB = 1 << 20


def test_shares_put_each_table_with_the_lightest_and_fold_small_shares_into_the_first() -> None:
    tables = [("public", "a", 100 * MB), ("public", "b", 60 * MB), ("public", "c", 50 * MB), ("s", "d", 1 * MB)]
    split = shares(tables, 2, share_from=32 * MB)
    assert [[t[1] for t in share] for share in split] == [["a", "d"], ["b", "c"]]
    # Where the second session would scan little, one session does it all: a connection costs more.
    assert shares([("public", "a", 100 * MB), ("public", "b", 5 * MB)], 2, share_from=32 * MB) == [
        [("public", "a", 100 * MB), ("public", "b", 5 * MB)]]
    assert shares([], 2) == [[]]


def test_two_sessions_count_exactly_what_one_session_counts(pg_sandbox: Sandbox, pagila_db: str) -> None:
    server = db_config(pg_sandbox, pagila_db)
    with counting(server, pagila_db, sessions=1) as counter:
        assert counter.sessions == 1
        one = counter.count()
    with counting(server, pagila_db, share_from=0) as counter:
        assert counter.sessions == 2
        two = counter.count()
    assert two == one and one["public.rental"] == 16044
    assert count_rows(server, pagila_db) == one  # pagila is small: one session


def test_a_setting_applied_while_counting_never_reaches_the_counting_sessions(
    pg_sandbox: Sandbox, pagila_db: str
) -> None:
    pg_sandbox.psql("CREATE TABLE bulk AS SELECT g FROM generate_series(1, 300000) g", pagila_db)
    server = db_config(pg_sandbox, pagila_db)
    with counting(server, pagila_db, share_from=0) as counter:
        # What a restore's properties may hold; applied now, it reaches only sessions opened after.
        pg_sandbox.psql(f'ALTER DATABASE "{pagila_db}" SET statement_timeout = 1')
        counts = counter.count()
    assert counts["public.bulk"] == 300000
    with psycopg.connect(**pg.conn_kwargs(server)) as conn, pytest.raises(psycopg.errors.QueryCanceled):
        conn.execute("SELECT count(*) FROM bulk a, bulk b WHERE a.g = b.g")  # real for the application's sessions


class _Steps:
    """A reporter that keeps the events, to read the steps' order back."""

    def __init__(self) -> None:
        self.events: list[ProgressEvent] = []

    def __call__(self, event: ProgressEvent) -> None:
        self.events.append(event)

    @property
    def names(self) -> list[str]:
        return _steps(self.events)


def _steps(events: list[ProgressEvent]) -> list[str]:
    return [f"{type(e).__name__}:{e.step}" for e in events if isinstance(e, StepStarted | StepFinished)]


def test_restore_checks_counts_then_gives_the_properties_read_while_the_data_loaded(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str
) -> None:
    pg_sandbox.psql(f"COMMENT ON DATABASE \"{pagila_db}\" IS 'films'")
    pg_sandbox.psql(f"ALTER DATABASE \"{pagila_db}\" SET statement_timeout = '5s'")
    record = run_backup(Context(settings), settings.databases[0])
    seen = _Steps()
    restore(settings, record.id, target_db=f"{pagila_db}_ok", reporter=seen)
    steps = seen.names
    assert steps.index("StepFinished:verify") < steps.index("StepStarted:properties") < steps.index(
        "StepFinished:properties")
    assert pg_sandbox.psql(f"SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                           f"WHERE datname = '{pagila_db}_ok'") == "films"


def test_a_count_that_disagrees_fails_the_restore_and_drops_the_work_database(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str
) -> None:
    pg_sandbox.psql(f"COMMENT ON DATABASE \"{pagila_db}\" IS 'films'")  # properties are read beside the load
    record = run_backup(Context(settings), settings.databases[0])
    wrong = replace(record, row_counts={**record.row_counts, "public.rental": 16045})
    manifest = Path(record.path).parent / "manifest.json"
    manifest.write_text(wrong.manifest_json())  # sealed as the engine seals it: only the counts disagree
    seen = _Steps()
    ctx = Context(settings, seen)
    plan = plan_restore(ctx, ctx.catalog.get(record.id), target_db=f"{pagila_db}_bad")
    with pytest.raises(VerificationError, match=r"public\.rental: manifest 16045 rows, restored 16044"):
        run_restore(ctx, plan)
    assert "StepStarted:properties" not in seen.names
    assert pg_sandbox.psql("SELECT count(*) FROM pg_database WHERE datname LIKE "
                           f"'{pagila_db}_bad%' OR datname = '{plan.work_db}'") == "0"


def test_what_the_counts_showed_is_said_in_words() -> None:
    assert counts_said({"public.a": [3, 3]}) == "1 table matches the manifest"
    assert counts_said({"public.a": [3, 3], "public.b": [0, 0]}) == "2 tables match the manifest"
    assert counts_said({"public.a": [None, 3]}) == "1 table restored; no row counts in this backup to compare them with"
