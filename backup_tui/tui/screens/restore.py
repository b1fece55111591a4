"""The guided restore: six steps an on-call engineer can follow without the docs.

1 backup → 2 target → 3 flight plan (the engine's dry run) → 4 typed confirmation
(replace only) → 5 live progress with cancel → 6 result, table by table.
The wizard plans through ``services`` in a worker and runs the restore as an app
job, so the job also shows on the Jobs tab and survives leaving the wizard.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, tzinfo
from typing import ClassVar, Literal

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import (
    Button,
    ContentSwitcher,
    DataTable,
    Header,
    Input,
    Label,
    ProgressBar,
    RadioButton,
    RadioSet,
    RichLog,
    Static,
)

from backup_tui.engine.core.encryption import IDENTITY_VARIABLE, KEY_REMEDY
from backup_tui.engine.core.errors import BackupToolError
from backup_tui.engine.core.estimate import SAFETY_BACKUP, estimate_said
from backup_tui.engine.core.models import SAFETY_REASON_PREFIX, BackupRecord, RestorePlan, RestoreResult
from backup_tui.engine.core.policy import can_restore
from backup_tui.engine.ops.damage import DamageFound
from backup_tui.engine.ops.kept import rollback_default
from backup_tui.engine.ops.restore import drop_kept_command, rollback_command
from backup_tui.engine.storage.state import this_host
from backup_tui.tui import format as fmt
from backup_tui.tui.fit import fit_columns
from backup_tui.tui.jobs import Job
from backup_tui.tui.messages import JobsChanged
from backup_tui.tui.plan_ahead import PlanAhead
from backup_tui.tui.services import Services
from backup_tui.tui.widgets.footer import QuietFooter
from backup_tui.tui.widgets.hanging import Hanging
from backup_tui.tui.widgets.jobs import log_entry
from backup_tui.tui.widgets.reflow_log import ReflowLog
from backup_tui.tui.widgets.row_table import RowTable

LAZY_STEPS = ("target", "plan", "confirm", "progress", "result")
STEPS = (("choose", "Backup"), ("target", "Target"), ("plan", "Plan"), ("confirm", "Confirm"),
         ("progress", "Restore"), ("result", "Result"))
TICK_AFTER_S = 0.9  # the 1 s tick redraws the progress only when no event did since the last one
# Longest the wizard holds its drawing while a restore sets out (see _start): its first steps wait on the
# server turn by turn, about a tenth of a second on a local one, and a replace's safety backup takes longer.
SETTING_OUT_S = 0.3
SETTING_OUT_POLL_S = 0.01
BAR_RETRY_S = 0.05  # the progress bar not laid out yet (drawing held): how soon it is looked at again
WIDE_CHOOSER = 100  # from this width the backup table also shows the local creation time
StartRestore = Callable[[BackupRecord, RestorePlan], Job]
KeptState = Literal["newest", "older", "gone"]  # a replace's previous database, as a reopened result finds it


def offered(records: list[BackupRecord], database: str | None) -> list[BackupRecord]:
    """What the first page lists: valid backups, only the database's when the wizard is opened for one."""
    return [r for r in records if can_restore(r) and (database is None or r.database == database)]


def ours(records: list[BackupRecord], database: str | None) -> list[BackupRecord]:
    """The database's backups this host took, where it has any, else every host's: in a bucket shared by a fleet,
    'app' backed up on another host is another database of the same name (health and retention judge it apart),
    never the one four keys restore over this host's."""
    mine = [r for r in records if database is None or r.database == database]
    here = this_host()
    return [r for r in mine if r.host in (here, "")] or mine


def preselect(records: list[BackupRecord], backup_id: str | None, database: str | None,
              now: datetime | None = None) -> int:
    """Index of the backup to offer: the one asked for, else the newest verified, else the newest that did not
    fail its last verification, else the newest. A safety backup (the database as a replace found it: maybe
    the very data being restored away from) is offered only where no other backup is good (every other one
    failed its last check): it is listed and marked, never the one four keys restore while another would do.
    Nor is a backup dated after ``now`` (clock skew or a planted manifest: the health calls it critical and
    never counts it as the newest) while one dated before would do."""
    if backup_id is not None:
        for i, record in enumerate(records):
            if record.id == backup_id:
                return i
    held = {id(r) for r in ours(records, database)}
    mine = [i for i, r in enumerate(records) if id(r) in held]
    ahead = {i for i in mine if now is not None and records[i].dated_after(now)}
    for pool in ([i for i in mine if not records[i].is_safety and i not in ahead],
                 [i for i in mine if not records[i].is_safety and i in ahead],
                 [i for i in mine if records[i].is_safety]):
        for i in pool:
            if records[i].verified_ok:
                return i
        for i in pool:
            if not records[i].failed_last_check:
                return i
    return mine[0] if mine else 0


def choose_question(records: list[BackupRecord], index: int, backup_id: str | None, database: str | None,
                    now: datetime | None = None) -> str:
    """The first page's question, true to what ``preselect`` selected and to why."""
    if not records:
        return "Which backup? There is no valid backup to restore."
    record = records[index]
    if backup_id is not None and record.id == backup_id:
        return f"Which backup? Selected: {record.id}, the row highlighted on the Backups tab."
    of = f" of {database}" if database else ""
    mine = ours(records, database)
    if len(mine) < sum(1 for r in records if database is None or r.database == database) and record in mine:
        of += " taken on this host"
    above = mine[:mine.index(record)] if record in mine else []
    if not record.is_safety and any(r.is_safety for r in above):
        of += " (newer safety backups aside)"
    if now is not None and not record.dated_after(now) and any(r.dated_after(now) for r in above):
        of += " dated before now (one dated in the future aside: clock skew or a planted manifest)"
    if record.is_safety and any(not r.is_safety for r in mine):  # see preselect: every other one failed
        return (f"Which backup? Every other backup{of} failed its last check: a safety backup is selected, "
                "read its warning.")
    if record.verified_ok:
        return f"Which backup? The newest verified one{of} is selected."
    newest = next((r for r in mine if r.is_safety == record.is_safety), record)
    if newest.failed_last_check:
        if record is newest:
            return f"Which backup? The newest backup{of} failed its last verification: choose with care."
        return (f"Which backup? The newest backup{of} failed its last verification: "
                "the newest one that did not is selected.")
    return f"Which backup? None{of} is verified yet: the newest is selected."


def not_read_yet(records: list[BackupRecord], database: str | None) -> str:
    """Said under the question while a bucket's manifests are still being read: those backups are not offered
    (nothing is restorable before its manifest is read and checked), and the list is longer in a moment."""
    unread = sum(1 for r in records if r.status == "unread" and (database is None or r.database == database))
    return f" ({unread:,} in S3 not read yet, not listed: esc and r again shortly)" if unread else ""


def verification_warning(record: BackupRecord) -> Text | None:
    """A warning for the plan when the backup is not known to be good: by its verdict (a quick pass after a
    failed test restore leaves it failed)."""
    last = record.verdict
    if last is None:
        return Text("⚠ This backup has never been verified: consider a full verification first "
                    "(v on the Backups tab), or choose a verified one.", style="bold yellow")
    if not last.ok:
        problems = "; ".join(last.problems[:2]) or "no detail"
        return Text(f"⚠ Its last verification FAILED: {problems}. Choose another backup, or verify it again.",
                    style="bold red")
    return None


def safety_warning(record: BackupRecord) -> Text | None:
    """Under the cursor on the first page: the safety backup is the state a restore replaced, maybe the bad data."""
    if not record.is_safety:
        return None
    restored = record.reason.removeprefix(SAFETY_REASON_PREFIX).strip()
    before = f" before restoring {restored}" if restored else ""
    return Text(f"⚠ A safety backup, taken{before}: the database as that restore found it, which may be the "
                "data you are restoring away from.", style="bold yellow")


def stop_notes(job: Job) -> list[str]:
    """After a failure, the engine's warnings since the failed step began: what it cleaned up or could not
    ("the original is untouched; could not drop '...' (the server did not answer): the next ..."). A cancel's
    message says it already."""
    if job.state != "failed":
        return []
    entries = list(job.log)
    failed = next((step.name for step in reversed(job.steps) if step.state == "failed"), None)
    began = next((i for i in range(len(entries) - 1, -1, -1)
                  if failed is not None and entries[i].message.startswith(f"{failed} started")), 0)
    return [entry.message for entry in entries[began:] if entry.level == "warning"]


def safety_note(job: Job) -> str:
    """After a failed or cancelled replace: the safety backup, if one was taken, is kept."""
    result = job.result
    if isinstance(result, RestoreResult) and result.safety_backup_id:
        return f"The safety backup {result.safety_backup_id} stays in the repository."
    for step in job.steps:
        if step.name == "safety backup" and step.state == "ok" and step.detail:
            return f"The safety backup taken first, {step.detail}, stays in the repository (Backups tab)."
    return ""


def suggested_name(record: BackupRecord, now: datetime) -> str:
    return f"{record.database}_restored_{now.strftime('%Y%m%d_%H%M%S')}"  # seconds: a second try in the same minute


def needs_quotes(name: str) -> bool:
    """Capitals, spaces or punctuation: legal, but every psql -d and SQL statement must then quote it."""
    return re.fullmatch(r"[a-z_][a-z0-9_$]*", name) is None


def no_owner_helps(plan: RestorePlan) -> bool:
    """The refusal is only about owners and grantees: planning without them lifts it."""
    return (plan.refusal is not None and not plan.no_owner and bool(plan.missing_roles)
            and not (plan.missing_policy_roles or plan.missing_extensions or plan.missing_tablespaces))


# The engine's words for a command line, and the app's for the same thing: the one place they are mapped.
APP_WORDS = ((", with --replace)", ": choose “the original” on the Target page)"),
             (KEY_REMEDY, f"set [encryption] identity_file in the config (or {IDENTITY_VARIABLE}) to a file holding "
                          "the key of one of its recipients"))


def in_app_words(message: str) -> str:
    """An engine message as the app says it: no command-line flags inside the app."""
    for cli, app in APP_WORDS:
        message = message.replace(cli, app)
    return message


def app_options(plan: RestorePlan) -> dict[str, str]:
    """The app's words for the ways around a refusal (the CLI's are its flags): a button here, when the plan
    offers one; what only the command line does is named as such, without its flag."""
    owners = "“Without owners” below" if no_owner_helps(plan) else "owners left out (“Without owners”)"
    return {"no_owner": owners, "no_tablespaces": "a command-line restore without tablespaces",
            "identity": "set [encryption] identity_file in the config (or BACKUP_ENCRYPTION_IDENTITY_FILE) to a "
                        "file holding the key of one of its recipients, then open the wizard again"}


CHOOSER_COLUMNS = {"id": "ID", "created": "Created", "age": "Age", "size": "Size", "verified": "Verified"}
CHOOSER_GUTTER = 2  # the page's left padding and the table's scrollbar (app.tcss)


def chooser_cells(record: BackupRecord, now: datetime, tz: tzinfo | None) -> dict[str, str | Text]:
    """One backup's cells on the first page, by column key."""
    last = record.last_verification
    return {"id": fmt.id_cell(fmt.marked_id(record)), "created": fmt.local_time(record.created, tz),
            "age": fmt.ago(record.created, now), "size": fmt.human_bytes(record.stored_bytes),
            "verified": Text(fmt.verification_text(last, now),
                             style="green" if last and last.ok else "red" if last else "dim")}


RADIO_BUTTON = 4  # "▐●▌ " before a radio button's label


def replace_label(database: str, room: int) -> str:
    """The replace choice's words: the longest of them that fits ``room`` cells (0: not laid out yet), so a
    long database name never pushes the end of the label off an 80-column screen."""
    name = repr(database)
    labels = (f"the original {name}, replacing it (kept aside for rollback)",
              f"the original {name}, replacing it (kept aside)", f"replace {name} (kept aside)", f"replace {name}")
    return next((label for label in labels if cell_len(label) <= room), labels[0] if room <= 0 else labels[-1])


def chosen_line(record: BackupRecord, now: datetime, tz: tzinfo | None) -> Text:
    """The backup being restored, named on every page after the first."""
    text = Text()
    text.append("Backup    ", style="bold")
    text.append(f"{fmt.marked_id(record)} · {fmt.local_time(record.created, tz)} ({fmt.ago(record.created, now)}) · "
                f"verified {fmt.verification_text(record.last_verification, now)}"
                + (f" · encrypted ({record.encryption})" if record.encryption else "")
                + (f" · taken on {record.host}" if record.host not in ("", this_host()) else ""))
    return text


def plan_text(plan: RestorePlan, record: BackupRecord, now: datetime, tz: tzinfo | None) -> Text:
    text = Text()
    """What matters first (backup, target, rollback, space, time), the steps last: at 80x24 the
    important lines are on screen before Continue."""
    text.append("Flight plan", style="bold")
    text.append("  (from the dry run: nothing has changed yet)\n", style="dim")
    text.append_text(chosen_line(record, now, tz))
    text.append("\n")
    warning = verification_warning(record)
    if warning is not None:
        text.append_text(warning)
        text.append("\n")
    refusal = plan.refusal_in(app_options(plan))
    if refusal is not None:
        text.append(f"✖ Cannot restore here: {refusal}\n", style="bold red")
    if plan.no_owner:
        text.append("Owners    ", style="bold")
        text.append("objects will belong to the user we connect as; privileges and per-role settings are left "
                    "out\n", style="yellow")
    text.append("Target    ", style="bold")
    if plan.mode == "replace":
        text.append(f"REPLACE database {plan.target_db!r}", style="bold red")
        text.append(f" (restored first into {plan.work_db!r})\n")
    else:
        text.append(f"new database {plan.target_db!r}")
        text.append(" (SQL needs this name in double quotes)\n" if needs_quotes(plan.target_db) else "\n",
                    style="yellow")
    text.append("Rollback  ", style="bold")
    text.append(f"{plan.rollback}\n")
    text.append("Space     ", style="bold")
    free = "free space unknown" if plan.space_free_bytes < 0 else f"{fmt.human_bytes(plan.space_free_bytes)} free"
    short = 0 <= plan.space_free_bytes < plan.space_needed_bytes
    text.append(f"needs about {fmt.human_bytes(plan.space_needed_bytes)}, {free}\n",
                style="bold red" if short else "")
    text.append("Time      ", style="bold")
    text.append(estimate_said(plan.time_parts, fmt.duration) + "\n")
    text.append("Sessions  ", style="bold")
    text.append(f"{plan.sessions_said} to terminate\n",
                style="yellow" if plan.sessions_to_terminate else "")
    text.append("Steps\n", style="bold")
    width = max((len(step.action) for step in plan.steps), default=0) + 1
    for i, step in enumerate(plan.steps, 1):
        text.append(f"  {i}. ")
        text.append(f"{step.action:<{width}}", style="cyan")
        text.append(step.description + ("\n" if i < len(plan.steps) else ""))
    return text


def more_below(plan: RestorePlan) -> Text:
    """The line under a plan that does not fit: the steps that change a live database are never out of sight
    without a word."""
    live = [i for i, step in enumerate(plan.steps, 1) if step.action in ("terminate", "rename")]
    text = Text("▼ Below", style="bold yellow")
    if plan.mode == "replace" and live and plan.aside_db is None:  # no database of that name now: nothing to end
        text.append(f": step {live[-1]} gives the restored database the name {plan.target_db!r}", style="yellow")
    elif plan.mode == "replace" and live:
        span = f"{live[0]}–{live[-1]}" if len(live) > 1 else str(live[0])
        text.append(f": steps {span} end the sessions on {plan.target_db!r} and rename it aside", style="yellow")
    else:
        text.append(": the rest of the plan", style="yellow")
    text.append(" · ↓/PgDn", style="dim")
    return text


STEP_MARKS = {"ok": ("✓", "green"), "failed": ("✗", "bold red"), "running": ("›", "bold cyan"),
              "stopped": ("■", "yellow")}  # a cancel is the operator's choice: not a red failure


def steps_text(job: Job) -> Text:
    text = Text()
    for step in job.steps:
        mark, style = STEP_MARKS[step.state]
        text.append(f" {mark} ", style=style)
        text.append(step.name, style="bold" if step.state == "running" else "")
        if step.detail:
            text.append(f"  {step.detail}", style="dim")
        text.append("\n")
    return text


PHASES = {SAFETY_BACKUP: "safety backup of the current database", "create": "creating the database",
          "restore": "loading the data", "verify": "counting rows", "properties": "database settings",
          "terminate": "ending sessions", "rename": "swapping the databases"}


def bytes_text(job: Job, now: datetime) -> str:
    """Which phase runs, how far its bytes are, and the time left by the plan's estimate (all phases), else by
    the byte rate of this one."""
    parts = [PHASES.get(job.phase, job.phase)] if job.phase else []
    if job.bytes_total and job.bytes_done >= job.bytes_total and job.bytes_step == "restore" \
            and job.current_step == "restore":
        # Every byte is in, but pg_restore still builds indexes and checks constraints: no "ETA 0 s".
        parts.append(f"{fmt.human_bytes(job.bytes_done)} read · pg_restore is finishing: the last rows, then "
                     "indexes and constraints…")
    elif job.bytes_done and ((job.phase == SAFETY_BACKUP and job.bytes_step == "dump")
                             or job.bytes_step == job.current_step == "restore"):
        total = f" of {fmt.human_bytes(job.bytes_total)}" if job.bytes_total else ""
        parts.append(f"{fmt.human_bytes(job.bytes_done)}{total}")
    left = job.time_left(now)
    if left is not None:
        estimate = fmt.duration(job.estimate_s)
        parts.append(f"about {fmt.duration(left)} left (plan: {estimate})" if left >= 0.5
                     else f"longer than the plan's {estimate}")
    elif job.current_step == "restore" and job.bytes_done < (job.bytes_total or 0):
        eta = job.eta_seconds(now)
        parts.append(f"ETA {fmt.duration(eta)} to read, then indexes" if eta is not None else "ETA —")
    return " · ".join(parts)


def show_text(widget: Static, content: Text | str) -> None:
    """``update`` when it reads differently, with a layout of the screen only when the height may change: the
    progress page is shown four times a second and on every tick, mostly with the same steps and a byte
    count of the same length."""
    old = widget.content
    if isinstance(old, Text | str) and type(old) is type(content) and old == content:
        return
    width = widget.content_region.width
    same_height = (isinstance(old, Text | str) and width > 0
                   and all(str(c) and "\n" not in str(c) and cell_len(str(c)) <= width for c in (old, content)))
    widget.update(content, layout=not same_height)


class MarkedRadioButton(RadioButton):
    """A radio button whose choice shows without colour too (a dot, or none): monochrome terminals over SSH."""

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "●" if self.value else " "
        return super()._button


class ChoiceSet(RadioSet):
    """A radio set whose arrow keys make the choice, as the screen says they do, not only move a highlight
    that enter or space must then confirm; no wrap-around, so the same key press twice never undoes itself."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "submit", "Show the plan", show=False)]

    class Submitted(Message):
        """Enter on the choice: go on with it, as enter in the name box does."""

    class Resized(Message):
        """Its width changed: the labels are fitted to it again (see ``replace_label``)."""

    def action_submit(self) -> None:
        self.post_message(self.Submitted())

    def on_resize(self) -> None:
        self.post_message(self.Resized())

    def action_next_button(self) -> None:
        self._choose(1)

    def action_previous_button(self) -> None:
        self._choose(-1)

    def _choose(self, step: int) -> None:
        buttons = list(self.query(RadioButton))
        if self.pressed_button is None or not buttons:  # mounting: RadioSet highlights the first one
            super().action_next_button()
            return
        index = max(0, min(len(buttons) - 1, self.pressed_index + step))
        buttons[index].value = True  # RadioSet turns the other off, highlights this one and posts Changed


class PlanScroll(VerticalScroll):
    """The plan's scroll, which says when its size or its content's changed: whether more of the plan is below
    is known only once a layout has sized both, which may take more than one refresh."""

    class Resized(Message):
        pass

    def on_resize(self) -> None:
        self.post_message(self.Resized())


class TargetPage(VerticalScroll, can_focus=False):
    """The target page scrolls (at 80x24 an engine message under the name may be longer than the room left)
    but takes no focus of its own: shift+tab, as the page says, went from the choice to the page itself,
    where the arrows and Enter did nothing."""


class BackButton(Button, can_focus=False):
    """Clicked, or escape: tab skips it, so tab then enter goes forward, never back a step."""


class RestoreWizard(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        # The progress page's focus is its log (an Enter typed ahead must cancel nothing): the footer names the key.
        Binding("c", "cancel_restore", "Cancel restore"),
        # The plan's focus is on its buttons: these scroll it from there (at 80x24 its last steps are below).
        Binding("down", "scroll_plan(1)", "Scroll", show=False),
        Binding("up", "scroll_plan(-1)", "Scroll", show=False),
        Binding("pagedown", "scroll_plan(1, True)", "Page", show=False),
        Binding("pageup", "scroll_plan(-1, True)", "Page", show=False),
    ]

    def __init__(self, records: list[BackupRecord], services: Services, start_restore: StartRestore, *,
                 tz: tzinfo | None = None, backup_id: str | None = None, database: str | None = None,
                 job: Job | None = None) -> None:
        """``job``: a restore started earlier (Enter on the Jobs tab): open on its progress or its result."""
        super().__init__()
        self.reopened = job
        if job is not None and isinstance(job.result, RestoreResult):
            backup_id = job.result.plan.backup_id
        if database is None and backup_id is not None:  # opened on one backup: offer its database's only
            database = next((r.database for r in records if r.id == backup_id), None)
        self.records = offered(records, database)
        self.services = services
        self.start_restore = start_restore
        self.tz = tz
        now = services.clock()
        self.initial = preselect(self.records, backup_id, database, now)
        self.question = choose_question(self.records, self.initial, backup_id, database, now) + not_read_yet(
            records, database)
        self.plan: RestorePlan | None = None
        self.job: Job | None = None
        self.step = "choose"
        self.planning = False
        self._suggested = ""
        self._suggestions: dict[str, str] = {}  # backup id -> the name first suggested for it
        self._ahead = PlanAhead(services.plan_restore)
        self._bar_waits = False
        self._shown_at = 0.0
        self._built: dict[str, asyncio.Event] = {}

    @property
    def taking_keys(self) -> bool:
        """False until a step has the focus, and while the plan is being made: keys typed ahead wait for the
        page they were meant for."""
        return self.focused is not None and not self.planning

    @property
    def awaiting_work(self) -> bool:
        """The plan is being made: keys typed ahead wait for it, and the app need not watch the screen settle."""
        return self.planning

    def allows(self, action: str, parameters: tuple[object, ...]) -> bool:
        """Which of the app's keys apply inside the wizard: help and quit, and 3 to leave a running or finished
        restore on the Jobs tab; never a backup (b) or another tab in the middle of a restore's questions."""
        if action == "new_backup":
            return False
        if action == "show_tab":
            return parameters == ("jobs",) and self.step in ("progress", "result")
        return True

    # -- layout -------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="wizard-steps")
        with ContentSwitcher(initial="choose", id="wizard"):
            with Vertical(id="choose"):
                yield from self._compose_choose()
            for key in LAZY_STEPS:
                # Filled the first time it is shown: see ``build``. The target page scrolls: at 80x24 an engine
                # message under the name (a damaged backup, a refused name) is longer than the room left.
                yield TargetPage(id=key) if key == "target" else Vertical(id=key)
        yield QuietFooter()

    def _compose_choose(self) -> ComposeResult:
        yield Label(self.question, id="choose-question", classes="question")
        yield Static(id="choose-warning")
        yield RowTable(id="choose-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(classes="buttons"):
            yield Button("Cancel", id="cancel-wizard")
            yield Button("Next", id="to-target", variant="primary")

    def _compose_target(self) -> ComposeResult:
        yield Static(id="target-backup")
        yield Label("Restore into…  (shift+tab reaches this choice, ↑↓ change it)", classes="question")
        with ChoiceSet(id="mode"):
            yield MarkedRadioButton("a new database (safe: nothing existing is touched)", value=True, id="mode-new")
            yield MarkedRadioButton("the original database, replacing it", id="mode-replace")
        yield Label("Name of the new database:", id="name-label")
        yield Input(id="target-name")
        yield Static(id="target-error", classes="error")
        with Horizontal(classes="buttons"):
            yield BackButton("Back", id="back-choose")
            yield Button("Show the plan", id="to-plan", variant="primary")

    def _compose_plan(self) -> ComposeResult:
        with PlanScroll(id="plan-scroll"):
            yield Static(id="plan-text")
        yield Static(id="plan-more")
        with Horizontal(classes="buttons"):
            yield BackButton("Back", id="back-target")
            yield Button("Without owners", id="plan-no-owner", variant="warning")
            yield Button("Restore", id="run", variant="primary")

    def _compose_confirm(self) -> ComposeResult:
        yield Static(id="confirm-text")
        yield Input(id="confirm-name", placeholder="type the database name")
        yield Static(id="confirm-error", classes="error")
        with Horizontal(classes="buttons"):
            yield BackButton("Back", id="back-plan")
            yield Button("Replace", id="run-replace", variant="error", disabled=True)

    def _compose_progress(self) -> ComposeResult:
        yield Static(id="progress-steps")
        yield ProgressBar(id="progress-bar", show_eta=False)
        yield Static(id="progress-bytes")
        yield ReflowLog(id="progress-log", max_lines=200)
        yield Static(id="progress-outcome")
        with Horizontal(classes="buttons"):
            yield Button("Cancel restore", id="cancel-restore", variant="warning")
            close = Button("Close", id="close-failed")
            close.display = False  # after a failure or a cancel, in place of Cancel
            yield close

    def _compose_result(self) -> ComposeResult:
        yield Static(id="result-summary")
        yield RowTable(id="result-table", cursor_type="row", zebra_stripes=True)
        yield Static(id="result-notes")
        with Horizontal(classes="buttons"):
            yield Button("Close", id="close", variant="primary")

    async def build(self, step: str) -> None:
        """Compose ``step``'s widgets the first time it is needed. Composing all six pages at once made
        opening the wizard cost twice what its first page does, and every page after it paid for the
        widgets of all of them (each key typed ahead waits for the screen's widgets)."""
        if step == "choose":
            return
        if step in self._built:
            await self._built[step].wait()
            return
        ready = self._built[step] = asyncio.Event()
        composers = {"target": self._compose_target, "plan": self._compose_plan, "confirm": self._compose_confirm,
                     "progress": self._compose_progress, "result": self._compose_result}
        await self.query_one(f"#{step}").mount_compose(composers[step]())
        if step == "plan":
            self.watch(self.query_one("#plan-scroll", VerticalScroll), "scroll_y", self._show_more, init=False)
        ready.set()

    def built(self, step: str) -> bool:
        return step == "choose" or (step in self._built and self._built[step].is_set())

    async def on_mount(self) -> None:
        self.title = "Guided restore"
        table: DataTable[str | Text] = self.query_one("#choose-table", DataTable)
        now = self.services.clock()
        rows = [chooser_cells(record, now, self.tz) for record in self.records]
        # The id first and whole (it names the database and the UTC time), the verification whole after it: the
        # local time (below 100 columns), then the size, then the age are left out rather than cut.
        widths = {key: max([cell_len(label), *(cell_len(str(row[key])) for row in rows)])
                  for key, label in CHOOSER_COLUMNS.items()}
        room = self.app.size.width - CHOOSER_GUTTER
        shown = fit_columns(widths, room, ("created", "size", "age")) if self.app.size.width >= WIDE_CHOOSER \
            else fit_columns({k: w for k, w in widths.items() if k != "created"}, room, ("size", "age"))
        for key in shown:
            table.add_column(CHOOSER_COLUMNS[key], key=key)
        for record, row in zip(self.records, rows, strict=True):
            table.add_row(*(row[key] for key in shown), key=record.id)
        if self.records:
            table.move_cursor(row=self.initial, animate=False)
            if self.reopened is None:
                first = self.records[self.initial]
                self._ahead.start(first, self._suggestion(first))
        else:
            self.query_one("#to-target", Button).disabled = True
        self.set_interval(1.0, self._tick)
        if self.reopened is None:
            self.go("choose")
            return
        self.job = self.reopened
        await self.build("progress")
        await self.build("result")
        self.go("progress")
        self.show_job()

    # -- navigation ---------------------------------------------------------

    @on(DataTable.RowHighlighted, "#choose-table")
    def _follow_cursor(self) -> None:
        """The question names the backup under the cursor, and warns when that one is not known to be good."""
        if not self.records:
            return
        record = self.record
        label = self.query_one("#choose-question", Label)
        label.update(self.question if record is self.records[self.initial] else f"Which backup? Selected: {record.id}.")
        warning = verification_warning(record) if record.failed_last_check else safety_warning(record)
        self.query_one("#choose-warning", Static).update(warning or "")
        self.query_one("#choose-warning", Static).display = warning is not None

    @property
    def record(self) -> BackupRecord:
        table = self.query_one("#choose-table", DataTable)
        return self.records[max(0, min(table.cursor_row, len(self.records) - 1))]

    @property
    def replace(self) -> bool:
        if self.reopened is not None and self.reopened.plan is not None:  # no target page: the job's plan says
            return self.reopened.plan.mode == "replace"
        chosen = self.query("#mode-replace").results(RadioButton)  # none before the target page is first shown
        return any(button.value for button in chosen)

    def go(self, step: str) -> None:
        self.step = step
        self.query_one(ContentSwitcher).current = step
        names = [key for key, _ in STEPS]
        header = Text()
        shown = [(key, label) for key, label in STEPS if key != "confirm" or self.replace]
        for i, (key, label) in enumerate(shown, 1):
            style = "bold reverse" if key == step else ("green" if names.index(key) < names.index(step) else "dim")
            header.append(f" {i} {label} ", style=style)
            header.append("›" if key != "result" else "", style="dim")
        self.query_one("#wizard-steps", Static).update(header)
        # The progress page's focus is its log, not Cancel: an Enter typed once too often (a double tap, a burst
        # of keys typed ahead) would cancel the restore it just started. Cancel is c (the footer says), a Tab or a
        # click away.
        focus = {"choose": "#choose-table", "target": "#target-name" if not self.replace else "#mode",
                 "plan": "#run", "confirm": "#confirm-name", "progress": "#progress-log",
                 "result": "#close"}[step]
        self.query_one(focus).focus()
        self.refresh_bindings()

    def action_back(self) -> None:
        previous = {"choose": None, "target": "choose", "plan": "target", "confirm": "plan", "result": None}
        if self.step == "progress":
            if self.job is not None and self.job.running:
                self.notify("The restore is running: cancel it first, or leave it on the Jobs tab (3).")
                return
            self.dismiss()
            return
        target = previous.get(self.step)
        if target is None:
            self.dismiss()
        else:
            self.go(target)

    @on(DataTable.RowSelected, "#choose-table")
    @on(Button.Pressed, "#to-target")
    async def _to_target(self) -> None:
        if not self.records:
            return
        await self.build("target")
        name_box = self.query_one("#target-name", Input)
        if not name_box.value or name_box.value == self._suggested:
            self._suggested = name_box.value = self._suggestion(self.record)
        if not self.replace:
            self._ahead.start(self.record, name_box.value.strip())
        self.query_one("#target-backup", Static).update(
            Hanging.of(chosen_line(self.record, self.services.clock(), self.tz)))
        self._label_replace()
        self._sync_mode()
        self.go("target")

    @on(ChoiceSet.Resized)
    def _label_replace(self) -> None:
        """The replace choice names the database, in the longest words that fit the choice's width whole."""
        mode = self.query_one("#mode", ChoiceSet)
        room = mode.content_region.width - RADIO_BUTTON if mode.content_region.width else 0
        self.query_one("#mode-replace", RadioButton).label = replace_label(self.record.database, room)

    def _suggestion(self, record: BackupRecord) -> str:
        """The new database's name for ``record``, the same each time it is offered in this wizard."""
        return self._suggestions.setdefault(record.id, suggested_name(record, self.services.clock()))

    @on(RadioSet.Changed, "#mode")
    def _sync_mode(self) -> None:
        new = not self.replace
        self.query_one("#target-name", Input).display = new
        self.query_one("#name-label", Label).display = new
        self.query_one("#target-error", Static).update("")  # about the name, which may be gone

    @on(Input.Changed, "#target-name")
    def _name_typed(self) -> None:
        """What the engine said of the name before stays under it no longer: it read as said of the new one."""
        if not self.planning:
            self.query_one("#target-error", Static).update("")

    @on(Button.Pressed, "#back-choose")
    def _back_choose(self) -> None:
        self.go("choose")

    @on(Input.Submitted, "#target-name")
    @on(ChoiceSet.Submitted)
    @on(Button.Pressed, "#to-plan")
    async def _to_plan(self) -> None:
        name = self.query_one("#target-name", Input).value.strip()
        if not self.replace and not name:
            self.query_one("#target-error", Static).update("Type a name for the new database.")
            return
        self.query_one("#target-error", Static).update("Asking the server for the plan…")
        self.query_one("#to-plan", Button).disabled = True
        self.planning = True
        self._make_plan(self.record, None if self.replace else name, self.replace)
        await self.build("plan")  # while the server answers

    @on(Button.Pressed, "#plan-no-owner")
    def _plan_without_owners(self) -> None:
        assert self.plan is not None
        self.query_one("#plan-no-owner", Button).disabled = True
        self.planning = True
        self._make_plan(self.record, None if self.replace else self.plan.target_db, self.replace, no_owner=True)

    @work(thread=True, exclusive=True, group="plan", exit_on_error=False)
    def _make_plan(self, record: BackupRecord, target: str | None, replace: bool, no_owner: bool = False) -> None:
        try:
            plan = (self._ahead.take(record, target, replace, no_owner)
                    or self.services.plan_restore(record, target, replace, no_owner))
        except BackupToolError as exc:
            self.app.call_from_thread(self._plan_failed, exc.message)
            if isinstance(exc, DamageFound):  # recorded as a failed check: the dashboard and list say so now
                self.app.call_from_thread(self._damage_recorded)
            return
        except Exception as exc:  # anything else still reads as a message, not a traceback
            self.app.call_from_thread(self._plan_failed, f"planning failed: {exc}")
            return
        ready: Callable[[RestorePlan], Awaitable[None] | None] = self._plan_ready
        self.app.call_from_thread(ready, plan)

    def _damage_recorded(self) -> None:
        self.app.call_later(self.app.run_action, "refresh_catalog")

    def _plan_failed(self, message: str) -> None:
        """On the target page the message is shown under the name, whole: a notification would cover it and the
        buttons at 80x24. From the plan page (planned again without owners) it is a notification."""
        self.planning = False
        message = in_app_words(message)
        self.query_one("#to-plan", Button).disabled = False
        error = self.query_one("#target-error", Static)
        error.update(Text(message, style="bold red"))
        if self.step == "target":
            self.call_after_refresh(error.scroll_visible, animate=False)
        else:
            self.notify(message, title="Cannot plan the restore", severity="error")

    async def _plan_ready(self, plan: RestorePlan) -> None:
        await self.build("plan")
        self.plan = plan
        self.planning = False
        self.query_one("#to-plan", Button).disabled = False
        self.query_one("#target-error", Static).update("")
        # Wrapped under each line's own text: a step or label that wraps never continues at column 0.
        self.query_one("#plan-text", Static).update(
            Hanging.of(plan_text(plan, self.record, self.services.clock(), self.tz)))
        self.query_one("#run", Button).label = "Continue" if plan.mode == "replace" else "Restore"
        self.query_one("#run", Button).disabled = plan.refusal is not None  # the run would refuse
        offer = self.query_one("#plan-no-owner", Button)
        offer.display, offer.disabled = no_owner_helps(plan), False
        self.query_one("#plan-scroll", VerticalScroll).scroll_home(animate=False)
        self.go("plan")
        self.call_after_refresh(self._show_more)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "scroll_plan":
            return self.step == "plan"
        if action == "cancel_restore":
            return self.step == "progress" and self.job is not None and self.job.running \
                and not self.job.cancel.cancelled
        return True

    def action_cancel_restore(self) -> None:
        self._cancel_restore()

    def action_scroll_plan(self, direction: int, page: bool = False) -> None:
        """A line, or a page, down (1) or up (-1)."""
        scroll = self.query_one("#plan-scroll", VerticalScroll)
        step = max(1, scroll.scrollable_content_region.height - 1) if page else 1
        scroll.scroll_relative(y=direction * step, animate=False)

    @on(PlanScroll.Resized)
    def _show_more(self) -> None:
        """Below the plan, while some of it is out of sight: that more follows, which steps, how to see them."""
        scroll = self.query_one("#plan-scroll", VerticalScroll)
        more = self.query_one("#plan-more", Static)
        hidden = self.plan is not None and scroll.max_scroll_y > 0 and scroll.scroll_y < scroll.max_scroll_y
        more.display = hidden
        if hidden and self.plan is not None:
            more.update(more_below(self.plan))

    @on(Button.Pressed, "#back-target")
    def _back_target(self) -> None:
        self.go("target")

    @on(Button.Pressed, "#run")
    async def _run_pressed(self) -> None:
        assert self.plan is not None
        if self.plan.mode == "replace":
            await self.build("confirm")
            target = self.plan.target_db
            if self.plan.aside_db is None:  # dropped since its backup: the restored one takes the name
                what = (f", which does not exist now: the restored database takes its name and nothing is kept "
                        f"aside (to undo: drop {target!r}).\n\nType ")
            else:
                what = (f". Its sessions, now {self.plan.sessions_said}, will be terminated; the current database "
                        f"is kept as {self.plan.aside_db!r} for rollback.\n\nType ")
            self.query_one("#confirm-text", Static).update(Text.assemble(
                ("This replaces the database ", ""), (target, "bold red"), (what, ""), (target, "bold"),
                (" to confirm:", ""),
            ))
            box = self.query_one("#confirm-name", Input)
            box.value = ""
            self.query_one("#confirm-error", Static).update("")
            self.query_one("#run-replace", Button).label = f"Replace {target}"
            self.go("confirm")
        else:
            await self._start()

    @on(Button.Pressed, "#back-plan")
    def _back_plan(self) -> None:
        self.go("plan")

    @on(Input.Changed, "#confirm-name")
    def _confirm_typed(self, event: Input.Changed) -> None:
        assert self.plan is not None
        self.query_one("#run-replace", Button).disabled = not self._typed_matches(event.value)
        self.query_one("#confirm-error", Static).update("")

    def _typed_matches(self, typed: str) -> bool:
        """The name typed whole; spaces around it, which no one sees, do not count (the target's field trims
        them too), unless the name itself has them."""
        assert self.plan is not None
        return self.plan.target_db in (typed, typed.strip())

    @on(Input.Submitted, "#confirm-name")
    @on(Button.Pressed, "#run-replace")
    async def _replace_confirmed(self) -> None:
        assert self.plan is not None
        if self._typed_matches(self.query_one("#confirm-name", Input).value):
            await self._start()
        else:
            self.query_one("#confirm-error", Static).update(
                f"The name does not match: type {self.plan.target_db} exactly to replace it.")

    async def _start(self) -> None:
        """The restore starts at once; its pages are composed once it is under way (the result's too: show_job
        goes there the moment the job is done, maybe before a refresh)."""
        assert self.plan is not None
        if self.job is not None:
            return  # Enter or a click again while the restore sets out, its plan still up: one restore
        job = self.job = self.start_restore(self.record, self.plan)
        # Drawn once the job is under way: composing and painting the progress page took the CPU (and the
        # interpreter's lock) from the job's first steps, which wait on the server in turns (create the
        # database, look for leftovers), and made them twice as long as headless. The plan stays up meanwhile.
        with self.app.batch_update():
            began = time.monotonic()
            while not job.under_way and time.monotonic() < began + SETTING_OUT_S:
                await asyncio.sleep(SETTING_OUT_POLL_S)
        await self.build("progress")
        self.query_one("#progress-log", RichLog).clear()
        self.go("progress")
        self.show_job()
        await self.build("result")
        self.show_job()  # a restore that ended meanwhile goes on to its result now

    # -- progress and result -------------------------------------------------

    def on_jobs_changed(self, message: JobsChanged) -> None:
        if self.job is not None and message.job_id == self.job.id:
            self.show_job()

    def _tick(self) -> None:
        """The time left moves with the clock, also while pg_restore builds indexes and reports nothing; not
        when a progress event has just shown it."""
        if self.step == "progress" and self.job is not None and self.job.running \
                and time.monotonic() - self._shown_at >= TICK_AFTER_S:
            self.show_job()

    def show_job(self) -> None:
        job = self.job
        if job is None or not self.query("#progress-steps"):  # a refresh called back after the wizard closed
            return
        now = self.services.clock()
        self._shown_at = time.monotonic()
        show_text(self.query_one("#progress-steps", Static), steps_text(job))
        bar = self.query_one("#progress-bar", ProgressBar)
        measured = job.bar(now)  # one bar for every phase; without an estimate, the phase's bytes
        if measured is not None and bar.display:
            if bar.size.width:
                done, planned = measured
                bar.update(total=planned, progress=done)
            elif self.step == "progress" and not self._bar_waits:
                # Not laid out yet: the bar rounds to its width, so wait for one; once, and only while the bar
                # is on the page (a restore that ends before its first layout goes on to the result).
                self._bar_waits = True
                self.call_after_refresh(self._bar_laid_out)
        show_text(self.query_one("#progress-bytes", Static), bytes_text(job, now))
        log = self.query_one("#progress-log", RichLog)
        shown = getattr(log, "_shown", 0)
        entries = list(job.log)
        for entry in entries[shown:]:
            log.write(log_entry(entry, self.tz))
        log._shown = len(entries)  # type: ignore[attr-defined]
        cancel = self.query_one("#cancel-restore", Button)
        cancel.disabled = not job.running or job.cancel.cancelled
        if job.running:
            return
        self.refresh_bindings()  # c (cancel) leaves the footer
        if job.state == "done" and isinstance(job.result, RestoreResult):
            if self.built("result"):  # else once it is (``_start``)
                self.show_result(job.result)
            return
        bar.display = False  # a full or half bar would read as progress: the outcome says what happened
        if job.bytes_done:
            total = f" of {fmt.human_bytes(job.bytes_total)}" if job.bytes_total else ""
            self.query_one("#progress-bytes", Static).update(Text(
                f"{job.state.capitalize()} during {job.bytes_step or 'the restore'}: "
                f"{fmt.human_bytes(job.bytes_done)}{total} had been read.", style="dim"))
        outcome = Text(job.message, style="bold yellow" if job.state == "cancelled" else "bold red")
        for warning in stop_notes(job):
            outcome.append(f"\n{warning}", style="yellow")
        note = safety_note(job)
        if note:
            outcome.append(f"\n{note}", style="")
        # The outcome first, the steps under it, and no log tail (at 80x24 it was squeezed to its border): what
        # happened is read whole even when a replace's steps fill the page; the log stays on the Jobs tab.
        log.display = False
        outcome.append("\nIts whole log: the Jobs tab (3), enter on the job.", style="dim")
        shown = self.query_one("#progress-outcome", Static)
        shown.update(outcome)
        shown.add_class("ended")
        page = self.query_one("#progress", Vertical)
        if page.children[0] is not shown:
            page.move_child(shown, before=0)
        cancel.display = False
        close = self.query_one("#close-failed", Button)
        close.display = True
        close.focus()

    def _bar_laid_out(self) -> None:
        """While drawing is held (keys typed ahead, a restore setting out) no layout comes: looked at again
        shortly. Asked again after each refresh instead, it spun on the event loop's idle and hung the app."""
        if self.query("#progress-bar") and not self.query_one("#progress-bar", ProgressBar).size.width:
            self.set_timer(BAR_RETRY_S, self._bar_laid_out)
            return
        self._bar_waits = False
        self.show_job()

    @on(Button.Pressed, "#cancel-restore")
    def _cancel_restore(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel.cancel()
            self.refresh_bindings()
            self.query_one("#cancel-restore", Button).disabled = True
            self.query_one("#progress-outcome", Static).update(
                Text("Cancelling: the engine stops at the next chunk and drops what it created…", style="yellow"))

    def show_result(self, result: RestoreResult) -> None:
        plan = result.plan
        compared = [(want, got) for want, got in result.row_counts.values() if want is not None]
        matched = sum(1 for want, got in compared if want == got)
        summary = Text()
        summary.append("✓ Restored ", style="bold green")
        summary.append(f"{plan.backup_id} into {plan.target_db!r} in {fmt.duration(result.duration_s)}. ")
        if result.row_counts and not compared:  # the old scripts' dumps: nothing to hold the counts against
            summary.append(f"{len(result.row_counts)} tables restored; this backup has no row counts to compare "
                           "them with (kept in the backup's verification history).")
        else:
            summary.append(f"{matched} of {len(compared)} tables match the manifest (kept in the backup's "
                           "verification history).")
        if result.connect:  # the engine's line: host, port and user as the app connects, no password
            summary.append(f"\nConnect:\n  {result.connect}", style="bold")  # a line of its own: not cut at 80
        self.query_one("#result-summary", Static).update(summary)
        table: DataTable[str | Text] = self.query_one("#result-table", DataTable)
        table.clear(columns=True)
        table.add_columns("Table", "Manifest", "Restored", "")
        for name, (want, got) in sorted(result.row_counts.items()):
            ok = want == got
            table.add_row(name, Text("—" if want is None else f"{want:,}", justify="right"),
                          Text("—" if got is None else f"{got:,}", justify="right"),
                          Text("" if want is None else "✓" if ok else "✗", style="green" if ok else "bold red"))
        self.query_one("#result-notes", Static).update(result_notes(result))
        self.go("result")
        if self.reopened is not None and plan.mode == "replace" and plan.aside_db:
            self._look_for_kept(plan.target_db, plan.aside_db)  # a rollback or a drop since: no longer there

    @work(thread=True, exclusive=True, group="kept", exit_on_error=False)
    def _look_for_kept(self, database: str, aside: str) -> None:
        try:
            kept = self.services.kept_copies().get(database)
        except BackupToolError:
            return
        if kept is None:  # the server did not answer: the result stays as it was
            return
        if aside not in {copy.name for copy in kept}:
            self.app.call_from_thread(self._kept_now, "gone")
        elif (default := rollback_default(kept)) is None or default.name != aside:
            self.app.call_from_thread(self._kept_now, "older")  # a later replace kept a newer copy

    def _kept_now(self, kept: KeptState) -> None:
        job = self.job
        if self.step == "result" and job is not None and isinstance(job.result, RestoreResult):
            self.query_one("#result-notes", Static).update(result_notes(job.result, kept))

    @on(Button.Pressed, "#close")
    @on(Button.Pressed, "#close-failed")
    @on(Button.Pressed, "#cancel-wizard")
    def _close(self) -> None:
        self.dismiss()


def result_notes(result: RestoreResult, kept: KeptState = "newest") -> Text:
    """Under the row counts: the previous database a replace kept and how to return to it or drop it. Looked
    at again for a reopened result: "gone" (rolled back or dropped since) says so, since the rollback it once
    named would now swap the restored data back out; "older" (a later replace kept a newer copy, the one a
    bare rollback takes) names this copy in the command."""
    plan = result.plan
    notes = Text()
    if plan.mode == "replace" and plan.aside_db:
        if kept != "gone":
            notes.append("Previous database kept as ", style="")
            notes.append(plan.aside_db, style="bold")
            back = rollback_command(plan.target_db, plan.aside_db if kept == "older" else None)
            notes.append(f".\n  roll back:   {back}   (or ctrl+p: roll back)\n"
                         f"  drop it:     {drop_kept_command(plan.aside_db)}")
        else:
            notes.append(f"Previous database {plan.aside_db} is no longer kept (rolled back or dropped since): "
                         "nothing of this restore is left to roll back to.", style="yellow")
    if result.safety_backup_id:
        notes.append(f"\nSafety backup taken first: {result.safety_backup_id}")
    for note in result.notes:
        if plan.aside_db and plan.aside_db in note:
            continue
        notes.append(f"\n{note}")
    return notes
