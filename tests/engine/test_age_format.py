"""Our age format stages against pyrage (rage, the Rust implementation): each opens what the other
writes, at every size that moves a chunk boundary; keys as age-keygen writes them; what is cut short,
altered or opened with the wrong key is told apart."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pyrage
import pytest
import zstandard

from backup_tui.engine.core.encryption import (
    Identity,
    KeyMismatch,
    parse_encryption,
    parse_identities,
    parse_recipients,
    recipient_key,
)
from backup_tui.engine.core.errors import ConfigError, VerificationError
from backup_tui.engine.core.kinds import Reading
from backup_tui.engine.core.progress import CancelToken
from backup_tui.engine.stream.crypto import CHUNK, Decryptor, Encryptor, opened_by, public_key
from backup_tui.engine.stream.pipeline import compress, decode
from backup_tui.engine.stream.sinks import FileSink
from backup_tui.engine.stream.sources import FileSource

VALID = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"  # the age specification's example recipient
SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 1_000_003]


def keypair() -> tuple[pyrage.x25519.Identity, str]:
    identity = pyrage.x25519.Identity.generate()
    return identity, str(identity.to_public())


def ours(identity: pyrage.x25519.Identity) -> tuple[Identity, ...]:
    return parse_identities(str(identity), "test")


def encrypt(data: bytes, recipients: list[str], block: int = 70_000) -> bytes:
    stage = Encryptor(recipients)
    return b"".join(stage.update(data[i:i + block]) for i in range(0, len(data), block)) + stage.finish()


def decrypt(blob: bytes, identities: tuple[Identity, ...], block: int = 1000) -> bytes:
    stage = Decryptor(identities)
    return b"".join(stage.update(blob[i:i + block]) for i in range(0, len(blob), block)) + stage.finish()


@pytest.mark.parametrize("size", SIZES)
def test_pyrage_opens_what_we_write_and_we_open_what_pyrage_writes(size: int) -> None:
    identity, recipient = keypair()
    data = os.urandom(size)
    assert pyrage.decrypt(encrypt(data, [recipient]), [identity]) == data
    assert decrypt(pyrage.encrypt(data, [identity.to_public()]), ours(identity)) == data


def test_several_recipients_each_open_it_alone() -> None:
    (one, one_pub), (two, two_pub) = keypair(), keypair()
    blob = encrypt(b"rotation" * 1000, [one_pub, two_pub])
    assert pyrage.decrypt(blob, [one]) == pyrage.decrypt(blob, [two]) == b"rotation" * 1000
    assert decrypt(blob, ours(two)) == b"rotation" * 1000


def test_keys_read_as_age_keygen_writes_them() -> None:
    identity, recipient = keypair()
    [parsed] = ours(identity)
    assert public_key(parsed) == recipient
    assert len(recipient_key(recipient)) == 32
    text = f"# created: 2026-01-01T00:00:00Z\n# public key: {recipient}\n{identity}\n\n{keypair()[0]}\n"
    assert len(parse_identities(text, "keys.txt")) == 2, "an identity file may hold the old key and the new"


@pytest.mark.parametrize("bad", ["age1", "age1qqqq", "AGE1XYZ", "ssh-ed25519 AAAA", "npub1abc"])
def test_a_bad_recipient_in_the_config_is_one_line(bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_recipients([VALID, bad] if bad != "age1" else [bad], "encryption.recipients")
    assert "\n" not in caught.value.message and "encryption.recipients[" in caught.value.message


def test_a_recipient_with_a_changed_character_fails_its_checksum() -> None:
    _, recipient = keypair()
    flipped = recipient[:-1] + ("q" if recipient[-1] != "q" else "p")
    with pytest.raises(ConfigError, match="not an age X25519 public key"):
        parse_recipients([flipped], "encryption.recipients")


def test_the_encryption_table_is_checked_key_by_key(tmp_path: Path) -> None:
    _, recipient = keypair()
    parsed = parse_encryption({"recipients": [recipient], "identity_file": "keys.txt"}, tmp_path)
    assert parsed.recipients == (recipient,) and parsed.identity_file == tmp_path / "keys.txt"
    with pytest.raises(ConfigError, match="unknown key"):
        parse_encryption({"recipient": [recipient]}, tmp_path)
    with pytest.raises(ConfigError, match="must be a list"):
        parse_encryption({"recipients": recipient}, tmp_path)


def test_an_identity_file_line_that_is_no_key_is_named_by_number_only() -> None:
    secret_looking = "AGE-SECRET-KEY-1QQQQQQQQ"
    with pytest.raises(ConfigError) as caught:
        parse_identities(f"# comment\n{secret_looking}\n", "keys.txt")
    assert "line 2" in caught.value.message and secret_looking not in caught.value.message


def test_the_wrong_key_is_a_key_mismatch_not_damage() -> None:
    _, recipient = keypair()
    blob = encrypt(b"x" * 10, [recipient])
    with pytest.raises(KeyMismatch):
        decrypt(blob, ours(keypair()[0]))


Cut = Callable[[bytes], bytes] | None
DAMAGE: dict[str, Cut] = {
    "header cut short": lambda b: b[:40],
    "cut within the last chunk": lambda b: b[:-5],
    "cut at a chunk boundary": None,
    "a flipped bit in the payload": lambda b: b[:-500] + bytes([b[-500] ^ 1]) + b[-499:],
    "a flipped bit in the header's stanza": lambda b: b[:30] + bytes([b[30] ^ 1]) + b[31:],
    "not age at all": lambda b: b"\x28\xb5\x2f\xfd" + b[4:],
}


@pytest.mark.parametrize(("what", "cut"), DAMAGE.items(), ids=list(DAMAGE))
def test_damage_is_a_verification_error(what: str, cut: Cut) -> None:
    identity, recipient = keypair()
    data = os.urandom(3 * CHUNK + 10)
    blob = encrypt(data, [recipient])
    if cut is None:  # drop the short last chunk: what remains ends exactly after a full one
        header_and_nonce = len(blob) - 3 * (CHUNK + 16) - (10 + 16)
        damaged = blob[:header_and_nonce + 3 * (CHUNK + 16)]
    else:
        damaged = cut(blob)
    with pytest.raises((VerificationError, KeyMismatch)) as caught:
        decrypt(damaged, ours(identity))
    if what != "a flipped bit in the header's stanza":  # a stanza that no longer opens reads as another key's
        assert isinstance(caught.value, VerificationError), what


def test_a_changed_header_mac_is_damage() -> None:
    identity, recipient = keypair()
    blob = bytearray(encrypt(b"data", [recipient]))
    at = blob.index(b"--- ") + 5
    blob[at] = ord("A") if blob[at] != ord("A") else ord("B")
    with pytest.raises(VerificationError, match="header"):
        decrypt(bytes(blob), ours(identity))


def test_the_pipeline_compresses_then_encrypts_and_hashes_what_is_stored(tmp_path: Path) -> None:
    identity, recipient = keypair()
    data = b"row of a table, somewhat repetitive\n" * 200_000
    chunks = iter([data[i:i + (1 << 20)] for i in range(0, len(data), 1 << 20)] + [b""])
    out = tmp_path / "x.dump.zst"
    stats = compress(lambda n: next(chunks), FileSink(out), level=3, threads=1, cancel=CancelToken(),
                     stages=[Encryptor([recipient])])
    stored = out.read_bytes()
    assert stored.startswith(b"age-encryption.org/v1\n")
    assert stats.stored_bytes == len(stored) and stats.stored_sha256 == hashlib.sha256(stored).hexdigest()
    assert zstandard.ZstdDecompressor().decompressobj().decompress(pyrage.decrypt(stored, [identity])) == data
    received = bytearray()
    back = decode(FileSource(out), Reading(("age", "zstd"), ours(identity)), cancel=CancelToken(),
                  sink=received.extend)
    assert bytes(received) == data and back.stored_sha256 == stats.stored_sha256
    assert public_key(opened_by(FileSource(out), ours(identity))) == recipient
