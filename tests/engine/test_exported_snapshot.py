"""The backup's snapshot, held by a psql session: importable while held, gone once released, a failure to
connect said as everywhere else; the backup's own session joins it to count rows."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import AuthenticationFailed, BackupToolError, ConnectionFailed, NotFoundError
from backup_tui.engine.core.progress import CancelToken
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.postgres import in_snapshot, pg
from backup_tui.engine.postgres.snapshot import SnapshotHolder, exported_snapshot
from tests.conftest import closed_port, db_config


def rows_seen_in(sandbox: Sandbox, database: str, snapshot: str) -> int:
    """How many rows of t a new session sees once it has joined ``snapshot``."""
    with pg.connect(db_config(sandbox, database), autocommit=False) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        row = conn.execute("SELECT count(*) FROM t").fetchone()
        conn.rollback()
        return int(row[0]) if row else -1


def test_a_held_snapshot_shows_the_rows_of_its_moment_to_sessions_that_join_it(pg_sandbox: Sandbox,
                                                                               pagila_db: str) -> None:
    pg_sandbox.psql("CREATE TABLE t AS SELECT g FROM generate_series(1, 10) g", dbname=pagila_db)
    db = db_config(pg_sandbox, pagila_db)
    with exported_snapshot(db, None, CancelToken()) as held:
        pg_sandbox.psql("INSERT INTO t SELECT g FROM generate_series(11, 15) g", dbname=pagila_db)
        assert rows_seen_in(pg_sandbox, pagila_db, held.id) == 10  # its moment, not now
        assert rows_seen_in(pg_sandbox, pagila_db, held.id) == 10  # as often as asked, while held
        held.release()
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="invalid snapshot identifier"):
            rows_seen_in(pg_sandbox, pagila_db, held.id)
    holders = pg_sandbox.psql(f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{pg.APP_NAME} "
                              "snapshot'")
    assert holders == "0"


def test_the_session_holding_it_ends_with_the_block_even_unreleased(pg_sandbox: Sandbox, pagila_db: str) -> None:
    pg_sandbox.psql("CREATE TABLE t AS SELECT 1 AS g", dbname=pagila_db)
    with exported_snapshot(db_config(pg_sandbox, pagila_db), None, CancelToken()) as held:
        assert rows_seen_in(pg_sandbox, pagila_db, held.id) == 1
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="invalid snapshot identifier"):
        rows_seen_in(pg_sandbox, pagila_db, held.id)


def test_it_is_held_until_every_taker_has_it_and_says_the_database_size(pg_sandbox: Sandbox,
                                                                        pagila_db: str) -> None:
    pg_sandbox.psql("CREATE TABLE t AS SELECT 1 AS g", dbname=pagila_db)
    with exported_snapshot(db_config(pg_sandbox, pagila_db), None, CancelToken(), takers=("pg_dump", "session")) \
            as held:
        assert held.database_bytes == int(pg_sandbox.psql(f"SELECT pg_database_size('{pagila_db}')"))
        held.taken_by("pg_dump")
        held.taken_by("pg_dump")  # said twice, still one taker
        assert rows_seen_in(pg_sandbox, pagila_db, held.id) == 1
        held.taken_by("session")
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="invalid snapshot identifier"):
            rows_seen_in(pg_sandbox, pagila_db, held.id)


def test_a_wrong_password_or_a_missing_database_is_said_as_for_any_connection(pg_sandbox: Sandbox) -> None:
    db = db_config(pg_sandbox, "postgres")
    with pytest.raises(AuthenticationFailed, match="authentication failed"), \
            exported_snapshot(replace(db, password="not-the-password"), None, CancelToken()):
        pass
    with pytest.raises(NotFoundError, match="database 'no_such_db' does not exist"), \
            exported_snapshot(replace(db, name="no_such_db"), None, CancelToken()):
        pass


def answers_to(held: SnapshotHolder, script: bytes) -> list[str]:
    """Every line psql prints for ``script`` asked in the held snapshot, up to its exit."""
    held.ask(script)
    held.release()
    return list(held.answers())


def test_the_backups_questions_run_in_its_snapshot_in_one_process_and_are_answered_line_by_line(
        pg_sandbox: Sandbox, pagila_db: str) -> None:
    """The counts run beside the dump in the snapshot's own read-only transaction: a parallel plan's workers
    would take CPU pg_dump and its server process need (0.55 s of CPU against 0.24 s for 3.3 million rows). A
    row written after the export is not counted."""
    pg_sandbox.psql("CREATE TABLE \"odd\nname\" AS SELECT g FROM generate_series(1, 7) g", dbname=pagila_db)
    shows = b"SHOW max_parallel_workers_per_gather;\nSHOW transaction_isolation;\nSHOW transaction_read_only;\n"
    with exported_snapshot(db_config(pg_sandbox, pagila_db), None, CancelToken()) as held:
        pg_sandbox.psql("INSERT INTO \"odd\nname\" SELECT 8; DELETE FROM film_actor", dbname=pagila_db)
        lines = answers_to(held, in_snapshot.script(5) + shows)
    answers = in_snapshot.Answers()
    for line in lines[:-3]:
        answers.take(line)
    assert answers.done and lines[-3:] == ["0", "repeatable read", "on"]
    assert answers.counts["public.odd\nname"] == 7 and answers.counts["public.rental"] == 16044
    assert answers.counts["public.film_actor"] > 0
    assert answers.facts is not None and answers.facts.version == pg_sandbox.psql("SHOW server_version")
    assert answers.facts.database_info["encoding"] == "UTF8"


def test_a_backup_records_the_counts_and_facts_its_snapshot_gave(settings: Settings, pagila_db: str) -> None:
    record = run_backup(Context(settings), settings.database(pagila_db))
    assert record.row_counts["public.rental"] == 16044 and record.server_version
    assert {"encoding", "collate", "ctype", "owner", "locale_provider", "size_bytes"} <= set(record.database_info)


def test_a_failure_is_said_in_english_whatever_the_operators_language(pg_sandbox: Sandbox,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """psql speaks the operator's language (libpq ships German, French...): its words are read, so they are
    asked for in English, as the driver's libpq says them; "Fehler" once read as no connection error at all."""
    monkeypatch.setenv("LANGUAGE", "de")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    db = replace(db_config(pg_sandbox, "postgres"), port=closed_port())
    with pytest.raises(ConnectionFailed, match=r"on 127\.0\.0\.1:\d+: Connection refused\. Is the server running"), \
            exported_snapshot(db, None, CancelToken()):
        pass


def test_an_answer_that_is_no_snapshot_id_fails_at_once(pg_sandbox: Sandbox, tmp_path: Path) -> None:
    """A psql (or a server in front of it) that answers something else and keeps its session open: the
    backup says what came back, rather than wait for a psql that waits for more input."""
    (tmp_path / "psql").write_text("#!/bin/sh\necho 'SELECT 1'\ncat > /dev/null\n")
    (tmp_path / "psql").chmod(0o755)
    raised: list[BaseException] = []

    def export() -> None:
        try:
            with exported_snapshot(db_config(pg_sandbox, "postgres"), tmp_path, CancelToken()):
                pass
        except BaseException as exc:
            raised.append(exc)

    attempt = threading.Thread(target=export, daemon=True)
    attempt.start()
    attempt.join(timeout=20)
    assert not attempt.is_alive(), "still waiting for psql"
    assert len(raised) == 1 and isinstance(raised[0], BackupToolError)
    assert str(raised[0]) == "psql answered 'SELECT 1' where the backup's snapshot id was expected"


@pytest.mark.parametrize("name", ["dbname=postgres host=nowhere.invalid", "it's 'quoted' \\ dbname=postgres"])
def test_a_database_named_like_a_connection_string_is_that_database(pg_sandbox: Sandbox, name: str) -> None:
    """psql takes ``-d`` as a connection string when it holds an '=': the name reaches it as a name only, so the
    snapshot is of that database (one of another database cannot be joined from this one)."""
    quoted = name.replace('"', '""')
    pg_sandbox.psql(f'CREATE DATABASE "{quoted}"')
    try:
        pg_sandbox.psql("CREATE TABLE t AS SELECT g FROM generate_series(1, 3) g", dbname=name)
        with exported_snapshot(db_config(pg_sandbox, name), None, CancelToken()) as held:
            assert rows_seen_in(pg_sandbox, name, held.id) == 3
    finally:
        pg_sandbox.psql(f'DROP DATABASE IF EXISTS "{quoted}" WITH (FORCE)')


def test_names_come_back_as_they_are_whatever_the_databases_encoding(pg_sandbox: Sandbox, pagila_db: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """psql answers in the database's encoding unless told otherwise: a LATIN1 database's "é" came back as the
    byte 0xE9 and was read as U+FFFD, "è" and "é" were one table in the manifest, and verify said it was missing
    after the restore. An operator's PGCLIENTENCODING=LATIN1 did the same to a UTF8 database."""
    latin1 = f"{pagila_db}_latin1"
    pg_sandbox.psql(f"CREATE DATABASE {latin1} ENCODING 'LATIN1' LOCALE 'C' TEMPLATE template0")
    pg_sandbox.psql('CREATE TABLE U&"\\00E9" AS SELECT 1 AS a; '
                    'CREATE TABLE U&"\\00E8" AS SELECT g FROM generate_series(1, 2) g', dbname=latin1)
    pg_sandbox.psql('CREATE TABLE U&"\\00E9" AS SELECT 1 AS a', dbname=pagila_db)
    monkeypatch.setenv("PGCLIENTENCODING", "LATIN1")
    for name, expected in ((latin1, {"public.é": 1, "public.è": 2}), (pagila_db, {"public.é": 1})):
        with exported_snapshot(db_config(pg_sandbox, name), None, CancelToken()) as held:
            answers = in_snapshot.Answers()
            for line in answers_to(held, in_snapshot.script(5)):
                answers.take(line)
        assert answers.done and {k: v for k, v in answers.counts.items() if k in expected} == expected


def test_a_server_that_echoes_every_statement_does_not_stall_the_counts(pg_sandbox: Sandbox,
                                                                        pagila_db: str) -> None:
    """psql writes what the server sends besides its answers (NOTICE, LOG with client_min_messages = log and
    log_statement = all, DEBUG) to its stderr: a pipe read only once psql had exited filled at 64 kB, psql
    stopped, and the backup waited for its counts for good."""
    pg_sandbox.psql("DO $$ BEGIN FOR i IN 1..400 LOOP EXECUTE format('CREATE TABLE many_%s (a int)', i); "
                    "END LOOP; END $$", dbname=pagila_db)
    pg_sandbox.psql(f"ALTER DATABASE {pagila_db} SET client_min_messages = log")
    pg_sandbox.psql(f"ALTER DATABASE {pagila_db} SET log_statement = 'all'")
    lines: list[str] = []
    with exported_snapshot(db_config(pg_sandbox, pagila_db), None, CancelToken()) as held:
        reader = threading.Thread(target=lambda: lines.extend(answers_to(held, in_snapshot.script(5))), daemon=True)
        reader.start()
        reader.join(timeout=60)
        stalled = reader.is_alive()
        if stalled:
            held.stop()
    assert not stalled and lines[-1] == in_snapshot.COUNTED


def counted(sandbox: Sandbox, database: str, lock_wait_timeout_s: int) -> in_snapshot.Answers:
    answers = in_snapshot.Answers()
    with exported_snapshot(db_config(sandbox, database), None, CancelToken()) as held:
        for line in answers_to(held, in_snapshot.script(lock_wait_timeout_s)):
            answers.take(line)
    return answers


def test_a_count_planted_on_the_search_path_counts_nothing(pg_sandbox: Sandbox, pagila_db: str) -> None:
    """A database's search_path that puts a schema before pg_catalog would run its count(*) (as the backup's
    user, a superuser often) and record its numbers: the snapshot's session searches pg_catalog alone."""
    pg_sandbox.psql("CREATE SCHEMA attacker; CREATE AGGREGATE attacker.count(*) (sfunc = int8inc, stype = int8, "
                    "initcond = '41')", dbname=pagila_db)
    pg_sandbox.psql(f"ALTER DATABASE {pagila_db} SET search_path = attacker, pg_catalog, public")
    assert counted(pg_sandbox, pagila_db, 5).counts["public.rental"] == 16044


def test_no_bound_on_lock_waits_is_ours_to_say_not_the_databases(pg_sandbox: Sandbox, pagila_db: str) -> None:
    """lock_wait_timeout = 0 waits as long as it takes, whatever lock_timeout the database sets for its
    application's sessions (it once gave up at once, saying "gave up after 0 s")."""
    pg_sandbox.psql(f"ALTER DATABASE {pagila_db} SET lock_timeout = '1ms'")
    with psycopg.connect(pg_sandbox.conninfo(pagila_db)) as holder:
        holder.execute("LOCK TABLE actor IN ACCESS EXCLUSIVE MODE")
        threading.Timer(1.0, holder.rollback).start()  # released a second into the count's wait
        answers = counted(pg_sandbox, pagila_db, 0)
    assert answers.done and answers.counts["public.actor"] == 200
