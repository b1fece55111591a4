"""The SSH session drops while the app backs up: backup-tui runs in a real pseudo-terminal, gets SIGHUP,
and must stop its pg_dump (which sits outside the terminal's process group) and leave nothing valid."""

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

from backup_tui.engine.config import Settings
from backup_tui.engine.storage.catalog import Catalog
from tests.processes import wait_for_child


def test_sighup_mid_backup_stops_pg_dump_and_leaves_nothing_valid(settings: Settings, cli_env: dict[str, str]) -> None:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = {**cli_env, "TERM": "xterm-256color"}
    app = subprocess.Popen([sys.executable, "-m", "backup_tui.tui"], env=env, stdin=slave, stdout=slave,
                           stderr=slave, start_new_session=True)
    os.close(slave)
    screen = bytearray()

    def drain() -> None:  # a terminal nobody reads would block the app's writes
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            screen.extend(chunk)

    threading.Thread(target=drain, daemon=True).start()
    pg_dump = None
    try:
        database = settings.databases[0].name.encode()
        deadline = time.monotonic() + 30
        while database not in screen and time.monotonic() < deadline:  # the dashboard shows the database
            time.sleep(0.05)
        assert database in screen, "the app never drew its dashboard"
        time.sleep(0.5)
        os.write(master, b"b")  # back up the database in focus
        pg_dump = wait_for_child(app.pid, "pg_dump")
        os.kill(pg_dump, signal.SIGSTOP)  # mid-dump, whatever the machine's speed

        app.send_signal(signal.SIGHUP)
        assert app.wait(timeout=30) == 128 + signal.SIGHUP
        time.sleep(0.2)
        assert not Path(f"/proc/{pg_dump}").exists(), "pg_dump outlived the app"
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
        if pg_dump is not None and Path(f"/proc/{pg_dump}").exists():
            os.kill(pg_dump, signal.SIGKILL)
            os.kill(pg_dump, signal.SIGCONT)
        os.close(master)
    assert [r for r in Catalog.from_settings(settings).list() if r.status == "valid"] == []
