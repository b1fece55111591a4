"""prune, pin and unpin through backup-headless."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.headless.conftest import Workspace, WorkspaceFactory, files_containing, tree

# Keep one daily, one weekly, one monthly: of two backups only the newest stays, whatever the date.
KEEP_ONE = {"BACKUP_RETENTION_DAYS": "1", "BACKUP_RETENTION_WEEKS": "1", "BACKUP_RETENTION_MONTHS": "1"}


@pytest.fixture(scope="module")
def two_backups(make_workspace: WorkspaceFactory) -> tuple[Workspace, str, str]:
    ws = make_workspace("retention")
    ws.env.update(KEEP_ONE)
    older = ws.backup()["id"]
    newer = ws.backup()["id"]
    assert [i["id"] for i in ws.listing()] == [newer, older]
    return ws, older, newer


def test_prune_dry_run_lists_decisions_and_deletes_nothing(two_backups: tuple[Workspace, str, str]) -> None:
    ws, older, newer = two_backups
    before, dbs = tree(ws.repo), ws.databases()
    result = ws.ok("prune", "--dry-run")
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    ids = {ln: ln[14:].split(" ", 1)[0] for ln in lines}  # the id column: reasons name ids too
    keep = [ln for ln in lines if ids[ln] == newer]
    gone = [ln for ln in lines if ids[ln] == older]
    assert len(keep) == 1
    assert keep[0].startswith("keep")
    assert "newest valid backup" in keep[0]
    assert len(gone) == 1
    assert gone[0].startswith("would delete")
    assert f"superseded: {newer} is the newer backup of" in gone[0]
    assert any("1 backup(s) would delete" in ln for ln in lines)

    decisions = {d["id"]: d for d in ws.json("prune", "--dry-run")}
    assert decisions[newer]["keep"] is True
    assert decisions[older]["keep"] is False
    assert decisions[older]["reasons"]
    assert all(d["reasons"] for d in decisions.values())

    assert tree(ws.repo) == before
    assert ws.databases() == dbs
    assert {i["id"] for i in ws.listing()} == {older, newer}


def test_pin_unpin_round_trip_and_pinned_survives_prune(two_backups: tuple[Workspace, str, str]) -> None:
    ws, older, newer = two_backups
    older_folder = Path(ws.item(older)["path"]).parent
    written = (older_folder / "manifest.json").read_bytes()

    pinned = ws.run("pin", older)
    assert (pinned.returncode, pinned.stdout, pinned.stderr) == (0, "", "")
    assert {i["id"]: i["pinned"] for i in ws.listing()} == {older: True, newer: False}
    assert (older_folder / "manifest.json").read_bytes() == written, "a pin is a record of its own"
    plan = {d["id"]: d for d in ws.json("prune", "--dry-run")}
    assert plan[older]["keep"] is True
    assert "pinned" in plan[older]["reasons"]

    pruned = ws.run("prune")
    assert (pruned.returncode, pruned.stdout, pruned.stderr) == (0, "", "")
    assert older_folder.is_dir()
    assert {i["id"]: i["pinned"] for i in ws.listing()} == {older: True, newer: False}

    unpinned = ws.json("unpin", older)
    assert (unpinned["id"], unpinned["pinned"]) == (older, False)
    assert {i["id"]: i["pinned"] for i in ws.listing()} == {older: False, newer: False}

    pruned = ws.run("prune")
    assert (pruned.returncode, pruned.stdout, pruned.stderr) == (0, "", "")
    assert not older_folder.exists()
    (left,) = ws.listing()
    assert left["id"] == newer
    assert Path(left["path"]).is_file()


def test_pin_unknown_id_is_a_usage_error(two_backups: tuple[Workspace, str, str]) -> None:
    ws, _, _ = two_backups
    result = ws.run("pin", "no-such-backup")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "no-such-backup" in result.stderr


def test_password_never_in_logs_or_repository(two_backups: tuple[Workspace, str, str]) -> None:
    ws, _, _ = two_backups
    assert list(ws.logs.glob("*.log"))
    assert files_containing(ws.logs, ws.password) == []
    assert files_containing(ws.repo, ws.password) == []


def test_a_backup_that_failed_its_check_is_shown_so_and_holds_no_slot(make_workspace: WorkspaceFactory) -> None:
    """The trial's case: the newest backup of the day is bit-flipped; prune must keep the good one."""
    ws = make_workspace("failedcheck")
    ws.env.update(KEEP_ONE)
    good = ws.backup()["id"]
    bad = ws.backup()["id"]
    dump = Path(ws.item(bad)["path"])
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    assert ws.run("verify", bad, "--quick").returncode == 4

    rows = {ln.split()[0]: ln for ln in ws.ok("list").stdout.splitlines()[1:]}
    assert "failed check" in rows[bad] and "FAILED quick" in rows[bad]
    assert " valid " in rows[good]
    plan = {d["id"]: d for d in ws.json("prune", "--dry-run")}
    assert plan[good]["keep"] is True and "newest valid backup" in plan[good]["reasons"]
    assert plan[bad]["keep"] is True and plan[bad]["reasons"][0].startswith("last verification failed")
    ws.ok("prune")
    assert {i["id"] for i in ws.listing()} == {good, bad}


def test_a_backup_whose_test_restore_failed_is_not_listed_as_valid_after_a_quick_pass(
        make_workspace: WorkspaceFactory) -> None:
    """A script picking ``"status": "valid"`` from ``list --json`` must not pick a backup whose test restore
    failed (here on another host sharing the repository): a quick check passed since proves its bytes, not that
    they restore. ``verified`` is the newest check, ``verdict`` the one that stands."""
    ws = make_workspace("verdict")
    made = ws.backup()
    records = Path(made["path"]).parent / "verifications"
    records.mkdir()
    (records / f"{time.time_ns():020d}-0000abcd.json").write_text(json.dumps(
        {"at": made["finished_at"], "level": "full", "ok": False, "problems": ["pg_restore failed"], "checks": []}))
    ws.ok("verify", made["id"], "--quick")
    item = ws.item(made["id"])
    assert item["status"] == "failed_check"
    assert (item["verified"]["level"], item["verified"]["ok"]) == ("quick", True)
    assert (item["verdict"]["level"], item["verdict"]["ok"]) == ("full", False)
