"""Concurrent runs: the lock, a backup killed mid-dump, and a backup taken under write load."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import Cancelled
from backup_tui.engine.core.progress import CancelToken
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.storage.catalog import Catalog
from backup_tui.engine.storage.locks import database_lock
from tests.conftest import restore, run_cli
from tests.processes import wait_for_child


def test_second_backup_exits_3_naming_the_holder(settings: Settings, cli_env: dict[str, str]) -> None:
    database = settings.databases[0].database
    with database_lock(settings.repository, database, "backup"):
        started = time.monotonic()
        proc = run_cli(["backup"], cli_env)
        assert time.monotonic() - started < 10  # at once, no waiting for the holder
    assert proc.returncode == 3
    assert f"pid {os.getpid()}" in proc.stderr and "backup" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert Catalog.from_settings(settings).list() == []
    assert run_cli(["backup"], cli_env).returncode == 0  # released: the next run goes ahead


def test_verify_of_a_backup_still_being_written_refuses_and_records_nothing(settings: Settings,
                                                                           cli_env: dict[str, str]) -> None:
    """A backup without its manifest while a run holds the database's lock is one being written: a verdict
    now (truncated, no manifest) would stay in its history once it commits, and a good backup would read
    "failed check" for good. Refused (exit 3), nothing recorded; once no run holds the lock, it is a leftover
    and verify says so."""
    assert run_cli(["backup"], cli_env).returncode == 0
    (record,) = Catalog.from_settings(settings).list()
    folder = Path(record.path).parent if Path(record.path).is_file() else Path(record.path)
    sidecar = next(folder.glob("*.sha256"))
    kept = sidecar.read_bytes()
    database = settings.databases[0].database
    (folder / "manifest.json").unlink()  # written last: missing until the backup commits
    for moment in ("dumping", "between the sidecar and the manifest"):
        if moment == "dumping":
            sidecar.unlink()
        else:
            sidecar.write_bytes(kept)
        with database_lock(settings.repository, database, "backup"):
            proc = run_cli(["verify", record.id], cli_env)
        assert proc.returncode == 3, (moment, proc.stderr)
        assert "not committed yet" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert not (folder / "verifications").exists(), moment
    assert run_cli(["verify", record.id], cli_env).returncode == 4  # no run under way: a leftover, damaged


def test_sigkill_mid_dump_leaves_nothing_valid_and_next_run_succeeds(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str, cli_env: dict[str, str]
) -> None:
    # Enough data that the dump is still running when we stop it.
    pg_sandbox.psql("CREATE TABLE bulk AS SELECT g, md5(g::text) || md5((g * 7)::text) AS t "
                    "FROM generate_series(1, 300000) g", pagila_db)
    proc = subprocess.Popen([sys.executable, "-m", "headless", "backup"], env=cli_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pg_dump = wait_for_child(proc.pid, "pg_dump")
    os.kill(pg_dump, signal.SIGSTOP)  # freeze the dump mid-way, then kill the backup run itself
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    os.kill(pg_dump, signal.SIGKILL)
    os.kill(pg_dump, signal.SIGCONT)

    records = Catalog.from_settings(settings).list()
    assert len(records) == 1 and records[0].status == "incomplete"
    assert not (Path(records[0].path).parent / "manifest.json").exists()
    listed = run_cli(["list", "--json"], cli_env)
    assert '"status": "valid"' not in listed.stdout

    again = run_cli(["backup", "--json"], cli_env)
    assert again.returncode == 0, again.stderr
    after = Catalog.from_settings(settings).list()
    assert [r.status for r in after] == ["valid"]  # the leftover was cleaned up
    assert after[0].row_counts["public.bulk"] == 300000


def test_backup_under_concurrent_writes_restores_consistent(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str
) -> None:
    env = {**os.environ, **pg_sandbox.env()}
    subprocess.run(["pgbench", "-i", "-q", "-s", "2", pagila_db], env=env, check=True, capture_output=True)
    load = subprocess.Popen(["pgbench", "-c", "4", "-j", "2", "-T", "6", pagila_db], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        record = run_backup(Context(settings), settings.databases[0])
    finally:
        load.wait(timeout=60)
    target = f"{pagila_db}_consistent"
    restore(settings, record.id, target_db=target)
    balances = pg_sandbox.psql(
        "SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(tbalance) FROM pgbench_tellers), "
        "(SELECT sum(bbalance) FROM pgbench_branches), (SELECT coalesce(sum(delta), 0) FROM pgbench_history), "
        "(SELECT count(*) FROM pgbench_history)", target).split("|")
    accounts, tellers, branches, history, transactions = (int(x) for x in balances)
    assert int(transactions) > 0, "the load did not run during the backup"
    assert accounts == tellers == branches == history
    assert record.row_counts["public.pgbench_history"] == transactions


def test_cancel_stops_a_backup_stuck_behind_a_lock_at_once(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str
) -> None:
    """pg_dump waiting for a lock sends nothing, so no chunk loop would ever see the cancel."""
    blocker = psycopg.connect(pg_sandbox.conninfo(pagila_db))
    blocker.execute("LOCK TABLE actor IN ACCESS EXCLUSIVE MODE")  # held: the transaction stays open
    cancel = CancelToken()
    outcome: list[BaseException | None] = []

    def backup() -> None:
        try:
            run_backup(Context(settings, cancel=cancel), settings.databases[0])
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=backup)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and pg_sandbox.psql(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE 'LOCK TABLE %'") == "0":  # pg_dump locks every table it dumps first
            time.sleep(0.05)
        cancelled_at = time.monotonic()
        cancel.cancel()
        worker.join(timeout=20)
        assert not worker.is_alive(), "the backup did not stop while pg_dump waited for the lock"
        assert time.monotonic() - cancelled_at < 10
    finally:
        blocker.close()
        worker.join(timeout=60)
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)
    assert [r for r in Catalog.from_settings(settings).list() if r.status == "valid"] == []
