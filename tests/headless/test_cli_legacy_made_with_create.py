"""An old script's dump made with ``pg_dump -C`` (``--create``, with ``-c`` too): none of its statements reach the
server. Its CREATE DATABASE ran before psql refused its \\connect: a full verify left an empty database of the
original's name on a recovery server where the original was gone, and recorded a good backup FAILED, costing it
its retention slot; with -c, its DROP DATABASE dropped the original itself wherever no session held it."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.headless.conftest import WorkspaceFactory, one_error_line

STAMP = "20240105_020000"


@pytest.mark.parametrize(("flags", "original_kept"), [("-C", False), ("-c -C", True)])
def test_a_dump_made_with_create_runs_nothing_on_the_server_and_is_not_failed(
        make_workspace: WorkspaceFactory, flags: str, original_kept: bool) -> None:
    ws = make_workspace("legacy-create")
    dumped = f"{ws.database}_c"
    ws.psql(f'CREATE DATABASE "{dumped}" TEMPLATE "{ws.database}"')
    daily = ws.repo / "daily"
    daily.mkdir(parents=True)
    name = f"{dumped}_{STAMP}.sql.gz"
    subprocess.run(f'pg_dump {flags} -Fp "{dumped}" | gzip -9 > "{name}" && sha256sum "{name}" > "{name}.sha256"',
                   shell=True, cwd=daily, env={**os.environ, **ws.sandbox.env()}, check=True)
    if not original_kept:
        ws.psql(f'DROP DATABASE "{dumped}"')
    tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
    before = ws.psql(tables, dumped) if original_kept else ""
    env: dict[str, str | None] = {"BACKUP_DB_NAME": dumped}
    backup_id = f"legacy-daily-{dumped}_{STAMP}"

    (result,) = ws.json("verify", backup_id, env=env)
    assert (result["ok"], result["level"]) == (True, "quick"), result
    assert any("pg_dump --create" in note for note in result["not_done"]), result
    assert (dumped in ws.databases()) is original_kept  # neither made nor dropped
    if original_kept:  # with -c, the verify dropped the original and made it again, empty (0 tables)
        assert ws.psql(tables, dumped) == before != "0"

    restored = ws.run("restore", backup_id, "--target-db", f"{dumped}_new", env=env)
    assert restored.returncode == 1, restored.stderr
    assert "pg_dump --create" in one_error_line(restored)
    assert (dumped in ws.databases()) is original_kept and f"{dumped}_new" not in ws.databases()
    if original_kept:
        assert ws.psql(tables, dumped) == before
