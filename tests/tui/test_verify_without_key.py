"""Verifying an encrypted backup in the app on a host without its key (one that backs up, with the recipients
only). A full check is refused before it runs, as the CLI refuses it (exit 2, nothing recorded): the backup is not
at fault, so the database must not turn failing over it (the health's "verify of ... failed", and a notice to
whoever is on call). What the app says of it is in its own words, never a command-line flag backup-tui does not
have (``--identity FILE``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from backup_tui.engine.config import Settings
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.health import check_health
from tests.tui.conftest import press_and_settle, running, settle, sync, wait_until
from tests.tui.test_flows import make_app, only_job
from tests.tui.test_wizard_encryption import SIZE, encrypted_settings


@sync
async def test_a_full_verify_without_the_key_is_refused_and_leaves_the_health_alone(
        settings: Settings, pg_sandbox: Sandbox, tmp_path: Path) -> None:
    backing_up, _ = encrypted_settings(settings, tmp_path)
    record = run_backup(Context(backing_up), backing_up.databases[0])
    app, shown = make_app(backing_up)  # the recipients only, as on a host that backs up
    async with running(app, SIZE) as pilot:
        await press_and_settle(pilot, "2", "v", "down", "enter")  # Verify, then "Full"
        job = only_job(app)
        await wait_until(pilot, lambda: not job.running)
        await settle(pilot)
        assert job.state == "failed" and "no key to decrypt it was given" in job.message
        assert app.health and all(h.status != "failing" for h in app.health), [h.reason for h in app.health]
    [health] = check_health(backing_up, datetime.now(UTC)).databases  # what monitor and the notices read
    assert health.status != "failing" and not any("verify of" in r for r in health.reasons), health.reasons
    assert any(record.id in line and "no key" in line for line in shown)  # the toast names the backup and why


@sync
async def test_verify_without_the_key_says_how_to_give_it_in_the_apps_words(
        settings: Settings, pg_sandbox: Sandbox, tmp_path: Path) -> None:
    backing_up, _ = encrypted_settings(settings, tmp_path)
    run_backup(Context(backing_up), backing_up.databases[0])
    app, shown = make_app(backing_up)  # the recipients only, as on a host that backs up
    async with running(app, SIZE) as pilot:
        for keys in (("v", "enter"), ("v", "down", "enter")):  # quick, then full
            before = len(app.jobs)
            await press_and_settle(pilot, "2", *keys)
            job = app.jobs[max(app.jobs)]
            assert len(app.jobs) == before + 1
            await wait_until(pilot, lambda job=job: not job.running)  # type: ignore[misc]
            await settle(pilot)
            said = shown[-1]
            assert "no key to decrypt it was given" in said, shown
            assert "--identity" not in said and "set [encryption] identity_file in the config" in said, said
            assert "--identity" not in job.message
