"""``backup-tui [--config FILE] [--demo]``: the operator's terminal app."""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from backup_tui.engine.core.collector import paused_then_frozen
from backup_tui.engine.core.errors import EXIT_USAGE, BackupToolError
from backup_tui.engine.storage import files

if TYPE_CHECKING:
    from backup_tui.tui.app import BackupApp


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="backup-tui", description="PostgreSQL backups: browse, verify, restore.")
    parser.add_argument("--config", metavar="FILE", help="TOML config file (default: $BACKUP_TUI_CONFIG)")
    parser.add_argument("--demo", action="store_true",
                        help="start a throwaway PostgreSQL with pagila and weeks of real backups; removed on exit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    files.make_private()  # what the app's jobs write (dumps, manifests, reports) is the owner's alone
    app_class = load_app()  # textual costs 0.3 s: only once the arguments are good

    if args.demo:
        return run_demo(app_class)
    from backup_tui.engine.config import load_settings

    try:
        settings = load_settings(args.config)
    except BackupToolError as exc:
        print(f"backup-tui: {exc.message}", file=sys.stderr)
        return exc.exit_code
    files.tighten(settings.repository, settings.log_dir)  # what an older run left open, before this one writes
    return run_until_stopped(app_class(settings))


def load_app() -> type[BackupApp]:
    """The app's class, imported with the cycle collector paused. The 600 modules of Textual's and ours make
    60,000 objects that live as long as the process: the collector ran 140 times over them during the import,
    about 40 ms of the launch, and found 900 to free. Frozen afterwards, out of its way for good (as the app
    does again once the dashboard is up)."""
    with paused_then_frozen():
        from backup_tui.tui.app import BackupApp as app_class
    return app_class


GRACE_S = 20.0  # after a hang-up or SIGTERM: time for cancelled jobs to clean up before the process ends anyway
AFTER_JOBS_S = 2.0  # once the jobs are done: time for the app's own exit before it is broken off
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def run_until_stopped(app: Any, grace_s: float = GRACE_S, on_abandon: Callable[[], object] | None = None) -> int:
    """Run the app; a closed SSH session (SIGHUP) or a kill (SIGTERM) leaves it as quitting does, at any moment.

    Leaving cancels every running job, whose thread then stops its pg_dump / pg_restore (they run in a
    process group of their own, out of reach of the terminal's hang-up) and drops what it was loading.
    The handler only hands the signal on (it may have interrupted the event loop, or a lock the UI thread
    holds): a thread of ours cancels the jobs and asks the loop to exit. If the app is still not gone once
    the jobs are done (or ``grace_s`` later, or at a second signal), ``on_abandon`` runs and the process ends
    there; what a job left half-done is recorded as scratch, which the next run removes.
    """
    received: queue.SimpleQueue[int] = queue.SimpleQueue()  # put() is safe in a signal handler
    done = threading.Event()
    stopped_by: list[int] = []

    def leave(signum: int, _frame: object) -> None:
        received.put(signum)

    previous = {sig: signal.signal(sig, leave) for sig in STOP_SIGNALS}
    threading.Thread(target=_stop_on_signal, args=(app, received, done, stopped_by, grace_s, on_abandon),
                     daemon=True, name="stop-on-signal").start()
    try:
        app.run()
    except (KeyboardInterrupt, OSError):  # OSError: the terminal went away with the SSH session
        pass
    finally:
        done.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 + stopped_by[0] if stopped_by else int(app.return_code or 0)


def _stop_on_signal(app: Any, received: queue.SimpleQueue[int], done: threading.Event, stopped_by: list[int],
                    grace_s: float, on_abandon: Callable[[], object] | None) -> None:
    while True:  # the first signal, or the app ended without one
        try:
            signum = received.get(timeout=0.1)
            break
        except queue.Empty:
            if done.is_set():
                return
    stopped_by.append(signum)
    code = 128 + signum
    for job in _jobs_of(app):
        job.cancel.cancel()  # their hooks kill the children's process groups now
    deadline = time.monotonic() + grace_s
    asked, jobs_ended_at = False, None
    while not done.is_set():
        if not asked:
            asked = _ask_exit(app, code)
        try:
            received.get(timeout=0.1)
            break  # a second signal: the operator means it
        except queue.Empty:
            pass
        now = time.monotonic()
        if jobs_ended_at is None and all(job.ended.is_set() for job in _jobs_of(app)):
            jobs_ended_at = now
        if now > deadline or (jobs_ended_at is not None and now - jobs_ended_at > AFTER_JOBS_S):
            break
    else:
        return
    # Stuck leaving, though the jobs are done: Textual's exit writes to the terminal through a bounded queue
    # whose writer thread died with the terminal, and waits there for ever. Nothing is left to save but what
    # the caller must still undo (the demo's cluster): that, then the end.
    if on_abandon is not None:
        with contextlib.suppress(Exception):
            on_abandon()
    os._exit(code)


def _jobs_of(app: Any) -> list[Any]:
    for _ in range(10):  # the UI thread may add one meanwhile
        try:
            return list(getattr(app, "jobs", {}).values())
        except RuntimeError:
            continue
    return []


def _ask_exit(app: Any, code: int) -> bool:
    """Have the app's own loop run ``exit``: from here, not from the handler, and not re-entering the loop."""
    loop = getattr(app, "_loop", None)
    if loop is None:
        return False
    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: the app is ending anyway
        loop.call_soon_threadsafe(lambda: app.exit(return_code=code))
    return True


def run_demo(app_class: type) -> int:
    from backup_tui.engine.devtools.demo import start_demo

    def say(line: str) -> None:
        with contextlib.suppress(OSError):  # after a hang-up the terminal is gone; cleaning up matters more
            print(f"demo: {line}", file=sys.stderr, flush=True)

    try:
        demo = start_demo(say)
    except BackupToolError as exc:
        print(f"backup-tui --demo: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("backup-tui --demo: interrupted; cleaned up", file=sys.stderr)
        return 130
    # The result's psql line carries no password (none ever does): the demo's, made up, is said here instead.
    password = demo.settings.databases[0].password if demo.settings.databases else None
    said = f", password {password}" if password else ""
    app = app_class(demo.settings, subtitle=f"demo: throwaway cluster{said}, removed on exit")
    try:
        # A hang-up must not leave a cluster running either, also when the app's own exit gets stuck.
        return run_until_stopped(app, on_abandon=demo.cleanup)
    finally:
        say("removing the cluster and the repository…")
        demo.cleanup()


if __name__ == "__main__":
    sys.exit(main())
