"""The restore plan the wizard will most likely be asked for, asked for before: the default (the selected
backup into a new database of the suggested name) is planned while the pages are drawn, so Enter on the
target page finds the server's answer there instead of waiting for it. Planning touches nothing, so a guess
that is not taken costs only its queries; a plan older than ``FRESH_S`` is asked for again."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from backup_tui.engine.core.models import BackupRecord, RestorePlan

FRESH_S = 10.0  # a guess this old is not shown as the plan: sessions, space and names move on
Key = tuple[str, str | None, bool, bool]  # backup id, target, replace, no_owner: what plan_restore is given
MakePlan = Callable[[BackupRecord, str | None, bool, bool], RestorePlan]


class _Guess:
    def __init__(self, key: Key, make: Callable[[], RestorePlan]) -> None:
        self.key, self.started, self.done = key, time.monotonic(), threading.Event()
        self.plan: RestorePlan | None = None
        self.error: BaseException | None = None
        # A daemon: a server that does not answer never holds the app's exit.
        threading.Thread(target=self._run, args=(make,), name="plan-ahead", daemon=True).start()

    def _run(self, make: Callable[[], RestorePlan]) -> None:
        try:
            self.plan = make()
        except BaseException as exc:  # raised to whoever takes the guess, as planning then would
            self.error = exc
        finally:
            self.done.set()


class PlanAhead:
    """One guess at a time: ``start`` it, ``take`` it when the same plan is asked for (once)."""

    def __init__(self, make: MakePlan) -> None:
        self._make = make
        self._guess: _Guess | None = None

    def start(self, record: BackupRecord, target: str) -> None:
        key: Key = (record.id, target, False, False)
        if self._guess is None or self._guess.key != key:
            self._guess = _Guess(key, lambda: self._make(record, target, False, False))

    def take(self, record: BackupRecord, target: str | None, replace: bool, no_owner: bool) -> RestorePlan | None:
        """The guess's plan (waited for) when it is this one and fresh, its error raised; else None."""
        guess, self._guess = self._guess, None
        if guess is None or guess.key != (record.id, target, replace, no_owner):
            return None
        if time.monotonic() - guess.started > FRESH_S:
            return None
        guess.done.wait()
        if guess.error is not None:
            raise guess.error
        return guess.plan
