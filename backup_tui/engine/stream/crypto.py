"""The age format (https://age-encryption.org/v1) with X25519 recipients, as two stream stages:
``Encryptor`` after the compressor, ``Decryptor`` before the decoder. What we store opens with
``age -d -i KEY FILE | zstd -d | pg_restore``, and what age writes opens here.

The only module that imports a crypto library (``cryptography``: X25519, HKDF, ChaCha20-Poly1305,
HMAC), and nothing imports it but lazily, where a backup is encrypted or decrypted: a command that
does neither never loads it. pyrage (the age format over Rust's rage) was the suggestion, but its
streaming calls (``encrypt_io``/``decrypt_io``) pull from a reader and push to a writer in one call
that holds the GIL to the end, where the pipeline pushes blocks, checks a cancel between them, and
must read a header alone (does this key open it?) before a restore creates anything. The tests hold
this module to pyrage and to the age command both ways.

Memory is bounded by one block in and out plus a 64 KiB chunk, whatever the size.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from backup_tui.engine.core.encryption import AGE_INTRO, Identity, KeyMismatch, recipient_key, recipient_text
from backup_tui.engine.core.errors import VerificationError
from backup_tui.engine.stream.sources import Source

INTRO = AGE_INTRO
CHUNK = 64 * 1024  # plaintext bytes per payload chunk (the format's, fixed)
TAG = 16
SEALED = CHUNK + TAG
NONCE = 16
FILE_KEY = 16
LINE = 64  # base64 columns of a stanza's body
MAX_HEADER = 1 << 20  # thousands of recipients fit; past this the file is not an age file of ours
X25519_LABEL = b"age-encryption.org/v1/X25519"
_ZERO_NONCE = bytes(12)


def _hkdf(secret: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _unb64(text: bytes) -> bytes | None:
    """Canonical unpadded base64 only, as the format requires; None for anything else."""
    try:
        data = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if _b64(data) == text else None


def _private(identity: Identity) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(identity.secret)


def public_key(identity: Identity) -> str:
    """The ``age1...`` recipient of an identity: what a manifest names and a message may show."""
    return recipient_text(_private(identity).public_key().public_bytes_raw())


def _header_mac(file_key: bytes, header: bytes) -> bytes:
    return hmac.new(_hkdf(file_key, b"", b"header"), header, hashlib.sha256).digest()


def _chunk_nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _stanza(file_key: bytes, recipient: bytes) -> bytes:
    ephemeral = X25519PrivateKey.generate()
    share = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient))
    body = _b64(ChaCha20Poly1305(_hkdf(shared, share + recipient, X25519_LABEL)).encrypt(_ZERO_NONCE, file_key, None))
    lines = [body[i:i + LINE] for i in range(0, len(body), LINE)]
    if len(body) % LINE == 0:
        lines.append(b"")  # a body ends with a line shorter than a full one, empty if need be
    return b"-> X25519 " + _b64(share) + b"\n" + b"".join(line + b"\n" for line in lines)


class Encryptor:
    """Encrypts the stream pushed through it to ``recipients``: ``update`` returns what is ready,
    ``finish`` the rest. The last chunk is held back until the end, since it is sealed as the last."""

    def __init__(self, recipients: Sequence[str]) -> None:
        if not recipients:
            raise ValueError("encryption needs at least one recipient")
        file_key, nonce = os.urandom(FILE_KEY), os.urandom(NONCE)
        header = INTRO + b"".join(_stanza(file_key, recipient_key(r)) for r in recipients) + b"---"
        self._pending = header + b" " + _b64(_header_mac(file_key, header)) + b"\n" + nonce
        self._aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
        self._buf = bytearray()
        self._counter = 0

    def _seal(self, chunk: bytes | bytearray | memoryview, last: bool) -> bytes:
        sealed = self._aead.encrypt(_chunk_nonce(self._counter, last), chunk, None)
        self._counter += 1
        return sealed

    def update(self, data: bytes) -> bytes:
        out = [self._pending]
        self._pending = b""
        view = memoryview(data)
        if self._buf:  # a chunk begun by the last block: filled first, sealed only once more follows
            room = CHUNK - len(self._buf)
            if len(view) <= room:
                self._buf += view
                return b"".join(out)
            self._buf += view[:room]
            out.append(self._seal(self._buf, last=False))
            view = view[room:]
        whole = (len(view) - 1) // CHUNK if len(view) else 0  # keep at least one byte back: the last chunk's
        out.extend(self._seal(view[i * CHUNK:(i + 1) * CHUNK], last=False) for i in range(whole))
        self._buf = bytearray(view[whole * CHUNK:])
        return b"".join(out)

    def finish(self) -> bytes:
        tail = self._pending + self._seal(bytes(self._buf), last=True)
        self._pending, self._buf = b"", bytearray()
        return tail


class Decryptor:
    """Decrypts an age stream pushed through it with the first of ``identities`` that opens it
    (``opened_by`` says which). A stream none of them opens raises KeyMismatch; one that is not age,
    is cut short, or was altered raises VerificationError naming where."""

    def __init__(self, identities: Sequence[Identity]) -> None:
        self._identities = tuple(identities)
        self._buf = bytearray()
        self._aead: ChaCha20Poly1305 | None = None
        self._counter = 0
        self._offset = 0  # stored bytes consumed before self._buf, for messages
        self.opened_by: Identity | None = None

    def update(self, data: bytes) -> bytes:
        buf = self._buf
        buf += data
        if self._aead is None and not self._open_header():
            return b""
        whole = (len(buf) - 1) // SEALED if buf else 0
        if not whole:
            return b""
        with memoryview(buf) as view:
            out = b"".join(self._open(view[i * SEALED:(i + 1) * SEALED], last=False) for i in range(whole))
        del buf[:whole * SEALED]
        return out

    def finish(self) -> bytes:
        if self._aead is None:
            raise VerificationError(f"age header cut short after {len(self._buf):,} bytes (truncated)")
        last = bytes(self._buf)
        if not last:
            raise VerificationError(f"age stream ends early after {self._offset:,} bytes, without its last chunk "
                                    "(truncated)")
        try:
            plain = self._open(last, last=True)
        except VerificationError:
            if len(last) == SEALED and self._opens(last, last=False):
                raise VerificationError(f"age stream ends early after {self._offset + len(last):,} bytes, without "
                                        "its last chunk (truncated)") from None
            raise
        if not plain and self._counter > 1:
            raise VerificationError("age stream ends with an empty chunk after others (not what age writes)")
        self._buf = bytearray()
        return plain

    def _opens(self, sealed: bytes, last: bool) -> bool:
        assert self._aead is not None
        try:
            self._aead.decrypt(_chunk_nonce(self._counter - 1, last), sealed, None)
        except InvalidTag:
            return False
        return True

    def _open(self, sealed: bytes | memoryview, last: bool) -> bytes:
        assert self._aead is not None
        try:
            plain = self._aead.decrypt(_chunk_nonce(self._counter, last), sealed, None)
        except InvalidTag:
            start = self._offset
            raise VerificationError(f"age payload chunk {self._counter} (stored bytes {start:,}-"
                                    f"{start + len(sealed):,}) does not authenticate: altered or damaged") from None
        finally:
            self._counter += 1
        self._offset += len(sealed)
        return plain

    def _open_header(self) -> bool:
        """Parse and open the header once it is all in; False while more is needed."""
        buf = self._buf
        if not bytes(buf[:len(INTRO)]) == INTRO[:len(buf)]:
            raise VerificationError("not an age file: it does not begin with 'age-encryption.org/v1'")
        end = buf.find(b"\n---")
        line_end = buf.find(b"\n", end + 1) if end >= 0 else -1
        if line_end < 0 or len(buf) < line_end + 1 + NONCE:
            if len(buf) > MAX_HEADER:
                raise VerificationError(f"not an age file: no end of header in its first {MAX_HEADER:,} bytes")
            return False
        header = bytes(buf[:end + 4])  # up to and including "---": what the MAC covers
        mac_line = bytes(buf[end + 1:line_end])
        mac = _unb64(mac_line[4:]) if mac_line.startswith(b"--- ") else None
        if mac is None or len(mac) != 32:
            raise VerificationError("age header's MAC line is malformed")
        file_key = self._unwrap(_stanzas(header[len(INTRO):-3]))
        if not hmac.compare_digest(_header_mac(file_key, header), mac):
            raise VerificationError("age header altered: its MAC does not match")
        nonce = bytes(buf[line_end + 1:line_end + 1 + NONCE])
        self._aead = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
        self._offset = line_end + 1 + NONCE
        del buf[:self._offset]
        return True

    def _unwrap(self, stanzas: list[tuple[list[bytes], bytes]]) -> bytes:
        shares = []
        for args, body in stanzas:
            if args[0] != b"X25519":
                continue  # another kind of recipient (or age's grease): not for our identities
            share = _unb64(args[1]) if len(args) == 2 else None
            if share is None or len(share) != 32 or len(body) != FILE_KEY + TAG:
                raise VerificationError("age header holds a malformed X25519 stanza")
            shares.append((share, body))
        for identity in self._identities:
            private = _private(identity)
            mine = private.public_key().public_bytes_raw()
            for share, body in shares:
                try:
                    shared = private.exchange(X25519PublicKey.from_public_bytes(share))
                    key = ChaCha20Poly1305(_hkdf(shared, share + mine, X25519_LABEL)).decrypt(_ZERO_NONCE, body, None)
                except (InvalidTag, ValueError):  # ValueError: a low-order share (all-zero secret)
                    continue
                self.opened_by = identity
                return key
        said = ", ".join(public_key(i) for i in self._identities) or "none"
        raise KeyMismatch(f"none of the keys given ({said}) opens it", remedy="")


def _stanzas(text: bytes) -> list[tuple[list[bytes], bytes]]:
    """The header's recipient stanzas: ``-> TYPE ARGS...`` and a base64 body in 64-column lines."""
    lines = text.split(b"\n")
    if lines[-1] != b"":
        raise VerificationError("age header is malformed")
    lines.pop()
    stanzas: list[tuple[list[bytes], bytes]] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        args = line[3:].split(b" ") if line.startswith(b"-> ") else []
        if not args or not all(a and all(33 <= c <= 126 for c in a) for a in args):
            raise VerificationError("age header holds a malformed stanza line")
        body = b""
        while True:
            i += 1
            if i >= len(lines):
                raise VerificationError("age header holds a stanza without the end of its body")
            part = lines[i]
            if len(part) > LINE:
                raise VerificationError("age header holds a stanza body line that is too long")
            body += part
            if len(part) < LINE:
                break
        decoded = _unb64(body)
        if decoded is None:
            raise VerificationError("age header holds a stanza body that is not base64")
        stanzas.append((args, decoded))
        i += 1
    if not stanzas:
        raise VerificationError("age header names no recipient")
    return stanzas


def opened_by(source: Source, identities: Sequence[Identity]) -> Identity:
    """Which of ``identities`` opens the stored stream, reading its header only (a few hundred bytes).
    KeyMismatch when none does; VerificationError when it is not age or its header was altered."""
    decryptor = Decryptor(identities)
    with source.open() as stored:
        while decryptor.opened_by is None:
            block = stored.read(CHUNK)
            if not block:
                decryptor.finish()  # raises: the header is cut short
            decryptor.update(block)
    return decryptor.opened_by
