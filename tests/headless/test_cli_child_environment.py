"""pg_dump, psql and pg_restore get the database's password (PGPASSWORD) and nothing else secret of ours.

They inherited our whole environment: the bucket's keys, the Slack webhook's token, the mail server's password
and the database password a second time under its password_env name, readable in /proc/PID/environ (and by
anything the tools start) for the length of every backup, verify and restore. Each tool here is a wrapper
that writes down the environment it was given, then runs the real one.
"""

from __future__ import annotations

from pathlib import Path

from backup_tui.engine.postgres import pg
from tests.headless.conftest import WorkspaceFactory

OTHER_SECRETS = {
    "S3_ACCESS_KEY": "AKIA-child-env-probe",
    "S3_SECRET_KEY": "s3-secret-child-env-probe",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-child-env-probe",
    "SLACK_WEBHOOK_URL": "http://127.0.0.1:9/services/T0/B0/slack-token-child-env-probe",
    "BACKUP_SMTP_PASSWORD": "smtp-secret-child-env-probe",
}


def recording_tools(folder: Path, seen: Path) -> Path:
    """pg_dump, psql and pg_restore that append their environment to ``seen`` before running the real tool."""
    folder.mkdir()
    seen.mkdir()
    for name in ("pg_dump", "psql", "pg_restore"):
        script = folder / name
        script.write_text(f'#!/bin/sh\nenv -0 > "{seen}/{name}-$$"\nexec {pg.tool_path(name)} "$@"\n')
        script.chmod(0o755)
    return folder


def environments(seen: Path) -> dict[str, dict[str, str]]:
    found = {}
    for path in sorted(seen.iterdir()):
        pairs = [item.split("=", 1) for item in path.read_text().split("\0") if "=" in item]
        found[path.name] = {key: value for key, value in pairs}
    return found


def test_the_postgres_tools_get_the_database_password_and_no_other_secret(make_workspace: WorkspaceFactory) -> None:
    ws = make_workspace("childenv")
    tools = recording_tools(ws.root / "tools", ws.root / "seen")
    config = ws.write("tools.toml", f'pg_bin_dir = "{tools}"\n'
                                    f'[[databases]]\nname = "{ws.database}"\npassword_env = "APP_DB_PASSWORD"\n')
    ws.env.update(OTHER_SECRETS, BACKUP_TUI_CONFIG=str(config), APP_DB_PASSWORD=ws.password)
    del ws.env["BACKUP_DB_PASSWORD"]

    made = ws.backup()["id"]
    ws.ok("verify", made)  # a full one: pg_restore --list, then a test restore
    ws.ok("restore", made, "--target-db", f"{ws.database}_childenv")

    seen = environments(ws.root / "seen")
    assert {name.split("-")[0] for name in seen} >= {"pg_dump", "psql", "pg_restore"}
    connecting = [env for env in seen.values() if env.get("PGDATABASE")]
    assert connecting and all(env["PGPASSWORD"] == ws.password for env in connecting)
    for name, env in seen.items():
        leaked = sorted(key for key, value in env.items()
                        if value in OTHER_SECRETS.values() or (value == ws.password and key != "PGPASSWORD"))
        assert leaked == [], f"{name} was given {leaked}"
