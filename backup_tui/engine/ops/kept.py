"""The databases a replace (or a rollback) kept aside: list them, drop one, roll back to one.

A replace renames the live database to ``<db>__pre_restore_<utc>`` and keeps it: the way back if
the restored data turns out wrong. Kept copies cost the server a database's worth of space each,
so an operator must see them (``backup-headless kept``, the terminal app's dashboard) and drop
them when sure. A rollback swaps the newest one back in, through the same journaled swap as the
replace (blocking connections, terminating sessions), and keeps the database it replaced as
``<db>__pre_rollback_<utc>``. Only names the engine makes for a kept copy are ever dropped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backup_tui.engine.config import DatabaseConfig, Settings
from backup_tui.engine.core import names
from backup_tui.engine.core.errors import BackupToolError, ConfigError, NotFoundError
from backup_tui.engine.core.models import ahead_of, utc_iso
from backup_tui.engine.core.progress import info
from backup_tui.engine.core.runs import StoppedAfter
from backup_tui.engine.ops import swap
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.journaled import journal_run
from backup_tui.engine.postgres import pg
from backup_tui.engine.storage.locks import database_lock

KIND_OF_TAG = {names.ASIDE: "replaced", names.ROLLED_BACK: "rolled back"}


@dataclass(frozen=True)
class KeptCopy:
    """One kept database: which database it was, since when, how big."""

    name: str
    database: str
    kind: str  # "replaced": set aside by a restore --replace; "rolled back": set aside by a rollback
    since: datetime
    size_bytes: int  # -1 when the server would not say

    @property
    def set_aside_by(self) -> str:
        return "a rollback" if self.kind == KIND_OF_TAG[names.ROLLED_BACK] else "a replace"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "database": self.database, "kind": self.kind, "since": utc_iso(self.since),
                "size_bytes": self.size_bytes}


def list_kept(settings: Settings, server: DatabaseConfig, database: str) -> list[KeptCopy]:
    """The kept copies of ``database`` on its server, newest first."""
    import psycopg

    with pg.connect(server, settings.maintenance_db) as conn:
        rows = conn.execute("SELECT datname FROM pg_database").fetchall()
        found = []
        for (name,) in rows:
            side = names.side_of(database, str(name), settings.database_names)
            if side is None or side[0] not in names.KEPT_TAGS:
                continue
            try:
                size = pg.database_size(conn, str(name))
            except psycopg.Error:  # no right to read its size: the copy is still worth listing
                size = -1
            found.append(KeptCopy(str(name), database, KIND_OF_TAG[side[0]], side[1], size))
    return sorted(found, key=lambda k: k.since, reverse=True)


def _kept_or_refuse(settings: Settings, server: DatabaseConfig, database: str, name: str) -> KeptCopy:
    side = names.side_of(database, name, settings.database_names)
    if side is None or side[0] not in names.KEPT_TAGS:
        raise ConfigError(f"{name!r} is not a copy of {database!r} kept by a replace or a rollback: only those "
                          "are dropped or rolled back to (backup-headless kept lists them)")
    kept = [k for k in list_kept(settings, server, database) if k.name == name]
    if not kept:
        raise NotFoundError(f"there is no database {name!r} on the server (backup-headless kept lists the kept "
                            "copies)")
    return kept[0]


@journal_run("drop kept copy", lambda a: (a["database"], ""))
def drop_kept(ctx: Context, server: DatabaseConfig, database: str, name: str) -> KeptCopy:
    """DROP one kept copy of ``database`` (sessions on it are ended), under the database's lock. A stop (Ctrl+C,
    SIGTERM) is held while the DROP runs and said after it: "stopped by SIGTERM" alone, with the copy gone,
    read as a drop that did not happen."""
    settings, reporter = ctx.settings, ctx.reporter
    with database_lock(settings.repository, database, "drop kept copy"):
        swap.heal_swap(settings, server, database, reporter)  # a kept copy a swap still needs is not dropped
        swap.refuse_while_left(settings, server, database, "dropped")
        kept = _kept_or_refuse(settings, server, database, name)
        with pg.connect(server, settings.maintenance_db) as conn, swap.HeldSignals() as held:
            pg.drop_database(conn, name)
            signum = held.take()
    done = f"dropped {name!r}, the copy of {database!r} kept since {utc_iso(kept.since)}"
    if signum:
        raise StoppedAfter(signum, f"after the drop was done: {done}")
    info(reporter, done)
    return kept


@dataclass(frozen=True)
class Rollback:
    database: str
    restored_from: str  # the kept copy that is the live database again
    kept_as: str | None  # where the database it replaced went; None when there was none

    def to_json(self) -> dict[str, Any]:
        return {"database": self.database, "restored_from": self.restored_from, "kept_as": self.kept_as}


def plan_rollback(ctx: Context, server: DatabaseConfig, database: str, to: str | None = None) -> KeptCopy:
    """The copy a rollback would return to: ``to``, or the newest a replace kept. Not while the database's swap
    journal is left for a person: refused (``swap.refuse_while_left``)."""
    settings = ctx.settings
    swap.refuse_while_left(settings, server, database, "changed")
    if to is not None:
        return _kept_or_refuse(settings, server, database, to)
    kept = list_kept(settings, server, database)
    newest = rollback_default(kept)
    if newest is None and kept:  # only what rollbacks set aside: a bare rollback takes none of them, --to does
        from backup_tui.engine.ops.restore import rollback_command

        raise NotFoundError(f"no copy of {database!r} kept by a replace is on the server, the one a rollback without "
                            f"--to returns to; the newest copy a rollback set aside ({kept[0].name!r}, the data "
                            f"rolled back from) comes back with: {rollback_command(database, kept[0].name)}")
    if newest is None:
        raise NotFoundError(f"no copy of {database!r} kept by a replace is on the server: nothing to roll back to")
    if ahead_of(newest.since, ctx.now()):  # made by hand, or on a clock since set back: outranks every real copy
        raise ConfigError(f"nothing was changed: the newest copy of {database!r} a replace would have kept, "
                          f"{newest.name!r}, is dated {utc_iso(newest.since)}, in the future, which no replace here "
                          f"made; name the copy to return to with --to (backup-headless kept lists them)")
    return newest


def rollback_default(kept: Sequence[KeptCopy]) -> KeptCopy | None:
    """Of a database's kept copies (newest first), the one a rollback without ``--to`` returns to: the newest a
    replace kept (a rollback's own copy is the data it rolled back from)."""
    return next((k for k in kept if k.kind == KIND_OF_TAG[names.ASIDE]), None)


@journal_run("rollback", lambda a: (a["database"], ""))
def rollback(ctx: Context, server: DatabaseConfig, database: str, *, to: str | None = None) -> Rollback:
    """Swap a kept copy back in under ``database``'s name; the current one is kept aside in turn."""
    settings, reporter, now = ctx.settings, ctx.reporter, ctx.now
    with database_lock(settings.repository, database, "rollback"):
        swap.heal_swap(settings, server, database, reporter)
        incoming = plan_rollback(ctx, server, database, to)
        with pg.connect(server, settings.maintenance_db) as conn:
            live = pg.database_exists(conn, database)
            moment = swap.free_moment(conn, database, (names.ROLLED_BACK,), now())
            lacks = (pg.replace_lacks(conn, database) if live else "") or pg.replace_lacks(conn, incoming.name)
        if lacks:  # before the journal: a swap refused at its first step is nothing to repair
            raise ConfigError(f"nothing was changed: {lacks}")
        aside = names.side_name(database, names.ROLLED_BACK, moment) if live else None
        journal = swap.begin(settings, server, "rollback", database, incoming.name, aside, moment)
        import psycopg

        try:
            with swap.HeldSignals() as held:  # a stop during the swap undoes it; one after it is said below
                swap.run_swap(settings, server, journal, reporter, held)
                signum = held.take()
        except BaseException as exc:
            pending = swap.pending(settings, server, database)
            if isinstance(exc, psycopg.Error):
                left = swap.repair_hint(database) if pending else f"{database!r} is as it was"
                raise BackupToolError(f"the rollback failed: {pg.stderr_summary(str(exc))}; {left}") from None
            if pending:  # a stop the undo could not settle: the run's one error line says what to do
                exc.add_note(f"the rollback of {database!r} was interrupted; {swap.repair_hint(database)}")
            raise
    done = f"rolled {database!r} back to {incoming.name!r}" + (
        f"; the database it replaced is kept as {aside!r}" if aside else "")
    if signum:
        raise StoppedAfter(signum, f"after the rollback was done: {done}")
    info(reporter, done)
    return Rollback(database, incoming.name, aside)
