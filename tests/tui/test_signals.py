"""SIGHUP and SIGTERM end the app at any moment (issue 14, class 4): also the instant a job finishes, and
also when a job's thread cannot stop; a second signal ends it at once. The app runs in a real
pseudo-terminal, as over SSH, on the fixed catalog (tests/tui/signal_app.py)."""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from tests.tui.signal_app import GRACE_S

ROOT = Path(__file__).resolve().parents[2]


class Terminal:
    """backup-tui's test double of an SSH session: a pty whose screen is read, so the app never blocks."""

    def __init__(self, mode: str, marker: Path) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": str(ROOT)}
        self.marker = marker
        self.app = subprocess.Popen([sys.executable, "-m", "tests.tui.signal_app", mode, str(marker)], cwd=ROOT,
                                    env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self.screen = bytearray()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.screen.extend(chunk)

    def start_backup(self) -> float:
        """Press b once the dashboard is drawn; when the backup started (monotonic)."""
        deadline = time.monotonic() + 30
        while b"pagila" not in self.screen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert b"pagila" in self.screen, "the app never drew its dashboard"
        time.sleep(0.3)
        os.write(self.master, b"b")
        while not self.marker.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        assert self.marker.exists(), "the backup never started"
        return time.monotonic()

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self.app.poll() is None:
            self.app.kill()
            self.app.wait()
        os.close(self.master)


@pytest.mark.parametrize("offset", [0.20, 0.24, 0.27, 0.29, 0.30, 0.31, 0.32, 0.33, 0.35, 0.38, 0.45, 0.6])
def test_a_hang_up_as_a_job_finishes_ends_the_app(tmp_path: Path, offset: float) -> None:
    """The backup ends 0.3 s after it starts: the hang-up lands before, during and after its last steps."""
    with Terminal("finishing", tmp_path / "started") as terminal:
        started = terminal.start_backup()
        time.sleep(max(0.0, started + offset - time.monotonic()))
        terminal.app.send_signal(signal.SIGHUP)
        assert terminal.app.wait(timeout=GRACE_S + 10) == 128 + signal.SIGHUP


def test_sigterm_ends_the_app_even_when_a_job_cannot_stop(tmp_path: Path) -> None:
    with Terminal("stuck", tmp_path / "started") as terminal:
        terminal.start_backup()
        sent = time.monotonic()
        terminal.app.send_signal(signal.SIGTERM)
        assert terminal.app.wait(timeout=GRACE_S + 10) == 128 + signal.SIGTERM
        assert time.monotonic() - sent >= GRACE_S - 0.5  # the job was given its time to clean up


def test_a_second_sigterm_ends_the_app_at_once(tmp_path: Path) -> None:
    with Terminal("stuck", tmp_path / "started") as terminal:
        terminal.start_backup()
        terminal.app.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        sent = time.monotonic()
        terminal.app.send_signal(signal.SIGTERM)
        assert terminal.app.wait(timeout=GRACE_S + 10) == 128 + signal.SIGTERM
        assert time.monotonic() - sent < GRACE_S - 1
