"""The repository may be written by others: records planted in scratch/ and swaps/ are claims to check,
never orders. Written as an attacker would: records of a dead local process (the only ones cleanup acts
on) naming the maintenance database, another real database, files outside the repository, links out of
tmp/. Nothing outside the repository may change and no database but the engine's own may be dropped."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core import names
from backup_tui.engine.core.progress import LogLine, ProgressEvent, Reporter
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops import scratch, swap
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.health import check_health
from backup_tui.engine.postgres import pg
from backup_tui.engine.storage.files import atomic_write
from backup_tui.engine.storage.locks import is_locked
from backup_tui.engine.storage.paths import OutsideRepository
from tests.conftest import dead_pid, restore


def plant(settings: Settings, kind: str, name: str, **extra: object) -> Path:
    """A record as a dead run of this machine would have left it, against this server."""
    folder = settings.repository / scratch.SCRATCH_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.json"
    path.write_text(json.dumps({"kind": kind, "name": name, "purpose": "restore",
                                "server": pg.server_key(settings.databases[0]), "host": socket.gethostname(),
                                "pid": dead_pid(), "created_at": "2025-01-01T00:00:00+00:00", **extra}))
    return path


def databases(sandbox: Sandbox) -> set[str]:
    return set(sandbox.psql("SELECT datname FROM pg_database").splitlines())


def collect(said: list[ProgressEvent]) -> Reporter:
    def reporter(event: ProgressEvent) -> None:
        said.append(event)

    return reporter


def warnings(events: list[ProgressEvent]) -> list[str]:
    return [e.message for e in events if isinstance(e, LogLine) and e.level == "warning"]


def test_planted_scratch_records_drop_nothing_and_delete_nothing_outside(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    precious = outside / "precious.txt"
    precious.write_text("keep me")
    tmp = settings.repository / scratch.TMP_DIR
    tmp.mkdir(parents=True)
    (tmp / "link.dump").symlink_to(precious)
    (tmp / "dir.dump").mkdir()
    server = settings.databases[0]
    with pg.connect(server, "postgres") as conn:  # a database named by an operator, marked by someone else
        pg.create_database(conn, f"{pagila_db}_xmarked")
    planted = [
        plant(settings, "database", "postgres"),
        plant(settings, "database", pagila_db),
        plant(settings, "database", f"{pagila_db}_xmarked", token=uuid.uuid4().hex),  # no marker on it
        plant(settings, "database", f"{pagila_db}__verify_../x"),
        plant(settings, "file", str(precious)),
        plant(settings, "file", str(tmp / ".." / ".." / precious.relative_to("/"))),
        plant(settings, "file", str(tmp / "link.dump")),
        plant(settings, "file", str(tmp / "dir.dump")),
        plant(settings, "file", "relative/precious.txt"),
    ]
    before = databases(pg_sandbox)
    said: list[ProgressEvent] = []

    assert scratch.clean_leftovers(settings, server, collect(said)) == []
    assert scratch.clean_leftovers(settings, server, collect(said)) == []  # a second run in the same process

    assert databases(pg_sandbox) == before
    assert precious.read_text() == "keep me" and (tmp / "link.dump").is_symlink() and (tmp / "dir.dump").is_dir()
    assert all(p.exists() for p in planted)  # left alone for a person to look at
    refused = warnings(said)
    assert len(refused) == len(planted)  # each reported once, not once per cleanup
    assert all(any(str(p) in w for w in refused) for p in planted)
    pg_sandbox.psql(f'DROP DATABASE "{pagila_db}_xmarked"')


def test_a_tmp_folder_linked_elsewhere_is_not_the_repository(settings: Settings, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / "victim.dump"
    victim.write_text("not ours")
    settings.repository.mkdir(parents=True, exist_ok=True)
    (settings.repository / scratch.TMP_DIR).symlink_to(elsewhere)
    plant(settings, "file", str(settings.repository / scratch.TMP_DIR / "victim.dump"))

    assert scratch.clean_leftovers(settings, settings.databases[0], lambda e: None) == []
    assert victim.read_text() == "not ours"


def test_only_the_engines_own_leftovers_are_removed(settings: Settings, pg_sandbox: Sandbox, pagila_db: str) -> None:
    """The other side of the same rule: what a killed run really left still goes."""
    server = settings.databases[0]
    work = scratch.create_database(settings, server, names.verify_name(pagila_db, "0badc0de"), None, "verify")
    chosen = scratch.create_database(settings, server, f"{pagila_db}_xchosen", None, "restore")
    tmp = settings.repository / scratch.TMP_DIR
    tmp.mkdir()
    (tmp / "x.dump").write_bytes(b"decoded")
    for record in (work.record, chosen.record):
        data = json.loads(record.read_text())
        record.write_text(json.dumps({**data, "pid": dead_pid()}))
    plant(settings, "file", str(tmp / "x.dump"))

    removed = scratch.clean_leftovers(settings, server, lambda e: None)

    assert sorted(removed) == sorted([work.name, chosen.name, str(tmp / "x.dump")])
    assert not {work.name, chosen.name} & databases(pg_sandbox)


def test_a_restored_database_named_by_the_operator_loses_the_marker(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str
) -> None:
    """Once it is the real database its record is gone and no marker says 'scratch' any more."""
    server = settings.databases[0]
    chosen = scratch.create_database(settings, server, f"{pagila_db}_xkept", None, "restore")
    scratch.keep(settings, server, chosen)
    comment = pg_sandbox.psql(f"SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                              f"WHERE datname = '{pagila_db}_xkept'")
    assert comment == "" and scratch.recorded(settings) == []
    pg_sandbox.psql(f'DROP DATABASE "{pagila_db}_xkept"')


def plant_journal(settings: Settings, filed_under: str, **body: object) -> Path:
    """A journal in the file the engine would use for ``filed_under``'s swaps."""
    database = filed_under
    path = swap.journal_path(settings, settings.databases[0], database)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "kind": "restore", "database": database, "stamp": "20250101000000",
        "incoming": names.side_name(database, names.WORK, names.stamp_moment("20250101000000")),  # type: ignore[arg-type]
        "aside": None, "server": pg.server_key(settings.databases[0]), "step": "rename_in", "pid": dead_pid(),
        "host": socket.gethostname(), "started_at": "2025-01-01T00:00:00+00:00", **body}))
    return path


def test_planted_swap_journals_rename_nothing(settings: Settings, pg_sandbox: Sandbox, pagila_db: str) -> None:
    """A journal naming databases the engine would not have named for that swap is never acted on."""
    with pg.connect(settings.databases[0], "postgres") as conn:
        pg.create_database(conn, f"{pagila_db}_xvictim")
    before = databases(pg_sandbox)
    server = settings.databases[0]
    cases = [
        (f"{pagila_db}_xgone", {"incoming": f"{pagila_db}_xvictim"}),  # would rename the victim into a missing name
        (f"{pagila_db}_xgone", {"incoming": "postgres"}),
        (pagila_db, {"kind": "rollback", "incoming": f"{pagila_db}_xvictim", "aside": f"{pagila_db}_xaway"}),
        (pagila_db, {"aside": "postgres"}),
        ("postgres", {"database": pagila_db}),  # filed under one database, naming another
    ]
    for database, body in cases:
        path = plant_journal(settings, database, **body)
        said: list[ProgressEvent] = []
        assert swap.heal_swap(settings, server, database, collect(said)) is None
        assert path.exists() and len(warnings(said)) == 1, body
        assert databases(pg_sandbox) == before
        assert pg_sandbox.psql("SELECT bool_and(datallowconn) FROM pg_database WHERE datname <> 'template0'") == "t"
        path.unlink()
    pg_sandbox.psql(f'DROP DATABASE "{pagila_db}_xvictim"')


def test_a_journal_file_is_named_by_a_hash_of_server_and_database(settings: Settings) -> None:
    """A database's name may hold '/' or '..': it never becomes part of a path."""
    for hostile in ("../../etc/passwd", "/etc/passwd", "a\0b", "x" * 63):
        path = swap.journal_path(settings, settings.databases[0], hostile)
        assert path.parent == settings.repository / swap.SWAPS_DIR and hostile not in path.name


def test_records_planted_as_links_are_neither_followed_nor_read_whole(settings: Settings, tmp_path: Path) -> None:
    """A scratch record or a swap journal that is a link (to an endless /dev/zero, to a file of ours) is
    skipped, and a link planted in a record's temp name is replaced, never written through."""
    precious = tmp_path / "precious.txt"
    precious.write_text("not yours\n")
    for folder in (settings.repository / scratch.SCRATCH_DIR, settings.repository / swap.SWAPS_DIR):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "zero.json").symlink_to("/dev/zero")
        (folder / "ours.json").symlink_to(precious)
    assert scratch.recorded(settings) == []
    assert swap.recorded_swaps(settings) == []

    record = settings.repository / "scratch" / "next.json"
    (settings.repository / "scratch" / ".next.json.tmp").symlink_to(precious)
    atomic_write(record, '{"kind": "file"}\n')
    assert precious.read_text() == "not yours\n"
    assert record.read_text() == '{"kind": "file"}\n'
    planted = record.parent / ".next.json.tmp"  # an older version's fixed temp name: swept once stale, as a link
    os.utime(planted, (time.time() - 2 * 3600,) * 2, follow_symlinks=False)
    atomic_write(record, '{"kind": "file", "again": true}\n')
    assert not planted.is_symlink() and precious.read_text() == "not yours\n"


@pytest.mark.parametrize("folder", ["locks", "runs", swap.SWAPS_DIR, scratch.SCRATCH_DIR, scratch.TMP_DIR])
def test_a_state_folder_planted_as_a_link_takes_nothing_out(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str, tmp_path: Path, folder: str
) -> None:
    """A run's own folder linked elsewhere: a replace (decoding to a file, restore jobs 2) would write its lock,
    its run record, its swap journal, its scratch records or the whole decoded dump there, and sweep stale
    temps of the link's target. It stops with a one-line error before it changes the database (a run record
    is let go, and a linked tmp/ costs only the parallel load), nothing outside is written or removed, and
    what the dashboard and the monitor read (health, locks, pending swaps) still reads (nothing of ours)."""
    settings = replace(settings, restore_jobs=2)
    backed_up = run_backup(Context(settings), settings.databases[0])
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / ".precious.0123456789abcdef.tmp"  # a name the temp sweep takes for a dead writer's
    victim.write_text("not the tool's")
    os.utime(victim, (time.time() - 7200,) * 2)
    shutil.rmtree(settings.repository / folder, ignore_errors=True)
    (settings.repository / folder).symlink_to(outside)
    before = databases(pg_sandbox)

    if folder in ("runs", scratch.TMP_DIR):
        # The run's record is the one write a run goes on without (journaled: never its cause to fail), and a
        # linked tmp/ only costs the parallel load (streamed into one pg_restore instead, as on a read-only
        # repository): refused, and the replace itself is done, with nothing written out there.
        restore(settings, backed_up.id, replace_original=True, confirmed=True, safety_backup=False)
    else:
        with pytest.raises(OutsideRepository) as refused:
            restore(settings, backed_up.id, replace_original=True, confirmed=True, safety_backup=False)
        assert "symbolic link" in refused.value.message and "\n" not in refused.value.message
        assert databases(pg_sandbox) == before
    assert sorted(p.name for p in outside.iterdir()) == [victim.name]
    assert victim.read_text() == "not the tool's"
    assert pg_sandbox.psql("SELECT count(*) FROM actor", pagila_db) == "200"
    [health] = check_health(settings, datetime.now(UTC)).databases  # what the dashboard and monitor read
    assert health.database == pagila_db and health.last_backup is not None
    assert not is_locked(settings.repository, pagila_db) and not swap.pending(settings, settings.databases[0],
                                                                               pagila_db)


def test_a_record_naming_no_possible_process_is_skipped(settings: Settings, pg_sandbox: Sandbox) -> None:
    """A pid too large for any process (os.kill raises OverflowError on it) stopped every backup, verify and
    health check that read the records; now such a record is skipped like any unreadable one."""
    for n, pid in enumerate((10**30, -5, 0, True, "123", 1 << 23)):
        plant(settings, "database", names.verify_name("x", "0badc0de"), pid=pid)
        plant_journal(settings, f"x{n}", pid=pid)
    assert scratch.recorded(settings) == []
    assert swap.recorded_journals(settings) == []
    assert scratch.clean_leftovers(settings, settings.databases[0], lambda e: None) == []
    assert check_health(settings, datetime.now(UTC)).databases


def test_what_a_journal_says_repair_left_is_read_back_as_one_printable_line(settings: Settings) -> None:
    """Repair writes its line into the journal for monitor to say on; read back from the repository, anyone may have
    written it: a terminal's escape or a forged second line, 45 KB of it, reached monitor's output and the notices."""
    path = plant_journal(settings, settings.databases[0].database, left="\x1b]0;owned\x07ok\nCRITICAL forged" * 1500)
    journal = swap._read(path)
    assert isinstance(journal, swap.Journal) and journal.left is not None
    assert journal.left.isprintable() and len(journal.left) == swap.LEFT_LIMIT
