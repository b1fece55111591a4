"""The app on a bucket (moto's server over HTTP, the real engine): every backup listed at once from the bucket's
listing, not read yet, then filled in as the manifests are read; a key on a row not read yet reads it first."""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from textual.widgets import Label, Static

from backup_tui.engine.config import DatabaseConfig, Settings
from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.storage.s3 import S3Repository
from backup_tui.tui.app import BackupApp
from backup_tui.tui.services import EngineServices
from tests.conftest import Bucket
from tests.engine.test_s3_catalog_steps import made, new_process, put
from tests.tui.conftest import rendered, sync, wait_until


class Gated(EngineServices):
    """The real engine's catalog in steps, held after the listing until the test lets it read the manifests."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.gate = threading.Event()

    def catalog_in_steps(self) -> Generator[tuple[list[BackupRecord], bool]]:
        steps = super().catalog_in_steps()
        try:
            yield next(steps)
            self.gate.wait(30)
            yield from steps
        finally:
            steps.close()


@pytest.fixture
def bucket_app(s3_bucket: Bucket, tmp_path: Path) -> Iterator[tuple[BackupApp, Gated, list[BackupRecord]]]:
    new_process()
    (tmp_path / "repo").mkdir()
    settings = Settings(repository=tmp_path / "repo", s3=s3_bucket.config(),
                        databases=(DatabaseConfig(name="alpha", port=1), DatabaseConfig(name="beta", port=1)))
    repo = S3Repository(s3_bucket.config())
    records = [made("alpha", n) for n in range(5)] + [made("beta", n) for n in range(4)]
    for record in records:
        put(repo, record)
    services = Gated(settings)
    app = BackupApp(settings, services=services, refresh_seconds=0)
    app.animation_level = "none"
    yield app, services, records
    services.gate.set()
    new_process()


def id_cell(app: BackupApp, backup_id: str) -> str:
    return str(app.main.backups.table.get_cell(backup_id, "id"))


@sync
async def test_rows_appear_unread_then_fill_in(bucket_app: tuple[BackupApp, Gated, list[BackupRecord]]) -> None:
    app, services, records = bucket_app
    async with app.run_test(size=(160, 40)) as pilot:  # not ``running``: it waits for every worker
        await wait_until(pilot, lambda: app.main.backups.table.row_count == len(records))
        assert app.catalog_complete == 0
        assert {r.status for r in app.records} == {"unread"}
        assert all("not read yet" in id_cell(app, r.id) for r in records)
        assert app.health == [], "no database judged on backups not read"
        alerts = app.main.dashboard.query_one("#alerts", Static)
        assert "reading manifests from S3: alpha, beta judged once read" in rendered(alerts)
        services.gate.set()
        await wait_until(pilot, lambda: app.catalog_complete > 0)
        await wait_until(pilot, lambda: all("not read yet" not in id_cell(app, r.id) for r in records))
        assert {r.status for r in app.records} == {"valid"}
        assert {h.database for h in app.health} == {"alpha", "beta"}
        await wait_until(pilot, lambda: "reading manifests" not in rendered(alerts))
        assert app.records[0].row_counts == records[4].row_counts  # alpha's newest, filled from its manifest


@sync
async def test_a_key_on_a_row_not_read_yet_reads_it_then_acts(
        bucket_app: tuple[BackupApp, Gated, list[BackupRecord]], s3_bucket: Bucket) -> None:
    app, services, records = bucket_app
    newest = records[4]  # alpha's newest: the table's first row
    async with app.run_test(size=(160, 40)) as pilot:  # not ``running``: it waits for every worker
        await wait_until(pilot, lambda: app.main.backups.table.row_count == len(records))
        await pilot.press("2")
        await wait_until(pilot, lambda: app.main.backups.selected is not None)
        selected = app.main.backups.selected
        assert selected is not None and selected.id == newest.id and selected.status == "unread"
        assert app.main.backups.check_action("request", ("pin",)) is True, "offered: it is read first"
        await pilot.press("p")
        await wait_until(pilot, lambda: any(f"{newest.id}/pins/" in k for k in s3_bucket.objects()))
        await wait_until(pilot, lambda: "not read yet" not in id_cell(app, newest.id))
        assert app.catalog_complete == 0, "read ahead of the rest, which still wait"
        messages = [n.message for n in app._notifications]
        assert any(f"Reading {newest.id} from S3 first" in m for m in messages)
        services.gate.set()
        await wait_until(pilot, lambda: app.catalog_complete > 0)
        await wait_until(pilot, lambda: app.records[0].pinned)  # the refresh the pin asked for, once the fill ended


@sync
async def test_the_restore_wizard_says_what_it_cannot_offer_yet(
        bucket_app: tuple[BackupApp, Gated, list[BackupRecord]]) -> None:
    app, services, records = bucket_app
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: app.main.backups.table.row_count == len(records))
        await pilot.press("r")  # on the first card, alpha's
        await wait_until(pilot, lambda: type(app.screen).__name__ == "RestoreWizard")
        question = app.screen.query_one("#choose-question", Label)
        assert "no valid backup to restore. (5 in S3 not read yet, not listed: esc and r again shortly)" in \
            rendered(question)
        await pilot.press("escape")
        services.gate.set()
        await wait_until(pilot, lambda: app.catalog_complete > 0)
        await pilot.press("r")
        await wait_until(pilot, lambda: type(app.screen).__name__ == "RestoreWizard")
        question = app.screen.query_one("#choose-question", Label)
        assert "not read yet" not in rendered(question) and "newest" in rendered(question)
