"""The command line's replace plan gives its time by part: the safety backup (from past backups), then the
restore (from past restores); no total until both have a basis."""

from __future__ import annotations

import re

from tests.headless.conftest import WorkspaceFactory


def estimated(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith("  estimated time: "))


def test_a_replace_dry_run_says_the_safety_backups_part_of_the_time(make_workspace: WorkspaceFactory) -> None:
    ws = make_workspace("replace-estimate")
    backup_id = ws.backup()["id"]
    said = estimated(ws.ok("restore", backup_id, "--replace", "--dry-run").stdout)
    assert re.fullmatch(r"  estimated time: no estimate yet: no past restore of a comparable size "
                        r"\(safety backup \d+\.\d s\)", said), said
    plan = ws.json("restore", backup_id, "--replace", "--dry-run")
    assert [part["phase"] for part in plan["estimate_parts"]] == ["safety backup", "restore"]
    assert plan["estimate_parts"][0]["seconds"] > 0 and plan["estimated_seconds"] is None
    alone = ws.json("restore", backup_id, "--replace", "--dry-run", "--no-safety-backup")
    assert [part["phase"] for part in alone["estimate_parts"]] == ["restore"]

    ws.ok("restore", backup_id, "--target-db", f"{ws.database}_xcopy")  # a restore to go by
    said = estimated(ws.ok("restore", backup_id, "--replace", "--dry-run").stdout)
    assert re.fullmatch(r"  estimated time: about \d+\.\d s \(safety backup \d+\.\d s, restore \d+\.\d s\)", said), said
    plan = ws.json("restore", backup_id, "--replace", "--dry-run")
    parts = [part["seconds"] for part in plan["estimate_parts"]]
    assert plan["estimated_seconds"] == round(sum(parts), 1)
