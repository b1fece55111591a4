"""An old script's plain dump whose objects belong to a role this server lacks: the server's lack, not damage."""

from __future__ import annotations

import os
import subprocess

from tests.headless.conftest import WorkspaceFactory

STAMP = "20240105_020000"


def test_a_full_verify_of_a_plain_dump_is_not_failed_for_a_role_this_server_lacks(
        make_workspace: WorkspaceFactory) -> None:
    """A test restore leaves owners out so that a role dropped since the backup cannot make a good backup
    FAILED; psql ran a plain dump's ALTER ... OWNER TO as it was, and the good backup lost its retention slot."""
    ws = make_workspace("legacy-roles")
    role, owned = f"{ws.database}_owner", f"{ws.database}_o"
    ws.psql(f'CREATE ROLE "{role}"')
    ws.psql(f'CREATE DATABASE "{owned}" OWNER "{role}"')
    ws.psql(f'SET ROLE "{role}"; CREATE TABLE t AS SELECT 1 AS i', owned)
    daily = ws.repo / "daily"
    daily.mkdir(parents=True)
    name = f"{owned}_{STAMP}.sql.gz"
    subprocess.run(f'pg_dump -Fp "{owned}" | gzip -9 > "{name}" && sha256sum "{name}" > "{name}.sha256"',
                   shell=True, cwd=daily, env={**os.environ, **ws.sandbox.env()}, check=True)
    ws.psql(f'DROP DATABASE "{owned}"')
    ws.psql(f'DROP ROLE "{role}"')

    (result,) = ws.json("verify", f"legacy-daily-{owned}_{STAMP}", env={"BACKUP_DB_NAME": owned})
    assert (result["ok"], result["level"]) == (True, "quick"), result
    assert any(role in note and "lacks" in note for note in result["not_done"]), result
    assert not [d for d in ws.databases() if "__verify_" in d]
