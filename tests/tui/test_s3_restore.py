"""The restore wizard on a backup only the bucket holds (moto over HTTP, the real test cluster): the plan says it
downloads from s3://..., and the result has the restored tables' row counts."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.widgets import Button, DataTable, Input, Static

from backup_tui.engine.config import Settings
from backup_tui.engine.core.models import RestoreResult
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.tui.app import BackupApp
from backup_tui.tui.screens.restore import RestoreWizard
from backup_tui.tui.services import EngineServices
from tests.conftest import Bucket
from tests.tui.conftest import press_and_settle, rendered, running, settle, sync, wait_until

pytestmark = pytest.mark.slow


@sync
async def test_the_wizard_restores_a_backup_only_the_bucket_holds(
    settings: Settings, s3_bucket: Bucket, pg_sandbox: Sandbox,
) -> None:
    bucket_only = replace(settings, s3=s3_bucket.config(keep_local=False))  # streamed straight to the bucket
    db = bucket_only.databases[0]
    record = run_backup(Context(bucket_only), db)
    assert Context(bucket_only).catalog.get(record.id).locations == ("s3",)
    copy = f"{db.database}_from_s3"
    app = BackupApp(bucket_only, services=EngineServices(bucket_only), refresh_seconds=0)
    app.animation_level = "none"
    async with running(app, (120, 40)) as pilot:
        await wait_until(pilot, lambda: len(app.records) == 1)
        await press_and_settle(pilot, "2", "r")
        wizard = app.screen
        assert isinstance(wizard, RestoreWizard)
        wizard.query_one("#to-target", Button).press()
        await settle(pilot)
        wizard.query_one("#target-name", Input).value = copy
        await settle(pilot)
        wizard.query_one("#to-plan", Button).press()
        await wait_until(pilot, lambda: wizard.step == "plan" and wizard.plan is not None)
        await settle(pilot)
        said = rendered(wizard.query_one("#plan-text", Static))
        assert f"read from s3://{s3_bucket.name}/" in said and "downloads" in said, said
        wizard.query_one("#run", Button).press()
        await wait_until(pilot, lambda: wizard.job is not None and not wizard.job.running, timeout=120)
        await settle(pilot)
        assert wizard.step == "result", wizard.job.message if wizard.job else ""
        result = wizard.job.result if wizard.job else None
        assert isinstance(result, RestoreResult)
        assert result.row_counts["public.rental"] == [16044, 16044]
        assert wizard.query_one("#result-table", DataTable).row_count == len(result.row_counts) > 0
    assert pg_sandbox.psql("SELECT count(*) FROM rental", copy).strip() == "16044"
    assert not list(bucket_only.repository.glob(f"backups/*/{record.id}"))  # nothing came down to disk
