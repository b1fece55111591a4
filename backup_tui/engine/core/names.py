"""Names an operator types and the names we derive from them: one place decides what is a name.

A database name is a name, never a connection string: PostgreSQL allows almost any text (up to 63
bytes, no NUL byte), so we refuse only what cannot be one and pass the rest so that no tool reads
it as anything else (``postgres.pg.dbname_arg``). Every folder or file named after a database comes
from ``folder_key``, which maps two different names to two different folders ("col x" and "col_x"
used to share one, and one's backup deleted the other's files in progress).
"""

from __future__ import annotations

import re

from backup_tui.engine.core.errors import ConfigError

MAX_IDENT = 63  # bytes: PostgreSQL's NAMEDATALEN - 1
_KEY_SAFE = re.compile(r"[A-Za-z0-9_-]")
_ID_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
# A backup id: letters, digits, '_', '.', '-'; never a leading dot ('.', '..', hidden temp files).
BACKUP_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}")


def check_database_name(name: str, what: str = "database name") -> str:
    """``name`` if PostgreSQL could have a database of that name; else a one-line ConfigError."""
    if not name:
        raise ConfigError(f"{what} is empty: give the database's name")
    if "\x00" in name:
        raise ConfigError(f"{what} {name!r} contains a NUL byte, which no database name can")
    if len(name.encode()) > MAX_IDENT:
        raise ConfigError(f"{what} {name!r} is longer than {MAX_IDENT} bytes, PostgreSQL's limit for a name")
    return name


def folder_key(name: str) -> str:
    """The folder (or lock file) for a database: letters, digits, '_' and '-' as they are, every other
    byte as %XX. One name, one key, and back: never '..', never a slash, never shared by two names."""
    return "".join(ch if _KEY_SAFE.fullmatch(ch) else "".join(f"%{b:02X}" for b in ch.encode())
                   for ch in name) or "%"


def id_prefix(name: str) -> str:
    """The database part of a backup id: short and typeable (the folder, not the id, tells names apart)."""
    return _ID_SAFE.sub("_", name).lstrip(".") or "_"


def is_backup_id(text: str) -> bool:
    return BACKUP_ID.fullmatch(text) is not None
