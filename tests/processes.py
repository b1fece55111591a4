"""Finding a run's child processes, to freeze or kill them mid-way in tests."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path


def children(pid: int) -> list[int]:
    """Children started by any thread of ``pid`` (verify and the TUI start them from worker threads)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:  # the thread ended meanwhile
            continue
    return found


def named(pids: list[int], name: str) -> int | None:
    """The first of ``pids`` running the program ``name``."""
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == name:
                return pid
        except OSError:
            continue
    return None


def wait_for_child(pid: int, name: str, timeout: float = 30) -> int:
    """The pid of ``pid``'s child running ``name``, polled closely so we catch it early in its work."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = named(children(pid), name)
        if found is not None:
            return found
        time.sleep(0.005)
    raise AssertionError(f"{name} never started")


def cmdline(pid: int) -> bytes:
    """The process's argv, NUL-separated; empty once it is gone (or for a moment while it execs)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def stopped(pid: int) -> bool:
    """The process is stopped (SIGSTOP): the state field of /proc/PID/stat is 'T'."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"


def kill_at_pause(env: dict[str, str], step: str, *args: str, timeout: float = 120) -> None:
    """Run backup-headless ARGS with the engine's test pause at ``step``; once it stopped itself there,
    SIGKILL it, as the OOM killer or a power cut would."""
    from backup_tui.engine.ops.swap import PAUSE_ENV

    proc = subprocess.Popen([sys.executable, "-m", "headless", *args], env={**env, PAUSE_ENV: step},
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and not stopped(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    if proc.poll() is not None:
        raise AssertionError(f"the run ended before step {step}: {proc.stderr.read() if proc.stderr else ''}")
    assert stopped(proc.pid), f"the run never reached step {step}"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
