"""d in the Backups tab deletes a backup held on disk and in the bucket (moto over HTTP) from both: the question
names both places, and nothing of the backup is left in either."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.widgets import Button, Label

from backup_tui.engine.config import Settings
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.upload import run_upload
from backup_tui.tui.app import BackupApp
from backup_tui.tui.screens.dialogs import ConfirmDialog
from backup_tui.tui.services import EngineServices
from tests.conftest import Bucket
from tests.s3server import MotoS3
from tests.tui.conftest import press_and_settle, rendered, running, sync, wait_until
from tests.tui.test_flows import make_app

pytestmark = pytest.mark.slow


@sync
async def test_d_deletes_the_local_copy_and_the_one_in_the_bucket(settings: Settings, s3_bucket: Bucket) -> None:
    with_s3 = replace(settings, s3=s3_bucket.config())
    record = run_backup(Context(with_s3), with_s3.databases[0])
    run_upload(Context(with_s3), record)
    app = BackupApp(with_s3, services=EngineServices(with_s3), refresh_seconds=0)
    app.animation_level = "none"
    async with running(app, (120, 30)) as pilot:
        await wait_until(pilot, lambda: len(app.records) == 1 and app.records[0].locations == ("local", "s3"))
        await press_and_settle(pilot, "2", "d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        text = rendered(app.screen.query_one("#dialog-message", Label))
        assert "from local and s3" in text
        assert f"local: {with_s3.repository}" in text and f"s3: s3://{s3_bucket.name}/" in text
        app.screen.query_one("#yes", Button).press()
        await wait_until(pilot, lambda: not app.records)
    assert not [k for k in s3_bucket.objects() if record.id in k]
    assert not list((with_s3.repository / "backups").glob(f"*/{record.id}"))
    assert Context(with_s3).catalog.list() == []


@sync
async def test_d_with_the_bucket_unreachable_says_so(settings: Settings, s3_bucket: Bucket, moto_s3: MotoS3) -> None:
    with_s3 = replace(settings, s3=replace(s3_bucket.config(), retry_seconds=1))
    record = run_backup(Context(with_s3), with_s3.databases[0])
    run_upload(Context(with_s3), record)
    app, shown = make_app(with_s3, EngineServices(with_s3))
    async with running(app, (120, 30)) as pilot:
        await wait_until(pilot, lambda: len(app.records) == 1 and app.records[0].locations == ("local", "s3"))
        moto_s3.stop()
        try:
            await press_and_settle(pilot, "2", "d")
            await wait_until(pilot, lambda: bool(shown))
        finally:
            moto_s3.start()
        assert not isinstance(app.screen, ConfirmDialog)
        assert "unreachable" in shown[-1], shown
    assert any(k.endswith(f"{record.id}/manifest.json") for k in s3_bucket.objects())
