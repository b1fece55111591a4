"""The on-call journeys in the real app, in tmux at 80x24 on a real cluster, driven by the keys an engineer types:
the keys counted against the issue's goals, and the terminal closed the instant the result shows (tmux's
kill-server hangs up on the app, as a dropped SSH session does)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]


class Tmux:
    """A private tmux server (-L) with the app in its only pane: our environment reaches the app."""

    def __init__(self, env: dict[str, str]) -> None:
        self.socket = f"oncall-{os.getpid()}-{time.monotonic_ns()}"
        self.env = env
        self.keys = 0
        self.tmux("new-session", "-d", "-x", "80", "-y", "24", f"exec {sys.executable} -m backup_tui.tui")
        self.pid = int(self.tmux("list-panes", "-F", "#{pane_pid}").strip())
        self.socket_path = Path(self.tmux("display-message", "-p", "#{socket_path}").strip())

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], env=self.env, capture_output=True, text=True,
                              timeout=30, check=True)
        return done.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p")

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in (shown := self.screen()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never showed; the screen:\n{shown}")
            time.sleep(0.02)

    def press(self, *keys: str) -> None:
        """Keys the way an operator types them, counted."""
        for key in keys:
            self.tmux("send-keys", key)
            self.keys += 1

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-l", text)  # typing, not counted as keys

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return Path(f"/proc/{self.pid}/stat").read_text().split()[2] != "Z"

    def hang_up(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], env=self.env, capture_output=True, check=False)


@pytest.fixture
def trial(settings: Settings, cli_env: dict[str, str]) -> Iterator[Tmux]:
    run_backup(Context(settings), settings.databases[0])
    session = Tmux({**cli_env, "TERM": "xterm-256color"})
    try:
        yield session
    finally:
        session.hang_up()
        deadline = time.monotonic() + 30
        while session.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if session.alive():
            os.kill(session.pid, signal.SIGKILL)
        session.socket_path.unlink(missing_ok=True)  # kill-server leaves it behind


def gone_within(session: Tmux, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while session.alive():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_newest_backup_into_a_new_database_in_four_keys_then_the_terminal_closes(
    trial: Tmux, settings: Settings, pg_sandbox: Sandbox
) -> None:
    database = settings.databases[0].database
    trial.wait_for(database)
    trial.press("r", "Enter", "Enter", "Enter")  # typed ahead, as a tired engineer does
    trial.wait_for("✓ Restored")
    assert trial.keys <= 6
    shown = " ".join(trial.screen().split())  # the lines as one text: 80 columns wrap it anywhere
    assert "tables match the manifest" in shown and f"-d {database}_restored_" in shown, shown
    trial.hang_up()  # the instant the result shows
    assert gone_within(trial, 10), "backup-tui outlived its terminal"


def test_keys_typed_before_the_app_has_drawn_anything_still_make_the_restore(
    trial: Tmux, settings: Settings, pg_sandbox: Sandbox
) -> None:
    """Typed while the app starts (over SSH the launch takes a moment): the terminal is not yet in raw mode and
    turns each Enter into a newline; the Enters were lost and the wizard sat on its first page."""
    trial.press("r", "Enter", "Enter", "Enter")
    trial.wait_for("✓ Restored")
    assert f"-d {settings.databases[0].database}_restored_" in " ".join(trial.screen().split())


def test_replace_with_the_typed_name_in_eight_keys(trial: Tmux, settings: Settings, pg_sandbox: Sandbox) -> None:
    database = settings.databases[0].database
    trial.wait_for(database)
    trial.press("r", "Enter", "BTab", "Down", "Enter")
    trial.wait_for("REPLACE database")
    trial.press("Enter")
    trial.wait_for("to confirm")
    trial.type(database)
    trial.press("Enter")
    trial.wait_for("✓ Restored", timeout=120)
    assert trial.keys <= 8
    assert "Previous database kept as" in trial.screen()
    aside = pg_sandbox.psql(f"SELECT datname FROM pg_database WHERE datname LIKE '{database}__pre_restore_%'")
    assert aside.startswith(f"{database}__pre_restore_")
