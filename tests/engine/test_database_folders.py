"""A database name maps to one folder and one lock of its own: "col x" and "col_x" never share
either, and no name, however hostile, reaches outside the repository's folders."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backup_tui.engine.config import DatabaseConfig, Settings
from backup_tui.engine.core import names
from backup_tui.engine.core.errors import ConfigError
from backup_tui.engine.core.names import MAX_IDENT, check_database_name, folder_key
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.storage.local import LocalRepository, database_of_key
from backup_tui.engine.storage.locks import database_lock, lock_path
from tests.conftest import fresh_database

TRICKY = ["col x", "col_x", "col%20x", "col%x", "..", ".", "a/b", "a\\b", "a_b", "a-b", "a.b", "café", "caf_",
          "x" * 63, "%", "_", "-", "dbname=postgres", "host=/tmp dbname=x", "postgresql://h/db", "' OR 1=1 --",
          "\n", "tab\tname", "A", "a", "名前"]


def test_different_names_never_share_a_folder() -> None:
    keys = {name: folder_key(name) for name in TRICKY}
    for a, b in itertools.combinations(TRICKY, 2):
        assert keys[a] != keys[b], (a, b)


@pytest.mark.parametrize("name", TRICKY)
def test_a_key_is_one_plain_path_component_that_reads_back(name: str) -> None:
    key = folder_key(name)
    assert "/" not in key and "\\" not in key and key not in (".", "..") and not key.startswith(".")
    assert len(key.encode()) <= 255
    assert database_of_key(key) == name


LONG = ["tenant_analytics_warehouse_prod_eu_alpha", "tenant_analytics_warehouse_prod_eu_bravo", "x" * 63,
        "x" * 62 + "y", "é" * 31, "é" * 30 + "e", "a" * 35, "a" * 36]


@pytest.mark.parametrize("tag", [names.WORK, names.ASIDE, names.ROLLED_BACK])
def test_names_sharing_their_head_never_share_a_kept_copy(tag: str) -> None:
    """A rollback of one database must never take another's copy: shortened to fit 63 bytes, two names that
    begin alike still make different side names, each one's own and nobody else's."""
    moment = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
    made = {db: names.side_name(db, tag, moment) for db in LONG + TRICKY}
    assert len(set(made.values())) == len(made)
    for db, side in made.items():
        assert len(side.encode()) <= MAX_IDENT
        assert names.side_of(db, side) == (tag, moment)
        assert names.parse_side(side) is not None
        assert [other for other in made if names.side_of(other, side)] == [db]
    assert made["café"] == f"café__{tag}_20261206030000"  # a name that fits is kept as it is


def test_names_that_cannot_be_names_are_refused_in_one_line() -> None:
    for bad in ("", "nul\x00byte", "x" * (MAX_IDENT + 1), "é" * 32):
        with pytest.raises(ConfigError) as caught:
            check_database_name(bad)
        assert "\n" not in caught.value.message
    assert check_database_name("dbname=postgres") == "dbname=postgres"


def test_a_backup_of_one_name_never_touches_a_similar_names_run(pg_sandbox: Sandbox, tmp_path: Path) -> None:
    """'<db> x' is backing up (its lock held, its folder incomplete) while '<db>_x' backs up: the
    second neither waits for the first's lock nor cleans up its folder in progress."""
    base = fresh_database(pg_sandbox, "names")
    spaced, underscored = f"{base} x", f"{base}_x"
    for name in (spaced, underscored):
        pg_sandbox.psql(f'CREATE DATABASE "{name}" TEMPLATE "{base}"')
    try:
        settings = Settings(repository=tmp_path / "repo", databases=tuple(
            DatabaseConfig(name=n, host=pg_sandbox.host, port=pg_sandbox.port, user=pg_sandbox.user,
                           password=pg_sandbox.password) for n in (spaced, underscored)))
        repo = LocalRepository(settings.repository)
        with database_lock(settings.repository, spaced, "backup"):
            _, in_progress = repo.new_backup_dir(spaced, datetime.now(UTC))
            (in_progress / "partial.dump.zst").write_bytes(b"half a dump")
            made = run_backup(Context(settings), settings.databases[1])
            assert in_progress.is_dir() and (in_progress / "partial.dump.zst").exists()
        assert made.database == underscored and Path(made.path).parent.parent != in_progress.parent
        assert lock_path(settings.repository, spaced) != lock_path(settings.repository, underscored)
    finally:
        for name in (spaced, underscored, base):
            pg_sandbox.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_kept_copy_named_by_an_older_version_stays_its_databases_where_that_is_unambiguous() -> None:
    """Copies set aside before the hash mark (the name cut, nothing else) stay listed, dropped and rolled back
    to after an upgrade, but only where no other configured database would have made the same name."""
    moment = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
    alpha, bravo, solo = LONG[0], LONG[1], "tenant_reporting_warehouse_prod_eu_alpha"
    old = names.legacy_side_name(alpha, names.ASIDE, moment)
    assert old != names.side_name(alpha, names.ASIDE, moment) and names.is_kept_name(old)
    assert names.side_of(alpha, old) is None  # no configuration said: the new names only
    assert names.side_of(alpha, old, (alpha, solo)) == (names.ASIDE, moment)
    assert names.side_of(alpha, old, (alpha, bravo)) is None  # bravo's cut name is the same: nobody's
    assert names.side_of(bravo, old, (alpha, bravo)) is None
    assert names.side_of(solo, old, (alpha, solo)) is None
    short = names.legacy_side_name("pagila", names.ASIDE, moment)  # a name that fits was never cut: one form
    assert short == names.side_name("pagila", names.ASIDE, moment)
