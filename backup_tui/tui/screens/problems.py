"""!: every health problem with its severity and what to do (the same judgement `backup-headless monitor
--check` prints), the recovery evidence (measured recovery time, its history, the data-loss window), the next
scheduled runs, and where notices go."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from backup_tui.engine.config import Settings
from backup_tui.engine.core.evidence import recovery_times
from backup_tui.engine.core.health import TREND_LENGTH, Health, Problem, human_duration, humanize_age
from backup_tui.engine.core.models import BackupRecord, parse_utc
from backup_tui.engine.core.schedule import jobs
from backup_tui.tui import format as fmt
from backup_tui.tui.widgets.footer import QuietFooter
from backup_tui.tui.widgets.hanging import Hanging
from backup_tui.tui.widgets.trend import trend_text

SEVERITY_STYLE = {"critical": "bold red", "warning": "bold yellow"}
SEVERITY_MARK = {"critical": "✖", "warning": "▲"}


def problems_text(health: Sequence[Health], general: Sequence[Problem] = ()) -> Text:
    """Every database's problems and the repository's (``general``), critical first, as monitor --check lists
    them."""
    text = Text()
    every = [*(p for h in health for p in h.problems), *general]
    problems = sorted(every, key=lambda p: p.severity != "critical")
    if not problems:
        return Text("✓ No problem: every rule passes for every database.", style="bold green")
    for i, problem in enumerate(problems):
        if i:
            text.append("\n")
        style = SEVERITY_STYLE[problem.severity]
        text.append(f"{SEVERITY_MARK[problem.severity]} {problem.severity.upper()} ", style=style)
        text.append(f"{problem.database or 'repository'}: ", style="bold")
        text.append(problem.message)
        text.append("\n  → ", style="dim")
        text.append(problem.advice, style="italic")
    return text


def schedule_text(settings: Settings, now: datetime, tz: tzinfo | None) -> Text:
    """Each job's next runs in local time, and where notices go."""
    text = Text()
    local = now.astimezone(tz)
    for job in jobs(dict(settings.schedule), "backup-headless"):
        upcoming = fmt.next_runs_said(job.cron, local, 3)
        text.append(f"{job.name:8}", style="bold")
        text.append(f" {job.cron:14} next: {upcoming}\n")
    if settings.notify:
        text.append("notices: ", style="bold")
        text.append("; ".join(f"{t.shown} ({', '.join(t.events)})" for t in settings.notify))
    else:
        text.append("notices: none configured ([[notify]], SLACK_WEBHOOK_URL, BACKUP_NOTIFY_EMAIL)", style="yellow")
    text.append("\nschedule: as configured in [schedule]; installed by backup-headless schedule install", style="dim")
    return text


def evidence_text(health: Sequence[Health], records: Sequence[BackupRecord], now: datetime) -> Text:
    """Per database: the measured recovery time, its history as a sparkline, and the data-loss window."""
    text = Text()
    for i, item in enumerate(health):
        if i:
            text.append("\n")
        text.append(f"{item.database}: ", style="bold")
        times = recovery_times(records, item.database)[-TREND_LENGTH:]
        if item.recovery is None and times:  # proven once, but the backups it proved failed a check or broke since
            text.append("recovery time unknown: no backup a full check proved is still good (each failed a "
                        "check or was damaged since)", style="yellow")
        elif item.recovery is None:
            text.append("no full verification or restore yet: recovery time unknown", style="yellow")
        else:
            backup_id, proof = item.recovery
            text.append(f"recovery time {human_duration(proof.duration_s)}")
            text.append(f" (test restore of {backup_id.removeprefix(item.database + '-')}, "
                        f"{humanize_age(now - parse_utc(proof.at))})", style="dim")
        window = "-" if item.data_loss_s is None else human_duration(item.data_loss_s)
        text.append(f" · data-loss window {window}")
        if len(times) > 1:
            text.append("\n  recovery times ")
            text.append_text(trend_text([round(d * 1000) for _, d in times], ()))
            text.append(f" last {len(times)} full checks", style="dim")
    return text


class ProblemsScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,exclamation_mark", "dismiss", "Close")]

    def __init__(self, health: Sequence[Health], settings: Settings, now: datetime, tz: tzinfo | None,
                 records: Sequence[BackupRecord] = (), general: Sequence[Problem] = ()) -> None:
        super().__init__()
        self.health, self.settings, self.now, self.tz = list(health), settings, now, tz
        self.records, self.general = list(records), list(general)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="problems-box") as box:
            box.border_title = "Problems, recovery evidence, schedule  (esc closes)"  # whole at 80 columns
            # wrapped under its own text
            yield Static(Hanging.of(problems_text(self.health, self.general)), id="problems")
            yield Static(evidence_text(self.health, self.records, self.now), id="evidence")
            yield Static(schedule_text(self.settings, self.now, self.tz), id="schedule")
        yield QuietFooter()  # esc Close, not the keys of the screen underneath (b Backup, c Cancel job...)
