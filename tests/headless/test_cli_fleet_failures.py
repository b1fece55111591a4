"""A fleet in one config: one database failing must not hide the others. Each failed one is named with its
reason, the rest are done and said, and the exit code is the worst."""

from __future__ import annotations

import json

from tests.conftest import closed_port, fresh_database
from tests.headless.conftest import PREFIX, Workspace, WorkspaceFactory
from tests.headless.test_cli_notify import Receiver, receiver  # noqa: F401 (the fixture)


def _fleet(make_workspace: WorkspaceFactory, label: str) -> tuple[Workspace, str]:
    """A workspace's database and a second one of its cluster, both in a config file (``_serve``)."""
    ws = make_workspace(label)
    other = fresh_database(ws.sandbox, PREFIX)
    ws.env.update(BACKUP_TUI_CONFIG=str(ws.root / "fleet.toml"), FLEET_PW=ws.password)
    for key in ("BACKUP_DB_NAME", "BACKUP_DB_HOST", "BACKUP_DB_PORT", "BACKUP_DB_USER", "BACKUP_DB_PASSWORD"):
        ws.env.pop(key, None)
    _serve(ws, {ws.database: ws.sandbox.port, other: ws.sandbox.port})
    return ws, other


def _serve(ws: Workspace, ports: dict[str, int], notify: str = "") -> None:
    """The fleet's config: each database at its port (a closed one stands for a server that is down), and
    ``notify``'s destination taking every event."""
    told = f'[[notify]]\nurl = "{notify}"\nevents = ["failure", "warning", "recovery"]\n' if notify else ""
    (ws.root / "fleet.toml").write_text(f'repository = "{ws.repo}"\n[health]\nmin_size_bytes = 1000\n{told}' + "".join(
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


def test_a_backup_of_every_database_sends_its_notices_once_at_its_end(make_workspace: WorkspaceFactory,
                                                                      receiver: Receiver) -> None:  # noqa: F811
    """Notices were judged after each database's run: the databases not reached yet were told critical "no valid
    backup" (then recovered minutes later), and a backup's "no copy outside this machine" came and went between
    its backup and its upload, every night: a page per database and run. One command, one message."""
    ws, other = _fleet(make_workspace, "fleet-notify")
    _serve(ws, {ws.database: ws.sandbox.port, other: closed_port()}, f"json://127.0.0.1:{receiver.server.server_port}/hook")
    result = ws.run("backup")
    assert result.returncode == 1 and result.stderr.startswith(f"error: {other}: cannot connect"), result.stderr
    posts = receiver.bodies("/hook")
    assert len(posts) == 1, [post["title"] for post in posts]
    told = posts[0]["message"]
    assert f"CRITICAL {other} on " in told and "backup failed: cannot connect" in told
    assert f"CRITICAL {ws.database} " not in told, told  # the one backed up is not told as missing
