"""Killed with SIGKILL (the OOM killer, systemd's last resort) mid-restore: nothing can be undone then,
so the next run against the server removes what the dead one left: its scratch database and, for a
parallel restore, its decoded temp file. The original database is never touched."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backup_tui.engine.ops.scratch import SCRATCH_DIR
from tests.headless.conftest import Workspace, WorkspaceFactory, bulky_workspace
from tests.processes import children, cmdline


@pytest.fixture(scope="module")
def ws(make_workspace: WorkspaceFactory) -> Workspace:
    return bulky_workspace(make_workspace, "killed")


@pytest.fixture(scope="module")
def backup_id(ws: Workspace) -> str:
    return str(ws.backup()["id"])


def kill_while_loading(ws: Workspace, *args: str) -> None:
    """Start backup-headless, SIGKILL it once its pg_restore is loading (which then dies or finishes alone)."""
    proc = subprocess.Popen([sys.executable, "-m", "headless", *args], env=ws.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    loading = False
    while not loading and time.monotonic() < deadline and proc.poll() is None:
        loading = any(b"--exit-on-error" in cmdline(c) for c in children(proc.pid))
        time.sleep(0.005)
    assert loading, "pg_restore never started"
    time.sleep(0.2)  # some data is in
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def leftover_databases(ws: Workspace) -> list[str]:
    return [d for d in ws.databases() if d.startswith(ws.database) and d != ws.database]


def records(ws: Workspace) -> list[Path]:
    return sorted((ws.repo / SCRATCH_DIR).glob("*.json"))


def run_log(ws: Workspace) -> str:
    return "\n".join(p.read_text() for p in sorted(ws.logs.glob("*.log")))


@pytest.mark.parametrize(("killed", "left"), [
    (["verify"], "__verify_"),
    (["restore", "--target-db", "{db}_xcopy"], "_xcopy"),
    (["restore", "--replace", "--yes", "--no-safety-backup"], "__restore_"),
], ids=["full-verify", "restore-new", "restore-replace"])
def test_next_run_drops_what_a_killed_run_left(ws: Workspace, backup_id: str, killed: list[str], left: str) -> None:
    before = ws.psql("SELECT count(*), sum(g) FROM bulk")
    args = [a.format(db=ws.database) for a in killed]
    kill_while_loading(ws, args[0], backup_id, *args[1:])
    leftovers = leftover_databases(ws)
    assert any(left in d for d in leftovers), f"the killed run left nothing to clean: {leftovers}"
    assert records(ws), "the scratch database was not recorded before it was created"
    plan = ws.json("backup", "--dry-run")
    assert len(plan["scratch_to_remove"]) == 1 and "killed" in plan["scratch_to_remove"][0]
    assert leftover_databases(ws) == leftovers  # a dry run removes nothing

    ws.ok("backup")  # the nightly cron run comes next

    assert leftover_databases(ws) == []
    assert records(ws) == []
    assert "removed the database" in run_log(ws)
    assert ws.psql("SELECT count(*), sum(g) FROM bulk") == before  # the original was never touched


def test_killed_parallel_restore_leaves_no_temp_file_behind(ws: Workspace, backup_id: str) -> None:
    config = ws.write("jobs2.toml", "[restore]\njobs = 2\n")
    kill_while_loading(ws, "--config", str(config), "restore", backup_id, "--target-db", f"{ws.database}_xpar")
    assert list((ws.repo / "tmp").glob("*.dump")), "no decoded temp file to clean up"

    ws.ok("verify", backup_id)  # any later run against the server cleans up

    assert list((ws.repo / "tmp").glob("*.dump")) == []
    assert f"{ws.database}_xpar" not in ws.databases()
    assert records(ws) == []


def test_a_live_runs_scratch_is_left_alone(ws: Workspace, backup_id: str) -> None:
    """Two runs at once: the second must not drop the first one's work database from under it."""
    first = subprocess.Popen([sys.executable, "-m", "headless", "verify", backup_id], env=ws.env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not records(ws) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert records(ws), "the first verify never recorded its scratch database"
    ws.ok("backup")
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert records(ws) == []
