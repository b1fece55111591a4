"""Encryption at rest, as far as it is pure: age keys read and checked (Bech32, as age-keygen writes
them), the ``[encryption]`` settings, and the errors a missing or wrong key raises.

Recipients (``age1...``, public) encrypt new backups; identities (``AGE-SECRET-KEY-1...``, private)
are needed only to verify and restore, so a host that only backs up never holds them. The stream
stage that does the cryptography is ``stream.crypto``, the only module that loads a crypto library.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from backup_tui.engine.core.errors import ConfigError

RECIPIENT_HRP = "age"
IDENTITY_HRP = "age-secret-key-"
KEY_BYTES = 32  # X25519
ENCRYPTION = "age"  # what a manifest's ``encryption`` says of an encrypted backup
IDENTITY_VARIABLE = "BACKUP_ENCRYPTION_IDENTITY_FILE"
AGE_INTRO = b"age-encryption.org/v1\n"  # the first line of every file in the age format

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


# How an operator gives the key, in the words of the command line (a plan's refusal_in takes a face's own).
KEY_REMEDY = (f"give the key of one of its recipients with --identity FILE, [encryption] identity_file or "
              f"{IDENTITY_VARIABLE}")


class KeyProblem(ConfigError):
    """No key, or not the right one, to read an encrypted backup: the operator's to fix (exit 2), raised
    before anything is created. ``problem`` says what is wrong without the remedy, for faces that word it."""

    def __init__(self, problem: str, remedy: str = KEY_REMEDY) -> None:
        super().__init__(f"{problem}; {remedy}" if remedy else problem)
        self.problem = problem


class KeyMissing(KeyProblem):
    """An encrypted backup must be read and no identity was given."""


class KeyMismatch(KeyProblem):
    """None of the identities given opens the backup (they are not among its recipients)."""


@dataclass(frozen=True)
class Identity:
    """An age X25519 secret key; ``origin`` names where it came from ("FILE line N"), never its value."""

    secret: bytes = field(repr=False)
    origin: str


@dataclass(frozen=True)
class EncryptionConfig:
    recipients: tuple[str, ...] = ()  # age public keys: new backups are encrypted to each of them
    identity_file: Path | None = None  # age secret keys, one a line: verify and restore only

    @property
    def enabled(self) -> bool:
        return bool(self.recipients)

    @property
    def keyless(self) -> bool:
        """This host encrypts without holding a key (as it should): its backups' full verify runs elsewhere."""
        return self.enabled and self.identity_file is None


# -- Bech32 (BIP 173, without its 90-character cap, as age uses it) ------------


def _polymod(values: Sequence[int]) -> int:
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i, gen in enumerate(_GENERATOR):
            if (top >> i) & 1:
                check ^= gen
    return check


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _regroup(data: Sequence[int], source: int, target: int, pad: bool) -> list[int] | None:
    acc = bits = 0
    out = []
    for value in data:
        acc = (acc << source) | value
        bits += source
        while bits >= target:
            bits -= target
            out.append((acc >> bits) & ((1 << target) - 1))
    if pad and bits:
        out.append((acc << (target - bits)) & ((1 << target) - 1))
    elif not pad and (bits >= source or (acc << (target - bits)) & ((1 << target) - 1)):
        return None
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    words = _regroup(data, 8, 5, pad=True)
    assert words is not None
    polymod = _polymod([*_hrp_expand(hrp), *words, 0, 0, 0, 0, 0, 0]) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_CHARSET[w] for w in words + checksum)


def bech32_decode(text: str) -> tuple[str, bytes] | None:
    """(human-readable part, data) of a valid Bech32 string in one case; None for anything else."""
    if text.lower() != text and text.upper() != text:
        return None
    text = text.lower()
    hrp, sep, rest = text.rpartition("1")
    if not sep or not hrp or len(rest) < 6 or any(c not in _CHARSET for c in rest):
        return None
    if any(not 33 <= ord(c) <= 126 for c in hrp):
        return None
    words = [_CHARSET.index(c) for c in rest]
    if _polymod([*_hrp_expand(hrp), *words]) != 1:
        return None
    data = _regroup(words[:-6], 5, 8, pad=False)
    return None if data is None else (hrp, bytes(data))


# -- keys -------------------------------------------------------------------------


def recipient_key(text: str) -> bytes:
    """The 32-byte X25519 public key of an ``age1...`` recipient; ValueError naming what is wrong."""
    decoded = bech32_decode(text.strip()) if text.strip().startswith("age1") else None
    if decoded is None or decoded[0] != RECIPIENT_HRP or len(decoded[1]) != KEY_BYTES:
        raise ValueError("not an age X25519 public key (age1 followed by 58 characters, as age-keygen prints)")
    return decoded[1]


def recipient_text(key: bytes) -> str:
    return bech32_encode(RECIPIENT_HRP, key)


_SECRET_KEY = re.compile(f"{IDENTITY_HRP}1[{_CHARSET}]{{50,}}", re.IGNORECASE)  # a file named after one is no key


def holds_secret_key(text: str) -> bool:
    """``text`` holds an age secret key (``AGE-SECRET-KEY-1...``), which no error, log or journal may repeat."""
    return _SECRET_KEY.search(text) is not None


NOT_A_RECIPIENT = ("recipients are public keys (age1..., age-keygen -y FILE prints the key's); keep the secret key "
                   "off the hosts that only back up")


def identity_path(text: str, where: str) -> Path:
    """An identity file's path as given. The key itself given in its place is refused without being said: the
    error line reaches cron's mail, the run log and the journal."""
    if holds_secret_key(text):
        raise ConfigError(f"{where} holds an age secret key itself (not repeated here), not the path of a file "
                          "holding it: put the key in a file only its owner reads (chmod 600) and give that path")
    return Path(text)


def parse_recipients(value: object, where: str) -> tuple[str, ...]:
    """``[encryption] recipients``: a list of age public keys, each checked; a bad one is one line."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        if holds_secret_key(repr(value)):
            raise ConfigError(f"{where} holds an age secret key (not repeated here): {NOT_A_RECIPIENT}")
        raise ConfigError(f"{where} must be a list of age public keys (\"age1...\"), not {value!r}")
    keys = []
    for index, text in enumerate(value):
        if holds_secret_key(text):
            raise ConfigError(f"{where}[{index}] is an age secret key (not repeated here): {NOT_A_RECIPIENT}")
        try:
            recipient_key(text)
        except ValueError as exc:
            raise ConfigError(f"{where}[{index}] {text[:80]!r} is {exc}") from None
        keys.append(text.strip())
    return tuple(dict.fromkeys(keys))


def parse_identities(text: str, origin: str) -> tuple[Identity, ...]:
    """The age X25519 identities of an identity file (age-keygen's output; several keys for rotation).
    A line that is not one is named by its number only: it may be a secret."""
    found = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        decoded = bech32_decode(line) if line.upper().startswith("AGE-SECRET-KEY-1") else None
        if decoded is None or decoded[0] != IDENTITY_HRP or len(decoded[1]) != KEY_BYTES:
            raise ConfigError(f"identity file {origin}: line {number} is not an age X25519 secret key "
                              "(AGE-SECRET-KEY-1..., as age-keygen writes)")
        found.append(Identity(decoded[1], f"{origin} line {number}"))
    if not found:
        raise ConfigError(f"identity file {origin} holds no age secret key (AGE-SECRET-KEY-1...)")
    return tuple(found)


def identity_text(secret: bytes) -> str:
    return bech32_encode(IDENTITY_HRP, secret).upper()


def recipients_said(recipients: Sequence[str], shown: int = 3) -> str:
    """'age1abc…' lists as messages name them: short, since a key is 62 characters."""
    names = [f"{r[:12]}…{r[-6:]}" for r in recipients[:shown]]
    more = f" and {len(recipients) - shown} more" if len(recipients) > shown else ""
    return ", ".join(names) + more


def parse_encryption(table: object, base: Path) -> EncryptionConfig:
    """The config file's ``[encryption]`` table; ``identity_file`` relative to the config file's folder."""
    if not isinstance(table, dict):
        raise ConfigError(f"[encryption] must be a table, not {table!r}")
    unknown = set(table) - {"recipients", "identity_file"}
    if unknown:
        raise ConfigError(f"unknown key(s) in [encryption]: {', '.join(sorted(unknown))}")
    recipients = parse_recipients(table["recipients"], "encryption.recipients") if "recipients" in table else ()
    identity = table.get("identity_file")
    if identity is not None and (not isinstance(identity, str) or not identity.strip()):
        raise ConfigError(f"encryption.identity_file must be a path, not {identity!r}")
    path = base / identity_path(identity, "encryption.identity_file") if identity else None
    return EncryptionConfig(recipients, path)
