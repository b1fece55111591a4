"""!: every health problem with its severity and what to do, the next scheduled runs, and where notices
go: the same judgement `backup-headless monitor --check` prints."""

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
from backup_tui.engine.core.health import Health
from backup_tui.engine.core.schedule import jobs, next_runs

SEVERITY_STYLE = {"critical": "bold red", "warning": "bold yellow"}
SEVERITY_MARK = {"critical": "✖", "warning": "▲"}


def problems_text(health: Sequence[Health]) -> Text:
    text = Text()
    problems = sorted((p for h in health for p in h.problems), key=lambda p: p.severity != "critical")
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
        upcoming = ", ".join(m.strftime("%a %d %H:%M") for m in next_runs(job.cron, local, 3))
        text.append(f"{job.name:8}", style="bold")
        text.append(f" {job.cron:14} next: {upcoming}\n")
    if settings.notify:
        text.append("notices: ", style="bold")
        text.append("; ".join(f"{t.shown} ({', '.join(t.events)})" for t in settings.notify))
    else:
        text.append("notices: none configured ([[notify]], SLACK_WEBHOOK_URL, BACKUP_NOTIFY_EMAIL)", style="yellow")
    text.append("\nschedule: as configured in [schedule]; installed by backup-headless schedule install", style="dim")
    return text


class ProblemsScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,exclamation_mark", "dismiss", "Close")]

    def __init__(self, health: Sequence[Health], settings: Settings, now: datetime, tz: tzinfo | None) -> None:
        super().__init__()
        self.health, self.settings, self.now, self.tz = list(health), settings, now, tz

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="problems-box") as box:
            box.border_title = "Health problems, schedule, notices  (esc closes)"
            yield Static(problems_text(self.health), id="problems")
            yield Static(schedule_text(self.settings, self.now, self.tz), id="schedule")
