"""u in the Backups tab uploads the selected backup to S3 (moto's server over HTTP), as a job with progress."""

from __future__ import annotations

from dataclasses import replace

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.core.progress import BytesProgress, CancelToken, ProgressEvent, Reporter
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.tui.app import BackupApp
from backup_tui.tui.services import EngineServices
from tests.conftest import Bucket
from tests.tui.conftest import press_and_settle, running, sync, wait_until

pytestmark = pytest.mark.slow


class Watched(EngineServices):
    """The real engine, the upload's progress events kept for the test to read."""

    seen: list[ProgressEvent]

    def upload(self, record: BackupRecord, reporter: Reporter, cancel: CancelToken) -> BackupRecord:
        self.seen = []

        def both(event: ProgressEvent) -> None:
            self.seen.append(event)
            reporter(event)

        return super().upload(record, both, cancel)


@sync
async def test_u_uploads_the_selected_backup_with_progress(settings: Settings, s3_bucket: Bucket) -> None:
    with_s3 = replace(settings, s3=s3_bucket.config())
    record = run_backup(Context(with_s3), with_s3.databases[0], upload=False)
    services = Watched(with_s3)
    app = BackupApp(with_s3, services=services, refresh_seconds=0)
    app.animation_level = "none"
    async with running(app, (120, 30)) as pilot:
        await wait_until(pilot, lambda: len(app.records) == 1)
        assert app.records[0].locations == ("local",)
        assert app.main.backups.check_action("request", ("upload",)) is True
        await press_and_settle(pilot, "2", "u")
        await wait_until(pilot, lambda: bool(app.jobs) and not app.running_jobs)
        job = app.jobs[max(app.jobs)]
        assert (job.kind, job.state) == ("upload", "done"), job.message
        app.refresh_catalog()
        await wait_until(pilot, lambda: app.records[0].locations == ("local", "s3"))
    assert any(isinstance(e, BytesProgress) and e.step == "upload" and e.done == e.total == record.stored_bytes
               for e in services.seen)
    assert any(k.endswith(f"{record.id}/manifest.json") for k in s3_bucket.objects())
