"""One rule for what may be done with a backup, for the engine, the TUI's keys and the CLI."""

from __future__ import annotations

from dataclasses import replace

from backup_tui.engine.core.models import SAFETY_REASON_PREFIX, BackupRecord, Verification
from backup_tui.engine.core.policy import can_pin, can_restore, pin_refusal


def record(status: str, ok: bool | None = None) -> BackupRecord:
    checks = () if ok is None else (Verification(at="2025-01-01T00:00:00Z", level="full", ok=ok),)
    return BackupRecord(id="app-20250101T000000Z", database="app", created_at="2025-01-01T00:00:00Z",
                        finished_at="", duration_s=0.0, format="custom", compression="zstd", raw_bytes=0,
                        stored_bytes=0, sha256="", file_name="", status=status,  # type: ignore[arg-type]
                        verifications=checks)


def test_the_old_scripts_backups_may_be_pinned_and_restored_like_ours() -> None:
    for status in ("valid", "legacy"):
        assert can_pin(record(status)) and can_restore(record(status)) and pin_refusal(record(status)) is None
    for status in ("damaged", "incomplete"):
        assert not can_pin(record(status)) and not can_restore(record(status))
        assert "only complete backups can be pinned" in (pin_refusal(record(status)) or "")


def test_verified_means_complete_and_the_newest_check_passed() -> None:
    assert record("valid", ok=True).verified_ok and record("legacy", ok=True).verified_ok
    assert not record("valid", ok=False).verified_ok and not record("valid").verified_ok
    assert not record("damaged", ok=True).verified_ok


def test_a_safety_backup_names_what_it_preceded_in_one_place() -> None:
    safety = replace(record("valid"), reason=f"{SAFETY_REASON_PREFIX} app-20250102T000000Z-abcd")
    assert safety.is_safety and safety.safety_for == "app-20250102T000000Z-abcd"
    assert record("valid").safety_for == ""
