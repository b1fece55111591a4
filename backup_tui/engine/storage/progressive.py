"""The catalog in two steps, for a front end that must show something at once: every backup from what the
listings tell (a bucket's copies ``unread`` until their manifests are read), then the same catalog again as the
bucket's records arrive. ``Catalog.list`` stays the one-step answer the CLI and every operation use.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from functools import partial

from backup_tui.engine.core.copies import merge_copies
from backup_tui.engine.core.errors import NotFoundError
from backup_tui.engine.core.health import TREND_LENGTH
from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.storage.catalog import Catalog, merged
from backup_tui.engine.storage.repository import Repository
from backup_tui.engine.storage.s3 import S3Listing, S3Repository

FIRST_BATCH_S = 0.1  # the first filled catalog: soon, the newest backups of every database read by then
BATCH_S = 0.5  # then at most this often: each one is a re-judged dashboard and a table update


@dataclass
class InSteps:
    """``records``: the catalog now (merged, newest first). ``fill``: the catalog again, more of it read each
    time, the last one complete (``unread`` says how many copies are still to read)."""

    read: list[BackupRecord]  # the copies read in full already (the local repository's, a fresh listing's)
    listings: list[S3Listing] = field(default_factory=list)
    remote: list[list[BackupRecord]] = field(default_factory=list)  # each listing's copies, as read so far
    records: list[BackupRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.remote = [listing.quick() for listing in self.listings]
        self.records = self._merged()

    @property
    def unread(self) -> int:
        return sum(1 for copies in self.remote for r in copies if r.status == "unread")

    def _merged(self) -> list[BackupRecord]:
        return merged([*self.read, *(r for copies in self.remote for r in copies)])

    def fill(self, cancelled: Callable[[], bool] = lambda: False, first_s: float = FIRST_BATCH_S,
             every_s: float = BATCH_S) -> Generator[list[BackupRecord]]:
        """The catalog each time enough more is read (after ``first_s``, then every ``every_s``), and once at the
        end. Nothing when every copy was read already; stops early when ``cancelled``."""
        for n, listing in enumerate(self.listings):
            if not any(r.status == "unread" for r in self.remote[n]):
                continue
            copies = list(self.remote[n])
            due = time.monotonic() + first_s
            filling = listing.fill(cancelled)
            try:
                for index, record in filling:
                    copies[index] = record
                    if time.monotonic() >= due:
                        self.remote[n] = list(copies)
                        self.records = self._merged()
                        yield self.records
                        due = time.monotonic() + every_s
            finally:
                filling.close()
            if cancelled():
                return
            self.remote[n] = copies
            self.records = self._merged()
            yield self.records


def list_in_steps(catalog: Catalog) -> InSteps:
    """The local repository read as always; a bucket listed, its records left to ``InSteps.fill`` (unless a
    listing this process read in full is fresh). A bucket out of reach is said in ``catalog.unreachable``."""
    read: list[BackupRecord] = []
    listings: list[S3Listing] = []
    for repo in catalog.repositories:
        got = catalog.reach(repo, partial(_first_step, repo))
        if isinstance(got, S3Listing):
            listings.append(got)
        elif got:
            read += got
    return InSteps(read, listings)


def _first_step(repo: Repository) -> list[BackupRecord] | S3Listing:
    """A bucket's listing (its records read in full when this process's listing is fresh); the rest read whole."""
    if isinstance(repo, S3Repository):
        cached = repo.cached_list()
        return cached if cached is not None else repo.listing()
    return repo.list()


def unjudged(records: list[BackupRecord], depth: int = TREND_LENGTH) -> set[str]:
    """The databases whose health must wait: one of their ``depth`` newest backups (what the rules and the size
    trend read) is still unread. They are judged once read, never on a partial view."""
    seen: dict[str, int] = {}
    waiting: set[str] = set()
    for record in records:  # newest first
        count = seen.get(record.database, 0)
        if count < depth:
            seen[record.database] = count + 1
            if record.status == "unread":
                waiting.add(record.database)
    return waiting


def read_now(catalog: Catalog, record: BackupRecord) -> BackupRecord:
    """One backup listed ``unread`` read at once, ahead of the rest (an operator acts on it): its bucket copy
    read afresh and merged with the local one, as ``Catalog.list`` would."""
    copies = [r for r in catalog.local.list() if r.id == record.id]
    bucket = catalog.s3
    if bucket is not None and "s3" in record.locations:
        copies.append(bucket.refresh(record))
    if not copies:
        raise NotFoundError(f"{record.id}: no repository holds a copy (deleted already?)")
    return merge_copies(copies)
