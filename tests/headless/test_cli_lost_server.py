"""The server drops the backup's sessions mid-dump (a shutdown, a failover, an admin's pg_terminate_backend):
one line naming what failed, exit 1, nothing left that looks valid, and the next run succeeds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from backup_tui.engine.postgres.in_snapshot import COUNTED
from tests.headless.conftest import Workspace, WorkspaceFactory, assert_clean_output, one_error_line
from tests.processes import wait_for_child

# The snapshot's session has answered its last question and waits, in its transaction, for pg_dump to take it
COUNTS_DONE = ("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND state = 'idle in transaction' "
               f"AND query = 'SELECT ''{COUNTED}'';'")


def _wait_until(ws: Workspace, query: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while ws.psql(query, "postgres") != "1":
        assert time.monotonic() < deadline, f"timed out waiting for: {query}"
        time.sleep(0.05)


def _pause_in_copy(ws: Workspace, pg_dump: int, table: str, timeout: float = 30) -> None:
    """Let pg_dump run until it streams ``table``, then freeze it there (polled without a pause)."""
    sb = ws.sandbox
    with psycopg.connect(host=sb.host, port=sb.port, user=sb.user, password=sb.password, dbname="postgres",
                         autocommit=True) as conn:
        os.kill(pg_dump, signal.SIGCONT)
        deadline = time.monotonic() + timeout
        while conn.execute("SELECT 1 FROM pg_stat_activity WHERE datname = %s AND query LIKE %s",
                           (ws.database, f"COPY {table} %")).fetchone() is None:
            assert time.monotonic() < deadline, f"pg_dump never streamed {table}"
        os.kill(pg_dump, signal.SIGSTOP)


@pytest.mark.parametrize("moment", ["before pg_dump connects", "while pg_dump streams a table"])
def test_sessions_terminated_mid_dump_is_one_line_and_exit_1(make_workspace: WorkspaceFactory, moment: str) -> None:
    ws = make_workspace("lost-server")
    ws.psql("CREATE TABLE bulk AS SELECT g, md5(g::text) || md5((g * 7)::text) AS t "
            "FROM generate_series(1, 300000) g")  # enough that pg_dump is still busy when we freeze it
    proc = subprocess.Popen([sys.executable, "-m", "headless", "backup"], env=ws.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pg_dump = wait_for_child(proc.pid, "pg_dump")
    os.kill(pg_dump, signal.SIGSTOP)
    try:
        # Our own session has counted every table and sits idle in its snapshot: dropping it now once turned
        # the cleanup's rollback into "unexpected AdminShutdown".
        _wait_until(ws, COUNTS_DONE.format(db=ws.database))
        if moment != "before pg_dump connects":
            _pause_in_copy(ws, pg_dump, "public.bulk")  # tables after it are still to come: pg_dump must fail
        ws.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                f"WHERE datname = '{ws.database}' AND pid <> pg_backend_pid()", "postgres")
    finally:
        os.kill(pg_dump, signal.SIGCONT)
    out, err = proc.communicate(timeout=120)
    result = subprocess.CompletedProcess(["backup"], proc.returncode, out, err)
    assert_clean_output(result, {ws.password})

    line = one_error_line(result)
    assert result.returncode == 1, line
    assert not line.startswith("error: unexpected "), line  # the catch-all for what nobody foresaw
    assert line.startswith(("error: pg_dump failed: ", "error: lost the connection to the server during the backup: "))
    assert ws.listing() == []  # the half-written folder is gone, nothing looks valid
    assert ws.backup()["status"] == "valid"  # and the next run goes ahead
