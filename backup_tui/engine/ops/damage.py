"""Damage found outside a verify is recorded as a verify records it. A restore's plan reads the stored file's
first bytes (an age header, the archive's table of contents) and its run reads them all: what they find wrong
with the stored bytes goes into the backup's history as a failed check, the written-once record a failed
verify writes, so both faces show the backup damaged and health names it (it was still "valid, never verified").

Only damage of the stored bytes is recorded (``DamageFound``, raised where a read finds it): a server that is
down, a disk that is full, a bucket out of reach or a wrong key say nothing about the backup.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from backup_tui.engine.core.errors import (
    AuthenticationFailed,
    BackupToolError,
    Cancelled,
    ConnectionFailed,
    LockHeldError,
    NotFoundError,
    ServerFailed,
    SpaceError,
    VerificationError,
)
from backup_tui.engine.core.models import BackupRecord, Verification, utc_iso
from backup_tui.engine.core.progress import warn
from backup_tui.engine.ops.context import Context
from backup_tui.engine.storage.s3 import S3Refused, S3Unreachable

# How a check's surroundings fail, or its operator stops it: the server (down, gone, out of space, refusing our
# credentials), the bucket (out of reach, refusing us), a lock, a cancel. A check that ends so says nothing of
# the backup: the run fails and nothing goes into the backup's history (a good backup recorded as failed loses its
# standing). Not every configuration error: a key the manifest names that no longer opens its header is damage.
NOT_THE_BACKUP: tuple[type[BackupToolError], ...] = (
    Cancelled, ConnectionFailed, ServerFailed, SpaceError, AuthenticationFailed, LockHeldError, S3Unreachable,
    S3Refused)


class DamageFound(VerificationError):
    """The stored bytes are not what the backup wrote (exit 4). ``message`` is what the operation says (its
    refusal); ``damage`` the finding alone, as a verify's report would word it."""

    def __init__(self, message: str, damage: str) -> None:
        super().__init__(message)
        self.damage = damage


def record_damage(ctx: Context, record: BackupRecord, damage: str, found_by: str) -> None:
    """A failed quick check of ``record`` naming ``damage``; nothing when its last check already said it."""
    last = record.last_verification
    if last is not None and not last.ok and damage in last.problems:
        return  # planned again (the terminal app plans ahead): one record of one finding
    if not ctx.catalog.holds(record):
        return  # deleted since it was listed: nothing to write beside
    result = Verification(at=utc_iso(ctx.now()), level="quick", ok=False, problems=(damage,),
                          not_done=(f"found {found_by}: the other checks of a verify did not run",))
    ctx.catalog.record_verification(record, result, ctx.reporter)


P = ParamSpec("P")
R = TypeVar("R")


def records_damage(
    found_by: str, which: Callable[[Mapping[str, Any]], BackupRecord],
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Around an operation that takes ``ctx``: ``DamageFound`` is recorded against the backup ``which`` names
    from its arguments (by name), then raised on unchanged."""

    def wrap(operation: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(operation)

        @functools.wraps(operation)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return operation(*args, **kwargs)
            except DamageFound as exc:
                bound = signature.bind(*args, **kwargs)
                ctx: Context = bound.arguments["ctx"]
                try:
                    record_damage(ctx, which(bound.arguments), exc.damage, found_by)
                except NotFoundError:
                    pass  # deleted meanwhile: nothing to record it beside
                except (BackupToolError, OSError) as failed:  # a read-only repository: the damage is still said
                    warn(ctx.reporter, f"the damage found could not be recorded: {failed}")
                raise

        return run

    return wrap
