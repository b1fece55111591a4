"""The app opened while the bucket does not answer (moto stopped): the alerts say first that the bucket was not
read, for every card below is judged without its backups (a database kept only in the bucket reads "no valid
backup", the others "local only"): never the silent picture of a fleet that lost its remote copies."""

from __future__ import annotations

from dataclasses import replace

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.storage import s3
from backup_tui.tui.services import EngineServices
from backup_tui.tui.widgets.dashboard import AlertsBox
from tests.conftest import Bucket
from tests.s3server import MotoS3
from tests.tui.conftest import SIZE, rendered, running, settle, sync
from tests.tui.test_flows import make_app

pytestmark = pytest.mark.slow


@sync
async def test_the_alerts_say_first_that_the_bucket_was_not_read(settings: Settings, s3_bucket: Bucket,
                                                               moto_s3: MotoS3,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    bucket_only = replace(settings, s3=replace(s3_bucket.config(keep_local=False), retry_seconds=1))
    run_backup(Context(bucket_only), bucket_only.databases[0])
    monkeypatch.setattr(s3, "LIST_TTL_S", 0.0)  # a new process: no listing of the backup's own to open on
    app, _ = make_app(bucket_only, EngineServices(bucket_only))
    moto_s3.stop()
    try:
        async with running(app, SIZE) as pilot:
            await settle(pilot, timeout=60)
            alerts = rendered(app.main.dashboard.query_one("#alerts", AlertsBox))
    finally:
        moto_s3.start()
    assert alerts.startswith("✖ s3 not read, its backups not counted below: S3 at "), alerts
    assert "unreachable" in alerts
