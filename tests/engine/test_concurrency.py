"""Concurrent runs: the lock, a backup killed mid-dump, and a backup taken under write load."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from backup_tui.engine.backup import run_backup
from backup_tui.engine.catalog import Catalog
from backup_tui.engine.config import Settings
from backup_tui.engine.locks import database_lock
from backup_tui.engine.restore import run_restore
from backup_tui.engine.sandbox import Sandbox
from tests.conftest import run_cli


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


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_sigkill_mid_dump_leaves_nothing_valid_and_next_run_succeeds(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str, cli_env: dict[str, str]
) -> None:
    # Enough data that the dump is still running when we stop it.
    pg_sandbox.psql("CREATE TABLE bulk AS SELECT g, md5(g::text) || md5((g * 7)::text) AS t "
                    "FROM generate_series(1, 300000) g", pagila_db)
    proc = subprocess.Popen([sys.executable, "-m", "headless", "backup"], env=cli_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    pg_dump = None
    while pg_dump is None and time.monotonic() < deadline:
        pg_dump = next((c for c in _children(proc.pid)
                        if Path(f"/proc/{c}/comm").read_text().strip() == "pg_dump"), None)
        time.sleep(0.005)
    assert pg_dump is not None, "pg_dump never started"
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
        record = run_backup(settings, settings.databases[0])
    finally:
        load.wait(timeout=60)
    target = f"{pagila_db}_consistent"
    run_restore(settings, record.id, target_db=target)
    balances = pg_sandbox.psql(
        "SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(tbalance) FROM pgbench_tellers), "
        "(SELECT sum(bbalance) FROM pgbench_branches), (SELECT coalesce(sum(delta), 0) FROM pgbench_history), "
        "(SELECT count(*) FROM pgbench_history)", target).split("|")
    accounts, tellers, branches, history, transactions = (int(x) for x in balances)
    assert int(transactions) > 0, "the load did not run during the backup"
    assert accounts == tellers == branches == history
    assert record.row_counts["public.pgbench_history"] == transactions
