"""The repository is untrusted input: whatever another host, a person or an attacker wrote in it,
every command keeps to the repository's own layout. Each test plants files as an attacker would
(re-signing manifests, since their checksum is a plain sha256) and asserts the property: nothing
outside the repository changed, every command answers, and what does not validate is listed as
damaged with a reason.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.models import manifest_checksum
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import plan_backup, run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.storage.catalog import Catalog
from backup_tui.engine.storage.local import LocalRepository
from backup_tui.engine.storage.paths import OutsideRepository
from tests.conftest import db_config, fresh_database, run_cli
from tests.headless.conftest import tree

Planted = Callable[[Path, dict[str, Any]], None]


@pytest.fixture(scope="module")
def pristine(pg_sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, str]]:
    """One real backup, copied afresh for each test (a backup per test would cost seconds)."""
    root = tmp_path_factory.mktemp("untrusted")
    database = fresh_database(pg_sandbox, "untrusted")
    settings = Settings(repository=root / "repo", log_dir=root / "logs", databases=(db_config(pg_sandbox, database),))
    record = run_backup(Context(settings), settings.databases[0])
    yield settings, record.id
    pg_sandbox.psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def attacked(pristine: tuple[Settings, str], tmp_path: Path) -> tuple[Settings, str, Path]:
    """A copy of the repository, and beside it a folder of ours the attacker aims at."""
    settings, backup_id = pristine
    repo = tmp_path / "repo"
    shutil.copytree(settings.repository, repo, symlinks=True)
    outside = tmp_path / "outside"
    (outside / "x").mkdir(parents=True)
    (outside / "x" / "precious.txt").write_text("not yours\n")
    (outside / "x" / f"{backup_id}.dump.zst").write_bytes(b"decoy")
    copy = Settings(repository=repo, log_dir=tmp_path / "logs", databases=settings.databases)
    return copy, backup_id, outside


def the_folder(settings: Settings, backup_id: str) -> Path:
    [folder] = [p for p in (settings.repository / "backups").glob(f"*/{backup_id}")]
    return folder


def resign(manifest: Path, changes: dict[str, Any]) -> None:
    """Edit a manifest and recompute its checksum, as anyone who can write the repository can."""
    data = json.loads(manifest.read_text())
    data.update(changes)
    data["manifest_sha256"] = manifest_checksum(data)
    manifest.write_text(json.dumps(data))


def cli_env(settings: Settings) -> dict[str, str]:
    db = settings.databases[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "BACKUP_", "LOG_DIR"))}
    env.update(BACKUP_DB_HOST=str(db.host), BACKUP_DB_PORT=str(db.port), BACKUP_DB_USER=str(db.user),
               BACKUP_DB_PASSWORD=str(db.password), BACKUP_DB_NAME=db.database,
               BACKUP_DIR=str(settings.repository), LOG_DIR=str(settings.log_dir))
    return env


def every_command(settings: Settings, backup_id: str) -> dict[str, int]:
    """What an operator and cron run against the repository; none may print a traceback."""
    env = cli_env(settings)
    codes = {}
    for args in (["list"], ["show", backup_id], ["verify", backup_id, "--quick"], ["verify", "--all"],
                 ["pin", backup_id], ["unpin", backup_id], ["prune"], ["backup"], ["prune"]):
        done = run_cli(args, env)
        assert "Traceback" not in done.stderr + done.stdout, done.stderr
        codes[" ".join(args)] = done.returncode
    return codes


AGE_KEY = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"  # the age specification's example recipient
HOSTILE: dict[str, dict[str, Any]] = {
    "file_name climbs out": {"file_name": "../../../../outside/x/whatever.dump.zst"},
    "file_name is absolute": {"file_name": "/etc/passwd"},
    "id climbs out": {"id": "../../../outside/x"},
    "id of another backup": {"id": "someone-else-20250101T000000Z"},
    "database climbs out": {"database": "../../../outside/x"},
    "database is a connection string": {"database": "host=10.0.0.1 dbname=postgres"},
    "sha256 is not one": {"sha256": "../x"},
    "format unknown": {"format": "directory"},
    "newer manifest version": {"manifest_version": 99},
    "encryption unknown": {"encryption": "rot13", "recipients": [AGE_KEY], "manifest_version": 2},
    "recipient not a key": {"encryption": "age", "recipients": ["../../x"], "manifest_version": 2},
    "recipients without encryption": {"recipients": [AGE_KEY]},
    "created past the calendar's end": {"created_at": "9999-12-31T23:59:59.999-12:00"},  # once in UTC
    "created in year 1": {"created_at": "0001-01-01T00:00:00Z"},
    "finished past the calendar's end": {"finished_at": "9999-12-31T23:59:59.999-12:00"},
    "duration not a number": {"duration_s": float("nan")},  # json.dumps writes NaN, which JSON has not
    "duration infinite": {"duration_s": float("inf")},
    "size past a float's range": {"raw_bytes": 1e400},
    "encoding no server has": {"database_info": {"encoding": 'SQL_ASCII"; DROP DATABASE postgres; --'}},
}
WRONG_TYPES = ["id", "database", "created_at", "finished_at", "duration_s", "format", "compression", "raw_bytes",
               "stored_bytes", "sha256", "file_name", "row_counts", "database_info", "locations", "pinned",
               "tool_versions", "manifest_version", "encryption", "recipients", "compression_kept"]


@pytest.mark.parametrize("changes", [pytest.param(c, id=name) for name, c in HOSTILE.items()])
def test_a_hostile_manifest_is_damaged_and_nothing_outside_changes(
    attacked: tuple[Settings, str, Path], changes: dict[str, Any],
) -> None:
    settings, backup_id, outside = attacked
    folder = the_folder(settings, backup_id)
    resign(folder / "manifest.json", changes)
    before = tree(outside)

    [record] = [r for r in Catalog.from_settings(settings).list() if r.id == backup_id]
    assert record.status == "damaged" and record.reason, record
    assert Path(record.path) == folder / f"{backup_id}.dump.zst", "the path comes from the layout alone"
    codes = every_command(settings, backup_id)
    assert codes["list"] == 0 and codes["show " + backup_id] == 0
    assert codes[f"verify {backup_id} --quick"] == 4, "a damaged backup fails its verification"
    assert tree(outside) == before
    assert folder.is_dir(), "a damaged backup is kept for an operator to look at"


def test_a_verification_dated_past_the_calendar_is_skipped_not_a_crash(attacked: tuple[Settings, str, Path]) -> None:
    """A verification record of a time that overflows once in UTC: the one record is not read, every command
    goes on (it stopped list, backup, prune and monitor with an OverflowError)."""
    settings, backup_id, _ = attacked
    records = the_folder(settings, backup_id) / "verifications"
    records.mkdir(exist_ok=True)
    good = {"at": "2026-12-01T02:00:00Z", "level": "quick", "ok": True, "problems": [], "checks": ["sha256"]}
    (records / "a.json").write_text(json.dumps(good))
    (records / "b.json").write_text(json.dumps({**good, "at": "9999-12-31T23:59:59.999-12:00", "ok": False}))
    [record] = [r for r in Catalog.from_settings(settings).list() if r.id == backup_id]
    assert record.status == "valid" and [v.at for v in record.verifications] == [good["at"]]
    codes = every_command(settings, backup_id)
    assert codes["list"] == 0 and codes["backup"] == 0 and codes["prune"] == 0
    monitor = run_cli(["monitor", "--check"], cli_env(settings))
    assert "Traceback" not in monitor.stderr and monitor.returncode in (0, 1, 2), monitor.stderr


def test_a_verification_naming_no_backup_id_or_no_sha256_is_skipped(attacked: tuple[Settings, str, Path]) -> None:
    settings, backup_id, _ = attacked
    records = the_folder(settings, backup_id) / "verifications"
    records.mkdir(exist_ok=True)
    good = {"at": "2026-12-01T02:00:00Z", "level": "quick", "ok": True, "problems": [], "checks": ["sha256"]}
    (records / "a.json").write_text(json.dumps(good))
    planted = [records / "d.json", records / "e.json"]
    planted[0].write_text(json.dumps({**good, "backup_id": "../../etc", "at": "2026-12-01T03:00:00Z"}))
    planted[1].write_text(json.dumps({**good, "sha256": "F" * 64, "at": "2026-12-01T04:00:00Z"}))
    try:
        [record] = [r for r in Catalog.from_settings(settings).list() if r.id == backup_id]
        assert [v.at for v in record.verifications][-1] == good["at"]
    finally:
        for path in planted:
            path.unlink()


def test_a_size_past_any_disk_is_damage_and_the_next_backup_runs(attacked: tuple[Settings, str, Path]) -> None:
    """JSON's integers have no bound: a size of 400 digits, read as the last backup's, broke the next one's
    arithmetic (past a float's range) in every run after."""
    settings, backup_id, _ = attacked
    resign(the_folder(settings, backup_id) / "manifest.json", {"raw_bytes": 10**400})
    [record] = [r for r in Catalog.from_settings(settings).list() if r.id == backup_id]
    assert record.status == "damaged" and "raw_bytes" in record.reason and "larger than any disk" in record.reason
    done = run_cli(["backup"], cli_env(settings))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    # A database size is free text in the manifest: one that is no number is not known, the next backup runs
    newest = max((r for r in Catalog.from_settings(settings).list() if r.is_valid), key=lambda r: r.created_at)
    resign(the_folder(settings, newest.id) / "manifest.json", {"database_info": {"size_bytes": "9" * 5000}})
    done = run_cli(["backup"], cli_env(settings))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("changes", [
    pytest.param({"stored_bytes": 2**40}, id="a stored size of a terabyte"),  # the dump made as big, sparse
    pytest.param({"database_info": {"size_bytes": "1"}}, id="a database of one byte to grow from"),
])
def test_a_planted_size_cannot_refuse_every_backup_for_space(
    attacked: tuple[Settings, str, Path], changes: dict[str, Any],
) -> None:
    """The space check reads the last backup's size, grown as the database grew: taken at a planted record's
    word, it asked for exabytes and refused every backup from then on. The server's size of the database
    bounds it."""
    settings, backup_id, _ = attacked
    resign(the_folder(settings, backup_id) / "manifest.json", changes)
    if "stored_bytes" in changes:  # else the dump's own size says the manifest is not of it: damaged, not read
        os.truncate(the_folder(settings, backup_id) / f"{backup_id}.dump.zst", changes["stored_bytes"])
    plan = plan_backup(Context(settings), settings.databases[0])
    assert plan.space_ok, plan.space_refusal
    assert plan.expected_bytes == 2 * plan.database_bytes > 0
    assert "twice the database's size now" in plan.estimate_basis
    done = run_cli(["backup"], cli_env(settings))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("kept", [10**400, -2, 0, 10])
def test_a_level_to_start_from_that_auto_never_uses_is_not_known(
    attacked: tuple[Settings, str, Path], kept: int,
) -> None:
    """The level the last backup kept only says where the next one starts: out of zstd's range for "auto" it
    is not known (0), and the record stays valid."""
    settings, backup_id, _ = attacked
    resign(the_folder(settings, backup_id) / "manifest.json", {"compression_kept": kept})
    [record] = [r for r in Catalog.from_settings(settings).list() if r.id == backup_id]
    assert record.status == "valid" and record.compression_kept == 0


def test_a_field_of_the_wrong_type_is_named_never_a_crash(attacked: tuple[Settings, str, Path]) -> None:
    """Every field, each of three wrong types, in a folder of its own: the catalog lists them all."""
    settings, backup_id, outside = attacked
    folder = the_folder(settings, backup_id)
    planted: dict[str, str] = {}
    wrong: list[object] = [[{"x": 1}], {"a": [1]}, True]
    for n, (field, value) in enumerate((f, v) for f in WRONG_TYPES for v in wrong if (f, v) != ("pinned", True)):
        twin = folder.parent / f"{backup_id}-{n + 1}"
        shutil.copytree(folder, twin)
        (twin / f"{backup_id}.dump.zst").rename(twin / f"{twin.name}.dump.zst")
        resign(twin / "manifest.json", {"id": twin.name, "file_name": f"{twin.name}.dump.zst", field: value})
        planted[twin.name] = field
    before = tree(outside)
    records = {r.id: r for r in Catalog.from_settings(settings).list()}
    for twin_id, field in planted.items():
        assert records[twin_id].status == "damaged", (field, records[twin_id])
        assert field in records[twin_id].reason, (field, records[twin_id].reason)
    assert records[backup_id].status == "valid"
    env = cli_env(settings)
    for args in (["list"], ["show", next(iter(planted))], ["prune", "--dry-run"]):
        done = run_cli(args, env)
        assert done.returncode == 0 and "Traceback" not in done.stderr, (args, done.stderr)
    assert tree(outside) == before


@pytest.mark.parametrize("plant", ["backup folder", "data file", "reports", "verifications", "pins", "locks",
                                   "database folder", "sidecar", "restore history"])
def test_links_in_the_repository_are_never_followed(attacked: tuple[Settings, str, Path], plant: str) -> None:
    settings, backup_id, outside = attacked
    folder = the_folder(settings, backup_id)
    target = outside / "x"
    if plant == "backup folder":
        shutil.rmtree(folder)
        folder.symlink_to(target)
    elif plant == "data file":
        (folder / f"{backup_id}.dump.zst").unlink()
        (folder / f"{backup_id}.dump.zst").symlink_to(target / f"{backup_id}.dump.zst")
    elif plant == "locks":
        shutil.rmtree(settings.repository / "locks", ignore_errors=True)
        (settings.repository / "locks").symlink_to(target)
    elif plant == "sidecar":  # a link to a file outside: read through it, or to /dev/zero, read for ever
        sidecar = folder / f"{backup_id}.dump.zst.sha256"
        sidecar.unlink()
        sidecar.symlink_to(target / "precious.txt")
    elif plant == "restore history":  # the full verify's test restore appends its duration there
        (settings.repository / "restores.jsonl").unlink(missing_ok=True)
        (settings.repository / "restores.jsonl").symlink_to(target / "precious.txt")
    elif plant == "database folder":
        db_dir = folder.parent
        moved = outside / "moved"
        shutil.move(str(db_dir), moved)
        db_dir.symlink_to(moved)
    else:
        shutil.rmtree(folder / plant, ignore_errors=True)
        (folder / plant).symlink_to(target)
    before = tree(outside)
    codes = every_command(settings, backup_id)
    assert tree(outside) == before
    if plant in ("backup folder", "data file", "sidecar"):
        assert codes[f"verify {backup_id} --quick"] == 4, "a backup read through a link is a failed check"
    if plant == "data file":  # restore says the same as verify: damage, exit 4 (it was an exit 1)
        restore = run_cli(["restore", backup_id, "--target-db", "never_made"], cli_env(settings))
        assert restore.returncode == 4 and "symbolic link" in restore.stderr, restore.stderr


def test_a_forged_record_cannot_delete_outside(attacked: tuple[Settings, str, Path]) -> None:
    """Even a record made in memory with a path of its own choosing: the repository deletes by layout."""
    settings, backup_id, outside = attacked
    repo = LocalRepository(settings.repository)
    [record] = [r for r in repo.list() if r.id == backup_id]
    before = tree(outside)
    for path in (outside / "x" / f"{backup_id}.dump.zst", settings.repository / ".." / "outside" / "x" / "f",
                 the_folder(settings, backup_id).parent / "other-id" / f"{backup_id}.dump.zst"):
        forged = type(record)(**{**record.__dict__, "path": str(path)})
        with pytest.raises(OutsideRepository):
            repo.delete(forged)
    assert tree(outside) == before


def test_an_oversized_manifest_is_damaged_not_read_whole(attacked: tuple[Settings, str, Path]) -> None:
    settings, backup_id, _ = attacked
    manifest = the_folder(settings, backup_id) / "manifest.json"
    with open(manifest, "a") as fh:
        fh.write(" " * (17 * 1024 * 1024))
    [record] = [r for r in Catalog.from_settings(settings).list() if r.id == backup_id]
    assert record.status == "damaged" and "larger than" in record.reason


def test_a_copy_of_a_manifest_in_another_folder_is_not_that_backup(attacked: tuple[Settings, str, Path]) -> None:
    """Two folders claiming one id: the copy in the wrong place is damaged, the original stays valid."""
    settings, backup_id, _ = attacked
    folder = the_folder(settings, backup_id)
    for where in (folder.parent / f"{backup_id}-1", folder.parent.parent / "other_db" / backup_id):
        shutil.copytree(folder, where)
    records = Catalog.from_settings(settings).list()
    mine = [r for r in records if r.id == backup_id]
    assert len(mine) == 1 and mine[0].status == "valid" and Path(mine[0].path).parent == folder
    assert {r.status for r in records if r.id != backup_id} == {"damaged"}


def test_a_copy_edited_to_match_another_databases_folder_is_not_that_backup(
    attacked: tuple[Settings, str, Path],
) -> None:
    """The copy's manifest names the database of the folder it was copied to, checksum and all: its id is still
    no backup id of that database. Before, two valid records claimed one id and the real backup read as damaged
    in the list, while verify passed it and delete called it the newest valid backup."""
    settings, backup_id, _ = attacked
    folder = the_folder(settings, backup_id)
    copy = folder.parent.parent / "evil" / backup_id
    shutil.copytree(folder, copy)
    resign(copy / "manifest.json", {"database": "evil"})
    records = Catalog.from_settings(settings).list()
    [mine] = [r for r in records if r.id == backup_id]
    assert mine.status == "valid" and Path(mine.path).parent == folder
    [stray] = [r for r in LocalRepository(settings.repository).list() if r.path and Path(r.path).parent == copy]
    assert stray.status == "damaged" and "no backup id of database 'evil'" in stray.reason


def deeply_nested(levels: int) -> str:
    """A manifest-sized file of nothing but brackets: JSON's parser recursed once per level."""
    return '{"id": ' + "[" * levels + "]" * levels + "}"


@pytest.mark.parametrize("plant", ["manifest", "data file", "pin", "scratch record", "swap record", "lock"])
def test_a_fifo_in_the_repository_is_refused_never_waited_on(attacked: tuple[Settings, str, Path], plant: str) -> None:
    """A FIFO under a file's name blocked whoever opened it, for ever: list, verify, backup and prune hung."""
    settings, backup_id, outside = attacked
    folder = the_folder(settings, backup_id)
    where = {"manifest": folder / "manifest.json", "data file": folder / f"{backup_id}.dump.zst",
             "pin": folder / "pins" / "0-fifo.json", "scratch record": settings.repository / "scratch" / "x.json",
             "swap record": settings.repository / "swaps" / "x.json",
             "lock": settings.repository / "locks" / f"{settings.databases[0].database}.lock"}[plant]
    where.parent.mkdir(parents=True, exist_ok=True)
    where.unlink(missing_ok=True)
    os.mkfifo(where)
    before = tree(outside)
    env = cli_env(settings)
    for args in (["list"], ["verify", backup_id, "--quick"], ["prune", "--dry-run"], ["backup"], ["monitor"]):
        done = run_cli(args, env, timeout=60)  # a hang raises TimeoutExpired: the test fails
        assert "Traceback" not in done.stderr + done.stdout, (args, done.stderr)
        if args[0] == "verify" and plant in ("manifest", "data file"):
            assert done.returncode == 4, (args, done.stderr)
        elif args[0] in ("list", "prune"):
            assert done.returncode == 0, (args, done.stderr)
    if plant == "manifest":
        [record] = [r for r in Catalog.from_settings(settings).list() if r.id == backup_id]
        assert record.status == "damaged" and "not a plain file" in record.reason, record
    assert tree(outside) == before


@pytest.mark.parametrize("plant", ["lock as a FIFO", "lock as a folder", "database folder as a file"])
def test_a_lock_or_folder_planted_as_another_kind_of_file_is_named_in_one_line(
    attacked: tuple[Settings, str, Path], plant: str,
) -> None:
    """Where a lock file or a database's folder belongs, something else: the backup says what and where, and
    to remove it (it was "unexpected OSError: Invalid argument", "IsADirectoryError", "FileExistsError")."""
    settings, _, _ = attacked
    database = settings.databases[0].database
    lock = settings.repository / "locks" / f"{database}.lock"
    lock.unlink(missing_ok=True)
    if plant == "lock as a FIFO":
        os.mkfifo(lock)
    elif plant == "lock as a folder":
        lock.mkdir()
    else:
        folder = settings.repository / "backups" / database
        shutil.rmtree(folder)
        folder.write_text("")
    env = cli_env(settings)
    backup = run_cli(["backup"], env, timeout=60)
    where = folder if plant == "database folder as a file" else lock
    assert backup.returncode != 0 and backup.stderr.count("\n") == 1, backup.stderr
    assert str(where) in backup.stderr and "remove it" in backup.stderr and "unexpected" not in backup.stderr
    for args in (["prune"], ["monitor"], ["list"]):
        done = run_cli(args, env, timeout=60)
        assert "unexpected" not in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)


@pytest.mark.parametrize("plant", ["folder", "link", "FIFO"])
def test_a_restore_history_that_is_no_plain_file_costs_the_estimate_not_the_restore(
    attacked: tuple[Settings, str, Path], plant: str, pg_sandbox: Sandbox,
) -> None:
    """``restores.jsonl`` only feeds the time estimate: planted as a folder or a link every restore failed while
    planning; as a FIFO, a restore that had loaded everything hung for ever writing its duration there."""
    settings, backup_id, outside = attacked
    history = settings.repository / "restores.jsonl"
    history.unlink(missing_ok=True)
    if plant == "folder":
        history.mkdir()
    elif plant == "link":
        history.symlink_to(outside / "x" / "precious.txt")
    else:
        os.mkfifo(history)
    before = tree(outside)
    target = f"restored_history_{plant.lower()}"
    done = run_cli(["restore", backup_id, "--target-db", target], cli_env(settings), timeout=120)
    assert done.returncode == 0, done.stderr
    assert tree(outside) == before
    pg_sandbox.psql(f"DROP DATABASE {target}")


def test_a_deeply_nested_manifest_is_damaged_not_a_crash_of_the_catalog(attacked: tuple[Settings, str, Path]) -> None:
    """One crafted manifest of ``[[[[...`` raised RecursionError out of ``list``: no backup was listed at all."""
    settings, backup_id, _ = attacked
    folder = the_folder(settings, backup_id)
    twins = {}
    for levels in (100_000, 900):  # past Python's recursion limit; under it, yet deeper than any record of ours
        twin = folder.parent / f"{backup_id}-{levels}"
        shutil.copytree(folder, twin)
        (twin / "manifest.json").write_text(deeply_nested(levels))
        twins[twin.name] = levels
    (settings.repository / "runs" / "deep.json").write_text(deeply_nested(100_000))
    records = {r.id: r for r in Catalog.from_settings(settings).list()}
    assert records[backup_id].status == "valid"
    for twin_id in twins:
        assert records[twin_id].status != "valid", records[twin_id]
    env = cli_env(settings)
    for args in (["list"], ["show", backup_id], ["prune", "--dry-run"], ["monitor"]):
        done = run_cli(args, env)
        assert "Traceback" not in done.stderr and "RecursionError" not in done.stderr, (args, done.stderr)
        assert done.returncode in (0, 1) if args == ["monitor"] else done.returncode == 0, (args, done.stderr)
