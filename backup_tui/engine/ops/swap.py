"""The swap of names that ends a replace (and a rollback), journaled so a run killed at any moment heals.

A swap is: block connections to the live database, terminate its sessions, rename it aside, rename
the incoming one (a replace's checked work database, or the copy a rollback returns to) in, allow
connections again. Each step is written to ``BACKUP_DIR/swaps/`` (atomically, fsync'd) before it is
taken. A run killed with SIGKILL (the OOM killer, a power cut) cannot undo anything; the next
command that takes the database's lock (backup, restore, rollback, repair, the terminal app's start)
reads the journal, looks at the server (which of the live, incoming and aside names exist) and
finishes or rolls back, so the database answers under its own name with connections allowed:

- before the live database was renamed aside: roll back; connections are allowed again and a
  replace's work database is dropped (the original never left), when the server's database of that name
  is still the one the swap began with (its pg_database oid, recorded at ``begin``);
- once it was renamed aside: finish; the incoming database takes the live name. A verified copy is
  never dropped while the live name is missing.

The repository may be written by others: a journal is believed only when every name in it is the
one the engine would make for that database and moment (``core.names``), and healing only renames
and allows connections, but for dropping a replace's own work database while the original is live. A name
of the engine's pattern may still be a person's database (or a planted journal's pick): the drop also needs
the oid the journal recorded at ``begin``. Another database under that name, or a journal of an earlier
version (no oid), leaves it where it is, with a warning, and the journal stays for a person to look.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from backup_tui.engine.config import DatabaseConfig, Settings
from backup_tui.engine.core import names
from backup_tui.engine.core.errors import BackupToolError
from backup_tui.engine.core.manifest import InvalidRecord
from backup_tui.engine.core.models import sessions_said
from backup_tui.engine.core.printable import printable
from backup_tui.engine.core.progress import Reporter, StepFinished, StepStarted, info, warn
from backup_tui.engine.core.untrusted_json import load_json
from backup_tui.engine.postgres import pg
from backup_tui.engine.storage.files import RECORD_LIMIT, atomic_write, fsync_dir, read_capped
from backup_tui.engine.storage.holders import record_pid
from backup_tui.engine.storage.locks import database_lock
from backup_tui.engine.storage.paths import OutsideRepository
from backup_tui.engine.storage.state import state_dir, this_host

if TYPE_CHECKING:
    import psycopg

SWAPS_DIR = "swaps"
PAUSE_ENV = "BACKUP_TUI_TEST_PAUSE_AT"  # tests: stop the run (SIGSTOP) right after recording this step
STEPS = ("block", "terminate", "rename_aside", "rename_in", "allow")
# Tests also stop the run right after a step's statement, where a signal once cut the statement's end
AFTER_STEPS = tuple(f"after_{step}" for step in ("block", "rename_aside", "rename_in", "allow"))
Kind = Literal["restore", "rollback"]
RENAME_ATTEMPTS = 10
LEFT_LIMIT = 1000  # characters of repair's line a journal keeps for monitor: its names and path fit
_warned: set[tuple[Path, int]] = set()  # journals left for a person, already said in this process


class SwapUnfinished(BackupToolError):
    """A swap could not be finished nor rolled back now; the journal stays for the next attempt."""


class SwapLeft(BackupToolError):
    """``repair`` did not settle a journal in full: one it does not believe, or a database it names left for a
    person to look at. The journal stays (monitor says so: swap_unreadable, swap_left); repair exits 1 saying why."""


def repair_hint(database: str) -> str:
    return f"run: backup-headless repair --database {database}"


class HeldSignals:
    """SIGINT, SIGTERM and SIGHUP held while a swap's statement runs, and acted on between statements.

    Cut mid-statement (psycopg cancels it, but the server may have renamed already), the run could not tell
    whether a rename happened, and undid the wrong thing: the live name left missing, or the new database
    live behind "stopped by SIGTERM". Held, the signal is raised by its own handler at ``check``, between
    statements, where the undo knows what was done. The holder spans the caller's work after the swap too:
    a signal held past the swap is ``take``n by the caller, which says the swap was done; one not taken is
    raised at the end. Only the main thread handles signals: elsewhere (the terminal app's workers, which
    stop by their cancel token) nothing is held."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.signum = 0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> HeldSignals:
        if threading.current_thread() is threading.main_thread():  # one the process ignores stays ignored
            self._previous = {sig: signal.signal(sig, self._hold) for sig in self.SIGNALS
                              if signal.getsignal(sig) is not signal.SIG_IGN}
        return self

    def _hold(self, signum: int, frame: object) -> None:
        self.signum = self.signum or signum

    def check(self) -> None:
        """Raise the held signal's own exception (Ctrl+C's KeyboardInterrupt, the headless runner's stop), still
        holding any next one: the undo that follows is not cut either."""
        signum, self.signum = self.signum, 0
        if signum:
            handler = self._previous.get(signum)
            if callable(handler):
                handler(signum, None)
            raise KeyboardInterrupt(signum)  # its handler did not raise (ignored, or the default): stop anyway

    def take(self) -> int:
        """The signal held, if any (0: none), which the caller reports itself: it is not raised at the end."""
        signum, self.signum = self.signum, 0
        return signum

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        if kind is None:
            self.check()


def pause_point(step: str) -> None:
    """The one place the test pause is read: a test SIGKILLs the stopped run at exactly this step."""
    if os.environ.get(PAUSE_ENV) == step:
        os.kill(os.getpid(), signal.SIGSTOP)


@dataclass(frozen=True)
class Journal:
    """One swap under way: the names involved and the step about to be taken."""

    kind: Kind
    database: str  # the live name
    incoming: str  # takes the live name: the work database, or the kept copy rolled back to
    aside: str | None  # where the live database goes; None when there was none
    stamp: str  # the moment the names were made for (UTC, YYYYmmddHHMMSS)
    server: str
    step: str
    pid: int
    host: str
    started_at: str
    path: Path
    incoming_oid: int | None = None  # the incoming database's pg_database oid at begin; None: an earlier version's
    left: str | None = None  # settled but for a database left for a person: what repair said (monitor says it on)

    def mark(self, step: str) -> Journal:
        """Record ``step`` durably, then take it (after the test pause, when one is asked for)."""
        marked = replace(self, step=step)
        marked.write()
        pause_point(step)
        return marked

    def write(self) -> None:
        body = {k: v for k, v in asdict(self).items() if k != "path" and (k != "left" or v is not None)}
        atomic_write(self.path, json.dumps(body) + "\n")

    def close(self) -> None:
        """The swap is settled (finished or rolled back): nothing is left to heal."""
        self.path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            fsync_dir(self.path.parent)


def free_moment(conn: psycopg.Connection[Any], database: str, tags: tuple[str, ...], moment: datetime) -> datetime:
    """The first second from ``moment`` at which every side name of ``database`` with ``tags`` is free on
    the server. Side names carry the second they were made (and a journal checks them against it): a
    swap begun in the same second as one just settled would otherwise meet its kept copy's name."""
    for _ in range(60):
        if not any(pg.database_exists(conn, names.side_name(database, tag, moment)) for tag in tags):
            return moment
        moment += timedelta(seconds=1)
    return moment


def journal_path(settings: Settings, server: DatabaseConfig, database: str) -> Path:
    """One journal per database and server; hashed, since a database's name may hold any character."""
    digest = hashlib.sha256(f"{pg.server_key(server)}\0{database}".encode()).hexdigest()[:32]
    return state_dir(settings.repository, SWAPS_DIR) / f"{digest}.json"


def begin(settings: Settings, server: DatabaseConfig, kind: Kind, database: str, incoming: str,
          aside: str | None, moment: datetime) -> Journal:
    """Open the journal of a swap (call with the database's lock held, before touching anything). The incoming
    database's oid goes in with the names: a heal drops a replace's work database only while the database of
    that name is still this one, never on the name alone."""
    with pg.connect(server, settings.maintenance_db) as conn:
        oid = pg.database_oid(conn, incoming)
    return opened(settings, server, kind, database, incoming, aside, moment, oid)


def opened(settings: Settings, server: DatabaseConfig, kind: Kind, database: str, incoming: str,
           aside: str | None, moment: datetime, incoming_oid: int | None) -> Journal:
    """The journal ``begin`` writes, for the oid it read."""
    path = journal_path(settings, server, database)
    path.parent.mkdir(parents=True, exist_ok=True)
    journal = Journal(kind, database, incoming, aside, moment.astimezone(UTC).strftime(names.STAMP),
                      pg.server_key(server), "begin", os.getpid(), this_host(),
                      datetime.now(UTC).isoformat(timespec="seconds"), path, incoming_oid)
    journal.write()
    return journal


def _parse(path: Path, data: dict[str, Any]) -> Journal:
    aside, oid, left = data["aside"], data.get("incoming_oid"), data.get("left")
    if oid is not None and (isinstance(oid, bool) or not isinstance(oid, int) or not 0 < oid < 2**32):
        raise InvalidRecord("incoming_oid is not an oid")
    if left is not None and not isinstance(left, str):
        raise InvalidRecord("left is not a line")
    if left is not None:  # repair's own line, but read back from the repository: a line, of a line's length
        left = printable(left)[:LEFT_LIMIT]
    return Journal(data["kind"], str(data["database"]), str(data["incoming"]),
                   None if aside is None else str(aside), str(data["stamp"]), str(data["server"]),
                   str(data["step"]), record_pid(data["pid"]), str(data["host"]), str(data["started_at"]), path,
                   oid, left)


def _refusal(journal: Journal, settings: Settings, server: DatabaseConfig) -> str | None:
    """Why a journal must not be acted on; None when every name is the one the engine would make."""
    moment = names.stamp_moment(journal.stamp)
    if moment is None or journal.kind not in ("restore", "rollback"):
        return "is not a journal this engine wrote"
    if journal.path != journal_path(settings, server, journal.database):
        return "does not belong to the database it names"
    configured = settings.database_names  # names an older version made (cut, no hash) count where unambiguous
    incoming = names.side_of(journal.database, journal.incoming, configured)
    if journal.kind == "restore":
        expected_in = incoming == (names.WORK, moment)
        aside_tag = names.ASIDE
    else:
        expected_in = incoming is not None and incoming[0] in names.KEPT_TAGS
        aside_tag = names.ROLLED_BACK
    if not expected_in:
        return "names an incoming database the engine would not make"
    if journal.aside is not None and names.side_of(journal.database, journal.aside, configured) != (aside_tag, moment):
        return "names an aside database the engine would not make"
    return None


def pending(settings: Settings, server: DatabaseConfig, database: str) -> bool:
    """Whether a swap of ``database`` on ``server`` is recorded as unfinished (cheap: one stat). A link planted
    as ``swaps/`` records nothing of ours."""
    try:
        path = journal_path(settings, server, database)
        return path.exists() or path.is_symlink()  # a link in its place is refused when read, never taken for none
    except OutsideRepository:
        return False


def _read(path: Path) -> Journal | str:
    """The journal, or why it cannot be believed."""
    try:
        return _parse(path, load_json(read_capped(path, RECORD_LIMIT)))
    except (OSError, ValueError, KeyError, TypeError, InvalidRecord):
        return "cannot be read"


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _recorded(settings: Settings) -> Iterator[Journal]:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError, OutsideRepository):  # a link: none of ours
        for path in state_dir(settings.repository, SWAPS_DIR).glob("*.json"):
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError, InvalidRecord):
                yield _parse(path, load_json(read_capped(path, RECORD_LIMIT)))


def unreadable_said(path: Path, database: str | None) -> str:
    """What a journal that cannot be read leaves for a person: nothing is done on its word, so the database a
    killed swap closed (or renamed aside) stays so until someone looks."""
    which = f"{database!r}" if database else "the database it was written for (its name is a hash)"
    sides = f"{database!r} and its {database + '__*'!r} databases" if database else "the databases on that server"
    return (f"left alone the swap journal {path}: it cannot be read (garbage, cut short, or not a plain file), so "
            f"nothing was done on its word; a restore --replace or rollback of {which} killed mid-swap may have left "
            f"it closed to connections or renamed aside: look at {sides}, then remove that file")


def unreadable_journals(settings: Settings) -> list[tuple[Path, str | None]]:
    """Every entry under ``swaps/`` in a journal's place (``*.json``: a file, a folder, a link) that cannot be
    read, with the configured database whose journal name it bears (None: none of them). Never acted on: only
    said, by repair, monitor and the runs of that database."""
    ours = {}
    for db in settings.databases:
        with contextlib.suppress(OutsideRepository):
            ours[journal_path(settings, db, db.database)] = db.database
    found: list[tuple[Path, str | None]] = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError, OutsideRepository):  # a link: none of ours
        for path in sorted(state_dir(settings.repository, SWAPS_DIR).iterdir()):
            if path.name.endswith(".json") and not path.name.startswith(".") and isinstance(_read(path), str):
                found.append((path, ours.get(path)))
    return found


def left_alone(settings: Settings, server: DatabaseConfig, database: str) -> str | None:
    """Why the journal of ``database`` stays unsettled for a person (it cannot be read, or is not believed):
    the note a failed run of that database carries on its one error line. None: no such journal."""
    try:
        path = journal_path(settings, server, database)
        if not (path.exists() or path.is_symlink()):
            return None
    except (OSError, OutsideRepository):
        return None
    journal = _read(path)
    return _disbelief(path, journal, settings, server, database)


def _disbelief(path: Path, journal: Journal | str, settings: Settings, server: DatabaseConfig,
               database: str) -> str | None:
    """Why the journal read from ``path`` is left for a person (None: it is believed)."""
    if isinstance(journal, str):
        return unreadable_said(path, database)
    if why := _refusal(journal, settings, server):
        return f"left alone the swap journal {path}: it {why}; look at the databases it names, then remove that file"
    return None


def refuse_while_left(settings: Settings, server: DatabaseConfig, database: str, what: str) -> None:
    """Refuse (``nothing was {what}``) while ``database``'s journal is left for a person: nobody may act on it,
    so which database holds the data is not known. A swap killed between its renames leaves the live data under
    the kept copy's name: a drop of that copy dropped the only one, and a new replace or rollback wrote its own
    journal over the one that said so."""
    if (left := left_alone(settings, server, database)) is not None:
        raise BackupToolError(f"nothing was {what}: {left}")


def believed(settings: Settings, journal: Journal) -> str | None:
    """Why a readable journal is left for a person, judged as repair judges it (the configured server of the
    database it names; the only one configured, else); None: repair acts on it."""
    try:
        server = settings.server_for(journal.database)
    except BackupToolError:
        return None  # a database no longer configured: repair cannot be asked for it, health says it as it is
    return _disbelief(journal.path, journal, settings, server, journal.database)


def recorded_journals(settings: Settings) -> list[Journal]:
    """Every swap recorded as unfinished, readable ones only (health names those whose run is gone)."""
    return list(_recorded(settings))


def claimed_names(settings: Settings, server: DatabaseConfig) -> set[str]:
    """Every database a journal on this server names: never scratch, whatever a scratch record says."""
    key = pg.server_key(server)
    claimed: set[str] = set()
    for journal in _recorded(settings):
        if journal.server == key:
            claimed |= {journal.database, journal.incoming} | ({journal.aside} if journal.aside else set())
    return claimed


# -- taking the steps ----------------------------------------------------------------------------------


def _rename(conn: psycopg.Connection[Any], old: str, new: str) -> None:
    from psycopg import sql

    conn.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(pg.ident(old), pg.ident(new)))


def _allow(conn: psycopg.Connection[Any], name: str, allowed: bool = True) -> None:
    """Only where it changes something: ALTER DATABASE needs ownership, and an undo or a heal that merely
    re-allowed a database never blocked (a swap refused at its first step) failed for a user that is not its
    owner, leaving a journal that stopped every later backup until a superuser ran repair."""
    from psycopg import sql

    row = conn.execute("SELECT datallowconn FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if row is not None and bool(row[0]) == allowed:
        return
    conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
        pg.ident(name), sql.SQL("true" if allowed else "false")))


def _rename_ending_sessions(conn: psycopg.Connection[Any], old: str, new: str, reporter: Reporter,
                            said: bool = False) -> None:
    """Rename ``old``, terminating whoever is still connected to it (a session that raced the block)."""
    from psycopg import errors

    for attempt in range(RENAME_ATTEMPTS):
        try:
            _rename(conn, old, new)
            return
        except errors.ObjectInUse:
            if attempt == RENAME_ATTEMPTS - 1:
                raise
            time.sleep(0.2)
            killed, who = _grouped_count(pg.terminate_sessions(conn, old))
            if killed and not said:
                info(reporter, f"terminated the sessions on {old}: {sessions_said(killed, who)}")


def _grouped_count(held: list[tuple[str, int]]) -> tuple[int, tuple[str, ...]]:
    return sum(n for _, n in held), tuple(f"{client} x{n}" if n > 1 else client for client, n in held)


def repair(settings: Settings, server: DatabaseConfig, database: str, reporter: Reporter) -> str | None:
    """``heal_swap`` under the database's lock: what ``backup-headless repair`` and the terminal app's
    start run. A journal left for a person raises ``SwapLeft`` (its one line says why), where a run that only
    heals on its way warns and goes on."""
    with database_lock(settings.repository, database, "repair"):
        done = _heal(settings, server, database, reporter)
    if isinstance(done, SwapLeft):
        raise done
    return done


def recorded_swaps(settings: Settings) -> list[tuple[str, str]]:
    """(database, server) of every journal in the repository, for a repair of all of them."""
    return sorted({(j.database, j.server) for j in _recorded(settings)})


def run_swap(settings: Settings, server: DatabaseConfig, journal: Journal, reporter: Reporter,
             held: HeldSignals | None = None) -> None:
    """Take the swap's steps, each recorded first. A failure we live through is undone here from what the
    server shows (``_put_back``: the live database back under its name, connections allowed); one we do not,
    the journal lets the next run heal. Signals are ``held`` (the caller's, spanning what it does after the
    swap; or the swap's own) and acted on between statements, before the journal closes: a stop asked for
    during the swap undoes it."""
    with contextlib.ExitStack() as stack:
        check = (held or stack.enter_context(HeldSignals())).check
        conn = stack.enter_context(pg.connect(server, settings.maintenance_db))
        _swap_steps(conn, journal, reporter, check)


def _swap_steps(conn: psycopg.Connection[Any], journal: Journal, reporter: Reporter, check: Callable[[], None]) -> None:
    target, incoming, aside = journal.database, journal.incoming, journal.aside
    try:
        if aside is None:
            reporter(StepStarted("rename", f"{incoming} -> {target}"))
            journal = _step(journal, "rename_in", check)
            _rename_ending_sessions(conn, incoming, target, reporter)
            _after(journal, check)
        else:
            reporter(StepStarted("terminate", f"sessions on {target}"))
            for name in (target, incoming):  # made since the plan: refused before the database is closed
                if prepared := pg.prepared_on(conn, name):
                    raise BackupToolError(prepared)
            journal = _step(journal, "block", check)
            _allow(conn, target, False)
            _after(journal, check)
            journal = _step(journal, "terminate", check)
            killed, who = _grouped_count(pg.terminate_sessions(conn, target))
            info(reporter, f"terminated the sessions on {target}: {sessions_said(killed, who)}")
            if journal.kind == "rollback":  # the kept copy may have a visitor: it cannot be renamed then
                pg.terminate_sessions(conn, incoming)
            journal = _step(journal, "rename_aside", check)
            _rename_ending_sessions(conn, target, aside, reporter, said=True)
            _after(journal, check)
            reporter(StepFinished("terminate"))
            reporter(StepStarted("rename", f"{target} -> {aside}, {incoming} -> {target}"))
            journal = _step(journal, "rename_in", check)
            _rename_ending_sessions(conn, incoming, target, reporter)
            _after(journal, check)
            journal = _step(journal, "allow", check)
            _allow(conn, target)
            _allow(conn, aside)
            _after(journal, check)
    except BaseException:
        _undo(conn, journal, lambda: _put_back(conn, journal, reporter))
        raise
    journal.close()
    reporter(StepFinished("rename"))


def _step(journal: Journal, step: str, check: Callable[[], None]) -> Journal:
    """Record ``step``, then act on a signal held meanwhile (or at the test pause) before taking it."""
    journal = journal.mark(step)
    check()
    return journal


def _after(journal: Journal, check: Callable[[], None]) -> None:
    """The step's statement is done: a test may stop the run here, and a signal held during it is acted on."""
    pause_point(f"after_{journal.step}")
    check()


def _put_back(conn: psycopg.Connection[Any], journal: Journal, reporter: Reporter) -> None:
    """Undo an interrupted swap from what the server shows, not from the step we think we were at: the
    incoming database back under its own name if it had taken the live one, the live one back from aside,
    connections allowed."""
    target, incoming, aside = journal.database, journal.incoming, journal.aside
    state = _existing(conn, [n for n in (target, incoming, aside) if n])
    if incoming not in state and target in state and (aside is None or aside in state):
        _rename_ending_sessions(conn, target, incoming, reporter, said=True)  # it had taken the live name
        state.pop(target)
    if aside is not None:
        if aside in state and target not in state:
            _rename(conn, aside, target)
        _allow(conn, target)


def _undo(conn: psycopg.Connection[Any], journal: Journal, undo: Callable[[], object]) -> None:
    """Put the live database back; when even that fails, the journal stays and the next run heals."""
    import psycopg

    try:
        undo()
    except (psycopg.Error, OSError):
        return
    journal.close()


# -- healing -------------------------------------------------------------------------------------------


def _existing(conn: psycopg.Connection[Any], wanted: list[str]) -> dict[str, bool]:
    """name -> datallowconn, for those of ``wanted`` that exist."""
    rows = conn.execute("SELECT datname, datallowconn FROM pg_database WHERE datname = ANY(%s)",
                        (wanted,)).fetchall()
    return {str(name): bool(allowed) for name, allowed in rows}


def heal_swap(settings: Settings, server: DatabaseConfig, database: str, reporter: Reporter) -> str | None:
    """Finish or roll back an unfinished swap of ``database``; what was done, or None when nothing was
    pending, or when the journal stays for a person (a warning says why: the run that heals goes on). Call
    with the database's lock held. Raises ``SwapUnfinished`` (naming the repair command) when the server
    cannot be reached or changed now; the journal then stays."""
    done = _heal(settings, server, database, reporter)
    if isinstance(done, SwapLeft):
        path = journal_path(settings, server, database)
        seen = (path, _mtime(path))  # once per version of it: the app heals at every run; a journal rewritten is news
        if seen not in _warned:
            _warned.add(seen)
            warn(reporter, done.message)
        return None
    return done


def _heal(settings: Settings, server: DatabaseConfig, database: str, reporter: Reporter) -> str | SwapLeft | None:
    path = journal_path(settings, server, database)
    if not (path.exists() or path.is_symlink()):  # a link is read (and refused) too: never taken for nothing
        return None
    journal = _read(path)
    why = _disbelief(path, journal, settings, server, database)
    if why is not None or isinstance(journal, str):
        return SwapLeft(why or unreadable_said(path, database))
    import psycopg

    try:
        with pg.connect(server, settings.maintenance_db) as conn:
            done = _settle(conn, journal, reporter)
    except (psycopg.Error, BackupToolError) as exc:
        detail = exc.message if isinstance(exc, BackupToolError) else str(exc).strip().splitlines()[0]
        raise SwapUnfinished(f"database {database!r} has an unfinished {journal.kind} swap (step "
                             f"{journal.step}, {journal.started_at}) that could not be settled now: {detail}; "
                             f"{repair_hint(database)}") from None
    if isinstance(done, SwapLeft):  # a database it names was left for a person: the journal stays, saying so
        if journal.left != done.message:
            replace(journal, left=done.message).write()
        return done
    journal.close()
    info(reporter, done)
    return done


def _not_begun_with(conn: psycopg.Connection[Any], journal: Journal) -> str | None:
    """Why the server's database under the incoming name may not be the one the swap began with (then it is
    not dropped: a person's database may bear a name of the engine's pattern, a planted journal may name
    one); None when its oid is the one recorded at ``begin``."""
    if journal.incoming_oid is None:
        return "the journal, an earlier version's, does not record which database the swap began with"
    oid = pg.database_oid(conn, journal.incoming)
    if oid != journal.incoming_oid:
        return f"it is not the database the swap began with (oid {oid}, the journal recorded {journal.incoming_oid})"
    return None


def _settle(conn: psycopg.Connection[Any], journal: Journal, reporter: Reporter) -> str | SwapLeft:
    """Decide from what exists on the server, not from the step recorded: the step says what was about
    to happen, the server what did. ``SwapLeft``: settled but for a database left for a person, so the
    journal stays."""
    live, incoming, aside = journal.database, journal.incoming, journal.aside
    state = _existing(conn, [n for n in (live, incoming, aside) if n])
    what = f"the {journal.kind} of {live!r} killed at step {journal.step} ({journal.started_at})"
    if live in state and incoming in state and (aside is None or aside not in state):
        if aside is not None:
            _allow(conn, live)
        if journal.kind == "restore":
            if why := _not_begun_with(conn, journal):
                return SwapLeft(f"rolled back {what}: {live!r} is the previous database, connections allowed; "
                                f"{incoming!r} was not dropped: {why}; look at it (drop it by hand if it is the "
                                f"replace's work database), then remove the swap journal {journal.path}")
            pg.drop_database(conn, incoming)  # the original never left: as any failure before the swap
            return f"rolled back {what}: {live!r} is the previous database, connections allowed; " \
                   f"dropped its work database {incoming!r}"
        _allow(conn, incoming)
        return f"rolled back {what}: {live!r} is as it was, connections allowed; {incoming!r} is still kept"
    if live not in state and incoming in state:
        _rename_ending_sessions(conn, incoming, live, reporter)
        _allow(conn, live)
        if aside in state:
            _allow(conn, aside)
        kept = f"; the previous database is kept as {aside!r}" if aside in state else ""
        return f"finished {what}: {incoming!r} is now {live!r}, connections allowed{kept}"
    if live not in state and aside is not None and aside in state:
        _rename_ending_sessions(conn, aside, live, reporter)
        _allow(conn, live)
        return f"rolled back {what}: {incoming!r} is gone, so the previous database is {live!r} again, " \
               "connections allowed"
    if live in state:
        _allow(conn, live)
        if aside is not None and aside in state:
            _allow(conn, aside)
        if incoming in state:
            _allow(conn, incoming)
            warn(reporter, f"{what}: {live!r}, {incoming!r} and {aside!r} all exist; none was renamed or "
                           "dropped, look at them")
        if aside is not None and aside in state and incoming not in state:
            return f"finished {what}: {live!r} answers, connections allowed; the previous database is kept as " \
                   f"{aside!r}"
        return f"settled {what}: {live!r} answers, connections allowed"
    warn(reporter, f"{what}: none of {live!r}, {incoming!r}" + (f", {aside!r}" if aside else "")
         + " exists on the server any more; nothing was changed")
    return f"closed the journal of {what}: nothing of it is left on the server"
