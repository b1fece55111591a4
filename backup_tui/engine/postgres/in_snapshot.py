"""What a backup asks in its own snapshot: the server's facts for the record and every table's exact row count,
as one psql script for the session that exported the snapshot (``snapshot.SnapshotHolder.ask``), and the
reading of its answers.

psql, not the driver: the driver's import alone costs ~0.12 s of CPU, taken from pg_dump and the compressor
on a machine whose cores they keep busy, and a second session would have to join the snapshot first. The
session that holds it asks in it directly.

Every answer is one line: JSON (which escapes a newline in a table's name) or digits. A table's name is printed
before its count, so a count that fails (a table locked past ``lock_timeout``) is known by the last name seen.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from backup_tui.engine.core.errors import BackupToolError
from backup_tui.engine.postgres import pg

COUNTED = "counted"  # the script's last answer
LOCK_NOT_AVAILABLE = "55P03"
CONNECTION_LOST = 2  # psql's exit status when the connection went (its manual)

# psql:<stdin>:7: ERROR:  55P03: canceling statement due to lock timeout (VERBOSITY verbose: the SQLSTATE)
_SAID = re.compile(r"^(?:psql:[^\n]*?:\d+: )?(?:ERROR|FATAL|PANIC):\s+(?:(?P<state>[0-9A-Z]{5}): )?(?P<text>.+)$",
                   re.MULTILINE)
# The same in the server's lc_messages ("FEHLER:  55P03: ..." where the database says German; a session cannot
# change it without being a superuser): the SQLSTATE says what it is, its classes 00-02 a notice or a warning.
_STATED = re.compile(r"^(?:psql:[^\n]*?:\d+: )?[^\s:]+:  (?P<state>[0-9A-Z]{5}): (?P<text>.+)$", re.MULTILINE)
_NOT_AN_ERROR = ("00", "01", "02")
_COUNT = re.compile(r"[0-9]{1,20}")


def script(lock_wait_timeout_s: int) -> bytes:
    """The statements, for the transaction that exported the snapshot. The counts run beside the dump, on the
    CPUs pg_dump and its server process need: one process counts with less CPU than a parallel plan's three
    (0.24 s against 0.55 s for 3.3 million rows)."""
    lines = ["\\set VERBOSITY verbose",
             # 0 too: "wait forever" is ours to say, not a database's own lock_timeout ("gave up after 0 s")
             f"SET LOCAL lock_timeout = '{max(0, int(lock_wait_timeout_s))}s';",
             "SET LOCAL max_parallel_workers_per_gather = 0;",
             f"SELECT json_build_array(current_setting('server_version'), {pg.DATABASE_INFO_COLUMNS}) "
             f"{pg.DATABASE_INFO_FROM} WHERE d.datname = current_database();",
             "SELECT format('SELECT json_build_array(%L, %L, %L)', t.nspname, t.relname, t.shown), "
             "format('SELECT count(*) FROM %I.%I', t.nspname, t.relname) "
             f"FROM ({pg.DUMPED_TABLES_SQL}) AS t (nspname, relname, shown) \\gexec",
             f"SELECT '{COUNTED}';"]
    return ("\n".join(lines) + "\n").encode()


@dataclass(frozen=True)
class ServerFacts:
    """What the record keeps of the server and the database, asked in the dump's snapshot."""

    version: str
    database_info: dict[str, str]


@dataclass
class Answers:
    """The script's answers, taken line by line as psql prints them."""

    facts: ServerFacts | None = None
    counts: dict[str, int] = field(default_factory=dict)
    counting: tuple[str, str] | None = None  # (its key in the record, its name as pg_dump quotes it)
    done: bool = False

    def take(self, line: str) -> None:
        """One more line; BackupToolError when it is not what the script prints there."""
        try:
            if self.facts is None:
                version, *row = json.loads(line)
                self.facts = ServerFacts(_text(version), pg.database_info_of(tuple(map(_text, row))))
            elif self.counting is not None:
                if not _COUNT.fullmatch(line):
                    raise ValueError(line)
                self.counts[self.counting[0]] = int(line)
                self.counting = None
            elif line == COUNTED:
                self.done = True
            else:
                schema, table, shown = map(_text, json.loads(line))
                self.counting = (pg.count_key(schema, table), shown)
        except (ValueError, TypeError):
            raise BackupToolError(f"psql answered {line[:60]!r} in the backup's snapshot session, which is no "
                                  "answer to what it was asked") from None

    def failure(self, status: int, stderr: str) -> BackupToolError | pg.TableLocked:
        """Why psql ended before its last answer: a table locked past the bound, a lost connection, or the
        server's error, in one line."""
        said = _SAID.search(stderr) or next(
            (m for m in _STATED.finditer(stderr) if not m["state"].startswith(_NOT_AN_ERROR)), None)
        text = said["text"].strip() if said else pg.stderr_summary(stderr)
        if said and said["state"] == LOCK_NOT_AVAILABLE and self.counting is not None:
            return pg.TableLocked(self.counting[1])
        if status == CONNECTION_LOST:
            return BackupToolError(f"lost the connection to the server during the backup: {text}")
        what = "a query of the backup failed" if self.facts is None else "counting rows failed"
        return BackupToolError(f"{what}: {text}")


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value
