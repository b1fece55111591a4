"""A bad setup is said by the CLI in one line on stderr, with the right exit code, at once and never as a
traceback: settings that used to pass loading and die mid-run (a compression level out of range, a password
variable not set, a repository that is a file), a config path that is a folder, an empty database name, an S3
endpoint that is not a URL, a bucket asked for that is not configured (exit 2); a port where no PostgreSQL answers
and a read-only repository (exit 1). The dry run tells what the real run would refuse."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from backup_tui.engine.storage.locks import database_lock
from backup_tui.engine.storage.space import free_bytes
from tests.headless.conftest import Workspace, WorkspaceFactory, one_error_line, tree


@pytest.fixture(scope="module")
def ws(make_workspace: WorkspaceFactory) -> Workspace:
    return make_workspace("bad-setup")


@pytest.mark.parametrize("command", [["backup"], ["backup", "--dry-run"], ["config", "check"]])
def test_compression_level_out_of_range_is_refused_before_anything_runs(ws: Workspace, command: list[str]) -> None:
    config = ws.write("level.toml", "[backup]\ncompression_level = 99\n")
    before = tree(ws.repo)
    result = ws.run("--config", str(config), *command)
    assert result.returncode == 2
    assert one_error_line(result) == (f"error: config file {config}: backup.compression_level must be between 1 and "
                                      "22, got 99 (zstd's range)")
    assert result.stdout == ""
    assert tree(ws.repo) == before


def test_password_env_naming_an_unset_variable(ws: Workspace) -> None:
    config = ws.write("password-env.toml",
                      f'[[databases]]\nname = "{ws.database}"\npassword_env = "APP_DB_PASSWORD"\n')
    unset: dict[str, str | None] = {"BACKUP_DB_PASSWORD": None, "APP_DB_PASSWORD": None}
    for command in (["backup"], ["config", "check"]):
        result = ws.run("--config", str(config), *command, env=unset)
        assert result.returncode == 2, result.stderr  # was: "authentication failed" once connecting
        assert one_error_line(result) == f"error: config file {config}: databases[0].password_env: APP_DB_PASSWORD " \
                                         "is not set"
    assert ws.ok("--config", str(config), "config", "check",
                 env={"BACKUP_DB_PASSWORD": None, "APP_DB_PASSWORD": ws.password}).returncode == 0


@pytest.mark.parametrize("command", [["backup"], ["backup", "--dry-run"]])
def test_backup_dir_pointing_at_a_file(ws: Workspace, command: list[str]) -> None:
    blocker = ws.write("not-a-folder", "some file\n")
    result = ws.run(*command, env={"BACKUP_DIR": str(blocker)})
    assert result.returncode == 2
    assert one_error_line(result) == f"error: repository {blocker} is not a directory"
    assert blocker.read_text() == "some file\n"

    below = blocker / "repo"
    result = ws.run(*command, env={"BACKUP_DIR": str(below)})
    assert result.returncode == 2
    assert one_error_line(result) == f"error: repository {below} cannot be created: {blocker} is not a directory"


def _refusal_without_free_figure(text: str) -> str:
    return text.removeprefix("error: ").rsplit(",", 1)[0]


def test_dry_run_says_the_real_run_would_refuse_for_space(ws: Workspace) -> None:
    config = ws.write("tight.toml", f"[backup]\nmin_free_bytes = {free_bytes(ws.root) * 4}\n")
    dry = ws.run("--config", str(config), "backup", "--dry-run", "--json")
    assert dry.returncode == 1  # what the real run would exit with
    plan = json.loads(dry.stdout)
    assert plan["space_ok"] is False
    assert "not enough space" in plan["space_refusal"] and "kept free" in plan["space_refusal"]
    said = ws.run("--config", str(config), "backup", "--dry-run").stdout
    assert "would refuse: not enough space" in said  # the human plan says it too
    refused = ws.run("--config", str(config), "backup")
    assert refused.returncode == 1
    assert _refusal_without_free_figure(one_error_line(refused)) == _refusal_without_free_figure(plan["space_refusal"])

    roomy = ws.json("backup", "--dry-run")
    assert (roomy["space_ok"], roomy["space_refusal"]) == (True, None)


def test_dry_run_does_not_offer_to_clean_a_running_backups_folder(ws: Workspace) -> None:
    running = ws.repo / "backups" / ws.database / f"{ws.database}-20250101T000000Z"
    running.mkdir(parents=True)
    (running / f"{running.name}.dump.zst").write_bytes(b"a dump being written")
    try:
        with database_lock(ws.repo, ws.database, "backup"):  # as the running backup holds it
            dry = ws.run("backup", "--dry-run", "--json")
            text = ws.run("backup", "--dry-run").stdout
        assert dry.returncode == 3  # the real run would stop at the lock
        plan = json.loads(dry.stdout)
        assert plan["locked_by_other_run"] is True
        assert plan["incomplete_to_clean"] == []
        assert running.name not in text and "would clean" not in text
        assert running.is_dir()
        assert ws.json("backup", "--dry-run")["incomplete_to_clean"] == [running.name]  # lock gone: a leftover
    finally:
        for path in sorted(running.iterdir()):
            path.unlink()
        running.rmdir()


# -- a config path that is a folder, an empty database name, an S3 endpoint that is not a URL, a bucket not configured


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


@pytest.mark.parametrize("endpoint", ["http://[::1", "ftp://minio.internal", "minio.internal:nine"])
def test_an_s3_endpoint_that_is_not_a_url_is_a_config_error(backed_up: tuple[Workspace, str], endpoint: str) -> None:
    ws, _ = backed_up
    result = ws.run("list", env={"BACKUP_ENABLE_S3": "true", "S3_BUCKET": "b", "S3_ENDPOINT": endpoint})
    assert result.returncode == 2
    line = one_error_line(result)
    assert "S3_ENDPOINT" in line and "unexpected" not in line, line


def test_list_of_a_bucket_that_is_not_configured_says_so(backed_up: tuple[Workspace, str]) -> None:
    ws, _ = backed_up
    result = ws.run("list", "--location", "s3", "--json")
    assert result.returncode == 2
    assert "S3 is not configured" in one_error_line(result)


# -- a port where no PostgreSQL answers, a read-only repository (exit 1) --------------------------------------------


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


def test_dry_run_behind_the_lock_names_its_holder_as_the_run_would(ws: Workspace) -> None:
    """README: a backup behind another run's lock exits 3 on a dry run too, "the plan names the holder"; it said
    only "another run holds the lock right now", where the real run names the pid, host, operation and start."""
    with database_lock(ws.repo, ws.database, "backup"):
        said = ws.run("backup", "--dry-run")
        plan = json.loads(ws.run("backup", "--dry-run", "--json").stdout)
        refused = ws.run("backup")
    holder = f"pid {os.getpid()} on "
    assert refused.returncode == 3 and holder in refused.stderr, refused.stderr
    assert said.returncode == 3 and holder in said.stdout and "(backup, started " in said.stdout, said.stdout
    assert plan["lock_holder"].startswith(holder)
