"""The keys that open encrypted backups: read from the identity file only when an encrypted backup is
read (a host that only backs up never needs one), and held against the backup before a restore or a
verification creates anything.

A key the backup was not encrypted to is the operator's mistake (exit 2); a header that a key among
its recipients does not open, or a file that a key outside them opens, is damage (exit 4): the
manifest's recipients are read as untrusted as every other field.
"""

from __future__ import annotations

import stat

from backup_tui.engine.config import Settings
from backup_tui.engine.core.encryption import (
    Identity,
    KeyMismatch,
    KeyMissing,
    parse_identities,
    recipients_said,
)
from backup_tui.engine.core.errors import ConfigError, VerificationError
from backup_tui.engine.core.kinds import Reading, kind_of
from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.stream.sources import Source

MAX_IDENTITY_BYTES = 1 << 20  # age-keygen writes ~190 bytes a key; past this it is not an identity file


def load_identities(settings: Settings) -> tuple[Identity, ...]:
    """The identities of ``[encryption] identity_file`` (or the variable, or --identity); () when none is set."""
    path = settings.encryption.identity_file
    if path is None:
        return ()
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_IDENTITY_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"identity file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"identity file {path} cannot be read: {exc.strerror or type(exc).__name__}") from None
    if len(data) > MAX_IDENTITY_BYTES:
        raise ConfigError(f"identity file {path} is over {MAX_IDENTITY_BYTES:,} bytes: not an age identity file")
    return parse_identities(data.decode("utf-8", errors="replace"), str(path))


def reading_for(settings: Settings, record: BackupRecord) -> Reading:
    """How this host reads the record's stored bytes: its kind's stages, with the identities when it is
    encrypted. KeyMissing (exit 2) when it is and no identity was given."""
    kind = kind_of(record)
    if not kind.encrypted:
        return Reading(kind.stages)
    identities = load_identities(settings)
    if not identities:
        raise KeyMissing(f"{record.id} is encrypted (to {recipients_said(record.recipients)}) and no key to "
                         "decrypt it was given")
    return Reading(kind.stages, identities)


def checked_reading(settings: Settings, record: BackupRecord, source: Source) -> Reading:
    """``reading_for``, once the identities are known to open the stored bytes (their header only is read).

    KeyMissing or KeyMismatch (exit 2) for the operator's key; VerificationError (exit 4) when the
    header is not age or was altered, or the manifest's recipients do not name the key that opens it."""
    reading = reading_for(settings, record)
    if not reading.identities:
        return reading
    from backup_tui.engine.stream import crypto

    given = {crypto.public_key(i): i for i in reading.identities}
    try:
        opener = crypto.opened_by(source, reading.identities)
    except KeyMismatch:
        named = [key for key in given if key in record.recipients]
        if named:
            raise VerificationError(f"{record.id}: its age header was altered: the key of {recipients_said(named)}, "
                                    "one of its recipients, does not open it") from None
        where = settings.encryption.identity_file
        raise KeyMismatch(f"the key(s) in {where} ({recipients_said(list(given))}) do not open {record.id}, which is "
                          f"encrypted to {recipients_said(record.recipients)} (a backup made before a rotation "
                          "needs the key of its time)") from None
    except VerificationError as exc:
        raise VerificationError(f"{record.id}: {exc.message}") from None
    if crypto.public_key(opener) not in record.recipients:
        raise VerificationError(f"{record.id}: the manifest's recipients do not name the key that opens it "
                                "(the manifest was altered)")
    return reading


def encryption_said(settings: Settings) -> str:
    """What ``config check`` says of encryption: the recipients of new backups, and the identity file's keys
    (ConfigError when it cannot be read or holds none)."""
    config = settings.encryption
    said = [f"new backups encrypted (age) to {recipients_said(config.recipients)}" if config.recipients
            else "new backups not encrypted (no recipients)"]
    identities = load_identities(settings)
    if identities:
        from backup_tui.engine.stream import crypto

        keys = [crypto.public_key(i) for i in identities]
        said.append(f"identity file {config.identity_file} holds the key(s) of {recipients_said(keys)}")
    return "; ".join(said)


def exposed_identity(settings: Settings) -> str | None:
    """The identity file readable by group or others: the one line ``config check`` warns with."""
    path = settings.encryption.identity_file
    try:
        mode = stat.S_IMODE(path.stat().st_mode) if path is not None else 0
    except OSError:
        return None
    if path is None or not mode & (stat.S_IRGRP | stat.S_IROTH):
        return None
    return (f"identity file {path} (the key that decrypts backups) is readable by others (mode {mode:04o}): "
            f"chmod 600 {path}")
