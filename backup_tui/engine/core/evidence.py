"""Recovery evidence for auditors: per database, over a period, the backups taken, the verifications and
restores done with their measured durations (recovery time) and row-count proof, the data-loss window, and
every health problem with when it started and ended (the rules replayed over the period, as of each hour,
on what was known then). Pure: the caller passes the records, the journal and the moment."""

from __future__ import annotations

import bisect
import collections
import html
import itertools
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from backup_tui.engine.core.health import Problem, Surroundings, assess, human_duration
from backup_tui.engine.core.models import BackupRecord, Verification, parse_utc, utc_iso
from backup_tui.engine.core.runs import RunRecord
from backup_tui.engine.core.thresholds import Thresholds

RESTORED = "restored into "  # how a restore's own verification names its check (ops.restore)
MAX_STEPS = 2000  # the replay's resolution: hourly, coarser over long periods


def is_restore(verification: Verification) -> bool:
    return any(check.startswith(RESTORED) for check in verification.checks)


def recovery_times(records: Sequence[BackupRecord], database: str) -> list[tuple[str, float]]:
    """(when, seconds) of every passed full verification or restore of the database's backups, oldest first:
    the measured recovery times the dashboard plots."""
    return sorted((v.at, v.duration_s) for r in records if r.database == database
                  for v in r.verifications if v.ok and v.level == "full")


def _counts(verification: Verification) -> dict[str, dict[str, int | None]]:
    return {table: {"manifest": pair[0], "restored": pair[1] if len(pair) > 1 else None}
            for table, pair in sorted(verification.row_counts.items())}


class _Timeline:
    """The catalog and the journal with their moments parsed once, to be cut at any moment."""

    def __init__(self, records: Sequence[BackupRecord], runs: Sequence[RunRecord]) -> None:
        self.records = [(r.created, r, [parse_utc(v.at) for v in r.verifications]) for r in records]
        ordered = sorted(runs, key=lambda r: r.finished_at)
        self.run_times = [parse_utc(r.finished_at) for r in ordered]
        self.runs = ordered

    def events(self) -> list[datetime]:
        return [c for c, _, _ in self.records] + [t for _, _, ts in self.records for t in ts] + self.run_times

    def records_at(self, moment: datetime) -> list[BackupRecord]:
        """The catalog as it stood at ``moment``: backups taken by then, with the checks done by then."""
        known = []
        for created, record, times in self.records:
            if created > moment:
                continue
            done = sum(1 for t in times if t <= moment)
            known.append(record if done == len(times) else replace(record, verifications=tuple(
                v for v, t in zip(record.verifications, times, strict=True) if t <= moment)))
        return known

    def runs_at(self, moment: datetime) -> list[RunRecord]:
        return self.runs[:bisect.bisect_right(self.run_times, moment)]


def _told_apart(problem: Problem) -> str:
    """What makes a problem the same one from one moment of the replay to the next: its rule, and for a failed run
    which operation (and backup) failed: a failed backup and a failed verify are two problems, each ending when a
    run of its own kind goes through (as one, the second was never listed and the first never ended)."""
    if problem.rule == "failed_run":
        return f"{problem.rule} {problem.operation} {problem.backup_id}"
    return problem.rule


def problem_history(database: str, records: Sequence[BackupRecord], runs: Sequence[RunRecord], since: datetime,
                    now: datetime, thresholds: Thresholds, host: str | None) -> list[dict[str, Any]]:
    """Each problem the rules would have found over the period: (severity, message) with when it started
    and ended (None: still there at ``now``)."""
    steps = max(1, min(MAX_STEPS, int((now - since) / timedelta(hours=1))))
    step = (now - since) / steps
    timeline = _Timeline(records, runs)
    moments = sorted({since + step * i for i in range(steps + 1)}  # and each change, the moment it happened
                     | {e for e in timeline.events() if since < e <= now})
    open_: dict[str, dict[str, Any]] = {}
    closed: list[dict[str, Any]] = []
    for i, moment in enumerate(moments):
        health = assess(database, timeline.records_at(moment), moment, thresholds, host,
                        Surroundings(runs=timeline.runs_at(moment)))
        current = {_told_apart(p): p for p in health.problems}
        for key in list(open_):
            if key not in current:
                item = open_.pop(key)
                item["ended_at"] = utc_iso(moment)
                closed.append(item)
        for key, problem in current.items():
            if key not in open_:
                open_[key] = {"rule": problem.rule, "severity": problem.severity, "message": problem.message,
                               "started_at": utc_iso(moment) if i else f"before {utc_iso(moment)}",
                               "ended_at": None}
    # by start, those already there when the period began first ("before ..." sorted after every date as text)
    return sorted(closed + list(open_.values()), key=lambda p: p["started_at"].removeprefix("before "))


def data_loss_window(created: Sequence[datetime], since: datetime, now: datetime) -> dict[str, float | None]:
    """The longest stretch of the period without a newer backup (what the worst moment would have lost) and
    the one at ``now``."""
    moments = sorted(c for c in created if c <= now)
    if not moments:
        return {"worst_s": None, "now_s": None}
    edges = [m for m in moments if m >= since]
    before = [m for m in moments if m < since]
    points = ([before[-1]] if before else []) + edges
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(points)]
    gaps.append((now - moments[-1]).total_seconds())
    if not before and edges:
        gaps.append((edges[0] - since).total_seconds())
    return {"worst_s": round(max(gaps), 3), "now_s": round((now - moments[-1]).total_seconds(), 3)}


def _pruned(run: RunRecord, kept: Sequence[BackupRecord]) -> BackupRecord:
    """A backup the journal says was taken, no longer in the catalog (retention let it go, or a person deleted it):
    a restore point from when it was taken, with no check on record; for the size rules, the size of the kept
    backup nearest in time (its own went with it)."""
    moment = parse_utc(run.started_at)
    nearest = min(kept, key=lambda r: abs(r.created - moment))
    return replace(nearest, id=run.backup_id, created_at=run.started_at, finished_at=run.finished_at,
                   duration_s=run.duration_s, status="valid", path="", pinned=False, verifications=(), locations=())


def build(databases: Sequence[str], records: Sequence[BackupRecord], runs: Sequence[RunRecord], since: datetime,
          now: datetime, thresholds: Callable[[str], Thresholds], host: str | None = None) -> dict[str, Any]:
    """The evidence, as plain data (``report --format json``)."""
    out: dict[str, Any] = {"since": utc_iso(since), "until": utc_iso(now), "host": host, "databases": {}}
    known = {r.id for r in records}
    for database in databases:
        mine = [r for r in records if r.database == database and (host is None or r.host in (host, ""))]
        # the catalog holds what retention kept: a backup taken in the period and pruned since is still evidence
        # (as absent, a month's report under the default retention counted ten backups of thirty, a week-long
        # data-loss window and "last backup 25 hours ago" critical for days when a backup ran every night)
        pruned = [_pruned(run, mine) for run in runs if mine and run.operation == "backup" and run.ok
                  and run.backup_id and run.backup_id not in known and run.database == database
                  and (host is None or run.host in (host, ""))]
        gone = {r.id for r in pruned}
        held = mine + pruned  # every restore point the period had, as far as the catalog and the journal know
        taken = sorted((r for r in held if since <= r.created <= now), key=lambda r: r.created_at)
        checks = sorted(((r, v) for r in mine for v in r.verifications if since <= parse_utc(v.at) <= now),
                        key=lambda rv: rv[1].at)
        failed_restores = [r for r in runs if r.operation == "restore" and not r.ok and r.backup_id
                           and any(b.id == r.backup_id for b in mine) and since <= parse_utc(r.finished_at) <= now]
        recovery = [v.duration_s for _, v in checks if v.ok and v.level == "full"]
        out["databases"][database] = {
            "backups": [{"id": r.id, "created_at": r.created_at,
                         "status": "pruned" if r.id in gone else r.status_label,
                         "size_bytes": None if r.id in gone else r.stored_bytes,
                         "duration_s": r.duration_s, "locations": list(r.locations)} for r in taken],
            "verifications": [_check(r, v) for r, v in checks if not is_restore(v)],
            "restores": [_check(r, v) for r, v in checks if is_restore(v)] + [
                {"id": run.backup_id, "at": run.finished_at, "ok": False, "duration_s": run.duration_s,
                 "error": run.error, "row_counts": {}} for run in failed_restores],
            "recovery_time_s": None if not recovery else {
                "last": recovery[-1], "median": statistics.median(recovery), "max": max(recovery)},
            # a backup known not to restore (its verdict failed) is no restore point: it shortens no window
            "data_loss_window": data_loss_window([r.created for r in held if r.trusted], since, now),
            "problems": problem_history(database, held, runs, since, now, thresholds(database), host),
        }
    return out


def _check(record: BackupRecord, verification: Verification) -> dict[str, Any]:
    counts = _counts(verification)
    return {"id": record.id, "at": verification.at, "level": verification.level, "ok": verification.ok,
            "duration_s": verification.duration_s, "problems": list(verification.problems),
            "tables": len(counts), "tables_matching": sum(1 for c in counts.values() if c["manifest"] == c["restored"]),
            "row_counts": counts}


def _restores_said(restores: Sequence[dict[str, Any]]) -> str:
    """How many matched their manifest's row counts, and apart from them how many went through with nothing to
    hold against (the old scripts' dumps record no counts): not "matched"."""
    matched = sum(1 for r in restores if r["ok"] and r.get("tables") and r["tables_matching"] == r["tables"])
    uncounted = sum(1 for r in restores if r["ok"] and not r.get("tables"))
    return f"{matched} matched" + (f", {uncounted} without row counts to compare" if uncounted else "")


def _taken_said(backups: Sequence[dict[str, Any]]) -> str:
    """Beside the count of backups taken: those no longer held, and those that are no restore point (damaged,
    failed a check), which "backups taken: 7" counted with the good ones unsaid."""
    counts = collections.Counter(str(b["status"]) for b in backups)
    said = [f"{counts['pruned']} since pruned: known from the run journal, their checks went with them"] \
        if counts["pruned"] else []
    said += [f"{n} {status}" for status, n in sorted(counts.items()) if status not in ("valid", "legacy", "pruned")]
    return f" ({'; '.join(said)})" if said else ""


def _seconds(value: float | None) -> str:
    return "-" if value is None else human_duration(value)


def _cell(value: object) -> str:
    """A table cell's text with its pipes escaped: a '|' in an error or an id ended the cell there and pushed the rest
    of the row one column along, in the markdown and in the page."""
    return str(value).replace("|", "\\|")


def to_markdown(evidence: dict[str, Any]) -> str:
    lines = [f"# Recovery evidence, {evidence['since']} to {evidence['until']}", ""]
    if evidence.get("host"):  # a shared repository's other hosts are left out: said, not only in the JSON
        lines += [f"Host {evidence['host']}: the backups and runs of other hosts sharing the repository are not "
                  "counted.", ""]
    for database, item in evidence["databases"].items():
        window, recovery = item["data_loss_window"], item["recovery_time_s"]
        lines += [f"## {database}", "",
                  f"- backups taken: {len(item['backups'])}{_taken_said(item['backups'])}",
                  f"- verifications: {len(item['verifications'])} "
                  f"({sum(1 for v in item['verifications'] if v['ok'])} passed)",
                  f"- restores: {len(item['restores'])} ({_restores_said(item['restores'])})",
                  f"- recovery time (full verify or restore): last {_seconds(recovery and recovery['last'])}, "
                  f"median {_seconds(recovery and recovery['median'])}, max {_seconds(recovery and recovery['max'])}",
                  f"- data-loss window: worst {_seconds(window['worst_s'])}, now {_seconds(window['now_s'])}", ""]
        proofs = item["verifications"] + item["restores"]
        if proofs:
            lines += ["| when | backup | kind | result | duration | tables matching |",
                      "| --- | --- | --- | --- | --- | --- |"]
            for proof in sorted(proofs, key=lambda p: p["at"]):
                kind = "restore" if proof in item["restores"] else proof.get("level", "")
                lines.append(f"| {_cell(proof['at'])} | {_cell(proof['id'])} | {kind} | "
                             f"{'ok' if proof['ok'] else 'FAILED'} | "
                             f"{_seconds(proof['duration_s'])} | {proof.get('tables_matching', 0)}/"
                             f"{proof.get('tables', 0)} |")
            lines.append("")
        if item["problems"]:
            lines += ["| problem | severity | from | until |", "| --- | --- | --- | --- |"]
            for problem in item["problems"]:
                lines.append(f"| {_cell(problem['message'])} | {problem['severity']} | {problem['started_at']} | "
                             f"{problem['ended_at'] or 'still open'} |")
            lines.append("")
        else:
            lines += ["No health problem over the period.", ""]
    return "\n".join(lines)


def to_html(evidence: dict[str, Any]) -> str:
    """The markdown's content as a standalone page (tables as tables), every value escaped."""
    body: list[str] = []
    in_table = False
    for line in to_markdown(evidence).splitlines():
        if line.startswith("| ---"):
            continue
        if line.startswith("|"):
            cells = [html.escape(c.strip().replace("\\|", "|")) for c in re.split(r"(?<!\\)\|", line[1:-1])]
            tag = "th" if not in_table else "td"
            if not in_table:
                body.append("<table>")
                in_table = True
            body.append("<tr>" + "".join(f"<{tag}>{c}</{tag}>" for c in cells) + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("- "):
            body.append(f"<p>{html.escape(line[2:])}</p>")
        elif line:
            body.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        body.append("</table>")
    style = "body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px}"
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Recovery evidence</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
