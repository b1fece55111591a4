"""A fleet in one config: one database failing must not hide the others. Each failed one is named with its
reason, the rest are done and said, and the exit code is the worst."""

from __future__ import annotations

import json

from tests.conftest import closed_port, fresh_database
from tests.headless.conftest import PREFIX, Workspace, WorkspaceFactory


def _fleet(make_workspace: WorkspaceFactory, label: str) -> tuple[Workspace, str]:
    """A workspace's database and a second one of its cluster, both in a config file (``_serve``)."""
    ws = make_workspace(label)
    other = fresh_database(ws.sandbox, PREFIX)
    ws.env.update(BACKUP_TUI_CONFIG=str(ws.root / "fleet.toml"), FLEET_PW=ws.password)
    for key in ("BACKUP_DB_NAME", "BACKUP_DB_HOST", "BACKUP_DB_PORT", "BACKUP_DB_USER", "BACKUP_DB_PASSWORD"):
        ws.env.pop(key, None)
    _serve(ws, {ws.database: ws.sandbox.port, other: ws.sandbox.port})
    return ws, other


def _serve(ws: Workspace, ports: dict[str, int]) -> None:
    """The fleet's config: each database at its port (a closed one stands for a server that is down)."""
    (ws.root / "fleet.toml").write_text(f'repository = "{ws.repo}"\n[health]\nmin_size_bytes = 1000\n' + "".join(
        f'[[databases]]\nname = "{name}"\nhost = "{ws.sandbox.host}"\nport = {port}\nuser = "{ws.sandbox.user}"\n'
        'password_env = "FLEET_PW"\n' for name, port in ports.items()))


def test_verify_all_names_each_backup_it_could_not_verify_and_still_reports_the_rest(
        make_workspace: WorkspaceFactory) -> None:
    """Cron's weekly ``verify --all`` with one server down: it said one line, the first error only, naming
    neither the backup nor its database (``cannot connect to database 'postgres' on ...``, the maintenance
    database); the second backup of that server, and the backups verified fine, were said nowhere."""
    ws, other = _fleet(make_workspace, "fleet-verify")
    assert ws.run("backup").returncode == 0  # both
    ids = {item["database"]: item["id"] for item in ws.listing()}
    _serve(ws, {ws.database: ws.sandbox.port, other: closed_port()})  # the second's server is down
    result = ws.run("verify", "--all")
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {ids[other]}: not verified: cannot connect"), lines

    shown = json.loads(ws.run("verify", "--all", "--json").stdout)
    assert {item["id"]: item.get("ok") for item in shown} == {ids[ws.database]: True, ids[other]: None}
    [failed] = [item for item in shown if item["id"] == ids[other]]
    assert failed["database"] == other and failed["exit_code"] == 1 and "cannot connect" in failed["error"]
