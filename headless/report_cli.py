"""``backup-headless report``: the recovery evidence of a period, for an auditor or a restore drill's file."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from backup_tui.engine.core.errors import EXIT_OK, ConfigError
from backup_tui.engine.core.models import YEARS
from backup_tui.engine.core.printable import printable
from backup_tui.engine.ops.context import Context
from backup_tui.engine.storage.state import this_host
from headless.output import Output

DEFAULT_PERIOD = timedelta(days=30)


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("report", help="recovery evidence: backups, verifications, restores, recovery time, "
                                      "data-loss window, health problems")
    p.add_argument("--since", metavar="DATE", help="start of the period, YYYY-MM-DD or ISO 8601 (default: 30 days "
                                                  "ago)")
    p.add_argument("--format", choices=["markdown", "html", "json"], default="markdown")
    p.add_argument("--database", metavar="NAME", help="only this database")


def parse_since(text: str | None, now: datetime) -> datetime:
    if text is None:
        return now - DEFAULT_PERIOD
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--since {text!r} is not a date (YYYY-MM-DD or ISO 8601)") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment >= now:
        raise ConfigError(f"--since {text!r} is not in the past")
    return max(moment, datetime(YEARS[0], 1, 1, tzinfo=UTC))  # no record is older: year 1 printed as "1-01-01"


def printable_values(value: Any) -> Any:
    """The evidence with every text in it (keys too: table names) made printable, before the markdown or the
    page is laid out: a field's newline must not become a line of the report. JSON keeps the texts as they
    are, json.dumps escapes them."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {printable_values(k): printable_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [printable_values(v) for v in value]
    return value


def cmd_report(ctx: Context, args: argparse.Namespace, out: Output) -> int:
    from backup_tui.engine.core import evidence
    from backup_tui.engine.ops.health import watched_databases
    from backup_tui.engine.storage.journal import read_runs

    now = ctx.now()
    since = parse_since(args.since, now)
    records = ctx.catalog.list()
    databases = [args.database] if args.database else watched_databases(ctx.settings, records)
    found = evidence.build(databases, records, read_runs(ctx.settings.repository), since, now,
                           ctx.settings.thresholds, this_host())
    if args.format == "json":
        print(json.dumps(found, indent=2), file=out.out)
    elif args.format == "html":
        out.out.write(evidence.to_html(printable_values(found)))
    else:
        out.out.write(evidence.to_markdown(printable_values(found)))
    return EXIT_OK
