"""Progress events, the Reporter protocol and the cancel token.

Engine calls never print: they send events to a Reporter. The TUI's reporter
posts Textual messages from worker threads; headless writes lines or JSON.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from backup_tui.engine.core.errors import Cancelled


@dataclass(frozen=True)
class StepStarted:
    """A named step of an operation began (e.g. "dump", "verify row counts")."""

    step: str
    detail: str = ""


@dataclass(frozen=True)
class StepFinished:
    step: str
    ok: bool = True
    detail: str = ""


@dataclass(frozen=True)
class BytesProgress:
    """Bytes moved so far in the current step; ``total`` is None when unknown."""

    step: str
    done: int
    total: int | None = None


@dataclass(frozen=True)
class LogLine:
    level: str  # "debug" | "info" | "warning" | "error"
    message: str


ProgressEvent = StepStarted | StepFinished | BytesProgress | LogLine


class Reporter(Protocol):
    def __call__(self, event: ProgressEvent) -> None: ...


def null_reporter(event: ProgressEvent) -> None:
    """A reporter that drops everything."""


# The longest a thread that waits on others naps before looking again: how soon a Ctrl+C or a SIGTERM
# is acted upon when the kernel hands it to some other thread (Python runs handlers in the main thread
# only, and only once it runs again).
SIGNAL_CHECK_S = 0.25


class CancelToken:
    """Set from any thread; long-running engine loops check it between chunks.

    A loop blocked in a read never gets to its next check (pg_dump waiting on a lock sends nothing):
    ``hook`` registers what unblocks it, run at once by ``cancel``.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._hooks: list[Callable[[], object]] = []

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            hooks = list(self._hooks)
        for action in hooks:
            action()

    @contextmanager
    def hook(self, action: Callable[[], object]) -> Iterator[None]:
        """While inside, ``action`` runs as soon as the token is cancelled (at once if it already is)."""
        with self._lock:
            fired = self._event.is_set()
            if not fired:
                self._hooks.append(action)
        if fired:
            action()
        try:
            yield
        finally:
            with self._lock:
                if action in self._hooks:
                    self._hooks.remove(action)

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled by the user")

    def wait(self, timeout: float | None = None) -> bool:
        """Until cancelled (True), or for at most ``timeout`` seconds (False)."""
        return self._event.wait(timeout)


def info(reporter: Reporter, message: str) -> None:
    reporter(LogLine("info", message))


def warn(reporter: Reporter, message: str) -> None:
    reporter(LogLine("warning", message))
