"""Our own questions beside pg_dump: the server's facts for the record and every table's row count, asked in
the dump's snapshot by the psql session that exported it (``postgres.in_snapshot``), its answers read in a
thread of their own.

The bytes flow from pg_dump's first one while psql counts. A failure stops the dump at once (``stop_dump``):
the backup fails either way, and an hour's dump need not run to its end to say so.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from backup_tui.engine.config import DatabaseConfig
from backup_tui.engine.core.errors import BackupToolError
from backup_tui.engine.postgres import in_snapshot, pg, table_locks
from backup_tui.engine.postgres.in_snapshot import ServerFacts
from backup_tui.engine.postgres.snapshot import RELEASE_WAIT_S, SnapshotHolder

CLOSE_WAIT_S = 30  # a cancelled count ends within a round trip; a connect within its 10 s timeout
TAKER = "session"  # its name among the snapshot's takers: the snapshot is held until its script is asked


def one_line(exc: BaseException) -> str:
    """The first line of an exception's text: libpq adds indented hints that would break the one-line contract."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


class DumpSession:
    """The thread that reads the snapshot session's answers: ``close`` once the backup is over, done or failed."""

    def __init__(self, snapshot: SnapshotHolder, db: DatabaseConfig, lock_wait_timeout_s: int, *,
                 stop_dump: Callable[[], None]) -> None:
        self._snapshot, self._db, self._timeout, self._stop_dump = snapshot, db, lock_wait_timeout_s, stop_dump
        self._over = threading.Event()  # the backup is over: what still runs is cancelled
        self._answered = threading.Event()  # the facts and the counts are in, or its error is
        self._answers = in_snapshot.Answers()
        self._error: BackupToolError | None = None
        self._thread = threading.Thread(target=self._run, name="dump-session", daemon=True)

    def start(self) -> None:
        """Ask, then read the answers in the thread; the snapshot is free to go once the script is asked."""
        self._snapshot.ask(in_snapshot.script(self._timeout))
        self._snapshot.taken_by(TAKER)
        self._thread.start()

    def raise_if_failed(self) -> None:
        """Its error, once it has one: a failed session stops the dump, and is the reason the dump stopped."""
        if self._error is not None:
            raise self._error

    def result(self) -> tuple[ServerFacts, dict[str, int]]:
        """The facts (the database's size added) and the row counts, once it has them all; its error else."""
        self._answered.wait()
        self.raise_if_failed()
        facts = self._answers.facts
        assert facts is not None
        info = {**facts.database_info, "size_bytes": str(self._snapshot.database_bytes)}
        return ServerFacts(facts.version, info), self._answers.counts

    def close(self) -> None:
        """The backup is over: what psql still runs is cancelled and it ends; killed if it does not."""
        self._over.set()
        if self._thread.ident is None:  # never started (an interrupt may come before)
            return
        if not self._answered.is_set():
            self._snapshot.interrupt()
        self._thread.join(timeout=RELEASE_WAIT_S)
        if self._thread.is_alive():  # a server that does not answer the cancel
            self._snapshot.stop()
            self._thread.join(timeout=CLOSE_WAIT_S)

    def _run(self) -> None:
        answers = self._answers
        try:
            for line in self._snapshot.answers():
                answers.take(line)
                if answers.done:
                    return
            status, stderr = self._snapshot.outcome()
            failure = answers.failure(status, stderr)
            raise (table_locks.lock_wait_error(self._db, failure.table, self._timeout)
                   if isinstance(failure, pg.TableLocked) else failure)
        except BaseException as exc:
            if not self._over.is_set():  # not the end of a backup that is over already: its failure
                self._error = exc if isinstance(exc, BackupToolError) else BackupToolError(
                    f"the backup's session failed: {one_line(exc)}")
                self._stop_dump()
        finally:
            self._answered.set()
