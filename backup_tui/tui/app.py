"""backup-tui: the Textual app.

Threading model (as in harlequin): every call into the engine runs in a thread
worker that only posts messages; the app applies them on the UI thread. Jobs
(backup, verify, restore) carry a cancel token the engine checks between chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import tzinfo
from typing import TYPE_CHECKING, ClassVar, TypeVar

from textual import events, on, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.filter import LineFilter
from textual.message_pump import MessagePump
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import TabbedContent
from textual.worker import get_current_worker

from backup_tui.engine.config import Settings
from backup_tui.engine.core.clock import Clock, system_clock
from backup_tui.engine.core.errors import BackupToolError, Cancelled
from backup_tui.engine.core.health import Health, Problem
from backup_tui.engine.core.models import BackupRecord, RestorePlan, RestoreResult, Verification, VerifyLevel
from backup_tui.engine.core.policy import can_pin, can_restore
from backup_tui.engine.core.progress import BytesProgress, CancelToken, Reporter, null_reporter
from backup_tui.engine.ops.health import check_health
from backup_tui.engine.ops.kept import KeptCopy, Rollback
from backup_tui.engine.storage.progressive import unjudged
from backup_tui.tui import format as fmt
from backup_tui.tui.controls import NoControls
from backup_tui.tui.jobs import Job, JobKind, LogEntry, ThrottledReporter
from backup_tui.tui.messages import CatalogLoaded, JobEnded, JobEvent, JobsChanged, ServersChecked
from backup_tui.tui.screens.main import MainScreen
from backup_tui.tui.screens.restore import RestoreWizard, in_app_words
from backup_tui.tui.services import EngineServices, Services
from backup_tui.tui.widgets.backups import BackupsView, TableState, database_filter, row_spec, visible
from backup_tui.tui.widgets.dashboard import DatabaseCard
from backup_tui.tui.widgets.jobs import JobsView
from backup_tui.tui.widgets.outlook import outlook_text

if TYPE_CHECKING:
    from backup_tui.engine.ops.delete import DeletePlan

# The dialogs and the problems screen are imported where they are opened: none shows in the first frame or on
# the way to a restore, and the app's launch is what an operator waits for (see test_import_hygiene).

ACTIVITY_LINES = 2000
# Seconds a job's outcome stays up: at 80x24 two stacked toasts cover the table; the log keeps every outcome.
DONE_TOAST, WARNING_TOAST, ERROR_TOAST = 4, 6, 8
S3_MISSING = "S3 is not configured: add an [s3] table to the config (or BACKUP_ENABLE_S3 and S3_*) to upload"
TABLE_WAIT_S = 0.05  # a catalog worker's look at whether the table shows its last load yet
KEY_HOLD_S = 3.0  # longest a key typed ahead waits for its screen to take keys (a plan being made)
# A page that waits for work outside the UI is drawn once the wait is this long: a plan made in a tenth of a
# second (a local server) passes unseen, as the other pages a burst of keys goes through.
WAIT_SHOWN_AFTER_S = 0.15
KEY_POLL_S = 0.01  # how often it looks: the wait is added to every key typed ahead of a screen
SETTLE_ROUNDS = 40  # a key's effects: a binding bubbling up, the screen it opens mounting, its first focus

_T = TypeVar("_T")


def _no_toast(message: str, *, title: str, severity: SeverityLevel, timeout: float) -> None:
    """In place of ``notify`` when the screen on top already shows the outcome."""


class BackupApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "backup-tui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit_app", "Quit"),
        Binding("f1,question_mark", "help", "Help"),
        Binding("b", "new_backup", "Backup"),
        Binding("1", "show_tab('dashboard')", "Dashboard", show=False),
        Binding("2", "show_tab('backups')", "Backups", show=False),
        Binding("3", "show_tab('jobs')", "Jobs", show=False),
        Binding("ctrl+r", "refresh_catalog", "Refresh", show=False),
        Binding("exclamation_mark", "problems", "Problems", show=False),
    ]

    def __init__(self, settings: Settings, *, clock: Clock = system_clock, services: Services | None = None,
                 tz: tzinfo | None = None, refresh_seconds: float = 30.0, subtitle: str | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.clock = clock
        self.services: Services = services or EngineServices(settings, clock)
        self.tz = tz
        self.refresh_seconds = refresh_seconds
        self.sub_title = subtitle if subtitle is not None else str(settings.repository)
        self.records: list[BackupRecord] = []
        self.health: list[Health] = []
        self.general: tuple[Problem, ...] = ()  # the health check's problems about the repository
        self.locked: frozenset[str] = frozenset()
        self.jobs: dict[int, Job] = {}
        self.activity: deque[LogEntry] = deque(maxlen=ACTIVITY_LINES)
        self.catalog_loads = 0
        self.catalog_complete = 0  # loads with every manifest read (the others list a bucket's backups unread)
        self.catalog_read = False  # the first load ended (or failed): keys typed before it wait for it
        self._job_ids = itertools.count(1)
        self._refreshing = False
        self._refresh_again = False
        self._describe: dict[int, Callable[[object], str]] = {}
        self._keys_ahead: deque[events.Key] = deque()
        self._key_released: events.Key | None = None
        self._keys_busy = False
        self._key_taken = asyncio.Event()
        self._no_controls = NoControls()

    def get_line_filters(self) -> Sequence[LineFilter]:
        """Textual's filters, then ours: no control character from a record reaches the terminal (``controls``)."""
        return [*super().get_line_filters(), self._no_controls]

    # -- screens ---------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        return MainScreen(list(self.settings.database_names), s3=self.settings.s3 is not None)

    @property
    def main(self) -> MainScreen:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen
        raise LookupError("the main screen is not mounted")

    def mounted_main(self) -> MainScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)

    @on(MainScreen.Ready)
    def _main_ready(self) -> None:
        # Modules, styles and widgets last as long as the app: out of the cycle collector's way (it would
        # rescan them in every full collection, tens of milliseconds each), see ``backups.FREEZE_COST``.
        gc.freeze()
        self.main.backups.upload_available = self.settings.s3 is not None
        self.check_servers(settle=True)  # then reads the catalog: not while a repair holds a database's lock
        if self.refresh_seconds > 0:
            self.set_interval(self.refresh_seconds, self.refresh_catalog)
        self.set_interval(1.0, self._tick_jobs)

    def on_unmount(self) -> None:
        """Leaving: every running job is told to stop, so its thread cleans up and ends."""
        for job in self.jobs.values():
            job.cancel.cancel()

    def action_show_tab(self, tab: str) -> None:
        if self.screen is not self.main:
            self.pop_screen()
        self.main.show_tab(tab)

    def action_help(self) -> None:
        # Imported when first asked for: its Markdown parser is a tenth of the app's import time at launch.
        from backup_tui.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_problems(self) -> None:
        """Every problem with its severity and what to do, the next runs and where notices go."""
        from backup_tui.tui.screens.problems import ProblemsScreen

        if not isinstance(self.screen, ProblemsScreen) and type(self.screen).__name__ != "HelpScreen":
            self.push_screen(ProblemsScreen(self.health, self.settings, self.clock(), self.tz, self.records,
                                            self.general))

    # -- keys typed ahead ----------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        """One key at a time: a key waits until the previous one's effects have landed (the wizard it opened
        mounted and focused, the step it went to shown, the plan it asked for made), so keys typed ahead in one
        burst reach the screen they were meant for, never the one underneath."""
        if isinstance(event, events.Key) and event.key == "ctrl+j" and not event.is_forwarded:
            # Enter typed before the app set the terminal's raw mode (over SSH, while it starts): the terminal
            # still turned its CR into a newline, which reads as ctrl+j. No key of ours is ctrl+j.
            event = events.Key("enter", "\r")
        if isinstance(event, events.Key) and not event.is_forwarded:
            if event is self._key_released:  # by the ``_after_key`` loop, which owns ``_keys_busy``
                self._key_released = None
                self._key_taken.set()
                if self.screen_stack:
                    await super().on_event(event)
                return
            if not self.screen_stack:  # exiting: the screens are gone, so is where a key would go
                return
            if self._keys_busy or not getattr(self.screen, "taking_keys", True):
                self._keys_ahead.append(event)
                if not self._keys_busy:  # the screen is not ready for it yet: wait for it in a worker
                    self._keys_busy = True
                    self.run_worker(self._after_key(), group="keys", exit_on_error=False)
                return
            self._keys_busy = True
            await super().on_event(event)
            # One loop at a time releases the keys behind this one: two would overtake each other's (enter
            # before the end of the name typed to confirm a replace).
            self.run_worker(self._after_key(), group="keys", exit_on_error=False)
            return
        await super().on_event(event)

    @property
    def keys_pending(self) -> bool:
        """A key is being handled or waits for its turn."""
        return self._keys_busy or bool(self._keys_ahead)

    async def _after_key(self) -> None:
        """Releases the keys typed ahead. The pages they pass through are not drawn: with keys still to come
        no one reads them, and laying out and painting them was half the UI's time from r to a restore's start.
        A page that waits (for its plan) longer than ``WAIT_SHOWN_AFTER_S`` is drawn: a wait shows what it is for."""
        held = False  # repaints, while a key behind this one will change the screen at once
        try:
            held = self._hold_repaints(held, bool(self._keys_ahead))
            await self._settle_screen()
            while self._keys_ahead:
                began = time.monotonic()
                while not getattr(self.screen, "taking_keys", True) and time.monotonic() < began + KEY_HOLD_S:
                    if time.monotonic() >= began + WAIT_SHOWN_AFTER_S:
                        held = self._hold_repaints(held, False)
                    await asyncio.sleep(KEY_POLL_S)
                self._key_taken.clear()
                self._key_released = self._keys_ahead.popleft()
                held = self._hold_repaints(held, bool(self._keys_ahead))
                self.post_message(self._key_released)
                with contextlib.suppress(TimeoutError):  # delivered before the next is released, on any load
                    await asyncio.wait_for(self._key_taken.wait(), KEY_HOLD_S)
                await self._settle_screen()
        finally:
            self._hold_repaints(held, False)
            self._keys_busy = False

    def _hold_repaints(self, held: bool, hold: bool) -> bool:
        """Start or end holding the screen's layout and paint (Textual's batch); returns whether it is held."""
        if hold and not held:
            self._begin_batch()
        elif held and not hold:
            self._end_batch()
        return hold

    async def _settle_screen(self) -> None:
        """Until the app and the widgets of the screen on top have handled every message waiting for them, or
        that screen waits for work outside the UI (the plan from the server): the next key then waits in
        ``_after_key`` until the screen takes keys. Rounds meanwhile only spun: the handler awaiting the plan
        kept its screen busy for all 40 of them, 700 callbacks through the message pumps, taking the GIL from
        the thread making the plan."""
        quiet = 0
        for _ in range(SETTLE_ROUNDS):  # two quiet rounds: a handler still awaiting in the first posts by the second
            screen = self.screen
            if getattr(screen, "awaiting_work", False):
                return
            await self._round([self, screen, *(w for w in screen.walk_children() if self._pump_busy(w))])
            empty = all(pump._message_queue.empty() for pump in [self, *self.screen.walk_children(with_self=True)])
            quiet = quiet + 1 if empty else 0
            if quiet == 2:
                return

    @staticmethod
    def _pump_busy(pump: MessagePump) -> bool:
        """A message taken and not done, or waiting, or a callback due after one: the widgets a round must wait
        for. An idle one would only cost a wake-up: with the wizard's 80 widgets, 3,000 of them between r and
        the restore's start, a quarter of the app's work there."""
        unfinished: int = getattr(pump._message_queue, "_unfinished_tasks", 1)  # asyncio.Queue's count
        return bool(unfinished or pump._next_callbacks)

    @staticmethod
    async def _round(pumps: list[MessagePump]) -> None:
        """Each of ``pumps`` handles what it had queued (a busy one gets a second at most per round)."""
        done = asyncio.Event()
        left = 0

        def one() -> None:
            nonlocal left
            left -= 1
            if left == 0:
                done.set()

        left = sum(1 for pump in pumps if pump.call_later(one))
        if left:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=1.0)

    # -- the catalog -------------------------------------------------------------

    def action_refresh_catalog(self) -> None:
        self.refresh_catalog()

    def refresh_catalog(self) -> None:
        """Start a refresh unless one is under way: polls never overlap. Asked meanwhile (an action done while a
        bucket's manifests are still being read), it starts again once that one ends."""
        if self._refreshing:
            self._refresh_again = True
            return
        self._refresh_again = False
        self._refreshing = True
        self._load_catalog(self.main.backups.state)

    @work(thread=True, exclusive=True, group="catalog", exit_on_error=False)
    def _load_catalog(self, state: TableState) -> None:
        """Listing, judging and sorting 5,000 backups: the event loop has no time for any of it. A bucket's
        backups come at once from its listing, then again as their manifests are read (``catalog_in_steps``)."""
        worker = get_current_worker()
        steps = self.services.catalog_in_steps()
        posted = self.catalog_loads
        try:
            for records, complete in steps:
                if worker.is_cancelled:
                    return
                self.post_message(self._judged(self._kept_records(records), state, complete))
                posted += 1
                # The next step is asked for once the table shows this one: the first asks the bucket's manifests,
                # whose reading threads would otherwise take the interpreter from the table's first rows.
                while not complete and not worker.is_cancelled and (self.catalog_loads < posted or self._table_busy()):
                    time.sleep(TABLE_WAIT_S)
        except BackupToolError as exc:
            self.call_from_thread(self._catalog_failed, exc.message)
        except Exception as exc:
            self.call_from_thread(self._catalog_failed, f"reading the catalog failed: {exc}")
        finally:
            steps.close()

    def _table_busy(self) -> bool:
        main = self.mounted_main()
        return main is not None and main.backups.busy

    def _judged(self, records: list[BackupRecord], state: TableState, complete: bool = True) -> CatalogLoaded:
        """In a worker thread: the health of each database that can be judged (all, once every manifest is read),
        the busy ones, the table's rows in ``state``."""
        names = self.settings.database_names
        now = self.clock()
        unreachable = dict(self.services.unreachable)
        report = check_health(self.settings, now, records=records, unreachable=unreachable)  # as monitor judges
        health = list(report.databases)
        waiting: frozenset[str] = frozenset()
        if not complete:
            waiting = frozenset(unjudged(records))
            health = [h for h in health if h.database not in waiting]
        locked = frozenset(name for name in names if self.services.is_busy(name))
        shown = visible(records, state, lambda record: row_spec(record, now, self.tz))
        return CatalogLoaded(records, health, locked, state, shown, outlook_text(self.settings, now, self.tz),
                             complete=complete, waiting=waiting, unreachable=unreachable, general=report.general)

    def _kept_records(self, listed: list[BackupRecord]) -> list[BackupRecord]:
        """The catalog, keeping the records we hold where nothing changed.

        A listing makes 5,000 new records; most equal the ones shown. Keeping the old ones lets the copies die
        at once, and pausing the cycle collector meanwhile spares scanning them: a full collection in this
        thread stalls the event loop as much as one on it.
        """
        held = {record.id: record for record in self.records}
        enabled = gc.isenabled()
        gc.disable()
        try:
            return [old if (old := held.get(record.id)) == record else record for record in listed]
        finally:
            if enabled:
                gc.enable()

    def _catalog_failed(self, message: str) -> None:
        self._refreshing = False
        self.catalog_read = True
        self.notify(message, title="Catalog", severity="error")

    @property
    def leaving(self) -> bool:
        """The main screen is gone (the app is exiting): late worker messages have nothing to update."""
        return not any(isinstance(screen, MainScreen) for screen in self.screen_stack)

    def on_catalog_loaded(self, message: CatalogLoaded) -> None:
        if message.complete:
            self._refreshing = False
            self.catalog_complete += 1
            if self._refresh_again and not self.leaving:
                self.call_later(self.refresh_catalog)
        self.catalog_read = True
        if self.leaving:
            return
        self.records, self.health, self.locked = message.records, message.health, message.busy
        self.general = message.general
        self.catalog_loads += 1
        main, now = self.mounted_main(), self.clock()
        if main is None:  # the app is closing: a refresh that ends now has nobody to show it to
            return
        try:
            main.dashboard.show(self.health, now, self.tz, set(self.busy_databases()), message.waiting,
                                message.unreachable, message.general)
            main.dashboard.show_outlook(message.outlook)
            main.backups.show(self.records, now, self.tz, message.state, message.shown)
        except NoMatches:  # the screen is still stacked but its widgets are being taken down: the app is closing
            return
        self.refresh_bindings()

    def busy_databases(self) -> set[str]:
        """Locked by another process, or with a backup or restore of ours running."""
        ours = {j.database for j in self.jobs.values() if j.running and j.kind in ("backup", "restore", "rollback")}
        return ours | set(self.locked)

    # -- the servers: unfinished swaps, kept copies ------------------------------------

    @work(thread=True, exclusive=True, group="servers", exit_on_error=False)
    def check_servers(self, settle: bool = False) -> None:
        """``settle``: at start, finish or roll back a swap a killed replace or rollback left (the database
        may be refusing connections, or missing under its name). Then list the copies kept aside."""
        settled: list[str] = []
        problems: list[str] = []
        if settle:
            try:
                settled = self.services.repair_swaps(null_reporter)
            except BackupToolError as exc:
                problems.append(exc.message)
            finally:
                self.call_from_thread(self.refresh_catalog)
        self.post_message(ServersChecked(settled, problems, self.services.kept_copies()))

    def on_servers_checked(self, message: ServersChecked) -> None:
        now = self.clock()
        for text in message.settled:
            self._add_log([LogEntry(now, "warning", "repair", text)])
            self.notify(text, title="Unfinished swap settled", severity="warning", timeout=ERROR_TOAST)
        for text in message.problems:
            self._add_log([LogEntry(now, "error", "repair", text)])
            self.notify(text, title="Unfinished swap", severity="error", timeout=ERROR_TOAST)
        main = self.mounted_main()
        if main is not None:  # None: the app is closing
            main.dashboard.show_kept(message.kept)

    def ask_drop_kept(self, copy: KeptCopy) -> None:
        size = fmt.human_bytes(copy.size_bytes) if copy.size_bytes >= 0 else "size unknown"
        message = (f"Drop {copy.name}?\nThe copy of {copy.database} {copy.set_aside_by} kept, "
                   f"{fmt.ago(copy.since, self.clock())}, {size} on the server. Nothing can roll back to it "
                   "afterwards. This cannot be undone.")

        from backup_tui.tui.screens.dialogs import ConfirmDialog

        def answered(yes: bool | None) -> None:
            if yes:
                self._quick_call(lambda: self.services.drop_kept(copy.database, copy.name), f"{copy.name} dropped",
                                 after=self.check_servers)

        self.push_screen(ConfirmDialog("Drop kept copy", message, "Drop"), answered)

    def ask_rollback(self, copy: KeptCopy) -> None:
        if copy.database in self.busy_databases():
            self.notify(f"{copy.database} is busy: a backup or restore is running", severity="warning")
            return
        from backup_tui.tui.screens.dialogs import ConfirmDialog

        message = (f"Roll {copy.database} back to {copy.name}?\nConnections to {copy.database} are blocked and its "
                   f"sessions terminated; the database it is now is kept aside in turn, so this can be undone the "
                   "same way.")

        def answered(yes: bool | None) -> None:
            if yes:
                self.start_job("rollback", f"rollback {copy.database} -> {copy.name}", copy.database,
                               lambda reporter, cancel: self.services.rollback(copy.database, copy.name, reporter),
                               describe=lambda r: f"{copy.database} is {copy.name} again"
                               + (f"; the database it replaced is kept as {r.kept_as}"
                                  if isinstance(r, Rollback) and r.kept_as else ""))

        self.push_screen(ConfirmDialog("Roll back", message, "Roll back"), answered)

    # -- jobs ------------------------------------------------------------------

    def start_job(self, kind: JobKind, title: str, database: str, run: Callable[[Reporter, CancelToken], object],
                  describe: Callable[[object], str] = lambda _: "done") -> Job:
        job = Job(next(self._job_ids), kind, title, database, self.clock())
        self.jobs[job.id] = job
        self._describe[job.id] = describe
        self._add_log([LogEntry(job.started_at, "info", f"{kind} #{job.id}", f"{title}: started")])
        self._run_job(job, run)
        self._jobs_changed(job)
        return job

    @work(thread=True, group="jobs", exit_on_error=False)
    def _run_job(self, job: Job, run: Callable[[Reporter, CancelToken], object]) -> None:
        reporter = ThrottledReporter(lambda event: self.post_message(JobEvent(job.id, event)), time.monotonic)
        try:
            result = run(reporter, job.cancel)
        except Cancelled as exc:
            self.post_message(JobEnded(job.id, error=exc.message, cancelled=True))
        except BackupToolError as exc:
            self.post_message(JobEnded(job.id, error=exc.message))
        except Exception as exc:
            self.post_message(JobEnded(job.id, error=f"unexpected error: {type(exc).__name__}: {exc}"))
        else:
            self.post_message(JobEnded(job.id, result=result))
        finally:
            job.ended.set()

    def on_job_event(self, message: JobEvent) -> None:
        job = self.jobs.get(message.job_id)
        if job is None:
            return
        entry = job.apply(message.event, self.clock())
        if entry is not None:
            self._add_log([entry])
        self._jobs_changed(job, progress=isinstance(message.event, BytesProgress))

    def on_job_ended(self, message: JobEnded) -> None:
        job = self.jobs.get(message.job_id)
        if job is None:
            return
        now = self.clock()
        # The screen showing this job says how it ended, as the Jobs tab says of every job: a toast would only
        # cover its last rows and buttons (at 80x24, the Jobs tab's log for five seconds).
        toast = _no_toast if getattr(self.screen, "job", None) is job or self._jobs_tab_shown() else self.notify
        # The engine's words, without the command line's flags (--identity FILE) that backup-tui has not.
        error = in_app_words(message.error) if message.error is not None else None
        if message.cancelled:
            entry = job.finish("cancelled", error or "cancelled", now)
            toast(job.message, title=f"{job.title}: cancelled", severity="warning", timeout=WARNING_TOAST)
        elif error is not None:
            entry = job.finish("failed", error, now)
            toast(error, title=f"{job.title} failed", severity="error", timeout=ERROR_TOAST)
        else:
            job.result = message.result
            describe = self._describe.pop(job.id, None)
            summary = in_app_words(describe(message.result) if describe else "done")
            failed = isinstance(message.result, Verification) and not message.result.ok
            entry = job.finish("failed" if failed else "done", summary, now)
            toast(summary, title=job.title, severity="error" if failed else "information",
                  timeout=ERROR_TOAST if failed else DONE_TOAST)
        self._add_log([entry])
        self._jobs_changed(job)
        self.refresh_catalog()
        if job.kind in ("restore", "rollback"):
            self.check_servers()  # a replace or a rollback keeps the previous database aside

    def _jobs_tab_shown(self) -> bool:
        return self.screen is self.mounted_main() and self.main.query_one(TabbedContent).active == "jobs"

    def _jobs_changed(self, job: Job, progress: bool = False) -> None:
        """``progress``: only a byte count moved. The Jobs tab under another screen then waits for its tick
        once it shows again, and the keys do not change."""
        if self.leaving:
            return
        if not progress or self.screen is self.main:
            self.main.jobs.show_jobs(self.jobs.values(), self.clock())
        for screen in self.screen_stack:
            if not isinstance(screen, MainScreen):
                screen.post_message(JobsChanged(job.id))
        if not progress:
            self.refresh_bindings()

    def _tick_jobs(self) -> None:
        """Elapsed times and byte counts on the Jobs tab, while it can be seen."""
        if not self.leaving and self.screen is self.main and any(job.running for job in self.jobs.values()):
            self.main.jobs.show_jobs(self.jobs.values(), self.clock())

    def _add_log(self, entries: Iterable[LogEntry]) -> None:
        items = list(entries)
        self.activity.extend(items)
        if not self.leaving:
            self.main.jobs.add_entries(items)

    @on(JobsView.CancelRequested)
    def _cancel_requested(self, message: JobsView.CancelRequested) -> None:
        job = self.jobs.get(message.job_id)
        if job is not None and job.running:
            job.cancel.cancel()
            self.notify(f"Cancelling {job.title}…", severity="warning")
            self.refresh_bindings()

    @on(JobsView.Reopen)
    def _reopen_job(self, message: JobsView.Reopen) -> None:
        job = self.jobs.get(message.job_id)
        if job is not None and not isinstance(self.screen, RestoreWizard):
            self.push_screen(RestoreWizard(self.records, self.services, self.start_restore, tz=self.tz, job=job))

    @property
    def running_jobs(self) -> list[Job]:
        return [job for job in self.jobs.values() if job.running]

    # -- actions on backups ------------------------------------------------------

    def context_database(self) -> str | None:
        """The database the user is looking at: the focused card, the selected backup, or the only one."""
        main = self.main
        if self.screen is main:
            card = main.dashboard.focused_database()
            if card is not None:
                return card
            if main.query_one("#tabs").active == "backups":  # type: ignore[attr-defined]
                selected = main.backups.selected
                if selected is not None:
                    return selected.database
        if len(self.settings.databases) == 1:
            return self.settings.databases[0].database
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if isinstance(self.screen, RestoreWizard) and not self.screen.allows(action, parameters):
            return False  # inside the wizard, only its keys apply (and help, quit): no backup from its footer
        if action == "new_backup":
            if not self.settings.databases:
                return None
            database = self.context_database()
            busy = self.busy_databases()
            if database is not None:
                return None if database in busy else True
            return None if all(db.database in busy for db in self.settings.databases) else True
        return True

    def action_new_backup(self) -> None:
        database = self.context_database()
        if database is not None:
            self.new_backup(database)
            return
        from backup_tui.tui.screens.dialogs import ChoiceDialog

        free = [db.database for db in self.settings.databases if db.database not in self.busy_databases()]
        self.push_screen(ChoiceDialog("New backup", "Back up which database?", [(n, n) for n in free]),
                         lambda choice: self.new_backup(choice) if choice else None)

    def new_backup(self, database: str) -> None:
        if database in self.busy_databases():
            self.notify(f"{database} is busy: a backup or restore is running", severity="warning")
            return
        db = self.settings.database(database)
        self.start_job("backup", f"backup {database}", database,
                       lambda reporter, cancel: self.services.backup(db, reporter, cancel),
                       describe=lambda r: f"{r.id}: {fmt.human_bytes(r.stored_bytes)} in {fmt.duration(r.duration_s)}"
                       if isinstance(r, BackupRecord) else "done")

    @on(BackupsView.ActionRequested)
    def _backup_action(self, message: BackupsView.ActionRequested) -> None:
        if message.record.status == "unread":
            self._read_first(message.action, message.record)
            return
        self._act(message.action, message.record)

    def _act(self, action: str, record: BackupRecord) -> None:
        if action in ("restore", "pin") and not (can_restore if action == "restore" else can_pin)(record):
            self.notify(f"{record.id} is {record.status_label}: {record.reason}", severity="warning")
            return
        {"verify": self.ask_verify, "restore": self.restore_backup, "pin": self.toggle_pin,
         "delete": self.ask_delete, "upload": self.upload}[action](record)

    @work(thread=True, group="quick", exit_on_error=False)
    def _read_first(self, action: str, record: BackupRecord) -> None:
        """A backup whose manifest is not read yet: read now, ahead of the rest, then acted on as it reads."""
        self.call_from_thread(self.notify, f"Reading {record.id} from S3 first…", timeout=DONE_TOAST)
        full = self._or_said(lambda: self.services.read_record(record))
        if full is None:
            return
        records = [full if r.id == full.id else r for r in self.records]
        loaded = self._judged(records, self.main.backups.state, complete=False)
        self.call_from_thread(self._read_done, action, full, loaded)

    def _read_done(self, action: str, record: BackupRecord, loaded: CatalogLoaded) -> None:
        if self.leaving:
            return
        current = next((r for r in self.records if r.id == record.id), None)
        if current is not None and current.status == "unread":  # else a fill read it meanwhile: nothing to show
            self.on_catalog_loaded(loaded)
        self._act(action, record)

    def ask_verify(self, record: BackupRecord) -> None:
        choices = [("quick", "Quick: checksums, the stream decodes, the archive reads"),
                   ("full", "Full: test restore into a throwaway database, row counts compared")]

        from backup_tui.tui.screens.dialogs import ChoiceDialog

        def chosen(level: str | None) -> None:
            if level in ("quick", "full"):
                self.verify(record, "quick" if level == "quick" else "full")

        self.push_screen(ChoiceDialog("Verify", f"Verify {record.id}:", choices), chosen)

    def verify(self, record: BackupRecord, level: VerifyLevel) -> Job:
        def describe(result: object) -> str:
            if not isinstance(result, Verification):
                return "done"
            if result.ok:  # result.level: a full verify with no server for its test restore ran the quick checks
                return (f"{record.id}: {result.level} verification passed ({len(result.checks)} checks)"
                        + "".join(f"; {note}" for note in result.not_done))
            return f"{record.id}: {level} verification FAILED: {'; '.join(result.problems[:2])}"

        return self.start_job("verify", f"verify {record.id} ({level})", record.database,
                              lambda reporter, cancel: self.services.verify(record, level, reporter, cancel),
                              describe=describe)

    def restore_backup(self, record: BackupRecord) -> None:
        self.open_restore(backup_id=record.id)

    def open_restore(self, backup_id: str | None = None, database: str | None = None) -> None:
        self.push_screen(RestoreWizard(self.records, self.services, self.start_restore, tz=self.tz,
                                       backup_id=backup_id, database=database))

    def start_restore(self, record: BackupRecord, plan: RestorePlan) -> Job:
        target = plan.target_db

        def describe(result: object) -> str:
            if isinstance(result, RestoreResult):
                return f"into {result.plan.target_db!r} in {fmt.duration(result.duration_s)}, from {record.id}"
            return "done"

        # The target first, in the title and the outcome: at 80 columns the Jobs table keeps their beginnings
        job = self.start_job("restore", f"restore to {target} from {record.id}", target,
                             lambda reporter, cancel: self.services.restore(record, plan, reporter, cancel),
                             describe=describe)
        job.estimate_s = plan.estimated_seconds  # the progress screen counts down the plan's time, all phases
        job.estimate_parts = plan.time_parts
        job.plan = plan
        return job

    def toggle_pin(self, record: BackupRecord) -> None:
        self._quick_call(lambda: self.services.set_pinned(record, not record.pinned),
                         f"{record.id} {'unpinned' if record.pinned else 'pinned: retention keeps it'}")

    def ask_delete(self, record: BackupRecord) -> None:
        self._ask_delete(record)

    @work(thread=True, group="quick", exit_on_error=False)
    def _ask_delete(self, record: BackupRecord) -> None:
        """The engine's plan first (every copy, where, what object lock keeps), then the question."""
        from backup_tui.tui.screens.dialogs import ConfirmDialog, delete_message

        plan = self._or_said(lambda: self.services.plan_delete(record))
        if plan is None:
            return
        message = delete_message(record, self.records, plan)

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(plan)

        self.call_from_thread(self.push_screen, ConfirmDialog("Delete backup", message, "Delete"), answered)

    @work(thread=True, group="quick", exit_on_error=False)
    def _delete(self, plan: DeletePlan) -> None:
        from backup_tui.tui.screens.dialogs import delete_outcome

        result = self._or_said(lambda: self.services.delete(plan))
        if result is None:
            return
        said, severity = delete_outcome(result)
        self.call_from_thread(self.notify, said, severity=severity)
        self.call_from_thread(self.refresh_catalog)

    def upload(self, record: BackupRecord) -> None:
        if self.settings.s3 is None:
            self.notify(S3_MISSING, severity="warning")
            return
        self.start_job("upload", f"upload {record.id}", record.database,
                       lambda reporter, cancel: self.services.upload(record, reporter, cancel),
                       describe=lambda r: f"{record.id} is in S3: {fmt.human_bytes(r.stored_bytes)}"
                       if isinstance(r, BackupRecord) else "done")

    @work(thread=True, group="quick", exit_on_error=False)
    def _quick_call(self, call: Callable[[], object], done: str, after: Callable[[], object] | None = None) -> None:
        """Short file operations (pin, delete): off the UI thread, reported as a notification."""
        def done_call() -> bool:
            call()
            return True

        succeeded = self._or_said(done_call) is not None
        if succeeded:
            self.call_from_thread(self.notify, done)
        self.call_from_thread(self.refresh_catalog)  # after a failure too: deleted meanwhile, say, the row goes
        if succeeded and after is not None:
            self.call_from_thread(after)

    def _or_said(self, call: Callable[[], _T]) -> _T | None:
        """From a worker thread: the engine call's result, or None once its error is shown (one line)."""
        try:
            return call()
        except BackupToolError as exc:
            self.call_from_thread(self.notify, exc.message, severity="error")
        except OSError as exc:
            self.call_from_thread(self.notify, f"{exc.strerror}: {exc.filename}", severity="error")
        return None

    # -- dashboard ------------------------------------------------------------

    @on(DatabaseCard.Opened)
    def _card_opened(self, message: DatabaseCard.Opened) -> None:
        self.main.show_tab("backups")
        self.main.backups.filter_to(database_filter(message.database))

    @on(DatabaseCard.RestoreAsked)
    def _card_restore(self, message: DatabaseCard.RestoreAsked) -> None:
        self.open_restore(database=message.database)

    # -- quitting ----------------------------------------------------------------

    def action_quit_app(self) -> None:
        running = self.running_jobs
        if not running:
            self.exit()
            return
        from backup_tui.tui.screens.dialogs import QuitDialog

        def answered(yes: bool | None) -> None:
            if yes:  # checked again: the jobs may have ended while the dialog was open
                if self.running_jobs:
                    self._cancel_and_exit()
                else:
                    self.exit()

        self.push_screen(QuitDialog(lambda: self.running_jobs), answered)

    @work(group="quit")
    async def _cancel_and_exit(self) -> None:
        for job in self.running_jobs:
            job.cancel.cancel()
        self.notify("Cancelling jobs: they clean up, then the app exits…", severity="warning")
        await self.workers.wait_for_complete([w for w in self.workers if w.group == "jobs"])
        self.exit()

    # -- command palette -----------------------------------------------------------

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Dashboard", "Health of every database", lambda: self.action_show_tab("dashboard"))
        yield SystemCommand("Backups", "The whole catalog", lambda: self.action_show_tab("backups"))
        yield SystemCommand("Jobs and log", "Running jobs and the activity log", lambda: self.action_show_tab("jobs"))
        yield SystemCommand("Refresh catalog", "Read every repository again", self.refresh_catalog)
        yield SystemCommand("Health problems", "Every problem and what to do, next runs, notices (!)",
                            self.action_problems)
        yield SystemCommand("Guided restore", "Restore a backup, step by step", self.open_restore)
        yield SystemCommand("Help", "Every key", self.action_help)
        for db in self.settings.databases:
            yield SystemCommand(f"New backup of {db.database}", "Take a backup now",
                                lambda name=db.database: self.new_backup(name))
        for copies in self.main.dashboard.kept.values():
            for copy in copies:
                yield SystemCommand(f"Drop kept copy {copy.name}",
                                    f"The copy of {copy.database} {copy.set_aside_by} set aside; asks first",
                                    lambda copy=copy: self.ask_drop_kept(copy))
                yield SystemCommand(f"Roll {copy.database} back to {copy.name}",
                                    "Swap the kept copy back in; the current one is kept aside; asks first",
                                    lambda copy=copy: self.ask_rollback(copy))
        selected = self.main.backups.selected if self.backups_showing() else None
        if selected is not None:
            yield SystemCommand(f"Verify {selected.id} (quick)", "Checksums and archive",
                                lambda: self.verify(selected, "quick"))
            yield SystemCommand(f"Verify {selected.id} (full)", "Test restore, row counts",
                                lambda: self.verify(selected, "full"))
            yield SystemCommand(f"Restore {selected.id}", "Guided restore of this backup",
                                lambda: self.restore_backup(selected))
            yield SystemCommand(f"{'Unpin' if selected.pinned else 'Pin'} {selected.id}", "Retention keeps pinned",
                                lambda: self.toggle_pin(selected))
            yield SystemCommand(f"Delete {selected.id}", "Asks first", lambda: self.ask_delete(selected))
        if selected is not None and self.main.backups.upload_available:
            yield SystemCommand(f"Upload {selected.id} to S3", "Copy to the S3 repository",
                                lambda: self.upload(selected))

    def backups_showing(self) -> bool:
        """Commands on the selected backup only where it is on screen: elsewhere nobody knows which it is."""
        main = next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)
        return main is not None and main.query_one(TabbedContent).active == "backups"
