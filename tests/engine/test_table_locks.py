"""A table another session keeps locked: the backup waits a bounded time, then names table and holder."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import BackupToolError, SpaceError
from backup_tui.engine.core.progress import CancelToken, LogLine, ProgressEvent
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops import dump_session
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.postgres import in_snapshot, pg, table_locks
from backup_tui.engine.postgres.snapshot import exported_snapshot
from backup_tui.engine.storage.catalog import Catalog
from backup_tui.engine.storage.space import free_bytes
from tests.conftest import db_config, run_cli


def hold_exclusive_lock(sandbox: Sandbox, database: str, table: str) -> psycopg.Connection[Any]:
    holder = psycopg.connect(sandbox.conninfo(database), application_name="migration")
    holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")  # held until the transaction ends
    return holder


def test_backup_gives_up_naming_table_and_holder(settings: Settings, pg_sandbox: Sandbox, pagila_db: str) -> None:
    quick = replace(settings, lock_wait_timeout_s=1)
    with hold_exclusive_lock(pg_sandbox, pagila_db, "public.actor") as holder:
        started = time.monotonic()
        with pytest.raises(BackupToolError) as caught:
            run_backup(Context(quick), quick.databases[0])
        assert time.monotonic() - started < 20
        message = caught.value.message
        assert "lock on table public.actor" in message and "after 1 s" in message
        assert f"pid {holder.info.backend_pid} (user " in message and "migration" in message
        assert "LOCK TABLE public.actor" in message and "lock_wait_timeout" in message
        assert "\n" not in message
        assert Catalog.from_settings(settings).list() == []  # no folder left, valid or not
    assert run_backup(Context(quick), quick.databases[0]).status == "valid"  # released: the next run goes ahead


def test_cli_exits_1_with_one_line(pg_sandbox: Sandbox, pagila_db: str, cli_env: dict[str, str],
                                   tmp_path: Path) -> None:
    config = tmp_path / "locks.toml"
    config.write_text("[backup]\nlock_wait_timeout = 1\n")
    with hold_exclusive_lock(pg_sandbox, pagila_db, "public.film"):
        proc = run_cli(["backup"], {**cli_env, "BACKUP_TUI_CONFIG": str(config)})
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "waiting for a lock on table public.film, blocked by pid" in proc.stderr


def test_row_counts_name_the_locked_table(pg_sandbox: Sandbox, pagila_db: str) -> None:
    """The count that gave up is known by the name printed before it, quoted as pg_dump quotes it."""
    with hold_exclusive_lock(pg_sandbox, pagila_db, '"public"."film"'), \
            exported_snapshot(db_config(pg_sandbox, pagila_db), None, CancelToken()) as held:
        held.ask(in_snapshot.script(1))
        held.release()
        answers = in_snapshot.Answers()
        for line in held.answers():
            answers.take(line)
        failure = answers.failure(*held.outcome())
    assert isinstance(failure, pg.TableLocked) and failure.table == "public.film"
    assert not answers.done and "public.actor" in answers.counts  # counted up to it


def test_no_bound_when_the_timeout_is_zero() -> None:
    assert table_locks.pg_dump_arguments(0) == []
    assert table_locks.pg_dump_arguments(300) == ["--lock-wait-timeout=300s"]
    stderr = ("pg_dump: error: query failed: ERROR:  canceling statement due to statement timeout\n"
              'pg_dump: detail: Query was: LOCK TABLE "My Schema"."odd table" IN ACCESS SHARE MODE\n')
    assert table_locks.locked_table_in(stderr) == '"My Schema"."odd table"'
    assert table_locks.locked_table_in("pg_dump: error: connection to server failed") is None


GERMAN = ("pg_dump: error: query failed: FEHLER:  storniere Anfrage wegen Zeitüberschreitung der Anfrage\n"
          "pg_dump: detail: Query was: LOCK TABLE public.film IN ACCESS SHARE MODE\n")


def test_a_lock_pg_dump_gave_up_on_is_known_in_the_servers_language_by_its_blocker(pg_sandbox: Sandbox,
                                                                                    pagila_db: str) -> None:
    """The server says "statement timeout" in its lc_messages, which a session that is no superuser cannot
    change: where the words are not English, pg_dump's own "Query was: LOCK TABLE" and a session holding the
    table now say it; without a blocker (a permission denied, a lost connection) it is no lock wait."""
    db = db_config(pg_sandbox, pagila_db)
    with hold_exclusive_lock(pg_sandbox, pagila_db, "public.film") as holder:
        pid = holder.info.backend_pid
        said = table_locks.dump_failure(db, GERMAN, 3)
    assert said is not None and said.message.startswith(
        f"gave up after 3 s waiting for a lock on table public.film, blocked by pid {pid} ")
    assert table_locks.dump_failure(db, GERMAN, 3) is None
    assert table_locks.dump_failure(db, GERMAN.replace("FEHLER", "ERROR"), 3) is None


def test_a_lock_on_a_partition_and_a_queued_alter_are_named(settings: Settings, pg_sandbox: Sandbox,
                                                            pagila_db: str) -> None:
    """pg_dump locks the parent, the lock waits on a partition; a queued ALTER TABLE blocks us too. Whichever
    of the dump and the row counts gives up first says so: the counts wait on the partition itself."""
    quick = replace(settings, lock_wait_timeout_s=1)
    with hold_exclusive_lock(pg_sandbox, pagila_db, "public.payment_p2022_02") as holder:
        pid = holder.info.backend_pid
        with pytest.raises(BackupToolError) as caught:
            run_backup(Context(quick), quick.databases[0])
    message = caught.value.message
    assert f"pid {pid} (user " in message
    assert (" on public.payment_p2022_02" in message  # pg_dump's wait, on the parent
            or "waiting for a lock on table public.payment_p2022_02, blocked" in message), message  # the counts'

    reader = psycopg.connect(pg_sandbox.conninfo(pagila_db))
    reader.execute("SELECT count(*) FROM public.actor")  # holds a share lock until its transaction ends
    alter = psycopg.connect(pg_sandbox.conninfo(pagila_db), autocommit=True)
    queued = threading.Thread(target=alter.execute, args=("ALTER TABLE public.actor ADD COLUMN queued int",))
    queued.start()
    try:
        with pytest.raises(BackupToolError) as caught:
            run_backup(Context(quick), quick.databases[0])
        message = caught.value.message
        assert f"pid {alter.info.backend_pid} (user " in message
        assert f"queued ahead of us behind pid {reader.info.backend_pid}" in message
    finally:
        reader.close()
        queued.join()
        alter.close()


def test_a_waiting_dump_says_on_whom_it_waits(settings: Settings, pg_sandbox: Sandbox, pagila_db: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Rather than sit at 0 bytes until the timeout, the backup says once what it waits for."""
    monkeypatch.setattr(table_locks, "NOTICE_AFTER_S", 0.5)
    events: list[ProgressEvent] = []

    def reporter(event: ProgressEvent) -> None:
        events.append(event)

    with hold_exclusive_lock(pg_sandbox, pagila_db, "public.actor") as holder:
        pid = holder.info.backend_pid
        with pytest.raises(BackupToolError):
            run_backup(Context(replace(settings, lock_wait_timeout_s=3), reporter=reporter), settings.databases[0])
    warnings = [e.message for e in events if isinstance(e, LogLine) and e.level == "warning"]
    assert len(warnings) == 1
    assert warnings[0].startswith("pg_dump has waited 0 s for a lock on table public.actor, blocked by pid "
                                  f"{pid} (user ")
    assert warnings[0].endswith("; the backup gives up after 3 s ([backup] lock_wait_timeout)")


def stuck_pg_dump(folder: Path) -> Path:
    """A pg_bin_dir whose pg_dump says its version and otherwise sends nothing, ever (a dump stuck behind a lock
    with no timeout): only a kill ends it."""
    real = Path(pg.tool_path("pg_dump")).parent
    (folder / "pg_dump").write_text(f'#!/bin/sh\n[ "$1" = --version ] && exec {real}/pg_dump --version\n'
                                    "exec sleep 600\n")
    (folder / "pg_dump").chmod(0o755)
    (folder / "psql").symlink_to(real / "psql")
    return folder


def backup_beside(settings: Settings, cancel: CancelToken | None = None) -> tuple[threading.Thread,
                                                                               list[BaseException]]:
    """A backup in a thread of its own (start it), and what it raised once it ends."""
    raised: list[BaseException] = []

    def backup() -> None:
        try:
            run_backup(Context(settings, cancel=cancel or CancelToken()), settings.databases[0])
        except BaseException as exc:
            raised.append(exc)

    return threading.Thread(target=backup, daemon=True), raised


def test_the_counts_giving_up_stop_the_dump_at_once(settings: Settings, pg_sandbox: Sandbox, pagila_db: str,
                                                    tmp_path: Path) -> None:
    """Our session counts beside the dump; when it fails, the backup fails now, not when the dump ends."""
    quick = replace(settings, lock_wait_timeout_s=1, pg_bin_dir=stuck_pg_dump(tmp_path))
    attempt, raised = backup_beside(quick)
    with hold_exclusive_lock(pg_sandbox, pagila_db, "public.film") as holder:
        pid = holder.info.backend_pid
        attempt.start()
        attempt.join(timeout=60)
        assert not attempt.is_alive(), "the backup waited for a dump that sends nothing"
    assert len(raised) == 1 and isinstance(raised[0], BackupToolError), raised
    assert raised[0].message.startswith("gave up after 1 s waiting for a lock on table public.film, blocked by pid "
                                        f"{pid} (user ")
    assert Catalog.from_settings(quick).list() == []  # nothing left behind, nothing that looks valid


def test_the_counting_session_dropped_by_the_server_fails_the_backup_at_once_in_one_line(
        settings: Settings, pg_sandbox: Sandbox, pagila_db: str, tmp_path: Path) -> None:
    """The session that holds the snapshot and counts is terminated (an admin, a failover) while it waits on a
    locked table: the backup says it lost the connection, and does not wait for a dump that would never end."""
    unbounded = replace(settings, lock_wait_timeout_s=0, pg_bin_dir=stuck_pg_dump(tmp_path))
    attempt, raised = backup_beside(unbounded)
    counting = (f"SELECT pid FROM pg_stat_activity WHERE application_name = '{pg.APP_NAME} snapshot' "
                "AND wait_event_type = 'Lock'")
    with hold_exclusive_lock(pg_sandbox, pagila_db, "public.film"):
        attempt.start()
        deadline = time.monotonic() + 30
        while not (pid := pg_sandbox.psql(counting)):
            assert time.monotonic() < deadline, "the count never waited on the lock"
            time.sleep(0.05)
        pg_sandbox.psql(f"SELECT pg_terminate_backend({pid})")
        attempt.join(timeout=30)
        assert not attempt.is_alive(), "the backup waited for a dump that sends nothing"
    assert len(raised) == 1 and isinstance(raised[0], BackupToolError), raised
    assert raised[0].message == ("lost the connection to the server during the backup: terminating connection due "
                                 "to administrator command")
    assert Catalog.from_settings(unbounded).list() == []


def test_a_backup_cancelled_while_pg_dump_waits_on_a_lock_leaves_no_session_queued_for_it(
        settings: Settings, pg_sandbox: Sandbox, pagila_db: str) -> None:
    """pg_dump stopped by a SIGKILL left its server session queued for the lock, and it took the lock once the
    holder let go, after the backup had ended; stopped by a SIGTERM it cancels its query first."""
    unbounded = replace(settings, lock_wait_timeout_s=0)
    cancel = CancelToken()
    attempt, raised = backup_beside(unbounded, cancel)
    dumps = f"SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '{pg.APP_NAME} pg_dump %'"
    waiting = dumps + " AND wait_event_type = 'Lock'"
    with hold_exclusive_lock(pg_sandbox, pagila_db, "public.film"):
        attempt.start()
        deadline = time.monotonic() + 30
        while pg_sandbox.psql(waiting) != "1":
            assert time.monotonic() < deadline, "pg_dump never waited on the lock"
            time.sleep(0.05)
        cancel.cancel()
        attempt.join(timeout=30)
        assert not attempt.is_alive() and len(raised) == 1
        deadline = time.monotonic() + 1.0  # well inside the grace a SIGKILL would follow after
        while pg_sandbox.psql(dumps) != "0":
            assert time.monotonic() < deadline, "pg_dump's session is still queued for the lock"
            time.sleep(0.05)


def test_a_backup_refused_at_once_leaves_none_of_its_sessions_behind(settings: Settings, pg_sandbox: Sandbox,
                                                                      pagila_db: str) -> None:
    """Refused for space while its own session still connects: the session stops there, or where it has got to
    (a count waiting, with no bound, on a locked table), and closes its connection; nothing waits for it."""
    stuck = replace(settings, lock_wait_timeout_s=0, min_free_bytes=free_bytes(settings.repository) * 2)
    ours = (f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{pagila_db}' "
            f"AND application_name LIKE '{pg.APP_NAME}%'")
    with hold_exclusive_lock(pg_sandbox, pagila_db, "public.film"):
        started = time.monotonic()
        with pytest.raises(SpaceError):
            run_backup(Context(stuck), stuck.databases[0])
        assert time.monotonic() - started < dump_session.CLOSE_WAIT_S  # closing the session waited for nothing
        deadline = time.monotonic() + 10
        while pg_sandbox.psql(ours) != "0":
            assert time.monotonic() < deadline, "a session of the backup is still there"
            time.sleep(0.05)
