"""How headless speaks: human lines on a terminal, JSON for scripts, silence for cron.

Results go to stdout, progress and errors to stderr, everything to the run's log file. Every human line
passes through ``printable`` here, at the one place it is written: records come from an untrusted
repository, and a control character planted in one must not reach the terminal or split a line.
"""

from __future__ import annotations

import contextlib
import json
import sys
from datetime import datetime
from typing import Any, TextIO

from backup_tui.engine.core.estimate import estimate_said
from backup_tui.engine.core.health import human_duration, humanize_age
from backup_tui.engine.core.models import BackupRecord, PruneDecision, RestorePlan, Verification
from backup_tui.engine.core.printable import printable
from backup_tui.engine.core.progress import BytesProgress, LogLine, ProgressEvent, StepFinished, StepStarted
from backup_tui.engine.core.sizes import plural
from backup_tui.engine.storage.space import human_bytes
from headless.runlog import log

EXIT_UNKNOWN = 3  # Nagios's code for a check that could not run


class Output:
    """Writers for one run. ``interactive``: a person is watching (stdout is a terminal)."""

    def __init__(self, *, as_json: bool, interactive: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr):
        self.as_json = as_json
        self.interactive = interactive
        self.out = out
        self.err = err
        self._last_pct = -1
        # ``monitor``: a run that fails is no verdict on the backups. It ends UNKNOWN (Nagios's 3) with the status
        # line on stdout, never the 1 or 2 a monitor reads as a warning or a critical state of the backups.
        self.unknown_on_failure = False
        self._unseen: list[str] = []  # warnings of an unwatched run, not yet on stderr

    def said_at_end(self) -> None:
        """The run ended without failing: its warnings, one line each, after its output. A run that fails says
        only its one error line (they are in the log)."""
        for message in self._unseen:
            self._warning_line(message)
        self._unseen = []

    # -- progress ---------------------------------------------------------

    def __call__(self, event: ProgressEvent) -> None:
        """The Reporter: every event to the log, and to stderr when someone watches. Unwatched, a warning still
        reaches stderr (and cron's mail) at the run's end (``said_at_end``): a problem found by a run that went on
        reached only the log, and nobody reads the log of a run that said nothing."""
        if isinstance(event, StepStarted):
            log.info("step %s started %s", event.step, event.detail)
            self._progress(f"-> {event.step}{': ' + event.detail if event.detail else ''}")
        elif isinstance(event, StepFinished):
            log.info("step %s %s %s", event.step, "done" if event.ok else "FAILED", event.detail)
            self._progress(f"   {event.step} {'done' if event.ok else 'FAILED'}"
                           f"{' (' + event.detail + ')' if event.detail else ''}")
        elif isinstance(event, LogLine) and event.level == "warning" and not (self.interactive and not self.as_json):
            log.warning("%s", event.message)
            self._unseen.append(event.message)  # unwatched (cron, a timer, --json): said once the run has ended
        elif isinstance(event, LogLine):
            getattr(log, "warning" if event.level == "warning" else "info")(event.message)
            self._progress(f"   {event.message}")
        elif isinstance(event, BytesProgress) and self.interactive and not self.as_json:
            self._bytes(event)

    def _progress(self, line: str) -> None:
        if self.interactive and not self.as_json:
            if self._last_pct >= 0:
                self.err.write("\n")
                self._last_pct = -1
            print(printable(line), file=self.err, flush=True)

    def _bytes(self, event: BytesProgress) -> None:
        if event.total:
            pct = int(event.done * 100 / event.total)
            if pct != self._last_pct:
                self._last_pct = pct
                self.err.write(f"\r   {event.step}: {human_bytes(event.done)} of {human_bytes(event.total)} ({pct}%)")
                self.err.flush()
        elif event.done // (64 << 20) != self._last_pct:
            self._last_pct = event.done // (64 << 20)
            self.err.write(f"\r   {event.step}: {human_bytes(event.done)}")
            self.err.flush()

    # -- results ----------------------------------------------------------

    def json(self, data: Any) -> None:
        print(json.dumps(data, indent=2, sort_keys=False), file=self.out)

    def line(self, text: str, *, always: bool = False) -> None:
        """A human line: printed on a terminal, or always for commands whose output is the point."""
        text = printable(text)
        log.info("%s", text)
        if not self.as_json and (always or self.interactive):
            print(text, file=self.out)

    def error(self, message: str) -> None:
        """One line on stderr, whatever a quoted manifest field held."""
        message = printable(message)
        log.error("%s", message)
        if self._last_pct >= 0:  # a progress line is open: the error starts a line of its own
            self.err.write("\n")
            self._last_pct = -1
        print(f"error: {message}", file=self.err)

    def warning(self, message: str) -> None:
        """A problem that does not stop the run: one line on stderr and in the log, not an "error:"."""
        log.warning("%s", printable(message))
        self._warning_line(message)

    def _warning_line(self, message: str) -> None:
        print(f"warning: {printable(message)}", file=self.err)

    def fail(self, message: str, exit_code: int) -> int:
        """The run's end in failure: the one line on stderr, and under --json an object on stdout too, so a
        script reading stdout never gets nothing: {"error": "<the same line>", "exit_code": N}."""
        self.error(message)
        if self.unknown_on_failure:
            exit_code = EXIT_UNKNOWN
            if not self.as_json:
                with contextlib.suppress(OSError):
                    self.out.write(f"UNKNOWN - the health could not be judged: {printable(message)}\n")
                    self.out.flush()
        if self.as_json:
            with contextlib.suppress(OSError):  # a reader that went away (| head) cannot take it: no second error
                self.json({"error": message, "exit_code": exit_code})
                self.out.flush()
        return exit_code


def format_age(created: datetime, now: datetime) -> str:
    """The same words as the terminal app's ('3 hours ago', '2 years, 8 months ago'): one wording, in core."""
    return humanize_age(now - created)


def verified_text(v: Verification | None) -> str:
    if v is None:
        return "never"
    return f"{'ok' if v.ok else 'FAILED'} {v.level} {v.at[:16].replace('T', ' ')}"


def where_said(locations: tuple[str, ...]) -> str:
    """local, s3, or both: the locations column."""
    return "both" if {"local", "s3"} <= set(locations) else ", ".join(locations) or "-"


def backup_table(records: list[BackupRecord], now: datetime, *, locations: bool = False) -> list[str]:
    """Columns as wide as their longest value, so they line up: legacy ids (legacy-monthly-<db>_<stamp>),
    the old scripts' ages (1000d ago) and failed verifications outgrow the usual widths."""
    ages = [format_age(r.created, now) for r in records]
    checked = [verified_text(r.last_verification) for r in records]
    wid = max([34, *(len(r.id) for r in records)])
    wdb = max([14, *(len(r.database) for r in records)])
    wage = max([8, *(len(a) for a in ages)])
    wver = max([27, *(len(v) for v in checked)])
    header = f"{'ID':<{wid}} {'DATABASE':<{wdb}} {'CREATED (UTC)':<17} {'AGE':>{wage}} {'SIZE':>9} {'RATIO':>6} " \
             f"{'STATUS':<12} {'VERIFIED':<{wver}} PIN" + ("  WHERE  HOST" if locations else "")
    rows = [header]
    for r, age, verified in zip(records, ages, checked, strict=True):
        ratio = f"{r.ratio:.1f}x" if r.ratio else "-"
        rows.append(
            f"{r.id:<{wid}} {r.database:<{wdb}} {r.created_at[:16].replace('T', ' '):<17} "
            f"{age:>{wage}} {human_bytes(r.stored_bytes):>9} {ratio:>6} {r.status_label:<12} "
            f"{verified:<{wver}} {'yes' if r.pinned else ''}"
            + (f"{'':<{0 if r.pinned else 3}}  {where_said(r.locations):<5}  {r.host}" if locations else "")
        )
    return rows


def raw_size(r: BackupRecord) -> str:
    """The old scripts' .meta seldom records the uncompressed size: unknown, not 0 B."""
    return human_bytes(r.raw_bytes) if r.raw_bytes else "?"


def record_details(r: BackupRecord) -> list[str]:
    lines = [
        f"id              {r.id}",
        f"database        {r.database}",
        f"status          {r.status_label}{' (' + r.reason + ')' if r.status != 'valid' else ''}",
        f"created (UTC)   {r.created_at}",
        f"finished (UTC)  {r.finished_at}",
        f"duration        {f'{r.duration_s:.1f} s' if r.finished_at else '?'}",  # damaged, incomplete: not known
        f"format          {r.format}, {r.compression}"
        + (f" level {r.compression_level}" if r.compression_level else ""),
        f"size            {human_bytes(r.stored_bytes)} stored, {raw_size(r)} raw"
        + (f" ({r.ratio:.1f}x)" if r.ratio else ""),
        f"sha256          {r.sha256 or '-'}",
        f"encryption      {r.encryption + ', to ' + ', '.join(r.recipients) if r.encryption else 'none'}",
        f"server          PostgreSQL {r.server_version or '?'}",
        f"tools           {', '.join(f'{k} {v}' for k, v in r.tool_versions.items()) or '-'}",
        f"locations       {', '.join(r.locations)}",
        f"path            {r.path}",
        f"pinned          {'yes' if r.pinned else 'no'}",
        f"reason          {r.reason}",
    ]
    if r.row_counts:
        lines += ["", f"row counts ({plural(len(r.row_counts), 'table')}, exact, in the dump's snapshot):"]
        lines += [f"  {table:<46} {count:>12}" for table, count in sorted(r.row_counts.items())]
    lines += ["", "verification history:"]
    lines += [f"  {v.at}  {v.level:<5} {'ok' if v.ok else 'FAILED: ' + '; '.join(v.problems)}"
              for v in r.verifications] or ["  (never verified)"]
    return lines


def prune_lines(decisions: list[PruneDecision], dry_run: bool) -> list[str]:
    """A line per backup: one that goes from the disk and the bucket in this run is one line (one delete)."""
    verb = "would delete" if dry_run else "deleted"
    gone: dict[str, list[PruneDecision]] = {}
    for d in decisions:
        if not d.keep:
            gone.setdefault(d.record.id, []).append(d)
    lines = []
    for d in decisions:
        if d.keep:
            lines.append(f"{'keep' + (' (s3)' if d.location != 'local' else ''):<13} {d.record.id:<40} "
                         f"{'; '.join(d.reasons)}")
            continue
        copies = gone.pop(d.record.id, [])
        if not copies:
            continue  # said on the line of its first copy
        places = [c.location for c in copies]
        where = "" if places == ["local"] else f" ({'+'.join(places)})"
        said = ["; ".join(c.reasons) for c in copies]
        reasons = said[0] if len(set(said)) == 1 else "; ".join(
            f"{c.location}: {s}" for c, s in zip(copies, said, strict=True))
        lines.append(f"{verb + where:<13} {d.record.id:<40} {reasons}")
    deleted = [d for d in decisions if not d.keep]
    freed = sum(d.record.stored_bytes for d in deleted)
    backups = len({d.record.id for d in deleted})
    lines.append(f"{backups} backup(s) {verb}, {human_bytes(freed)}; {len(decisions) - len(deleted)} kept")
    return lines


def plan_lines(plan: RestorePlan) -> list[str]:
    free = human_bytes(plan.space_free_bytes) if plan.space_free_bytes >= 0 else "unknown (remote server)"
    eta = estimate_said(plan.time_parts, human_duration)
    lines = [f"restore plan for {plan.backup_id} ({'replace' if plan.mode == 'replace' else 'new database'}):"]
    lines += [f"  {i}. [{s.action}] {s.description}" for i, s in enumerate(plan.steps, 1)]
    lines += [
        f"  sessions to terminate: {plan.sessions_said}",
        f"  space needed: about {human_bytes(plan.space_needed_bytes)}; free on the server: {free}",
        f"  estimated time: {eta}",
        f"  rollback: {plan.rollback}",
    ]
    if plan.no_owner:
        lines.append("  --no-owner: objects belong to the user we connect as; privileges and per-role settings "
                     "are left out")
    if plan.no_tablespaces:
        lines.append("  --no-tablespaces: every table and index goes to the new database's default tablespace")
    if plan.unfinished_swap:
        lines.append(f"  note: a killed restore --replace or rollback left {plan.target_db!r} mid-swap: the real run "
                     "settles that first (backup-headless repair does only that), and plans again on what it finds; "
                     "this plan is of the server as it is now")
    if plan.refusal:
        lines.append(f"  would refuse: {plan.refusal}")
    elif plan.locked_by:
        lines.append(f"  would stop: database {plan.target_db!r} is locked by {plan.locked_by}")
    return lines
