"""A replace's time estimate counts its safety backup, the longest part on a large database, from the
database's past backups; the restore history keeps restores alone, so the two are never counted twice."""

from __future__ import annotations

import json

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.estimate import RESTORE, SAFETY_BACKUP
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.restore import HISTORY_FILE, plan_restore
from backup_tui.engine.storage.catalog import Catalog
from headless.output import plan_lines
from tests.conftest import restore


def test_a_replace_plan_estimates_its_safety_backup_from_past_backups(
    settings: Settings, pg_sandbox: Sandbox, pagila_db: str
) -> None:
    record = run_backup(Context(settings), settings.databases[0])
    ctx = Context(settings)
    first = plan_restore(ctx, record, replace_original=True)
    safety, restoring = first.estimate_parts
    assert (safety.phase, restoring.phase) == (SAFETY_BACKUP, RESTORE)
    size_then = int(record.database_info["size_bytes"])
    size_now = int(pg_sandbox.psql(f"SELECT pg_database_size('{pagila_db}')"))
    assert safety.seconds == pytest.approx(record.duration_s * size_now / size_then, abs=0.06)
    assert restoring.seconds is None and first.estimated_seconds is None  # no restore yet: no total
    said = next(line for line in plan_lines(first) if "estimated time" in line)
    assert said.startswith("  estimated time: no estimate yet: no past restore of a comparable size (safety backup ")

    restore(settings, record.id, target_db=f"{pagila_db}_copy")  # now there is a restore to go by
    plan = plan_restore(Context(settings), record, replace_original=True)
    safety, restoring = plan.estimate_parts
    assert safety.seconds is not None and restoring.seconds is not None
    assert plan.estimated_seconds == pytest.approx(safety.seconds + restoring.seconds, abs=0.06)
    said = next(line for line in plan_lines(plan) if "estimated time" in line)
    assert said.startswith("  estimated time: about ") and "safety backup" in said and "restore" in said

    into_new = plan_restore(Context(settings), record, target_db=f"{pagila_db}_other")
    assert [part.phase for part in into_new.estimate_parts] == [RESTORE]  # no safety backup, no part for it
    assert into_new.estimated_seconds == restoring.seconds


def test_the_restore_history_and_the_recovery_time_leave_out_the_safety_backup(settings: Settings, pg_sandbox: Sandbox,
                                                          pagila_db: str) -> None:
    record = run_backup(Context(settings), settings.databases[0])
    result = restore(settings, record.id, replace_original=True, confirmed=True)
    assert result.safety_backup_id is not None
    safety = Catalog.from_settings(settings).get(result.safety_backup_id)
    line = json.loads((settings.repository / HISTORY_FILE).read_text().splitlines()[-1])
    assert line["backup_id"] == record.id
    assert 0 < line["duration_s"] <= result.duration_s - safety.duration_s + 0.01
    # The recovery time the health and the metrics give (the restore's own record of a full check) is the same.
    proof = Catalog.from_settings(settings).get(record.id).verifications[-1]
    assert proof.level == "full" and proof.duration_s == line["duration_s"]
