"""config show (secrets redacted) and config check (says exactly what is wrong)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from backup_tui.engine.postgres import pg
from tests.conftest import run_cli
from tests.headless.conftest import Workspace, files_containing, one_error_line

REDACTED = "********"


def test_config_show_redacts_the_password(backed_up: tuple[Workspace, str]) -> None:
    ws, _ = backed_up
    text = ws.ok("config", "show").stdout
    assert ws.password not in text
    assert REDACTED in text
    assert ws.database in text
    assert str(ws.repo) in text

    data = ws.json("config", "show")
    assert ws.password not in str(data)
    (db,) = data["databases"]
    assert db["name"] == ws.database
    assert db["password"] == REDACTED
    assert db["port"] == ws.sandbox.port
    assert data["repository"] == str(ws.repo)
    assert data["log_dir"] == str(ws.logs)


def test_config_show_redacts_a_password_from_the_config_file(backed_up: tuple[Workspace, str]) -> None:
    ws, _ = backed_up
    secret = "toml-Secret-9f3"
    path = ws.write("with-password.toml", f"""
repository = "{ws.repo}"

[retention]
daily = 3

[[databases]]
name = "other"
host = "127.0.0.1"
password = "{secret}"
""")
    env: dict[str, str | None] = {k: None for k in ws.env if k.startswith("BACKUP_DB_")}
    result = ws.ok("--config", str(path), "config", "show", env=env)
    assert secret not in result.stdout
    assert secret not in result.stderr
    assert REDACTED in result.stdout
    assert "other" in result.stdout
    assert files_containing(ws.logs, secret) == []


def test_config_check_passes_on_a_good_setup(backed_up: tuple[Workspace, str]) -> None:
    ws, _ = backed_up
    result = ws.ok("config", "check")
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines
    assert all(line.startswith("ok") for line in lines), lines
    assert any("repository" in line for line in lines)
    assert any(ws.database in line and "connected" in line for line in lines)


def test_config_check_json_is_machine_readable(backed_up: tuple[Workspace, str]) -> None:
    ws, _ = backed_up
    checks = ws.json("config", "check")
    assert {c["check"] for c in checks} >= {"repository", f"database {ws.database}"}
    assert all(c["ok"] for c in checks)


def test_config_check_names_a_wrong_password(backed_up: tuple[Workspace, str]) -> None:
    ws, _ = backed_up
    wrong = "wrong-Secret-77"
    result = ws.run("config", "check", env={"BACKUP_DB_PASSWORD": wrong})
    assert result.returncode != 0
    line = one_error_line(result)
    assert ws.database in line
    assert "authentication" in line
    assert wrong not in result.stdout + result.stderr
    assert files_containing(ws.logs, wrong) == []


def test_config_check_names_an_unreachable_repository(backed_up: tuple[Workspace, str]) -> None:
    ws, _ = backed_up
    blocker = ws.write("not-a-folder", "a file where the repository should be")
    result = ws.run("config", "check", env={"BACKUP_DIR": str(blocker / "repo")})
    assert result.returncode != 0
    line = one_error_line(result)
    assert "repository" in line
    assert str(blocker) in line


def test_config_check_names_a_log_dir_that_cannot_be(backed_up: tuple[Workspace, str]) -> None:
    """Runs would go on without their logs (with a warning each time); the check says so at once."""
    ws, _ = backed_up
    blocker = ws.write("logs-file", "a file where LOG_DIR's parent should be")
    result = ws.run("config", "check", env={"LOG_DIR": str(blocker / "logs")})
    assert result.returncode == 2
    line = one_error_line(result)
    assert line.startswith("error: run logs:") and f"{blocker} is not a directory" in line


def test_verify_all_on_a_terminal_ends_with_a_summary(backed_up: tuple[Workspace, str]) -> None:
    ws, _ = backed_up
    count = len(ws.listing())
    code, out, _ = ws.run_on_terminal("verify", "--all", "--quick")
    assert code == 0
    assert out.splitlines()[-1] == f"{count} verified: {count} ok, 0 failed"


def test_config_check_names_each_client_tool_missing_from_pg_bin_dir(backed_up: tuple[Workspace, str]) -> None:
    """A backup needs psql (its snapshot) besides pg_dump, a restore or a verify pg_restore: a folder that
    holds pg_dump alone is found out by the check, not by the first backup at night."""
    ws, _ = backed_up
    only_pg_dump = ws.root / "only-pg-dump"
    only_pg_dump.mkdir()
    (only_pg_dump / "pg_dump").symlink_to(pg.tool_path("pg_dump"))
    config = ws.write("only-pg-dump.toml", f'pg_bin_dir = "{only_pg_dump}"\n')
    result = ws.run("--config", str(config), "config", "check", "--json")
    assert result.returncode == 2, result.stderr
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert checks["pg_dump"]["ok"]
    for tool in ("psql", "pg_restore"):
        assert not checks[tool]["ok"] and f"has no {tool}" in checks[tool]["detail"], checks[tool]


def test_config_show_lists_every_setting_of_the_file(tmp_path: Path) -> None:
    """pg_bin_dir (which client tools every run starts) was missing from config show, and settings holding an
    empty list ([encryption] recipients, [[notify]]) were left out rather than said to be empty."""
    config = tmp_path / "backup.toml"
    config.write_text(f'repository = "{tmp_path / "repo"}"\npg_bin_dir = "/usr/lib/postgresql/15/bin"\n'
                      '[[databases]]\nname = "app"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "BACKUP_", "LOG_DIR", "S3_", "SLACK_"))}
    shown = run_cli(["--config", str(config), "config", "show"], env)
    assert shown.returncode == 0, shown.stderr
    rows = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in shown.stdout.splitlines()}
    assert rows["pg_bin_dir"] == "/usr/lib/postgresql/15/bin"
    assert rows["encryption.recipients"] == "(none)" and rows["notify"] == "(none)"
    data = json.loads(run_cli(["--config", str(config), "config", "show", "--json"], env).stdout)
    assert data["pg_bin_dir"] == "/usr/lib/postgresql/15/bin"
    config.write_text(config.read_text().replace('pg_bin_dir = "/usr/lib/postgresql/15/bin"\n', ""))
    assert "pg_bin_dir                   (not set)" in run_cli(["--config", str(config), "config", "show"], env).stdout
