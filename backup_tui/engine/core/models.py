"""Domain records shared by the engine, the TUI and headless.

``BackupRecord`` is the manifest. It is written last and atomically; it carries
a checksum of its own canonical JSON so an edited manifest is detected.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

from backup_tui.engine.core.encryption import KEY_REMEDY
from backup_tui.engine.core.errors import EXIT_LOCKED, EXIT_OK, EXIT_USAGE
from backup_tui.engine.core.estimate import RESTORE, EstimatePart

MANIFEST_VERSION = 1
# An encrypted backup's manifest says 2: a version that does not know encryption must not take its stored
# bytes for a plain zstd stream, and refuses a manifest newer than it reads.
ENCRYPTED_MANIFEST_VERSION = 2
READABLE_MANIFEST_VERSION = ENCRYPTED_MANIFEST_VERSION

# valid: manifest present. incomplete: no manifest and no sidecar (killed mid-dump, or running).
# damaged: the sidecar shows the dump finished, but the manifest is missing or unreadable.
# legacy: made by the old shell scripts. unread: a bucket's listing shows it, its manifest is not read yet (the
# TUI's first look at a bucket; nothing is valid, restorable or judged before its manifest is read).
Status = Literal["valid", "incomplete", "damaged", "legacy", "unread"]
VerifyLevel = Literal["quick", "full"]

# How restore --replace names the backup it takes of the current database first (restore.py
# writes f"{SAFETY_REASON_PREFIX} {id}"): retention must tell it from a scheduled restore point.
SAFETY_REASON_PREFIX = "safety before restoring"


# Clocks of a host and its NTP-adjusted self disagree by less than this: a backup dated further ahead
# than now + FUTURE_SLACK is in the future (clock skew, or a planted manifest) for every rule.
FUTURE_SLACK = timedelta(minutes=5)


def ahead_of(moment: datetime, now: datetime) -> bool:
    """``moment`` in the future as of ``now``, past what clocks disagree by: believed by no rule about age or
    newness (a backup's date, a run's end)."""
    return moment - now > FUTURE_SLACK


def utc_iso(moment: datetime, *, milliseconds: bool = False) -> str:
    """UTC ISO 8601 with a Z; ``milliseconds`` for a backup's start and end, so that two backups taken
    within one second still sort in the order they were taken (their ids end in random characters)."""
    utc = moment.astimezone(UTC)
    if milliseconds:
        return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


# Records are dated now, give or take a clock's error: a year outside these is a planted one, and the day after
# the calendar's last (a week's bucket, a day's grace) would overflow the arithmetic it went into.
YEARS = (1900, 9000)


def parse_utc(text: str) -> datetime:
    """An ISO 8601 time as UTC; ValueError for one that is not, or lies outside ``YEARS`` (such as
    "9999-12-31T23:59:59-12:00", which is past the calendar's end once in UTC: that was an OverflowError)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text[:40]!r} is past the calendar's end") from None
    if not YEARS[0] <= moment.year <= YEARS[1]:
        raise ValueError(f"{text[:40]!r} is not in the years {YEARS[0]}-{YEARS[1]}")
    return moment


@dataclass(frozen=True)
class Verification:
    """One verification run, stored as a line of the backup's history."""

    at: str
    level: VerifyLevel
    ok: bool
    problems: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    duration_s: float = 0.0
    row_counts: dict[str, list[int | None]] = field(default_factory=dict)  # table -> [manifest, restored]
    # Asked for but not run here, and why (no server for a test restore): no fault of the backup's.
    not_done: tuple[str, ...] = ()
    # Which backup, which stored bytes it checked ('' in records written before they said): a record of another
    # backup, or of bytes since replaced, is none of this one's history (``own_history``).
    backup_id: str = ""
    sha256: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["problems"] = list(self.problems)
        data["checks"] = list(self.checks)
        data["not_done"] = list(self.not_done)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verification:
        return cls(
            at=str(data["at"]),
            level=data["level"],
            ok=bool(data["ok"]),
            problems=tuple(data.get("problems", ())),
            checks=tuple(data.get("checks", ())),
            duration_s=float(data.get("duration_s", 0.0)),
            row_counts={k: list(v) for k, v in data.get("row_counts", {}).items()},
            not_done=tuple(data.get("not_done", ())),
            backup_id=str(data.get("backup_id", "")),
            sha256=str(data.get("sha256", "")),
        )

    def checked(self, record: BackupRecord) -> Verification:
        """This result, said to be of ``record``'s stored bytes."""
        return replace(self, backup_id=record.id, sha256=record.sha256)

    def belongs_to(self, record: BackupRecord) -> bool:
        """Of this backup and these bytes, as far as the record says (an older record says neither)."""
        return ((not self.backup_id or self.backup_id == record.id)
                and (not self.sha256 or not record.sha256 or self.sha256 == record.sha256))

    def summary(self) -> dict[str, Any]:
        return {"at": self.at, "level": self.level, "ok": self.ok}


def own_history(record: BackupRecord) -> BackupRecord:
    """``record`` with only its own verification records: one written for another backup (a folder's records
    copied beside another's) or for other stored bytes (a backup's data and manifest replaced since, under its
    id) would vouch for bytes it never read. The one rule for the local disk and the bucket."""
    own = tuple(v for v in record.verifications if v.belongs_to(record))
    return record if len(own) == len(record.verifications) else replace(record, verifications=own)


def history_order(records: Sequence[tuple[str, Verification]], now: datetime) -> tuple[Verification, ...]:
    """A backup's verification records (each with its record's name), oldest first: by their time, then their
    name. One dated more than ``FUTURE_SLACK`` ahead of ``now`` (another host's skewed clock, a planted record)
    goes first, never the last word: else an "ok" dated tomorrow outvotes every failure found today, and the
    corrupt backup keeps its retention slot. The one rule for the local disk and the bucket."""
    latest = now + FUTURE_SLACK
    return tuple(v for _, v in sorted(records, key=lambda item: (parse_utc(item[1].at) <= latest, item[1].at,
                                                                 item[0])))


@dataclass(frozen=True)
class BackupRecord:
    """What we know about one backup: its manifest, plus where it lives."""

    id: str
    database: str
    created_at: str  # UTC ISO 8601: when the dump's snapshot was taken
    finished_at: str
    duration_s: float
    format: str  # "custom" (pg_dump -Fc) or "plain" (legacy .sql.gz)
    compression: str  # "zstd" or "gzip"
    raw_bytes: int
    stored_bytes: int
    sha256: str  # of the stored (compressed) bytes
    file_name: str
    raw_sha256: str = ""
    server_version: str = ""
    tool_versions: dict[str, str] = field(default_factory=dict)
    compression_level: int = 0  # the level most of the bytes were compressed at
    compression_levels: dict[str, int] = field(default_factory=dict)  # "auto": level -> raw bytes at it
    compression_kept: int = 0  # "auto": the level its last judgement kept, where the next backup starts (0: none)
    row_counts: dict[str, int] = field(default_factory=dict)
    database_info: dict[str, str] = field(default_factory=dict)  # encoding, locale (provider), owner, tablespace...
    locations: tuple[str, ...] = ("local",)
    pinned: bool = False
    reason: str = "scheduled"
    host: str = ""  # the machine that took it: retention and health go by database and host
    encryption: str = ""  # "age": the stored bytes are the compressed dump encrypted in the age format
    recipients: tuple[str, ...] = ()  # the age public keys it was encrypted to (whose identities open it)
    manifest_version: int = MANIFEST_VERSION
    # Not part of the manifest: filled in by the repository that found it.
    status: Status = "valid"
    path: str = ""
    verifications: tuple[Verification, ...] = ()

    _RUNTIME: ClassVar[tuple[str, ...]] = ("status", "path", "verifications")

    @property
    def created(self) -> datetime:
        return parse_utc(self.created_at)

    @property
    def last_verification(self) -> Verification | None:
        return self.verifications[-1] if self.verifications else None

    @property
    def verdict(self) -> Verification | None:
        """The verification that speaks for the backup: the newest, except that a quick pass (checksums, the
        stream, the listing) proves the bytes, not that they restore, so it does not overrule a failed full
        check (a test restore) made before it: only a full check that passes again does."""
        last = self.last_verification
        if last is None or not last.ok or last.level == "full":
            return last
        full = next((v for v in reversed(self.verifications) if v.level == "full"), None)
        return full if full is not None and not full.ok else last

    @property
    def failed_last_check(self) -> bool:
        """Its verdict failed: complete, yet known bad until a check (a full one after a failed full one)
        passes again."""
        verdict = self.verdict
        return verdict is not None and not verdict.ok

    def dated_after(self, now: datetime) -> bool:
        """Dated in the future as of ``now``: believed by no rule about age or newness."""
        return ahead_of(self.created, now)

    @property
    def is_valid(self) -> bool:
        return self.status in ("valid", "legacy")

    @property
    def database_bytes(self) -> int:
        """The database's size when this backup was taken, as its manifest says; 0 where it does not say or
        says no size (the repository's word: any text, "abc" or 5000 digits)."""
        text = self.database_info.get("size_bytes", "")
        return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else 0

    @property
    def trusted(self) -> bool:
        """A restore point as far as we know: complete, and no failed last verification."""
        return self.is_valid and not self.failed_last_check

    @property
    def status_label(self) -> str:
        """The status as people read it, in the list, show and the TUI: a failed check outranks 'valid'."""
        if self.status == "unread":
            return "not read yet"
        return "failed check" if self.is_valid and self.failed_last_check else self.status

    @property
    def verified_ok(self) -> bool:
        """Complete, and its newest verification passed: what 'verified' means in every list and question."""
        verdict = self.verdict
        return self.is_valid and verdict is not None and verdict.ok

    @property
    def is_safety(self) -> bool:
        """Taken by restore --replace just before it: the pre-restore state, not a scheduled restore point."""
        return self.reason.startswith(SAFETY_REASON_PREFIX)

    @property
    def safety_for(self) -> str:
        """For a safety backup, the id of the backup whose restore it preceded ('' when unknown or not one)."""
        return self.reason.removeprefix(SAFETY_REASON_PREFIX).strip() if self.is_safety else ""

    @property
    def ratio(self) -> float | None:
        return self.raw_bytes / self.stored_bytes if self.stored_bytes and self.raw_bytes else None

    def manifest_body(self) -> dict[str, Any]:
        body = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in self._RUNTIME}
        body["locations"] = list(self.locations)
        if self.encryption:
            body["recipients"] = list(self.recipients)
        else:  # a manifest of a backup that is not encrypted reads as every manifest before encryption did
            del body["encryption"], body["recipients"]
        return body

    def manifest_json(self) -> str:
        body = self.manifest_body()
        body["manifest_sha256"] = manifest_checksum(body)
        return json.dumps(body, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_manifest(
        cls, data: dict[str, Any], *, status: Status = "valid", path: str = "",
        verifications: tuple[Verification, ...] = (),
    ) -> BackupRecord:
        kwargs = {k: v for k, v in data.items() if k in _MANIFEST_FIELDS}
        kwargs["locations"] = tuple(kwargs.get("locations", ("local",)))
        kwargs["recipients"] = tuple(kwargs.get("recipients", ()))
        return cls(**kwargs, status=status, path=path, verifications=verifications)

    def to_json(self) -> dict[str, Any]:
        """The public shape used by ``list --json`` and ``backup --json``. A complete backup whose verdict is a
        failed check is ``"failed_check"``, not ``"valid"``: a script that picks valid backups must not pick it."""
        last, verdict = self.last_verification, self.verdict
        return {
            "id": self.id,
            "database": self.database,
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "duration_s": round(self.duration_s, 3),
            "size_bytes": self.stored_bytes,
            "raw_bytes": self.raw_bytes,
            "sha256": self.sha256,
            "format": self.format,
            "compression": self.compression,
            "locations": list(self.locations),
            "path": self.path,
            "pinned": self.pinned,
            "status": "failed_check" if self.is_valid and self.failed_last_check else self.status,
            "reason": self.reason,
            "host": self.host,
            "encryption": self.encryption or None,
            "recipients": list(self.recipients),
            "verified": last.summary() if last else None,
            "verdict": verdict.summary() if verdict else None,  # the check that stands, as ``verdict`` says
        }


_MANIFEST_FIELDS = frozenset(f.name for f in fields(BackupRecord)) - set(BackupRecord._RUNTIME)


def manifest_checksum(body: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a manifest without its own checksum field."""
    clean = {k: v for k, v in body.items() if k != "manifest_sha256"}
    canonical = json.dumps(clean, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class PruneDecision:
    record: BackupRecord
    keep: bool
    reasons: tuple[str, ...]
    location: str = "local"  # the repository whose copy this decides: each has its own retention

    def to_json(self) -> dict[str, Any]:
        return {"id": self.record.id, "database": self.record.database, "created_at": self.record.created_at,
                "status": self.record.status, "keep": self.keep, "reasons": list(self.reasons),
                "size_bytes": self.record.stored_bytes, "location": self.location}


@dataclass(frozen=True)
class PlanStep:
    action: str  # create | restore | verify | terminate | rename | drop | backup | check
    description: str

    def to_json(self) -> dict[str, str]:
        return {"action": self.action, "description": self.description}


@dataclass(frozen=True)
class RestorePlan:
    """The flight plan of a restore: produced by the dry run, followed by the real run."""

    backup_id: str
    mode: Literal["new", "replace"]
    target_db: str
    work_db: str  # where pg_restore writes: the target itself, or a temporary for --replace
    aside_db: str | None  # where the original goes for --replace
    safety_backup: bool
    sessions_to_terminate: int
    space_needed_bytes: int
    space_free_bytes: int
    estimated_seconds: float | None  # the whole (``total_seconds`` of the parts): None when a part has no basis
    steps: tuple[PlanStep, ...]
    rollback: str
    no_owner: bool = False  # objects go to the user we connect as; privileges and per-role settings left out
    no_tablespaces: bool = False  # every table and index goes to the new database's default tablespace
    missing_roles: tuple[str, ...] = ()  # owners and grantees the server lacks: the restore would fail
    missing_policy_roles: tuple[str, ...] = ()  # roles of row-level security policies: needed even --no-owner
    missing_extensions: tuple[str, ...] = ()  # not installable here (pg_available_extensions)
    missing_tablespaces: tuple[str, ...] = ()  # named by the backup's tables or indexes
    sessions: tuple[str, ...] = ()  # who holds the sessions to terminate, grouped: "app@10.0.0.5 'pool' x8"
    key_problem: str = ""  # an encrypted backup this host has no key for (or not the right one): why
    privilege_problem: str = ""  # what the user we connect as lacks to create the database, and a way around
    privilege_no_owner: bool = False  # --no-owner is another way around it (an owner it cannot give)
    estimate_parts: tuple[EstimatePart, ...] = ()  # a replace's safety backup, then the restore (checks, swap)
    locked_by: str = ""  # another run holds the target's lock (who, when): the real run stops there, exit 3
    unfinished_swap: bool = False  # a killed replace or rollback left the target mid-swap: the real run settles it

    @property
    def time_parts(self) -> tuple[EstimatePart, ...]:
        """The parts of ``estimated_seconds``; a plan made without them is the restore alone."""
        return self.estimate_parts or (EstimatePart(RESTORE, self.estimated_seconds),)

    @property
    def sessions_said(self) -> str:
        return sessions_said(self.sessions_to_terminate, self.sessions)

    @property
    def refusal(self) -> str | None:
        """Why the run would refuse before changing anything: the server lacks what the backup names."""
        return self.refusal_in(CLI_OPTIONS)

    def refusal_in(self, options: Mapping[str, str]) -> str | None:
        """``refusal`` naming the ways around it as a face offers them: the CLI's flags, the app's buttons
        (``options`` maps "no_owner", "no_tablespaces" and "identity" to what says them)."""
        if self.key_problem:
            return f"{self.key_problem}; {options['identity']}"
        if self.privilege_problem:
            return self.privilege_problem + (f", or restore with {options['no_owner']} (the database and its "
                                              "objects then belong to the user we connect as)"
                                              if self.privilege_no_owner else "")
        roles = () if self.no_owner else self.missing_roles
        said = lacks_said(self.missing_policy_roles, self.missing_extensions, self.missing_tablespaces, roles)
        if not said:
            return None
        if not (self.missing_policy_roles or self.missing_extensions or self.missing_tablespaces):
            remedy = (f"create them first, or restore with {options['no_owner']} (objects then belong to the user "
                      "we connect as, and privileges are left out)")
        else:
            remedy = "create or install them first" + "".join(
                f" ({options[option]} would {what})" for option, what, applies in (
                    ("no_tablespaces", "put their tables in the database's default tablespace",
                     self.missing_tablespaces),
                    ("no_owner", "leave out only the owners and privileges",
                     self.missing_roles and not self.no_owner),
                ) if applies)
        return f"this server lacks what the backup needs: {said}; {remedy}"

    @property
    def exit_code(self) -> int:
        """What the real run would end with: a refusal is the operator's to fix (exit 2), before the lock another
        run holds (exit 3)."""
        if self.refusal:
            return EXIT_USAGE
        return EXIT_LOCKED if self.locked_by else EXIT_OK

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["steps"] = [s.to_json() for s in self.steps]
        data["refusal"] = self.refusal
        data["exit_code"] = self.exit_code
        return data


# How backup-headless names the ways around a refusal; the terminal app passes its own words to refusal_in.
CLI_OPTIONS: Mapping[str, str] = {"no_owner": "--no-owner", "no_tablespaces": "--no-tablespaces",
                                  "identity": KEY_REMEDY}


def sessions_said(count: int, who: Sequence[str], shown: int = 5) -> str:
    """'0', or "9 (app@10.0.0.5 'pool' x8, alice@local 'psql')": how plans name the sessions they end."""
    if not who:
        return str(count)
    more = f", {len(who) - shown} more" if len(who) > shown else ""
    return f"{count} ({', '.join(who[:shown])}{more})"


def lacks_said(policy_roles: Sequence[str], extensions: Sequence[str], tablespaces: Sequence[str] = (),
               roles: Sequence[str] = ()) -> str:
    """What a server lacks of what a backup names, in the words of every message about it ('' for nothing)."""
    return "; ".join(f"{what}: {', '.join(names)}" for what, names in (
        ("role(s) in row-level security policies", policy_roles),
        ("extension(s)", extensions),
        ("tablespace(s)", tablespaces),
        ("role(s) owning objects or holding privileges", roles),
    ) if names)


@dataclass(frozen=True)
class RestoreResult:
    plan: RestorePlan
    row_counts: dict[str, list[int | None]]
    duration_s: float
    safety_backup_id: str | None = None
    notes: tuple[str, ...] = ()
    connect: str = ""  # the psql line that reaches the restored database from here (host, port, user)

    def to_json(self) -> dict[str, Any]:
        return {
            "backup_id": self.plan.backup_id,
            "mode": self.plan.mode,
            "target_db": self.plan.target_db,
            "previous_db": self.plan.aside_db,
            "safety_backup_id": self.safety_backup_id,
            "duration_s": round(self.duration_s, 3),
            "row_counts": self.row_counts,
            "notes": list(self.notes),
            "connect": self.connect,
        }
