"""Every kind of damage is caught, named, and exits 4: bit flip, truncation, manifest, sidecar."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.ops.backup import run_backup
from tests.conftest import history_records, run_cli


def flip_bit(record: BackupRecord) -> None:
    path = Path(record.path)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    path.write_bytes(bytes(raw))


def truncate(record: BackupRecord) -> None:
    path = Path(record.path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size - 1000])


def delete_manifest(record: BackupRecord) -> None:
    (Path(record.path).parent / "manifest.json").unlink()


def alter_manifest(record: BackupRecord) -> None:
    manifest = Path(record.path).parent / "manifest.json"
    data = json.loads(manifest.read_text())
    data["row_counts"]["public.actor"] = 199  # an edit that keeps the JSON valid
    manifest.write_text(json.dumps(data))


def garble_manifest(record: BackupRecord) -> None:
    manifest = Path(record.path).parent / "manifest.json"
    manifest.write_text(manifest.read_text()[:50])


def delete_sidecar(record: BackupRecord) -> None:
    Path(record.path + ".sha256").unlink()


def alter_sidecar(record: BackupRecord) -> None:
    Path(record.path + ".sha256").write_text("0" * 64 + "  " + Path(record.path).name + "\n")


CASES: dict[str, tuple[Callable[[BackupRecord], None], str]] = {
    "bit flip": (flip_bit, "checksum mismatch"),
    "truncation": (truncate, "truncated"),
    "manifest missing": (delete_manifest, "manifest missing"),
    "manifest altered": (alter_manifest, "manifest altered"),
    "manifest garbled": (garble_manifest, "manifest unreadable"),
    "sidecar missing": (delete_sidecar, "sidecar missing"),
    "sidecar altered": (alter_sidecar, "sidecar altered"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_damage_is_named_with_exit_4(case: str, settings: Settings, cli_env: dict[str, str]) -> None:
    record = run_backup(settings, settings.databases[0])
    damage, expected = CASES[case]
    damage(record)
    for level in (["--quick"], []):
        proc = run_cli(["verify", record.id, *level], cli_env)
        assert proc.returncode == 4, proc.stderr
        assert expected in proc.stderr
        assert "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    listed = json.loads(run_cli(["list", "--json"], cli_env).stdout)
    entry = next(item for item in listed if item["id"] == record.id)
    if case.startswith("manifest"):
        assert entry["status"] == "damaged"  # never listed as valid, never cleaned up silently
    assert entry["verified"]["ok"] is False


def test_intact_backup_passes_quick_and_full(settings: Settings, cli_env: dict[str, str]) -> None:
    record = run_backup(settings, settings.databases[0])
    assert run_cli(["verify", record.id, "--quick"], cli_env).returncode == 0
    assert run_cli(["verify", record.id], cli_env).returncode == 0
    assert [entry["level"] for entry in history_records(Path(record.path).parent)] == ["quick", "full"]
    reports = {p.name.rsplit("-", 1)[-1]: p.read_text() for p in (Path(record.path).parent / "reports").iterdir()}
    assert sorted(reports) == ["full.txt", "quick.txt"]
    assert all("PASSED" in text for text in reports.values())
    assert "public.rental" in reports["full.txt"]  # the table-by-table comparison
