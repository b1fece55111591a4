"""A host that only backs up encrypted (recipients, no identity) cannot run a full verification: the health
warning it gets must say where that can run and what this host can do, rather than advise what fails here.
The real CLI, a real cluster, a real age key."""

from __future__ import annotations

import pyrage

from tests.headless.conftest import Workspace, WorkspaceFactory


def test_a_host_without_the_key_is_told_to_verify_on_one_that_holds_it(make_workspace: WorkspaceFactory) -> None:
    ws: Workspace = make_workspace("keyless")
    identity = pyrage.x25519.Identity.generate()
    key = ws.write("holder.key", f"{identity}\n")
    key.chmod(0o600)
    ws.env["BACKUP_TUI_CONFIG"] = str(ws.write("config.toml", f'[encryption]\nrecipients = ["{identity.to_public()}"]'
                                                              "\n[health]\nmin_size_bytes = 1000\n"))
    backup_id = ws.backup()["id"]

    never = ws.run("monitor", "--check", "--no-notify")
    assert never.returncode == 1, never.stdout + never.stderr  # a warning, not critical
    [line] = [x for x in never.stdout.splitlines() if "no backup has been verified" in x]
    assert "on a host that holds one" in line and f"backup-headless verify --quick {backup_id}" in line

    full_here = ws.run("verify", backup_id)  # what the old advice said: it cannot work on this host
    assert full_here.returncode == 2 and "key" in full_here.stderr
    assert ws.run("verify", "--quick", backup_id).returncode == 0  # what this host can do

    after_quick = ws.run("monitor", "--check", "--no-notify")
    assert after_quick.returncode == 1
    [line] = [x for x in after_quick.stdout.splitlines() if "full verification" in x]
    assert "no backup has had a full verification" in line
    assert f"run backup-headless verify {backup_id} on a host that holds one" in line
    assert f"here, backup-headless verify --quick {backup_id}" in line

    with_key = ws.run("monitor", "--check", "--no-notify", env={"BACKUP_ENCRYPTION_IDENTITY_FILE": str(key)})
    assert with_key.returncode == 1 and f"run one: backup-headless verify {backup_id}" in with_key.stdout
    assert "holds no key" not in with_key.stdout  # a host with the key is told to run it itself

    assert ws.run("verify", backup_id, "--identity", str(key)).returncode == 0  # on the key holder
    healthy = ws.run("monitor", "--check", "--no-notify")  # back on the host without it: the record counts
    assert healthy.returncode == 0, healthy.stdout
