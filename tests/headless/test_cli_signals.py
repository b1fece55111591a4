"""Stopped mid-way by Ctrl+C, systemd (SIGTERM) or a dropped session (SIGHUP): everything is undone.

Each test freezes pg_restore while it is loading (SIGSTOP), so the signal lands mid-restore every run,
then checks what the operator would: the exit code, one line on stderr, no scratch database left on
the server, the original database untouched and no verdict recorded for an interrupted check.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import headless.__main__ as headless_main
from tests.headless.conftest import Workspace, WorkspaceFactory, bulky_workspace
from tests.processes import children, cmdline


@pytest.fixture(scope="module")
def ws(make_workspace: WorkspaceFactory) -> Workspace:
    return bulky_workspace(make_workspace, "signals")  # the test restore is still loading when it is frozen


@pytest.fixture(scope="module")
def backup_id(ws: Workspace) -> str:
    return str(ws.backup()["id"])


def _cmdline_has(pid: int, flag: bytes) -> bool:
    """Told apart by a flag: a cmdline may read empty for a moment while the child execs."""
    return flag in cmdline(pid)


LOADING = b"--exit-on-error"  # the pg_restore that loads a database
LISTING = b"--list"  # verify's quick check reading the archive's table of contents
DUMPING = b"--format=custom"  # pg_dump (a replace's safety backup)


def stop_mid_restore(ws: Workspace, args: list[str], signum: int,
                     which: bytes = LOADING) -> subprocess.CompletedProcess[str]:
    """Run backup-headless, freeze its pg_restore once started, send ``signum`` to the run, then thaw."""
    proc = subprocess.Popen([sys.executable, "-m", "headless", *args], env=ws.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    frozen = None
    while frozen is None and time.monotonic() < deadline and proc.poll() is None:
        frozen = next((c for c in children(proc.pid) if _cmdline_has(c, which)), None)
        time.sleep(0.005)
    assert frozen is not None, "pg_restore never started"
    os.kill(frozen, signal.SIGSTOP)
    time.sleep(0.3)  # the run is now blocked writing into a full pipe
    proc.send_signal(signum)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if Path(f"/proc/{frozen}").exists():
            os.kill(frozen, signal.SIGCONT)
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def scratch_databases(ws: Workspace) -> list[str]:
    return [d for d in ws.databases() if d.startswith(ws.database) and "__" in d]


def history(ws: Workspace, backup_id: str) -> list[object]:
    return list(ws.json("show", backup_id)["verifications"])


@pytest.mark.parametrize(("signum", "code", "said"), [
    (signal.SIGTERM, 143, "stopped by SIGTERM"),
    (signal.SIGINT, 130, "interrupted"),
])
def test_a_stopped_full_verify_drops_its_database_and_records_nothing(
    ws: Workspace, backup_id: str, signum: int, code: int, said: str,
) -> None:
    before = history(ws, backup_id)
    result = stop_mid_restore(ws, ["verify", backup_id], signum)
    assert result.returncode == code, result.stderr
    assert result.stderr.strip().splitlines() == [f"error: {said}"]
    assert scratch_databases(ws) == []
    assert history(ws, backup_id) == before  # interrupted is not failed: no verdict at all
    assert ws.run("verify", backup_id, "--quick").returncode == 0  # and the backup is still fine


def test_a_verify_stuck_feeding_its_archive_listing_still_stops(ws: Workspace, backup_id: str) -> None:
    before = history(ws, backup_id)
    result = stop_mid_restore(ws, ["verify", backup_id], signal.SIGTERM, which=LISTING)
    assert result.returncode == 143, result.stderr
    assert result.stderr.strip().splitlines() == ["error: stopped by SIGTERM"]
    assert history(ws, backup_id) == before


def test_sigterm_during_replace_keeps_the_original_and_leaves_no_temporary_database(
    ws: Workspace, backup_id: str,
) -> None:
    ws.psql("INSERT INTO actor (first_name, last_name) VALUES ('STILL', 'HERE')")
    result = stop_mid_restore(ws, ["restore", backup_id, "--replace", "--yes", "--no-safety-backup"],
                              signal.SIGTERM)
    assert result.returncode == 143, result.stderr
    [line] = result.stderr.strip().splitlines()  # all that cron or nohup keeps: it says what was left
    assert line.startswith("error: stopped by SIGTERM; restore stopped: the original is untouched; dropped '"), line
    assert scratch_databases(ws) == []
    assert ws.psql("SELECT count(*) FROM actor WHERE first_name = 'STILL'") == "1"  # the original, untouched


def test_sigterm_during_a_replaces_safety_backup_says_the_original_is_untouched(ws: Workspace, backup_id: str) -> None:
    before = [r["id"] for r in ws.json("list")]
    result = stop_mid_restore(ws, ["restore", backup_id, "--replace", "--yes"], signal.SIGTERM, which=DUMPING)
    assert result.returncode == 143, result.stderr
    [line] = result.stderr.strip().splitlines()  # all that cron or nohup keeps
    assert line == ("error: stopped by SIGTERM; the restore stopped during its safety backup: the original is "
                    "untouched; nothing was restored and no safety backup was kept"), line
    assert [r["id"] for r in ws.json("list")] == before and scratch_databases(ws) == []


def test_sighup_during_a_restore_into_a_new_database_drops_it(ws: Workspace, backup_id: str) -> None:
    target = f"{ws.database}_hup"
    result = stop_mid_restore(ws, ["restore", backup_id, "--target-db", target], signal.SIGHUP)
    assert result.returncode == 128 + signal.SIGHUP, result.stderr
    assert target not in ws.databases()
    log = max(ws.logs.glob("*restore*.log"), key=lambda p: p.stat().st_mtime).read_text()
    assert "stopped by SIGHUP" in log
    assert json.loads(ws.ok("list", "--json").stdout)  # the repository still reads fine


def test_a_ctrl_c_while_the_engine_loads_is_one_line_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """In the first tenth of a second the engine is still being imported: a Ctrl+C there printed Python's
    KeyboardInterrupt traceback. It is the same line and exit code as a Ctrl+C a moment later."""
    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(headless_main, "load_main", interrupted)
    with pytest.raises(SystemExit) as ended:
        headless_main.run()
    assert ended.value.code == 128 + signal.SIGINT
    assert capsys.readouterr().err == "error: interrupted\n"
