"""A verify judges the backup, not the server it runs on: a test restore the server fails under (the session
killed, the server gone, its disk full) fails the run and records nothing in the backup's history, where a
recorded failure would stand as damage against a good backup. What the tool's words blame decides."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import BackupToolError, ServerFailed
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.verify import verify_backup
from backup_tui.engine.postgres import pg
from tests.conftest import history_records

KILL_TEST_RESTORE = """
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
WHERE strpos(datname, '__verify_') > 0 AND pid <> pg_backend_pid() AND backend_type = 'client backend'"""


@pytest.mark.parametrize("stderr", [
    "pg_restore: error: connection to server at \"127.0.0.1\", port 5432 failed: Connection refused",
    "pg_restore: error: could not execute query: server closed the connection unexpectedly",
    "pg_restore: error: FATAL:  terminating connection due to administrator command",
    "pg_restore: error: could not extend file \"base/1/2\": No space left on device",
    "psql:dump.sql:10: ERROR:  out of memory",
    "pg_restore: error: FATAL:  the database system is shutting down",
])
def test_a_tool_failing_for_the_server_is_a_server_failure(stderr: str) -> None:
    assert isinstance(pg.tool_failed("pg_restore", stderr.encode()), ServerFailed)


@pytest.mark.parametrize("stderr", [
    "pg_restore: error: could not execute query: ERROR:  relation \"public.film\" does not exist",
    "pg_restore: error: did not find magic string in file header",
    "psql:dump.sql:3: ERROR:  syntax error at or near \"CRATE\"",
    # the words are the dump's own: a row, a key value, a quoted command or name
    "pg_restore: error: COPY failed for table \"log\": ERROR:  invalid input syntax for type integer: \"x\"\n"
    "CONTEXT:  COPY log, line 7: \"out of memory\tserver closed the connection unexpectedly\"",
    "pg_restore: error: could not execute query: ERROR:  duplicate key value violates unique constraint \"k\"\n"
    "DETAIL:  Key (msg)=(no space left on device) already exists.\n"
    "Command was: INSERT INTO log VALUES ('out of memory',\n'terminating connection due to x');",
    "pg_restore: error: could not execute query: ERROR:  relation \"out of memory\" already exists",
    "psql:dump.sql:9: error: connection to server on socket \"/tmp/.s.PGSQL.5432\" failed: FATAL:  database "
    "\"gone\" does not exist",
])
def test_a_tool_failing_on_its_input_is_not_blamed_on_the_server(stderr: str) -> None:
    failure = pg.tool_failed("pg_restore", stderr)
    assert type(failure) is BackupToolError and failure.message.startswith("pg_restore failed: ")


def _kill_test_restores(sandbox: Sandbox, stop: threading.Event, killed: list[int]) -> None:
    with psycopg.connect(sandbox.conninfo(), autocommit=True) as conn:
        while not stop.is_set() and not killed:
            row = conn.execute(KILL_TEST_RESTORE).fetchone()
            if row and row[0]:
                killed.append(int(row[0]))
            time.sleep(0.005)


def test_a_test_restore_the_server_kills_records_nothing(settings: Settings, pg_sandbox: Sandbox) -> None:
    record = run_backup(Context(settings), settings.databases[0])
    stop, killed = threading.Event(), list[int]()
    killer = threading.Thread(target=_kill_test_restores, args=(pg_sandbox, stop, killed))
    killer.start()
    try:
        with pytest.raises(ServerFailed, match=r"terminating connection|server closed the connection"):
            verify_backup(Context(settings), record, "full")
    finally:
        stop.set()
        killer.join()
    assert killed, "the test restore's session was seen and killed"
    assert history_records(Path(record.path).parent) == []  # the backup is not judged by the server's failure

    result = verify_backup(Context(settings), record, "full")  # the server back to itself: the backup is good
    assert result.ok and result.level == "full", result.problems
    [recorded] = history_records(Path(record.path).parent)
    assert recorded["ok"] is True
