"""Take a backup: pg_dump in the exported snapshot, streamed once through sha256 and zstd.

Order matters for safety: lock, clean leftovers, export a snapshot (psql holds it, and says the database's
size: ``postgres.snapshot``), start pg_dump in it, check space before the first byte is written (while
pg_dump reads its catalog), dump while the snapshot's own session counts in it beside it (``ops.dump_session``:
server facts, row counts), write the sidecar, write the manifest last.
Anything killed before the manifest lands is an incomplete backup, never valid.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backup_tui import __version__
from backup_tui.engine.config import DatabaseConfig, Settings
from backup_tui.engine.core.encryption import ENCRYPTION
from backup_tui.engine.core.errors import EXIT_LOCKED, EXIT_OK, BackupToolError, SpaceError
from backup_tui.engine.core.levels import levels_said
from backup_tui.engine.core.models import ENCRYPTED_MANIFEST_VERSION, MANIFEST_VERSION, BackupRecord, utc_iso
from backup_tui.engine.core.next_size import expected_size, grown
from backup_tui.engine.core.progress import (
    BytesProgress,
    Reporter,
    StepFinished,
    StepStarted,
    info,
    warn,
)
from backup_tui.engine.core.sizes import plural
from backup_tui.engine.ops import dump_session, scratch, swap
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.dump_session import DumpSession, one_line
from backup_tui.engine.ops.journaled import journaled
from backup_tui.engine.postgres import pg, table_locks
from backup_tui.engine.postgres.snapshot import exported_snapshot
from backup_tui.engine.storage.bucket_lock import ForeignLock, bucket_lock, held_by_other
from backup_tui.engine.storage.local import LocalRepository, check_repository, ensure_repository
from backup_tui.engine.storage.locks import database_lock, locked_by
from backup_tui.engine.storage.s3 import S3Refused, S3Repository, S3Unreachable
from backup_tui.engine.storage.space import check_space, disk_full, free_bytes, human_bytes
from backup_tui.engine.storage.state import this_host
from backup_tui.engine.stream.adaptive import WholeBackup, usable_cpus
from backup_tui.engine.stream.pipeline import CHUNK, compress, pipe_reader, widen_pipe
from backup_tui.engine.stream.stages import write_stages

# pg_dump's writes: a quarter of the reader's chunk, so a read that caught up with pg_dump is still a short one
# (``adaptive.FloorProbe`` starts its clock at one: with writes of a whole chunk, 9 probes of 9 measured nothing)
DUMP_WRITE = CHUNK // 4
ARCHIVE_MAGIC = b"PGDMP"  # how every custom-format archive begins


@dataclass(frozen=True)
class BackupPlan:
    """What ``backup --dry-run`` shows: nothing is touched to produce it."""

    database: str
    server_version: str
    database_bytes: int
    expected_bytes: int
    estimate_basis: str
    free_bytes: int
    destination: str
    locked_by_other_run: bool
    incomplete_to_clean: list[str]  # empty while another run holds the lock: the real run would not clean
    scratch_to_remove: list[str]  # what killed verify/restore runs left on the server (or in BACKUP_DIR/tmp)
    command: list[str]
    space_ok: bool  # False: the real run would refuse for space (min_free_bytes included)
    space_refusal: str | None  # the real run's refusal, word for word, when space_ok is False
    unfinished_swap: bool = False  # a killed replace or rollback left a swap the real run settles first
    lock_holder: str | None = None  # who holds the lock, as the real run's refusal names it ("pid N on HOST ...")

    @property
    def exit_code(self) -> int:
        """What the real run would end with now, so a pre-flight check in a script can tell."""
        if self.locked_by_other_run:
            return EXIT_LOCKED
        return EXIT_OK if self.space_ok else SpaceError.exit_code

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "exit_code": self.exit_code}


def check_backup_space(settings: Settings, database: str, expected: int, basis: str) -> int:
    """The one space rule for a backup, shared by the run and its dry run; raises SpaceError."""
    return check_space(settings.repository, expected, settings.min_free_bytes,
                       f"the backup of {database} (estimate: {basis})")


def space_refusal(settings: Settings, database: str, expected: int, basis: str) -> str | None:
    """What the real run would say when refusing for space, or None when the backup fits."""
    try:
        check_backup_space(settings, database, expected, basis)
    except SpaceError as exc:
        return exc.message
    return None


def dump_command(settings: Settings, snapshot: str | None) -> list[str]:
    """pg_dump's command line, as it is started (``pg.output_buffered``: its writes ``DUMP_WRITE`` at a time)."""
    argv = [pg.tool_path("pg_dump", settings.pg_bin_dir), "--format=custom", "--compress=0", "--no-password",
            *table_locks.pg_dump_arguments(settings.lock_wait_timeout_s)]
    if snapshot:
        argv.append(f"--snapshot={snapshot}")
    return pg.output_buffered(argv, DUMP_WRITE)


@contextlib.contextmanager
def niced(level: int) -> Iterator[None]:
    """This thread, and the compressor's threads it starts, at niceness ``level`` (Linux counts niceness per
    thread): with pg_dump at the same level, the database server is served first. Back after, where allowed."""
    if not level:
        yield
        return
    tid = threading.get_native_id()
    before = os.getpriority(os.PRIO_PROCESS, tid)
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, tid, max(before, level))
    try:
        yield
    finally:
        with contextlib.suppress(OSError):  # raising it back needs CAP_SYS_NICE: without, the thread stays nice
            os.setpriority(os.PRIO_PROCESS, tid, before)


def plan_backup(ctx: Context, db: DatabaseConfig) -> BackupPlan:
    """What the real run would do, touching nothing: same size estimate, same space rule, same lock."""
    settings, catalog = ctx.settings, ctx.catalog
    check_repository(settings.repository)
    repo = catalog.local
    unfinished = swap.pending(settings, db, db.database)
    try:
        with pg.connect(db) as conn:
            version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
            db_bytes = pg.database_size(conn, db.database)
    except BackupToolError as exc:  # missing under its name, or refusing connections
        if not unfinished:
            raise
        if left := swap.left_alone(settings, db, db.database):  # the real backup would not settle this one
            raise type(exc)(f"{exc.message}: {left}") from None
        raise type(exc)(f"{exc.message}: a killed restore --replace or rollback left it mid-swap, which the real "
                        f"backup settles first; or {swap.repair_hint(db.database)}") from None
    expected, basis = expected_size(catalog.list(db.database, include_incomplete=False), db_bytes)
    holder = locked_by(settings.repository, db.database) or (
        "a run holding its lock in the bucket" if _bucket_locked(ctx, db.database) else None)
    locked = holder is not None
    # While another run holds the lock, its folder looks incomplete; the real run would stop at the lock.
    leftovers = [] if locked else [
        r.id for r in catalog.list(db.database) if r.status == "incomplete" and r.format == "custom"
    ]
    refusal = space_refusal(settings, db.database, expected, basis)
    return BackupPlan(
        database=db.database,
        server_version=version,
        database_bytes=db_bytes,
        expected_bytes=expected,
        estimate_basis=basis,
        free_bytes=free_bytes(settings.repository),
        destination=_destination(ctx, db.database, str(repo.database_dir(db.database))),
        locked_by_other_run=locked,
        incomplete_to_clean=leftovers,
        scratch_to_remove=[s.describe() for s in scratch.leftovers(settings, db)],
        command=[*dump_command(settings, "<exported snapshot>"), db.database],
        space_ok=refusal is None,
        space_refusal=refusal,
        unfinished_swap=unfinished,
        lock_holder=holder,
    )


def _bucket_locked(ctx: Context, database: str) -> bool:
    """Another run (another host's, often) holds the database's lock in the bucket: the real run would exit 3.
    A bucket out of reach is the real run's to say."""
    bucket = ctx.catalog.s3
    if bucket is None:
        return False
    try:
        return held_by_other(bucket, database, streams_to(ctx) is not None)
    except BackupToolError:
        return False


def _destination(ctx: Context, database: str, local: str) -> str:
    """Where the backup's bytes go: the local folder, or the bucket when it streams there (keep_local = false)."""
    bucket = streams_to(ctx)
    return bucket.url(bucket.database_folder(database)) if bucket is not None else local


def clean_incomplete(repo: LocalRepository, database: str, reporter: Reporter) -> list[str]:
    """Remove folders of this database's backups that never got a manifest (call with the lock held)."""
    removed = []
    for record in repo.list(database):
        if record.status == "incomplete" and Path(record.path).parent.parent == repo.database_dir(database):
            shutil.rmtree(repo.folder(record), ignore_errors=True)  # folder(): where the layout says, or raises
            removed.append(record.id)
            info(reporter, f"removed incomplete backup {record.id}")
    for backup_id in repo.sweep_deleted(database):
        info(reporter, f"removed what a killed delete left of backup {backup_id}")
    return removed


def streams_to(ctx: Context, upload: bool = True) -> S3Repository | None:
    """The bucket a backup is written straight into (``keep_local = false``), or None: to the local disk."""
    bucket = ctx.catalog.s3
    return bucket if bucket is not None and upload and not bucket.config.keep_local else None


def run_backup(ctx: Context, db: DatabaseConfig, *, reason: str = "scheduled", lock_held: bool = False,
               upload: bool = True) -> BackupRecord:
    """Take one backup of ``db`` into the local repository (or, with ``keep_local = false``, straight into
    the bucket) and return its committed record. ``lock_held``: the caller holds the database's lock
    already (restore's safety backup, after its heal). With S3 configured the lock extends to the bucket,
    which other hosts may write."""
    settings, began = ctx.settings, time.monotonic()  # "auto"'s budget counts the backup's whole time from here
    with journaled(settings, "backup", db.database) as run, contextlib.ExitStack() as held:
        ensure_repository(settings.repository)
        if not lock_held:
            held.enter_context(database_lock(settings.repository, db.database, "backup"))
        bucket, streaming = ctx.catalog.s3, streams_to(ctx, upload)
        if bucket is not None and upload:
            try:
                held.enter_context(bucket_lock(bucket, db.database, "backup", lambda said: warn(ctx.reporter, said)))
            except (S3Unreachable, S3Refused, ForeignLock) as exc:
                if streaming is not None:
                    raise
                # The local backup goes ahead under the local lock; its upload will fail and say why (exit 1,
                # or 2 for credentials): keys that expired, a bucket renamed or a lock object planted in it must
                # not stop the backups too.
                warn(ctx.reporter, f"S3 lock not taken, the backup goes ahead under this host's lock: {exc.message}")
            else:
                _abort_abandoned(ctx, bucket, db.database)
        if not lock_held:
            swap.heal_swap(settings, db, db.database, ctx.reporter)  # a replace killed mid-swap: its name back
        try:
            record = _backup(ctx, db, reason, streaming, began)
        except BackupToolError as exc:  # a journal left for a person may be why (the database closed): said with it
            if left := swap.left_alone(settings, db, db.database):
                exc.add_note(left)
            raise
        run.backup_id = record.id
        return record


def _abort_abandoned(ctx: Context, bucket: S3Repository, database: str) -> None:
    """Under the bucket's lock: the multipart uploads killed runs left in ``database``'s folder are aborted (the
    store bills their parts until then). Its failure is said and never stops the backup."""
    try:
        for key in bucket.abort_abandoned(database, ctx.now()):
            info(ctx.reporter, f"aborted the unfinished upload {bucket.url(key)} a killed run left")
    except BackupToolError as exc:
        warn(ctx.reporter, f"unfinished uploads in {bucket.url(bucket.database_folder(database))} not aborted: "
                           f"{exc.message}")


def _backup(ctx: Context, db: DatabaseConfig, reason: str, bucket: S3Repository | None,
            began: float) -> BackupRecord:
    settings, reporter = ctx.settings, ctx.reporter
    repo = LocalRepository(settings.repository)
    reporter(StepStarted("prepare", f"database {db.database}"))
    clean_incomplete(repo, db.database, reporter)
    scratch.clean_leftovers(settings, db, reporter)
    reporter(StepFinished("prepare"))
    return _dump(ctx, db, bucket or repo, reason, began)


def _quietly(action: Callable[[], object], what: str, reporter: Reporter) -> None:
    """Run one cleanup step after a failure; its own failure goes to the log so it never hides the first one."""
    try:
        action()
    except Exception as exc:
        warn(reporter, f"while cleaning up, {what} failed: {one_line(exc)}")


def _dump(ctx: Context, db: DatabaseConfig, repo: LocalRepository | S3Repository, reason: str,
          began: float) -> BackupRecord:
    settings, reporter, cancel, now = ctx.settings, ctx.reporter, ctx.cancel, ctx.now
    reporter(StepStarted("snapshot"))
    with exported_snapshot(db, settings.pg_bin_dir, cancel, takers=("pg_dump", dump_session.TAKER),
                           hide=settings.password_variables) as snapshot:
        pg_dump = dump_command(settings, snapshot.id)  # before the folder: a pg_bin_dir without it leaves none
        started = now()
        started_clock = time.monotonic()
        try:
            writer = repo.new_backup(db.database, started)
        except OSError as exc:  # before the space check: a disk full to the last block refuses even a folder
            raise disk_full(exc, settings.repository, "making the backup's folder") or exc from None
        backup_id, file_name = writer.id, writer.file_name
        app_name = f"{pg.APP_NAME} pg_dump {backup_id}"[:63]  # how the lock notice finds its session
        dump_began = time.monotonic()
        proc = subprocess.Popen(
            pg_dump, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**pg.child_env(db, hide=settings.password_variables), "PGAPPNAME": app_name}, bufsize=0,
            process_group=pg.OWN_GROUP,
        )
        assert proc.stdout is not None
        stdout_fd = proc.stdout.fileno()
        widen_pipe(stdout_fd)
        if settings.dump_nice:
            with contextlib.suppress(OSError):  # gone already: the dump's own error says why
                os.setpriority(os.PRIO_PROCESS, proc.pid, settings.dump_nice)
        session = DumpSession(snapshot, db, settings.lock_wait_timeout_s, stop_dump=lambda: pg.signal_group(proc))
        dumped = [0]
        level = settings.compression_level
        recipients = settings.encryption.recipients  # new backups go to today's recipients: rotation is a config edit
        encrypt = " | age" if recipients else ""
        notice = table_locks.notice_waits(db, app_name, settings.lock_wait_timeout_s, lambda: dumped[0] > 0,
                                          reporter)
        beside = ThreadPoolExecutor(1, "pg-dump-version")  # its --version run while the dump goes, not after it
        try:
            session.start()  # psql counts in the snapshot while pg_dump starts
            # The space check, while pg_dump connects and reads its catalog: nothing is written before it.
            previous = ctx.catalog.list(db.database, include_incomplete=False)
            if not isinstance(repo, S3Repository):  # streamed to a bucket, nothing lands on this disk
                expected, basis = expected_size(previous, snapshot.database_bytes)
                check_backup_space(settings, db.database, expected, basis)
            expected_raw = previous[0].raw_bytes if previous else None  # a total for progress bars
            # The dump's size for "auto"'s budget: the last one's, grown as the database grew; a first backup's is
            # taken as half the database (indexes are not dumped)
            dump_size = (int(previous[0].raw_bytes * grown(previous[0], snapshot.database_bytes)) if previous
                         else snapshot.database_bytes // 2)
            reporter(StepFinished("snapshot", detail=snapshot.id))

            def on_bytes(done: int) -> None:
                if not dumped[0]:
                    snapshot.taken_by("pg_dump")  # it takes the snapshot before its first byte
                dumped[0] = done
                reporter(BytesProgress("dump", done, expected_raw))

            reporter(StepStarted("dump", f"pg_dump | zstd {'--adapt' if level == 'auto' else f'-{level}'}{encrypt} | "
                                         f"sha256 > {file_name}"))
            # pg_dump found again in that thread, not on the main one before the dump's first read
            dump_version = beside.submit(lambda: pg.tool_version(pg.tool_path("pg_dump", settings.pg_bin_dir),
                                                                             settings.password_variables))
            head = bytearray()  # the dump's first bytes: an archive's magic, checked once pg_dump has ended
            read_dump = pipe_reader(stdout_fd, cancel)

            def read(n: int) -> bytes:
                data = read_dump(n)
                if len(head) < len(ARCHIVE_MAGIC):
                    head.extend(data[:len(ARCHIVE_MAGIC) - len(head)])
                return data

            # A dump stuck behind a lock sends nothing to check on: the hook stops it on a cancel.
            with cancel.hook(lambda: pg.signal_group(proc)), niced(settings.dump_nice):
                stats = compress(
                    read,
                    writer.sink(),
                    level=level,
                    threads=settings.compression_threads or len(usable_cpus()),
                    cancel=cancel,
                    on_bytes=on_bytes,
                    stages=write_stages(recipients),
                    slowdown=settings.compression_slowdown / 100,
                    backup=WholeBackup(began, dump_began, dump_size, previous[0].compression_kept if previous else 0),
                )
            stderr = proc.stderr.read() if proc.stderr else b""
            code = pg.wait_for(proc, cancel)  # ended by the hook: cancelled, not "pg_dump failed"
            if code != 0:
                session.raise_if_failed()  # it stopped the dump: its error is the cause
                raise _dump_failure(settings, db, stderr, code)
            if head != ARCHIVE_MAGIC:  # a wrapper or a stand-in that ends 0 with nothing, or not a dump, to show
                raise BackupToolError(f"pg_dump ended without error but wrote no custom-format archive ("
                                      f"{'nothing' if not head else f'its output began {bytes(head)!r}'}): "
                                      f"check pg_bin_dir and what its pg_dump is")
            reporter(StepFinished("dump", detail=f"{stats.raw_bytes} bytes"))
            if level == "auto":
                alone = f"; pg_dump alone went at {human_bytes(int(stats.dump_pace))}/s" if stats.dump_pace else ""
                info(reporter, f"zstd levels used: {levels_said(stats.levels)}{alone}")
            if stats.compresses_poorly:
                ratio = stats.raw_bytes / max(1, stats.stored_bytes)
                info(reporter, f"{db.database}'s data compresses no better at any level (random or already "
                               f"compressed bytes, as they are or in hex: {ratio:.2f}x): stored at zstd's cheapest "
                               "level instead of spending CPU on it")
            reporter(StepStarted("row counts"))
            server, counts = session.result()
            reporter(StepFinished("row counts", detail=plural(len(counts), "table")))
            finished = now()
            record = BackupRecord(
                id=backup_id,
                database=db.database,
                created_at=utc_iso(started, milliseconds=True),
                finished_at=utc_iso(finished, milliseconds=True),
                duration_s=round(time.monotonic() - started_clock, 3),
                format="custom",
                compression="zstd",
                compression_level=int(max(stats.levels, key=lambda k: stats.levels[k], default="0")),
                compression_levels=stats.levels if level == "auto" else {},
                compression_kept=stats.kept_level,
                raw_bytes=stats.raw_bytes,
                stored_bytes=stats.stored_bytes,
                sha256=stats.stored_sha256,
                file_name=file_name,
                server_version=server.version,
                tool_versions={"pg_dump": dump_version.result(), "backup-tui": __version__},
                row_counts=counts,
                database_info=server.database_info,
                reason=reason,
                host=this_host(),
                encryption=ENCRYPTION if recipients else "",
                recipients=recipients,
                manifest_version=ENCRYPTED_MANIFEST_VERSION if recipients else MANIFEST_VERSION,
            )
            reporter(StepStarted("commit", "sidecar, then manifest"))
            committed = writer.commit(record)
            reporter(StepFinished("commit"))
            return committed
        except BaseException as exc:
            # Each step on its own: the server may be gone, and that must not replace the error being raised.
            _quietly(lambda: pg.kill_group(proc), "stopping pg_dump", reporter)
            writer.abandon()
            full = disk_full(exc, settings.repository, f"writing {backup_id}; the partial backup was removed")
            if full:
                raise full from None
            raise
        finally:
            session.close()  # stops where it is: a count still running is cancelled
            beside.shutdown(wait=False)
            notice.cancel()
            for pipe in (proc.stdout, proc.stderr):
                if pipe:
                    _quietly(pipe.close, "closing pg_dump's output", reporter)


def _dump_failure(settings: Settings, db: DatabaseConfig, stderr: bytes, code: int) -> BackupToolError:
    locked = table_locks.dump_failure(db, stderr.decode(errors="replace"), settings.lock_wait_timeout_s)
    return locked or pg.tool_failed("pg_dump", stderr, code)
