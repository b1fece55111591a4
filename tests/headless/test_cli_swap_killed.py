"""A restore --replace killed with SIGKILL at each step of its swap (stopped there by the test pause,
then killed as the OOM killer or a power cut would): the next command (repair, backup or restore)
heals it. Afterwards the database answers under its own name with connections allowed, holds either
the previous or the restored data (a marker table's row count says which), nothing is left
half-swapped, and no other database was touched."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backup_tui.engine.core import names
from backup_tui.engine.ops.scratch import SCRATCH_DIR
from backup_tui.engine.ops.swap import AFTER_STEPS, PAUSE_ENV, STEPS, SWAPS_DIR
from tests.fingerprint import fingerprint
from tests.headless.conftest import Workspace, WorkspaceFactory, one_error_line
from tests.processes import kill_at_pause, stopped

PREVIOUS, RESTORED = 2, 1  # rows in the marker table: the live data after the backup, and in the backup
# Killed before the live database was renamed aside, the swap rolls back; after, it finishes.
OUTCOME = {"block": PREVIOUS, "terminate": PREVIOUS, "rename_aside": PREVIOUS, "rename_in": RESTORED,
           "allow": RESTORED}


@pytest.fixture(scope="module")
def ws(make_workspace: WorkspaceFactory) -> Workspace:
    ws = make_workspace("swapkill")
    ws.psql("CREATE TABLE marker (v int); INSERT INTO marker VALUES (1)")
    bystander = f"{ws.database}_xbystander"
    ws.sandbox.psql(f'CREATE DATABASE "{bystander}"')
    ws.psql("CREATE TABLE t AS SELECT g FROM generate_series(1, 50) g", bystander)
    return ws


@pytest.fixture(scope="module")
def backup_id(ws: Workspace) -> str:
    return str(ws.backup()["id"])


def kill_at(ws: Workspace, step: str, *args: str) -> None:
    kill_at_pause(ws.env, step, *args)


def others(ws: Workspace) -> dict[str, object]:
    """Every database but this workspace's own and its side copies, with what it holds."""
    bystander = f"{ws.database}_xbystander"
    listed = [d for d in ws.databases() if not d.startswith(f"{ws.database}__") and d != ws.database]
    return {"databases": listed, "bystander": fingerprint(ws.sandbox.conninfo(bystander))}


def live_rows(ws: Workspace) -> int:
    return int(ws.psql("SELECT count(*) FROM marker"))


def sides(ws: Workspace, tag: str) -> list[str]:
    return [d for d in ws.databases() if d.startswith(f"{ws.database}__{tag}_")]


# Every step with repair and with the nightly backup; a restore (which heals the same way) at the two steps
# either side of the point of no return.
CASES = [(step, healer) for healer in ("repair", "backup") for step in STEPS] + [
    ("rename_aside", "restore"), ("rename_in", "restore")]


@pytest.mark.parametrize(("step", "healer"), CASES)
def test_a_replace_killed_at_any_step_heals(ws: Workspace, backup_id: str, step: str, healer: str) -> None:
    ws.psql("DELETE FROM marker; INSERT INTO marker VALUES (1), (2)")
    before = others(ws)
    kill_at(ws, step, "restore", backup_id, "--replace", "--yes", "--no-safety-backup")
    journals = list((ws.repo / SWAPS_DIR).glob("*.json"))
    assert len(journals) == 1 and json.loads(journals[0].read_text())["step"] == step

    if healer == "repair":
        said = ws.ok("repair").stdout
        assert ws.database in said and ("finished" in said or "rolled back" in said)
        expected = OUTCOME[step]
    elif healer == "backup":
        dry = ws.run("backup", "--dry-run")  # says so, whether or not it can reach the database now
        assert "would first settle" in dry.stdout or "backup-headless repair" in dry.stderr
        taken = ws.backup()
        expected = OUTCOME[step]
        backed_up = ws.json("show", str(taken["id"]))["manifest"]["row_counts"]
        assert backed_up["public.marker"] == expected  # what the backup holds says which data is live
    else:
        ws.ok("restore", backup_id, "--replace", "--yes", "--no-safety-backup")
        expected = RESTORED

    assert live_rows(ws) == expected  # it answers under its own name, with the data that says which
    assert ws.psql(f"SELECT datallowconn FROM pg_database WHERE datname = '{ws.database}'") == "t"
    assert sides(ws, "restore") == []  # no work database left: rolled back (dropped) or swapped in
    assert list((ws.repo / SWAPS_DIR).glob("*.json")) == []
    kept = sides(ws, "pre_restore")
    assert ws.psql("SELECT bool_and(datallowconn) FROM pg_database WHERE datname LIKE "
                   f"'{ws.database}\\_\\_%'") in ("t", "")
    if expected == PREVIOUS and healer != "restore":
        assert kept == []
    else:
        assert kept and int(ws.psql("SELECT count(*) FROM marker", kept[0])) == PREVIOUS  # the way back
    assert others(ws) == before  # no other database changed
    assert "nothing to repair" in ws.ok("repair").stdout  # settled once, for good
    for name in kept:
        ws.ok("kept", "--drop", name, "--yes")
    assert sides(ws, "pre_restore") == []


def test_once_the_swap_began_no_scratch_record_can_drop_the_work_database(ws: Workspace, backup_id: str) -> None:
    """Killed between the two renames, the restored copy is the only one that can take the live name: a
    scratch record naming it (a stale one, or planted) must not let a full verify's cleanup drop it."""
    ws.psql("DELETE FROM marker; INSERT INTO marker VALUES (1), (2)")
    kill_at(ws, "rename_in", "restore", backup_id, "--replace", "--yes", "--no-safety-backup")
    work = sides(ws, "restore")
    assert len(work) == 1 and ws.database not in ws.databases()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (ws.repo / SCRATCH_DIR).mkdir(exist_ok=True)
    server = f"service= host={ws.env['BACKUP_DB_HOST']} port={ws.env['BACKUP_DB_PORT']}"
    (ws.repo / SCRATCH_DIR / "planted.json").write_text(json.dumps({
        "kind": "database", "name": work[0], "purpose": "restore", "server": server, "host": socket.gethostname(),
        "pid": dead.pid, "created_at": "2025-01-01T00:00:00+00:00"}))

    verify = ws.ok("verify", backup_id)  # cleans leftovers, takes no lock, heals nothing

    assert work[0] in ws.databases()
    assert "an unfinished swap owns" in (verify.stderr + run_logs(ws))
    ws.ok("repair")
    assert live_rows(ws) == RESTORED and sides(ws, "restore") == []
    for name in sides(ws, "pre_restore"):
        ws.ok("kept", "--drop", name, "--yes")


def run_logs(ws: Workspace) -> str:
    return "\n".join(p.read_text() for p in sorted(ws.logs.glob("*.log")))


def sigterm_at_pause(ws: Workspace, step: str, program: list[str], backup_id: str) -> tuple[int, str]:
    """A replace run by ``program``, stopped by the test pause at ``step``, then sent SIGTERM: exit code, stderr."""
    proc = subprocess.Popen([*program, "restore", backup_id, "--replace", "--yes", "--no-safety-backup"],
                            env={**ws.env, PAUSE_ENV: step}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while proc.poll() is None and not stopped(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stopped(proc.pid)
    proc.send_signal(signal.SIGTERM)  # pending while stopped: handled first thing once it runs on
    proc.send_signal(signal.SIGCONT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.mark.parametrize("step", STEPS + AFTER_STEPS)
def test_a_replace_stopped_by_sigterm_mid_swap_puts_the_original_back(ws: Workspace, backup_id: str,
                                                                       step: str) -> None:
    """A SIGTERM (systemd, timeout) is no SIGKILL: the run undoes what it did before it exits 143, whichever
    step it came at. ``after_*``: right after a step's statement, where psycopg once had the server finish a
    rename and the run raised anyway, undid the wrong thing and left the live name missing; held now, the
    signal is acted on between statements, where the undo knows what was done."""
    ws.psql("DELETE FROM marker; INSERT INTO marker VALUES (1), (2)")
    before = others(ws)
    code, err = sigterm_at_pause(ws, step, [sys.executable, "-m", "headless"], backup_id)
    assert code == 143, err
    said = run_logs(ws).split("restore " + backup_id)[-1]  # this run's log: what was undone
    assert "untouched" in said
    assert live_rows(ws) == PREVIOUS
    assert list((ws.repo / SWAPS_DIR).glob("*.json")) == []
    assert ws.psql(f"SELECT datallowconn FROM pg_database WHERE datname = '{ws.database}'") == "t"
    assert sides(ws, "restore") == []
    assert others(ws) == before
    for name in sides(ws, "pre_restore"):
        ws.ok("kept", "--drop", name, "--yes")


def test_a_stop_mid_swap_that_was_undone_says_so_on_its_one_error_line(ws: Workspace, backup_id: str) -> None:
    """Unwatched, the one line is all there is: a stop whose swap was undone says the original is untouched and
    what became of the work database, as a stop during the load does (a bare "stopped by SIGTERM" left a cron
    mail's reader to guess which database answers now)."""
    ws.psql("DELETE FROM marker; INSERT INTO marker VALUES (1), (2)")
    code, err = sigterm_at_pause(ws, "after_rename_in", [sys.executable, "-m", "headless"], backup_id)
    assert code == 143, err
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: stopped by SIGTERM; the swap did not complete: {ws.database!r} is untouched; "
                           f"dropped '{ws.database}__restore_"), line
    assert live_rows(ws) == PREVIOUS and sides(ws, "restore") == []


# A restore whose undo cannot reach the server (it went away between the stop and the undo)
UNDO_FAILS = """
import sys
import psycopg
from backup_tui.engine.ops import swap
def unreachable(*args, **kwargs):
    raise psycopg.OperationalError("server closed the connection unexpectedly")
swap._put_back = unreachable
from headless.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_stop_mid_swap_that_cannot_be_undone_says_repair_on_its_one_error_line(ws: Workspace,
                                                                                  backup_id: str) -> None:
    """Unwatched (cron, a timer) a run's warnings come only at the end of a run that went on: the one line of a
    run stopped mid-swap whose undo failed names the repair, which then settles it."""
    ws.psql("DELETE FROM marker; INSERT INTO marker VALUES (1), (2)")
    code, err = sigterm_at_pause(ws, "after_rename_aside", [sys.executable, "-c", UNDO_FAILS], backup_id)
    assert code == 143, err
    (line,) = err.strip().splitlines()
    assert line == (f"error: stopped by SIGTERM; the swap of {ws.database!r} was interrupted and is left to the "
                    f"next backup or restore to settle; or run: backup-headless repair --database {ws.database}")
    assert "finished the restore" in ws.ok("repair").stdout  # the live one was aside already: forward
    assert live_rows(ws) == RESTORED and list((ws.repo / SWAPS_DIR).glob("*.json")) == []
    for name in sides(ws, "pre_restore"):
        ws.ok("kept", "--drop", name, "--yes")


def test_a_sigterm_once_the_swap_is_done_says_the_restore_was_done(ws: Workspace, backup_id: str) -> None:
    """Past the swap nothing is undone: the run records the restore, then says in its one line that it was
    stopped after the restore was done, what the database holds and how to roll back (a bare "stopped by
    SIGTERM" read as a failed restore, with the original in place)."""
    ws.psql("DELETE FROM marker; INSERT INTO marker VALUES (1), (2)")
    code, err = sigterm_at_pause(ws, "swapped", [sys.executable, "-m", "headless"], backup_id)
    assert code == 143, err
    (line,) = err.strip().splitlines()
    assert "stopped by SIGTERM after the restore was done" in line and backup_id in line and "rollback" in line
    assert live_rows(ws) == RESTORED
    assert list((ws.repo / SWAPS_DIR).glob("*.json")) == []
    for name in sides(ws, "pre_restore"):
        ws.ok("kept", "--drop", name, "--yes")


def oid_of(ws: Workspace, name: str) -> int:
    return int(ws.psql(f"SELECT oid FROM pg_database WHERE datname = '{name}'", "postgres"))


def killed_before_the_aside(ws: Workspace, backup_id: str) -> tuple[Path, dict[str, object], str]:
    """A replace killed at 'terminate' (the live database blocked, not yet renamed): its journal, what the journal
    says, and the work database it made."""
    ws.psql("DELETE FROM marker; INSERT INTO marker VALUES (1), (2)")
    kill_at(ws, "terminate", "restore", backup_id, "--replace", "--yes", "--no-safety-backup")
    (journal,) = (ws.repo / SWAPS_DIR).glob("*.json")
    (work,) = sides(ws, "restore")
    return journal, json.loads(journal.read_text()), work


def test_a_killed_replace_records_its_work_database_by_oid_and_the_heal_drops_that_one(ws: Workspace,
                                                                                      backup_id: str) -> None:
    journal, said, work = killed_before_the_aside(ws, backup_id)
    assert said["incoming"] == work and said["incoming_oid"] == oid_of(ws, work)
    assert "rolled back" in ws.ok("repair").stdout
    assert sides(ws, "restore") == [] and not journal.exists() and live_rows(ws) == PREVIOUS


@pytest.mark.parametrize("healer", ["repair", "backup"])
def test_a_journal_naming_a_persons_database_of_the_work_pattern_never_drops_it(ws: Workspace, backup_id: str,
                                                                              healer: str) -> None:
    """A name of the engine's pattern is no proof the engine made the database: a journal (planted, or one whose
    work database was replaced by a person's of the same name) naming a person's `<db>__restore_<utc>` dropped it
    on its word alone. Now the heal allows connections to the live database again, leaves that database, says so
    and keeps the journal; repair exits 1 naming it."""
    journal, said, work = killed_before_the_aside(ws, backup_id)
    ws.sandbox.psql(f'DROP DATABASE "{work}"')
    moment = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    persons = names.side_name(ws.database, names.WORK, moment)  # made by a person, holds their data
    ws.sandbox.psql(f'CREATE DATABASE "{persons}"')
    ws.psql("CREATE TABLE mine AS SELECT g FROM generate_series(1, 7) g", persons)
    journal.write_text(json.dumps({**said, "incoming": persons, "stamp": moment.strftime(names.STAMP),
                                   "aside": names.side_name(ws.database, names.ASIDE, moment)}))
    try:
        if healer == "repair":
            healed = ws.run("repair")
            assert healed.returncode == 1, healed.stderr
            assert one_error_line(healed).endswith(f"then remove the swap journal {journal}")
        else:
            healed = ws.ok("backup")
        assert f"{persons!r} was not dropped: it is not the database the swap began with" in healed.stderr
        assert persons in ws.databases() and ws.psql("SELECT count(*) FROM mine", persons) == "7"
        assert live_rows(ws) == PREVIOUS  # the live database answers again, connections allowed
        assert ws.psql(f"SELECT datallowconn FROM pg_database WHERE datname = '{ws.database}'") == "t"
        assert journal.exists()  # for a person to look at: monitor keeps saying so until it is removed
        again = ws.run("repair")
        assert again.returncode == 1 and persons in ws.databases()
    finally:
        journal.unlink(missing_ok=True)
        ws.sandbox.psql(f'DROP DATABASE IF EXISTS "{persons}"')
    assert "nothing to repair" in ws.ok("repair").stdout


def test_an_earlier_versions_journal_rolls_back_the_names_but_drops_nothing(ws: Workspace, backup_id: str) -> None:
    """A journal of the version before the oid (the same names, no `incoming_oid`): which database it made cannot
    be told from a person's of that name, so the heal puts the live database back, drops nothing and keeps the
    journal, naming the work database to drop by hand."""
    journal, said, work = killed_before_the_aside(ws, backup_id)
    journal.write_text(json.dumps({k: v for k, v in said.items() if k != "incoming_oid"}))
    try:
        healed = ws.run("repair")
        assert healed.returncode == 1, healed.stderr
        assert f"{work!r} was not dropped: the journal, an earlier version's," in healed.stderr
        assert work in ws.databases() and live_rows(ws) == PREVIOUS and journal.exists()
        assert ws.psql(f"SELECT datallowconn FROM pg_database WHERE datname = '{ws.database}'") == "t"
    finally:
        journal.unlink(missing_ok=True)
        ws.sandbox.psql(f'DROP DATABASE IF EXISTS "{work}"')
    assert "nothing to repair" in ws.ok("repair").stdout


@pytest.mark.parametrize("oid", ["16384", True, -1, 2**32, 1.5])
def test_a_journal_whose_oid_is_no_oid_is_left_alone(ws: Workspace, backup_id: str, oid: object) -> None:
    """An oid is a positive 32-bit integer: anything else in its place is a journal not believed."""
    journal, said, work = killed_before_the_aside(ws, backup_id)
    genuine = journal.read_text()
    journal.write_text(json.dumps({**said, "incoming_oid": oid}))
    try:
        refused = f"left alone the swap journal {journal}: it cannot be read"
        before = run_logs(ws).count(refused)
        failed = ws.run("backup")  # the journal is not believed: nothing is dropped (the database stays blocked)
        assert refused in one_error_line(failed)  # its warning, and the failed backup's error line, say why
        assert run_logs(ws).count(refused) == before + 2 and work in ws.databases() and journal.exists()
    finally:
        journal.write_text(genuine)
    ws.ok("repair")
    assert sides(ws, "restore") == [] and live_rows(ws) == PREVIOUS


@pytest.mark.parametrize("what", ["garbage", "truncated", "wrong types", "folder", "link"])
def test_an_unreadable_swap_journal_is_named_by_repair_monitor_and_the_backup(ws: Workspace, backup_id: str,
                                                                             what: str) -> None:
    """A journal that cannot be read was invisible: repair said "nothing to repair" (exit 0), monitor listed
    nothing, and the backup of its database (blocked by the killed swap) failed with only a refused connection on
    its line, the reason in the run's log. Now each names the file and what to do, and nothing acts on it."""
    journal, said, work = killed_before_the_aside(ws, backup_id)
    genuine = journal.read_text()
    journal.unlink()
    if what == "garbage":
        journal.write_bytes(b"\x00\xffnot json at all")
    elif what == "truncated":
        journal.write_text(genuine[: len(genuine) // 2])
    elif what == "wrong types":
        journal.write_text(json.dumps({**said, "pid": "many", "database": ["x"]}))
    elif what == "folder":
        journal.mkdir()
    else:
        journal.symlink_to(ws.repo / "elsewhere.json")
    try:
        repaired = ws.run("repair")
        assert repaired.returncode == 1, repaired.stdout
        assert "nothing to repair" not in repaired.stdout
        assert str(journal) in one_error_line(repaired) and ws.database in one_error_line(repaired)
        named = ws.run("repair", "--database", ws.database)
        assert named.returncode == 1 and str(journal) in one_error_line(named)

        report = json.loads(ws.run("monitor", "--json", "--no-notify").stdout)
        problems = [p for d in report["databases"] if d["database"] == ws.database for p in d["problems"]]
        (problem,) = [p for p in problems if p["rule"] == "swap_unreadable"]
        assert problem["severity"] == "critical" and str(journal) in problem["message"]
        assert "remove that file" in problem["advice"]

        backed = ws.run("backup")
        assert backed.returncode != 0
        assert str(journal) in one_error_line(backed) and "cannot be read" in one_error_line(backed)
        assert work in ws.databases()  # nothing was acted on
        assert ws.psql(f"SELECT datallowconn FROM pg_database WHERE datname = '{ws.database}'",
                       "postgres") == "f"
    finally:
        if journal.is_dir() and not journal.is_symlink():
            journal.rmdir()
        else:
            journal.unlink(missing_ok=True)
        journal.write_text(genuine)
    ws.ok("repair")
    assert sides(ws, "restore") == [] and live_rows(ws) == PREVIOUS


def test_monitor_after_repair_left_a_work_database_says_what_to_do_not_run_repair(
        ws: Workspace, backup_id: str) -> None:
    """An earlier version's journal (every one on a host upgraded mid-swap): repair rolls back and leaves the work
    database for a person. monitor then said 'killed at step ... run repair now: the database may be renamed aside
    or closed' (critical), sending the person back to a repair that had done all it could, in a loop; it says
    what repair left, and where, until that journal is removed."""
    journal, said, work = killed_before_the_aside(ws, backup_id)
    journal.write_text(json.dumps({k: v for k, v in said.items() if k != "incoming_oid"}))
    try:
        assert ws.run("repair").returncode == 1
        for _ in range(2):  # and it stays said
            checked = ws.run("monitor", "--check", "--no-notify")
            assert "run backup-headless repair" not in checked.stdout, checked.stdout
            assert f"WARNING {ws.database}: rolled back the restore of {ws.database!r}" in checked.stdout
            assert f"{work!r} was not dropped" in checked.stdout and str(journal) in checked.stdout
    finally:
        journal.unlink(missing_ok=True)
        ws.sandbox.psql(f'DROP DATABASE IF EXISTS "{work}"')
    assert "rolled back" not in ws.run("monitor", "--check", "--no-notify").stdout


def test_a_journal_repair_does_not_believe_is_not_told_as_run_repair(ws: Workspace, backup_id: str) -> None:
    """A journal naming databases the engine would not have named for that swap is left alone by repair (exit 1,
    naming the file); monitor still said critical "killed at step ... run repair now", sending the person back
    to a repair that will not act on it. It says what repair says: look, then remove that file."""
    journal, said, work = killed_before_the_aside(ws, backup_id)
    genuine = journal.read_text()
    journal.write_text(json.dumps({**said, "incoming": f"{ws.database}__restore_19990101000000"}))
    try:
        assert ws.run("repair").returncode == 1
        report = json.loads(ws.run("monitor", "--json", "--no-notify").stdout)
        problems = [p for d in report["databases"] if d["database"] == ws.database for p in d["problems"]]
        assert [p["rule"] for p in problems if p["rule"].startswith("swap_")] == ["swap_unreadable"], problems
        (problem,) = [p for p in problems if p["rule"] == "swap_unreadable"]
        assert str(journal) in problem["message"] and "repair" not in problem["advice"]
        assert problem["advice"] == "look at the databases it names, then remove that file"
    finally:
        journal.write_text(genuine)
    ws.ok("repair")
    assert sides(ws, "restore") == [] and work not in ws.databases() and live_rows(ws) == PREVIOUS


def test_no_replace_or_rollback_goes_ahead_over_a_journal_left_for_a_person(ws: Workspace, backup_id: str) -> None:
    """A journal nobody may act on hides which database holds the data (a swap killed between its renames leaves the
    live data under the kept copy's name). A new replace planned as if the real run would settle it first, then
    wrote its own journal over the one that said so; a rollback did the same. Both refuse, changing nothing."""
    journal, _, work = killed_before_the_aside(ws, backup_id)
    genuine = journal.read_text()
    journal.write_bytes(b"\x00 not a journal")
    try:
        replace_it = ["restore", backup_id, "--replace", "--yes", "--no-safety-backup"]
        for args in ([*replace_it, "--dry-run"], replace_it, ["rollback", ws.database, "--yes"]):
            refused = ws.run(*args)
            line = one_error_line(refused)
            assert refused.returncode == 1, (args, refused.stderr)
            assert f"left alone the swap journal {journal}" in line, line
            assert journal.read_bytes() == b"\x00 not a journal" and work in ws.databases()
    finally:
        journal.write_text(genuine)
    ws.ok("repair")
    assert sides(ws, "restore") == [] and live_rows(ws) == PREVIOUS
