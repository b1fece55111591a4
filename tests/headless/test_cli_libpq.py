"""libpq's own configuration is enough: PG* variables with a password file, or a service file.

Operators who already have ``~/.pgpass`` or ``pg_service.conf`` should not have to copy
the password into our config; nothing of ours is set here but the repository and logs.
"""

from __future__ import annotations

import pytest

from tests.headless.conftest import Workspace, WorkspaceFactory


@pytest.fixture(scope="module")
def ws(make_workspace: WorkspaceFactory) -> Workspace:
    return make_workspace("libpq")


def without_our_db_variables(ws: Workspace) -> dict[str, str | None]:
    return {key: None for key in ws.env if key.startswith("BACKUP_DB_")}


def private_file(ws: Workspace, name: str, text: str) -> str:
    path = ws.write(name, text)
    path.chmod(0o600)  # libpq ignores a password file others can read
    return str(path)


def test_pg_variables_and_a_password_file_alone_back_up_and_verify(ws: Workspace) -> None:
    sb = ws.sandbox
    passfile = private_file(ws, "pgpass", f"{sb.host}:{sb.port}:*:{sb.user}:{sb.password}\n")
    env = {**without_our_db_variables(ws), "PGHOST": sb.host, "PGPORT": str(sb.port), "PGUSER": sb.user,
           "PGDATABASE": ws.database, "PGPASSFILE": passfile, "PGPASSWORD": None}

    checked = ws.ok("config", "check", env=env).stdout
    assert any(ws.database in line and "connected" in line for line in checked.splitlines()), checked
    shown = ws.ok("config", "show", env=env).stdout
    assert "PGPASSFILE" in shown and sb.password not in shown  # says where the password comes from

    made = ws.json("backup", env=env)
    assert made["database"] == ws.database and made["status"] == "valid"
    assert ws.json("show", made["id"], env=env)["manifest"]["row_counts"]["public.film"] == 1000
    assert ws.run("verify", made["id"], "--quick", env=env).returncode == 0


def test_a_service_file_names_server_user_and_password(ws: Workspace) -> None:
    sb = ws.sandbox
    services = private_file(ws, "pg_service.conf", f"""
[primary]
host={sb.host}
port={sb.port}
user={sb.user}
password={sb.password}
""")
    config = ws.write("service.toml", f"""
repository = "{ws.repo}"

[[databases]]
name = "{ws.database}"
service = "primary"
""")
    env = {**without_our_db_variables(ws), "PGSERVICEFILE": services, "PGPASSWORD": None}

    assert ws.run("--config", str(config), "config", "check", env=env).returncode == 0
    made = ws.json("--config", str(config), "backup", env=env)
    assert made["database"] == ws.database and made["status"] == "valid"


def test_a_password_file_with_the_wrong_password_is_named_as_such(ws: Workspace) -> None:
    sb = ws.sandbox
    passfile = private_file(ws, "pgpass-wrong", f"{sb.host}:{sb.port}:*:{sb.user}:not-the-password\n")
    env = {**without_our_db_variables(ws), "PGHOST": sb.host, "PGPORT": str(sb.port), "PGUSER": sb.user,
           "PGDATABASE": ws.database, "PGPASSFILE": passfile, "PGPASSWORD": None}
    result = ws.run("backup", env=env)
    assert result.returncode == 2
    assert "authentication failed" in result.stderr and len(result.stderr.splitlines()) == 1
