"""A target is a database name, never a connection string: whatever an operator types after
--target-db becomes a database of exactly that name on the configured server, and no other
database is touched. Names that cannot be names, or that are named like the engine's own databases (a replace's
kept copy, a scratch database), are refused before anything changes."""

from __future__ import annotations

import pytest

from tests.headless.conftest import Workspace, one_error_line

HOSTILE_TARGETS = [
    "dbname=postgres",
    "host=/nonexistent dbname=template1",
    "postgresql://localhost/postgres",
    "service=nope",
    "it's a \"quoted\" \\ name",
]


@pytest.mark.parametrize("target", HOSTILE_TARGETS)
def test_a_connection_string_as_target_is_a_new_database_of_that_name(
    backed_up: tuple[Workspace, str], target: str,
) -> None:
    ws, backup_id = backed_up
    before = set(ws.databases())
    postgres_tables = ws.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", "postgres")
    try:
        result = ws.run("restore", backup_id, "--target-db", target)
        assert result.returncode == 0, result.stderr
        assert set(ws.databases()) == before | {target}
        assert ws.psql("SELECT count(*) FROM rental", target) == "16044"
        assert ws.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", "postgres") == postgres_tables
    finally:
        ws.sandbox.psql("SELECT 1")  # the server still answers
        ident = '"' + target.replace('"', '""') + '"'
        ws.sandbox.psql(f"DROP DATABASE IF EXISTS {ident} WITH (FORCE)")


def test_a_name_too_long_for_postgresql_is_refused_before_anything_changes(backed_up: tuple[Workspace, str]) -> None:
    ws, backup_id = backed_up
    before = ws.databases()
    for name in ("é" * 32, "x" * 64):
        result = ws.run("restore", backup_id, "--target-db", name, "--yes")
        assert result.returncode == 2
        assert "63 bytes" in one_error_line(result)
    assert ws.databases() == before


@pytest.mark.parametrize("form", ["{db}__pre_restore_20200101000000", "{db}__pre_rollback_20200101000000",
                                  "{db}__restore_20200101000000", "{db}__verify_0123abcd"])
def test_a_target_named_like_the_engines_own_databases_is_refused(backed_up: tuple[Workspace, str], form: str) -> None:
    """A restore into '<db>__pre_restore_<utc>' succeeded, and then kept listed it as a copy a replace set
    aside, rollback swapped it in for the database and kept --drop dropped it."""
    ws, backup_id = backed_up
    target = form.format(db=ws.database)
    result = ws.run("restore", backup_id, "--target-db", target)
    assert result.returncode == 2
    assert "choose another name" in one_error_line(result)
    assert target not in ws.databases()
