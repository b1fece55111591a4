"""How a failed run reports itself: under --json a script reading stdout gets an error object, never nothing;
the error line points to a run log only when one was written and holds the details."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.headless.conftest import Workspace, WorkspaceFactory, files_containing, one_error_line
from tests.headless.test_cli_errors import CASES

USAGE_CASES: dict[str, list[str]] = {
    "unknown flag": ["list", "--json", "--no-such-flag"],
    "missing BACKUP_ID": ["show", "--json"],
    "--parallel not a number": ["verify", "--all", "--parallel", "many", "--json"],
}


@pytest.fixture(scope="module")
def json_outcomes(backed_up: tuple[Workspace, str]) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every failure the error tests know, run again with --json; and usage errors argparse finds."""
    ws, backup_id = backed_up
    results = {}
    for name, case in CASES.items():
        args, env = case.build(ws, backup_id)
        results[name] = ws.run(*args, "--json", env=env)
    for name, args in USAGE_CASES.items():
        results[name] = ws.run(*args)
    return results


@pytest.mark.parametrize("name", [*CASES, *USAGE_CASES])
def test_a_failed_json_run_prints_an_error_object_on_stdout(
    name: str, json_outcomes: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    result = json_outcomes[name]
    assert result.returncode != 0
    line = one_error_line(result)  # people and cron still get the one line on stderr
    data = json.loads(result.stdout)
    assert data == {"error": line.removeprefix("error: "), "exit_code": result.returncode}


def test_without_json_stdout_stays_empty_on_failure(backed_up: tuple[Workspace, str]) -> None:
    ws, _ = backed_up
    result = ws.run("show", "no-such-backup")
    assert result.returncode == 2 and result.stdout == ""


def _in_the_way(ws: Workspace) -> None:
    """A fault nothing foresaw, in the restore's plan before it changes anything: a bug of ours, injected here
    through ``sitecustomize`` (each repository slip this test once used, a folder as restores.jsonl, has since
    been foreseen), so the run fails through the catch-all for unexpected errors."""
    hooks = ws.root / "fault-hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / "sitecustomize.py").write_text(
        "from backup_tui.engine.ops import restore\n"
        "def _broken(*args, **kwargs):\n"
        "    raise RuntimeError('a fault nothing foresaw')\n"
        "restore.estimate_seconds = _broken\n")
    ws.env["PYTHONPATH"] = str(hooks)


def test_an_unexpected_error_points_to_the_run_log_that_holds_it(make_workspace: WorkspaceFactory) -> None:
    ws = make_workspace("unexpected")
    backup_id = ws.backup()["id"]
    _in_the_way(ws)
    result = ws.run("restore", backup_id, "--target-db", f"{ws.database}_xnever")
    assert result.returncode == 1
    line = one_error_line(result)
    assert line.startswith("error: unexpected ") and "(details in " in line
    log_path = line.rsplit("(details in ", 1)[1].rstrip(")")
    with open(log_path, encoding="utf-8") as fh:
        assert "Traceback" in fh.read()
    assert files_containing(ws.logs, ws.password) == []  # the trace names no password
    assert f"{ws.database}_xnever" not in ws.databases()


@pytest.mark.parametrize("how", ["read-only command", "log folder unwritable"])
def test_an_unexpected_error_without_a_run_log_does_not_point_to_one(
    make_workspace: WorkspaceFactory, how: str
) -> None:
    ws = make_workspace(f"nolog-{how.split(maxsplit=1)[0]}")
    backup_id = ws.backup()["id"]
    _in_the_way(ws)
    if how == "read-only command":
        result = ws.run("restore", backup_id, "--target-db", f"{ws.database}_xnever", "--dry-run")  # no run log
    else:
        blocker = ws.root / "not-a-folder"
        blocker.write_text("")
        result = ws.run("restore", backup_id, "--target-db", f"{ws.database}_xnever",
                        env={"LOG_DIR": str(blocker / "logs")})
        assert result.stderr.startswith("warning: no run log")
    last = result.stderr.splitlines()[-1]
    assert result.returncode == 1 and last.startswith("error: unexpected ")
    assert "details in" not in last and "no run log holds the details" in last
