"""A restored database is created like the original (locale provider, tablespace), and a restore
onto a server that lacks an extension or a tablespace the backup needs is refused before anything
is created, instead of pg_restore stopping midway. A verification there is not recorded as a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import BackupToolError, ConfigError
from backup_tui.engine.core.models import BackupRecord, manifest_checksum
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.restore import plan_restore, run_restore
from backup_tui.engine.ops.scratch import UnlikeServer
from backup_tui.engine.ops.verify import verify_backup
from backup_tui.engine.storage.catalog import Catalog
from tests.conftest import db_config, restore


@pytest.fixture
def own_db(pg_sandbox: Sandbox, tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    """An empty database of this test's own, and settings for it; dropped with its restores."""
    name = f"needs_{os.getpid()}_{tmp_path.name[-12:]}".lower().replace("-", "_")
    yield name, Settings(repository=tmp_path / "repo", databases=(db_config(pg_sandbox, name),))
    for db in pg_sandbox.psql(f"SELECT datname FROM pg_database WHERE datname LIKE '{name}%'").splitlines():
        pg_sandbox.psql(f'DROP DATABASE "{db}" WITH (FORCE)')


def server_dir(sandbox: Sandbox, name: str) -> Path:
    """A folder the server's OS user owns, for a tablespace."""
    path = sandbox.data_dir.parent / name
    path.mkdir()
    sandbox.chown_to_server(path)
    return path


def backup_of(settings: Settings) -> BackupRecord:
    record = run_backup(Context(settings), settings.databases[0])
    return Catalog.from_settings(settings).get(record.id)


def test_an_icu_database_is_restored_as_icu(pg_sandbox: Sandbox, own_db: tuple[str, Settings]) -> None:
    if pg_sandbox.psql("SELECT count(*) FROM pg_collation WHERE collprovider = 'i'") == "0":
        pytest.skip("this PostgreSQL was built without ICU")
    name, settings = own_db
    pg_sandbox.psql(f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'de-DE' "
                    "LOCALE 'C.UTF-8'")
    order = "SELECT string_agg(x, ',' ORDER BY x) FROM (VALUES ('b'), ('A'), ('a'), ('Ä'), ('Z')) v(x)"
    assert pg_sandbox.psql(order, name) == "a,A,Ä,b,Z"  # libc's C.UTF-8 would give A,Z,a,b,Ä
    record = backup_of(settings)
    assert record.database_info["locale_provider"] == "icu" and record.database_info["locale"] == "de-DE"
    plan = plan_restore(Context(settings), record, target_db=f"{name}_copy")
    assert "locale icu 'de-DE'" in next(s.description for s in plan.steps if s.action == "create")
    run_restore(Context(settings), plan)
    assert pg_sandbox.psql(order, f"{name}_copy") == "a,A,Ä,b,Z"
    assert pg_sandbox.psql(f"SELECT datlocprovider, daticulocale FROM pg_database WHERE datname = '{name}_copy'") \
        == "i|de-DE"


def test_tablespaces_the_database_and_its_tables_use(pg_sandbox: Sandbox, own_db: tuple[str, Settings]) -> None:
    name, settings = own_db
    home, extra = f"{name}_home", f"{name}_extra"
    pg_sandbox.psql(f"CREATE TABLESPACE {home} LOCATION '{server_dir(pg_sandbox, home)}'")
    pg_sandbox.psql(f"CREATE TABLESPACE {extra} LOCATION '{server_dir(pg_sandbox, extra)}'")
    pg_sandbox.psql(f"CREATE DATABASE {name} TABLESPACE {home}")
    pg_sandbox.psql(f"CREATE TABLE kept (x int); INSERT INTO kept VALUES (1); CREATE TABLE apart (y int) "
                    f"TABLESPACE {extra}", name)
    with_extra = backup_of(settings)
    kept = plan_restore(Context(settings), with_extra, target_db=f"{name}_t")  # everything it needs is here
    assert (kept.refusal, kept.missing_roles) == (None, ())
    run_restore(Context(settings), kept)
    assert pg_sandbox.psql("SELECT tablespace FROM pg_tables WHERE tablename = 'apart'", f"{name}_t") == extra
    pg_sandbox.psql(f"DROP DATABASE {name}_t")
    pg_sandbox.psql("DROP TABLE apart", name)
    pg_sandbox.psql(f"DROP TABLESPACE {extra}")
    plain = backup_of(settings)

    refused = plan_restore(Context(settings), with_extra, target_db=f"{name}_a")
    assert (refused.missing_tablespaces, refused.missing_roles) == ((extra,), ())
    assert refused.refusal and f"tablespace(s): {extra}" in refused.refusal
    with pytest.raises(ConfigError, match=f"tablespace\\(s\\): {extra}"):
        restore(settings, with_extra.id, target_db=f"{name}_a")
    assert pg_sandbox.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{name}_a'") == "0"
    assert refused.refusal.endswith("create or install them first (--no-tablespaces would put their tables in the "
                                    "database's default tablespace)")
    moved = plan_restore(Context(settings), with_extra, target_db=f"{name}_a", no_tablespaces=True)
    assert moved.refusal is None and moved.no_tablespaces
    run_restore(Context(settings), moved)
    assert pg_sandbox.psql("SELECT coalesce(tablespace, '-') FROM pg_tables WHERE tablename = 'apart'",
                           f"{name}_a") == "-"  # in the database's default, which is the original's home
    pg_sandbox.psql(f"DROP DATABASE {name}_a")
    tried = verify_backup(Context(settings), with_extra)  # the backup is on trial, not the server: it is restored
    assert (tried.level, tried.ok) == ("full", True), tried.problems

    restore(settings, plain.id, target_db=f"{name}_b")
    where = "SELECT spcname FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace WHERE datname = "
    assert pg_sandbox.psql(f"{where} '{name}_b'") == home  # created where the original lives

    for db in (name, f"{name}_b"):
        pg_sandbox.psql(f"DROP DATABASE {db} WITH (FORCE)")
    pg_sandbox.psql(f"DROP TABLESPACE {home}")
    plan = plan_restore(Context(settings), plain, target_db=name)
    assert f"in pg_default: the original's tablespace '{home}' does not exist" in plan.steps[0].description
    assert plan.refusal is None
    run_restore(Context(settings), plan)
    assert pg_sandbox.psql(f"{where} '{name}'") == "pg_default"
    assert pg_sandbox.psql("SELECT x FROM kept", name) == "1"


@pytest.fixture
def fake_extension(pg_sandbox: Sandbox) -> Iterator[tuple[str, list[Path]]]:
    """An extension of our own in the server's extension folder (root only: it is a system folder)."""
    share = Path(subprocess.run([str(pg_sandbox.bin_dir / "pg_config"), "--sharedir"], capture_output=True,
                                text=True, check=True).stdout.strip()) / "extension"
    if not os.access(share, os.W_OK):
        pytest.skip(f"cannot write to {share}")
    name = f"bt_fake_{os.getpid()}"
    files = [share / f"{name}.control", share / f"{name}--1.0.sql"]
    files[0].write_text("default_version = '1.0'\nrelocatable = true\n")
    files[1].write_text(f"CREATE FUNCTION {name}_one() RETURNS int LANGUAGE sql AS 'SELECT 1';\n")
    try:
        yield name, files
    finally:
        for file in files:
            file.unlink(missing_ok=True)


def test_an_extension_the_server_cannot_install_is_named_first(
    pg_sandbox: Sandbox, own_db: tuple[str, Settings], fake_extension: tuple[str, list[Path]]
) -> None:
    name, settings = own_db
    extension, files = fake_extension
    pg_sandbox.psql(f"CREATE DATABASE {name}")
    pg_sandbox.psql(f"CREATE EXTENSION {extension}; CREATE TABLE t (x int)", name)
    record = backup_of(settings)
    assert plan_restore(Context(settings), record, target_db=f"{name}_ok").refusal is None
    for file in files:
        file.unlink()
    plan = plan_restore(Context(settings), record, target_db=f"{name}_x", no_owner=True)
    assert plan.missing_extensions == (extension,)
    assert plan.refusal == f"this server lacks what the backup needs: extension(s): {extension}; create or install " \
                           "them first"
    with pytest.raises(ConfigError, match=extension):
        restore(settings, record.id, target_db=f"{name}_x", no_owner=True)
    assert pg_sandbox.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{name}_x'") == "0"
    assert_verified_without_test_restore(settings, record, f"extension(s): {extension}")


def assert_verified_without_test_restore(settings: Settings, record: BackupRecord, lacking: str) -> None:
    """A good backup verified on a server that lacks part of its schema is not recorded as failed."""
    result = verify_backup(Context(settings), record)
    assert (result.level, result.ok, result.problems) == ("quick", True, ())
    assert result.not_done == (f"no test restore: this server lacks what the backup needs ({lacking}); verify it "
                               "fully on a server that has them",)
    assert Catalog.from_settings(settings).get(record.id).verifications[-1] == result


def test_a_policy_for_a_role_this_server_lacks(pg_sandbox: Sandbox, own_db: tuple[str, Settings]) -> None:
    name, settings = own_db
    role = f"{name}_reader"
    pg_sandbox.psql(f"CREATE DATABASE {name}")
    pg_sandbox.psql(f"CREATE ROLE {role}")
    pg_sandbox.psql(f"CREATE TABLE notes (x int); ALTER TABLE notes ENABLE ROW LEVEL SECURITY; "
                    f"CREATE POLICY mine ON notes TO {role} USING (x > 0)", name)
    record = backup_of(settings)
    pg_sandbox.psql("DROP POLICY mine ON notes", name)
    pg_sandbox.psql(f"DROP ROLE {role}")
    plan = plan_restore(Context(settings), record, target_db=f"{name}_x", no_owner=True)
    assert plan.missing_policy_roles == (role,)
    assert_verified_without_test_restore(settings, record, f"role(s) in row-level security policies: {role}")


@pytest.mark.parametrize(("info", "said"), [
    ({"collate": "xx_XX.UTF-8", "ctype": "xx_XX.UTF-8"}, 'invalid locale name: "xx_XX.UTF-8"'),
    ({"encoding": "LATIN1"}, 'encoding "LATIN1" does not match locale'),
])
def test_a_verify_where_the_server_cannot_make_the_backups_locale_is_no_failure(
    pg_sandbox: Sandbox, own_db: tuple[str, Settings], info: dict[str, str], said: str
) -> None:
    """A backup taken on a server with a locale (or an encoding for it) this one lacks: no test restore can run
    here, and the backup is not to blame. It gets the quick checks and a note, not an "unexpected" error (exit 1)
    that left the backup unverified, nor a failure that cost it its retention slot."""
    name, settings = own_db
    pg_sandbox.psql(f"CREATE DATABASE {name}")
    pg_sandbox.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (1)", name)
    record = backup_of(settings)
    manifest = Path(record.path).parent / "manifest.json"
    data = json.loads(manifest.read_text())
    data["database_info"].update(info)
    data["manifest_sha256"] = manifest_checksum(data)
    manifest.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    record = Catalog.from_settings(settings).get(record.id)
    result = verify_backup(Context(settings), record)
    assert (result.level, result.ok, result.problems) == ("quick", True, ())
    assert len(result.not_done) == 1 and said in result.not_done[0]
    assert result.not_done[0].startswith("no test restore: this server cannot create a database with the backup's "
                                         "encoding and locale")
    assert Catalog.from_settings(settings).get(record.id).verifications[-1] == result
    assert pg_sandbox.psql(f"SELECT count(*) FROM pg_database WHERE datname LIKE '{name}__verify_%'") == "0"
    with pytest.raises(UnlikeServer, match="install that locale on the server's machine") as refused:
        restore(settings, record.id, target_db=f"{name}_copy")  # was "unexpected WrongObjectType", exit 1
    assert said in refused.value.message and "\n" not in refused.value.message
    assert pg_sandbox.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{name}_copy'") == "0"


def test_the_space_check_reads_the_tablespace_the_restored_database_goes_to(
        pg_sandbox: Sandbox, own_db: tuple[str, Settings]) -> None:
    """The original lives on a small volume of its own: the restore is refused before anything is made, where the
    data directory's free space let it start and pg_restore stopped on a full disk."""
    name, settings = own_db
    small = server_dir(pg_sandbox, f"{name}_small")
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(small)],
                                           capture_output=True, check=False).returncode:
        pytest.skip("a small volume of its own needs mounting a tmpfs (root, allowed to mount)")
    try:
        pg_sandbox.chown_to_server(small)
        pg_sandbox.psql(f"CREATE TABLESPACE {name}_small LOCATION '{small}'")
        pg_sandbox.psql(f"CREATE DATABASE {name} TABLESPACE {name}_small")
        pg_sandbox.psql("CREATE TABLE t AS SELECT g, md5(g::text) AS pad FROM generate_series(1, 40000) g", name)
        record = backup_of(settings)
        plan = plan_restore(Context(settings), record, target_db=f"{name}_copy")
        assert 0 <= plan.space_free_bytes < min(6 * 1024 * 1024, plan.space_needed_bytes)  # the volume's, not 60 GB
        with pytest.raises(BackupToolError, match="not enough space on the server"):
            run_restore(Context(settings), plan)
        assert pg_sandbox.psql(f"SELECT count(*) FROM pg_database WHERE datname = '{name}_copy'") == "0"
    finally:
        pg_sandbox.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        pg_sandbox.psql(f"DROP TABLESPACE IF EXISTS {name}_small")
        subprocess.run(["umount", str(small)], check=False)
