"""``backup-tui [--config FILE] [--demo]``: the operator's terminal app."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Sequence
from typing import Any

from backup_tui.engine.core.errors import EXIT_USAGE, BackupToolError
from backup_tui.engine.storage import files


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="backup-tui", description="PostgreSQL backups: browse, verify, restore.")
    parser.add_argument("--config", metavar="FILE", help="TOML config file (default: $BACKUP_TUI_CONFIG)")
    parser.add_argument("--demo", action="store_true",
                        help="start a throwaway PostgreSQL with pagila and weeks of real backups; removed on exit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    files.make_private()  # what the app's jobs write (dumps, manifests, reports) is the owner's alone
    from backup_tui.tui.app import BackupApp  # textual costs 0.3 s: only once the arguments are good

    if args.demo:
        return run_demo(BackupApp)
    from backup_tui.engine.config import load_settings

    try:
        settings = load_settings(args.config)
    except BackupToolError as exc:
        print(f"backup-tui: {exc.message}", file=sys.stderr)
        return exc.exit_code
    files.tighten(settings.repository, settings.log_dir)  # what an older run left open, before this one writes
    return run_until_stopped(BackupApp(settings))


def run_until_stopped(app: Any) -> int:
    """Run the app; a closed SSH session (SIGHUP) or a kill (SIGTERM) leaves it as quitting does.

    Leaving cancels every running job, whose thread then stops its pg_dump / pg_restore (they run in a
    process group of their own, out of reach of the terminal's hang-up) and drops what it was loading.
    """

    def leave(signum: int, _frame: object) -> None:
        app.exit(return_code=128 + signum)

    previous = {sig: signal.signal(sig, leave) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        app.run()
    except (KeyboardInterrupt, OSError):  # OSError: the terminal went away with the SSH session
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return int(app.return_code or 0)


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
    app = app_class(demo.settings, subtitle="demo: throwaway cluster, removed on exit")
    try:
        return run_until_stopped(app)  # a hang-up must not leave a cluster running either
    finally:
        say("removing the cluster and the repository…")
        demo.cleanup()


if __name__ == "__main__":
    sys.exit(main())
