"""A pg_dump that ends without error but wrote no archive (a wrapper that swallows the real one's failure, a
stand-in left in pg_bin_dir) makes no backup: one line says so, and nothing is left that lists as valid, where a
13-byte file of nothing was committed as a valid backup."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import BackupToolError
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.postgres import pg
from backup_tui.engine.storage.catalog import Catalog


@pytest.mark.parametrize(("writes", "said"), [("", "nothing"), ("printf 'hello, world'", "its output began b'hello'")])
def test_a_pg_dump_that_ends_well_without_an_archive_makes_no_backup(settings: Settings, tmp_path: Path,
                                                                     writes: str, said: str) -> None:
    real = Path(pg.tool_path("pg_dump")).parent
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "pg_dump").write_text(f'#!/bin/sh\n[ "$1" = --version ] && exec {real}/pg_dump --version\n'
                                   f"{writes}\nexit 0\n")
    (tools / "pg_dump").chmod(0o755)
    (tools / "psql").symlink_to(real / "psql")
    faked = replace(settings, pg_bin_dir=tools)
    with pytest.raises(BackupToolError) as raised:
        run_backup(Context(faked), faked.databases[0])
    assert raised.value.message == (f"pg_dump ended without error but wrote no custom-format archive ({said}): "
                                    "check pg_bin_dir and what its pg_dump is")
    assert Catalog.from_settings(faked).list() == []
    assert run_backup(Context(settings), settings.databases[0]).status == "valid"  # the real pg_dump's is one
