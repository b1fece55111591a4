"""The one health check: gathers what the rules need (the catalog, the journal of runs, locks, records
of runs that were killed, free space) and judges every configured database. ``monitor``, the dashboard,
the metrics and the notifications all call this, so they cannot disagree."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import datetime

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import ConfigError
from backup_tui.engine.core.health import HealthReport, Problem, Surroundings, assess
from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.ops import scratch, swap
from backup_tui.engine.storage.catalog import Catalog
from backup_tui.engine.storage.holders import alive, gone_lock_holder, held_inodes
from backup_tui.engine.storage.journal import read_runs
from backup_tui.engine.storage.space import free_bytes
from backup_tui.engine.storage.state import this_host


def watched_databases(settings: Settings, records: Sequence[BackupRecord]) -> list[str]:
    """The configured databases; with none configured, those the catalog has backups of."""
    names = list(settings.database_names)
    return names or sorted({r.database for r in records})


def check_health(settings: Settings, now: datetime, *, catalog: Catalog | None = None,
                 records: Sequence[BackupRecord] | None = None,
                 unreachable: Mapping[str, str] | None = None) -> HealthReport:
    """Judge every watched database as of ``now``. ``records``: a catalog listing the caller already holds
    (the dashboard's), with ``unreachable`` the repositories that listing could not read, and why; otherwise
    ``catalog`` (or the settings' own) is read once. Takes no lock."""
    catalog = catalog or Catalog.from_settings(settings)
    try:
        listed = list(records) if records is not None else catalog.list()
        runs = read_runs(settings.repository)
    except PermissionError as exc:  # folders are 0700: another user sees nothing, and must not guess "healthy"
        raise ConfigError(f"cannot read {exc.filename or settings.repository}: the repository is private to the "
                          "user that writes it; run the health check as that user (or root)") from None
    host = this_host()
    remote = any(repo.name != "local" for repo in catalog.repositories)
    free: int | None = None
    with contextlib.suppress(OSError):
        free = free_bytes(settings.repository)
    held = held_inodes()
    (swaps, left, unreadable), gone = _swap_journals(settings), _gone_holders(settings)
    watched = watched_databases(settings, listed)
    results = []
    for name in watched:
        holders = list(gone.get(name, ()))
        with contextlib.suppress(OSError):
            lock = gone_lock_holder(settings.repository, name, held)
            if lock:
                holders.append(lock)
        around = Surroundings(runs=runs, remote_configured=remote, gone_holders=tuple(holders),
                              unfinished_swaps=tuple(swaps.get(name, ())), left_swaps=tuple(left.get(name, ())),
                              unreadable_swaps=tuple(unreadable.get(name, ())), free_bytes=free,
                              min_free_bytes=settings.min_free_bytes,
                              holds_key=settings.encryption.identity_file is not None)
        results.append(assess(name, listed, now, settings.thresholds(name), host, around))
    general = tuple(Problem("", "warning", "holder_gone", line, "the next backup or verify on that server removes "
                            "it (backup-headless backup --dry-run lists it)")
                    for name, lines in gone.items() if name not in watched for line in lines)
    general += tuple(Problem("", "critical", "swap_unfinished", line, "run backup-headless repair now")
                     for name, lines in swaps.items() if name not in watched for line in lines)
    general += tuple(Problem("", "critical", "swap_unreadable", said, advice)
                     for name, lines in unreadable.items() if name not in watched for said, advice in lines)
    general += tuple(Problem("", "warning", "swap_left", line, "look at the database it names, then remove the swap "
                             "journal it names (repair cannot settle it)")
                     for name, lines in left.items() if name not in watched for line in lines)
    # A bucket out of reach is left out of the listing (``Catalog.reach``): the judgement above is of the disk
    # alone, its copies and the checks recorded beside them unseen. Said as that, not only as each backup's
    # "no copy outside this machine" (or, with keep_local = false, "no valid backup, take one now").
    general += tuple(Problem("", "warning", "unreachable", f"the {name} repository could not be listed, so its "
                             f"copies were not judged: {why}", "check it: backup-headless config check")
                     for name, why in sorted((catalog.unreachable if unreachable is None else unreachable).items()))
    return HealthReport(checked_at=now, host=host, databases=tuple(results), records=tuple(listed), general=general)


Said = tuple[str, str]  # what a problem is, and what to do


def _swap_journals(settings: Settings) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, list[Said]]]:
    """The swap journals, read once, by database: a restore --replace or rollback of this machine killed mid-swap
    (``repair`` settles it); those repair settled but for a database it left for a person (what it said: "run
    repair now, the database may be closed" of those sent a person back to a repair that had done all it could,
    in a loop); and those nothing acts on, under the configured database whose journal name each bears ("" for
    none): one that cannot be read, and one read but not believed (names the engine would not have made for that
    swap), which repair leaves (exit 1), so neither is told "run repair"."""
    found: dict[str, list[str]] = {}
    left: dict[str, list[str]] = {}
    alone: dict[str, list[Said]] = {}
    with contextlib.suppress(OSError):
        for path, database in swap.unreadable_journals(settings):
            what, _, advice = swap.unreadable_said(path, database).partition("; ")
            alone.setdefault(database or "", []).append((what, advice))
        for journal in swap.recorded_journals(settings):
            if (why := swap.believed(settings, journal)) is not None:
                what, _, advice = why.partition("; ")
                alone.setdefault(journal.database, []).append((what, advice))
            elif journal.host == this_host() and not alive(journal.pid) and journal.left:
                left.setdefault(journal.database, []).append(journal.left)
            elif journal.host == this_host() and not alive(journal.pid):
                found.setdefault(journal.database, []).append(
                    f"a {journal.kind} of {journal.database} was killed at step '{journal.step}' "
                    f"(pid {journal.pid}, started {journal.started_at})")
    return found, left, alone


def _gone_holders(settings: Settings) -> dict[str, list[str]]:
    """Scratch databases and files of this machine's runs that were killed (the next backup or verify
    removes them), by database ("" for a file)."""
    found: dict[str, list[str]] = {}
    with contextlib.suppress(OSError):
        for leftover in scratch.recorded(settings):
            if leftover.orphaned:
                database = leftover.name.split("__", 1)[0] if leftover.kind == "database" else ""
                said = leftover.describe()
                if leftover.kind == "database" and leftover.oid is None and not leftover.token:
                    said += (f"; its record {leftover.record} does not say which database its run made, so no run "
                             "drops it: drop it by hand if it is that run's, then remove the record")
                found.setdefault(database, []).append(said)
    return found
