"""Send a local backup to the bucket: the dump, the sidecar, the manifest last (the commit point, as
on disk). The file goes up in ranges read from disk (``storage.s3_upload.upload_file``), hashed as they
are read and held against the manifest before the object is completed; the store's size and checksums
are then held against what was sent.
A failure aborts the multipart upload and keeps the local copy; the next backup or ``upload``
sends what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from backup_tui.engine.core.errors import EXIT_OK, EXIT_USAGE, BackupToolError, ConfigError, VerificationError
from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.core.parts import file_part_size, part_count
from backup_tui.engine.core.progress import BytesProgress, Reporter, StepFinished, StepStarted, info, warn
from backup_tui.engine.core.report import render_report
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.journaled import journal_run
from backup_tui.engine.storage.local import LocalRepository
from backup_tui.engine.storage.locks import reading_backup
from backup_tui.engine.storage.s3 import DATA_NOT_AS_LISTED, MIB, S3Repository, stored_name
from backup_tui.engine.storage.s3_upload import SourceChanged, threshold


@dataclass(frozen=True)
class UploadPlan:
    """What ``upload`` would send, and where; ``refusal`` when it would send nothing."""

    backup_id: str
    database: str
    source: str  # the local file
    destination: str  # s3://bucket/key
    size_bytes: int
    parts: int  # 1: a single PUT
    already_there: bool
    refusal: str | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_USAGE if self.refusal else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "exit_code": self.exit_code}


def bucket_of(ctx: Context) -> S3Repository:
    repo = ctx.catalog.s3
    if repo is None:
        raise ConfigError("S3 is not configured: add an [s3] table to the config, or set BACKUP_ENABLE_S3=true "
                          "and S3_BUCKET")
    return repo


def plan_upload(ctx: Context, record: BackupRecord) -> UploadPlan:
    """Reads the catalog only: the local copy to send, its object's key, how many parts."""
    repo = bucket_of(ctx)
    config = repo.config
    parts = 1  # as upload_file cuts it (core.parts): one place decides
    if record.stored_bytes > threshold(config):
        parts = part_count(record.stored_bytes, file_part_size(record.stored_bytes, config.part_size_mib * MIB))
    refusal = None
    if "local" not in record.locations and record.status != "legacy":
        refusal = f"{record.id} has no local copy to upload (it is in {', '.join(record.locations) or 'no place'})"
    elif not record.is_valid:
        refusal = f"{record.id} is {record.status} ({record.reason}): only a complete backup is uploaded"
    destination = repo.url(repo.data_key(record)) if refusal is None else ""
    return UploadPlan(backup_id=record.id, database=record.database, source=record.path, destination=destination,
                      size_bytes=record.stored_bytes, parts=parts, already_there=NAME_S3 in record.locations,
                      refusal=refusal)


NAME_S3 = "s3"


@journal_run("upload", lambda a: (a["record"].database, a["record"].id))
def run_upload(ctx: Context, record: BackupRecord) -> BackupRecord:
    """Send ``record``'s local copy, unless the bucket has it already; the record as the bucket holds it."""
    plan = plan_upload(ctx, record)
    if plan.refusal:
        raise ConfigError(plan.refusal)
    repo, reporter = bucket_of(ctx), ctx.reporter
    local = ctx.catalog.local
    with reading_backup(ctx.settings.repository, record.id):  # prune spares it while it is on its way
        manifest_there = repo.has_manifest(record)
        if manifest_there:
            there = repo.refresh(record)
            same = not record.sha256 or there.sha256 == record.sha256
            if there.is_valid and same and there.failed_last_check:  # "in s3 already", exit 0: the bad copy stayed
                verdict = there.verdict
                why = "; ".join(verdict.problems[:2]) if verdict is not None and verdict.problems else "failed"
                raise VerificationError(f"{record.id}: the copy in {repo.where} failed its last check ({why}); nothing "
                                        f"was sent: delete that copy (backup-headless delete {record.id} --location s3)"
                                        ", then upload this one again")
            if there.is_valid and same:
                info(reporter, f"{record.id} is in {repo.where} already")
                return there
            if not (same and there.reason.startswith(DATA_NOT_AS_LISTED)):
                raise VerificationError(f"{record.id}: the bucket holds a different backup under this id "
                                        f"({there.reason or 'another checksum'}); nothing was sent")
            warn(reporter, f"{record.id}: in {repo.where} {there.reason}: sent again")  # its manifest, no bytes
        return _send(ctx, repo, local, local.refresh(record) if record.status != "legacy" else record,
                     manifest_there=manifest_there)


def _send(ctx: Context, repo: S3Repository, local: LocalRepository, record: BackupRecord, *,
          manifest_there: bool = False) -> BackupRecord:
    reporter, cancel = ctx.reporter, ctx.cancel
    key = repo.data_key(record)
    aborted = repo.abort_unfinished(key)
    if aborted:
        info(reporter, f"aborted {aborted} unfinished upload(s) of {record.id} a failed run left")
    source = local.open_stored(record)
    total = source.size()
    if total is None:
        raise VerificationError(f"{record.id}: its local file {source.where} is missing; nothing was sent")
    reporter(StepStarted("upload", f"{source.name} ({total:,} bytes) -> {repo.url(key)}"))
    try:
        with source.open() as src:
            sent = repo.send_file(key, src, on_sent=lambda n: reporter(BytesProgress("upload", n, total)),
                                  cancel=cancel, expected_sha256=record.sha256)
    except SourceChanged as exc:
        raise VerificationError(f"{record.id}: the local copy {exc.message}: nothing was uploaded; verify it") from None
    reporter(StepFinished("upload", detail=f"{sent.total:,} bytes in {len(sent.parts)} part(s)"))
    reporter(StepStarted("commit", "sidecar, then manifest"))
    # Failing here leaves the object without its manifest: the next upload redoes it.
    committed = repo.commit(replace(record, sha256=sent.sha256, stored_bytes=sent.total,
                                    file_name=stored_name(record), status="valid"), manifest_there=manifest_there)
    reporter(StepFinished("commit"))
    if not manifest_there:
        _send_history(repo, record, committed, reporter)
    return committed


def _send_history(repo: S3Repository, record: BackupRecord, committed: BackupRecord, reporter: Reporter) -> None:
    """The local copy's checks go up with it: the bytes just sent are the ones they read (hashed as they went,
    held against the manifest and the store's checksums). A later check's pass stays with the copy it reads
    (``Catalog.record_verification``); this is the one moment both copies are known to be one. Without it a
    backup verified before its upload (the bucket was down at backup time) read "never verified" in the
    bucket, and everywhere once prune took the local copy. A check that cannot be sent is said; the upload
    stands."""
    for result in record.verifications:
        try:
            repo.add_verification(committed, result, render_report(committed, result))
        except BackupToolError as exc:
            warn(reporter, f"{record.id}: its checks were not copied to {repo.where}: {exc.message}")
            return


def missing_from_bucket(ctx: Context, database: str | None = None) -> list[BackupRecord]:
    """Our own complete local backups the bucket lacks, oldest first: what the next run sends."""
    records = [r for r in ctx.catalog.list(database, include_incomplete=False)
               if r.status == "valid" and "local" in r.locations and NAME_S3 not in r.locations]
    return sorted(records, key=lambda r: (r.created_at, r.id))

