"""The psql line that reaches a database from this machine as the app reaches it: host, port, user and
service from the configured connection (else libpq's environment, as the app inherited it), never a password.

The restore's result shows it in the terminal app and the CLI prints it: pasted as is into a shell, it
connects, where a bare ``psql -d name`` would try the default socket."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping

from backup_tui.engine.config import DatabaseConfig

_FLAGS = (("-h", "host", "PGHOST"), ("-p", "port", "PGPORT"), ("-U", "user", "PGUSER"))


def psql_command(db: DatabaseConfig, dbname: str, environ: Mapping[str, str] | None = None) -> str:
    """``psql -h db1 -p 5432 -U backup -d name``; ``PGSERVICE=app psql ...`` for a service entry."""
    env = os.environ if environ is None else environ
    words: list[str] = []
    service = db.service or env.get("PGSERVICE")
    if service:
        words.append(f"PGSERVICE={shlex.quote(service)}")
    words.append("psql")
    for flag, field, variable in _FLAGS:
        value = getattr(db, field)
        value = env.get(variable) if value is None else str(value)
        if value:
            words += [flag, shlex.quote(value)]
    words += ["-d", shlex.quote(_dbname_argument(dbname))]
    return " ".join(words)


def _dbname_argument(name: str) -> str:
    """psql reads a -d value with '=' or a URI prefix as a connection string: such a name goes inside one."""
    if "=" not in name and not name.startswith(("postgresql://", "postgres://")):
        return name
    return "dbname='" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"
