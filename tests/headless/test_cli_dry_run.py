"""Dry runs print the plan and change nothing: not the repository, not the server."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import psycopg

from backup_tui.engine.storage.locks import database_lock
from tests.headless.conftest import Workspace, WorkspaceFactory, one_error_line, tree
from tests.processes import kill_at_pause


def test_backup_dry_run_on_a_fresh_setup_creates_nothing(make_workspace: WorkspaceFactory) -> None:
    ws = make_workspace("dry-fresh")
    dbs = ws.databases()
    result = ws.ok("backup", "--dry-run")
    assert result.stderr == ""
    assert ws.database in result.stdout
    assert "expected size" in result.stdout
    assert not ws.repo.exists(), "the dry run created the repository"
    assert ws.databases() == dbs
    listed = ws.run("list")  # a repository that does not exist is a mistake to name, not an empty catalog
    assert listed.returncode == 2 and "does not exist" in listed.stderr
    assert not ws.repo.exists()


def test_backup_dry_run_on_an_existing_repository_changes_nothing(backed_up: tuple[Workspace, str]) -> None:
    ws, backup_id = backed_up
    lock = ws.repo / "locks" / f"{ws.database}.lock"
    before, dbs, listed = tree(ws.repo), ws.databases(), ws.listing()
    result = ws.ok("backup", "--dry-run")
    assert result.stderr == ""
    assert "expected size" in result.stdout
    assert "last backup" in result.stdout  # the estimate comes from the backup already there
    assert "--snapshot" in result.stdout
    assert tree(ws.repo) == before  # same files, same sizes, same mtimes: the lock was not even taken
    assert lock.is_file() == (f"locks/{ws.database}.lock" in before)
    assert ws.databases() == dbs
    assert ws.listing() == listed
    assert [i["id"] for i in listed] == [backup_id]


def test_backup_dry_run_json_is_machine_readable(backed_up: tuple[Workspace, str]) -> None:
    ws, _ = backed_up
    before = tree(ws.repo)
    plan = ws.json("backup", "--dry-run")
    assert plan["database"] == ws.database
    assert plan["expected_bytes"] > 0
    assert plan["locked_by_other_run"] is False
    assert "--snapshot=<exported snapshot>" in plan["command"]
    assert ws.password not in json.dumps(plan)
    assert tree(ws.repo) == before


def test_restore_new_database_dry_run_creates_nothing(backed_up: tuple[Workspace, str]) -> None:
    ws, backup_id = backed_up
    target = f"{ws.database}_xdry"
    before, dbs = tree(ws.repo), ws.databases()
    result = ws.ok("restore", backup_id, "--target-db", target, "--dry-run")
    assert result.stderr == ""
    assert target in result.stdout
    assert "create" in result.stdout
    assert target not in ws.databases()
    assert ws.databases() == dbs
    assert tree(ws.repo) == before  # no lock file for the target either

    plan = ws.json("restore", backup_id, "--target-db", target, "--dry-run")
    assert (plan["mode"], plan["target_db"], plan["work_db"]) == ("new", target, target)
    assert plan["no_tablespaces"] is False
    moved = ws.ok("restore", backup_id, "--target-db", target, "--dry-run", "--no-tablespaces")
    assert "  --no-tablespaces: every table and index goes to the new database's default tablespace" \
        in moved.stdout.splitlines()
    assert ws.databases() == dbs


def test_restore_replace_dry_run_prints_the_flight_plan(backed_up: tuple[Workspace, str]) -> None:
    ws, backup_id = backed_up
    oid = ws.psql(f"SELECT oid FROM pg_database WHERE datname = '{ws.database}'", "postgres")
    before, dbs = tree(ws.repo), ws.databases()
    info = ws.sandbox.conninfo(ws.database)
    with psycopg.connect(info, application_name="orders-api"), psycopg.connect(info, application_name="orders-api"), \
            psycopg.connect(info, application_name="psql"):  # the sessions a real run would end, named
        result = ws.ok("restore", backup_id, "--replace", "--dry-run")  # no --yes needed: nothing happens
    assert result.stderr == ""
    client = f"{ws.sandbox.user}@{'local' if ws.sandbox.host.startswith('/') else ws.sandbox.host}"
    # An autovacuum worker may be on the database too, and counted: it would be terminated as well.
    line = next(x for x in result.stdout.splitlines() if x.startswith("  sessions to terminate: "))
    assert re.fullmatch(rf"  sessions to terminate: [34] \({client} 'orders-api' x2, .*\)", line), line
    assert f"{client} 'psql'" in line
    assert f"and terminate its sessions, now {line.split(': ', 1)[1]}" in result.stdout
    text = result.stdout.lower()
    for word in ("terminate", "rename", "space", "safety backup", "rollback"):
        assert word in text, word
    assert re.search(rf"rename '{ws.database}' to '{ws.database}__pre_restore_\d{{14}}'", result.stdout)

    plan = ws.json("restore", backup_id, "--replace", "--dry-run")
    assert plan["mode"] == "replace"
    assert plan["target_db"] == ws.database
    assert plan["aside_db"].startswith(f"{ws.database}__pre_restore_")
    assert plan["safety_backup"] is True
    assert plan["space_needed_bytes"] > 0
    assert {"terminate", "rename", "backup"} <= {s["action"] for s in plan["steps"]}
    no_safety = ws.json("restore", backup_id, "--replace", "--dry-run", "--no-safety-backup")
    assert no_safety["safety_backup"] is False
    assert "backup" not in {s["action"] for s in no_safety["steps"]}

    assert ws.databases() == dbs
    assert ws.psql(f"SELECT oid FROM pg_database WHERE datname = '{ws.database}'", "postgres") == oid
    assert tree(ws.repo) == before  # no safety backup was taken


def test_restore_dry_run_says_how_a_parallel_restore_loads(backed_up: tuple[Workspace, str]) -> None:
    ws, backup_id = backed_up
    config = ws.write("jobs3.toml", "[restore]\njobs = 3\n")
    plan = ws.ok("--config", str(config), "restore", backup_id, "--target-db", f"{ws.database}_xj",
                 "--dry-run").stdout
    assert f"decompressed to {ws.repo / 'tmp'} first, then pg_restore -j 3" in plan
    assert "pg_restore -j" not in ws.ok("restore", backup_id, "--target-db", f"{ws.database}_xj", "--dry-run").stdout


def test_a_damaged_backup_names_the_way_to_load_it_by_hand(make_workspace: WorkspaceFactory) -> None:
    ws = make_workspace("damagedhint")
    item = ws.backup()
    (Path(item["path"]).parent / "manifest.json").unlink()
    result = ws.run("restore", item["id"], "--target-db", f"{ws.database}_xd")
    assert result.returncode == 4
    assert f"load it by hand: zstd -dc {item['path']} | pg_restore -d NEW_DB" in one_error_line(result)


def test_verify_dry_run_says_what_each_check_would_do_and_reads_nothing(backed_up: tuple[Workspace, str]) -> None:
    ws, backup_id = backed_up
    before, dbs = tree(ws.repo), ws.databases()
    result = ws.ok("verify", backup_id, "--dry-run")
    assert f"would verify {backup_id} (full) reading {ws.repo}" in result.stdout
    plans = ws.json("verify", "--all", "--quick", "--dry-run")
    assert [(p["id"], p["level"], p["exit_code"], p["refusal"]) for p in plans] == [(backup_id, "quick", 0, None)]
    assert plans[0]["reads_from"].endswith(".dump.zst")
    assert tree(ws.repo) == before  # no verification record, no report, no journal entry
    assert ws.databases() == dbs  # no scratch database


def test_restore_dry_run_behind_another_runs_lock_exits_as_the_run_would(backed_up: tuple[Workspace, str]) -> None:
    """A second operator's dry run while a restore of the same database runs: the real run would stop at the lock
    (exit 3, naming the holder), so the plan says so and exits 3 too, not 0 as if the way were clear."""
    ws, backup_id = backed_up
    with database_lock(ws.repo, ws.database, "restore"):  # as the first operator's restore --replace holds it
        result = ws.run("restore", backup_id, "--replace", "--dry-run")
        plan = json.loads(ws.run("restore", backup_id, "--replace", "--dry-run", "--json").stdout)
        real = ws.run("restore", backup_id, "--replace", "--yes")
        elsewhere = ws.run("restore", backup_id, "--target-db", f"{ws.database}_dry_elsewhere", "--dry-run")
    assert real.returncode == 3
    assert result.returncode == 3, result.stdout
    assert f"  would stop: database '{ws.database}' is locked by pid {os.getpid()}" in result.stdout
    assert plan["exit_code"] == 3 and plan["locked_by"].startswith(f"pid {os.getpid()} ")
    assert elsewhere.returncode == 0 and "would stop" not in elsewhere.stdout  # another name's lock is free
    assert ws.run("restore", backup_id, "--replace", "--dry-run").returncode == 0  # once it is released


def test_restore_dry_run_after_a_killed_swap_says_the_run_settles_it_first(make_workspace: WorkspaceFactory) -> None:
    """Killed after the original was renamed aside, the name is missing: a plan read off that server said "there
    was no database of that name before" and no safety backup, while the real run repairs first and replaces."""
    ws = make_workspace("dry-swap")
    backup_id = str(ws.backup()["id"])
    kill_at_pause(ws.env, "after_rename_aside", "restore", backup_id, "--replace", "--yes", "--no-safety-backup")
    assert ws.database not in ws.databases()
    result = ws.ok("restore", backup_id, "--replace", "--dry-run")
    assert (f"  note: a killed restore --replace or rollback left '{ws.database}' mid-swap: the real run settles "
            "that first (backup-headless repair does only that)") in result.stdout
    assert ws.json("restore", backup_id, "--replace", "--dry-run")["unfinished_swap"] is True
    assert ws.database not in ws.databases()  # the dry run settled nothing
    ws.ok("repair")
    assert "mid-swap" not in ws.ok("restore", backup_id, "--replace", "--dry-run").stdout
