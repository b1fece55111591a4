"""What a new operator ran into with the real CLI, each now one clear line with the right exit code:
a config path that is a folder, an empty database name, a port where no PostgreSQL answers, a read-only
repository, a bucket asked for that is not configured or cannot be listed, and S3 keys that stopped working."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Bucket, closed_port
from tests.headless.conftest import Workspace, WorkspaceFactory, one_error_line


@pytest.fixture
def not_postgres() -> Iterator[int]:
    """A local port that accepts a connection and closes it at once, as a port of another service may."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield int(listener.getsockname()[1])
    listener.close()


def test_a_config_path_that_is_a_folder_is_a_config_error(backed_up: tuple[Workspace, str]) -> None:
    ws, _ = backed_up
    result = ws.run("--config", str(ws.root), "list", "--json")
    assert result.returncode == 2
    assert "is a folder" in one_error_line(result) and "unexpected" not in result.stderr


@pytest.mark.parametrize("entry", ['name = ""', 'name = "app"\ndbname = ""'])
def test_an_empty_database_name_in_the_config_is_refused(backed_up: tuple[Workspace, str], entry: str) -> None:
    ws, _ = backed_up
    config = ws.write("empty-name.toml", f'repository = "{ws.repo}"\n[[databases]]\n{entry}\n')
    result = ws.run("--config", str(config), "backup", env={"BACKUP_DB_NAME": None})
    assert result.returncode == 2
    assert "is empty" in one_error_line(result)


def test_a_port_where_no_postgresql_answers_says_what_happened(backed_up: tuple[Workspace, str],
                                                             not_postgres: int) -> None:
    """libpq's reason spans three lines; its last one alone read 'before or while processing the request.'"""
    ws, _ = backed_up
    result = ws.run("backup", env={"BACKUP_DB_PORT": str(not_postgres)})
    assert result.returncode == 1
    line = one_error_line(result)
    assert f"127.0.0.1:{not_postgres}: server closed the connection unexpectedly" in line, line


def test_a_read_only_repository_is_named_in_one_line(backed_up: tuple[Workspace, str], tmp_path: Path) -> None:
    ws, _ = backed_up
    mount = tmp_path / "ro"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,ro", "tmpfs", str(mount)], capture_output=True,
                          check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {done.stderr.decode().strip()}")
    try:
        result = ws.run("backup", env={"BACKUP_DIR": str(mount)})
    finally:
        subprocess.run(["umount", str(mount)], check=True)
    assert result.returncode == 1
    line = one_error_line(result)
    assert "unexpected" not in line and f"Read-only file system: {mount}" in line, line


def test_list_of_a_bucket_that_is_not_configured_says_so(backed_up: tuple[Workspace, str]) -> None:
    ws, _ = backed_up
    result = ws.run("list", "--location", "s3", "--json")
    assert result.returncode == 2
    assert "S3 is not configured" in one_error_line(result)


def test_s3_keys_that_stopped_working_keep_the_local_backup_and_the_next_run_sends_it(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket,
) -> None:
    """Rotated or expired keys used to stop the backup itself (exit 2, nothing taken): now only the upload
    fails, with the same words config check uses, and the run after the keys are fixed sends it."""
    ws = make_workspace("trial-s3-keys")
    ws.env.update(s3_bucket.env())
    wrong: dict[str, str | None] = {"S3_SECRET_KEY": "not-the-secret"}
    failed = ws.run("backup", "--json", env=wrong)
    assert failed.returncode == 2
    assert "wrong credentials" in one_error_line(failed) and "local copy is kept" in failed.stderr
    kept = [r for r in ws.listing() if r["status"] == "valid"]
    assert len(kept) == 1 and kept[0]["locations"] == ["local"]

    listed = ws.run("list", env=wrong)
    assert listed.returncode == 0
    assert one_error_line(listed).startswith("warning: the s3 repository was not listed: ")
    asked = ws.run("list", "--location", "s3", env=wrong)
    assert asked.returncode == 1, "nothing of what was asked could be shown: not an empty list"
    assert "could not be listed" in one_error_line(asked)

    again = ws.backup()
    assert kept[0]["id"] in again["uploaded"] and again["id"] in again["uploaded"]
    assert {r["id"]: r["locations"] for r in ws.listing()}[kept[0]["id"]] == ["local", "s3"]


def test_a_flag_the_command_does_not_take_points_at_that_commands_help(backed_up: tuple[Workspace, str]) -> None:
    """``report --json`` pointed at 'backup-headless --help', which lists none of report's flags."""
    ws, _ = backed_up
    result = ws.run("report", "--json")
    assert result.returncode == 2
    assert one_error_line(result).endswith("unrecognized arguments: --json (see 'backup-headless report --help')")


@pytest.mark.parametrize("endpoint", ["http://[::1", "ftp://minio.internal", "minio.internal:nine"])
def test_an_s3_endpoint_that_is_not_a_url_is_a_config_error(backed_up: tuple[Workspace, str], endpoint: str) -> None:
    ws, _ = backed_up
    result = ws.run("list", env={"BACKUP_ENABLE_S3": "true", "S3_BUCKET": "b", "S3_ENDPOINT": endpoint})
    assert result.returncode == 2
    line = one_error_line(result)
    assert "S3_ENDPOINT" in line and "unexpected" not in line, line


def test_an_unreachable_bucket_is_said_with_the_seconds_actually_waited(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket,
) -> None:
    """A listing waits 5 s for a bucket out of reach and says so, where it said retry_seconds' 60 s (config
    check's 10 s: test_cli_s3)."""
    ws = make_workspace("trial-s3-down")
    ws.env.update(s3_bucket.env())
    ws.repo.mkdir()
    listed = ws.run("list", env={"S3_ENDPOINT": f"127.0.0.1:{closed_port()}"})
    assert listed.returncode == 0 and "unreachable after 5 s of retries" in one_error_line(listed)


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


def test_an_object_lock_mode_without_days_is_refused_not_ignored(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket,
) -> None:
    """'s3 init --object-lock-mode compliance' set nothing and exited 0: the operator believed the bucket locked."""
    ws = make_workspace("trial-s3-lock-mode")
    ws.env.update(s3_bucket.env())
    result = ws.run("s3", "init", "--object-lock-mode", "compliance")
    assert result.returncode == 2
    assert "needs --object-lock-days" in one_error_line(result)
    assert "Status" not in s3_bucket.client.get_bucket_versioning(Bucket=s3_bucket.name), "refused before any change"


def test_rollback_to_a_database_that_is_no_kept_copy_says_rollback_not_drop(backed_up: tuple[Workspace, str]) -> None:
    ws, _ = backed_up
    result = ws.run("rollback", ws.database, "--to", "postgres", "--yes")
    assert result.returncode == 2
    line = one_error_line(result)
    assert "rolled back to" in line and "dropped here" not in line, line


@pytest.mark.parametrize("days", ["0", "36501", "100000"])
def test_an_object_lock_beyond_s3s_hundred_years_is_refused_before_anything_is_set(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket, days: str,
) -> None:
    """A compliance lock can never be shortened: a typo in its days is refused in one line, the bucket as it was."""
    ws = make_workspace(f"trial-s3-lock-days-{days}")
    ws.env.update(s3_bucket.env())
    result = ws.run("s3", "init", "--object-lock-days", days, "--object-lock-mode", "compliance")
    assert result.returncode == 2
    assert "must be from 1 to 36,500" in one_error_line(result)
    assert "Status" not in s3_bucket.client.get_bucket_versioning(Bucket=s3_bucket.name), "refused before any change"
