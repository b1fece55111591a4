"""A backup starts pg_dump before this process has loaded the database driver, which then loads beside it."""

from __future__ import annotations

from pathlib import Path

from backup_tui.engine.postgres import pg
from tests.headless.conftest import Workspace, WorkspaceFactory


def watching_client_tools(folder: Path) -> Path:
    """psql and pg_dump that note, as each starts, whether the process that started them has psycopg mapped."""
    folder.mkdir()
    for tool in ("psql", "pg_dump"):
        script = folder / tool
        script.write_text(f"""#!/bin/sh
if grep -q psycopg /proc/$PPID/maps; then driver=loaded; else driver=not-loaded; fi
if [ "$1" = --version ]; then asked=" --version"; else asked=""; fi
echo "{tool}$asked: driver $driver" >> {folder}/started
exec {pg.tool_path(tool)} "$@"
""")
        script.chmod(0o755)
    return folder


def test_pg_dump_starts_before_the_driver_loads(make_workspace: WorkspaceFactory) -> None:
    ws: Workspace = make_workspace("start")
    tools = watching_client_tools(ws.root / "bin")
    config = ws.write("tools.toml", f'pg_bin_dir = "{tools}"\n')

    made = ws.json("--config", str(config), "backup")

    started = (tools / "started").read_text().splitlines()
    # The version asked once the dump runs is the control: by then the driver is loaded, and the probe sees it.
    assert started == ["psql: driver not-loaded", "pg_dump: driver not-loaded", "pg_dump --version: driver loaded"]
    counts = ws.json("show", made["id"])["manifest"]["row_counts"]  # in the dump's snapshot, which our session joined
    assert counts["public.rental"] == 16044
    ws.ok("verify", made["id"])  # restores, with the client tools on PATH


def test_a_pg_bin_dir_without_pg_dump_refuses_before_any_folder_is_made(make_workspace: WorkspaceFactory) -> None:
    ws: Workspace = make_workspace("no-pg-dump")
    tools = ws.root / "psql-only"
    tools.mkdir()
    (tools / "psql").symlink_to(pg.tool_path("psql"))
    config = ws.write("psql-only.toml", f'pg_bin_dir = "{tools}"\n')

    result = ws.run("--config", str(config), "backup")

    assert result.returncode == 2 and "has no pg_dump" in result.stderr, result.stderr
    assert sorted(p.name for p in ws.repo.iterdir()) == ["locks", "runs"]  # no backup's folder, not even empty
