"""backup-headless stopped (Ctrl+C, SIGTERM, SIGHUP) in its first tenth of a second, while the engine loads or
before its command begins: the one line and 128+signal, as a stop a moment later says it. A SIGTERM there killed the
run with no line (the shell's -15), and a Ctrl+C while the arguments were read printed Python's traceback."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

import headless.__main__ as headless_main

# The script as the console entry point runs it, sending itself STOP_SIGNAL as the engine's first module loads
# ("engine"), or as the command's arguments are read ("arguments"), the CLI module loaded by then.
STOPPED_AT_START = """
import os, signal, sys
stop = getattr(signal, os.environ["STOP_SIGNAL"])
if os.environ["STOP_AT"] == "engine":
    def stopped_at_the_engine(event, args):
        if event == "import" and args[0] == "backup_tui.engine.config":
            os.kill(os.getpid(), stop)
    sys.addaudithook(stopped_at_the_engine)
else:
    import headless.cli
    build = headless.cli.build_parser
    def stopped_at_the_arguments():
        os.kill(os.getpid(), stop)
        return build()
    headless.cli.build_parser = stopped_at_the_arguments
from headless.__main__ import run
sys.argv = ["backup-headless", "list"]
run()
"""


@pytest.mark.parametrize("at", ["engine", "arguments"])
@pytest.mark.parametrize(("signum", "said"), [
    (signal.SIGTERM, "stopped by SIGTERM"), (signal.SIGINT, "interrupted"), (signal.SIGHUP, "stopped by SIGHUP")])
def test_a_stop_before_the_command_begins_is_one_line_and_its_exit_code(at: str, signum: int, said: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}
    stopped = subprocess.run([sys.executable, "-c", STOPPED_AT_START],
                             env={**env, "STOP_SIGNAL": signal.Signals(signum).name, "STOP_AT": at},
                             capture_output=True, text=True, timeout=60, check=False)
    assert (stopped.returncode, stopped.stderr) == (128 + signum, f"error: {said}\n")


@pytest.fixture
def own_handlers() -> Iterator[None]:
    """run() installs its stop handlers for the process: this one's are put back after the test."""
    kept = {stop: signal.getsignal(stop) for stop in headless_main.STOPS}
    yield
    for stop, handler in kept.items():
        signal.signal(stop, handler)


def test_the_stop_handlers_are_in_place_before_the_engine_loads(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], own_handlers: None,
) -> None:
    def loading() -> None:
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(headless_main, "load_main", loading)
    with pytest.raises(SystemExit) as ended:
        headless_main.run()
    assert ended.value.code == 128 + signal.SIGTERM
    assert capsys.readouterr().err == "error: stopped by SIGTERM\n"
