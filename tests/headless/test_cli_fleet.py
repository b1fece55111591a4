"""Two hosts share one repository (a mount today, a bucket tomorrow): their backups of databases
with the same name keep apart. A second host is this machine under another host name
(``unshare --uts``), running the real CLI against the same repository."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.headless.conftest import Workspace, WorkspaceFactory

KEEP_ONE = {"BACKUP_RETENTION_DAYS": "1", "BACKUP_RETENTION_WEEKS": "1", "BACKUP_RETENTION_MONTHS": "1"}


def as_host(ws: Workspace, host: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = f'hostname {host} && exec {sys.executable} -m headless "$@"'
    return subprocess.run(["unshare", "--uts", "sh", "-c", script, "sh", *args], env=ws.env,
                          capture_output=True, text=True, check=False)


def test_each_host_keeps_its_own_newest_backup_and_prunes_only_its_own(make_workspace: WorkspaceFactory) -> None:
    ws = make_workspace("fleet")
    ws.env.update(KEEP_ONE)
    if as_host(ws, "probe-host", "--version").returncode != 0:
        pytest.skip("needs root and UTS namespaces (unshare --uts) for a second host name")
    theirs_old = as_host(ws, "other-host", "backup")
    assert theirs_old.returncode == 0, theirs_old.stderr
    assert as_host(ws, "other-host", "backup").returncode == 0
    mine = ws.backup()
    listed = {i["id"]: i for i in ws.listing()}
    hosts = sorted(i["host"] for i in listed.values())
    assert hosts.count("other-host") == 2 and len(hosts) == 3 and mine["host"] != "other-host"
    ids = set(listed)
    assert len(ids) == 3, "ids are unique across hosts without asking each other"

    assert ws.run("prune").returncode == 0  # this host: its one backup is its newest; the others are not its own
    assert set(i["id"] for i in ws.listing()) == ids
    pruned = as_host(ws, "other-host", "prune")
    assert pruned.returncode == 0, pruned.stderr
    left = {i["id"]: i["host"] for i in ws.listing()}
    assert sorted(left.values()) == sorted([mine["host"], "other-host"]), "the other host pruned its own older one"
    assert mine["id"] in left


def test_list_of_a_host_with_no_backups_names_the_hosts_that_have_some(backed_up: tuple[Workspace, str]) -> None:
    """``list --host`` with a name no backup carries (a typo, web1 for web-1) said "no backups in REPO" of a
    repository full of them, as if it were empty."""
    ws, _ = backed_up
    host = ws.json("list")[0]["host"]
    listed = ws.ok("list", "--host", "no-such-host").stdout
    assert "no backups made on host 'no-such-host'" in listed and f"(their hosts: {host})" in listed, listed
    assert ws.json("list", "--host", "no-such-host") == []
