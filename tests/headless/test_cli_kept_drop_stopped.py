"""A kept copy's drop stopped by SIGTERM (or Ctrl+C) as its DROP DATABASE ends: the run's one line says the copy
was dropped, not a bare "stopped by SIGTERM" that read as a drop that did not happen (a kill-anywhere trial met it in
5 of 8 stops of `kept --drop` by SIGTERM or SIGINT)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from backup_tui.engine.devtools.sandbox import Sandbox

pytestmark = pytest.mark.slow

# The CLI, sent SIGTERM by itself as its DROP DATABASE returns (as systemd or timeout would, then).
TERMINATED_DURING_THE_DROP = """
import os, runpy, signal, sys
from backup_tui.engine.postgres import pg
drop = pg.drop_database
def drop_then_terminated(*args, **kwargs):
    drop(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGTERM)
pg.drop_database = drop_then_terminated
sys.argv = ["headless", *sys.argv[1:]]
runpy.run_module("headless", run_name="__main__", alter_sys=True)
"""


def test_a_drop_stopped_by_sigterm_says_the_copy_was_dropped(cli_env: dict[str, str], pg_sandbox: Sandbox,
                                                             pagila_db: str) -> None:
    Path(cli_env["BACKUP_DIR"]).mkdir()
    kept = f"{pagila_db}__pre_restore_20261201020304"
    pg_sandbox.psql(f'CREATE DATABASE "{kept}"')
    stopped = subprocess.run([sys.executable, "-c", TERMINATED_DURING_THE_DROP, "kept", "--drop", kept, "--yes"],
                             env=cli_env, capture_output=True, text=True, timeout=120, check=False)
    gone = pg_sandbox.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{kept}'") == "0"
    assert gone and stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    assert "after the drop was done: dropped" in stopped.stderr and kept in stopped.stderr, stopped.stderr
