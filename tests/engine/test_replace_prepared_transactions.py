"""A prepared transaction (two-phase commit) on the database a replace swaps out: no ended session closes it and it
keeps the database from being renamed. The plan refuses before the safety backup; one prepared after the plan stops
the swap before the database is closed to connections (each rename attempt waited 5 s for it: the database was
closed for a minute, then the swap failed)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import BackupToolError, ConfigError
from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.devtools.sandbox import Sandbox, start_sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.restore import plan_restore, run_restore
from backup_tui.engine.ops.swap import recorded_journals
from tests.conftest import db_config

DB = "shop"


@pytest.fixture(scope="module")
def two_phase() -> Iterator[Sandbox]:
    """A cluster of its own: the shared one allows no prepared transactions (max_prepared_transactions = 0)."""
    sandbox = start_sandbox({"max_prepared_transactions": "4"})
    try:
        yield sandbox
    finally:
        sandbox.cleanup()


@pytest.fixture
def shop(two_phase: Sandbox, tmp_path: Path) -> Iterator[tuple[Settings, BackupRecord]]:
    two_phase.psql(f"CREATE DATABASE {DB}")
    two_phase.psql("CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 50)", DB)
    settings = Settings(repository=tmp_path / "repo", log_dir=tmp_path / "logs",
                        databases=(db_config(two_phase, DB),))
    record = run_backup(Context(settings), settings.databases[0])
    yield settings, record
    for gid in two_phase.psql(f"SELECT gid FROM pg_prepared_xacts WHERE database = '{DB}'").splitlines():
        two_phase.psql(f"ROLLBACK PREPARED '{gid}'", DB)
    two_phase.psql(f"DROP DATABASE {DB} WITH (FORCE)")


def prepare(sandbox: Sandbox, gid: str) -> None:
    with psycopg.connect(sandbox.conninfo(DB), autocommit=True) as conn:
        conn.execute("BEGIN")
        conn.execute("INSERT INTO orders VALUES (1000)")
        conn.execute(f"PREPARE TRANSACTION '{gid}'")


def databases(sandbox: Sandbox) -> str:
    return sandbox.psql(f"SELECT string_agg(datname || ':' || datallowconn, ' ' ORDER BY datname) FROM pg_database "
                        f"WHERE datname LIKE '{DB}%'")


def test_the_plan_refuses_a_replace_of_a_database_holding_a_prepared_transaction(
    two_phase: Sandbox, shop: tuple[Settings, BackupRecord]
) -> None:
    settings, record = shop
    prepare(two_phase, "xa-order-1000")
    ctx = Context(settings)
    plan = plan_restore(ctx, record, replace_original=True)
    assert plan.refusal is not None and "'xa-order-1000'" in plan.refusal, plan.refusal
    assert "ROLLBACK PREPARED" in plan.refusal
    with pytest.raises(ConfigError):
        run_restore(ctx, plan, confirmed=True)
    assert [r.id for r in ctx.catalog.list(DB)] == [record.id]  # refused before the safety backup
    assert databases(two_phase) == f"{DB}:true"


def test_a_transaction_prepared_after_the_plan_stops_the_swap_before_the_database_is_closed(
    two_phase: Sandbox, shop: tuple[Settings, BackupRecord]
) -> None:
    settings, record = shop
    ctx = Context(settings)
    plan = plan_restore(ctx, record, replace_original=True, safety_backup=False)
    assert plan.refusal is None
    prepare(two_phase, "xa-late")
    started = time.monotonic()
    with pytest.raises(BackupToolError) as failure:
        run_restore(ctx, plan, confirmed=True)
    assert "'xa-late'" in failure.value.message
    assert time.monotonic() - started < 20  # not ten rename attempts of 5 s each
    assert databases(two_phase) == f"{DB}:true"  # the work database dropped, the original open
    assert recorded_journals(settings) == []
