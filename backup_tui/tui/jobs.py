"""Jobs the app runs (backup, verify, restore, upload): their state, built from engine events.

A job is only changed on the UI thread: the worker's reporter posts each event as
a message, and the app applies it here. So nothing needs a lock.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from backup_tui.engine.core.estimate import SAFETY_BACKUP, EstimatePart
from backup_tui.engine.core.models import RestorePlan
from backup_tui.engine.core.progress import (
    BytesProgress,
    CancelToken,
    LogLine,
    ProgressEvent,
    StepFinished,
    StepStarted,
)
from backup_tui.tui.format import bytes_in_text

JobKind = Literal["backup", "verify", "restore", "rollback", "upload"]
JobState = Literal["running", "done", "failed", "cancelled"]
StepState = Literal["running", "ok", "failed", "stopped"]  # stopped: the operator's cancel, not a failure
LOG_TAIL = 200


@dataclass
class Step:
    name: str
    detail: str = ""
    state: StepState = "running"


@dataclass(frozen=True)
class LogEntry:
    """One line of the activity log: engine log lines, step changes, job outcomes."""

    at: datetime
    level: str
    source: str
    message: str


@dataclass
class Job:
    id: int
    kind: JobKind
    title: str
    database: str
    started_at: datetime
    cancel: CancelToken = field(default_factory=CancelToken)
    ended: threading.Event = field(default_factory=threading.Event)  # set by its thread: the UI may be stuck
    state: JobState = "running"
    steps: list[Step] = field(default_factory=list)
    bytes_step: str = ""
    bytes_done: int = 0
    bytes_total: int | None = None
    first_bytes_at: datetime | None = None
    finished_at: datetime | None = None
    message: str = ""
    result: object = None
    estimate_s: float | None = None  # the plan's, from past restores: every phase, not only reading bytes
    estimate_parts: tuple[EstimatePart, ...] = ()  # its parts: a replace's safety backup, then the restore
    safety_done_at: datetime | None = None  # when the safety backup ended: the restore's part counts from there
    plan: RestorePlan | None = None  # a restore's: its screen, reopened from the Jobs tab, shows the same steps
    log: deque[LogEntry] = field(default_factory=lambda: deque(maxlen=LOG_TAIL))

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def under_way(self) -> bool:
        """Past setting out: a step has finished, bytes are moving, or the job has ended."""
        return not self.running or bool(self.bytes_step) or any(step.state != "running" for step in self.steps)

    @property
    def phase(self) -> str:
        """What runs, in the plan's words: the safety backup's own steps (dump, row counts...) are part of it."""
        if any(step.name == SAFETY_BACKUP and step.state == "running" for step in self.steps):
            return SAFETY_BACKUP
        return self.current_step

    @property
    def current_step(self) -> str:
        for step in reversed(self.steps):
            if step.state == "running":
                return step.name
        return self.steps[-1].name if self.steps else ""

    def apply(self, event: ProgressEvent, now: datetime) -> LogEntry | None:
        """Fold one engine event into the job; returns what to add to the activity log, if anything."""
        if isinstance(event, StepStarted):
            detail = bytes_in_text(event.detail)
            self.steps.append(Step(event.step, detail))
            return self._log(now, "info", f"{event.step} started" + (f": {detail}" if detail else ""))
        if isinstance(event, StepFinished):
            detail = bytes_in_text(event.detail)
            for step in reversed(self.steps):
                if step.name == event.step and step.state == "running":
                    step.state = "ok" if event.ok else "failed"
                    if detail:
                        step.detail = detail
                    break
            if event.step == SAFETY_BACKUP and event.ok:
                self.safety_done_at = now
            level = "info" if event.ok else "error"
            return self._log(now, level, f"{event.step} {'done' if event.ok else 'failed'}"
                             + (f": {detail}" if detail else ""))
        if isinstance(event, BytesProgress):
            if event.step != self.bytes_step:
                self.bytes_step, self.first_bytes_at = event.step, now
            self.bytes_done, self.bytes_total = event.done, event.total
            return None
        if isinstance(event, LogLine):
            return self._log(now, event.level, bytes_in_text(event.message))
        return None

    def finish(self, state: JobState, message: str, now: datetime) -> LogEntry:
        self.state, self.message, self.finished_at = state, message, now
        for step in self.steps:
            if step.state == "running":
                step.state = "ok" if state == "done" else "stopped" if state == "cancelled" else "failed"
        return self._log(now, {"done": "info", "cancelled": "warning"}.get(state, "error"),
                         f"{self.title}: {message}")

    def _log(self, now: datetime, level: str, message: str) -> LogEntry:
        entry = LogEntry(now, level, f"{self.kind} #{self.id}", message)
        self.log.append(entry)
        return entry

    def eta_seconds(self, now: datetime) -> float | None:
        """From the byte rate so far in the current step; None until it can be told."""
        if not self.bytes_total or self.first_bytes_at is None or self.bytes_done <= 0:
            return None
        elapsed = (now - self.first_bytes_at).total_seconds()
        if elapsed <= 0:
            return None
        rate = self.bytes_done / elapsed
        return max(0.0, (self.bytes_total - self.bytes_done) / rate)

    def time_left(self, now: datetime) -> float | None:
        """The plan's estimate less the time spent, over all phases (negative: over the estimate); None without
        an estimate. Bytes alone would say 0.8 s at 57% read, then wait seconds more while indexes are built.
        Once the safety backup has ended, the restore's part counts from then: a backup slower than its
        estimate does not make the restore's figure wrong."""
        if self.estimate_s is None:
            return None
        safety = self._safety_estimate()
        if safety is None or self.safety_done_at is None:
            return self.estimate_s - self.elapsed_seconds(now)
        return self.estimate_s - safety - ((self.finished_at or now) - self.safety_done_at).total_seconds()

    def whole_progress(self, now: datetime) -> tuple[float, float] | None:
        """(seconds done, seconds planned) of the whole run, for one bar over every phase: it never goes back
        when the restore begins after the safety backup; short of full until the run ends. None without an
        estimate."""
        if not self.estimate_s or self.estimate_s <= 0:
            return None
        if self.state == "done":
            return self.estimate_s, self.estimate_s
        left = self.time_left(now)
        assert left is not None
        done = self.estimate_s - max(left, 0.0)
        safety = self._safety_estimate()
        if safety is not None and self.safety_done_at is None:
            done = min(done, safety)  # a slow safety backup holds the bar at its own part's end
        if self.running:
            done = min(done, self.estimate_s * 0.99)
        return max(done, 0.0), self.estimate_s

    def bar(self, now: datetime) -> tuple[float, float] | None:
        """(done, total) for a progress bar, on the restore's page and in the Jobs table alike: the whole run
        against the plan's estimate (``whole_progress``), else the running phase's bytes; None when neither."""
        whole = self.whole_progress(now)
        if whole is not None:
            return whole
        return (self.bytes_done, self.bytes_total) if self.bytes_total else None

    def _safety_estimate(self) -> float | None:
        return next((p.seconds for p in self.estimate_parts if p.phase == SAFETY_BACKUP), None)

    def elapsed_seconds(self, now: datetime) -> float:
        return ((self.finished_at or now) - self.started_at).total_seconds()


class ThrottledReporter:
    """Engine reporter that forwards events from the worker thread; byte counts at most every 0.5 s: smooth
    enough to read, a fifth of the redraws a slow SSH link must carry at 0.1 s, and each redraw is CPU taken
    from pg_restore and the server (about 8 ms on a loaded machine of two cores; at 0.25 s, with the ticks,
    the app spent 5% of a core more than headless on a 600 MB restore).

    ``post`` must be thread-safe (Textual's ``post_message`` is).
    """

    def __init__(self, post: Callable[[ProgressEvent], object], monotonic: Callable[[], float],
                 interval: float = 0.5) -> None:
        self._post = post
        self._monotonic = monotonic
        self._interval = interval
        self._last = -interval

    def __call__(self, event: ProgressEvent) -> None:
        if isinstance(event, BytesProgress):
            moment = self._monotonic()
            finished = event.total is not None and event.done >= event.total
            if moment - self._last < self._interval and not finished:
                return
            self._last = moment
        self._post(event)
