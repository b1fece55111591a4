"""``python -m headless`` and the ``backup-headless`` script."""

from __future__ import annotations

import gc
import signal
import sys

TYPE_CHECKING = False  # not typing's: its import (3 ms) would come before the handlers
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import NoReturn

STOPS = (signal.SIGTERM, signal.SIGHUP)


def load_main() -> Callable[[Sequence[str] | None], int]:
    """The CLI's ``main``, imported with the cycle collector paused: its modules' objects live as long as the
    process, and the collector ran over them again and again during the import. Frozen afterwards, out of
    its way for good (as the TUI's ``load_app`` does)."""
    from backup_tui.engine.core.collector import paused_then_frozen

    with paused_then_frozen():
        from headless.cli import main
    return main


def _stopped(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signum)  # as the CLI's own handler does, with the signal's number


def run() -> NoReturn:
    """Run a command and exit with its code, without the interpreter's last search for garbage among every
    object the run made (frozen first): together 40-50 ms of each run's 0.2 s start and end, a backup's too.
    SIGTERM and SIGHUP are handled first thing: one sent while the engine loads (its first 0.1 s) killed the run
    with no line, and a Ctrl+C before the command began printed a traceback. Stopped then, nothing has begun:
    the one line and 128+signal, as a stop says it later; ``main`` installs its own handler for the command."""
    for stop in STOPS:
        signal.signal(stop, _stopped)
    try:
        code = load_main()(None)
    except KeyboardInterrupt as exc:  # one that reached here was not said by main (its own try had not begun)
        from backup_tui.engine.core.runs import stop_said, stop_signal

        signum = stop_signal(exc)
        print(f"error: {stop_said(signum)}", file=sys.stderr)
        sys.exit(128 + signum)
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
