"""The psql line a restore's result gives: what the app connects with, quoted for a shell, never a password."""

from __future__ import annotations

import shlex

from backup_tui.engine.config import DatabaseConfig
from backup_tui.engine.postgres.psql_line import psql_command


def test_the_configured_connection_and_no_password() -> None:
    db = DatabaseConfig(name="app", host="db1.internal", port=6432, user="backup", password="s3cret")
    assert psql_command(db, "app_restored", {}) == "psql -h db1.internal -p 6432 -U backup -d app_restored"


def test_libpq_environment_fills_what_the_configuration_leaves_unset() -> None:
    env = {"PGHOST": "/run/postgresql", "PGPORT": "5433", "PGUSER": "ops", "PGPASSWORD": "s3cret"}
    assert psql_command(DatabaseConfig(name="app", user="backup"), "app", env) == \
        "psql -h /run/postgresql -p 5433 -U backup -d app"
    assert psql_command(DatabaseConfig(name="app"), "app", {}) == "psql -d app"


def test_a_service_entry_and_names_a_shell_or_psql_would_misread() -> None:
    assert psql_command(DatabaseConfig(name="app", service="prod"), "My DB", {}) == "PGSERVICE=prod psql -d 'My DB'"
    assert shlex.split(psql_command(DatabaseConfig(name="app"), "a=b", {})) == ["psql", "-d", "dbname='a=b'"]
