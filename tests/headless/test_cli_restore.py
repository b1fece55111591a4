"""restore --replace for real (with --yes), and what an operator on a terminal sees."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from tests.headless.conftest import Workspace, WorkspaceFactory, files_containing


@pytest.fixture(scope="module")
def replace_ws(make_workspace: WorkspaceFactory) -> tuple[Workspace, str]:
    ws = make_workspace("replace")
    return ws, ws.backup()["id"]


def test_replace_with_yes_swaps_and_keeps_the_original_aside(replace_ws: tuple[Workspace, str]) -> None:
    ws, backup_id = replace_ws
    ws.psql("INSERT INTO actor (first_name, last_name) VALUES ('AFTER', 'BACKUP')")
    assert ws.psql("SELECT count(*) FROM actor") == "201"

    result = ws.run("restore", backup_id, "--replace", "--yes")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")

    assert ws.psql("SELECT count(*) FROM actor") == "200"
    assert ws.psql("SELECT count(*) FROM rental") == "16044"
    aside = [d for d in ws.databases() if d.startswith(f"{ws.database}__pre_restore_")]
    assert len(aside) == 1, ws.databases()
    assert re.fullmatch(rf"{ws.database}__pre_restore_\d{{14}}", aside[0])
    assert ws.psql("SELECT count(*) FROM actor WHERE last_name = 'BACKUP'", aside[0]) == "1"
    assert not [d for d in ws.databases() if "__restore_" in d and "__pre_restore_" not in d]

    safety = [i for i in ws.listing() if i["id"] != backup_id]
    assert len(safety) == 1, "one safety backup of the database as it was"
    shown = ws.json("show", safety[0]["id"])
    assert backup_id in shown["manifest"]["reason"]
    assert shown["manifest"]["row_counts"]["public.actor"] == 201


def test_backup_on_a_terminal_is_human_readable(replace_ws: tuple[Workspace, str]) -> None:
    ws, _ = replace_ws
    code, out, err = ws.run_on_terminal("backup")
    assert code == 0, err
    assert re.search(r"^backup \S+: .* raw\) in [\d.]+ s -> .*\.dump\.zst$", out, re.MULTILINE), out
    assert "dump" in err  # progress goes to stderr
    code, out, _ = ws.run_on_terminal("list")
    assert code == 0
    assert out.splitlines()[0].split()[:2] == ["ID", "DATABASE"]


def test_json_on_a_terminal_is_only_json(replace_ws: tuple[Workspace, str]) -> None:
    ws, _ = replace_ws
    code, out, err = ws.run_on_terminal("backup", "--json")
    assert code == 0, err
    assert json.loads(out)["status"] == "valid"


def test_password_never_in_logs_or_repository(replace_ws: tuple[Workspace, str]) -> None:
    ws, _ = replace_ws
    assert list(ws.logs.glob("*.log"))
    assert files_containing(ws.logs, ws.password) == []
    assert files_containing(ws.repo, ws.password) == []


def test_restore_on_a_terminal_prints_a_connect_line_that_works_pasted(replace_ws: tuple[Workspace, str]) -> None:
    """The line carries host, port and user as configured (never the password): pasted into a shell with none
    of the app's PG* variables, it reaches the restored database, where a bare psql -d would not."""
    ws, backup_id = replace_ws
    target = f"{ws.database}_connect"
    code, out, err = ws.run_on_terminal("restore", backup_id, "--target-db", target)
    assert code == 0, err
    line = next(row for row in out.splitlines() if row.startswith("connect: "))
    command = line.removeprefix("connect: ")
    assert ws.password not in command
    assert command.startswith(f"psql -h {ws.env['BACKUP_DB_HOST']} -p {ws.env['BACKUP_DB_PORT']} "
                              f"-U {ws.env['BACKUP_DB_USER']} -d {target}")
    shell = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    shell.update(PGPASSWORD=ws.password, PATH=f"/usr/lib/postgresql/15/bin:{shell.get('PATH', '')}")
    pasted = subprocess.run(["sh", "-c", f"{command} -X -A -t -c 'SELECT current_database(), count(*) FROM actor'"],
                            env=shell, capture_output=True, text=True, timeout=60, check=False)
    assert (pasted.returncode, pasted.stdout.strip()) == (0, f"{target}|200"), pasted.stderr
    restored = ws.json("restore", backup_id, "--target-db", f"{target}_json")
    assert restored["connect"] == command.replace(target, f"{target}_json")
