"""Backups made by the old shell scripts, so nothing taken before us is orphaned.

    BACKUP_DIR/daily|weekly|monthly/<db>_<YYYYmmdd>_<HHMMSS>.sql.gz
    ... .sql.gz.sha256   (``sha256sum`` output)
    ... .sql.gz.meta     (key=value lines or JSON; whatever fields are there)

They are plain SQL compressed with gzip: verified by sha256 + gzip decoding,
restored through psql. Their timestamps are the local time of the machine that
wrote them, as ``date +%Y%m%d_%H%M%S`` gives.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

from backup_tui.engine.models import BackupRecord, utc_iso
from backup_tui.engine.repository.files import read_history

TIERS = ("daily", "weekly", "monthly")
NAME = re.compile(r"^(?P<db>.+)_(?P<date>\d{8})_(?P<time>\d{6})\.sql\.gz$")


def scan(root: Path) -> list[BackupRecord]:
    records = []
    for tier in TIERS:
        folder = root / tier
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.sql.gz")):
            record = read(path, tier)
            if record is not None:
                records.append(record)
    return records


def read(path: Path, tier: str) -> BackupRecord | None:
    match = NAME.match(path.name)
    if match is None:
        return None
    try:
        taken = datetime.strptime(match["date"] + match["time"], "%Y%m%d%H%M%S").astimezone()
    except ValueError:
        return None
    meta = read_meta(Path(str(path) + ".meta"))
    return BackupRecord(
        id=f"legacy-{tier}-{path.name[: -len('.sql.gz')]}",
        database=match["db"],
        created_at=utc_iso(taken),
        finished_at=utc_iso(taken),
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
        verifications=read_history(Path(str(path) + ".verify.jsonl")),
    )


def read_sidecar(path: Path) -> str | None:
    """The hash from a ``sha256sum`` line (``<hex>  <name>``), or None when absent or malformed."""
    try:
        first = path.read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return None
    if first and re.fullmatch(r"[0-9a-fA-F]{64}", first[0]):
        return first[0].lower()
    return None


def read_meta(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    try:
        data = json.loads(text)
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
    try:
        return int(value) if value else 0
    except ValueError:
        return 0


def delete(path: Path) -> None:
    """Remove a legacy dump with its sidecars."""
    for suffix in ("", ".sha256", ".meta", ".verify.jsonl"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    for report in (path.parent / "reports").glob(f"{path.name}-*.txt"):
        report.unlink(missing_ok=True)
