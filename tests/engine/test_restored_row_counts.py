"""A restore's row counts, taken over two sessions where the tables are big enough to share: the same
exact counts as one session takes, and settings restored meanwhile never reach the counting sessions."""

from __future__ import annotations

import psycopg
import pytest

from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.postgres import pg
from backup_tui.engine.postgres.row_counts import count_rows, counting, shares
from tests.conftest import db_config

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
    with pg.connect(server) as conn:
        one = pg.exact_row_counts(conn)
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
    with pg.connect(server) as conn, pytest.raises(psycopg.errors.QueryCanceled):
        conn.execute("SELECT count(*) FROM bulk a, bulk b WHERE a.g = b.g")  # the setting is real
