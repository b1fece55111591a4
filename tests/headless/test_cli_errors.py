"""Exit codes: each failure is one line on stderr with the right code, never a traceback."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.conftest import closed_port
from tests.headless.conftest import Workspace, files_containing, one_error_line, tree

WRONG_PASSWORD = "not-the-Passw0rd-42"

Build = Callable[[Workspace, str], tuple[list[str], dict[str, str | None]]]


@dataclass(frozen=True)
class Case:
    code: int
    needle: str  # a word the error line must contain, so it says what is wrong
    build: Build


def _bad_toml(ws: Workspace, _: str) -> tuple[list[str], dict[str, str | None]]:
    path = ws.write("bad.toml", 'repository = "/tmp/x\n[[databases]\nname = 1\n')
    return ["--config", str(path), "list"], {}


def _unknown_key(ws: Workspace, _: str) -> tuple[list[str], dict[str, str | None]]:
    path = ws.write("unknown.toml", f'repository = "{ws.repo}"\nbackup_dir = "/srv/backups"\n')
    return ["--config", str(path), "list"], {}


CASES: dict[str, Case] = {
    "unknown id (show)": Case(2, "no-such-backup", lambda ws, _: (["show", "no-such-backup"], {})),
    "unknown id (verify)": Case(2, "no-such-backup", lambda ws, _: (["verify", "no-such-backup"], {})),
    "unknown id (restore)": Case(2, "no-such-backup", lambda ws, _: (
        ["restore", "no-such-backup", "--target-db", f"{ws.database}_xnever"], {})),
    "unreachable server": Case(1, "connect", lambda ws, _: (["backup"], {"BACKUP_DB_PORT": str(closed_port())})),
    "wrong password": Case(2, "authentication", lambda ws, _: (["backup"], {"BACKUP_DB_PASSWORD": WRONG_PASSWORD})),
    "malformed TOML": Case(2, "TOML", _bad_toml),
    "unknown config key": Case(2, "backup_dir", _unknown_key),
    "non-numeric BACKUP_DB_PORT": Case(2, "BACKUP_DB_PORT", lambda ws, _: (["backup"], {"BACKUP_DB_PORT": "5432x"})),
    "target-db exists": Case(2, "already exists", lambda ws, bid: (["restore", bid, "--target-db", ws.database], {})),
    "unconfigured --database": Case(2, "not configured", lambda ws, _: (["backup", "--database", "nope_db"], {})),
    "--parallel 0": Case(2, "parallel", lambda ws, _: (["verify", "--all", "--parallel", "0"], {})),
    "--parallel past the bound": Case(2, "between 1 and 16", lambda ws, _: (
        ["verify", "--all", "--parallel", "1000"], {})),
}

# Errors raised while reading the configuration, before the run log is open, are printed twice.

def _unlocked_tree(ws: Workspace) -> dict[str, tuple[bool, int, int]]:
    """The repository but for lock files, which a backup failing to connect has rightly taken, and the
    journal, where every failed run is rightly recorded."""
    return {k: v for k, v in tree(ws.repo).items() if not k.startswith(("locks/", "runs"))}


@pytest.fixture(scope="module")
def outcomes(backed_up: tuple[Workspace, str]) -> dict[str, subprocess.CompletedProcess[str]]:
    """Each error case run once, before and after which nothing may have changed."""
    ws, backup_id = backed_up
    before, dbs = _unlocked_tree(ws), ws.databases()
    results = {}
    for name, case in CASES.items():
        args, env = case.build(ws, backup_id)
        results[name] = ws.run(*args, env=env)
    assert _unlocked_tree(ws) == before
    assert ws.databases() == dbs
    return results


@pytest.mark.parametrize("name", list(CASES))
def test_error_exit_code_and_message(name: str, outcomes: dict[str, subprocess.CompletedProcess[str]]) -> None:
    result = outcomes[name]
    assert result.returncode == CASES[name].code, result.stderr
    assert result.stdout == ""
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: ")
    assert CASES[name].needle.lower() in last.lower()


@pytest.mark.parametrize("name", list(CASES))
def test_error_is_exactly_one_line(name: str, outcomes: dict[str, subprocess.CompletedProcess[str]]) -> None:
    one_error_line(outcomes[name])


def test_replace_without_yes_and_no_terminal_changes_nothing(backed_up: tuple[Workspace, str]) -> None:
    ws, backup_id = backed_up
    oid = ws.psql(f"SELECT oid FROM pg_database WHERE datname = '{ws.database}'", "postgres")
    before, dbs = tree(ws.repo), ws.databases()
    result = ws.run("restore", backup_id, "--replace")
    assert result.returncode == 2
    assert "--yes" in one_error_line(result)
    assert result.stdout == ""
    assert ws.psql(f"SELECT oid FROM pg_database WHERE datname = '{ws.database}'", "postgres") == oid
    assert ws.databases() == dbs
    assert tree(ws.repo) == before  # no safety backup, no lock file
    assert ws.psql("SELECT count(*) FROM rental") == "16044"


def test_wrong_password_is_never_written_down(
    backed_up: tuple[Workspace, str], outcomes: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    ws, _ = backed_up
    assert "authentication" in outcomes["wrong password"].stderr
    for secret in (WRONG_PASSWORD, ws.password):
        assert files_containing(ws.logs, secret) == []
        assert files_containing(ws.repo, secret) == []
    # the failed run has its own log, which says what went wrong
    logs = [p.read_text() for p in ws.logs.glob("*-backup-*.log")]
    assert any("authentication failed" in text for text in logs)
