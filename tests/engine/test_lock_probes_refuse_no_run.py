"""A look at a database's lock (prune's plan, a dry run, the app's refresh) never makes a run refuse: the look
holds the lock shared for microseconds, and a backup that asked in that instant exited 3 naming a run long gone."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from backup_tui.engine.core.errors import LockHeldError
from backup_tui.engine.storage.locks import database_lock

LOOKING = """
import sys, time
from pathlib import Path
from backup_tui.engine.storage.locks import is_locked
repository, until = Path(sys.argv[1]), time.monotonic() + float(sys.argv[2])
print("looking", flush=True)
while time.monotonic() < until:
    is_locked(repository, "app")
"""


def test_a_run_is_not_refused_for_a_look_at_its_lock(tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    repository.mkdir()
    with database_lock(repository, "app", "backup"):
        pass  # the lock file exists, as after any earlier run
    looker = subprocess.Popen([sys.executable, "-c", LOOKING, str(repository), "60"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert looker.stdout is not None and looker.stdout.readline() == "looking\n"
        refused = []
        until = time.monotonic() + 3
        while time.monotonic() < until:
            try:
                with database_lock(repository, "app", "backup"):
                    pass
            except LockHeldError as exc:
                refused.append(exc.message)
        assert looker.poll() is None  # it was looking all along
    finally:
        looker.kill()
        looker.wait()
    assert refused == []


def test_a_run_holding_the_lock_still_refuses_the_next_at_once(tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    with database_lock(repository, "app", "backup"):
        started = time.monotonic()
        try:
            with database_lock(repository, "app", "prune"):
                raise AssertionError("two runs held one lock")
        except LockHeldError as exc:
            assert "(backup, started" in exc.message
        assert time.monotonic() - started < 2
