"""Names an operator types and the names we derive from them: one place decides what is a name.

A database name is a name, never a connection string: PostgreSQL allows almost any text (up to 63
bytes, no NUL byte), so we refuse only what cannot be one and pass the rest so that no tool reads
it as anything else (``postgres.pg.dbname_arg``). Every folder or file named after a database comes
from ``folder_key``, which maps two different names to two different folders ("col x" and "col_x"
used to share one, and one's backup deleted the other's files in progress).

The names the engine gives the databases it makes beside a real one live here too: the code that
makes them and the code that decides what it may drop or list read the same patterns, so a record
in the repository (which others may write) naming any other database is never acted on.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from datetime import UTC, datetime

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


# -- databases the engine makes beside a real one ----------------------------------------

STAMP = "%Y%m%d%H%M%S"
WORK = "restore"  # a replace's work database, loaded and checked before the swap
ASIDE = "pre_restore"  # the database a replace renamed aside, kept for rollback
ROLLED_BACK = "pre_rollback"  # the database a rollback renamed aside
KEPT_TAGS = (ASIDE, ROLLED_BACK)
VERIFY_HEAD_BYTES = 40
SIDE_HASH_HEX = 8  # of a shortened name's sha256: names sharing a head part unless 1 in 4 billion

_SIDE = re.compile(r"(?P<head>.*)__(?P<tag>restore|pre_restore|pre_rollback)_(?P<stamp>[0-9]{14})", re.S)
_VERIFY = re.compile(r"(?P<head>.*)__verify_[0-9a-f]{8}", re.S)


def _head(database: str, room: int) -> str:
    return database.encode()[:room].decode(errors="ignore")


def _side_suffix(tag: str, moment: datetime) -> tuple[str, int]:
    """``__<tag>_<utc>`` and the bytes it leaves a database's name within PostgreSQL's 63."""
    suffix = f"__{tag}_{moment.astimezone(UTC).strftime(STAMP)}"
    return suffix, MAX_IDENT - len(suffix.encode())


def side_name(database: str, tag: str, moment: datetime) -> str:
    """``<db>__<tag>_<utc>``. A name too long for PostgreSQL's 63 bytes with the suffix is shortened and
    marked with a hash of it whole (``<head>_<8 hex>``): two databases that share their first 35 bytes
    would otherwise share their kept copies' names, and a rollback of one would put the other's data live."""
    suffix, room = _side_suffix(tag, moment)
    if len(database.encode()) <= room:
        return database + suffix
    mark = "_" + hashlib.sha256(database.encode()).hexdigest()[:SIDE_HASH_HEX]
    return _head(database, room - len(mark)) + mark + suffix


def verify_name(database: str, token: str) -> str:
    """A full verification's throwaway database: ``<db>__verify_<8 hex>``."""
    return f"{_head(database, VERIFY_HEAD_BYTES)}__verify_{token}"


def stamp_moment(stamp: str) -> datetime | None:
    try:
        return datetime.strptime(stamp, STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def parse_side(name: str) -> tuple[str, str, datetime] | None:
    """(shortened database name, tag, moment) of a name ``side_name`` made; None for any other name."""
    match = _SIDE.fullmatch(name)
    if match is None:
        return None
    moment = stamp_moment(match["stamp"])
    if moment is None or side_name(match["head"], match["tag"], moment) != name:
        return None
    return match["head"], match["tag"], moment


def legacy_side_name(database: str, tag: str, moment: datetime) -> str:
    """The name versions before the hash mark made: the database's name cut to fit, nothing else."""
    suffix, room = _side_suffix(tag, moment)
    return _head(database, room) + suffix


def side_of(database: str, name: str, configured: Collection[str] | None = None) -> tuple[str, datetime] | None:
    """(tag, moment) when ``name`` is a side database of ``database``. With ``configured`` (every configured
    database), a long name's copy made by an older version (cut, no hash) counts too, where no other configured
    database would have made the same name: kept copies from before an upgrade stay listed and usable."""
    parsed = parse_side(name)
    if parsed is None:
        return None
    _, tag, moment = parsed
    if side_name(database, tag, moment) == name:
        return tag, moment
    legacy = legacy_side_name(database, tag, moment)
    if configured is None or legacy != name:
        return None
    if any(other != database and legacy_side_name(other, tag, moment) == name for other in configured):
        return None  # two databases' names begin alike: whose copy it is cannot be told
    return tag, moment


def is_scratch_name(name: str) -> bool:
    """A name only a verify's test restore or a replace's work database has: the only names a scratch
    record may have the engine drop by name alone."""
    verify = _VERIFY.fullmatch(name)
    if verify is not None:
        return len(verify["head"].encode()) <= VERIFY_HEAD_BYTES
    parsed = parse_side(name)
    return parsed is not None and parsed[1] == WORK


def is_kept_name(name: str) -> bool:
    """A database a replace or a rollback renamed aside."""
    parsed = parse_side(name)
    return parsed is not None and parsed[1] in KEPT_TAGS
