"""``backup-headless report`` on a real repository: its figures are the verification history's own (durations,
row counts), a restore is listed as a restore, and a failed run shows as a problem with its start and end."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from headless.report_cli import parse_since
from tests.conftest import closed_port, history_records
from tests.headless.conftest import Workspace, WorkspaceFactory


def test_the_reports_figures_match_the_verification_history(make_workspace: WorkspaceFactory,
                                                            tmp_path: Path) -> None:
    ws: Workspace = make_workspace("report")
    assert ws.run("backup", env={"BACKUP_DB_PORT": str(closed_port())}).returncode == 1
    backup = ws.backup()
    assert ws.run("verify", backup["id"]).returncode == 0
    target = f"{ws.database}_xr"
    assert ws.run("restore", backup["id"], "--target-db", target).returncode == 0
    result = ws.run("report", "--format", "json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)["databases"][ws.database]
    history = history_records(Path(backup["path"]).parent)
    assert len(history) == 2
    [verification] = found["verifications"]
    [restore] = found["restores"]
    for item, recorded in ((verification, history[0]), (restore, history[1])):
        assert (item["id"], item["at"], item["duration_s"], item["ok"]) == (
            backup["id"], recorded["at"], recorded["duration_s"], True)
        assert {t: [c["manifest"], c["restored"]] for t, c in item["row_counts"].items()} == recorded["row_counts"]
        assert item["tables_matching"] == item["tables"] > 10
    assert found["recovery_time_s"]["last"] == history[1]["duration_s"]
    assert [b["id"] for b in found["backups"]] == [backup["id"]]
    failed = [p for p in found["problems"] if p["rule"] == "failed_run"]
    assert len(failed) == 1 and failed[0]["ended_at"] is not None  # the next backup succeeded
    markdown = ws.run("report").stdout
    assert f"## {ws.database}" in markdown and "| restore | ok |" in markdown and "backup failed: " in markdown
    page = ws.run("report", "--format", "html", "--since", "2020-01-01").stdout
    assert "<table>" in page and ws.database in page
    bad = ws.run("report", "--since", "yesterday")
    assert bad.returncode == 2 and "is not a date" in bad.stderr


def test_a_period_from_before_any_record_starts_where_records_may_start() -> None:
    """'--since 0001-01-01' (every record) reported from '1-01-01T00:00:00Z': the year no record can be older than
    (1900) begins the period instead."""
    now = datetime(2026, 12, 7, tzinfo=UTC)
    assert parse_since("0001-01-01", now) == datetime(1900, 1, 1, tzinfo=UTC)
    assert parse_since("2020-01-01", now) == datetime(2020, 1, 1, tzinfo=UTC)
