"""Stages between the compressor and the stored bytes: what a backup adds after compressing (on the
way in) and takes off before decoding (on the way out). Encryption is the one there is; its library
is loaded here, lazily, only when a backup is encrypted or decrypted.

Which stages a backup has is said once, by its kind (``core.kinds.Kind.stages``); this module only
builds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from backup_tui.engine.core.encryption import ENCRYPTION
from backup_tui.engine.core.errors import VerificationError
from backup_tui.engine.core.kinds import Reading


class Stage(Protocol):
    def update(self, data: bytes) -> bytes:
        """Transform the next block; returns what is ready (maybe nothing yet)."""
        ...

    def finish(self) -> bytes:
        """The rest, at the end of the stream; raises VerificationError for a stream cut short."""
        ...


def write_stages(recipients: Sequence[str]) -> list[Stage]:
    """After zstd, for a new backup: age encryption to ``recipients`` when there are any."""
    if not recipients:
        return []
    from backup_tui.engine.stream.crypto import Encryptor

    return [Encryptor(recipients)]


def read_stages(reading: Reading) -> list[Stage]:
    """Before the decoder: every stage of ``reading`` but the decoder itself, outermost first."""
    stages: list[Stage] = []
    for name in reading.stages[:-1]:
        if name != ENCRYPTION:
            raise VerificationError(f"no way to read a stream stage {name!r}")
        from backup_tui.engine.stream.crypto import Decryptor

        stages.append(Decryptor(reading.identities))
    return stages
