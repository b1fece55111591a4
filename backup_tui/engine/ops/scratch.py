"""What a run creates only to load a backup into: a verify's test database, a restore's work
database, a parallel restore's decoded dump.

Each is recorded under ``BACKUP_DIR/scratch/`` before it is created and forgotten once it is
dropped (or, for a restore, once it became the real database). A run killed with SIGKILL
cannot clean up after itself; the next run against the same server finds its records, sees
that the process is gone, and removes what it left. Records of live processes, and of other
machines (whose processes we cannot see), are never touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import psycopg

from backup_tui.engine.config import DatabaseConfig, Settings
from backup_tui.engine.core.errors import BackupToolError
from backup_tui.engine.core.progress import Reporter, info, warn
from backup_tui.engine.postgres import pg
from backup_tui.engine.storage.files import atomic_write
from backup_tui.engine.storage.state import state_dir

SCRATCH_DIR = "scratch"
Kind = Literal["database", "file"]


def server_key(server: DatabaseConfig) -> str:
    """Which server a scratch database lives on, as this configuration reaches it."""
    host = server.host or os.environ.get("PGHOST", "")
    port = server.port or os.environ.get("PGPORT", "")
    return f"service={server.service or ''} host={host} port={port}"


@dataclass(frozen=True)
class Scratch:
    """One recorded leftover-to-be: a database on ``server`` or a file."""

    kind: Kind
    name: str  # the database's name, or the file's path
    purpose: str  # "verify", "restore"
    server: str
    host: str
    pid: int
    created_at: str
    record: Path

    @classmethod
    def begin(cls, settings: Settings, kind: Kind, name: str, purpose: str,
              server: DatabaseConfig | None = None) -> Scratch:
        """Record it; call before creating it, so that no moment exists where it is there unrecorded."""
        folder = state_dir(settings.repository, SCRATCH_DIR)
        folder.mkdir(parents=True, exist_ok=True)
        scratch = cls(kind, name, purpose, server_key(server) if server else "", socket.gethostname(), os.getpid(),
                      datetime.now(UTC).isoformat(timespec="seconds"), folder / f"{uuid.uuid4().hex}.json")
        atomic_write(scratch.record, json.dumps({
            "kind": kind, "name": name, "purpose": purpose, "server": scratch.server,
            "host": scratch.host, "pid": scratch.pid, "created_at": scratch.created_at}) + "\n")
        return scratch

    def forget(self) -> None:
        """It is gone, or it is no longer scratch (a restore's work database renamed into place)."""
        self.record.unlink(missing_ok=True)

    @property
    def orphaned(self) -> bool:
        """Made on this machine by a process that no longer runs."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # alive, another user's
            return False
        return False

    def describe(self) -> str:
        what = f"database {self.name!r}" if self.kind == "database" else f"file {self.name}"
        return f"{what} left by a {self.purpose} run (pid {self.pid}, {self.created_at}) that was killed"


def recorded(settings: Settings) -> list[Scratch]:
    """Every record, oldest first; unreadable ones are skipped (a record is never worth an error)."""
    folder = state_dir(settings.repository, SCRATCH_DIR)
    found: list[Scratch] = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for path in folder.glob("*.json"):
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                found.append(_parse(path, json.loads(path.read_text(encoding="utf-8"))))
    return sorted(found, key=lambda s: s.created_at)


def _parse(path: Path, data: dict[str, Any]) -> Scratch:
    kind = data["kind"]
    if kind not in ("database", "file"):
        raise ValueError(kind)
    return Scratch(kind, str(data["name"]), str(data["purpose"]), str(data["server"]), str(data["host"]),
                   int(data["pid"]), str(data["created_at"]), path)


def leftovers(settings: Settings, server: DatabaseConfig) -> list[Scratch]:
    """What killed runs left on this server (and in this repository's files)."""
    key = server_key(server)
    return [s for s in recorded(settings) if s.orphaned and (s.kind == "file" or s.server == key)]


def clean_leftovers(settings: Settings, server: DatabaseConfig, reporter: Reporter) -> list[str]:
    """Remove what killed runs left; returns what was removed. A failure is a warning, never the run's end."""
    removed: list[str] = []
    for scratch in leftovers(settings, server):
        try:
            if scratch.kind == "database":
                with pg.connect(server, settings.maintenance_db) as conn:
                    pg.drop_database(conn, scratch.name)
            else:
                Path(scratch.name).unlink(missing_ok=True)
        except (BackupToolError, psycopg.Error, OSError) as exc:
            warn(reporter, f"could not remove the {scratch.describe()}: {exc}")
            continue
        scratch.forget()
        info(reporter, f"removed the {scratch.describe()}")
        removed.append(scratch.name)
    return removed


def create_database(settings: Settings, server: DatabaseConfig, name: str, info_: dict[str, str] | None,
                    purpose: str) -> Scratch:
    """CREATE DATABASE ``name``, recorded as scratch until ``drop_database`` or ``Scratch.forget``."""
    scratch = Scratch.begin(settings, "database", name, purpose, server)
    try:
        with pg.connect(server, settings.maintenance_db) as conn:
            pg.create_database(conn, name, info_)
    except BaseException:
        scratch.forget()  # nothing was created (a name taken meanwhile is not ours to drop later)
        raise
    return scratch


def drop_database(settings: Settings, server: DatabaseConfig, scratch: Scratch) -> None:
    """DROP it and forget it; a failure raises and keeps the record, so a later run drops it."""
    with pg.connect(server, settings.maintenance_db) as conn:
        pg.drop_database(conn, scratch.name)
    scratch.forget()


def drop_quietly(settings: Settings, server: DatabaseConfig, scratch: Scratch) -> bool:
    """``drop_database`` for cleanup paths, where a second error must not hide the first."""
    try:
        drop_database(settings, server, scratch)
        return True
    except (BackupToolError, psycopg.Error):
        return False


def unlink_file(scratch: Scratch) -> None:
    Path(scratch.name).unlink(missing_ok=True)
    scratch.forget()

