"""Shared fixtures: a real throwaway PostgreSQL 15 cluster with pagila loaded once per worker."""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from backup_tui.engine.config import DatabaseConfig, S3Config, Secret, Settings
from backup_tui.engine.core.clock import Clock, system_clock
from backup_tui.engine.core.models import PruneDecision, RestoreResult
from backup_tui.engine.core.progress import CancelToken, Reporter, null_reporter
from backup_tui.engine.devtools.sandbox import Sandbox, start_sandbox
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.prune import plan_prune, run_prune
from backup_tui.engine.ops.restore import plan_restore, run_restore
from tests.s3server import MotoS3

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from backup_tui.engine.storage.s3 import S3Repository

TEMPLATE = "pagila_template"
_names = itertools.count(1)


@pytest.fixture(autouse=True)
def _private_record_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records read from a bucket are kept in a cache folder per test, never in the user's own."""
    monkeypatch.setenv("BACKUP_CACHE_DIR", str(tmp_path / "record-cache"))


def dead_pid() -> int:
    """The pid of a process that has ended: a record naming it was left by a run that was killed."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def closed_port() -> int:
    """A local TCP port nobody listens on (bound then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(autouse=True)
def _umask_kept() -> Iterator[None]:
    """The apps' entry points make the process private (umask 077); called in-process by a test, that must not
    follow the next tests, whose folders the postgres OS user may need to enter."""
    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)


@pytest.fixture(scope="session")
def pg_sandbox() -> Iterator[Sandbox]:
    sandbox = start_sandbox()
    try:
        sandbox.load_pagila(TEMPLATE)
        yield sandbox
    finally:
        sandbox.stop()
        # The session's databases are a gigabyte and 5-8 s of unlinking at each worker's end: the cluster is
        # stopped, and what comes after the tests (ruff, mypy) need not wait for its files to go.
        subprocess.Popen(["rm", "-rf", "--", str(sandbox.root)], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def fresh_database(sandbox: Sandbox, prefix: str = "pagila") -> str:
    """A new database cloned from the pagila template (milliseconds, not a reload)."""
    name = f"{prefix}_{os.getpid()}_{next(_names)}"
    sandbox.psql(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE}')
    return name


@pytest.fixture
def pagila_db(pg_sandbox: Sandbox) -> Iterator[str]:
    name = fresh_database(pg_sandbox)
    yield name
    for stmt in pg_sandbox.psql(
        f"SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', datname) FROM pg_database "
        f"WHERE datname LIKE '{name}%'"
    ).splitlines():
        pg_sandbox.psql(stmt)


def db_config(sandbox: Sandbox, name: str) -> DatabaseConfig:
    return DatabaseConfig(name=name, host=sandbox.host, port=sandbox.port, user=sandbox.user,
                          password=sandbox.password)


@pytest.fixture
def settings(tmp_path: Path, pg_sandbox: Sandbox, pagila_db: str) -> Settings:
    return Settings(repository=tmp_path / "repo", log_dir=tmp_path / "logs",
                    databases=(db_config(pg_sandbox, pagila_db),))


def env_only(sandbox: Sandbox, database: str, root: Path) -> dict[str, str]:
    """Only environment variables, as the old scripts' env files had them; no stray PG*/BACKUP_* of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "BACKUP_", "LOG_DIR"))}
    env.update(
        BACKUP_DB_HOST=sandbox.host,
        BACKUP_DB_PORT=str(sandbox.port),
        BACKUP_DB_USER=sandbox.user,
        BACKUP_DB_PASSWORD=sandbox.password,
        BACKUP_DB_NAME=database,
        BACKUP_DIR=str(root / "repo"),
        LOG_DIR=str(root / "logs"),
        BACKUP_CACHE_DIR=str(root / "record-cache"),  # records read from a bucket: never the user's own cache
    )
    return env


@pytest.fixture
def cli_env(tmp_path: Path, pg_sandbox: Sandbox, pagila_db: str) -> dict[str, str]:
    return env_only(pg_sandbox, pagila_db, tmp_path)


def run_cli(args: list[str], env: dict[str, str], input_text: str | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """backup-headless as cron runs it: a separate process, no terminal."""
    return subprocess.run(
        [sys.executable, "-m", "headless", *args],
        env=env, capture_output=True, text=True, input=input_text, timeout=timeout, check=False,
    )


# The CLI, SIGKILLed by itself right after ``os.<call>`` acted on a path ending in the suffix given: as the OOM
# killer or a power cut would, at exactly that moment.
_KILLED_AFTER = """
import os, runpy, signal, sys
real = os.{call}
def then_die(*args, **kwargs):
    real(*args, **kwargs)
    if any(str(arg).endswith({suffix!r}) for arg in args):
        os.kill(os.getpid(), signal.SIGKILL)
os.{call} = then_die
sys.argv = ["headless", *sys.argv[1:]]
runpy.run_module("headless", run_name="__main__", alter_sys=True)
"""


def run_cli_killed_after(call: str, suffix: str, args: list[str],
                         env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``run_cli``, killed (SIGKILL) right after ``os.<call>`` (``unlink``, ``replace``) of a path ending in
    ``suffix``."""
    script = _KILLED_AFTER.format(call=call, suffix=suffix)
    return subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def history_records(folder: Path) -> list[dict[str, Any]]:
    """A local backup's verification records (one file each, written once), oldest first."""
    records = sorted((folder / "verifications").glob("*.json")) if (folder / "verifications").is_dir() else []
    return [json.loads(p.read_text()) for p in records]


def restore(settings: Settings, backup_id: str, *, confirmed: bool = False, reporter: Reporter = null_reporter,
            cancel: CancelToken | None = None, now: Clock = system_clock, **plan: Any) -> RestoreResult:
    """Plan a restore and run exactly that plan, as both front ends do."""
    ctx = Context(settings, reporter, cancel or CancelToken(), now)
    return run_restore(ctx, plan_restore(ctx, ctx.catalog.get(backup_id), **plan), confirmed=confirmed)


def prune(settings: Settings, database: str | None = None, *, reporter: Reporter = null_reporter,
          now: Clock = system_clock) -> list[PruneDecision]:
    """Plan the retention and delete exactly what it lets go, as ``backup-headless prune`` does."""
    ctx = Context(settings, reporter, now=now)
    return run_prune(ctx, plan_prune(ctx, database), database)


@dataclass
class Bucket:
    """A fresh bucket on the session's moto server, with the settings that reach it."""

    server: MotoS3
    name: str

    @property
    def client(self) -> S3Client:
        return self.server.client()

    def config(self, **changes: Any) -> S3Config:
        return S3Config(bucket=self.name, endpoint_url=self.server.url, access_key=self.server.access_key,
                        secret_key=Secret(self.server.secret_key), retry_seconds=3, **changes)

    def env(self) -> dict[str, str]:
        """The old scripts' names, as an env file has them."""
        return {"BACKUP_ENABLE_S3": "true", "S3_ENDPOINT": self.server.url.removeprefix("http://"),
                "S3_ACCESS_KEY": self.server.access_key, "S3_SECRET_KEY": self.server.secret_key,
                "S3_BUCKET": self.name}

    def locked_twin(self) -> str:
        """A second bucket beside this one whose objects object lock keeps for a day (governance): its name."""
        name = f"{self.name}-locked"
        self.client.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        self.client.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
        return name

    def objects(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """moto's standalone S3 server on 127.0.0.1 for the session (one per xdist worker)."""
    server = MotoS3()
    server.start()
    server.require_credentials()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(moto_s3: MotoS3) -> Bucket:
    bucket = Bucket(moto_s3, f"backups-{os.getpid()}-{next(_names)}")
    bucket.client.create_bucket(Bucket=bucket.name)
    return bucket


@pytest.fixture
def uploaded(settings: Settings, s3_bucket: Bucket) -> tuple[Context, S3Repository, str]:
    """A backup taken and sent to the bucket: the context that reaches both, the bucket's repository, its id."""
    from backup_tui.engine.ops.backup import run_backup
    from backup_tui.engine.ops.upload import run_upload

    with_s3 = replace(settings, s3=s3_bucket.config(prefix="fleet"))
    ctx = Context(with_s3)
    record = run_backup(ctx, with_s3.databases[0])
    run_upload(ctx, ctx.catalog.get(record.id))
    repo = ctx.catalog.s3
    assert repo is not None
    return ctx, repo, record.id
