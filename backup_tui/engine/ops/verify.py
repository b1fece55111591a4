"""Verify backups. Quick: checksums, the stream decodes to its end, the archive reads.
Full: a test restore into a throwaway database with row counts compared, dropped after.

Every result goes into the backup's history with a readable report, and each
kind of damage is named: bit flip, truncation, missing or altered manifest or sidecar.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace

from backup_tui.engine.config import DatabaseConfig, Settings
from backup_tui.engine.core import names
from backup_tui.engine.core.encryption import KEY_REMEDY, KeyMissing, KeyProblem
from backup_tui.engine.core.errors import (
    EXIT_OK,
    EXIT_VERIFY,
    BackupToolError,
    Cancelled,
    ConfigError,
    LockHeldError,
    NotFoundError,
    VerificationError,
)
from backup_tui.engine.core.kinds import Reading, kind_of
from backup_tui.engine.core.manifest import InvalidRecord
from backup_tui.engine.core.models import BackupRecord, Verification, VerifyLevel, lacks_said, utc_iso
from backup_tui.engine.core.progress import (
    SIGNAL_CHECK_S,
    BytesProgress,
    CancelToken,
    Reporter,
    StepFinished,
    StepStarted,
    warn,
)
from backup_tui.engine.core.sizes import plural
from backup_tui.engine.ops import scratch
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.damage import NOT_THE_BACKUP
from backup_tui.engine.ops.journaled import journal_run
from backup_tui.engine.ops.keys import checked_reading, reading_for
from backup_tui.engine.ops.restore import (
    compare_counts,
    count_rows_in,
    record_history,
    restore_into,
    server_lacks,
)
from backup_tui.engine.postgres import pg
from backup_tui.engine.postgres.plain_guard import MadeWithCreate
from backup_tui.engine.storage import legacy
from backup_tui.engine.storage.catalog import Catalog
from backup_tui.engine.storage.locks import is_locked, reading_backup
from backup_tui.engine.storage.paths import OutsideRepository
from backup_tui.engine.stream.pipeline import StreamStats, decode, sha256_of
from backup_tui.engine.stream.sources import Source


class _Checks:
    """Collects passed checks, problems, and checks that could not run here, as the verification goes."""

    def __init__(self) -> None:
        self.passed: list[str] = []
        self.not_done: list[str] = []
        self.problems: list[str] = []

    def check(self, ok: bool, passed: str, problem: str) -> bool:
        (self.passed if ok else self.problems).append(passed if ok else problem)
        return ok


def _check_manifest(record: BackupRecord, checks: _Checks) -> None:
    """The repository checked the manifest's own checksum when it read it; the status says how it went."""
    if record.status == "incomplete":
        checks.problems.append(f"{record.reason}: the backup was never committed (interrupted run)")
    elif record.status == "damaged":  # its reason says what: a manifest altered, or a data file not as it says
        checks.problems.append(f"damaged: {record.reason}")
    else:
        checks.passed.append("manifest present, its checksum matches")


def _check_sidecar(catalog: Catalog, record: BackupRecord, checks: _Checks) -> None:
    name = f"{record.file_name}.sha256"
    try:  # read once, as every record of the repository is: no link followed, nothing huge read whole
        found = catalog.repository_of(record).read_sidecar(record)
    except (OSError, InvalidRecord, BackupToolError) as exc:
        why = exc.message if isinstance(exc, (InvalidRecord, BackupToolError)) else (exc.strerror or type(exc).__name__)
        checks.problems.append(f"sidecar unreadable: {name} ({why})")
        return
    if found is None:
        checks.problems.append(f"sidecar missing: {name}")
        return
    text = found.split()
    digest = legacy.sidecar_digest(text)
    if digest is None or len(text) < 2:
        md5 = bool(text) and re.fullmatch(r"[0-9a-fA-F]{32}", text[0]) is not None  # md5sum's, by an old script
        checks.problems.append(f"sidecar altered: {name} holds an md5 hash (32 hex digits), not a sha256" if md5
                               else f"sidecar altered: {name} is not in sha256sum format")
        return
    if record.sha256 and record.status != "legacy":  # an old scripts' dump has no manifest: its sha256 is this one
        checks.check(digest == record.sha256, "sidecar matches the manifest",
                     f"sidecar altered: {name} does not match the manifest's sha256")
    checks.check(text[1].lstrip("*").split("/")[-1] == record.file_name, "sidecar names the file",
                 f"sidecar altered: it names {text[1]!r}, not {record.file_name!r}")


def _sidecar_digest(catalog: Catalog, record: BackupRecord) -> str:
    """The checksum to hold the file against: the manifest's, else the sidecar's (legacy, damaged)."""
    if record.sha256:
        return record.sha256
    try:
        text = catalog.repository_of(record).read_sidecar(record)
    except (OSError, InvalidRecord, BackupToolError):
        return ""
    return (legacy.sidecar_digest(text.split()) if text else None) or ""


class _ArchiveLister:
    """``pg_restore --list`` fed the decoded stream on stdin; its output goes to a temp file, so a long
    listing can never fill a pipe and deadlock us. It stops reading after the table of contents."""

    def __init__(self, settings: Settings, record: BackupRecord) -> None:
        self._out = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finish()
        self._proc: subprocess.Popen[bytes] | None = None
        if kind_of(record).archive:
            self._proc = subprocess.Popen([pg.tool_path("pg_restore", settings.pg_bin_dir), "--list"],
                                          stdin=subprocess.PIPE, stdout=self._out, stderr=subprocess.STDOUT,
                                          env=pg.tool_env(settings.password_variables), process_group=pg.OWN_GROUP)
        self._open = self._proc is not None

    def feed(self, raw: bytes) -> None:
        if self._open and self._proc is not None and self._proc.stdin is not None:
            try:
                self._proc.stdin.write(raw)
            except BrokenPipeError:
                self._open = False

    def stop(self) -> None:
        """For a cancel: feeding a listing that stopped reading would block the verify for good."""
        if self._proc is not None:
            pg.signal_group(self._proc)

    def finish(self) -> tuple[int, str] | None:
        """(exit code, output), or None when the backup is not a custom archive."""
        try:
            if self._proc is None:
                return None
            if self._proc.stdin is not None:
                with contextlib.suppress(BrokenPipeError):
                    self._proc.stdin.close()
            code = self._proc.wait()
            self._out.seek(0)
            return code, self._out.read().decode(errors="replace")
        finally:
            self._out.close()


def stored_source(catalog: Catalog, record: BackupRecord) -> Source | str:
    """The record's stored bytes as the repository serves them, or why it will not (a link, say)."""
    try:
        return catalog.repository_of(record).open_stored(record)
    except BackupToolError as exc:
        return exc.message


def quick_checks(
    settings: Settings, catalog: Catalog, record: BackupRecord, source: Source | str, checks: _Checks,
    reporter: Reporter, cancel: CancelToken, reading: Reading | None,
) -> None:
    """``reading`` None: an encrypted backup and no key here; what needs none is checked (the stored bytes'
    size and sha256), the decode is not."""
    if record.status != "legacy":
        _check_manifest(record, checks)
    if not legacy.sidecar_missing(record):  # the old scripts' backups may lack one: see NO_SIDECAR below
        _check_sidecar(catalog, record, checks)
    if isinstance(source, str):
        checks.problems.append(f"data file not read: {source}")
        return
    size = source.size()
    if not checks.check(size is not None, "data file present", f"data file missing: {source.where}"):
        return
    assert size is not None
    if record.stored_bytes and record.status != "legacy":
        checks.check(size == record.stored_bytes, f"size {size} bytes as recorded",
                     f"truncated or extended: {size} bytes on disk, manifest says {record.stored_bytes}")
    if reading is None:
        stored, _ = sha256_of(source, cancel)
        checks.check(stored == _sidecar_digest(catalog, record), "sha256 of the stored (encrypted) bytes matches",
                     "checksum mismatch: the stored bytes changed since the backup (bit flip?)")
        return
    lister = _ArchiveLister(settings, record)
    tail = legacy.DumpTail()

    def sink(raw: bytes) -> None:
        lister.feed(raw)
        tail.feed(raw)

    on_bytes: Callable[[int], None] = lambda done: reporter(BytesProgress("verify", done, size))  # noqa: E731
    stats: StreamStats | None = None
    listing: tuple[int, str] | None = None
    try:
        # Until the listing has exited, not only fed: a cancel (SIGTERM) that came while the verify waited for
        # it found no hook and the wait went on for good behind a stuck pg_restore.
        with cancel.hook(lister.stop):
            try:
                stats = decode(source, reading, cancel=cancel, sink=sink, on_bytes=on_bytes,
                               hash_raw=bool(record.raw_sha256))  # older manifests carry one
            finally:
                listing = lister.finish()
        cancel.raise_if_cancelled()  # the listing was stopped: its failure is ours, not the backup's
    except NOT_THE_BACKUP:
        raise  # a bucket out of reach says nothing about the backup: the run fails (exit 1), nothing is recorded
    except BackupToolError as exc:
        checks.problems.append(exc.message)
    expected = _sidecar_digest(catalog, record)
    if stats is None:
        # The decoder stopped early: hash the whole file anyway, since "the bytes changed" is the clearer news.
        stored_sha256, _ = sha256_of(source, cancel)
        if expected and stored_sha256 != expected:
            checks.problems.insert(0, "checksum mismatch: the stored bytes changed since the backup (bit flip?)")
        return  # a broken stream makes the listing fail too: said once
    checks.passed.append(f"{record.compression} stream decodes to the end ({stats.raw_bytes} raw bytes)")
    if expected:
        checks.check(stats.stored_sha256 == expected, "sha256 of the stored bytes matches",
                     "checksum mismatch: the stored bytes changed since the backup (bit flip?)")
    elif legacy.sidecar_missing(record):
        checks.passed.append(legacy.NO_SIDECAR)  # the stream and completion checks decide
    elif not any(problem.startswith("sidecar ") for problem in checks.problems):  # said once: the sidecar's own
        checks.problems.append("no checksum to compare against (no manifest or sidecar)")
    if record.raw_sha256:
        checks.check(stats.raw_sha256 == record.raw_sha256, "sha256 of the raw dump matches",
                     "raw dump checksum differs from the manifest")
    if kind_of(record).ends_with_marker:
        checks.check(tail.complete, "plain dump ends with pg_dump's completion line", legacy.CUT_SHORT)
    if listing is not None:
        code, text = listing
        entries = [ln for ln in text.splitlines() if ln and not ln.startswith(";")]
        readable = checks.check(code == 0, f"pg_restore --list reads the archive ({len(entries)} entries)",
                                f"pg_restore cannot read the archive: {pg.stderr_summary(text)}")
        if readable and not entries and record.row_counts:  # an empty database's archive lists none: no damage
            checks.problems.append("the archive lists no entries, where the manifest counted "
                                   + plural(len(record.row_counts), "table"))


def _lacks_note(lacking: str) -> str:
    """Why no test restore runs here, when this server lacks what the backup needs (roles, extensions...)."""
    return f"this server lacks what the backup needs ({lacking}); verify it fully on a server that has them"


class _NotJudgedHere(Exception):
    """No test restore of this backup can be made on this server, and the backup is not to blame: why, as the
    note the quick checks carry instead of a FAILED (which would cost the backup its retention slot)."""


def full_checks(
    settings: Settings, record: BackupRecord, source: Source, server: DatabaseConfig, checks: _Checks,
    reporter: Reporter, cancel: CancelToken,
) -> dict[str, list[int | None]]:
    """Restore into a throwaway database, compare counts, always drop it. Raises ``_NotJudgedHere`` where no test
    restore can be made here (the backup's locale, an old scripts' dump made with --create or naming a role this
    server lacks)."""
    scratch.clean_leftovers(settings, server, reporter)
    name = names.verify_name(record.database, secrets.token_hex(4))
    # The backup is on trial, not this server's roles: the database too is ours, in the default tablespace.
    try:
        work = scratch.create_database(settings, server, name, pg.carried(record.database_info, owner=False,
                                                                          tablespace=False), "verify")
    except scratch.UnlikeServer as exc:
        raise _NotJudgedHere(f"{exc.message}; or verify it fully on a server that has it") from None
    try:
        started = time.monotonic()
        # The backup is on trial, not this server: objects go to us, privileges and tablespaces are left out.
        restore_into(settings, server, record, source, name, reporter=reporter, cancel=cancel,
                     no_owner=True, no_tablespaces=True)
        record_history(settings, record, time.monotonic() - started)
        checks.passed.append(f"test restore into {name} succeeded")
        table, problems = compare_counts(record.row_counts, count_rows_in(server, name))
        if record.row_counts:
            checks.check(not problems, f"row counts match the manifest ({plural(len(record.row_counts), 'table')})",
                         "; ".join(problems))
        else:
            checks.passed.append("no row counts recorded (legacy backup): restore success only")
        return table
    except NOT_THE_BACKUP:
        raise  # the server failed under the test restore (or it was stopped): the backup is not judged
    except MadeWithCreate as exc:  # the old scripts' pg_dump -C: our load cannot take it, the dump is not at fault
        raise _NotJudgedHere(exc.message) from None
    except BackupToolError as exc:
        role = _MISSING_ROLE.search(exc.message) if not kind_of(record).archive else None
        if role:  # a plain dump's OWNER TO and GRANT run as they are: this server's lack, not the backup's fault
            raise _NotJudgedHere(_lacks_note(lacks_said((), (), (), (role[1],)))) from None
        checks.problems.append(f"test restore failed: {exc.message}")
        return {}
    finally:
        scratch.drop_database(settings, server, work)


def _verdict(result: Verification) -> tuple[int, str] | None:
    return None if result.ok else (EXIT_VERIFY, result.problems[0] if result.problems else "failed")


@dataclass(frozen=True)
class VerifyPlan:
    """What a verification will do, decided before it reads a byte: the level that can run here, where
    the bytes come from, what cannot be checked on this host and why it would refuse."""

    record: BackupRecord
    asked: VerifyLevel
    level: VerifyLevel  # a full check falls back to quick where no configured server can take the test restore
    reads_from: str
    not_done: tuple[str, ...] = ()
    refusal: str | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.refusal is None else ConfigError.exit_code


def plan_verify(ctx: Context, record: BackupRecord, level: VerifyLevel = "full") -> VerifyPlan:
    """The plan for checking ``record``; reads at most an encrypted backup's header, changes nothing."""
    source = stored_source(ctx.catalog, record)
    reads_from = source if isinstance(source, str) else source.where
    if level == "full" and record.encryption and not isinstance(source, str) and source.size() is not None:
        try:  # a full check decrypts: without the key it cannot start, and the backup is not at fault
            checked_reading(ctx.settings, record, source)
        except KeyProblem as exc:
            return VerifyPlan(record, level, level, reads_from, refusal=exc.message)
        except VerificationError:
            pass  # damage where the header is: the run finds it, names it and records it
    if level == "full" and _server_for(ctx.settings, record) is None:
        return VerifyPlan(record, level, "quick", reads_from, (
            f"no test restore: database {record.database!r} is not configured, so there is no server to restore it "
            "on (add it to the config for a full verification)",))
    return VerifyPlan(record, level, level, reads_from)


def verify_backup(ctx: Context, record: BackupRecord, level: VerifyLevel = "full") -> Verification:
    """Plan and run one verification: what the CLI, the app and the demo call. A plan that refuses (no key
    for a full check) is said before the run, as the CLI says it: nothing ran, so no failed run is recorded
    for the health to call the database failing over."""
    plan = plan_verify(ctx, record, level)
    if plan.refusal:
        raise ConfigError(plan.refusal)
    return run_verify(ctx, plan)


@journal_run("verify", lambda a: (a["plan"].record.database, a["plan"].record.id), _verdict)
def run_verify(ctx: Context, plan: VerifyPlan) -> Verification:
    """Carry out ``plan``, store the result in the backup's history and write a report. Never raises for
    damage: damage is the result."""
    settings, catalog, reporter, cancel, now = ctx.settings, ctx.catalog, ctx.reporter, ctx.cancel, ctx.now
    if plan.refusal:
        raise ConfigError(plan.refusal)  # a key problem keeps its exit code 2 and its words
    record, level = plan.record, plan.level
    with reading_backup(settings.repository, record.id):  # prune spares it until the result is in
        if catalog.holds(record):
            with contextlib.suppress(OutsideRepository):  # a planted link: judged as listed, read nowhere
                # the caller's copy may be older; the copies it names keep the verdict too
                record = replace(catalog.repository_of(record).refresh(record), locations=record.locations)
        if not record.sha256 and not record.is_valid and is_locked(settings.repository, record.database):
            # No manifest while a run holds the lock: a backup still being written (or between its sidecar and
            # its manifest). A verdict now would stay in its history once it commits, and a good backup would
            # read "failed check" for good.
            raise LockHeldError(f"{record.id} is not committed yet and a run holds the lock of "
                                f"{record.database!r} (a backup under way?): verify it once that run has ended")
        started_at, started = now(), time.monotonic()
        reporter(StepStarted("verify", f"{record.id} ({level})"))
        checks = _Checks()
        checks.not_done.extend(plan.not_done)
        source = stored_source(catalog, record)
        reading = _reading(settings, record, source, level, checks)
        quick_checks(settings, catalog, record, source, checks, reporter, cancel, reading)
        counts: dict[str, list[int | None]] = {}
        if level == "full":
            server = _server_for(settings, record)
            if checks.problems or isinstance(source, str):
                checks.problems.append("test restore skipped: the quick checks failed")
            elif server is None:  # planned with a server that has since left the config
                checks.problems.append(f"test restore skipped: database {record.database!r} is no longer configured")
            elif lacking := _test_restore_blockers(settings, record, source, server):
                level = "quick"  # what was done, so the history does not claim a test restore
                checks.not_done.append(f"no test restore: {_lacks_note(lacking)}")
            else:
                try:
                    counts = full_checks(settings, record, source, server, checks, reporter, cancel)
                except _NotJudgedHere as exc:  # as for what the server lacks above: no failure recorded
                    level = "quick"  # what was done, so the history does not claim a test restore
                    checks.not_done.append(f"no test restore: {exc}")
        result = Verification(
            at=utc_iso(started_at),
            level=level,
            ok=not checks.problems,
            problems=tuple(checks.problems),
            checks=tuple(checks.passed),
            duration_s=round(time.monotonic() - started, 3),
            row_counts=counts,
            not_done=tuple(checks.not_done),
        ).checked(record)  # as recorded: of this backup's bytes
        if catalog.holds(record):
            catalog.record_verification(record, result, reporter)
    reporter(StepFinished("verify", ok=result.ok, detail="; ".join(result.problems) or "ok"))
    return result


def _reading(settings: Settings, record: BackupRecord, source: Source | str, level: VerifyLevel,
             checks: _Checks) -> Reading | None:
    """How to read the stored bytes here, the key held against them first; None for an encrypted backup
    without a key, which a quick check takes as far as it can. A key that is missing for a full check, or
    wrong, raises (exit 2) before anything is created or recorded: the backup is not at fault."""
    try:
        if isinstance(source, str) or source.size() is None:
            return reading_for(settings, record)  # the quick checks name the missing file
        reading = checked_reading(settings, record, source)
    except KeyMissing as exc:
        if level == "full":
            raise
        checks.not_done.append(f"decode not checked: {exc.problem}; to check it, {KEY_REMEDY}")
        return None
    except VerificationError as exc:  # the header or the manifest's recipients: damage, and the decode says more
        checks.problems.append(exc.message)
        return reading_for(settings, record)
    if reading.identities:
        checks.passed.append("the age header opens with the key given, one of the backup's recipients")
    return reading


def _test_restore_blockers(settings: Settings, record: BackupRecord, source: Source, server: DatabaseConfig) -> str:
    """What this server lacks that a test restore cannot leave out; '' when it can run.

    Owners, privileges and tablespaces are left out of a test restore, but a policy's role and an
    extension are part of the schema: without them the restore fails, and a good backup would be
    recorded as failed (and lose its retention slot) only because it was verified on the wrong server.
    """
    with pg.connect(server, settings.maintenance_db) as conn:  # with the test restore's own leaving-out
        lacks = server_lacks(settings, conn, record, source, no_owner=True, no_tablespaces=True)
    return lacks_said(lacks.policy_roles, lacks.extensions, lacks.tablespaces, lacks.roles)


def _server_for(settings: Settings, record: BackupRecord) -> DatabaseConfig | None:
    """Where a test restore of the record can run; None for a database no longer configured."""
    try:
        return settings.server_for(record.database)
    except NotFoundError:
        return None


# psql's words when a plain dump's OWNER TO or GRANT names a role this server lacks (pg_restore --no-owner
# leaves those out of an archive; psql runs a plain dump's statements as they are)
_MISSING_ROLE = re.compile(r'role "((?:[^"]|"")+)" does not exist')

# Each full verification restores into a scratch database of its own: a server session, a pg_restore and a
# decoder each. Sixteen at once already outruns any machine's cores; 1,000 (a typo) would exhaust the server's
# connections and this host's memory before the first check ended.
MAX_PARALLEL = 16


def verify_many(
    ctx: Context, records: list[BackupRecord], level: VerifyLevel, *, parallel: int = 1,
) -> list[tuple[BackupRecord, Verification | BackupToolError]]:
    """Verify several backups, ``parallel`` at a time, with one context; results in the order given. A backup
    that could not be verified (its server down, a bucket out of reach) has its error in its result's place: the
    first one raised said one line naming neither backup nor database, and hid every other result."""
    cancel = ctx.cancel
    if level == "full":  # a missing key is said once, before any verification starts
        for record in records:
            if record.encryption:
                reading_for(ctx.settings, record)

    def one(record: BackupRecord) -> tuple[BackupRecord, Verification | BackupToolError]:
        try:
            return record, verify_backup(ctx, record, level)
        except Cancelled:
            raise  # a stop is the whole run's, not one backup's
        except BackupToolError as exc:  # journaled as this backup's failed run; the others go on
            return record, exc

    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="verify") as pool:
        futures = [pool.submit(one, record) for record in records]
        try:
            # Wait in short naps: a signal the kernel hands to a worker thread interrupts no wait of ours,
            # and Python runs its handler in this thread only once this thread runs again.
            while wait(futures, timeout=SIGNAL_CHECK_S).not_done:
                pass
            results = [future.result() for future in futures]
        except BaseException:
            # Ctrl+C or SIGTERM reaches the main thread only: the workers stop at their next chunk, drop
            # their scratch databases and record nothing (an interrupted check is not a failed backup).
            cancel.cancel()
            raise
    return [(record, result) for record, result in results
            if (isinstance(result, Verification) and result.ok) or not _deleted_meanwhile(ctx, record)]


def _deleted_meanwhile(ctx: Context, record: BackupRecord) -> bool:
    """The backup went while the run went (a prune or a delete took it after the list was read): its files missing
    is no damage, and "verification failed: data file missing", exit 4, sent the operator of a cron'd ``verify
    --all`` looking for damage that was retention at work. Said, and left out of the results."""
    try:
        gone = not ctx.catalog.holds(record)
    except BackupToolError:
        return False  # the bucket does not answer: its failure is reported as it came
    if gone:
        warn(ctx.reporter, f"{record.id} was deleted while the backups were verified (a prune or a delete): "
                           "not verified")
    return gone
