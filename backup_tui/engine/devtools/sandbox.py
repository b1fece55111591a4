"""A throwaway PostgreSQL cluster: for the demo, the tests and the benchmarks.

initdb, pg_ctl and postgres refuse to run as root, so when we are root the
server runs as the ``postgres`` OS user in a folder that user owns.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from backup_tui.engine.core.errors import ConfigError
from backup_tui.engine.postgres import pg

SHARED_PAGILA = Path(__file__).resolve().parents[3].parent / "shared" / "datasets" / "pagila"
BUNDLED_PAGILA = Path(__file__).resolve().parents[1] / "data" / "pagila"  # MIT, see LICENSE.txt there
SERVER_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


def find_server_bin() -> Path:
    """Where initdb and pg_ctl live; PostgreSQL 15 first, as our figures assume it."""
    env = os.environ.get("BACKUP_TUI_PG_BIN")
    candidates = [env] if env else []
    candidates += list(SERVER_BIN_CANDIDATES)
    for cand in candidates:
        if cand and (Path(cand) / "initdb").exists():
            return Path(cand)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise ConfigError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: "
        "install them with 'apt-get install postgresql-15' or set BACKUP_TUI_PG_BIN"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Sandbox:
    """A running throwaway cluster reachable on 127.0.0.1 with a password."""

    root: Path
    port: int
    user: str = "postgres"
    password: str = "sandbox-secret"
    bin_dir: Path = field(default_factory=find_server_bin)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={self.user} password={self.password} dbname={dbname}"

    def env(self) -> dict[str, str]:
        """libpq variables that point a client at this cluster."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
        }

    def _as_server_user(self, argv: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return argv

    def _run(self, argv: list[str]) -> None:
        proc = subprocess.run(self._as_server_user(argv), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")

    def init(self, settings: dict[str, str] | None = None) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        self.chown_to_server(pwfile)
        self._run(
            [
                str(self.bin_dir / "initdb"),
                "-D", str(self.data_dir),
                "-U", self.user,
                "--pwfile", str(pwfile),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E", "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        )
        pwfile.unlink()
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.root}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "60",
            "shared_buffers": "128MB",
            "logging_collector": "off",
        }
        conf.update(settings or {})
        with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as fh:
            fh.writelines(f"{key} = {value}\n" for key, value in conf.items())

    def chown_to_server(self, path: Path) -> None:
        """Hand a file or folder to the server's OS user (a tablespace's folder, a password file)."""
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(path, pw.pw_uid, pw.pw_gid)

    def start(self) -> None:
        self._run(
            [
                str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir),
                "-l", str(self.root / "server.log"), "-w", "-t", "60", "start",
            ]
        )

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"])

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL as ``psql -At -c`` does, and return what it prints: one simple query (statements in one
        implicit transaction), every result's rows, fields joined by '|', NULL as nothing. For setup, not for
        the engine. Over the cluster's own socket with psycopg: a tenth of psql's start-up, which the tests
        pay a thousand times a run."""
        import psycopg
        from psycopg.pq import ExecStatus

        lines: list[str] = []
        try:
            with psycopg.connect(host=str(self.root), port=self.port, user=self.user, dbname=dbname,
                                 autocommit=True) as conn:
                cursor = conn.execute(sql.encode())  # no parameters: the simple protocol, as psql sends it
                while True:
                    result = cursor.pgresult
                    if result is not None and result.status == ExecStatus.TUPLES_OK:
                        lines += ["|".join((result.get_value(row, col) or b"").decode()
                                           for col in range(result.nfields)) for row in range(result.ntuples)]
                    if not cursor.nextset():
                        break
        except psycopg.Error as exc:
            raise RuntimeError(f"psql failed: {str(exc).strip()}") from None
        return "\n".join(lines).strip()

    def load_sql_file(self, path: Path, dbname: str) -> None:
        """Load a .sql or .sql.gz file."""
        if path.suffix == ".gz":
            self._psql([], dbname, f"loading {path.name}", stdin=gzip.decompress(path.read_bytes()).decode())
        else:
            self._psql(["-f", str(path)], dbname, f"loading {path.name}")

    def _psql(self, args: list[str], dbname: str, what: str, stdin: str | None = None) -> str:
        proc = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", pg.dbname_arg(dbname), *args],
            env={**os.environ, **self.env()}, capture_output=True, text=True, check=False, input=stdin,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{what} failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def load_pagila(self, dbname: str = "pagila", dataset_dir: Path | None = None) -> None:
        schema, data = pagila_files(dataset_dir or find_pagila())
        self.psql(f'CREATE DATABASE "{dbname}"')
        self.load_sql_file(schema, dbname)
        self.load_sql_file(data, dbname)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def find_pagila() -> Path:
    """$BACKUP_TUI_PAGILA, else the shared datasets folder beside the checkout, else the copy we ship."""
    env = os.environ.get("BACKUP_TUI_PAGILA")
    for cand in [Path(env)] if env else [SHARED_PAGILA, BUNDLED_PAGILA]:
        if any((cand / name).exists() for name in ("pagila-schema.sql", "pagila-schema.sql.gz")):
            return cand
    raise ConfigError("pagila dataset not found: set BACKUP_TUI_PAGILA to the folder with pagila-schema.sql")


def pagila_files(folder: Path) -> tuple[Path, Path]:
    """Schema and data files in ``folder``, plain or gzipped."""
    found = []
    for stem in ("pagila-schema.sql", "pagila-data.sql"):
        plain = folder / stem
        found.append(plain if plain.exists() else folder / f"{stem}.gz")
    return found[0], found[1]


def start_sandbox(settings: dict[str, str] | None = None) -> Sandbox:
    """initdb + start in a fresh folder the postgres OS user can reach (under 1 s)."""
    bin_dir = find_server_bin()
    root = Path(tempfile.mkdtemp(prefix="backup-tui-pg-", dir="/tmp"))
    os.chmod(root, 0o755)
    sandbox = Sandbox(root=root, port=free_port(), bin_dir=bin_dir)
    sandbox.chown_to_server(root)
    try:
        sandbox.init(settings)
        deadline = time.monotonic() + 30
        while True:
            try:
                sandbox.start()
                break
            except RuntimeError:
                # Port raced with another process: pick another one.
                if time.monotonic() > deadline:
                    raise
                sandbox.port = free_port()
                with open(sandbox.data_dir / "postgresql.conf", "a", encoding="utf-8") as fh:
                    fh.write(f"port = {sandbox.port}\n")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return sandbox
