"""An operator's mistakes at the command line (a mistyped repository or database, a bad target name, a flag the
command does not take, a reader that stops early), each caught with one line and the right exit code."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.headless.conftest import Workspace, WorkspaceFactory, one_error_line


@pytest.fixture(scope="module")
def own(make_workspace: WorkspaceFactory) -> Workspace:
    """For tests that add backups: the shared workspace's count is other modules' business."""
    return make_workspace("mistakes")


def test_config_check_names_a_missing_repository_and_does_not_create_it(backed_up: tuple[Workspace, str]) -> None:
    ws, _ = backed_up
    typo = ws.root / "nope"
    result = ws.run("config", "check", env={"BACKUP_DIR": str(typo)})
    assert result.returncode == 0  # before the first backup this is normal...
    assert f"{typo} does not exist yet" in result.stdout  # ...and a typo shows
    assert not typo.exists()
    assert ws.run("list", env={"BACKUP_DIR": str(typo)}).returncode == 2  # so the typo guard still holds


def test_config_check_refuses_a_repository_that_is_a_file(backed_up: tuple[Workspace, str]) -> None:
    ws, _ = backed_up
    afile = ws.write("afile", "not a folder")
    result = ws.run("config", "check", env={"BACKUP_DIR": str(afile)})
    assert result.returncode == 2
    assert f"{afile} is not a directory" in one_error_line(result)


def test_a_bad_target_name_is_a_usage_error_in_the_dry_run_and_the_real_run(backed_up: tuple[Workspace, str]) -> None:
    ws, backup_id = backed_up
    dbs = ws.databases()
    for name, said in (("", "--target-db needs a name for the new database"), ("x" * 64, "is longer than 63 bytes")):
        for dry in (["--dry-run"], ["--yes"]):
            result = ws.run("restore", backup_id, "--target-db", name, *dry)
            assert result.returncode == 2, (name, dry)
            assert said in one_error_line(result)
    assert ws.databases() == dbs


def test_a_mistyped_database_fails_list_verify_and_prune(backed_up: tuple[Workspace, str]) -> None:
    ws, _ = backed_up
    typo = ws.database + "x"
    for args in (["list"], ["verify", "--all"], ["prune", "--dry-run"], ["prune"]):
        result = ws.run(*args, "--database", typo)
        assert result.returncode == 2, args
        line = one_error_line(result)
        assert repr(typo) in line and ws.database in line  # names the typo and what is configured
    assert ws.run("list", "--database", ws.database).returncode == 0


def test_a_database_no_longer_configured_still_lists_by_name(backed_up: tuple[Workspace, str]) -> None:
    ws, _ = backed_up
    others: dict[str, str | None] = {"BACKUP_DB_NAME": "somethingelse"}
    result = ws.run("list", "--database", ws.database, "--json", env=others)
    assert result.returncode == 0 and ws.database in result.stdout


def test_a_reader_that_stops_early_is_not_an_error(own: Workspace) -> None:
    ws = own
    for _ in range(3):
        ws.backup()
    pipeline = subprocess.run(f"{sys.executable} -m headless list --json | head -c 10", shell=True, env=ws.env,
                              capture_output=True, text=True, check=False)
    assert pipeline.stderr == ""
    for args in (["list", "--json"], ["config", "show"]):  # long output, and short output flushed at the end
        proc = subprocess.Popen([sys.executable, "-m", "headless", *args], env=ws.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader is gone before a byte is written
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == 0 and err == b"", (args, err)


def test_dry_runs_leave_no_run_log(backed_up: tuple[Workspace, str]) -> None:
    ws, backup_id = backed_up
    before = sorted(ws.logs.glob("*.log"))
    ws.ok("backup", "--dry-run")
    ws.ok("prune", "--dry-run")
    ws.ok("restore", backup_id, "--target-db", "never_made", "--dry-run")
    assert sorted(ws.logs.glob("*.log")) == before


def test_a_flag_the_command_does_not_take_points_at_that_commands_help(backed_up: tuple[Workspace, str]) -> None:
    """``report --json`` pointed at 'backup-headless --help', which lists none of report's flags."""
    ws, _ = backed_up
    result = ws.run("report", "--json")
    assert result.returncode == 2
    assert one_error_line(result).endswith("unrecognized arguments: --json (see 'backup-headless report --help')")


@pytest.mark.parametrize("args", [
    ["prune", "--dry-run", "--database"], ["verify", "--all", "--quick", "--database"], ["repair", "--database"],
    ["report", "--database"], ["list", "--host"], ["kept", "--drop"],
    ["schedule", "install", "--cron", "--dry-run", "--user"], ["schedule", "install", "--cron", "--dry-run", "--root"],
], ids=" ".join)
def test_an_empty_option_value_is_refused_not_read_as_left_out(backed_up: tuple[Workspace, str],
                                                               args: list[str]) -> None:
    """'--database "$DB"' with DB unset acted on every database (a prune of them all, exit 0), an empty --user
    scheduled the jobs as root, an empty --root wrote below the current folder."""
    ws, _ = backed_up
    before = sorted(p.name for p in ws.root.rglob("*"))
    result = ws.run(*args, "")
    assert result.returncode == 2, (args, result.stdout, result.stderr)
    assert f"{args[-1]} is empty" in one_error_line(result)
    assert sorted(p.name for p in ws.root.rglob("*")) == before
