"""What a replace keeps aside: listed with its age and size (kept), dropped on request and only if it is
such a copy (kept --drop), and swapped back in while clients are connected (rollback), through the same
journaled swap, so a rollback killed mid-way heals too. A rollback to a database that is no kept copy is refused
in rollback's own words."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from backup_tui.engine.ops.swap import SWAPS_DIR
from tests.conftest import closed_port
from tests.headless.conftest import Workspace, WorkspaceFactory, one_error_line
from tests.headless.test_cli_swap_killed import kill_at, live_rows, sides

PREVIOUS, RESTORED = 2, 1


@pytest.fixture(scope="module")
def ws(make_workspace: WorkspaceFactory) -> Workspace:
    ws = make_workspace("kept")
    ws.psql("CREATE TABLE marker (v int); INSERT INTO marker VALUES (1)")
    return ws


@pytest.fixture(scope="module")
def backup_id(ws: Workspace) -> str:
    return str(ws.backup()["id"])


def replaced(ws: Workspace, backup_id: str) -> str:
    """A replace over data that differs from the backup; returns the name the previous database is kept as."""
    for name in sides(ws, "pre_restore") + sides(ws, "pre_rollback"):
        ws.ok("kept", "--drop", name, "--yes")
    ws.psql("DELETE FROM marker; INSERT INTO marker VALUES (1), (2)")
    ws.ok("restore", backup_id, "--replace", "--yes", "--no-safety-backup")
    assert live_rows(ws) == RESTORED
    (kept,) = sides(ws, "pre_restore")
    return kept


def test_kept_lists_the_copy_with_its_age_and_size_and_drops_only_such_copies(ws: Workspace, backup_id: str) -> None:
    kept = replaced(ws, backup_id)
    listed = ws.json("kept")
    assert [(k["name"], k["database"], k["kind"]) for k in listed] == [(kept, ws.database, "replaced")]
    assert listed[0]["size_bytes"] > 0 and 0 <= listed[0]["age_s"] < 600
    human = ws.ok("kept").stdout
    assert kept in human and ("ago" in human or "just now" in human) and "kept --drop" in human  # its age

    for hostile in ("postgres", ws.database, f"{ws.database}__restore_20250101000000", f"{kept}x"):
        refused = ws.run("kept", "--drop", hostile, "--yes")
        assert refused.returncode == 2, hostile
        assert "kept by a replace or a rollback" in one_error_line(refused)
    assert ws.run("kept", "--drop", kept).returncode == 2  # no terminal, no --yes: nothing dropped
    assert kept in ws.databases() and ws.database in ws.databases()

    ws.ok("kept", "--drop", kept, "--yes")
    assert kept not in ws.databases() and live_rows(ws) == RESTORED
    assert "no kept copies" in ws.ok("kept").stdout


def test_rollback_returns_to_the_kept_copy_while_clients_are_connected(ws: Workspace, backup_id: str) -> None:
    kept = replaced(ws, backup_id)
    client = psycopg.connect(ws.sandbox.conninfo(ws.database), application_name="app-pool", autocommit=True)
    plan = ws.run("rollback", ws.database)
    assert plan.returncode == 2 and "--yes" in one_error_line(plan)  # asks first

    done = ws.json("rollback", ws.database, "--yes")

    assert done["restored_from"] == kept and live_rows(ws) == PREVIOUS
    assert ws.psql(f"SELECT datallowconn FROM pg_database WHERE datname = '{ws.database}'") == "t"
    with pytest.raises(psycopg.OperationalError):
        client.execute("SELECT 1")  # its session was terminated, as a replace terminates them
    (rolled,) = sides(ws, "pre_rollback")
    assert done["kept_as"] == rolled and int(ws.psql("SELECT count(*) FROM marker", rolled)) == RESTORED
    assert [k["kind"] for k in ws.json("kept")] == ["rolled back"]
    # Only a rollback's copy is kept: a bare rollback takes none, and the line says which --to would, as kept does.
    again = ws.run("rollback", ws.database, "--yes")
    assert again.returncode == 2
    assert one_error_line(again).endswith(f"comes back with: backup-headless rollback {ws.database} --to {rolled}")
    assert "roll back to the newest a replace kept with: backup-headless rollback DATABASE, to any other with: " \
           "backup-headless rollback DATABASE --to NAME" in ws.ok("kept").stdout

    ws.ok("rollback", ws.database, "--to", rolled, "--yes")  # and forward again
    assert live_rows(ws) == RESTORED


@pytest.mark.parametrize(("step", "expected"), [("terminate", RESTORED), ("rename_in", PREVIOUS)])
def test_a_rollback_killed_mid_swap_heals(ws: Workspace, backup_id: str, step: str, expected: int) -> None:
    """Before the live database went aside the rollback is undone; after, it is finished."""
    kept = replaced(ws, backup_id)
    kill_at(ws, step, "rollback", ws.database, "--yes")
    assert list((ws.repo / SWAPS_DIR).glob("*.json"))

    ws.ok("repair", "--database", ws.database)

    assert live_rows(ws) == expected
    assert ws.psql("SELECT bool_and(datallowconn) FROM pg_database WHERE datname LIKE "
                   f"'{ws.database}%'") == "t"
    assert list((ws.repo / SWAPS_DIR).glob("*.json")) == []
    if expected == RESTORED:
        assert sides(ws, "pre_restore") == [kept]  # the copy it was to return to is still kept
    else:
        assert sides(ws, "pre_restore") == [] and len(sides(ws, "pre_rollback")) == 1


def test_rollback_to_a_database_that_is_no_kept_copy_says_rollback_not_drop(backed_up: tuple[Workspace, str]) -> None:
    ws, _ = backed_up
    result = ws.run("rollback", ws.database, "--to", "postgres", "--yes")
    assert result.returncode == 2
    line = one_error_line(result)
    assert "rolled back to" in line and "dropped here" not in line, line


def test_kept_rollback_and_repair_know_a_database_by_its_configured_name(ws: Workspace, backup_id: str,
                                                                            tmp_path: Path) -> None:
    """``name = "prod"`` with ``dbname``: --database prod (and rollback prod) is that database, as for backup;
    repair --database prod said "nothing to repair" while its database was renamed aside."""
    config = tmp_path / "named.toml"
    config.write_text(f'[[databases]]\nname = "prod"\ndbname = "{ws.database}"\n')
    named: dict[str, str | None] = {"BACKUP_TUI_CONFIG": str(config)}
    kept = replaced(ws, backup_id)
    assert [k["name"] for k in ws.json("kept", "--database", "prod", env=named)] == [kept]

    kill_at(ws, "rename_in", "rollback", ws.database, "--yes")  # the live database is aside, the name missing
    assert ws.database not in ws.databases()
    repaired = ws.ok("repair", "--database", "prod", env=named).stdout
    assert "finished the rollback" in repaired, repaired
    assert list((ws.repo / SWAPS_DIR).glob("*.json")) == [] and live_rows(ws) == PREVIOUS

    ws.ok("rollback", "prod", "--to", sides(ws, "pre_rollback")[0], "--yes", env=named)
    assert live_rows(ws) == RESTORED


def test_a_bare_rollback_takes_no_copy_dated_in_the_future(ws: Workspace, backup_id: str) -> None:
    """A database made by hand under a kept copy's name with a stamp years ahead outranked every copy a replace
    kept: a bare rollback put it live. It is refused, nothing changed; --to still returns to any copy."""
    kept = replaced(ws, backup_id)
    planted = f"{ws.database}__pre_restore_20991231000000"
    ws.sandbox.psql(f'CREATE DATABASE "{planted}"')
    try:
        refused = ws.run("rollback", ws.database, "--yes")
        assert refused.returncode == 2
        assert planted in one_error_line(refused) and "--to" in one_error_line(refused)
        assert live_rows(ws) == RESTORED and planted in ws.databases() and kept in ws.databases()
        ws.ok("rollback", ws.database, "--to", kept, "--yes")
        assert live_rows(ws) == PREVIOUS
    finally:
        ws.sandbox.psql(f'DROP DATABASE IF EXISTS "{planted}"')


def test_kept_lists_the_copies_it_reaches_when_another_server_is_out_of_reach(ws: Workspace, backup_id: str,
                                                                              tmp_path: Path) -> None:
    """One configured server down hid every other database's kept copies behind its connection error."""
    config = tmp_path / "two.toml"
    config.write_text(f'[[databases]]\nname = "{ws.database}"\n\n'
                      f'[[databases]]\nname = "gone"\nhost = "127.0.0.1"\nport = {closed_port()}\n')
    kept = replaced(ws, backup_id)
    both: dict[str, str | None] = {"BACKUP_TUI_CONFIG": str(config)}
    listed = ws.run("kept", env=both)
    assert listed.returncode == 1
    assert kept in listed.stdout and "gone: kept copies not listed: cannot connect" in one_error_line(listed)
    as_json = ws.run("kept", "--json", env=both)
    assert as_json.returncode == 1 and [k["name"] for k in json.loads(as_json.stdout)] == [kept]


def test_repair_of_a_journal_it_leaves_alone_fails_naming_the_file(ws: Workspace, backup_id: str) -> None:
    """A journal naming a database the engine would not make is left alone, and monitor calls it critical with
    "run repair": repair said "nothing to repair" and exited 0, so the alert and the remedy went round forever."""
    replaced(ws, backup_id)
    kill_at(ws, "terminate", "rollback", ws.database, "--yes")
    (journal,) = (ws.repo / SWAPS_DIR).glob("*.json")
    genuine = journal.read_text()
    journal.write_text(genuine.replace(f'"incoming": "{ws.database}__', '"incoming": "other__'))
    try:
        refused = ws.run("repair", "--database", ws.database)
        assert refused.returncode == 1
        assert "left alone" in refused.stderr and "then remove that file" in refused.stderr
        assert str(journal) in refused.stderr and journal.exists()
    finally:
        journal.write_text(genuine)
    ws.ok("repair", "--database", ws.database)
    assert not journal.exists() and live_rows(ws) == RESTORED
