"""The backup's snapshot, exported by a psql session that holds it until pg_dump has it and has been asked the
backup's own questions (``ask``: server facts, row counts, run in that same transaction).

psql, not the driver: the driver's import costs a backup 0.12-0.15 s of CPU, and with psql the snapshot is
there 0.03 s after the lock, so pg_dump starts at once.

An exported snapshot lives as long as the transaction that exported it: the holder is released once every
taker has it (pg_dump has taken it before its first byte; our questions once they are asked: psql answers
them before it reads the end of its input), never before. The same round trip asks the database's size, which
the space check needs before pg_dump's first byte.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import BinaryIO

from backup_tui.engine.config import DatabaseConfig
from backup_tui.engine.core.errors import BackupToolError
from backup_tui.engine.core.progress import SIGNAL_CHECK_S, CancelToken
from backup_tui.engine.postgres import pg

# search_path: a database's or a role's "attacker, pg_catalog" put a schema's count(*), format() or
# pg_export_snapshot() before the catalog's, run as the backup's user (a superuser, often); pg_dump sets its own
EXPORT = (f"{pg.UNBOUNDED}; SET search_path = pg_catalog;\nBEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\n"
          "SELECT pg_export_snapshot(), pg_database_size(current_database());\n").encode()
# 00000003-00000067-1|8041187: the id's hex parts and counter, then the size (psql -A's separator)
ANSWER = re.compile(r"(?P<id>[0-9A-F]{1,16}(-[0-9A-F]{1,16}){1,2})\|(?P<bytes>[0-9]{1,20})")
ANSWER_LIMIT = 256  # an answer is under 45 characters; anything longer is not psql answering our query
EXPORT_WAIT_S = 60  # connecting (10 s per address libpq tries), then two statements that wait for no lock
RELEASE_WAIT_S = 5.0
CONNECTION_FAILED = 2  # psql's exit status when it could not connect or lost the connection (its manual)


class SnapshotHolder:
    """The psql session whose open transaction keeps ``id`` importable. It can be asked more (``ask``) in that
    transaction, so in the snapshot itself: the backup's server facts and row counts (``ops.dump_session``)."""

    def __init__(self, proc: subprocess.Popen[bytes], takers: Collection[str], stderr: BinaryIO) -> None:
        self._proc, self.id, self.database_bytes = proc, "", 0
        # psql's stderr: a file, never a pipe nobody reads while it counts (a server that sends every statement
        # back as a LOG or NOTICE filled 64 kB of pipe and psql, the counts and the backup stopped for good)
        self._stderr = stderr
        self._waiting, self._lock = set(takers), threading.Lock()
        self._read = b""  # what psql printed after the export's answer, not yet taken by ``answers``

    def ask(self, script: bytes) -> None:
        """Statements for psql to run after the export, in its transaction; before the last taker releases it.
        psql gone already: its end and its error come through ``answers`` and ``outcome``."""
        with self._lock:
            if self._proc.stdin is None or self._proc.stdin.closed:
                raise BackupToolError("the backup's snapshot was released before it was asked for more")
            with contextlib.suppress(BrokenPipeError):
                self._proc.stdin.write(script)

    def answers(self) -> Iterator[str]:
        """The lines psql prints for what it was asked, as they come, until it exits (a blocking read: call it
        from a thread of its own). Each is text psql printed: the caller checks each one's form."""
        assert self._proc.stdout is not None
        while True:
            while b"\n" in self._read:
                line, self._read = self._read.split(b"\n", 1)
                yield line.decode(errors="replace")
            chunk = os.read(self._proc.stdout.fileno(), 1 << 16)
            if not chunk:
                return
            self._read += chunk

    def outcome(self) -> tuple[int, str]:
        """psql's exit status and its stderr, once its output has ended."""
        return _ended(self._proc), _said(self._stderr)

    def stop(self) -> None:
        """psql killed (a server that does not answer the cancel): its output ends."""
        pg.signal_group(self._proc)

    def interrupt(self) -> None:
        """Cancel what psql runs (SIGINT: psql sends the server a cancel request, then stops at the error), from
        any thread; and its input ends, so a psql between two statements ends too."""
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, signal.SIGINT)
        self.release()

    def taken_by(self, taker: str) -> None:
        """``taker`` has the snapshot; the last of the takers to say so releases it. From any thread."""
        with self._lock:
            self._waiting.discard(taker)
            if self._waiting:
                return
        self.release()

    def release(self) -> None:
        """End the transaction: psql reads the end of its input, rolls back and exits. Idempotent, and from
        any thread (the dump's reader and our questions each may be the last taker)."""
        with self._lock:
            if self._proc.stdin is not None and not self._proc.stdin.closed:
                with contextlib.suppress(OSError):  # psql gone already: its transaction went with it
                    self._proc.stdin.close()

    def _end(self) -> None:
        self.release()
        _ended(self._proc)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


@contextlib.contextmanager
def exported_snapshot(db: DatabaseConfig, bin_dir: Path | None, cancel: CancelToken,
                      takers: Collection[str] = (), hide: Collection[str] = ()) -> Iterator[SnapshotHolder]:
    """A snapshot of ``db`` exported in a read-only repeatable-read transaction, held until every one of
    ``takers`` has it, ``release`` or the block's end. Connection failures raise the same errors
    ``pg.connect`` raises."""
    argv = [pg.tool_path("psql", bin_dir), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "--no-password",
            "-d", pg.dbname_arg(db.database)]
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                env={**pg.child_env(db, hide=hide), "PGAPPNAME": f"{pg.APP_NAME} snapshot",
                                     "PGCONNECT_TIMEOUT": str(pg.CONNECT_TIMEOUT_S),  # as pg.connect's, always
                                     # its answers are read as UTF-8 whatever the database's encoding or the
                                     # operator's PGCLIENTENCODING: a LATIN1 database's "é" came back as byte
                                     # 0xE9, read as U+FFFD, and "è" and "é" became one table in the manifest
                                     "PGCLIENTENCODING": "UTF8"},
                                bufsize=0,
                                process_group=pg.OWN_GROUP)
        holder = SnapshotHolder(proc, takers, stderr)
        try:
            assert proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):  # psql ended before reading a line: its stderr says why
                proc.stdin.write(EXPORT)
            holder.id, holder.database_bytes, holder._read = _answer(proc, db, cancel, stderr)
            yield holder
        finally:
            holder._end()


def _ended(proc: subprocess.Popen[bytes]) -> int:
    """psql's exit status once it has ended, given ``RELEASE_WAIT_S`` to end of itself, then stopped."""
    try:
        return proc.wait(timeout=RELEASE_WAIT_S)
    except subprocess.TimeoutExpired:
        pg.kill_group(proc)
        return proc.returncode


def _said(stderr: BinaryIO) -> str:
    """All psql wrote to its stderr, once it has exited."""
    stderr.seek(0)
    return stderr.read().decode(errors="replace")


def _answer(proc: subprocess.Popen[bytes], db: DatabaseConfig, cancel: CancelToken,
            stderr: BinaryIO) -> tuple[str, int, bytes]:
    """The first line psql prints, checked to be a snapshot id and a size, and what came after it; psql's own
    error when it prints none."""
    assert proc.stdout is not None
    answer = b""
    deadline = time.monotonic() + EXPORT_WAIT_S
    with selectors.DefaultSelector() as waiting:
        waiting.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in answer and len(answer) < ANSWER_LIMIT:
            cancel.raise_if_cancelled()
            if time.monotonic() > deadline:
                raise pg.describe_connect_error(f"no answer within {EXPORT_WAIT_S} s", db)
            if not waiting.select(SIGNAL_CHECK_S):
                continue
            chunk = os.read(proc.stdout.fileno(), ANSWER_LIMIT)
            if not chunk:
                break
            answer += chunk
    first, _, rest = answer.partition(b"\n")
    line = first.decode(errors="replace").strip()
    answered = ANSWER.fullmatch(line)
    if answered:
        return answered["id"], int(answered["bytes"]), rest
    if proc.stdin is not None:
        proc.stdin.close()  # an answer that is no id, from a psql still running: it ends at the end of its input
    _ended(proc)  # its error is all written once it has exited
    said = _said(stderr)
    if proc.returncode == CONNECTION_FAILED:  # libpq's own failure to connect, said as pg.connect says it
        raise pg.describe_connect_error(said.replace("psql: error:", "", 1), db)
    if not said.strip():
        raise BackupToolError(f"psql answered {line[:60]!r} where the backup's snapshot id was expected")
    raise pg.tool_failed("exporting the backup's snapshot (psql)", said)
