"""A disaster-recovery server often lacks the original roles; a catalog may hold backups of databases
no longer configured. Neither may turn a good backup into a FAILED one, or a restore into a half-done one."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.headless.conftest import Workspace, WorkspaceFactory, one_error_line

ROLE = "bt_gone_owner"


@pytest.fixture(scope="module")
def orphaned(make_workspace: WorkspaceFactory) -> tuple[Workspace, str]:
    """A backup whose tables belong to a role the server no longer has."""
    ws = make_workspace("roles")
    ws.sandbox.psql(f"DO $$ BEGIN CREATE ROLE {ROLE}; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    ws.psql(f"CREATE TABLE owned (id int); INSERT INTO owned VALUES (1), (2); ALTER TABLE owned OWNER TO {ROLE}")
    backup_id = str(ws.backup()["id"])
    ws.psql("DROP TABLE owned")
    ws.sandbox.psql(f"DROP ROLE {ROLE}")
    return ws, backup_id


def test_restore_names_the_missing_role_before_changing_anything(orphaned: tuple[Workspace, str]) -> None:
    ws, backup_id = orphaned
    target = f"{ws.database}_xroles"
    dry = ws.run("restore", backup_id, "--target-db", target, "--dry-run")
    assert dry.returncode == 2  # what the real run would exit with
    assert ("would refuse: this server lacks what the backup needs: role(s) owning objects or holding "
            f"privileges: {ROLE};") in dry.stdout
    result = ws.run("restore", backup_id, "--target-db", target)
    assert result.returncode == 2
    assert "--no-owner" in one_error_line(result) and ROLE in result.stderr
    assert target not in ws.databases()


def test_no_owner_restores_onto_a_server_without_the_roles(orphaned: tuple[Workspace, str]) -> None:
    ws, backup_id = orphaned
    target = f"{ws.database}_xnoowner"
    assert "--no-owner: objects belong to the user we connect as" in ws.ok(
        "restore", backup_id, "--target-db", target, "--no-owner", "--dry-run").stdout
    ws.ok("restore", backup_id, "--target-db", target, "--no-owner")
    assert ws.psql("SELECT count(*), pg_get_userbyid(relowner) FROM owned, pg_class WHERE relname = 'owned' "
                   "GROUP BY relowner", target) == f"2|{ws.sandbox.user}"


def test_a_full_verify_puts_the_backup_on_trial_not_the_servers_roles(orphaned: tuple[Workspace, str]) -> None:
    ws, backup_id = orphaned
    result = ws.json("verify", backup_id)
    assert result[0]["ok"] is True and result[0]["level"] == "full"


def test_verify_all_covers_backups_of_databases_no_longer_configured(orphaned: tuple[Workspace, str]) -> None:
    """With two other databases configured there is no server for this one: quick checks, and a note."""
    ws, backup_id = orphaned
    server = f'host = "{ws.sandbox.host}"\nport = {ws.sandbox.port}\nuser = "{ws.sandbox.user}"\n'
    config = ws.write("two-others.toml", f'[[databases]]\nname = "app_a"\n{server}\n[[databases]]\nname = "app_b"\n'
                                         f"{server}")
    unset: dict[str, str | None] = {v: None for v in ("BACKUP_DB_NAME", "BACKUP_DB_HOST", "BACKUP_DB_PORT",
                                                       "BACKUP_DB_USER", "BACKUP_DB_PASSWORD")}
    result = ws.run("--config", str(config), "verify", "--all", "--json", env=unset)
    assert result.returncode == 0, result.stderr
    verdict = next(v for v in ws.json("show", backup_id)["verifications"][::-1])
    assert verdict["ok"] is True and verdict["level"] == "quick"
    assert any("is not configured" in note for note in verdict["not_done"])
    code, out, _ = ws.run_on_terminal("--config", str(config), "verify", backup_id, env=unset)
    assert code == 0
    line = next(x for x in out.splitlines() if backup_id in x and x.startswith("ok"))
    assert line.startswith(f"ok      {backup_id} (quick, ") and f"; no test restore: database {ws.database!r}" in line
    code, out, _ = ws.run_on_terminal("--config", str(config), "verify", "--all", env=unset)
    summary = r"^\d+ verified: \d+ ok \(\d+ without the test restore asked for\), 0 failed$"
    assert re.search(summary, out.splitlines()[-1])


GRANTEE, POLICY_ROLE, ODD_OWNER = "bt_gone_grantee", "bt_gone_policy", "Bt Odd Owner"
# Grantees pg_restore meets only with the large objects' or the database's own entries.
ELSEWHERE = ("bt_gone_db_grantee", "bt_gone_db_setting", "bt_gone_lo_grantee")
GRANTEES = tuple(sorted((GRANTEE, *ELSEWHERE)))


def test_grantees_and_policy_roles_are_checked_before_any_data_is_loaded(make_workspace: WorkspaceFactory) -> None:
    """pg_restore meets a GRANT or a policy only after all the data: the plan must refuse first.
    A large object (its TOC entry has no owner) and an owner with a space are no missing roles."""
    ws = make_workspace("grantees")
    ws.sandbox.psql(f'CREATE ROLE {GRANTEE}; CREATE ROLE {POLICY_ROLE}; CREATE ROLE "{ODD_OWNER}"; '
                    + " ".join(f"CREATE ROLE {role};" for role in ELSEWHERE))
    db_grantee, db_setting, lo_grantee = ELSEWHERE
    ws.psql(f"""CREATE TABLE shared (id int); INSERT INTO shared VALUES (1), (2);
        ALTER TABLE shared OWNER TO "{ODD_OWNER}"; GRANT SELECT ON shared TO {GRANTEE};
        ALTER TABLE shared ENABLE ROW LEVEL SECURITY; CREATE POLICY mine ON shared TO {POLICY_ROLE} USING (id > 0);
        SELECT lo_from_bytea(4242, 'large object'::bytea); GRANT SELECT ON LARGE OBJECT 4242 TO {lo_grantee};
        GRANT CONNECT ON DATABASE "{ws.database}" TO {db_grantee};
        ALTER ROLE {db_setting} IN DATABASE "{ws.database}" SET work_mem = '5MB';""")
    backup_id = str(ws.backup()["id"])
    ws.psql(f"DROP OWNED BY {GRANTEE}, {POLICY_ROLE}, {', '.join(ELSEWHERE)}")
    ws.sandbox.psql(f"DROP ROLE {GRANTEE}, {POLICY_ROLE}, {', '.join(ELSEWHERE)}")

    dry = ws.run("restore", backup_id, "--target-db", f"{ws.database}_g1", "--dry-run", "--json")
    assert dry.returncode == 2
    plan = json.loads(dry.stdout)
    assert (plan["missing_roles"], plan["missing_policy_roles"]) == (list(GRANTEES), [POLICY_ROLE])
    assert (f"policies: {POLICY_ROLE}; role(s) owning objects or holding privileges: {', '.join(GRANTEES)}; "
            in plan["refusal"])
    for flags in ((), ("--no-owner",)):  # a policy needs its role whatever the options
        refused = ws.run("restore", backup_id, "--target-db", f"{ws.database}_g1", *flags)
        assert refused.returncode == 2 and POLICY_ROLE in one_error_line(refused)
    assert f"{ws.database}_g1" not in ws.databases()

    ws.sandbox.psql(f"CREATE ROLE {POLICY_ROLE}")
    refused = ws.run("restore", backup_id, "--target-db", f"{ws.database}_g1")
    assert refused.returncode == 2 and f"holding privileges: {', '.join(GRANTEES)};" in one_error_line(refused)
    ws.ok("restore", backup_id, "--target-db", f"{ws.database}_g1", "--no-owner")

    ws.sandbox.psql(" ".join(f"CREATE ROLE {role};" for role in GRANTEES))
    ws.ok("restore", backup_id, "--target-db", f"{ws.database}_g2")
    assert ws.psql(f"SELECT has_table_privilege('{GRANTEE}', 'shared', 'SELECT'), pg_get_userbyid(relowner), "
                   "(SELECT count(*) FROM pg_largeobject_metadata) FROM pg_class WHERE relname = 'shared'",
                   f"{ws.database}_g2") == f"t|{ODD_OWNER}|1"


def make_role(ws: Workspace, name: str, options: str = "") -> dict[str, str | None]:
    """A login role (the environment that connects as it) that may read every table but is no superuser."""
    ws.sandbox.psql(f"DO $$ BEGIN CREATE ROLE {name} LOGIN PASSWORD 'Pw-7731-q' {options}; EXCEPTION WHEN "
                    "duplicate_object THEN NULL; END $$")
    ws.sandbox.psql(f"GRANT pg_read_all_data TO {name}")
    return {"BACKUP_DB_USER": name, "BACKUP_DB_PASSWORD": "Pw-7731-q"}


def test_a_user_without_createdb_is_refused_by_the_plan_before_anything_and_verify_says_so(
        orphaned: tuple[Workspace, str]) -> None:
    """Connected as a role that may read but not create databases, a restore's plan refuses (exit 2, as its
    dry run says) before a replace's safety backup or anything else; a verify says what the role lacks in one
    line (it read "unexpected InsufficientPrivilege"). Nothing is left on the server or in the repository."""
    ws, backup_id = orphaned
    reader = make_role(ws, "bt_reader")
    before, listed = ws.databases(), [i["id"] for i in ws.listing()]
    dry = ws.run("restore", backup_id, "--target-db", f"{ws.database}_xcreatedb", "--no-owner", "--dry-run",
                 env=reader)
    assert dry.returncode == 2 and "would refuse: the user we connect as (bt_reader) cannot create databases: " \
        "grant it CREATEDB (ALTER ROLE \"bt_reader\" CREATEDB), or restore as a user that has it" in dry.stdout
    for args in (("restore", backup_id, "--target-db", f"{ws.database}_xcreatedb", "--no-owner"),
                 ("restore", backup_id, "--replace", "--no-owner", "--yes")):
        result = ws.run(*args, env=reader)
        assert result.returncode == 2, result.stderr
        assert "cannot create databases" in one_error_line(result)
    verify = ws.run("verify", backup_id, env=reader)
    assert verify.returncode == 1, verify.stderr
    line = one_error_line(verify)
    assert "needs CREATEDB" in line and "bt_reader" in line and "unexpected" not in line
    assert ws.databases() == before and [i["id"] for i in ws.listing()] == listed  # no safety backup either


def test_a_replace_by_a_user_that_does_not_own_the_database_is_refused_by_the_plan(
        orphaned: tuple[Workspace, str]) -> None:
    """Blocking connections to a database and renaming it need its owner or a superuser: found at the swap, the
    refusal came after the safety backup and the whole restore, and left a swap journal the same user could not
    settle (its undo re-allowed connections, which needs the owner too), so every later backup failed."""
    ws, backup_id = orphaned
    maker = make_role(ws, "bt_maker", "CREATEDB")
    before, listed = ws.databases(), [i["id"] for i in ws.listing()]
    dry = ws.run("restore", backup_id, "--replace", "--no-owner", "--yes", "--dry-run", env=maker)
    assert dry.returncode == 2 and f"would refuse: the user we connect as (bt_maker) does not own {ws.database!r}" \
        in dry.stdout
    result = ws.run("restore", backup_id, "--replace", "--no-owner", "--yes", env=maker)
    assert result.returncode == 2, result.stderr
    assert f"(bt_maker) does not own {ws.database!r}" in one_error_line(result)
    assert ws.databases() == before and [i["id"] for i in ws.listing()] == listed  # no safety backup either
    assert not list((ws.repo / "swaps").glob("*.json"))


# The plan's ownership check left out: the swap itself meets the refusal at its first step
SWAP_UNCHECKED = """
import sys
from backup_tui.engine.postgres import pg
pg.replace_lacks = lambda conn, name: ""
from headless.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_swap_refused_at_its_first_step_leaves_nothing_to_repair(orphaned: tuple[Workspace, str]) -> None:
    """Nothing changed, nothing is left: no journal, no work database, and the next backup as the same user runs
    (the undo re-allowed connections that were never blocked, which the owner alone may do)."""
    ws, backup_id = orphaned
    maker = make_role(ws, "bt_maker", "CREATEDB")
    before = ws.databases()
    result = subprocess.run([sys.executable, "-c", SWAP_UNCHECKED, "restore", backup_id, "--replace", "--no-owner",
                             "--yes", "--no-safety-backup"], env=ws.env_with(maker), capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=300, check=False)
    assert result.returncode == 1, result.stderr
    assert one_error_line(result).startswith(f"error: the swap failed: must be owner of database {ws.database}; the "
                                             f"swap did not complete: {ws.database!r} is untouched; dropped ")
    assert ws.databases() == before and not list((ws.repo / "swaps").glob("*.json"))


def test_a_user_that_cannot_give_the_original_owner_is_told_the_ways_around_and_no_owner_restores(
        orphaned: tuple[Workspace, str]) -> None:
    """A role with CREATEDB that is no member of the original database's owner: CREATE DATABASE ... OWNER
    would fail after the plan; the plan says so and names --no-owner, with which the new database is the role's.
    A full verify never asks for the owner: the backup is on trial, not the roles."""
    ws, backup_id = orphaned
    maker = make_role(ws, "bt_maker", "CREATEDB")
    target = f"{ws.database}_xmaker"
    refused = ws.run("restore", backup_id, "--target-db", target, env=maker)
    assert refused.returncode == 2, refused.stderr
    assert one_error_line(refused).endswith(
        f"the user we connect as (bt_maker) cannot give the new database the original's owner, role "
        f"'{ws.sandbox.user}', as it is no member of it: GRANT \"{ws.sandbox.user}\" TO \"bt_maker\", or restore with "
        "--no-owner (the database and its objects then belong to the user we connect as)")
    ws.ok("restore", backup_id, "--target-db", target, "--no-owner", env=maker)
    assert ws.psql(f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{target}'") == "bt_maker"
    assert ws.json("verify", backup_id, env=maker)[0]["ok"] is True
