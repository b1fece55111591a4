"""Kinds of backup, described once: what decodes the stored bytes, what loads them, what an archive
can tell before it loads. Operations ask a record's kind instead of branching on its format and
compression, so a new kind (a physical base backup with its WAL) is a new entry here, not a new
branch in each operation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from backup_tui.engine.core.encryption import ENCRYPTION, Identity
from backup_tui.engine.core.errors import VerificationError
from backup_tui.engine.core.models import BackupRecord


@dataclass(frozen=True)
class Kind:
    name: str
    decoder: str  # the stream stage that undoes the compression: "zstd" | "gzip" | "none"
    loader: str  # the tool that loads the decoded stream: "pg_restore" | "psql"
    archive: bool  # a pg_dump archive: a table of contents to list, to check needs by, to restore -j from
    ends_with_marker: bool  # a plain dump is complete only with pg_dump's last line (legacy.DumpTail)
    encrypted: bool = False  # the compressed stream was encrypted (age) before it was stored

    @property
    def stages(self) -> tuple[str, ...]:
        """What undoes the stored bytes, in order: the decryption when there is one, then the decoder.
        The one place that says it; ``stream`` builds the stages from these names."""
        return (ENCRYPTION, self.decoder) if self.encrypted else (self.decoder,)

    @property
    def parallel_restore(self) -> bool:
        """pg_restore -j reads a seekable archive: decoded to a file first."""
        return self.archive


_KINDS = {
    ("custom", "zstd"): Kind("pg_dump archive, zstd", "zstd", "pg_restore", archive=True, ends_with_marker=False),
    ("custom", "gzip"): Kind("pg_dump archive, gzip", "gzip", "pg_restore", archive=True, ends_with_marker=False),
    ("custom", "none"): Kind("pg_dump archive", "none", "pg_restore", archive=True, ends_with_marker=False),
    ("plain", "gzip"): Kind("plain SQL, gzip", "gzip", "psql", archive=False, ends_with_marker=True),
    ("plain", "zstd"): Kind("plain SQL, zstd", "zstd", "psql", archive=False, ends_with_marker=True),
    ("plain", "none"): Kind("plain SQL", "none", "psql", archive=False, ends_with_marker=True),
}


def kind_of(record: BackupRecord) -> Kind:
    """The record's kind; a format and compression we do not know is damage, said in one line."""
    kind = _KINDS.get((record.format, record.compression))
    if kind is None:
        raise VerificationError(f"{record.id}: no way to read a {record.format!r} backup compressed with "
                                f"{record.compression!r}")
    if record.encryption:
        return replace(kind, name=f"{kind.name}, encrypted ({record.encryption})", encrypted=True)
    return kind


@dataclass(frozen=True)
class Reading:
    """How one backup's stored bytes are read back: its kind's stages, and the keys a decryption stage
    needs (none for a backup that is not encrypted)."""

    stages: tuple[str, ...]
    identities: tuple[Identity, ...] = field(default=(), repr=False)

    @property
    def decoder(self) -> str:
        return self.stages[-1]
