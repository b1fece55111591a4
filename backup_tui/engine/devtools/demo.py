"""The demo: a throwaway cluster with pagila and weeks of real, restorable backups.

Backups are taken now, but with an injected clock that dates them over the past
two weeks, and the data changes between them (rentals added, a staging table
that appears for one day and goes), so trends, anomalies, health and retention
have something to show. A second, small database is left stale with one damaged
backup, so the dashboard has alerts to show too.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from backup_tui.engine.config import DatabaseConfig, Settings
from backup_tui.engine.core.clock import Clock, system_clock
from backup_tui.engine.core.models import BackupRecord
from backup_tui.engine.core.thresholds import DEFAULT_THRESHOLDS
from backup_tui.engine.devtools.sandbox import Sandbox, start_sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.verify import verify_backup
from backup_tui.engine.storage.catalog import Catalog

Say = Callable[[str], None]
PAGILA_DAYS = 14
SPIKE_DAY = 5  # days ago: a staging table that is dropped the next day
INVENTORY_DAYS = (9, 7, 5, 3)


@dataclass
class Demo:
    sandbox: Sandbox
    root: Path
    settings: Settings

    def cleanup(self) -> None:
        self.sandbox.cleanup()
        shutil.rmtree(self.root, ignore_errors=True)


def _quiet(_: str) -> None:
    """Default: say nothing."""


def _at(moment: datetime) -> Clock:
    return lambda: moment


DEMO_SIZE_FLOOR = 10_000  # bytes: inventory's dumps are about 60 kB


def start_demo(say: Say = _quiet, now: Clock = system_clock, days: int = PAGILA_DAYS) -> Demo:
    """Start the cluster, load the data and fill a temporary repository. Cleans up if anything fails."""
    say("starting a throwaway PostgreSQL cluster…")
    sandbox = start_sandbox()
    root = Path(tempfile.mkdtemp(prefix="backup-tui-demo-"))
    try:
        say("loading pagila…")
        sandbox.load_pagila("pagila")
        sandbox.psql("CREATE DATABASE inventory")
        sandbox.psql("CREATE TABLE items (id serial PRIMARY KEY, sku text NOT NULL, qty int NOT NULL); "
                     "INSERT INTO items (sku, qty) SELECT 'SKU-' || g, g % 97 FROM generate_series(1, 5000) g",
                     "inventory")
        # pagila's dumps are about 1 MB, the default size floor: at the default, every demo opened on a warning
        # that it was "below the 1.0 MB expected", and taught its user to look past warnings.
        settings = Settings(repository=root / "repo", log_dir=root / "logs",
                            databases=(_config(sandbox, "pagila"), _config(sandbox, "inventory")),
                            health=replace(DEFAULT_THRESHOLDS, min_size_bytes=DEMO_SIZE_FLOOR))
        fill(settings, sandbox, say, now(), days)
        return Demo(sandbox, root, settings)
    except BaseException:
        sandbox.cleanup()
        shutil.rmtree(root, ignore_errors=True)
        raise


def _config(sandbox: Sandbox, name: str) -> DatabaseConfig:
    return DatabaseConfig(name=name, host=sandbox.host, port=sandbox.port, user=sandbox.user,
                          password=sandbox.password)


def _change_pagila(sandbox: Sandbox, day: int) -> None:
    """Some rentals every day; a big staging table on SPIKE_DAY only."""
    sandbox.psql(
        "INSERT INTO rental (rental_date, inventory_id, customer_id, staff_id) "
        f"SELECT now() + make_interval(secs => g + {day} * 100000), 1 + (g * 7) % 4500, 1 + g % 599, 1 + g % 2 "
        f"FROM generate_series(1, {400 + 150 * day}) g", "pagila")
    if day == SPIKE_DAY:
        sandbox.psql("CREATE TABLE staging_import AS SELECT g AS id, md5(g::text) || md5((g * 3)::text) AS payload "
                     "FROM generate_series(1, 120000) g", "pagila")
    else:
        sandbox.psql("DROP TABLE IF EXISTS staging_import", "pagila")


def fill(settings: Settings, sandbox: Sandbox, say: Say, now: datetime, days: int) -> list[BackupRecord]:
    """Daily pagila backups at 02:00 UTC for ``days`` days; inventory stale, its oldest backup damaged."""
    today = now.astimezone(UTC).replace(hour=2, minute=0, second=0, microsecond=0)
    if today > now - timedelta(hours=1):
        today -= timedelta(days=1)
    pagila, inventory = settings.databases
    made: list[BackupRecord] = []
    for ago in range(days - 1, -1, -1):
        moment = today - timedelta(days=ago)
        _change_pagila(sandbox, days - ago)
        say(f"backup of pagila dated {moment:%Y-%m-%d %H:%M} UTC…")
        record = run_backup(Context(settings, now=_at(moment)), pagila)
        made.append(record)
        if ago % 3 == 0 or ago == 0:
            verify_backup(Context(settings, now=_at(moment + timedelta(minutes=20))), record,
                          "full" if ago == 0 else "quick")
    for ago in INVENTORY_DAYS:
        moment = today - timedelta(days=ago, hours=-1)
        sandbox.psql(f"UPDATE items SET qty = qty + {ago} WHERE id % 5 = 0", "inventory")
        say(f"backup of inventory dated {moment:%Y-%m-%d %H:%M} UTC…")
        made.append(run_backup(Context(settings, now=_at(moment)), inventory))
    _damage(made[-len(INVENTORY_DAYS)])
    catalog = Catalog.from_settings(settings)
    damaged = catalog.get(made[-len(INVENTORY_DAYS)].id)
    verify_backup(Context(settings, now=_at(today - timedelta(hours=2))), damaged, "quick")
    verify_backup(Context(settings, now=_at(today - timedelta(days=INVENTORY_DAYS[-1], hours=-2))),
                  catalog.get(made[-1].id), "quick")
    return made


def _damage(record: BackupRecord) -> None:
    """Flip one byte in the middle of the stored file: what a bad disk does."""
    path = Path(record.path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
