"""What a run creates only to load a backup into: a verify's test database, a restore's work
database, a parallel restore's decoded dump.

Each is recorded under ``BACKUP_DIR/scratch/`` before it is created and forgotten once it is
dropped (or, for a restore, once it became the real database). A run killed with SIGKILL
cannot clean up after itself; the next run against the same server finds its records, sees
that the process is gone, and removes what it left. Records of live processes, and of other
machines (whose processes we cannot see), are never touched.

The repository may be written by others, so a record is a claim to check, never an order: a
database is dropped only when its name is one the engine makes for scratch (``core.names``) or it
carries the marker comment with the record's own token (a restore into a new database, whose name
the operator chose), no swap journal owns it, and it is the database the run made: the record
holds its pg_database oid, written right after CREATE DATABASE returned. A name of the engine's
pattern is no proof: a person (or another tool) may make ``<db>__verify_<8 hex>``, a planted record
may name it. A record without an oid (a run killed between CREATE and that rewrite, or an earlier
version's record) drops only a database that carries its marker; any other is left alone, with a
warning, and monitor names it. A file is removed only when it is a plain file directly inside
``<repository>/tmp``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from backup_tui.engine.config import DatabaseConfig, Settings
from backup_tui.engine.core import names
from backup_tui.engine.core.errors import BackupToolError
from backup_tui.engine.core.manifest import InvalidRecord
from backup_tui.engine.core.progress import Reporter, info, warn
from backup_tui.engine.core.untrusted_json import load_json
from backup_tui.engine.ops import swap
from backup_tui.engine.postgres import pg
from backup_tui.engine.postgres.pg import server_key
from backup_tui.engine.storage.files import RECORD_LIMIT, atomic_write, read_capped
from backup_tui.engine.storage.holders import alive, record_pid
from backup_tui.engine.storage.paths import OutsideRepository
from backup_tui.engine.storage.state import state_dir, this_host

if TYPE_CHECKING:
    import psycopg

SCRATCH_DIR = "scratch"
TMP_DIR = "tmp"
MARKER = "backup-tui scratch "  # + the record's token: the comment a database named by the operator carries
Kind = Literal["database", "file"]
_TOKEN = re.compile(r"[0-9a-f]{32}")
_warned: set[Path] = set()  # records already reported as refused in this process


@dataclass(frozen=True)
class Scratch:
    """One recorded leftover-to-be: a database on ``server`` or a file."""

    kind: Kind
    name: str  # the database's name, or the file's path
    purpose: str  # "verify", "restore"
    server: str
    host: str
    pid: int
    created_at: str
    record: Path
    token: str = ""  # set for a database whose name is not a scratch name: its marker comment's
    oid: int | None = None  # the database's pg_database oid once CREATE returned; None: not known (yet)

    @classmethod
    def begin(cls, settings: Settings, kind: Kind, name: str, purpose: str,
              server: DatabaseConfig | None = None) -> Scratch:
        """Record it; call before creating it, so that no moment exists where it is there unrecorded."""
        folder = state_dir(settings.repository, SCRATCH_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(16) if kind == "database" and not names.is_scratch_name(name) else ""
        scratch = cls(kind, name, purpose, server_key(server) if server else "", this_host(), os.getpid(),
                      datetime.now(UTC).isoformat(timespec="seconds"), folder / f"{secrets.token_hex(16)}.json", token)
        scratch.write()
        return scratch

    def write(self) -> None:
        atomic_write(self.record, json.dumps({
            "kind": self.kind, "name": self.name, "purpose": self.purpose, "server": self.server,
            "host": self.host, "pid": self.pid, "created_at": self.created_at, "token": self.token,
            "oid": self.oid}) + "\n")

    def made(self, oid: int | None) -> Scratch:
        """CREATE returned: the record says which database is ours from now on (its oid; a name can be given to
        another database, an oid is not), rewritten whole."""
        scratch = replace(self, oid=oid)
        scratch.write()
        return scratch

    def forget(self) -> None:
        """It is gone, or it is no longer scratch (a restore's work database renamed into place)."""
        self.record.unlink(missing_ok=True)

    @property
    def orphaned(self) -> bool:
        """Made on this machine by a process that no longer runs."""
        return self.host == this_host() and not alive(self.pid)

    def describe(self) -> str:
        what = f"database {self.name!r}" if self.kind == "database" else f"file {self.name}"
        return (f"{what} left by a {self.purpose} run (pid {self.pid}, {self.created_at}) that ended without "
                "removing it (killed, or the server was out of reach)")


def recorded(settings: Settings) -> list[Scratch]:
    """Every record, oldest first; unreadable ones are skipped (a record is never worth an error)."""
    found: list[Scratch] = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError, OutsideRepository):  # a link: none of ours
        for path in state_dir(settings.repository, SCRATCH_DIR).glob("*.json"):
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError, InvalidRecord):
                found.append(_parse(path, load_json(read_capped(path, RECORD_LIMIT))))
    return sorted(found, key=lambda s: s.created_at)


def _parse(path: Path, data: dict[str, Any]) -> Scratch:
    kind = data["kind"]
    if kind not in ("database", "file"):
        raise ValueError(kind)
    oid = data.get("oid")
    if oid is not None and (isinstance(oid, bool) or not isinstance(oid, int) or not 0 < oid < 2**32):
        raise InvalidRecord("oid is not an oid")
    return Scratch(kind, str(data["name"]), str(data["purpose"]), str(data["server"]), str(data["host"]),
                   record_pid(data["pid"]), str(data["created_at"]), path, str(data.get("token") or ""), oid)


def refusal(settings: Settings, scratch: Scratch) -> str | None:
    """Why a record must not be acted on, judged from the record alone; None when it may be."""
    if scratch.kind == "file":
        return None if in_tmp(settings, Path(scratch.name)) else \
            f"names a file outside {settings.repository / TMP_DIR}"
    if names.is_scratch_name(scratch.name) or _TOKEN.fullmatch(scratch.token):
        return None
    return "names a database whose name the engine does not make for scratch"


def in_tmp(settings: Settings, path: Path) -> bool:
    """``path`` is a plain file (or nothing) directly inside the repository's own tmp folder: no ``..``, no
    link out (the folder itself a link elsewhere included)."""
    if not path.is_absolute() or ".." in path.parts:
        return False
    try:
        folder = (settings.repository.resolve() / TMP_DIR)
        if folder.is_symlink() or path.parent.resolve() != folder or path.parent.is_symlink():
            return False
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return True  # nothing there: nothing would be removed
    except (OSError, RuntimeError):
        return False
    return stat.S_ISREG(mode)


def leftovers(settings: Settings, server: DatabaseConfig) -> list[Scratch]:
    """What killed runs left on this server (and in this repository's files), as far as their records
    may be believed."""
    key, claimed = server_key(server), swap.claimed_names(settings, server)
    return [s for s in recorded(settings) if s.orphaned and (s.kind == "file" or s.server == key)
            and refusal(settings, s) is None and not (s.kind == "database" and s.name in claimed)]


def clean_leftovers(settings: Settings, server: DatabaseConfig, reporter: Reporter) -> list[str]:
    """Remove what killed runs left; returns what was removed. A failure is a warning, never the run's end,
    and a record that does not hold up is reported (once) and left alone."""
    key = server_key(server)
    for scratch in recorded(settings):
        why = refusal(settings, scratch)
        if why and scratch.orphaned and (scratch.kind == "file" or scratch.server == key):
            _refuse(scratch, why, reporter)
        elif scratch.kind == "database" and scratch.server == key and scratch.orphaned \
                and scratch.name in swap.claimed_names(settings, server):
            _refuse(scratch, "names a database an unfinished swap owns (backup-headless repair settles it)", reporter)
    removed: list[str] = []
    for scratch in leftovers(settings, server):
        import psycopg  # here, not at the top: most runs find nothing left over and need no driver

        try:
            if scratch.kind == "database":
                why = _drop_if_ours(settings, server, scratch)
                if why:
                    _refuse(scratch, why, reporter)
                    continue
            elif in_tmp(settings, Path(scratch.name)):  # checked again just before: nothing swapped in since
                Path(scratch.name).unlink(missing_ok=True)
        except (BackupToolError, psycopg.Error, OSError) as exc:
            warn(reporter, f"could not remove the {scratch.describe()}: {exc}")
            continue
        scratch.forget()
        info(reporter, f"removed the {scratch.describe()}")
        removed.append(scratch.name)
    return removed


def _drop_if_ours(settings: Settings, server: DatabaseConfig, scratch: Scratch) -> str | None:
    """Drop the recorded database when it is ours to drop; otherwise drop nothing and say why not."""
    if scratch.name in swap.claimed_names(settings, server):  # a journal written since the list was made
        return "names a database an unfinished swap owns (backup-headless repair settles it)"
    with pg.connect(server, settings.maintenance_db) as conn:
        if why := not_made_by(conn, scratch):
            return why
        pg.drop_database(conn, scratch.name)
    return None


def not_made_by(conn: psycopg.Connection[Any], scratch: Scratch) -> str | None:
    """Why the server's database under the record's name may not be the one its run made (then it is not
    dropped); None when it is, or when there is none (only the record is left). The oid decides; a record without
    one (killed right after CREATE, an earlier version's) only by the marker with its token."""
    oid = pg.database_oid(conn, scratch.name)
    if oid is None:
        return None
    if scratch.oid is not None:
        return None if oid == scratch.oid else \
            f"names a database that is not the one its run made (oid {oid}, the record says {scratch.oid})"
    if scratch.token and database_comment(conn, scratch.name) == MARKER + scratch.token:
        return None
    if scratch.token:
        return "names a database that does not carry the record's marker"
    return (f"does not record which database its run made (killed right after creating it, or an earlier version's "
            f"record): if {scratch.name!r} is a leftover of that run, drop it by hand; then remove that record")


def _refuse(scratch: Scratch, why: str, reporter: Reporter) -> None:
    if scratch.record in _warned:
        return
    _warned.add(scratch.record)
    warn(reporter, f"left alone the scratch record {scratch.record}: it {why}")


def database_comment(conn: psycopg.Connection[Any], name: str) -> str | None:
    """The database's comment ('' when none); None when there is no such database."""
    row = conn.execute("SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database "
                       "WHERE datname = %s", (name,)).fetchone()
    return None if row is None else str(row[0])


# What CREATE DATABASE answers when this server cannot make a database like the backup's: a locale it lacks
# (wrong_object_type: "invalid locale name"), an encoding its locale refuses (invalid_parameter_value), an option
# its version does not know (syntax_error: a newer server's BUILTIN_LOCALE).
CANNOT_CREATE_LIKE = ("42809", "22023", "42601")


class UnlikeServer(BackupToolError):
    """This server cannot create a database with the backup's encoding and locale: the backup is not to blame (a
    verify records no failure), and the way out is on the server."""


def create_database(settings: Settings, server: DatabaseConfig, name: str, info_: dict[str, str] | None,
                    purpose: str) -> Scratch:
    """CREATE DATABASE ``name``, recorded as scratch until ``drop_database`` or ``Scratch.forget``.

    Interrupted (a signal, a cancel, a lost connection) once the statement was sent, the server may have made it
    all the same: it is dropped at once where it is ours, else its record stays for the next run to drop."""
    scratch = Scratch.begin(settings, "database", name, purpose, server)
    sent = made = False
    try:
        with pg.connect(server, settings.maintenance_db) as conn:
            sent = True
            pg.create_database(conn, name, info_)
            made = True
            scratch = scratch.made(pg.database_oid(conn, name))
            import psycopg
            from psycopg import sql

            if scratch.token:  # a name the operator chose: only this marker makes it ours to drop later
                with contextlib.suppress(psycopg.Error):
                    conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                        pg.ident(name), sql.Literal(MARKER + scratch.token)))
    except BaseException as exc:
        import psycopg

        if not sent or (not made and isinstance(exc, psycopg.Error) and exc.sqlstate):
            scratch.forget()  # the server made nothing (a name taken meanwhile is not ours to drop later)
        else:
            _drop_after_interruption(settings, server, scratch, made)
        if isinstance(exc, psycopg.Error) and exc.sqlstate in CANNOT_CREATE_LIKE:  # was "unexpected WrongObjectType"
            raise UnlikeServer(
                f"this server cannot create a database with the backup's encoding and locale "
                f"({exc.diag.message_primary or type(exc).__name__}): install that locale on the server's machine "
                "(locale -a lists them)") from None
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):  # the setup's, not a bug: said in one line
            who = server.user or "libpq's default user"
            raise BackupToolError(
                f"cannot create the {purpose} database {name!r}: {pg.stderr_summary(str(exc), limit=1)}; the user "
                f"we connect as ({who}) needs CREATEDB, and to be a member of the role that owns the database"
            ) from None
        raise
    return scratch


def _drop_after_interruption(settings: Settings, server: DatabaseConfig, scratch: Scratch, made: bool) -> None:
    """Drop what an interrupted ``create_database`` made, or may have: ``made`` (its CREATE returned) is ours
    whatever its comment; otherwise by the rule a later run's cleanup follows. Where that fails (the server
    gone), the record stays and that cleanup drops it."""
    import psycopg

    with contextlib.suppress(BackupToolError, psycopg.Error, OSError):
        if made or not scratch.token:  # our own fresh name (CREATE refuses one that is taken): what is there is ours
            drop_database(settings, server, scratch)
        elif _drop_if_ours(settings, server, scratch) is None:
            scratch.forget()


def keep(settings: Settings, server: DatabaseConfig, scratch: Scratch) -> None:
    """It is the real database now: take the marker off (unless the backup's own comment replaced it)
    and forget the record."""
    if scratch.token:
        from psycopg import sql

        with pg.connect(server, settings.maintenance_db) as conn:
            if database_comment(conn, scratch.name) == MARKER + scratch.token:
                conn.execute(sql.SQL("COMMENT ON DATABASE {} IS NULL").format(pg.ident(scratch.name)))
    scratch.forget()


# A session another role holds on our database for a moment (a monitor's, a person's psql) makes DROP ... WITH
# (FORCE) refuse, as the user we connect as may not end it: tried again, briefly, before the record is kept for the
# next run (a work database was left behind under a loaded test machine, "could not drop" on the run's line).
DROP_ATTEMPTS, DROP_PAUSE_S = 3, 0.5


def drop_database(settings: Settings, server: DatabaseConfig, scratch: Scratch) -> None:
    """DROP it and forget it; a failure raises and keeps the record, so a later run drops it."""
    import psycopg

    for attempt in range(DROP_ATTEMPTS):
        try:
            with pg.connect(server, settings.maintenance_db) as conn:
                pg.drop_database(conn, scratch.name)
            break
        except (psycopg.errors.ObjectInUse, psycopg.errors.InsufficientPrivilege):
            if attempt == DROP_ATTEMPTS - 1:
                raise
            time.sleep(DROP_PAUSE_S)
    scratch.forget()


def drop_quietly(settings: Settings, server: DatabaseConfig, scratch: Scratch) -> bool:
    """``drop_database`` for cleanup paths, where a second error must not hide the first."""
    import psycopg

    try:
        drop_database(settings, server, scratch)
        return True
    except (BackupToolError, psycopg.Error):
        return False


def unlink_file(scratch: Scratch) -> None:
    Path(scratch.name).unlink(missing_ok=True)
    scratch.forget()

