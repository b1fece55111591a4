"""Messages workers post to the app. Workers never touch widgets; they only post these."""

from __future__ import annotations

from rich.text import Text
from textual.message import Message

from backup_tui.engine.core.health import Health, Problem
from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.core.progress import ProgressEvent
from backup_tui.engine.ops.kept import KeptCopy
from backup_tui.tui.widgets.backups import TableState


class CatalogLoaded(Message):
    """A refresh finished: every backup, newest first, and the health of each configured database.

    ``shown`` is the backups table's rows in the filter and order ``state``, sorted in the worker thread.
    ``complete``: False while a bucket's manifests are still being read (its backups ``unread``, the health of
    the databases they belong to left out until they are read). ``outlook``: the dashboard's lines under the
    cards (the next scheduled runs: croniter's import and its reckoning, off the event loop too).
    """

    def __init__(self, records: list[BackupRecord], health: list[Health], busy: frozenset[str],
                 state: TableState, shown: list[BackupRecord], outlook: Text, complete: bool = True,
                 waiting: frozenset[str] = frozenset(), unreachable: dict[str, str] | None = None,
                 general: tuple[Problem, ...] = ()) -> None:
        super().__init__()
        self.unreachable = unreachable or {}  # a repository (the bucket) that could not be listed -> why
        self.general = general  # the health check's problems about the repository, not one database
        self.outlook = outlook
        self.complete = complete
        self.waiting = waiting  # configured databases not judged yet
        self.records = records
        self.health = health
        self.busy = busy
        self.state = state
        self.shown = shown


class JobEvent(Message):
    """An engine progress event from a job's worker thread."""

    def __init__(self, job_id: int, event: ProgressEvent) -> None:
        super().__init__()
        self.job_id = job_id
        self.event = event


class JobEnded(Message):
    """A job's worker returned or raised; ``error`` is the engine's message, never a traceback."""

    def __init__(self, job_id: int, result: object = None, error: str | None = None,
                 cancelled: bool = False) -> None:
        super().__init__()
        self.job_id = job_id
        self.result = result
        self.error = error
        self.cancelled = cancelled


class JobsChanged(Message):
    """Sent to screens that show jobs, after the app changed one."""

    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id


class ServersChecked(Message):
    """The look at the servers finished: swaps a killed run left that were settled, and the kept copies."""

    def __init__(self, settled: list[str], problems: list[str], kept: dict[str, list[KeptCopy]]) -> None:
        super().__init__()
        self.settled = settled
        self.problems = problems
        self.kept = kept
