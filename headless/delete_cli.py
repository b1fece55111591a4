"""``backup-headless delete``: the engine's delete plan (ops/delete.py, the one the TUI's ``d`` asks with),
printed for a dry run, confirmed by typing the id on a terminal (or ``--yes``), then run and journaled."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from backup_tui.engine.core.errors import EXIT_LOCKED, EXIT_OK, BackupToolError, ConfigError, ConfirmationRequired
from backup_tui.engine.core.printable import printable
from backup_tui.engine.ops.context import Context
from backup_tui.engine.storage.space import human_bytes
from headless.output import Output

if TYPE_CHECKING:
    from backup_tui.engine.ops.delete import DeletePlan

FORCE = "--force deletes it anyway"


class StillThere(BackupToolError):
    """A copy stayed for a reason other than object lock (exit 1, or 3 while a reader holds the backup)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("delete", help="delete a backup: every copy of it (or --location's), after asking")
    p.add_argument("backup_id", metavar="BACKUP_ID")
    p.add_argument("--location", choices=["local", "s3", "all"], default="all",
                   help="delete only the copy there (default: all, every copy)")
    p.add_argument("--dry-run", action="store_true", help="print the plan: each copy and where, what object lock "
                                                          "keeps, what could not be listed; delete nothing")
    p.add_argument("--force", action="store_true",
                   help="also a pinned backup or the newest valid backup of its database (retention keeps those)")
    p.add_argument("--yes", action="store_true", help="confirm without a terminal (cron, scripts)")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")


def plan_lines(plan: DeletePlan) -> list[str]:
    record = plan.record
    lines = [f"delete plan for {record.id} ({record.database}, {human_bytes(record.stored_bytes)}, "
             f"{record.status}):"]
    lines += [f"  {line}" for line in plan.describe()]
    if plan.guarded:
        lines.append(f"  retention always keeps it: {'; '.join(plan.guarded)}")
    if plan.refusal:
        lines.append(f"  would refuse: {plan.refusal} ({FORCE})")
    return lines


def cmd_delete(ctx: Context, args: argparse.Namespace, out: Output) -> int:
    from backup_tui.engine.ops.delete import plan_delete, run_delete

    record = ctx.catalog.get(args.backup_id)  # an unknown id: one line, exit 2, as show says it
    plan = plan_delete(ctx, record, location=args.location, force=args.force)
    if args.dry_run:
        if out.as_json:
            out.json(plan.to_json())
        for row in plan_lines(plan):
            out.line(row, always=True)
        return plan.exit_code
    if plan.refusal:
        raise ConfigError(f"{plan.refusal}; nothing was deleted ({FORCE})")
    if not args.yes:
        _confirm(plan)
    result = run_delete(ctx, plan)
    for copy in plan.copies:
        if copy.location in result.deleted:
            out.line(f"deleted {record.id} from {copy.where}")
    if result.exit_code != EXIT_OK:
        gone = f"deleted from {' and '.join(result.deleted)}; " if result.deleted else "nothing was deleted: "
        stayed = "; ".join(f"kept in {where}: {why}" for where, why in result.kept.items())
        advice = " (try again when it ends)" if result.exit_code == EXIT_LOCKED else ""
        raise StillThere(f"{record.id}: {gone}{stayed}{advice}", result.exit_code)
    for where, why in result.kept.items():  # object lock: the bucket's own policy, said, not a failure
        out.warning(f"kept in {where}: {why}")
    if out.as_json:
        out.json(result.to_json())
    return EXIT_OK


def _confirm(plan: DeletePlan) -> None:
    """Typing the id, as a replace types the database's name: a delete cannot be undone, and a y typed ahead
    or by habit must not be enough. The plan and the question go to stderr, so stdout stays the result."""
    backup_id = plan.record.id
    if not sys.stdin.isatty():
        raise ConfirmationRequired(f"delete of {backup_id!r} needs --yes when no terminal is attached")
    for row in plan_lines(plan):
        print(printable(row), file=sys.stderr)  # a planted id or path must not reach the terminal as a command
    sys.stderr.write(f"This deletes {printable(backup_id)} for good. Type its id to confirm: ")
    sys.stderr.flush()
    if sys.stdin.readline().strip() != backup_id:
        raise ConfirmationRequired("the id typed does not match: nothing was deleted")
