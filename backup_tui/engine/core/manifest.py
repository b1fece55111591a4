"""Reading a manifest or a history line as the untrusted input it is.

Every field is checked for its type and its range before a record is made of it; what fails is
named in one line (``InvalidRecord``), and the repository lists the backup as damaged with that
reason: never a crash, never a path or a name taken from the file on trust. The manifest's own
checksum proves that the file was not changed by accident; anyone who can write the repository
can recompute it, so it proves nothing about who wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from backup_tui.engine.core.encryption import ENCRYPTION, recipient_key
from backup_tui.engine.core.errors import BackupToolError, ConfigError
from backup_tui.engine.core.levels import AUTO_RANGE
from backup_tui.engine.core.models import (
    ENCRYPTED_MANIFEST_VERSION,
    READABLE_MANIFEST_VERSION,
    BackupRecord,
    Verification,
    manifest_checksum,
    parse_utc,
    utc_iso,
)
from backup_tui.engine.core.names import check_database_name, is_backup_id

MAX_RECORD_BYTES = 16 * 1024 * 1024  # a manifest of 100,000 tables is ~5 MB; past this it is not ours
# A count of bytes or rows past any disk (4 EiB): not a size. JSON's integers have no bound, and one of 400 digits
# read as a size crashed the arithmetic it went into (a float's range ends near 10**308).
MAX_COUNT = 1 << 62
FORMATS = ("custom", "plain")
COMPRESSIONS = ("zstd", "gzip", "none")  # what stream.pipeline decodes
_SHA256 = re.compile(r"[0-9a-f]{64}")


class InvalidRecord(BackupToolError):
    """A manifest or history line that does not validate: the backup is damaged, for this reason."""


def _field(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...], required: bool = True) -> Any:
    if name not in data:
        if required:
            raise InvalidRecord(f"manifest field {name!r} is missing")
        return None
    value = data[name]
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise InvalidRecord(f"manifest field {name!r} has the wrong type ({type(value).__name__})")
    return value


def _count(data: Mapping[str, Any], name: str) -> int:
    value = int(_field(data, name, int))
    if value < 0:
        raise InvalidRecord(f"manifest field {name!r} is negative")
    if value > MAX_COUNT:
        raise InvalidRecord(f"manifest field {name!r} is larger than any disk ({len(str(value))} digits)")
    return value


def _moment(data: Mapping[str, Any], name: str, required: bool = True, milliseconds: bool = True) -> str:
    text = _field(data, name, str, required)
    if text is None or (text == "" and not required):
        return ""
    try:
        moment = parse_utc(text)
    except ValueError:
        raise InvalidRecord(f"manifest field {name!r} is not a UTC time: {text[:40]!r}") from None
    # One form for every record (as utc_iso writes it): times are compared and sorted as strings everywhere
    # (retention's newest-first walk, newest_valid, the listing), and "...T23:00:00+14:00" or a naive time
    # would otherwise sort by its local digits, not by when it was.
    if text in (utc_iso(moment), utc_iso(moment, milliseconds=True)):
        return str(text)  # already in the form we write (a copy elsewhere reads the same)
    return utc_iso(moment, milliseconds=milliseconds)


# PostgreSQL's encodings by the names pg_encoding_to_char gives them (UTF8, SQL_ASCII, WIN1252, ISO_8859_5, ...)
_ENCODING = re.compile(r"[A-Z][A-Z0-9_]{1,31}")


def _database_info(data: Mapping[str, Any]) -> dict[str, str]:
    """The database's properties, each a restore's CREATE DATABASE option: an encoding no server names so is
    damage here, where it was an error from CREATE DATABASE (the value quoted, but the run failed unexplained)."""
    info: dict[str, str] = _str_map(data, "database_info", str)
    encoding = info.get("encoding", "")
    if encoding and not _ENCODING.fullmatch(encoding):
        raise InvalidRecord(f"manifest field 'database_info' names no encoding PostgreSQL has: {encoding[:40]!r}")
    return info


def _level(data: Mapping[str, Any], name: str) -> int:
    """A zstd level "auto" may use (``levels.AUTO_RANGE``); any other number is not known (0), not damage: it
    only says where the next backup's level starts."""
    level = _field(data, name, int, required=False) or 0
    return level if AUTO_RANGE[0] <= level <= AUTO_RANGE[1] else 0


def _str_map(data: Mapping[str, Any], name: str, value_kind: type) -> dict[str, Any]:
    found = _field(data, name, dict, required=False) or {}
    for key, value in found.items():
        if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, value_kind):
            raise InvalidRecord(f"manifest field {name!r} holds a wrong entry ({str(key)[:40]!r})")
    return dict(found)


def parse_manifest(data: object, *, expected_id: str, data_suffix: str, default_host: str) -> BackupRecord:
    """The record a manifest describes, once every field is checked; ``expected_id`` is the folder's
    name (a manifest copied into another backup's folder is not that backup). Manifests written before
    they named their host were written on the machine that reads them (repositories were local then):
    ``default_host``. Raises InvalidRecord."""
    if not isinstance(data, dict):
        raise InvalidRecord("manifest is not a JSON object")
    if data.get("manifest_sha256") != manifest_checksum(data):
        raise InvalidRecord("manifest altered: its checksum does not match")
    backup_id = _field(data, "id", str)
    if backup_id != expected_id or not is_backup_id(backup_id):
        raise InvalidRecord(f"manifest id {backup_id[:80]!r} does not match its folder {expected_id!r}")
    version = _field(data, "manifest_version", int, required=False) or 1
    if not 1 <= version <= READABLE_MANIFEST_VERSION:
        raise InvalidRecord(f"manifest version {version} is not one this version of backup-tui reads")
    database = _field(data, "database", str)
    try:
        check_database_name(database)
    except ConfigError as exc:
        raise InvalidRecord(f"manifest database: {exc.message}") from None
    file_name = _field(data, "file_name", str)
    if file_name != f"{backup_id}{data_suffix}":
        raise InvalidRecord(f"manifest file_name {file_name[:80]!r} is not {backup_id}{data_suffix}")
    fmt, compression = _field(data, "format", str), _field(data, "compression", str)
    if fmt not in FORMATS or compression not in COMPRESSIONS:
        raise InvalidRecord(f"manifest format {fmt[:20]!r} / compression {compression[:20]!r} is not one we read")
    sha256 = _field(data, "sha256", str)
    if not _SHA256.fullmatch(sha256):
        raise InvalidRecord("manifest sha256 is not 64 lowercase hex digits")
    locations = _field(data, "locations", list, required=False) or ["local"]
    if not all(isinstance(x, str) for x in locations):
        raise InvalidRecord("manifest field 'locations' holds a wrong entry")
    encryption, recipients = _encryption(data, version)
    duration = _field(data, "duration_s", (int, float))
    if duration < 0:
        raise InvalidRecord("manifest field 'duration_s' is negative")
    return BackupRecord(
        id=backup_id, database=database, created_at=_moment(data, "created_at"),
        finished_at=_moment(data, "finished_at"), duration_s=float(duration), format=fmt, compression=compression,
        raw_bytes=_count(data, "raw_bytes"), stored_bytes=_count(data, "stored_bytes"), sha256=sha256,
        file_name=file_name, raw_sha256=_field(data, "raw_sha256", str, required=False) or "",
        server_version=_field(data, "server_version", str, required=False) or "",
        tool_versions=_str_map(data, "tool_versions", str),
        compression_level=_field(data, "compression_level", int, required=False) or 0,
        compression_levels=_str_map(data, "compression_levels", int),
        compression_kept=_level(data, "compression_kept"),
        row_counts=_str_map(data, "row_counts", int), database_info=_database_info(data),
        locations=tuple(locations), pinned=bool(_field(data, "pinned", bool, required=False)),
        reason=_field(data, "reason", str, required=False) or "scheduled", manifest_version=version,
        host=_field(data, "host", str, required=False) or default_host,
        encryption=encryption, recipients=recipients,
    )


def _encryption(data: Mapping[str, Any], version: int) -> tuple[str, tuple[str, ...]]:
    """How the stored bytes are encrypted and to whom: "age" to one or more valid age public keys, or
    not at all (neither field). Anything else is damage: read on trust, a forged "not encrypted" would
    send ciphertext to the decoder, a forged recipient would blame the operator's key."""
    encryption = _field(data, "encryption", str, required=False) or ""
    found = _field(data, "recipients", list, required=False)
    if not encryption:
        if found is not None:
            raise InvalidRecord("manifest names recipients but no encryption")
        return "", ()
    if encryption != ENCRYPTION:
        raise InvalidRecord(f"manifest encryption {encryption[:20]!r} is not one we read (age)")
    if version < ENCRYPTED_MANIFEST_VERSION:
        raise InvalidRecord(f"manifest says encrypted but its version is {version}, not {ENCRYPTED_MANIFEST_VERSION}")
    if not found:
        raise InvalidRecord("manifest says encrypted but names no recipient")
    for entry in found:
        try:
            recipient_key(entry if isinstance(entry, str) else "")
        except ValueError:
            raise InvalidRecord(f"manifest recipient {str(entry)[:80]!r} is not an age public key") from None
    return encryption, tuple(found)


def parse_pin(data: object) -> bool:
    """A pin record's word (written once each; the newest counts). Raises InvalidRecord."""
    if not isinstance(data, dict) or not isinstance(data.get("pinned"), bool):
        raise InvalidRecord("pin record without a true/false 'pinned'")
    return bool(data["pinned"])


def parse_verification(data: object) -> Verification:
    """One history entry, checked field by field. Raises InvalidRecord."""
    if not isinstance(data, dict):
        raise InvalidRecord("history entry is not a JSON object")
    level = _field(data, "level", str)
    if level not in ("quick", "full"):
        raise InvalidRecord(f"history entry level {level[:20]!r} is not quick or full")
    texts = {}
    for name in ("problems", "checks", "not_done"):
        items = _field(data, name, list, required=False) or []
        if not all(isinstance(x, str) for x in items):
            raise InvalidRecord(f"history entry field {name!r} holds a wrong entry")
        texts[name] = tuple(items)
    counts = _field(data, "row_counts", dict, required=False) or {}
    for key, pair in counts.items():
        if not (isinstance(pair, list) and len(pair) == 2
                and all(x is None or (isinstance(x, int) and not isinstance(x, bool)) for x in pair)):
            raise InvalidRecord(f"history entry row count of {str(key)[:40]!r} is not [manifest, restored]")
    duration = _field(data, "duration_s", (int, float), required=False) or 0.0
    backup_id = _field(data, "backup_id", str, required=False) or ""
    if backup_id and not is_backup_id(backup_id):
        raise InvalidRecord("history entry names no backup id")
    sha256 = _field(data, "sha256", str, required=False) or ""
    if sha256 and not _SHA256.fullmatch(sha256):
        raise InvalidRecord("history entry sha256 is not 64 hex digits")
    return Verification(
        at=_moment(data, "at", milliseconds=False), level="full" if level == "full" else "quick",
        ok=_field(data, "ok", bool),
        problems=texts["problems"], checks=texts["checks"], not_done=texts["not_done"],
        duration_s=float(duration), row_counts={str(k): list(v) for k, v in counts.items()},
        backup_id=backup_id, sha256=sha256,
    )

