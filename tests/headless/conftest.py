"""Helpers for the end-to-end tests of backup-headless: workspaces (a database of its own,
a repository, a log folder, env variables only) and checks every run must pass."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from backup_tui.engine.devtools.sandbox import Sandbox
from tests.conftest import env_only, fresh_database, run_cli

PREFIX = "hl"  # every database these tests create starts with it


def read_terminal(master: int) -> bytes:
    """Everything a child writes to its pseudo-terminal until it closes it; the master is closed after."""
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return b"".join(chunks)


@dataclass
class Workspace:
    """One operator's setup: a pagila clone, BACKUP_DIR, LOG_DIR and the env file's variables."""

    root: Path
    sandbox: Sandbox
    database: str
    env: dict[str, str]
    runs: list[subprocess.CompletedProcess[str]] = field(default_factory=list)

    @property
    def repo(self) -> Path:
        return Path(self.env["BACKUP_DIR"])

    @property
    def logs(self) -> Path:
        return Path(self.env["LOG_DIR"])

    @property
    def password(self) -> str:
        return self.sandbox.password

    def run(self, *args: str, env: dict[str, str | None] | None = None,
            input_text: str = "") -> subprocess.CompletedProcess[str]:
        """Run backup-headless with no terminal (stdin is an empty pipe, not the tty pytest may have)."""
        run_env = self.env_with(env)
        result = run_cli(list(args), run_env, input_text=input_text)
        self.runs.append(result)
        secrets = {self.password, run_env.get("BACKUP_DB_PASSWORD", "")} - {""}
        assert_clean_output(result, secrets)
        return result

    def env_with(self, changes: dict[str, str | None] | None) -> dict[str, str]:
        """The workspace's variables with ``changes``; None unsets one."""
        run_env = dict(self.env)
        for key, value in (changes or {}).items():
            if value is None:
                run_env.pop(key, None)
            else:
                run_env[key] = value
        return run_env

    def run_on_terminal(self, *args: str, env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
        """Run with stdout on a pseudo-terminal, as an operator over SSH: (exit code, stdout, stderr)."""
        master, slave = pty.openpty()
        with subprocess.Popen([sys.executable, "-m", "headless", *args], env=self.env_with(env),
                              stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE) as proc:
            os.close(slave)
            said = read_terminal(master)
            assert proc.stderr is not None
            err = proc.stderr.read().decode()
            code = proc.wait(timeout=120)
        out = said.decode().replace("\r\n", "\n")
        result = subprocess.CompletedProcess(list(args), code, out, err)
        self.runs.append(result)
        assert_clean_output(result, {self.password})
        return code, out, err

    def ok(self, *args: str, env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess[str]:
        result = self.run(*args, env=env)
        assert result.returncode == 0, f"{args} exited {result.returncode}: {result.stderr}"
        return result

    def json(self, *args: str, env: dict[str, str | None] | None = None) -> Any:
        return json.loads(self.ok(*args, "--json", env=env).stdout)

    def listing(self) -> list[dict[str, Any]]:
        data = self.json("list")
        assert isinstance(data, list)
        return data

    def item(self, backup_id: str) -> dict[str, Any]:
        found = [i for i in self.listing() if i["id"] == backup_id]
        assert len(found) == 1, f"{backup_id} not listed exactly once"
        return found[0]

    def backup(self) -> dict[str, Any]:
        data = self.json("backup")
        assert isinstance(data, dict)
        return data

    def psql(self, sql: str, dbname: str | None = None) -> str:
        return self.sandbox.psql(sql, dbname or self.database)

    def databases(self) -> list[str]:
        return self.sandbox.psql("SELECT datname FROM pg_database ORDER BY datname").splitlines()

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(text, encoding="utf-8")
        return path


def assert_clean_output(result: subprocess.CompletedProcess[str], secrets: set[str]) -> None:
    """Whatever happened: no traceback, and no password anywhere in what was printed."""
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout, result.stdout
    for secret in secrets:
        assert secret not in result.stderr, "a password appears on stderr"
        assert secret not in result.stdout, "a password appears on stdout"


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The contract: errors are exactly one line on stderr."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr, got {len(lines)}: {result.stderr!r}"
    assert lines[0].strip(), "the error line is empty"
    return lines[0]


def tree(root: Path) -> dict[str, tuple[bool, int, int]]:
    """Every path under ``root`` with (is_dir, size, mtime_ns): any change at all shows."""
    if not root.exists():
        return {}
    snapshot: dict[str, tuple[bool, int, int]] = {".": (True, 0, 0)}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        snapshot[str(path.relative_to(root))] = (path.is_dir(), 0 if path.is_dir() else st.st_size, st.st_mtime_ns)
    return snapshot


def files_containing(root: Path, secret: str) -> list[Path]:
    if not root.exists():
        return []
    needle = secret.encode()
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


WorkspaceFactory = Callable[[str], Workspace]


@pytest.fixture(scope="session")
def make_workspace(pg_sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> WorkspaceFactory:
    """Workspaces for modules to share. Their databases go with the session's cluster: dropping each (a
    checkpoint apiece) took the last test of every worker 12 s."""

    def make(label: str) -> Workspace:
        root = tmp_path_factory.mktemp(f"headless-{label}")
        database = fresh_database(pg_sandbox, PREFIX)
        return Workspace(root=root, sandbox=pg_sandbox, database=database,
                         env=env_only(pg_sandbox, database, root))

    return make


def small_dump_workspace(make_workspace: WorkspaceFactory, label: str, folder: Path) -> Workspace:
    """A workspace whose config (written in ``folder``) lowers the size threshold: pagila's dump is under 1 MB,
    and health would otherwise call every backup of it too small."""
    workspace = make_workspace(label)
    workspace.repo.mkdir(parents=True, exist_ok=True)
    config = folder / "backup.toml"
    config.write_text("[health]\nmin_size_bytes = 1000\n")
    workspace.env["BACKUP_TUI_CONFIG"] = str(config)
    return workspace


def bulky_workspace(make_workspace: WorkspaceFactory, label: str) -> Workspace:
    """A workspace whose database has enough rows that a restore is still loading when a test stops it."""
    ws = make_workspace(label)
    ws.psql("CREATE TABLE bulk AS SELECT g, md5(g::text) || md5((g * 7)::text) AS t FROM generate_series(1, 300000) g")
    return ws


@pytest.fixture(scope="session")
def backed_up(make_workspace: WorkspaceFactory) -> tuple[Workspace, str]:
    """A workspace with one backup, for tests that only read (errors, dry runs, config)."""
    ws = make_workspace("shared")
    return ws, ws.backup()["id"]
