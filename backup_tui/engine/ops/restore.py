"""Restore a backup into a new database, or replace the original with a safety net.

``--replace`` never restores over the original: it restores into a temporary
database, checks the row counts against the manifest, and only then swaps
names. Any failure before the swap drops the temporary and leaves the original
exactly as it was; the original is kept aside after the swap for rollback.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from backup_tui.engine.config import DatabaseConfig, Settings
from backup_tui.engine.core import names
from backup_tui.engine.core.clock import Clock
from backup_tui.engine.core.encryption import AGE_INTRO, KeyProblem
from backup_tui.engine.core.errors import (
    BackupToolError,
    Cancelled,
    ConfigError,
    ConfirmationRequired,
    NotFoundError,
    VerificationError,
)
from backup_tui.engine.core.estimate import (
    RESTORE,
    SAFETY_BACKUP,
    EstimatePart,
    fit_duration,
    safety_backup_seconds,
    total_seconds,
)
from backup_tui.engine.core.kinds import Reading, kind_of
from backup_tui.engine.core.manifest import InvalidRecord
from backup_tui.engine.core.models import (
    SAFETY_REASON_PREFIX,
    BackupRecord,
    PlanStep,
    RestorePlan,
    RestoreResult,
    Verification,
    sessions_said,
    utc_iso,
)
from backup_tui.engine.core.names import check_database_name, side_name, side_of
from backup_tui.engine.core.policy import can_restore
from backup_tui.engine.core.progress import (
    BytesProgress,
    CancelToken,
    Reporter,
    StepFinished,
    StepStarted,
    info,
    warn,
)
from backup_tui.engine.core.runs import StoppedAfter
from backup_tui.engine.core.sizes import plural
from backup_tui.engine.core.untrusted_json import load_json
from backup_tui.engine.ops import scratch, swap
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.damage import DamageFound, records_damage
from backup_tui.engine.ops.journaled import journal_run
from backup_tui.engine.ops.keys import checked_reading, reading_for
from backup_tui.engine.postgres import archive_needs, database_properties, pg, plain_guard, row_counts
from backup_tui.engine.postgres.plain_guard import PlainGuard
from backup_tui.engine.postgres.psql_line import psql_command
from backup_tui.engine.storage import legacy
from backup_tui.engine.storage.catalog import Catalog
from backup_tui.engine.storage.files import append_line, read_capped
from backup_tui.engine.storage.locks import database_lock, locked_by, reading_backup
from backup_tui.engine.storage.paths import OutsideRepository, inside, is_inside
from backup_tui.engine.storage.space import free_bytes, human_bytes
from backup_tui.engine.storage.state import writable
from backup_tui.engine.stream.pipeline import StreamStats, decode, widen_pipe
from backup_tui.engine.stream.sources import Source

if TYPE_CHECKING:
    import psycopg

RESTORE_SPACE_FACTOR = 1.5  # restored size vs raw dump: indexes are rebuilt
HISTORY_FILE = "restores.jsonl"
ROLLBACK_COMMAND = "backup-headless rollback"
DROP_KEPT_COMMAND = "backup-headless kept --drop"


SAFETY_STOPPED = "the original is untouched; nothing was restored and no safety backup was kept"


def rollback_command(database: str, to: str | None = None) -> str:
    """The command that puts the kept copy back, while clients are connected too (a bare ALTER DATABASE
    RENAME fails then): built here once, for the plan, the result, the CLI and the wizard. ``to``: a copy
    that is not the one a rollback takes by default (a later replace kept a newer one)."""
    return f"{ROLLBACK_COMMAND} {shlex.quote(database)}" + (f" --to {shlex.quote(to)}" if to else "")


def drop_kept_command(kept: str) -> str:
    return f"{DROP_KEPT_COMMAND} {shlex.quote(kept)}"


# -- the data path: stored file -> decoder -> pg_restore / psql ---------------


def restore_into(
    settings: Settings,
    server: DatabaseConfig,
    record: BackupRecord,
    source: Source,
    work_db: str,
    *,
    reporter: Reporter,
    cancel: CancelToken,
    no_owner: bool = False,
    no_tablespaces: bool = False,
) -> StreamStats:
    """Load ``source`` into the existing empty ``work_db``; checks the stored bytes' sha256 on the way.

    ``no_owner``: a custom archive's objects go to the user we connect as and its privileges are left
    out, so a server without the original roles can still take it (a verify's test restore always).
    ``no_tablespaces``: everything goes to the database's default tablespace (a test restore)."""
    env = pg.child_env(server, work_db, settings.password_variables)
    portable = ["--no-owner", "--no-privileges"] if no_owner else []
    if no_tablespaces:
        portable.append("--no-tablespaces")
    total = record.stored_bytes or source.size() or 0
    progress: Callable[[int], None] = lambda done: reporter(BytesProgress("restore", done, total))  # noqa: E731
    reporter(StepStarted("restore", f"{record.id} -> {work_db}"))
    kind, reading = kind_of(record), reading_for(settings, record)
    try:  # what the stream and the checksum find wrong here is damage of the stored bytes (ops.damage)
        if kind.loader == "psql":
            argv = [pg.tool_path("psql", settings.pg_bin_dir), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                    "--no-password", "-d", pg.dbname_arg(work_db)]
            try:
                stats = _streamed(argv, env, source, reading, cancel, progress,
                                  tail=legacy.DumpTail() if kind.ends_with_marker else None, guard=PlainGuard())
            except BackupToolError as exc:
                raise _refused_command(record, exc) from None
        elif kind.parallel_restore and settings.restore_jobs > 1 and _room_for_parallel(settings, record, reporter):
            stats = _parallel_restore(settings, env, source, record, work_db, cancel, progress, portable)
        else:
            argv = [pg.tool_path("pg_restore", settings.pg_bin_dir), "--exit-on-error", "--no-password", *portable,
                    "-d", pg.dbname_arg(work_db)]
            stats = _streamed(argv, env, source, reading, cancel, progress)
        check_stored(record, stats)
    except DamageFound:
        raise
    except VerificationError as exc:
        raise DamageFound(exc.message, exc.message) from None
    if legacy.sidecar_missing(record):  # a note: the dump is what the old scripts left, every week alike
        info(reporter, f"{record.id}: {legacy.NO_SIDECAR}")
    reporter(StepFinished("restore"))
    return stats


def _refused_command(record: BackupRecord, exc: BackupToolError) -> BackupToolError:
    """psql's failure on a plain dump, said as what it is where psql refused a backslash command in it (damage:
    pg_dump writes none that a load needs) or cannot refuse them at all (a psql too old to load one safely)."""
    if any(words in exc.message for words in plain_guard.REFUSED):
        damage = (f"{record.id}: the plain dump holds a psql backslash command, refused (it could run a shell "
                  f"command or write a file on this machine; a dump pg_dump made for one database holds none): "
                  f"{exc.message}")
        return DamageFound(damage, damage)
    if plain_guard.UNKNOWN in exc.message:
        return BackupToolError(f"{exc.message}: this psql cannot refuse a plain dump's backslash commands "
                               "(\\restrict: psql 13.22, 14.19, 15.14, 16.10, 17.6 and later); set pg_bin_dir to "
                               "a newer client's folder")
    return exc


def check_stored(record: BackupRecord, stats: StreamStats) -> None:
    """The bytes just read must be the bytes the manifest describes."""
    if record.sha256 and stats.stored_sha256 != record.sha256:
        raise VerificationError(f"{record.id}: sha256 of the stored file does not match the manifest")


def _room_for_parallel(settings: Settings, record: BackupRecord, reporter: Reporter) -> bool:
    """pg_restore -j reads a decompressed file; without room for it, stream into one pg_restore instead."""
    if not writable(settings.repository):
        warn(reporter, f"{settings.repository} cannot be written (a read-only copy?): restoring with one "
                       "pg_restore job, streamed")
        return False
    if not is_inside(settings.repository, settings.repository / scratch.TMP_DIR):
        warn(reporter, f"{settings.repository / scratch.TMP_DIR} is a link: the decoded dump is never written "
                       "through one; restoring with one pg_restore job, streamed")
        return False
    free = free_bytes(settings.repository)
    if record.raw_bytes + settings.min_free_bytes <= free:
        return True
    warn(reporter, f"only {human_bytes(free)} free in {settings.repository} for a {human_bytes(record.raw_bytes)} "
                   "decompressed dump: restoring with one pg_restore job, streamed")
    return False


def _stream_into(
    argv: list[str], env: dict[str, str], source: Source, reading: Reading, cancel: CancelToken,
    progress: Callable[[int], None], *, stdout: IO[bytes] | int = subprocess.DEVNULL, reads_all: bool = True,
    tail: legacy.DumpTail | None = None, guard: PlainGuard | None = None,
) -> StreamStats | None:
    """Feed the decoded file to ``argv``'s stdin. ``reads_all=False``: it may stop reading early
    (a table-of-contents reader) and the decode stops with it; then there are no stats. ``tail``: a plain
    dump, checked for pg_dump's last line once decoded to its end, whatever psql made of it. ``guard``: what
    psql reads of a plain dump, its backslash commands refused (``postgres.plain_guard``)."""

    def sink(raw: bytes) -> None:
        if tail is not None:
            tail.feed(raw)
        _write(stdin, guard.feed(raw) if guard is not None else raw)

    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=stdout, stderr=errors, env=env,
                                process_group=pg.OWN_GROUP)
        assert proc.stdin is not None
        stdin = proc.stdin
        widen_pipe(stdin.fileno())
        stats: StreamStats | None = None
        try:
            # Until it exits: a load stuck behind a lock reads nothing, and index builds after the data
            # can take long; a cancel stops it at once in both.
            with cancel.hook(lambda: pg.signal_group(proc)):
                try:
                    if guard is not None:
                        _write(stdin, guard.start())
                    stats = decode(source, reading, cancel=cancel, sink=sink, on_bytes=progress, hash_raw=False)
                    if guard is not None:
                        _write(stdin, guard.end())
                except _ReaderGone:
                    pass  # it stopped reading: its exit code and its own error say why, below
                finally:
                    with contextlib.suppress(BrokenPipeError):
                        stdin.close()
                rc = pg.wait_for(proc, cancel)
        except BaseException:
            pg.kill_group(proc)
            raise
        errors.seek(0)
        if tail is not None and stats is not None:
            tail.check(source.name)  # a dump cut short is damage (exit 4), even when psql's error came first
        if rc != 0:
            raise pg.tool_failed(Path(argv[0]).name, errors.read(), rc)
        if stats is None and reads_all:
            raise BackupToolError(f"{Path(argv[0]).name} exited before the end of the dump without an error")
    return stats


def _streamed(argv: list[str], env: dict[str, str], source: Source, reading: Reading, cancel: CancelToken,
              progress: Callable[[int], None], *, tail: legacy.DumpTail | None = None,
              guard: PlainGuard | None = None) -> StreamStats:
    stats = _stream_into(argv, env, source, reading, cancel, progress, tail=tail, guard=guard)
    assert stats is not None  # reads_all: an early end raised
    return stats


def _archive_text(settings: Settings, args: list[str], source: Source, reading: Reading,
                  cancel: CancelToken) -> str:
    """What ``pg_restore ARGS`` prints for the archive; it reads only the table of contents, so the
    decode stops a few MiB in, whatever the backup's size."""
    argv = [pg.tool_path("pg_restore", settings.pg_bin_dir), *args, "--file=-"]
    with tempfile.TemporaryFile() as out:
        _stream_into(argv, pg.tool_env(settings.password_variables), source, reading, cancel, lambda done: None,
                     stdout=out, reads_all=False)
        out.seek(0)
        return out.read().decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Properties:
    """The archived database's comment, privileges and settings, as statements aimed at the work database."""

    statements: str
    entries: int


def database_properties_of(
    settings: Settings, record: BackupRecord, source: Source, work_db: str, cancel: CancelToken,
    no_owner: bool = False,
) -> Properties | None:
    """Read the archive's database-level entries (its first MiBs, twice) and aim them at ``work_db``; None
    when there are none. Touches no database, so it runs while the data loads.

    ``no_owner``: privileges and per-role settings name roles the server may lack; they are left out."""
    if not kind_of(record).archive:
        return None  # plain dumps made without --create hold none
    reading = reading_for(settings, record)
    toc = _archive_text(settings, ["--list", "--create"], source, reading, cancel)
    entries = database_properties.database_level_entries(toc, privileges=not no_owner)
    original = database_properties.archived_name(toc)
    if not entries or original is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8") as chosen:
        chosen.write("\n".join(entries) + "\n")
        chosen.flush()
        script = _archive_text(settings, ["--create", f"--use-list={chosen.name}"], source, reading, cancel)
    try:
        statements = database_properties.retarget(script, original, work_db, role_settings=not no_owner)
    except ValueError as exc:
        raise BackupToolError(f"cannot apply the database's properties: {exc}") from None
    return Properties(statements, len(entries))


def apply_properties(settings: Settings, server: DatabaseConfig, properties: Properties) -> None:
    """Run the statements (ALTER DATABASE ... SET reaches sessions opened after it: apply once loaded). They
    come from the archive: psql refuses any backslash command in them, as it does a plain dump's."""
    argv = [pg.tool_path("psql", settings.pg_bin_dir), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--no-password",
            "-d", pg.dbname_arg(settings.maintenance_db)]
    done = subprocess.run(argv, input=PlainGuard().start() + properties.statements.encode(), capture_output=True,
                          env=pg.child_env(server, settings.maintenance_db, settings.password_variables),
                          process_group=pg.OWN_GROUP, check=False)
    if done.returncode != 0:
        raise BackupToolError(f"applying the database's properties failed: {pg.stderr_summary(done.stderr)}")


class _ReaderGone(BackupToolError):
    """The process we stream into exited before the end of the stream."""


def _write(stdin: IO[bytes], raw: bytes) -> None:
    try:
        stdin.write(raw)
    except BrokenPipeError:
        raise _ReaderGone("the restore process exited early") from None


def _parallel_restore(
    settings: Settings, env: dict[str, str], source: Source, record: BackupRecord, work_db: str,
    cancel: CancelToken, progress: Callable[[int], None], portable: list[str],
) -> StreamStats:
    """pg_restore -j needs a seekable file: decode to a temp file beside the repository, then load."""
    tmp_dir = settings.repository / scratch.TMP_DIR
    tmp_dir.mkdir(parents=True, exist_ok=True)
    inside(settings.repository, tmp_dir)  # a link planted as tmp/ would take the decoded dump (plaintext) elsewhere
    tmp_name = str(tmp_dir / f"{record.id}-{secrets.token_hex(4)}.dump")
    tmp = scratch.Scratch.begin(settings, "file", tmp_name, "restore")
    try:
        with open(tmp_name, "xb") as out:
            stats = decode(source, reading_for(settings, record), cancel=cancel, sink=lambda raw: _write(out, raw),
                           on_bytes=progress, hash_raw=False)
        check_stored(record, stats)  # before loading anything into the database
        argv = [pg.tool_path("pg_restore", settings.pg_bin_dir), "--exit-on-error", "--no-password", *portable,
                f"--jobs={settings.restore_jobs}", "-d", pg.dbname_arg(work_db), tmp_name]
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors, env=env,
                                    process_group=pg.OWN_GROUP)
            try:
                rc = pg.wait_for(proc, cancel)
            except BaseException:  # cancelled, Ctrl+C, SIGTERM: pg_restore and its workers stop too
                pg.kill_group(proc)
                raise
            if rc != 0:
                errors.seek(0)
                raise pg.tool_failed("pg_restore", errors.read(), rc)
        return stats
    finally:
        scratch.unlink_file(tmp)


def compare_counts(expected: dict[str, int], actual: dict[str, int]) -> tuple[dict[str, list[int | None]], list[str]]:
    """Table by table: [manifest, restored]; problems name each table that differs."""
    table: dict[str, list[int | None]] = {}
    problems = []
    for name in sorted(set(expected) | set(actual)):
        want, got = expected.get(name), actual.get(name)
        table[name] = [want, got]
        if want is None:
            continue  # a table the manifest does not know (e.g. legacy): nothing to compare
        if got is None:
            problems.append(f"table {name} is missing after restore (manifest: {want} rows)")
        elif got != want:
            problems.append(f"table {name}: manifest {want} rows, restored {got}")
    return table, problems


def counts_said(table: Mapping[str, Sequence[int | None]]) -> str:
    """What the row counts showed: "N tables match the manifest", or, for a backup without counts (the old
    scripts'), that none could be compared: a table never held against a count is no match."""
    compared = sum(1 for want, _ in table.values() if want is not None)
    if table and not compared:
        return f"{plural(len(table), 'table')} restored; no row counts in this backup to compare them with"
    return f"{plural(compared, 'table')} match{'es' if compared == 1 else ''} the manifest"


def count_rows_in(server: DatabaseConfig, database: str) -> dict[str, int]:
    return row_counts.count_rows(server, database)


def _deleted_meanwhile(record: BackupRecord) -> NotFoundError:
    """A prune or a delete took the backup while its restore was planned, or before it began: said as that, not as
    "unexpected FileNotFoundError"."""
    return NotFoundError(f"{record.id} was deleted while the restore was planned or about to begin (a prune or a "
                         "delete): nothing was changed, choose another backup")


# -- planning -----------------------------------------------------------------


def _data_dir_free(conn: psycopg.Connection[Any], tablespace: str | None = None) -> int:
    """Free space on the server where the restored database's files go, when that is on this machine; -1 when
    unknown: ``tablespace``'s folder (the original's, where the database is created), else the data directory.
    The data directory's disk alone said 60 GB free for a database whose tablespace had 26 MB: the plan went
    ahead and pg_restore stopped on a full disk."""
    import psycopg

    try:
        row = conn.execute("SELECT pg_tablespace_location(oid) FROM pg_tablespace WHERE spcname = %s",
                           (tablespace,)).fetchone() if tablespace else None
        if row is None or not row[0]:  # none, gone from this server, or pg_default: in the data directory
            row = conn.execute("SELECT setting FROM pg_settings WHERE name = 'data_directory'").fetchone()
    except psycopg.Error:
        return -1
    if row is None or not row[0] or not Path(row[0]).exists():
        return -1
    try:
        return free_bytes(Path(row[0]))
    except OSError:
        return -1


def estimate_seconds(settings: Settings, raw_bytes: int) -> float | None:
    """From the newest 20 restores on this repository (test restores included): see ``fit_duration``."""
    path = settings.repository / HISTORY_FILE
    if not path.exists() or raw_bytes <= 0:
        return None
    try:
        text = read_capped(path)  # the repository's word: a link is not followed, a huge file not read
    except (InvalidRecord, OSError):  # a link, a folder, a FIFO planted there: no estimate, never no restore
        return None
    points = []
    for line in text.splitlines()[-20:]:
        try:
            item = load_json(line)
            if item["raw_bytes"] > 0 and item["duration_s"] > 0:
                points.append((float(item["raw_bytes"]), float(item["duration_s"])))
        except (ValueError, KeyError, TypeError):
            continue
    return fit_duration(points, raw_bytes)


def plan_estimate(ctx: Context, record: BackupRecord, safety: bool, db_bytes: int) -> tuple[EstimatePart, ...]:
    """The plan's time by phase: a replace's safety backup of the ``db_bytes`` database first (from past
    backups), then the restore with its checks and swap (from past restores)."""
    restore_part = EstimatePart(RESTORE, estimate_seconds(ctx.settings, record.raw_bytes))
    if not safety:
        return (restore_part,)
    valid = [r for r in ctx.catalog.list(include_incomplete=False) if r.status == "valid"]
    own = [r for r in valid if r.database == record.database]
    others = [r for r in valid if r.database != record.database]
    return EstimatePart(SAFETY_BACKUP, safety_backup_seconds(own, others, db_bytes)), restore_part


# A gzip -9'd plain SQL dump is about 4-6x smaller than its text (pagila: 4.3x); a legacy .meta seldom
# records the raw size, so the restore's space check works from the stored size times this.
GZIP_SQL_FACTOR = 5


def _raw_estimate(record: BackupRecord) -> int:
    """The raw dump size; for a gzip'd plain dump that does not record it, a guess from the stored size."""
    if record.raw_bytes or record.format != "plain" or record.compression != "gzip":
        return record.raw_bytes
    return record.stored_bytes * GZIP_SQL_FACTOR


def _age_encrypted(path: Path) -> bool:
    """The file begins as age writes: a damaged backup's by-hand restore must decrypt it first."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(AGE_INTRO)) == AGE_INTRO
    except OSError:
        return False


def _load_by_hand(path: Path) -> str:
    unpack = f"age -d -i KEY_FILE {path} | zstd -dc" if _age_encrypted(path) else f"zstd -dc {path}"
    return f"{unpack} | pg_restore -d NEW_DB"


@records_damage("while planning a restore", lambda a: a["record"])
def plan_restore(
    ctx: Context,
    record: BackupRecord,
    *,
    target_db: str | None = None,
    replace_original: bool = False,
    safety_backup: bool = True,
    no_owner: bool = False,
    no_tablespaces: bool = False,
) -> RestorePlan:
    """The flight plan. Reads the server's state and the archive's table of contents; changes nothing but
    the backup's history, where damage the reading finds is recorded as a failed check (``ops.damage``)."""
    settings, now = ctx.settings, ctx.now
    if not can_restore(record):
        by_hand = (f"; if its dump is intact, load it by hand: {_load_by_hand(Path(record.path))}"
                   if record.status == "damaged" and record.compression == "zstd" and Path(record.path).is_file()
                   else "")
        raise VerificationError(f"{record.id} is {record.status} ({record.reason}): it cannot be restored; "
                                f"nothing was changed, choose another backup (list shows which are valid){by_hand}")
    if replace_original == (target_db is not None):
        raise ConfigError("choose exactly one of --target-db NAME or --replace")
    if (no_owner or no_tablespaces) and not kind_of(record).archive:  # was ignored: the plan read clean, psql then
        raise ConfigError(f"{record.id} is a plain SQL dump (the old scripts'): psql runs its OWNER TO, GRANT and "
                          "TABLESPACE lines as they are, so --no-owner and --no-tablespaces cannot apply; create "
                          "the roles and tablespaces it names first")  # stopped on "role ... does not exist"
    server = settings.server_for(record.database)
    # A journal of the target left for a person is not settled by the real run first, as a killed swap is
    swap.refuse_while_left(settings, server, record.database if replace_original else str(target_db), "restored")
    holder = ctx.catalog.repository_of(record)
    try:
        source = holder.open_stored(record)
    except OutsideRepository as exc:  # a link planted as its data file: damage, as verify finds it (exit 4)
        raise DamageFound(f"{record.id}: {exc.message}; nothing was changed, choose another backup",
                          f"data file not read: {exc.message}") from None
    stored = source.size()
    if stored is None:
        raise DamageFound(f"{record.id}: its stored file {source.where} is missing (or no plain file); nothing was "
                          "changed, choose another backup", f"data file missing: {source.where}")
    key_problem = _key_problem(settings, record, source)
    # A copy with no local file is streamed from where it is: the plan says from where, and how much comes down.
    fetched = "" if holder.capabilities.local_paths else f"; read from {source.where}, downloads {human_bytes(stored)}"
    moment = now()
    with pg.connect(server, settings.maintenance_db) as conn:
        free = _data_dir_free(conn, None if no_tablespaces else record.database_info.get("tablespace"))
        if replace_original:
            target = record.database
            exists = pg.database_exists(conn, target)
            moment = swap.free_moment(conn, target, (names.WORK, names.ASIDE), moment)
            work = side_name(target, names.WORK, moment)
            aside = side_name(target, names.ASIDE, moment) if exists else None
            held = pg.sessions_on(conn, target) if exists else []
            current = pg.database_size(conn, target) if exists else 0
        else:
            assert target_db is not None
            target = work = target_db
            if not target:
                raise ConfigError("--target-db needs a name for the new database")
            check_database_name(target, "the target database's name")
            if names.is_kept_name(target) or names.is_scratch_name(target):
                raise ConfigError(f"{target!r} has the form of a name the engine gives its own databases (a copy a "
                                  "replace kept, a work or verify database): kept, rollback and the cleanup after "
                                  "a killed run would take it for one; choose another name")
            if pg.database_exists(conn, target):
                raise ConfigError(f"database {target!r} already exists: choose another name (only the backup's own "
                              f"database {record.database!r} can be replaced, with --replace)")
            exists, aside, held, current = False, None, [], 0
        # Without the key the table of contents cannot be read: the plan refuses for the key alone.
        try:
            missing = Missing() if key_problem else server_lacks(settings, conn, record, source, no_owner,
                                                                 no_tablespaces)
        except FileNotFoundError:
            if ctx.catalog.holds(record):
                raise
            raise _deleted_meanwhile(record) from None
        privilege, or_no_owner = pg.creation_lacks(conn, None if no_owner else record.database_info.get("owner"),
                                                   missing.owners)
        if not privilege and replace_original and exists:
            privilege = pg.replace_lacks(conn, target)
        where = _where_created(conn, record)
    sessions, who = _named(held)
    needed = int(max(_raw_estimate(record) * RESTORE_SPACE_FACTOR, current))
    steps = []
    take_safety = replace_original and safety_backup and exists
    if take_safety:
        steps.append(PlanStep("backup", f"safety backup of the current {target!r} into the repository"))
    steps.append(PlanStep("create", f"create database {work!r}{where}"))
    raw = human_bytes(record.raw_bytes) if record.raw_bytes else "?"  # legacy: the .meta seldom says
    how = (f"; decompressed to {settings.repository / 'tmp'} first, then pg_restore -j {settings.restore_jobs} "
           "(streamed instead when there is no room for that file)"
           if settings.restore_jobs > 1 and kind_of(record).parallel_restore else "")
    steps.append(PlanStep("restore", f"restore {record.id} ({human_bytes(record.stored_bytes)} stored, "
                                     f"{raw} raw) into {work!r}{how}{fetched}"))
    steps.append(PlanStep("verify", "compare exact row counts with the manifest"
                          if record.row_counts else "no row counts in this backup: check the restore succeeded"))
    if kind_of(record).archive:
        steps.append(PlanStep("properties", f"give {work!r} the backup's database-level comment, privileges and "
                                            "settings (pg_restore leaves them out)"))
    if replace_original:
        if exists:
            steps.append(PlanStep("terminate", f"block new connections to {target!r} and terminate its sessions, "
                                               f"now {sessions_said(sessions, who)}"))
            steps.append(PlanStep("rename", f"rename {target!r} to {aside!r} (kept for rollback)"))
        steps.append(PlanStep("rename", f"rename {work!r} to {target!r}"))
        rollback = (f"before the swap: drop {work!r}; {target!r} is untouched. After it: the previous database "
                    f"stays as {aside!r}; to roll back: {rollback_command(target)}"
                    if exists else f"drop {target!r} (there was no database of that name before)")
    else:
        rollback = f"drop database {target!r}"
    parts = plan_estimate(ctx, record, take_safety, current)
    return RestorePlan(
        backup_id=record.id,
        mode="replace" if replace_original else "new",
        target_db=target,
        work_db=work,
        aside_db=aside,
        safety_backup=take_safety,
        sessions_to_terminate=sessions,
        sessions=who,
        space_needed_bytes=needed,
        space_free_bytes=free,
        estimated_seconds=total_seconds(parts),
        steps=tuple(steps),
        rollback=rollback,
        no_owner=no_owner,
        no_tablespaces=no_tablespaces,
        missing_roles=missing.roles,
        missing_policy_roles=missing.policy_roles,
        missing_extensions=missing.extensions,
        missing_tablespaces=missing.tablespaces,
        key_problem=key_problem,
        privilege_problem=privilege,
        privilege_no_owner=or_no_owner,
        estimate_parts=parts,
        locked_by=locked_by(settings.repository, target),
        unfinished_swap=swap.pending(settings, server, target),
    )


def _key_problem(settings: Settings, record: BackupRecord, source: Source) -> str:
    """Why this host cannot decrypt the backup ('' when it can, or it is not encrypted): the plan's refusal,
    found by reading the stored header before anything is created. A damaged header refuses outright."""
    try:
        checked_reading(settings, record, source)
    except KeyProblem as exc:
        return exc.problem
    except ConfigError as exc:  # the identity file is missing or is not one
        return exc.message
    except VerificationError as exc:
        raise DamageFound(f"{exc.message}: it cannot be restored; nothing was changed, choose another backup",
                          exc.message) from None
    return ""


def _named(held: list[tuple[str, int]]) -> tuple[int, tuple[str, ...]]:
    """Grouped sessions as a plan and a log say them: the count, and "app@host 'name' x8" per group."""
    return sum(n for _, n in held), tuple(f"{client} x{n}" if n > 1 else client for client, n in held)


def _where_created(conn: psycopg.Connection[Any], record: BackupRecord) -> str:
    """The original's locale provider and tablespace, said in the plan: a database that sorts text
    differently or lands on another volume must not come as a surprise."""
    info = record.database_info
    said = ""
    if info.get("locale_provider") in ("icu", "builtin"):
        said += f", locale {info['locale_provider']} {info.get('locale', '')!r}"
    space = info.get("tablespace")
    if space:
        said += (f", in tablespace {space!r}" if pg.tablespace_exists(conn, space)
                 else f", in pg_default: the original's tablespace {space!r} does not exist on this server")
    return said


@dataclass(frozen=True)
class Missing:
    roles: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()  # every owner the archive names (present or not): creation_lacks asks of them
    policy_roles: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    tablespaces: tuple[str, ...] = ()


def server_lacks(settings: Settings, conn: psycopg.Connection[Any], record: BackupRecord, source: Source,
                 no_owner: bool, no_tablespaces: bool = False) -> Missing:
    """What the backup (its stored bytes at ``source``) names that this server lacks. pg_restore would
    stop at the first, some only after all the data is in. Reads the table of contents twice (a few MiB
    of the file at most)."""
    if not kind_of(record).archive:
        return Missing()
    reading = reading_for(settings, record)
    try:
        toc = _archive_text(settings, ["--list", "--create"], source, reading, CancelToken())
    except VerificationError as exc:  # damaged where the table of contents lies: nothing could come of it
        raise DamageFound(f"{record.id} cannot be restored, its beginning is damaged ({exc.message}); "
                          "nothing was changed, choose another backup", exc.message) from None
    with tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8") as chosen:
        chosen.write(archive_needs.definitions_list(toc))
        chosen.flush()
        script = _archive_text(settings, ["--create", f"--use-list={chosen.name}"], source, reading,
                               CancelToken())
    needs = archive_needs.needs_of(script)

    def lacking(names: set[str], present: Callable[[psycopg.Connection[Any], str], bool]) -> tuple[str, ...]:
        return tuple(sorted(n for n in names if not present(conn, n)))

    return Missing(
        roles=() if no_owner else lacking(needs.owners_and_grantees, pg.role_exists),
        owners=() if no_owner else tuple(sorted(needs.owners)),
        policy_roles=lacking(needs.policy_roles, pg.role_exists),
        extensions=lacking(needs.extensions, pg.extension_available),
        tablespaces=() if no_tablespaces else lacking(needs.tablespaces, pg.tablespace_exists),
    )


# -- running --------------------------------------------------------------------


@journal_run("restore", lambda a: (a["plan"].target_db, a["plan"].backup_id))
@records_damage("while restoring it", lambda a: a["ctx"].catalog.get(a["plan"].backup_id))
def run_restore(ctx: Context, plan: RestorePlan, *, confirmed: bool = False) -> RestoreResult:
    """Carry out exactly ``plan``, the one the operator saw (and, for a replace, confirmed)."""
    settings, catalog, reporter, cancel, now = ctx.settings, ctx.catalog, ctx.reporter, ctx.cancel, ctx.now
    record = catalog.get(plan.backup_id)
    if plan.refusal:
        raise ConfigError(plan.refusal)
    if plan.mode == "replace" and not confirmed:
        raise ConfirmationRequired(f"replacing database {plan.target_db!r} needs confirmation: pass --yes")
    if plan.space_free_bytes >= 0 and plan.space_needed_bytes > plan.space_free_bytes:
        raise BackupToolError(f"not enough space on the server: need about {human_bytes(plan.space_needed_bytes)}, "
                              f"{human_bytes(plan.space_free_bytes)} free")
    server = settings.server_for(record.database)
    started = time.monotonic()
    held = swap.HeldSignals()  # from the swap on, a signal waits for its statements and is said after it
    with contextlib.ExitStack() as after_swap:
        with database_lock(settings.repository, plan.target_db, "restore"), \
                reading_backup(settings.repository, record.id):
            if not catalog.holds(record):  # a prune or a delete took it since the plan (its question was open)
                raise _deleted_meanwhile(record)
            source = catalog.repository_of(record).open_stored(record)
            checked_reading(settings, record, source)  # the key may have gone since the plan: nothing is created yet
            if swap.heal_swap(settings, server, plan.target_db, reporter) is not None:
                _still_fits(settings, server, plan)
            swap.refuse_while_left(settings, server, plan.target_db, "restored")
            scratch.clean_leftovers(settings, server, reporter)
            safety_id, safety_s = None, 0.0
            if plan.safety_backup:
                reporter(StepStarted(SAFETY_BACKUP, plan.target_db))
                safety_started = time.monotonic()
                try:
                    safety = run_backup(ctx, replace(server, dbname=plan.target_db),
                                        reason=f"{SAFETY_REASON_PREFIX} {record.id}", lock_held=True)
                except Cancelled:  # said as a cancel in the restore phase says it: the operator asks what is left
                    raise Cancelled(f"restore cancelled during its safety backup: {SAFETY_STOPPED}") from None
                except BaseException as exc:  # a signal or a failure: the run's one error line says it too
                    exc.add_note(f"the restore stopped during its safety backup: {SAFETY_STOPPED}")
                    raise
                safety_id, safety_s = safety.id, time.monotonic() - safety_started
                reporter(StepFinished(SAFETY_BACKUP, detail=safety.id))
            counts, work = _restore_checked(settings, server, record, source, plan, reporter, cancel)
            notes: list[str] = []
            if plan.mode == "replace":
                after_swap.enter_context(held)
                _swap_in(settings, server, plan, work, reporter, held)
                swap.pause_point("swapped")
            else:
                scratch.keep(settings, server, work)  # the restored database is the real one now
            if plan.aside_db:
                notes.append(f"previous database kept as {plan.aside_db!r}; roll back to it with: "
                             f"{rollback_command(plan.target_db)}; drop it with: {drop_kept_command(plan.aside_db)}")
        duration = time.monotonic() - started
        # Without the safety backup: the restore's estimate (that backup is estimated from backups), and the
        # recovery time the health and the metrics give, what a restore of this backup takes
        record_history(settings, record, duration - safety_s)
        _record_as_verified(catalog, record, plan, counts, duration - safety_s, now, reporter)
        if signum := held.take():
            raise _stopped_after_swap(plan, record, signum)
    return RestoreResult(plan=plan, row_counts=counts, duration_s=duration, safety_backup_id=safety_id,
                         notes=tuple(notes), connect=psql_command(server, plan.target_db))


def _stopped_after_swap(plan: RestorePlan, record: BackupRecord, signum: int) -> BackupToolError:
    """A stop that came once the swap could no longer be undone: the restore is done, and the line says so
    (a bare "stopped by SIGTERM" read as a failed restore, with the original in place)."""
    kept = (f"; the previous database is kept as {plan.aside_db!r}, roll back with: "
            f"{rollback_command(plan.target_db)}" if plan.aside_db else "")
    return StoppedAfter(signum, f"after the restore was done: {plan.target_db!r} holds {record.id}{kept}")


def _record_as_verified(catalog: Catalog, record: BackupRecord, plan: RestorePlan,
                        counts: dict[str, list[int | None]], duration: float, now: Clock, reporter: Reporter) -> None:
    """A real restore whose row counts matched proves what a full verification proves: it goes into the
    backup's history, so the proof outlives the result screen."""
    result = Verification(
        at=utc_iso(now()), level="full", ok=True, duration_s=round(duration, 3), row_counts=counts,
        checks=(f"restored into {plan.target_db!r} ({'replacing it' if plan.mode == 'replace' else 'new database'})"
                f" and row counts match the manifest ({plural(len(counts), 'table')})",),
    )
    catalog.record_verification(record, result, reporter)


def _restore_checked(
    settings: Settings, server: DatabaseConfig, record: BackupRecord, source: Source, plan: RestorePlan,
    reporter: Reporter, cancel: CancelToken,
) -> tuple[dict[str, list[int | None]], scratch.Scratch]:
    """Create the work database (recorded as scratch), restore, compare counts; on any failure drop it."""
    reporter(StepStarted("create", plan.work_db))
    given = pg.carried(record.database_info, owner=not plan.no_owner, tablespace=True)
    work = scratch.create_database(settings, server, plan.work_db, given, "restore")
    reporter(StepFinished("create"))
    try:
        # Beside the data's load: the database's properties, read from the archive's first MiBs.
        with ThreadPoolExecutor(1, thread_name_prefix="properties") as beside:
            reading = beside.submit(database_properties_of, settings, record, source, plan.work_db, cancel,
                                    plan.no_owner)
            restore_into(settings, server, record, source, plan.work_db, reporter=reporter, cancel=cancel,
                         no_owner=plan.no_owner, no_tablespaces=plan.no_tablespaces)
            cancel.raise_if_cancelled()
            properties = reading.result()
        table = _checked_and_given(settings, server, record, plan.work_db, properties, reporter)
        return table, work
    except BaseException as exc:
        left = scratch.drop_quietly(settings, server, work)
        untouched = " the original is untouched;" if plan.mode == "replace" else ""
        msg = f"dropped {plan.work_db!r}" if left else (f"could not drop {plan.work_db!r} (the server did not answer): "
                                                          "the next backup, verify or restore on this host drops it")
        warn(reporter, f"restore stopped:{untouched} {msg}")
        if isinstance(exc, Cancelled):
            raise Cancelled(f"restore cancelled:{untouched} {msg}") from None
        exc.add_note(f"restore stopped:{untouched} {msg}")  # on the one error line an unwatched run prints
        raise


def _checked_and_given(
    settings: Settings, server: DatabaseConfig, record: BackupRecord, work_db: str,
    properties: Properties | None, reporter: Reporter,
) -> dict[str, list[int | None]]:
    """Compare the restored counts with the manifest while the properties are applied: the counting
    sessions are open before, so a setting among them (``statement_timeout``) never reaches a count.
    A mismatch wins over a failed apply: the data is what matters; either way the caller drops ``work_db``."""
    reporter(StepStarted("verify", "exact row counts"))
    with row_counts.counting(server, work_db) as counter, ThreadPoolExecutor(1, "apply") as beside:
        applying = beside.submit(apply_properties, settings, server, properties) if properties else None
        table, problems = compare_counts(record.row_counts, counter.count())
    if problems:
        raise VerificationError(f"restored data does not match the manifest: {'; '.join(problems[:3])}")
    reporter(StepFinished("verify", detail=counts_said(table)))
    if applying is not None and properties is not None:
        reporter(StepStarted("properties",
                             f"the database's comment, privileges and settings ({properties.entries})"))
        applying.result()
        reporter(StepFinished("properties"))
    return table


def _still_fits(settings: Settings, server: DatabaseConfig, plan: RestorePlan) -> None:
    """After healing a killed run's swap: the plan was made before, and may expect another server."""
    with pg.connect(server, settings.maintenance_db) as conn:
        exists = pg.database_exists(conn, plan.target_db)
    if (plan.mode == "replace" and exists != (plan.aside_db is not None)) or (plan.mode == "new" and exists):
        raise ConfigError(f"an unfinished swap of {plan.target_db!r} left by a killed run was just settled, and the "
                          "restore plan no longer fits the server: nothing else was changed, plan the restore again")


def _swap_in(settings: Settings, server: DatabaseConfig, plan: RestorePlan, work: scratch.Scratch,
             reporter: Reporter, held: swap.HeldSignals) -> None:
    """Swap the checked work database in. From the journal's first line on, the swap owns the work
    database: no scratch cleanup may drop it, and a run killed mid-way is healed by the next one."""
    side = side_of(plan.target_db, plan.work_db)
    if side is None:
        raise ConfigError(f"the restore plan's work database {plan.work_db!r} is not one this engine names")
    try:  # begin reads the work database's oid first: a server gone meanwhile leaves no journal, the work is dropped
        journal = swap.begin(settings, server, "restore", plan.target_db, plan.work_db, plan.aside_db, side[1])
        work.forget()
        swap.run_swap(settings, server, journal, reporter, held)
    except BaseException as exc:
        import psycopg

        failed = BackupToolError(f"the swap failed: {pg.stderr_summary(str(exc))}") if isinstance(
            exc, psycopg.Error) else exc
        if swap.pending(settings, server, plan.target_db):  # past undoing here: the next run settles it
            said = (f"the swap of {plan.target_db!r} was interrupted and is left to the next backup or restore to "
                    f"settle; or {swap.repair_hint(plan.target_db)}")
            warn(reporter, said)
            failed.add_note(said)  # on the run's one error line too, where nobody watches its warnings
        else:  # undone: the original is back under its name, as after any failure before the swap
            left = "dropped" if scratch.drop_quietly(settings, server, work) else "could not drop"
            said = f"the swap did not complete: {plan.target_db!r} is untouched; {left} {plan.work_db!r}"
            warn(reporter, said)
            failed.add_note(said)  # on the one error line too: a bare "stopped by SIGTERM" left it to be guessed
        if failed is exc:
            raise
        raise failed from None


def record_history(settings: Settings, record: BackupRecord, duration: float) -> None:
    """Remember how long a restore (or a full verification's test restore) took, for later estimates."""
    line = {"backup_id": record.id, "raw_bytes": record.raw_bytes, "stored_bytes": record.stored_bytes,
            "duration_s": round(duration, 3), "at": datetime.now(UTC).isoformat()}
    with contextlib.suppress(OSError):  # a link planted there is not followed: no estimate is worth a write outside
        append_line(settings.repository / HISTORY_FILE, json.dumps(line) + "\n")

