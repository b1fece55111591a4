"""Small modal dialogs: yes/no, pick one of a few choices. Escape always means no."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen
from textual.widgets import Button, Label, OptionList
from textual.widgets.option_list import Option

from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.core.sizes import plural
from backup_tui.engine.ops.delete import DeletePlan, DeleteResult
from backup_tui.engine.storage.state import this_host
from backup_tui.tui import format as fmt
from backup_tui.tui.jobs import Job
from backup_tui.tui.messages import JobsChanged
from backup_tui.tui.widgets.footer import QuietFooter


class ConfirmDialog(ModalScreen[bool]):
    """Ask before something that cannot be undone; the safe answer has the focus."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(False)", "Cancel")]

    def __init__(self, title: str, message: str, confirm_label: str = "Yes", danger: bool = True,
                 cancel_label: str = "Cancel") -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.message = message
        self.confirm_label = confirm_label
        self.cancel_label = cancel_label
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog-box") as box:
            box.border_title = self.title_text
            yield Label(self.message, id="dialog-message")
            with Horizontal(id="dialog-buttons"):
                yield Button(self.cancel_label, id="no", variant="default")
                yield Button(self.confirm_label, id="yes", variant="error" if self.danger else "primary")
        yield QuietFooter()  # its own keys, not those of the screen underneath (d Delete, q Quit...)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


def delete_message(record: BackupRecord, records: Sequence[BackupRecord], plan: DeletePlan | None = None) -> str:
    """The delete question: every copy the engine's plan removes and where, what object lock keeps, and what
    would be lost beyond the backup itself."""
    size = fmt.human_bytes(record.stored_bytes)
    places = [c.location for c in plan.copies] if plan is not None else list(record.locations)
    lines = [f"Delete {record.id}?", f"{size} from {' and '.join(places)}. This cannot be undone."]
    if plan is not None and (len(plan.copies) > 1 or plan.unreachable or any(c.retained for c in plan.copies)):
        lines += [f"  {line}" for line in plan.describe()]
    if plan is not None and plan.guarded:  # the engine's rule, as the command line's --force names it
        lines.append(f"Retention always keeps it: it is {' and '.join(plan.guarded)}.")
    # Another host's database of the same name (a bucket shared by a fleet) is another history: its backups
    # neither make this one not the last, nor this one theirs (retention and health judge them apart too).
    here = this_host()
    source = record.host or here
    others = [r for r in records if r.database == record.database and r.id != record.id
              and (r.host or here) == source]
    database = record.database
    if source != here:
        lines.append(f"It was taken on {source}: that host's {database}, not this one's.")
    if record.verified_ok and not any(other.verified_ok for other in others):
        lines.append(f"This is the last verified backup of {database}.")
    if record.trusted and not any(other.trusted for other in others):
        lines.append(f"This is the only valid backup of {database}.")
    return "\n".join(lines)


def delete_outcome(result: DeleteResult) -> tuple[str, SeverityLevel]:
    """The notification after a delete: where it went, and what stayed and why."""
    backup_id = result.plan.record.id
    gone = f"{backup_id} deleted from {' and '.join(result.deleted)}" if result.deleted else f"{backup_id} not deleted"
    if not result.kept:
        return gone, "information"
    stayed = "; ".join(f"kept in {where}: {why}" for where, why in result.kept.items())
    return f"{gone}; {stayed}", "warning"


def quit_message(running: Sequence[Job]) -> tuple[str, str, str]:
    """The quit dialog's text, confirm and cancel labels for the jobs running now ("Keep running" only while
    something runs: with nothing left, the question is whether to stay)."""
    if not running:
        return "The jobs have finished: nothing is running now.\n\nQuit backup-tui?", "Quit", "Stay"
    names = "\n".join(f"  {job.title}" for job in running)
    return (f"{plural(len(running), 'job')} running:\n{names}\n\nCancel them and quit? Each cleans up what it started.",
            "Cancel jobs and quit", "Keep running")


class QuitDialog(ConfirmDialog):
    """Quit while jobs run. The text follows the jobs live (the app posts ``JobsChanged`` to every screen
    above the main one): when the last one ends, it says so and the button just quits."""

    def __init__(self, running: Callable[[], Sequence[Job]]) -> None:
        self.running = running
        message, label, cancel = quit_message(running())
        super().__init__("Quit", message, label, cancel_label=cancel)

    def on_jobs_changed(self, message: JobsChanged) -> None:
        self.message, self.confirm_label, self.cancel_label = quit_message(self.running())
        if self.is_mounted:
            self.query_one("#dialog-message", Label).update(self.message)
            self.query_one("#yes", Button).label = self.confirm_label
            self.query_one("#no", Button).label = self.cancel_label


class ChoiceDialog(ModalScreen[str | None]):
    """Pick one of a few labelled choices (verify level, which database)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, title: str, message: str, choices: list[tuple[str, str]]) -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.message = message
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog-box") as box:
            box.border_title = self.title_text
            yield Label(self.message, id="dialog-message")
            yield OptionList(*(Option(label, id=key) for key, label in self.choices), id="choices")
            # No buttons here: the keys are said, and a footer of its own hides the screen's underneath, whose
            # keys (d Delete, r Restore...) do nothing while the dialog is open.
            yield Label("↑↓ choose · enter starts it · esc cancels", id="choices-hint")
        yield QuietFooter()

    @on(OptionList.OptionSelected, "#choices")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
