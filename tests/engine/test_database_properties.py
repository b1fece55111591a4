"""A restored database keeps the original's own comment, privileges and settings, which pg_restore
applies only with --create: a replace must not lose the search_path or the one role allowed in."""

from __future__ import annotations

import pytest

from backup_tui.engine.config import DatabaseConfig, Settings
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.postgres import pg
from backup_tui.engine.postgres.database_properties import archived_name, database_level_entries, retarget
from tests.conftest import restore

TOC = """;
; Archive created at 2026-11-23 08:41:20 UTC
;     dbname: Prop Test
;     TOC Entries: 7
;
; Selected TOC Entries:
;
3345; 1262 16386 DATABASE - Prop Test postgres
3346; 0 0 COMMENT - DATABASE "Prop Test" postgres
3347; 0 0 ACL - DATABASE "Prop Test" postgres
3348; 0 0 DATABASE PROPERTIES - Prop Test postgres
6; 2615 16387 SCHEMA - app postgres
3339; 0 16388 TABLE DATA app t postgres
"""


def test_the_database_level_entries_are_picked_from_the_listing() -> None:
    assert archived_name(TOC) == "Prop Test"
    assert [line.split()[0] for line in database_level_entries(TOC)] == ["3346;", "3347;", "3348;"]


# What pg_restore --create --use-list prints for those entries (PostgreSQL 15.18), shortened.
SCRIPT = """SET statement_timeout = 0;
--
-- Name: Prop Test; Type: DATABASE; Schema: -; Owner: postgres
--

CREATE DATABASE "Prop Test" WITH TEMPLATE = template0 ENCODING = 'UTF8';
ALTER DATABASE "Prop Test" OWNER TO postgres;
\\unrestrict abc
\\connect -reuse-previous=on "dbname='Prop Test'"
\\restrict abc
SET statement_timeout = 0;
--
-- Name: DATABASE "Prop Test"; Type: COMMENT; Schema: -; Owner: postgres
--

COMMENT ON DATABASE "Prop Test" IS 'ALTER DATABASE "Prop Test" is the app''s
-- Name: x; Type: DATABASE; Schema: -; Owner: y';
--
-- Name: Prop Test; Type: DATABASE PROPERTIES; Schema: -; Owner: postgres
--

ALTER DATABASE "Prop Test" SET search_path TO 'app', 'public';
ALTER ROLE app IN DATABASE "Prop Test" SET application_name TO 'IN DATABASE x';
ALTER ROLE "evil IN DATABASE x" IN DATABASE "Prop Test" SET work_mem TO '5MB';
\\connect -reuse-previous=on "dbname='Prop Test'"
--
-- Name: DATABASE "Prop Test"; Type: ACL; Schema: -; Owner: postgres
--

REVOKE CONNECT,TEMPORARY ON DATABASE "Prop Test" FROM PUBLIC;
GRANT CONNECT ON DATABASE "Prop Test" TO app;
"""


def test_only_those_statements_are_kept_and_aimed_at_the_new_database() -> None:
    kept = [line for line in retarget(SCRIPT, "Prop Test", 'new "one"').splitlines()
            if line.strip() and not line.startswith("--")]
    assert kept == [
        "COMMENT ON DATABASE \"new \"\"one\"\"\" IS 'ALTER DATABASE \"Prop Test\" is the app''s",
        "ALTER DATABASE \"new \"\"one\"\"\" SET search_path TO 'app', 'public';",
        "ALTER ROLE app IN DATABASE \"new \"\"one\"\"\" SET application_name TO 'IN DATABASE x';",
        "ALTER ROLE \"evil IN DATABASE x\" IN DATABASE \"new \"\"one\"\"\" SET work_mem TO '5MB';",
        "REVOKE CONNECT,TEMPORARY ON DATABASE \"new \"\"one\"\"\" FROM PUBLIC;",
        "GRANT CONNECT ON DATABASE \"new \"\"one\"\"\" TO app;",
    ]


def test_a_bare_name_is_found_and_a_stranger_is_refused() -> None:
    header = "-- Name: DATABASE app; Type: ACL; Schema: -; Owner: postgres\n"
    assert retarget(header + "GRANT CONNECT ON DATABASE app TO app;", "app", "app_copy").splitlines()[-1] == \
        'GRANT CONNECT ON DATABASE "app_copy" TO app;'
    with pytest.raises(ValueError, match="cannot find database"):
        retarget(header + "GRANT CONNECT ON DATABASE other TO app;", "app", "app_copy")


def properties(sandbox: Sandbox, db: str) -> tuple[str, ...]:
    """Comment, privileges and settings as the catalog holds them (privileges without the owner's name)."""
    where = f"WHERE d.datname = '{db}'"
    return (
        sandbox.psql(f"SELECT shobj_description(d.oid, 'pg_database') FROM pg_database d {where}"),
        sandbox.psql(f"SELECT array_to_string(array(SELECT a::text FROM unnest(d.datacl) a ORDER BY 1), ' ') "
                     f"FROM pg_database d {where}"),
        sandbox.psql("SELECT coalesce(r.rolname, '*') || ': ' || array_to_string(s.setconfig, ', ') "
                     "FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
                     f"LEFT JOIN pg_roles r ON r.oid = s.setrole {where} ORDER BY 1"),
    )


@pytest.mark.parametrize("mode", ["new", "replace"])
def test_restore_brings_back_the_databases_own_properties(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str, mode: str
) -> None:
    for role in ("bt_app", "bt_reporting"):
        pg_sandbox.psql(f"DO $$ BEGIN CREATE ROLE {role}; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    for stmt in (
        f"COMMENT ON DATABASE \"{pagila_db}\" IS 'rentals; owned by the film team'",
        f"ALTER DATABASE \"{pagila_db}\" SET search_path TO public, pg_catalog",
        f"ALTER DATABASE \"{pagila_db}\" SET statement_timeout = '5s'",
        f"ALTER ROLE bt_app IN DATABASE \"{pagila_db}\" SET work_mem = '64MB'",
        f"REVOKE ALL ON DATABASE \"{pagila_db}\" FROM PUBLIC",
        f"GRANT CONNECT ON DATABASE \"{pagila_db}\" TO bt_app",
        f"GRANT CONNECT, TEMPORARY ON DATABASE \"{pagila_db}\" TO bt_reporting",
    ):
        pg_sandbox.psql(stmt)
    before = properties(pg_sandbox, pagila_db)
    assert all(before), before
    record = run_backup(Context(settings), settings.databases[0])
    pg_sandbox.psql(f"ALTER DATABASE \"{pagila_db}\" RESET ALL")  # changed since: the backup's win

    if mode == "new":
        copy = f"{pagila_db}_xprops"
        restore(settings, record.id, target_db=copy)
        assert properties(pg_sandbox, copy) == before
    else:
        result = restore(settings, record.id, replace_original=True, confirmed=True, safety_backup=False)
        assert properties(pg_sandbox, pagila_db) == before
        assert result.plan.aside_db is not None
        assert properties(pg_sandbox, result.plan.aside_db)[2] == "bt_app: work_mem=64MB"  # the old one's, as is


def test_a_databases_timeouts_never_end_our_backup_or_the_restores_counts(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str
) -> None:
    """A statement_timeout shorter than a count(*), and an idle_in_transaction_session_timeout shorter than
    the dump, set on the database (and so restored onto its copy): our sessions set them off, as pg_dump does."""
    pg_sandbox.psql("CREATE TABLE big AS SELECT n, md5(n::text) AS h FROM generate_series(1, 400000) AS n",
                    dbname=pagila_db)
    pg_sandbox.psql(f"ALTER DATABASE \"{pagila_db}\" SET statement_timeout = '1ms'")
    pg_sandbox.psql(f"ALTER DATABASE \"{pagila_db}\" SET idle_in_transaction_session_timeout = '10ms'")
    record = run_backup(Context(settings), settings.databases[0])
    assert record.row_counts["public.big"] == 400000
    copy = f"{pagila_db}_timeouts"
    result = restore(settings, record.id, target_db=copy)
    assert result.row_counts["public.big"] == [400000, 400000]
    assert "statement_timeout=1ms" in properties(pg_sandbox, copy)[2], "the setting itself came back"


def test_a_child_tools_session_starts_with_the_timeouts_off_after_the_operators_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pg_dump sets them off only after its first queries, which a database's 1 ms statement_timeout cancelled
    on a loaded machine: the child's session starts with them off, an operator's own PGOPTIONS kept before."""
    db = DatabaseConfig(name="app")
    monkeypatch.delenv("PGOPTIONS", raising=False)
    assert pg.child_env(db)["PGOPTIONS"] == pg.SESSION_OPTIONS
    monkeypatch.setenv("PGOPTIONS", "-c search_path=app")
    assert pg.child_env(db)["PGOPTIONS"] == f"-c search_path=app {pg.SESSION_OPTIONS}"
