"""A backup starts pg_dump before this process has loaded the database driver, which then loads beside it."""

from __future__ import annotations

import json
import subprocess
import sys

from backup_tui.engine.postgres import pg
from tests.headless.conftest import Workspace, WorkspaceFactory

# A backup run as cron runs it, with each child's start watched in the process: which tool, and whether the
# driver was loaded at that moment (a probe from the child's side would race the driver's import).
WATCHED_RUN = """
import json, subprocess, sys
from pathlib import Path
started = []
class Watched(subprocess.Popen):
    def __init__(self, args, *rest, **options):
        name = Path(args[0]).name + (" --version" if "--version" in args else "")
        started.append(f"{name}: driver {'loaded' if 'psycopg' in sys.modules else 'not loaded'}")
        super().__init__(args, *rest, **options)
subprocess.Popen = Watched
from headless.cli import main
code = main(["backup", "--json"])
print(json.dumps(started), file=sys.stderr)
sys.exit(code)
"""


def test_pg_dump_starts_before_the_driver_loads(make_workspace: WorkspaceFactory) -> None:
    ws: Workspace = make_workspace("start")

    run = subprocess.run([sys.executable, "-c", WATCHED_RUN], env=ws.env_with(None), capture_output=True,
                         text=True, check=True)

    started = json.loads(run.stderr.splitlines()[-1])
    # The version asked once the dump runs is the control: by then our session has loaded the driver.
    assert started == ["psql: driver not loaded", "pg_dump: driver not loaded", "pg_dump --version: driver loaded"]
    made = json.loads(run.stdout)
    counts = ws.json("show", made["id"])["manifest"]["row_counts"]  # in the dump's snapshot, which our session joined
    assert counts["public.rental"] == 16044
    ws.ok("verify", made["id"])


def test_a_pg_bin_dir_without_pg_dump_refuses_before_any_folder_is_made(make_workspace: WorkspaceFactory) -> None:
    ws: Workspace = make_workspace("no-pg-dump")
    tools = ws.root / "psql-only"
    tools.mkdir()
    (tools / "psql").symlink_to(pg.tool_path("psql"))
    config = ws.write("psql-only.toml", f'pg_bin_dir = "{tools}"\n')

    result = ws.run("--config", str(config), "backup")

    assert result.returncode == 2 and "has no pg_dump" in result.stderr, result.stderr
    assert sorted(p.name for p in ws.repo.iterdir()) == ["locks", "runs"]  # no backup's folder, not even empty
