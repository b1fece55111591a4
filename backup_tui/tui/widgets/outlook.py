"""The dashboard's last two lines: when the scheduled jobs run next, and whether anyone hears of a failure
(the `!` screen has the full schedule and each destination's events)."""

from __future__ import annotations

from datetime import datetime, tzinfo

from rich.text import Text

from backup_tui.engine.config import Settings
from backup_tui.engine.core.schedule import jobs
from backup_tui.tui import format as fmt


def next_runs_line(settings: Settings, now: datetime, tz: tzinfo | None) -> Text:
    """'next: backup Thu 06 02:00 · verify Sun 09 06:00 · monitor Wed 05 13:00' (local time)."""
    local = now.astimezone(tz)
    text = Text("next: ", style="bold")
    for i, job in enumerate(jobs(dict(settings.schedule), "backup-headless")):
        if i:
            text.append(" · ", style="dim")
        text.append(f"{job.name} {fmt.next_runs_said(job.cron, local, 1)}")
    return text


def notices_line(settings: Settings) -> Text:
    """Where failures are told, or that they are told nowhere (which a dashboard should not hide)."""
    text = Text("notices: ", style="bold")
    if not settings.notify:
        text.append("none configured: a failure reaches nobody (! says how)", style="yellow")
    else:
        text.append("; ".join(target.shown for target in settings.notify))
    return text


def outlook_text(settings: Settings, now: datetime, tz: tzinfo | None) -> Text:
    """One line each; #outlook cuts them with an ellipsis rather than wrap (the cards keep their room at 80x24)."""
    text = Text()
    text.append_text(next_runs_line(settings, now, tz))
    text.append("\n")
    text.append_text(notices_line(settings))
    return text
