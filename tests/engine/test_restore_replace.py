"""--replace: the original stays intact on any failure before the swap, and is kept aside after it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core import names
from backup_tui.engine.core.errors import BackupToolError, Cancelled, ConfirmationRequired
from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.core.names import side_name
from backup_tui.engine.core.progress import BytesProgress, CancelToken, LogLine, ProgressEvent
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.restore import plan_restore
from backup_tui.engine.storage.catalog import Catalog
from tests.conftest import restore
from tests.fingerprint import fingerprint


def databases_like(sandbox: Sandbox, prefix: str) -> list[str]:
    rows = sandbox.psql(f"SELECT datname FROM pg_database WHERE datname LIKE '{prefix}%' ORDER BY 1")
    return rows.splitlines()


def actors(sandbox: Sandbox, db: str) -> int:
    return int(sandbox.psql("SELECT count(*) FROM actor", db))


@pytest.fixture
def backed_up(settings: Settings, pg_sandbox: Sandbox, pagila_db: str) -> BackupRecord:
    record = run_backup(Context(settings), settings.databases[0])
    # Changes after the backup: the restore must bring back 200 actors.
    pg_sandbox.psql("INSERT INTO actor (first_name, last_name) VALUES ('NEW', 'ROW')", pagila_db)
    return record


def test_replace_swaps_and_keeps_the_original_aside(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str, backed_up: BackupRecord
) -> None:
    idle = psycopg.connect(pg_sandbox.conninfo(pagila_db), application_name="nightly-report")  # to terminate
    said: list[str] = []
    result = restore(settings, backed_up.id, replace_original=True, confirmed=True,
                     reporter=lambda e: said.append(e.message) if isinstance(e, LogLine) else None)
    host = "local" if pg_sandbox.host.startswith("/") else pg_sandbox.host
    terminated = next(line for line in said if line.startswith(f"terminated the sessions on {pagila_db}: "))
    assert f"{pg_sandbox.user}@{host} 'nightly-report'" in terminated  # an autovacuum worker may be named too
    assert actors(pg_sandbox, pagila_db) == 200
    aside = result.plan.aside_db
    assert aside is not None and aside.startswith(f"{pagila_db}__pre_restore_")
    assert actors(pg_sandbox, aside) == 201  # the previous database, with the post-backup row
    assert databases_like(pg_sandbox, pagila_db) == sorted([pagila_db, aside])
    assert result.safety_backup_id is not None
    safety = Catalog.from_settings(settings).get(result.safety_backup_id)
    assert safety.row_counts["public.actor"] == 201 and safety.reason.startswith("safety")
    assert any(aside in note for note in result.notes)
    with pytest.raises(psycopg.OperationalError):
        idle.execute("SELECT 1")
    # Connections to both databases are allowed again.
    assert pg_sandbox.psql("SELECT bool_and(datallowconn) FROM pg_database "
                           f"WHERE datname IN ('{pagila_db}', '{aside}')") == "t"


def test_replace_plan_never_counts_the_apps_own_connections_as_sessions_to_end(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str, backed_up: BackupRecord
) -> None:
    """A dump or restore of ours on the database (application_name backup-tui...) is not a session to end:
    the database's lock orders it; a colleague's psql is."""
    ours = psycopg.connect(pg_sandbox.conninfo(pagila_db), application_name=f"backup-tui pg_dump {backed_up.id}")
    theirs = psycopg.connect(pg_sandbox.conninfo(pagila_db), application_name="psql")
    try:
        plan = plan_restore(Context(settings), backed_up, replace_original=True)
        assert any("'psql'" in who for who in plan.sessions), plan.sessions
        assert not any("backup-tui" in who for who in plan.sessions), plan.sessions
        terminate = next(step for step in plan.steps if step.action == "terminate")
        assert "backup-tui" not in terminate.description
    finally:
        ours.close()
        theirs.close()


@pytest.mark.parametrize("jobs", [1, 2], ids=["streaming", "parallel"])
def test_replace_failing_midway_leaves_the_original_untouched(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str, backed_up: BackupRecord, jobs: int
) -> None:
    """Streaming: pg_restore has loaded part of the data when the damage is reached."""
    settings = replace(settings, restore_jobs=jobs)
    before = fingerprint(pg_sandbox.conninfo(pagila_db))
    data = Path(backed_up.path)
    raw = bytearray(data.read_bytes())
    middle = len(raw) * 3 // 5
    raw[middle:middle + 64] = bytes(64)  # damage in the middle: the restore starts, then fails
    data.write_bytes(bytes(raw))
    with pytest.raises(BackupToolError) as failure:
        restore(settings, backed_up.id, replace_original=True, confirmed=True, safety_backup=False)
    assert "zstd" in failure.value.message or "sha256" in failure.value.message
    assert fingerprint(pg_sandbox.conninfo(pagila_db)) == before
    assert databases_like(pg_sandbox, pagila_db) == [pagila_db]  # the temporary was dropped
    assert pg_sandbox.psql(f"SELECT datallowconn FROM pg_database WHERE datname = '{pagila_db}'") == "t"


def test_cancel_midway_drops_the_temporary_and_says_so(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str, backed_up: BackupRecord
) -> None:
    token = CancelToken()

    def reporter(event: ProgressEvent) -> None:
        if isinstance(event, BytesProgress) and event.step == "restore":
            token.cancel()

    with pytest.raises(Cancelled) as cancelled:
        restore(settings, backed_up.id, reporter=reporter, cancel=token, replace_original=True, confirmed=True,
                safety_backup=False)
    assert "original is untouched" in cancelled.value.message
    assert actors(pg_sandbox, pagila_db) == 201
    assert databases_like(pg_sandbox, pagila_db) == [pagila_db]


def test_replace_needs_confirmation(settings: Settings, pg_sandbox: Sandbox, pagila_db: str,
                                    backed_up: BackupRecord) -> None:
    with pytest.raises(ConfirmationRequired):
        restore(settings, backed_up.id, replace_original=True)
    assert actors(pg_sandbox, pagila_db) == 201
    assert databases_like(pg_sandbox, pagila_db) == [pagila_db]


def test_replace_recreates_a_dropped_database(settings: Settings, pg_sandbox: Sandbox, pagila_db: str,
                                              backed_up: BackupRecord) -> None:
    pg_sandbox.psql(f'DROP DATABASE "{pagila_db}"')
    result = restore(settings, backed_up.id, replace_original=True, confirmed=True)
    assert result.plan.aside_db is None and result.safety_backup_id is None
    assert actors(pg_sandbox, pagila_db) == 200


def test_restore_into_new_database_with_parallel_and_streaming_paths(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str, backed_up: BackupRecord
) -> None:
    for jobs in (1, 2):
        target = f"{pagila_db}_j{jobs}"
        result = restore(replace(settings, restore_jobs=jobs), backed_up.id, target_db=target)
        assert actors(pg_sandbox, target) == 200
        assert result.row_counts["public.rental"] == [16044, 16044]


def test_a_replace_in_the_same_second_as_the_last_one_names_a_free_second(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str, backed_up: BackupRecord
) -> None:
    """A replace settled and begun again within one second (a healed swap, then the restore that healed
    it) met the kept copy's name: 'already exists'. The plan takes the next free second for both names."""
    moment = datetime(2026, 12, 5, 20, 46, 32, tzinfo=UTC)
    taken = side_name(pagila_db, names.ASIDE, moment)
    pg_sandbox.psql(f'CREATE DATABASE "{taken}"')
    plan = plan_restore(Context(settings, now=lambda: moment), backed_up, replace_original=True)
    later = moment + timedelta(seconds=1)
    assert (plan.work_db, plan.aside_db) == (side_name(pagila_db, names.WORK, later),
                                            side_name(pagila_db, names.ASIDE, later))
    restore(settings, backed_up.id, replace_original=True, confirmed=True, safety_backup=False,
            now=lambda: moment)
    assert actors(pg_sandbox, pagila_db) == 200 and taken in databases_like(pg_sandbox, pagila_db)
