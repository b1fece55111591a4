"""Bounded waits for tables another session keeps locked.

A backup needs a share lock on every table. An ALTER TABLE, a LOCK TABLE or a
long migration holding an exclusive lock would make it wait forever, holding our
repository lock while cron's next run exits 3. Instead the wait is bounded
(``[backup] lock_wait_timeout``) and the failure names the table and the
session holding it, which is what the operator must go and look at.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from backup_tui.engine.config import DatabaseConfig
from backup_tui.engine.core.errors import BackupToolError
from backup_tui.engine.core.progress import Reporter, warn
from backup_tui.engine.postgres import pg

if TYPE_CHECKING:
    import psycopg

# pg_dump 15 sets statement_timeout to --lock-wait-timeout, then locks table after table. "Query was:" is pg_dump's
# own (English: LC_MESSAGES=C); "statement timeout" the server's, in its lc_messages, which only a superuser sets.
_PG_DUMP_LOCK_QUERY = re.compile(r"Query was: LOCK TABLE (.+?) IN ACCESS SHARE MODE")
_PG_DUMP_LOCK = re.compile(r"statement timeout.*?" + _PG_DUMP_LOCK_QUERY.pattern, re.DOTALL)
QUERY_SHOWN = 60

# Who stands in the way of a share lock on the table: an exclusive lock held or queued (a queued
# ALTER TABLE blocks every later request) on it or on a partition or child (LOCK TABLE recurses).
HOLDERS_SQL = """
WITH RECURSIVE tree(relid) AS (
    SELECT to_regclass(%s)::oid
    UNION SELECT i.inhrelid FROM pg_inherits i JOIN tree t ON i.inhparent = t.relid
)
SELECT a.pid, coalesce(a.usename, '?'), coalesce(a.application_name, ''), coalesce(a.state, '?'),
       coalesce(a.query, ''), extract(epoch FROM now() - coalesce(a.xact_start, a.backend_start))::bigint,
       l.granted, quote_ident(n.nspname) || '.' || quote_ident(c.relname), pg_blocking_pids(a.pid)
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' AND l.relation IN (SELECT relid FROM tree)
  AND l.pid <> pg_backend_pid()
ORDER BY l.granted DESC, a.xact_start
"""


def pg_dump_arguments(timeout_s: int) -> list[str]:
    """pg_dump's own bound on its initial table locks (nothing when waits are unbounded)."""
    return [f"--lock-wait-timeout={timeout_s}s"] if timeout_s > 0 else []


def bound_waits(conn: psycopg.Connection[Any], timeout_s: int) -> None:
    """The same bound for our own queries in the backup's transaction (the row counts)."""
    if timeout_s > 0:
        conn.execute(f"SET LOCAL lock_timeout = '{int(timeout_s)}s'")


def locked_table_in(pg_dump_stderr: str) -> str | None:
    """The table pg_dump gave up waiting for, or None when it failed for another reason."""
    match = _PG_DUMP_LOCK.search(pg_dump_stderr)
    return match.group(1).strip() if match else None


def lock_failed_on(pg_dump_stderr: str) -> str | None:
    """The table whose LOCK TABLE failed, for whatever reason the server gave in whatever language: a lock wait
    that ran out, or a permission denied, a lost connection (``dump_failure`` tells them apart by a blocker)."""
    match = _PG_DUMP_LOCK_QUERY.search(pg_dump_stderr)
    return match.group(1).strip() if match else None


def dump_failure(db: DatabaseConfig, pg_dump_stderr: str, timeout_s: int) -> BackupToolError | None:
    """Our one line for a pg_dump that gave up on a table lock, or None where it failed otherwise: its words say
    so (an English server), or, in another language, its LOCK TABLE failed and a session holds or queues for
    an exclusive lock on that table now."""
    table = locked_table_in(pg_dump_stderr)
    if table is not None:
        return lock_wait_error(db, table, timeout_s)
    table = lock_failed_on(pg_dump_stderr)
    if table is None or timeout_s <= 0:
        return None
    holders = _holders(db, table)
    return _gave_up(table, holders, timeout_s) if holders else None


def describe_holders(conn: psycopg.Connection[Any], table: str) -> list[str]:
    """Who holds or queues for an exclusive lock on the table now: pid, user, how long, what it runs."""
    described = []
    for pid, user, app, state, query, seconds, granted, relation, blockers in conn.execute(
            HOLDERS_SQL, [table]).fetchall():
        text = " ".join(str(query).split())
        if len(text) > QUERY_SHOWN:
            text = text[: QUERY_SHOWN - 1] + "…"
        who = f"pid {pid} (user {user}{', ' + app if app else ''}, {state} for {seconds} s" + (
            f": {text})" if text else ")")
        if relation != table:
            who += f" on {relation}"
        if not granted:
            who += " queued ahead of us" + (f" behind pid {', '.join(map(str, blockers))}" if blockers else "")
        described.append(who)
    return described


WAITING_SQL = """
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.application_name = %s AND l.locktype = 'relation' AND NOT l.granted
"""
NOTICE_AFTER_S = 5.0


def notice_waits(db: DatabaseConfig, app_name: str, timeout_s: int, started: Callable[[], bool],
                 reporter: Reporter) -> threading.Timer:
    """After a few seconds in which the dump (known by its application_name) has sent nothing, say
    once whether it waits for a table lock and on whom, rather than sit silent until the timeout."""

    def look() -> None:
        if started():
            return
        import psycopg

        try:
            with pg.connect(db) as conn:
                row = conn.execute(WAITING_SQL, [app_name]).fetchone()
                holders = describe_holders(conn, row[0]) if row else []
        except (BackupToolError, psycopg.Error):
            return  # a notice only: the dump itself reports what matters
        if row:
            bound = f"gives up after {timeout_s} s" if timeout_s > 0 else "waits as long as it takes"
            warn(reporter, f"pg_dump has waited {NOTICE_AFTER_S:.0f} s for a lock on table {row[0]}"
                           + (f", blocked by {'; '.join(holders)}" if holders else "")
                           + f"; the backup {bound} ([backup] lock_wait_timeout)")

    timer = threading.Timer(NOTICE_AFTER_S, look)
    timer.daemon = True
    timer.start()
    return timer


def lock_wait_error(db: DatabaseConfig, table: str, timeout_s: int) -> BackupToolError:
    """One line: which table, which session, and the knob that sets the wait."""
    return _gave_up(table, _holders(db, table), timeout_s)


def _holders(db: DatabaseConfig, table: str) -> list[str]:
    import psycopg

    try:
        with pg.connect(db) as conn:
            return describe_holders(conn, table)
    except (BackupToolError, psycopg.Error):
        return []


def _gave_up(table: str, holders: list[str], timeout_s: int) -> BackupToolError:
    held = f"blocked by {'; '.join(holders)}" if holders else "the blocker has let go since"
    return BackupToolError(
        f"gave up after {timeout_s} s waiting for a lock on table {table}, {held}; "
        "retry when it is released, or raise [backup] lock_wait_timeout (0 waits forever)"
    )
