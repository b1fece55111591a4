"""Health of each configured database, from its backups and what lies around them (the journal of
runs, locks, free space), as found by ``ops.health``.

Pure: the caller passes the records, the facts and the moment, so the dashboard, ``monitor``, the
notifications and the tests all judge the same way.

Rules (each a ``Problem`` with its severity and one line of advice):
- critical: no valid backup; the newest valid one is older than ``max_age_hours``;
  the newest valid one is dated in the future (it would keep the age rule
  quiet forever: clock skew, or a manifest planted to do just that; the
  age rule then judges the newest one dated before now); a backup's last
  verification failed and no newer backup has passed a check (advice: take
  or verify a newer one); a backup, verify or prune run failed since the
  last one that went through (a verify that found damage went through: the
  backup's failed check speaks for it).
- warning: the same failed backup once a newer one has passed its check
  (whenever those checks ran); a damaged backup (its manifest lost or
  altered), however old; advice for both: delete it (retention keeps them
  for a person, so they never go by themselves); no
  backup was ever verified, or no full verification passed within
  ``verify_max_age_days``; the newest backup's size is off by more than
  ``size_change`` from the median of the seven before it, or below
  ``min_size_bytes``; the newest attempt left an incomplete backup; the newest
  backup has no copy outside this machine while a remote repository is
  configured; a lock or a run's record whose holder is gone; the repository's
  free space is below what the next backup needs.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import humanize

from backup_tui.engine.core.errors import EXIT_LOCKED, EXIT_VERIFY
from backup_tui.engine.core.models import BackupRecord, Verification, ahead_of, parse_utc, utc_iso
from backup_tui.engine.core.next_size import expected_size
from backup_tui.engine.core.runs import RunRecord
from backup_tui.engine.core.sizes import human_bytes
from backup_tui.engine.core.thresholds import ANOMALY_TOLERANCE, DEFAULT_THRESHOLDS, Thresholds

HealthStatus = Literal["ok", "warning", "failing"]
Severity = Literal["critical", "warning"]
TREND_LENGTH = 30
ANOMALY_WINDOW = 7  # the size rule's median is of the seven backups before
FUTURE_DATED = "newest backup is dated in the future (clock skew or a planted manifest)"
WATCHED_RUNS = ("backup", "verify", "prune")  # a failed restore is seen by whoever ran it


DAILY = DEFAULT_THRESHOLDS.max_age


PER_BACKUP_RULES = frozenset({"failed_check", "older_failed_check", "damaged"})  # about one backup's bytes


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a database (or, with database "", the repository), and what to do about it."""

    database: str
    severity: Severity
    rule: str  # stable name: no_backup, too_old, failed_check, failed_run, low_space ...
    message: str
    advice: str
    backup_id: str = ""  # the backup it is about, when there is one
    operation: str = ""  # a failed run's operation: a failed backup and a failed verify are two problems

    def to_json(self) -> dict[str, str]:
        return {"database": self.database, "severity": self.severity, "rule": self.rule,
                "message": self.message, "advice": self.advice, "backup_id": self.backup_id}

    @property
    def key(self) -> str:
        """What stays the same while the problem persists (alerts are de-duplicated on it). A failed run's
        includes its operation: under one key, a verify failing after a failed backup was told was never told,
        nor the backup's recovery."""
        return f"{self.database}:{self.rule}" + (f":{self.operation}" if self.operation else "")

    @property
    def names_its_backup(self) -> bool:
        """The backup it names is what it is about (damage): another one named is news, not the same problem
        going on. The backup other rules name (the newest, too small) changes with every run and is not."""
        return self.rule in PER_BACKUP_RULES and bool(self.backup_id)


@dataclass(frozen=True)
class Surroundings:
    """What lies around one database's backups, found by the engine (``ops.health``); all optional, so the
    rules on backups alone still judge a bare catalog."""

    runs: Sequence[RunRecord] = ()  # the journal, any order, any database (others are ignored)
    remote_configured: bool = False  # a repository other than the local one is configured (S3)
    gone_holders: tuple[str, ...] = ()  # locks and run records whose holder no longer runs, said in a line each
    unfinished_swaps: tuple[str, ...] = ()  # a restore --replace or rollback killed mid-swap: the name may be gone
    unreadable_swaps: tuple[tuple[str, str], ...] = ()  # (what, what to do) of a swap journal that cannot be read
    left_swaps: tuple[str, ...] = ()  # such a swap settled by repair but for a database left for a person: why
    free_bytes: int | None = None  # free space of the repository's filesystem
    min_free_bytes: int = 0  # head-room a backup must leave
    holds_key: bool = True  # an identity is configured here: an encrypted backup can have its full verify here


@dataclass(frozen=True)
class Health:
    """What the dashboard shows for one database."""

    database: str
    status: HealthStatus
    reasons: tuple[str, ...]
    last_backup: BackupRecord | None
    last_verification: Verification | None  # the most recent verification of any of its backups
    sizes: tuple[int, ...]  # stored bytes of the last valid backups, oldest first
    anomalies: tuple[int, ...]  # indexes into ``sizes``
    locations: tuple[str, ...]
    last_verified_id: str | None = None  # the backup ``last_verification`` is about
    problems: tuple[Problem, ...] = ()  # critical ones first; ``reasons`` are their messages
    last_runs: tuple[RunRecord, ...] = ()  # the newest run of each watched operation, in WATCHED_RUNS' order
    recovery: tuple[str, Verification] | None = None  # the newest backup proven restorable, and the proof
    data_loss_s: float | None = None  # now minus the newest valid backup dated before now: what a loss costs
    # The newest valid backup dated before now, the one the age rule believes: ``last_backup`` when the clocks
    # agree; a manifest dated in the future (skew, or planted to keep the age rule quiet) is not it.
    last_dated: BackupRecord | None = None

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) if self.reasons else "all checks pass"

    @property
    def last_run(self) -> RunRecord | None:
        """The newest watched run (backup, verify, prune) of this database."""
        return max(self.last_runs, key=lambda r: r.finished_at, default=None)

    @property
    def severity(self) -> Severity | None:
        return "critical" if self.status == "failing" else "warning" if self.status == "warning" else None


def human_duration(seconds: float) -> str:
    """'0.4 s', '12.0 s', '3 min 05 s', '2 h 10 min': the same words in the terminal app and the CLI."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def humanize_age(delta: timedelta) -> str:
    """'just now', '5 minutes ago', '43 hours ago', '2 days ago', '1 year, 2 months ago' (humanize's words);
    a moment after now reads 'in the future', which is itself a problem (see FUTURE_DATED)."""
    if delta < timedelta(0):
        return "in the future"
    if delta < timedelta(minutes=1):
        return "just now"
    if timedelta(days=1) <= delta < timedelta(days=2):  # humanize's "a day", up to 48 h: "last backup a day ago
        return f"{delta // timedelta(hours=1)} hours ago"  # (expected daily)" was said of one 43 hours old
    # Whole units, as a clock reads: 9 h 40 min is '9 hours ago' (humanize would round it up to 10).
    unit = next(u for u in (timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)) if delta >= u)
    return humanize.naturaltime(delta // unit * unit, months=False)  # "26 days ago", not "a month ago"


def size_anomalies(sizes: Sequence[int], window: int = ANOMALY_WINDOW,
                   tolerance: float = ANOMALY_TOLERANCE) -> tuple[int, ...]:
    """Indexes whose size is more than ``tolerance`` off the median of the ``window`` before them."""
    found = []
    for i in range(3, len(sizes)):
        median = statistics.median(sizes[max(0, i - window):i])
        if median > 0 and abs(sizes[i] - median) / median > tolerance:
            found.append(i)
    return tuple(found)


def _latest_verification(records: Iterable[BackupRecord]) -> tuple[BackupRecord, Verification] | None:
    best: tuple[BackupRecord, Verification] | None = None
    for record in records:
        for verification in record.verifications:
            if best is None or verification.at > best[1].at:
                best = (record, verification)
    return best


def assess(database: str, records: Sequence[BackupRecord], now: datetime,
           thresholds: Thresholds = DEFAULT_THRESHOLDS, host: str | None = None,
           around: Surroundings = Surroundings()) -> Health:
    """Judge one database from its records (any order, any database: others are ignored) and what lies
    around them. With ``host``, only that host's backups and runs count: 'app' on another host sharing the
    repository is another history."""
    mine = sorted((r for r in records if r.database == database and (host is None or r.host in (host, ""))),
                  key=lambda r: r.created_at, reverse=True)
    valid = [r for r in mine if r.is_valid]
    sizes = tuple(r.stored_bytes for r in reversed(valid[:TREND_LENGTH]))
    anomalies = size_anomalies(sizes, tolerance=thresholds.size_change)
    latest = _latest_verification(valid)
    newest = valid[0] if valid else None
    dated = [r for r in valid if not r.dated_after(now)]
    found = _Found(database)
    last_runs = _run_rules(found, database, around.runs, host, now)  # first: the failed run's error says most
    _backup_rules(found, mine, valid, now, thresholds, around.holds_key)
    # The size rule holds the newest against backups made alike: the old scripts' gzip'd SQL is no measure of
    # a custom archive in zstd (a host that just switched was warned "61% smaller" for a week)
    made = (newest.format, newest.compression) if newest is not None else None
    alike = tuple(r.stored_bytes for r in reversed(valid[:TREND_LENGTH]) if (r.format, r.compression) == made)
    alike_anomalies = size_anomalies(alike, tolerance=thresholds.size_change)
    if newest is not None and alike_anomalies and alike_anomalies[-1] == len(alike) - 1:
        median = statistics.median(alike[max(0, len(alike) - 1 - ANOMALY_WINDOW):-1])
        change = (alike[-1] - median) / median
        found.warning("size_change", f"newest backup is {abs(change):.0%} {'larger' if change > 0 else 'smaller'} "
                      "than usual", f"compare its row counts with the one before: backup-headless show {newest.id}",
                      newest.id)
    if mine and mine[0].status == "incomplete":
        # A place only in the bucket (a streamed backup's) is no next backup's to remove: prune's, once its age is
        # past the bucket's lock (a run still writing it is younger)
        remover = "the next backup removes it" if "local" in mine[0].locations else \
            "prune removes it from the bucket once [s3] lock_ttl_seconds have passed"
        found.warning("incomplete", f"newest attempt {mine[0].id} is incomplete",
                      f"a run died or is still running; {remover} (its run log says why)", mine[0].id)
    _surrounding_rules(found, newest, around, thresholds)
    problems = found.sorted()
    critical = any(p.severity == "critical" for p in problems)
    status: HealthStatus = "failing" if critical else "warning" if problems else "ok"
    return Health(
        database=database,
        status=status,
        reasons=tuple(p.message for p in problems),
        last_backup=newest,
        last_verification=latest[1] if latest else None,
        sizes=sizes,
        anomalies=anomalies,
        locations=newest.locations if newest else (),
        last_verified_id=latest[0].id if latest else None,
        problems=problems,
        last_runs=last_runs,
        recovery=recovery_evidence(valid),
        data_loss_s=next(((now - r.created).total_seconds() for r in dated if r.trusted), None),
        last_dated=dated[0] if dated else None,
    )


class _Found:
    """The problems of one database, in the order the rules found them."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.problems: list[Problem] = []

    def critical(self, rule: str, message: str, advice: str, backup_id: str = "", operation: str = "") -> None:
        self.problems.append(Problem(self.database, "critical", rule, message, advice, backup_id, operation))

    def warning(self, rule: str, message: str, advice: str, backup_id: str = "") -> None:
        self.problems.append(Problem(self.database, "warning", rule, message, advice, backup_id))

    def sorted(self) -> tuple[Problem, ...]:
        return tuple(sorted(self.problems, key=lambda p: p.severity != "critical"))  # stable: rule order kept


def _backup_rules(found: _Found, mine: Sequence[BackupRecord], valid: Sequence[BackupRecord], now: datetime,
                  thresholds: Thresholds, holds_key: bool = True) -> None:
    db = found.database
    take = f"backup-headless backup --database {db}"
    newest = valid[0] if valid else None
    dated = [r for r in valid if not r.dated_after(now)]  # what the age rule may believe
    if newest is None:
        found.critical("no_backup", "no valid backup", f"take one now: {take}")
    elif newest is not (dated[0] if dated else None):
        found.critical("future_dated", FUTURE_DATED,
                       f"check this host's clock and who wrote the manifest: backup-headless show {newest.id}",
                       newest.id)
    if dated and now - dated[0].created > thresholds.max_age:
        expected = "daily" if thresholds.max_age_hours in (24, 25, 26) else f"every {thresholds.max_age_hours:g} h"
        found.critical("too_old", f"last backup {humanize_age(now - dated[0].created)} (expected {expected})",
                       f"check the schedule and its log (backup-headless schedule show), then: {take}", dated[0].id)
    bad = [r for r in valid if r.failed_last_check]  # by each backup's own last check, not by when it ran
    if bad:
        _failed_check_rules(found, valid, bad, now, take)
    damaged = [r for r in mine if r.status == "damaged"]
    if damaged:
        more = f" (+{len(damaged) - 1} more damaged)" if len(damaged) > 1 else ""
        found.warning("damaged", f"{'newest attempt' if damaged[0] is mine[0] else 'backup'} {damaged[0].id} "
                      f"is damaged{more}", f"see what is wrong (backup-headless verify {damaged[0].id}; where its "
                      f"data reads whole, backup-headless restore {damaged[0].id} says how to load it by hand), "
                      f"then {delete_advice(damaged[0])}", damaged[0].id)
    if newest is not None and not newest.failed_last_check:  # failed: the failed_check rule says what clears it,
        # and "verify the newest" (advised when none ever passed a check) is a check bound to fail again
        _verification_rules(found, valid, newest, now, thresholds, holds_key)
        if newest.stored_bytes < thresholds.min_size_bytes:
            found.warning("too_small", f"newest backup is {human_bytes(newest.stored_bytes)}, below the "
                          f"{human_bytes(thresholds.min_size_bytes)} expected",
                          f"check that it holds the data (backup-headless show {newest.id}), or lower "
                          "min_size_bytes for this database", newest.id)


def _failed_check_rules(found: _Found, valid: Sequence[BackupRecord], bad: Sequence[BackupRecord], now: datetime,
                        take: str) -> None:
    """The newest backup whose last check failed, named. Critical while no newer backup has passed a check
    (the last restore point known good is older than the damage, or there is none); a warning once one has,
    whose remedy is deleting the damaged one (retention keeps a failed check for a person, so it never goes
    by itself). Its advice is what clears it: never a check that is bound to fail again."""
    worst = bad[0]
    good, newer = _after(valid, worst, now)
    report = f"backup-headless show {worst.id}"
    if good is not None:
        found.warning("older_failed_check", _failed_check(bad),
                      f"a newer backup passed its check ({good.id}); {delete_advice(worst)}", worst.id)
    else:
        found.critical("failed_check", _failed_check(bad), f"{_take_or_verify(newer, take)}; what failed: {report}",
                       worst.id)


def _after(valid: Sequence[BackupRecord], damaged: BackupRecord,
           now: datetime) -> tuple[BackupRecord | None, Sequence[BackupRecord]]:
    """The newest backup after ``damaged`` whose last check passed (None: no good one is known after the
    damage), and every valid one after it, newest first (a future-dated one counts for neither)."""
    newer = [r for r in valid if r.created > damaged.created and not r.dated_after(now)]
    return next((r for r in newer if r.verified_ok), None), newer


def _take_or_verify(newer: Sequence[BackupRecord], take: str) -> str:
    """What makes a good backup known after a damaged one: checking the newest one taken since, or taking one."""
    if newer:
        return f"verify a newer backup: backup-headless verify {newer[0].id}"
    return f"take a new backup now ({take}) and verify it (backup-headless verify with the id it prints)"


def delete_advice(record: BackupRecord) -> str:
    """The command that removes a damaged backup, which retention keeps for a person to look at: --force only
    for a pinned one (a pin guards it from a plain delete)."""
    force = " --force" if record.pinned else ""
    return f"delete it: backup-headless delete {record.id}{force} (retention keeps it until a person does)"


def _verification_rules(found: _Found, valid: Sequence[BackupRecord], newest: BackupRecord, now: datetime,
                        thresholds: Thresholds, holds_key: bool = True) -> None:
    verify = f"backup-headless verify {newest.id}"
    keyless = bool(newest.encryption) and not holds_key
    if not any(v.ok for r in valid for v in r.verifications):
        found.warning("never_verified", "no backup has been verified",
                      _keyless_advice(newest.id) if keyless else f"verify the newest: {verify}", newest.id)
        return
    full = [parse_utc(v.at) for r in valid for v in r.verifications if v.ok and v.level == "full"]
    limit = timedelta(days=thresholds.verify_max_age_days)
    advice = _keyless_advice(newest.id) if keyless else f"run one: {verify}"
    if not full:
        found.warning("verify_old", "no backup has had a full verification (a test restore)", advice, newest.id)
    elif now - max(full) > limit:
        found.warning("verify_old", f"last full verification {humanize_age(now - max(full))} (expected within "
                      f"{thresholds.verify_max_age_days:g} days)", advice, newest.id)


def _keyless_advice(backup_id: str) -> str:
    """An encrypted backup on a host that only backs up: the full verify (a test restore) needs the key, which
    this host rightly lacks, so say where it can run and what this host can check."""
    return (f"this host holds no key to decrypt it: run backup-headless verify {backup_id} on a host that holds "
            f"one (its result is recorded in the repository); here, backup-headless verify --quick {backup_id}")


def _run_rules(found: _Found, database: str, runs: Sequence[RunRecord],
               host: str | None, now: datetime) -> tuple[RunRecord, ...]:
    """A backup, verify or prune run that failed after the last one of its kind that went through. A verify
    that found damage went through: its verdict is the backup's recorded check, which the backup rules judge
    (named, and cleared by the remedy); a run of it here would stay critical until a check that cannot pass
    passed. A verify that could not judge (server, bucket, key) is this rule's, and names its backup. A run dated
    in the future (a clock that jumped ahead, a planted record) is believed by no rule, as a backup so dated: as the
    newest run, an "ok" dated 2099 hid every failed run after it, and its metric read 1, until 2099."""
    # A run that stood aside for another holding the lock (exit 3) did nothing, failed nothing: the holder's run
    # speaks (and too_old, should none ever get through); as a failure it paged while a backup ran fine.
    watched = sorted((r for r in runs if r.operation in WATCHED_RUNS and r.database in (database, "")
                      and (host is None or r.host == host) and r.exit_code != EXIT_LOCKED
                      and not ahead_of(parse_utc(r.finished_at), now)),
                     key=lambda r: r.finished_at)  # "": every database's
    last_of: dict[str, RunRecord] = {}
    for run in watched:
        last_of[run.operation] = run
    for operation, run in last_of.items():
        if not went_through(run):
            failed = sum(1 for r in watched if r.operation == operation and not went_through(r)
                         and r.finished_at > max((s.finished_at for s in watched
                                                  if s.operation == operation and went_through(s)), default=""))
            times = f", {failed} runs in a row" if failed > 1 else ""
            said = run.error or f"exit {run.exit_code}"
            of = f" of {run.backup_id}" if operation == "verify" and run.backup_id else ""
            again = (f"verify {run.backup_id}" if of else
                     f"{operation} {'--all ' if operation == 'verify' else ''}--database {database}")
            # the cause first: at 80 columns a card's first line kept "backup failed at 2026-12-07 21:33 UTC: c…"
            found.critical("failed_run", f"{operation}{of} failed: {said} (at {_said_at(run.finished_at)}{times})",
                           f"read its run log in the log folder, fix the cause, then run backup-headless {again}",
                           run.backup_id, operation)
    return tuple(last_of[operation] for operation in WATCHED_RUNS if operation in last_of)


def went_through(run: RunRecord) -> bool:
    """The run did its work: it succeeded, or it is a verify that reached its verdict (exit 4: damage found
    and recorded in the backup's history)."""
    return run.ok or (run.operation == "verify" and run.exit_code == EXIT_VERIFY)


def _surrounding_rules(found: _Found, newest: BackupRecord | None, around: Surroundings,
                       thresholds: Thresholds) -> None:
    if newest is not None and around.remote_configured and not any(loc != "local" for loc in newest.locations):
        found.warning("not_remote", f"newest backup {newest.id} has no copy outside this machine",
                      "check the remote repository's settings and the backup's log; the next backup uploads again",
                      newest.id)
    for swap in around.unfinished_swaps:
        found.critical("swap_unfinished", swap, f"run backup-headless repair --database {found.database} now: "
                       "the database may be renamed aside or closed to connections")
    for said, advice in around.unreadable_swaps:
        found.critical("swap_unreadable", said, advice)
    for left in around.left_swaps:
        found.warning("swap_left", left, "look at the database it names, then remove the swap journal it names "
                      "(repair cannot settle it)")
    for holder in around.gone_holders:
        found.warning("holder_gone", holder, "the next run of this database cleans it up (backup-headless repair "
                      "for a swap); if it stays, look at who holds it")
    if newest is not None and around.free_bytes is not None:
        # As the backup's own space check estimates, with the database's size as the newest backup recorded it
        need = expected_size([newest], newest.database_bytes)[0] + around.min_free_bytes
        if around.free_bytes < need:
            found.warning("low_space", f"{human_bytes(around.free_bytes)} free, the next backup needs about "
                          f"{human_bytes(need)}", "free space in the repository, or prune: backup-headless prune")


def _said_at(moment: str) -> str:
    """'2026-12-07 09:58 UTC' for a record's ISO time, as people read it in an alert (the minute is enough to
    find the run's log; the record's text itself where it is no time)."""
    try:
        return parse_utc(moment).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return moment


def _failed_check(bad: Sequence[BackupRecord]) -> str:
    """'verification of <id> failed: <first problem>', for the newest backup whose last check failed."""
    last = bad[0].verdict
    problem = last.problems[0] if last is not None and last.problems else "failed"
    more = f" (+{len(bad) - 1} more failed checks)" if len(bad) > 1 else ""
    return f"verification of {bad[0].id} failed: {problem}{more}"


def assess_all(databases: Iterable[str], records: Sequence[BackupRecord], now: datetime,
               thresholds: Thresholds | Mapping[str, Thresholds] = DEFAULT_THRESHOLDS, host: str | None = None,
               around: Mapping[str, Surroundings] | None = None) -> list[Health]:
    """``assess`` of each database; ``thresholds`` one for all or per database (missing ones: the defaults)."""
    def limits(db: str) -> Thresholds:
        return thresholds.get(db, DEFAULT_THRESHOLDS) if isinstance(thresholds, Mapping) else thresholds
    return [assess(db, records, now, limits(db), host, (around or {}).get(db, Surroundings())) for db in databases]


def verified_at(verification: Verification) -> datetime:
    return parse_utc(verification.at)


def recovery_evidence(valid: Sequence[BackupRecord]) -> tuple[str, Verification] | None:
    """The newest backup (newest first in ``valid``) whose last full check (a full verify or a restore)
    passed, with that check: its duration is the measured recovery time."""
    for record in valid:
        if record.failed_last_check:
            continue  # its bytes or its restore failed since: proven restorable no longer
        full = [v for v in record.verifications if v.level == "full"]
        if full and full[-1].ok:
            return record.id, full[-1]
    return None


@dataclass(frozen=True)
class HealthReport:
    """Every configured database's health at one moment: what ``monitor``, the dashboard, the metrics and
    the notifications all read."""

    checked_at: datetime
    host: str
    databases: tuple[Health, ...]
    records: tuple[BackupRecord, ...] = ()  # the catalog it was judged on (metrics count copies from it)
    general: tuple[Problem, ...] = ()  # about the repository, not one database (database "")

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(p for h in self.databases for p in h.problems) + self.general

    @property
    def worst(self) -> Severity | None:
        severities = {p.severity for p in self.problems}
        return "critical" if "critical" in severities else "warning" if severities else None

    @property
    def exit_code(self) -> int:
        """Nagios-style: 0 healthy, 1 a warning, 2 critical."""
        return {None: 0, "warning": 1, "critical": 2}[self.worst]

    def to_json(self) -> dict[str, object]:
        """``monitor --json`` and ``/health``: one object per database, figures in seconds and bytes."""
        return {
            "checked_at": utc_iso(self.checked_at),
            "host": self.host,
            "status": self.worst or "ok",
            "exit_code": self.exit_code,
            "databases": [health_json(h) for h in self.databases],
            "repository_problems": [p.to_json() for p in self.general],
        }


def health_json(health: Health) -> dict[str, object]:
    newest, verification, run = health.last_backup, health.last_verification, health.last_run
    return {
        "database": health.database,
        "status": health.severity or "ok",
        "problems": [p.to_json() for p in health.problems],
        "last_backup": None if newest is None else {
            "id": newest.id, "created_at": newest.created_at, "size_bytes": newest.stored_bytes,
            "duration_s": newest.duration_s, "locations": list(newest.locations)},
        "last_verification": None if verification is None else {
            "backup_id": health.last_verified_id, **verification.summary()},
        "last_run": None if run is None else {
            "operation": run.operation, "finished_at": run.finished_at, "ok": run.ok, "exit_code": run.exit_code,
            "error": run.error},
        "recovery": None if health.recovery is None else {
            "backup_id": health.recovery[0], "verified_at": health.recovery[1].at,
            "duration_s": health.recovery[1].duration_s},
        "data_loss_window_s": None if health.data_loss_s is None else round(health.data_loss_s, 3),
    }
