"""A backup starts pg_dump at once and never loads the database driver (psql holds the snapshot and asks the
backup's questions in it), and starts pg_dump writing its output in large pieces."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from backup_tui.engine.postgres import pg
from backup_tui.engine.stream.pipeline import CHUNK
from tests.headless.conftest import Workspace, WorkspaceFactory

# A backup run as cron runs it, with each child's start watched in the process: which tool, and whether the
# driver was loaded at that moment; and whether it was by the end.
WATCHED_RUN = """
import json, subprocess, sys
from pathlib import Path
started = []
class Watched(subprocess.Popen):
    def __init__(self, args, *rest, **options):
        tool = args[3] if Path(args[0]).name == "stdbuf" else args[0]  # stdbuf -o SIZE pg_dump ...
        name = Path(tool).name + (" --version" if "--version" in args else "")
        started.append(f"{name}: driver {'loaded' if 'psycopg' in sys.modules else 'not loaded'}")
        super().__init__(args, *rest, **options)
subprocess.Popen = Watched
from headless.cli import main
code = main(["backup", "--json"])
print(json.dumps([started, "psycopg" in sys.modules]), file=sys.stderr)
sys.exit(code)
"""


def test_a_backup_never_loads_the_database_driver(make_workspace: WorkspaceFactory) -> None:
    """The driver's import is 0.12-0.15 s of CPU, which a backup on a machine whose cores pg_dump and the
    compressor keep busy takes from the dump's pace: psql asks the server's facts and the row counts."""
    ws: Workspace = make_workspace("start")

    run = subprocess.run([sys.executable, "-c", WATCHED_RUN], env=ws.env_with(None), capture_output=True,
                         text=True, check=True)

    started, loaded_at_exit = json.loads(run.stderr.splitlines()[-1])
    assert started == ["psql: driver not loaded", "pg_dump: driver not loaded", "pg_dump --version: driver not loaded"]
    assert not loaded_at_exit
    made = json.loads(run.stdout)
    counts = ws.json("show", made["id"])["manifest"]["row_counts"]  # in the dump's snapshot, asked by its holder
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


def test_pg_dump_writes_its_output_a_quarter_of_a_chunk_at_a_time(make_workspace: WorkspaceFactory) -> None:
    """stdio writes a pipe a page at a time: 115,000 write(2)s for a 471 MB dump, each waking our reader. pg_dump
    is started by stdbuf, its writes a quarter of the reader's chunk (a read that caught up is still short)."""
    ws: Workspace = make_workspace("buffered")
    tools, seen = ws.root / "tools", ws.root / "seen"
    tools.mkdir()
    (tools / "pg_dump").write_text(f'#!/bin/sh\necho "$1 $_STDBUF_O" >> {seen}\nexec {pg.tool_path("pg_dump")} "$@"\n')
    (tools / "pg_dump").chmod(0o755)
    for name in ("psql", "pg_restore"):
        (tools / name).symlink_to(pg.tool_path(name))
    config = ws.write("buffered.toml", f'pg_bin_dir = "{tools}"\n')

    made = ws.json("--config", str(config), "backup")

    assert f"--format=custom {256 << 10}" in seen.read_text().splitlines() and CHUNK // 4 == 256 << 10
    ws.ok("--config", str(config), "verify", made["id"])


def test_without_stdbuf_pg_dump_runs_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert pg.output_buffered(["pg_dump", "-Fc"], 4096) == ["pg_dump", "-Fc"]


# A backup of one database, with the health judgements after it counted (each reads the whole catalog).
JUDGED_RUN = """
import sys
from backup_tui.engine.ops import after_run
judged = []
check_health = after_run.check_health
def counted(*args, **kwargs):
    judged.append(1)
    return check_health(*args, **kwargs)
after_run.check_health = counted
from headless.cli import main
code = main(["backup"])
print(len(judged), file=sys.stderr)
sys.exit(code)
"""


def test_a_backup_judges_the_health_once_after_it(make_workspace: WorkspaceFactory) -> None:
    """The notices of a command wait for its end; the judgement they are told from is the one after its last run,
    not a second reading of the whole catalog on every backup's critical path."""
    ws: Workspace = make_workspace("judged")
    run = subprocess.run([sys.executable, "-c", JUDGED_RUN], env=ws.env_with(None), capture_output=True, text=True,
                         check=True)
    assert run.stderr.splitlines()[-1] == "1"
