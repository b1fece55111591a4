"""Killed with SIGKILL (the OOM killer, systemd's last resort) mid-restore: nothing can be undone then,
so the next run against the server removes what the dead one left: its scratch database and, for a
parallel restore, its decoded temp file. The original database is never touched."""

from __future__ import annotations

import json
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


def oid_of(ws: Workspace, name: str) -> int:
    return int(ws.psql(f"SELECT oid FROM pg_database WHERE datname = '{name}'", "postgres"))


def killed_verify(ws: Workspace, backup_id: str) -> tuple[Path, dict[str, object], str]:
    """A full verify SIGKILLed while its pg_restore loads: its record, what the record says, its test database."""
    kill_while_loading(ws, "verify", backup_id)
    (record,) = records(ws)
    (left,) = leftover_databases(ws)
    return record, json.loads(record.read_text()), left


def test_a_killed_verify_records_its_databases_oid_and_the_next_run_drops_that_one(ws: Workspace,
                                                                                   backup_id: str) -> None:
    _record, said, left = killed_verify(ws, backup_id)
    assert said["name"] == left and said["oid"] == oid_of(ws, left)
    ws.ok("backup")
    assert leftover_databases(ws) == [] and records(ws) == []


@pytest.mark.parametrize("oid", ["none", "wrong"])
def test_a_record_naming_a_persons_database_of_the_scratch_pattern_never_drops_it(ws: Workspace, backup_id: str,
                                                                                  oid: str) -> None:
    """A name of the engine's pattern is no proof the engine made the database: a record of this host with a dead
    pid (planted, or left by a killed run) naming a person's `<db>__verify_<8 hex>` dropped it at the next run.
    Now only the database whose oid the record holds is dropped; the person's stays, said in a warning, while the
    killed verify's own database (its genuine record beside) is still dropped by the same run."""
    record, said, left = killed_verify(ws, backup_id)
    persons = f"{ws.database}__verify_0badc0de"
    ws.sandbox.psql(f'CREATE DATABASE "{persons}"')
    ws.psql("CREATE TABLE mine AS SELECT g FROM generate_series(1, 7) g", persons)
    planted = record.with_name("0" * 32 + ".json")
    body = {**said, "name": persons, "oid": oid_of(ws, left) if oid == "wrong" else None}
    if oid == "none":
        del body["oid"]
    planted.write_text(json.dumps(body))
    try:
        done = ws.ok("backup")
        assert persons in ws.databases() and ws.psql("SELECT count(*) FROM mine", persons) == "7"
        assert f"left alone the scratch record {planted}" in done.stderr
        assert left not in ws.databases() and not record.exists()  # the killed run's own: dropped
        assert planted.exists()
    finally:
        planted.unlink(missing_ok=True)
        ws.sandbox.psql(f'DROP DATABASE IF EXISTS "{persons}"')


def test_an_earlier_versions_record_drops_nothing_and_is_named_by_monitor(ws: Workspace, backup_id: str) -> None:
    """A record without an oid (an earlier version's, or a run killed right after CREATE DATABASE): which database
    its run made cannot be told from a person's of that name, so it is left with a warning that says what to do,
    and monitor names it; once the database is gone the record is removed without a word."""
    record, said, left = killed_verify(ws, backup_id)
    record.write_text(json.dumps({k: v for k, v in said.items() if k not in ("oid", "token")}))
    done = ws.ok("backup")
    assert left in ws.databases() and record.exists()
    assert f"left alone the scratch record {record}: it does not record which database its run made" in done.stderr
    report = json.loads(ws.run("monitor", "--json", "--no-notify").stdout)
    lines = [p["message"] for d in report["databases"] for p in d["problems"] if p["rule"] == "holder_gone"]
    assert any(left in line and "drop it by hand" in line for line in lines), lines
    ws.sandbox.psql(f'DROP DATABASE "{left}"')  # the person looked, and dropped it
    ws.ok("backup")
    assert records(ws) == []
