"""The command line's side of a damaged backup, end to end: a restore that finds the damage refuses (exit 4,
one line) and records it; ``monitor`` names the backup and gives advice that, followed, clears the problem:
critical until a newer backup passes a check, then a warning until the damaged one is deleted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.headless.conftest import Workspace, WorkspaceFactory, one_error_line, small_dump_workspace


@pytest.fixture
def ws(make_workspace: WorkspaceFactory, tmp_path: Path) -> Workspace:
    return small_dump_workspace(make_workspace, "damaged", tmp_path)


def _problems(ws: Workspace, expected_exit: int) -> list[dict[str, str]]:
    done = ws.run("monitor", "--json", "--no-notify")
    assert done.returncode == expected_exit, done.stdout
    report = json.loads(done.stdout)
    found: list[dict[str, str]] = report["databases"][0]["problems"]
    return found


def test_damage_a_restore_found_is_named_by_monitor_until_its_remedy_is_done(ws: Workspace) -> None:
    damaged = ws.backup()
    stored = Path(damaged["path"])
    stored.write_bytes(b"\0\0\0\0" + stored.read_bytes()[4:])  # the stream's first frame no longer begins
    target = f"{ws.database}_from_damaged"
    refused = ws.run("restore", damaged["id"], "--target-db", target)
    assert refused.returncode == 4 and "nothing was changed" in one_error_line(refused)
    assert target not in ws.databases()
    assert ws.item(damaged["id"])["verified"]["ok"] is False  # recorded: no longer "never verified"

    check = ws.run("monitor", "--check", "--no-notify")
    assert check.returncode == 2
    line = next(ln for ln in check.stdout.splitlines() if ln.startswith(f"CRITICAL {ws.database}: "))
    assert f"verification of {damaged['id']} failed: " in line and "zstd stream is corrupt" in line
    assert f"take a new backup now (backup-headless backup --database {ws.database})" in line

    newer = ws.backup()
    [critical] = [p for p in _problems(ws, 2) if p["severity"] == "critical"]
    assert critical["backup_id"] == damaged["id"]
    assert critical["advice"].startswith(f"verify a newer backup: backup-headless verify {newer['id']}")

    ws.ok("verify", newer["id"])  # the advice, followed
    [warning] = _problems(ws, 1)
    assert (warning["rule"], warning["backup_id"]) == ("older_failed_check", damaged["id"])
    assert f"delete it: backup-headless delete {damaged['id']}" in warning["advice"]

    ws.ok("delete", damaged["id"], "--yes")  # the advice, followed
    assert _problems(ws, 0) == []
    assert ws.ok("verify", "--all").returncode == 0  # what the old advice said, and failed on for ever


def test_a_damaged_backup_never_checked_good_is_told_the_remedy_only_never_a_verify_bound_to_fail(
    ws: Workspace,
) -> None:
    """The first check of a backup found it damaged: besides the critical failed check, a warning said "no
    backup has been verified -> verify the newest: backup-headless verify <the damaged one>", which is false (it
    was verified, and failed) and advises a check bound to fail again."""
    damaged = ws.backup()
    stored = Path(damaged["path"])
    stored.write_bytes(b"\0\0\0\0" + stored.read_bytes()[4:])
    assert ws.run("verify", damaged["id"]).returncode == 4
    problems = _problems(ws, 2)
    assert [(p["severity"], p["rule"], p["backup_id"]) for p in problems] == \
        [("critical", "failed_check", damaged["id"])]
    assert not [p for p in problems if f"verify {damaged['id']}" in p["advice"]]
    check = ws.run("monitor", "--check", "--no-notify").stdout
    assert "no backup has been verified" not in check
