"""Backups made by the old shell scripts, so nothing taken before us is orphaned.

    BACKUP_DIR/daily|weekly|monthly/<db>_<YYYYmmdd>_<HHMMSS>.sql.gz
    ... .sql.gz.sha256   (``sha256sum`` output)
    ... .sql.gz.meta     (key=value lines or JSON; whatever fields are there)
    ... .sql.gz.pinned   (ours: present while the backup is pinned)

They are plain SQL compressed with gzip: verified by sha256 + gzip decoding +
pg_dump's completion line at the end, restored through psql. Their timestamps
are the local time of the machine that wrote them, as ``date +%Y%m%d_%H%M%S`` gives.
"""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from backup_tui.engine.core.errors import VerificationError
from backup_tui.engine.core.manifest import MAX_COUNT, InvalidRecord
from backup_tui.engine.core.models import BackupRecord, Verification, parse_utc, utc_iso
from backup_tui.engine.core.names import MAX_IDENT
from backup_tui.engine.core.untrusted_json import load_json
from backup_tui.engine.storage.files import RECORD_LIMIT, append_line, atomic_write, read_capped, read_history
from backup_tui.engine.storage.state import this_host

TIERS = ("daily", "weekly", "monthly")
NAME = re.compile(r"^(?P<db>.+)_(?P<date>\d{8})_(?P<time>\d{6})\.sql\.gz$")
SIDECARS = (".sha256", ".meta", ".verify.jsonl", ".pinned")
PLAIN_DUMP_END = b"PostgreSQL database dump complete"
CUT_SHORT = "plain dump is cut short: no 'dump complete' line at its end"
NO_SIDECAR = ("no .sha256 beside it: checked that gzip decodes to its end and the dump is complete, "
              "nothing more")


def readable_by_others(root: Path) -> tuple[list[Path], list[Path]]:
    """The old scripts' dumps another local user can read (the old kit wrote them under umask 022): the dumps,
    and the tier folders that let that user in. We never change the modes of the old scripts' files, so
    ``config check`` names them; closing the folders is enough."""
    dumps: list[Path] = []
    folders: list[Path] = []
    try:
        into_root = root.stat().st_mode
    except OSError:
        return dumps, folders
    for folder, path in _dumps(root):
        try:
            into, mode = into_root & folder.stat().st_mode, path.lstat().st_mode
        except OSError:
            continue
        if (into & stat.S_IXGRP and mode & stat.S_IRGRP) or (into & stat.S_IXOTH and mode & stat.S_IROTH):
            dumps.append(path)
            if folder not in folders:
                folders.append(folder)
    return dumps, folders


def scan(root: Path) -> list[BackupRecord]:
    return [record for folder, path in _dumps(root) if (record := read(path, folder.name)) is not None]


def _dumps(root: Path) -> Iterator[tuple[Path, Path]]:
    """Each dump the old scripts left, with its tier folder, in name order: a plain file named their way, in a tier
    folder that is no link (a link is not followed out of the repository)."""
    for tier in TIERS:
        folder = root / tier
        if folder.is_symlink() or not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.sql.gz")):
            if NAME.match(path.name) and not path.is_symlink() and path.is_file():
                yield folder, path


def read(path: Path, tier: str) -> BackupRecord | None:
    match = NAME.match(path.name)
    if match is None or len(match["db"].encode()) > MAX_IDENT:
        return None
    try:
        created_at = utc_iso(datetime.strptime(match["date"] + match["time"], "%Y%m%d%H%M%S").astimezone())
        parse_utc(created_at)  # a year no record is dated in (YEARS): as no date, not a listing that stops
    except (ValueError, OverflowError):  # 99991231 west of UTC is past the calendar's end
        return None
    meta = read_meta(Path(str(path) + ".meta"))
    return BackupRecord(
        id=f"legacy-{tier}-{path.name[: -len('.sql.gz')]}",
        database=match["db"],
        created_at=created_at,
        finished_at=created_at,
        duration_s=0.0,
        format="plain",
        compression="gzip",
        raw_bytes=_int(meta.get("uncompressed_size") or meta.get("raw_size") or meta.get("raw_bytes")),
        stored_bytes=path.stat().st_size,
        sha256=read_sidecar(Path(str(path) + ".sha256")) or "",
        file_name=path.name,
        server_version=str(meta.get("server_version") or meta.get("postgres_version") or ""),
        reason=f"legacy {tier}",
        status="legacy",
        path=str(path),
        pinned=Path(str(path) + ".pinned").exists(),
        verifications=read_history(Path(str(path) + ".verify.jsonl")),
        host=this_host(),  # the old scripts ran on the machine whose disk holds them
    )


def read_sidecar(path: Path) -> str | None:
    """The hash from a ``sha256sum`` line (``<hex>  <name>``), or None when absent or malformed."""
    try:
        return sidecar_digest(read_capped(path, RECORD_LIMIT).split())
    except (OSError, InvalidRecord):
        return None


def sidecar_digest(words: list[str]) -> str | None:
    """The hash a sidecar's words begin with, lowercased; None when they begin with anything else."""
    if words and re.fullmatch(r"[0-9a-fA-F]{64}", words[0]):
        return words[0].lower()
    return None


def read_meta(path: Path) -> dict[str, str]:
    try:
        text = read_capped(path)
    except (OSError, InvalidRecord):
        return {}
    try:
        data = load_json(text)
        if isinstance(data, dict):
            return {str(k).lower(): str(v) for k, v in data.items()}
    except ValueError:
        pass
    meta = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=") if "=" in line else line.partition(":")
        if sep:
            meta[key.strip().lower()] = value.strip().strip('"')
    return meta


def _int(value: str | None) -> int:
    """A size from the old scripts' metadata; 0 (not known) where it is none, or past any disk."""
    try:
        number = int(value) if value else 0
    except ValueError:  # not a number, or past Python's 4300 digits
        return 0
    return number if 0 <= number <= MAX_COUNT else 0


def sidecar_missing(record: BackupRecord) -> bool:
    """A legacy dump left without a .sha256: only its gzip stream and its end can be checked."""
    return record.status == "legacy" and not Path(record.path + ".sha256").exists()


class DumpTail:
    """The last bytes of a decoded plain dump, fed chunk by chunk: pg_dump writes its completion line last,
    so a dump cut short (a full disk, a killed script) still gzips and hashes cleanly but lacks it."""

    KEEP = 256  # room for the line, the comment after it and newer pg_dumps' "\unrestrict <key>" line

    def __init__(self) -> None:
        self._tail = bytearray()

    def feed(self, raw: bytes) -> None:
        self._tail.extend(raw[-self.KEEP:])
        del self._tail[:-self.KEEP]

    @property
    def complete(self) -> bool:
        return PLAIN_DUMP_END in self._tail

    def check(self, name: str) -> None:
        """Raise the verification failure verify reports, for a stream decoded to its end."""
        if not self.complete:
            raise VerificationError(f"{name}: {CUT_SHORT}")


def set_pinned(path: Path, pinned: bool) -> None:
    """The old files stay as the scripts wrote them: a pin is a marker beside them, like the history."""
    marker = Path(str(path) + ".pinned")
    if pinned:
        atomic_write(marker, f"pinned by backup-tui at {utc_iso(datetime.now().astimezone())}\n")
    else:
        marker.unlink(missing_ok=True)


def delete(path: Path) -> None:
    """Remove a legacy dump with its sidecars."""
    for suffix in ("", *SIDECARS):
        Path(str(path) + suffix).unlink(missing_ok=True)
    reports = path.parent / "reports"
    if not reports.is_symlink():
        for report in reports.glob(f"{path.name}-*.txt"):
            report.unlink(missing_ok=True)


def append_history(path: Path, result: Verification) -> None:
    """The old files stay as the scripts wrote them: verifications go to a history beside them."""
    append_line(Path(str(path) + ".verify.jsonl"), json.dumps(result.to_json(), sort_keys=True) + "\n")
