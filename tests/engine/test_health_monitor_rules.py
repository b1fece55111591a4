"""The health rules monitoring adds (failed runs, thresholds per database, copies outside this machine, holders
that are gone, free space), each judged with an injected clock; and ``check_health`` finding those facts in a
real repository, as ``monitor`` and the dashboard both do."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from backup_tui.engine.config import DatabaseConfig, Settings, load_settings
from backup_tui.engine.core.errors import ConfigError
from backup_tui.engine.core.health import Problem, Surroundings, assess
from backup_tui.engine.core.models import BackupRecord, Verification, utc_iso
from backup_tui.engine.core.runs import RunRecord
from backup_tui.engine.core.thresholds import Thresholds
from backup_tui.engine.ops import swap
from backup_tui.engine.ops.health import check_health
from backup_tui.engine.storage.journal import record_run
from backup_tui.engine.storage.locks import lock_path
from backup_tui.engine.storage.state import this_host
from tests.conftest import dead_pid
from tests.tui.fixtures import NOW, PAGILA_TABLES, _record

DAY = timedelta(days=1)


def _full(at: datetime, ok: bool = True) -> Verification:
    return Verification(at=utc_iso(at), level="full", ok=ok, checks=("row counts",), duration_s=12.5,
                        problems=() if ok else ("row counts differ",))


def _healthy(database: str = "app", days: int = 8, size: int = 2_000_000) -> list[BackupRecord]:
    """Daily backups at 02:00, newest first; the newest fully verified an hour after it was taken."""
    last = NOW.replace(hour=2, minute=0)
    records = [_record(database, last - i * DAY, size, took=1.0, tables=PAGILA_TABLES) for i in range(days)]
    records[0] = replace(records[0], host=this_host(), verifications=(_full(last + timedelta(hours=1)),))
    return [replace(r, host=this_host()) for r in records]


def _run(operation: str, ok: bool, at: datetime, database: str = "app", error: str = "") -> RunRecord:
    return RunRecord(operation=operation, database=database, host=this_host(), pid=1, front_end="backup-headless",
                     started_at=utc_iso(at - timedelta(seconds=5)), finished_at=utc_iso(at), duration_s=5.0, ok=ok,
                     exit_code=0 if ok else 1, error=error)


def _rules(problems: tuple[Problem, ...]) -> list[tuple[str, str]]:
    return [(p.severity, p.rule) for p in problems]


def test_a_healthy_database_has_no_problem_and_carries_its_recovery_evidence() -> None:
    health = assess("app", _healthy(), NOW)
    assert (health.status, health.problems) == ("ok", ())
    assert health.recovery is not None and health.recovery[1].duration_s == 12.5
    assert health.data_loss_s == (NOW - NOW.replace(hour=2, minute=0)).total_seconds()


def test_each_problem_has_a_severity_and_one_line_of_advice() -> None:
    records = _healthy()
    records[0] = replace(records[0], stored_bytes=400_000)  # small, and 80% off the median
    health = assess("app", records, NOW + 2 * DAY)
    assert _rules(health.problems) == [("critical", "too_old"), ("warning", "too_small"),
                                       ("warning", "size_change")]
    for problem in health.problems:
        assert problem.advice and "\n" not in problem.advice and problem.database == "app"
    assert "backup-headless backup --database app" in health.problems[0].advice


def test_thresholds_decide_the_age_size_and_verification_rules() -> None:
    records = _healthy()
    late = NOW.replace(hour=2) + timedelta(hours=26)
    assert _rules(assess("app", records, late).problems) == [("critical", "too_old")]
    assert assess("app", records, late, Thresholds(max_age_hours=49)).status == "ok"
    assert _rules(assess("app", records, NOW, Thresholds(min_size_bytes=3_000_000)).problems) == [
        ("warning", "too_small")]
    nine_days = NOW + 9 * DAY
    lenient = Thresholds(max_age_hours=24 * 30)
    said = assess("app", records, nine_days, lenient)
    assert _rules(said.problems) == [("warning", "verify_old")]
    assert "expected within 8 days" in said.problems[0].message
    assert assess("app", records, nine_days, replace(lenient, verify_max_age_days=10)).status == "ok"


def test_the_size_rule_holds_the_newest_against_backups_made_alike() -> None:
    # The old scripts' gzip'd SQL before the first custom archive in zstd: a different measure, not a change
    records = _healthy(size=5_000_000)
    records[1:] = [replace(r, format="plain", compression="gzip", stored_bytes=12_000_000) for r in records[1:]]
    assert assess("app", records, NOW).status == "ok"
    records[1:4] = [replace(r, format="custom", compression="zstd", stored_bytes=5_000_000) for r in records[1:4]]
    records[0] = replace(records[0], stored_bytes=1_000_000)  # 80% off the three archives before it: told
    assert ("warning", "size_change") in _rules(assess("app", records, NOW).problems)


def test_only_quick_checks_are_no_proof_of_recovery() -> None:
    records = _healthy()
    quick = Verification(at=utc_iso(NOW), level="quick", ok=True, checks=("sha256",))
    records[0] = replace(records[0], verifications=(quick,))
    health = assess("app", records, NOW)
    assert _rules(health.problems) == [("warning", "verify_old")] and health.recovery is None


@pytest.mark.parametrize("operation", ["backup", "verify", "prune"])
def test_a_run_that_failed_since_the_last_success_is_critical(operation: str) -> None:
    records = _healthy()
    runs = [_run(operation, True, NOW - 3 * DAY), _run(operation, False, NOW - 2 * DAY, error="server gone"),
            _run(operation, False, NOW - DAY, error="connection refused")]
    health = assess("app", records, NOW, around=Surroundings(runs=runs))
    assert _rules(health.problems) == [("critical", "failed_run")]
    assert "2 runs in a row" in health.reasons[0] and "connection refused" in health.reasons[0]
    assert health.last_run == runs[-1]
    healed = assess("app", records, NOW, around=Surroundings(runs=[*runs, _run(operation, True, NOW)]))
    assert healed.status == "ok"


def test_a_run_dated_in_the_future_hides_no_failed_run_after_it() -> None:
    """A successful run dated 2099 (a clock that jumped ahead for a moment, a planted journal record) sorted as the
    newest for ever: every backup that failed after it went unsaid, monitor said OK and last_run_ok read 1."""
    records = _healthy()
    ahead = _run("backup", True, datetime(2099, 1, 1, tzinfo=NOW.tzinfo), database="")
    failed = _run("backup", False, NOW - DAY, error="connection refused")
    health = assess("app", records, NOW, host=this_host(), around=Surroundings(runs=[ahead, failed]))
    assert _rules(health.problems) == [("critical", "failed_run")] and "connection refused" in health.reasons[0]
    assert health.last_runs == (failed,)
    soon = replace(ahead, finished_at=utc_iso(NOW + timedelta(minutes=1)))  # within a clock's error: believed
    assert assess("app", records, NOW, around=Surroundings(runs=[soon, failed])).status == "ok"


def test_a_prune_of_every_database_that_failed_concerns_each_of_them() -> None:
    runs = [_run("prune", True, NOW - DAY, database="app"), _run("prune", False, NOW, database="", error="disk")]
    for database in ("app", "other"):
        health = assess(database, _healthy(database), NOW, around=Surroundings(runs=runs))
        assert _rules(health.problems) == [("critical", "failed_run")] and "prune failed" in health.reasons[0]
    fixed = [*runs, _run("prune", True, NOW + timedelta(minutes=1), database="app")]
    assert assess("app", _healthy(), NOW, around=Surroundings(runs=fixed)).status == "ok"


def test_failed_runs_of_other_databases_hosts_and_restores_are_not_this_databases() -> None:
    runs = [_run("backup", False, NOW, database="other"), _run("restore", False, NOW),
            replace(_run("backup", False, NOW), host="another-host")]
    assert assess("app", _healthy(), NOW, host=this_host(), around=Surroundings(runs=runs)).status == "ok"


def test_the_newest_backup_must_have_a_remote_copy_when_a_remote_repository_is_configured() -> None:
    records = _healthy()
    assert assess("app", records, NOW, around=Surroundings(remote_configured=False)).status == "ok"
    health = assess("app", records, NOW, around=Surroundings(remote_configured=True))
    assert _rules(health.problems) == [("warning", "not_remote")] and records[0].id in health.reasons[0]
    records[0] = replace(records[0], locations=("local", "s3"))
    assert assess("app", records, NOW, around=Surroundings(remote_configured=True)).status == "ok"
    records[0] = replace(records[0], locations=("s3",))  # only remote: a copy elsewhere all the same
    assert assess("app", records, NOW, around=Surroundings(remote_configured=True)).status == "ok"


def test_free_space_below_the_next_backups_need_is_a_warning() -> None:
    records = _healthy()  # 2 MB each: the next needs about 2.5 MB, plus the head-room
    assert assess("app", records, NOW, around=Surroundings(free_bytes=2_600_000)).status == "ok"
    low = assess("app", records, NOW, around=Surroundings(free_bytes=2_600_000, min_free_bytes=200_000))
    assert _rules(low.problems) == [("warning", "low_space")] and "2.7 MB" in low.reasons[0]


def test_the_next_backups_need_is_the_backups_own_estimate_capped_by_the_database_size() -> None:
    """Health warns by the space check's own estimate: a planted 2**61-byte size asks for twice the database's
    recorded size, not for exabytes."""
    records = _healthy()
    records[0] = replace(records[0], stored_bytes=2**61, database_info={"size_bytes": "10000000"})
    enough = assess("app", records, NOW, around=Surroundings(free_bytes=20_100_000))
    assert ("warning", "low_space") not in _rules(enough.problems)  # its size_change warning stands
    low = assess("app", records, NOW, around=Surroundings(free_bytes=19_900_000))
    assert [p.message for p in low.problems if p.rule == "low_space"] == [
        "19.9 MB free, the next backup needs about 20.0 MB"]


def test_config_health_thresholds_and_a_databases_own(tmp_path: Path) -> None:
    config = tmp_path / "backup.toml"
    config.write_text('repository = "repo"\n[health]\nmax_age_hours = 30\nmin_size_bytes = 5000\n'
                      '[[databases]]\nname = "app"\n'
                      '[[databases]]\nname = "weekly"\n[databases.health]\nmax_age_hours = 170\n')
    settings = load_settings(config, env={})
    assert settings.thresholds("app") == Thresholds(max_age_hours=30, min_size_bytes=5000)
    assert settings.thresholds("weekly") == Thresholds(max_age_hours=170, min_size_bytes=5000)
    config.write_text('[health]\nmax_age_hour = 30\n')
    with pytest.raises(ConfigError, match=r"unknown key\(s\) max_age_hour"):
        load_settings(config, env={})
    config.write_text('[health]\nsize_change = "half"\n')
    with pytest.raises(ConfigError, match="size_change must be a number"):
        load_settings(config, env={})


def _settings(tmp_path: Path, **changes: object) -> Settings:
    repo = tmp_path / "repo"
    (repo / "backups").mkdir(parents=True)
    return replace(Settings(repository=repo, databases=(DatabaseConfig(name="app"),)), **changes)  # type: ignore[arg-type]


def test_check_health_reads_failed_runs_from_the_journal(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    record_run(settings.repository, _run("backup", False, NOW, error="pg_dump: connection refused"))
    report = check_health(settings, NOW, records=_healthy())
    assert report.exit_code == 2 and _rules(report.problems) == [("critical", "failed_run")]
    assert json.loads(json.dumps(report.to_json()))["databases"][0]["problems"][0]["rule"] == "failed_run"


def test_check_health_names_a_lock_held_after_its_run_died(tmp_path: Path) -> None:
    """The run that took the lock died, yet a process it forked keeps the descriptor (and the lock)."""
    settings = _settings(tmp_path)
    script = ("import os, sys, time\n"
              "from pathlib import Path\n"
              "from backup_tui.engine.storage.locks import database_lock\n"
              "with database_lock(Path(sys.argv[1]), 'app', 'backup'):\n"
              "    child = os.fork()\n"
              "    if child == 0:\n"
              "        null = os.open(os.devnull, os.O_RDWR); os.dup2(null, 1); os.dup2(null, 2)\n"
              "        time.sleep(60); os._exit(0)\n"
              "    print(child, flush=True); os._exit(0)\n")
    holder = subprocess.run([sys.executable, "-c", script, str(settings.repository)], capture_output=True,
                            text=True, check=True, timeout=10)
    orphan = int(holder.stdout)
    try:
        report = check_health(settings, NOW, records=_healthy())
        assert _rules(report.problems) == [("warning", "holder_gone")], report.problems
        assert "is held, but the run that took it" in report.problems[0].message
        assert str(lock_path(settings.repository, "app")) in report.problems[0].message
    finally:
        os.kill(orphan, signal.SIGKILL)
    for _ in range(100):  # the kernel releases the lock once the orphan is reaped by init
        if check_health(settings, NOW, records=_healthy()).exit_code == 0:
            break
        time.sleep(0.05)
    assert check_health(settings, NOW, records=_healthy()).exit_code == 0  # released: nothing to say


def test_check_health_names_a_swap_and_scratch_left_by_killed_runs(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    dead = dead_pid()
    journal = swap.journal_path(settings, settings.server_for("app"), "app")  # where repair looks: believed
    journal.parent.mkdir()
    journal.write_text(json.dumps({
        "kind": "restore", "database": "app", "incoming": "app__restore_20250314093000", "aside":
        "app__pre_restore_20250314093000", "stamp": "20250314093000", "server": "local:5432", "step": "rename aside",
        "pid": dead, "host": this_host(), "started_at": "2025-03-14T09:30:00Z"}))
    scratch = settings.repository / "scratch"
    scratch.mkdir()
    (scratch / "y.json").write_text(json.dumps({
        "kind": "database", "name": "app__verify_0123abcd", "purpose": "verify", "server": "local:5432",
        "host": this_host(), "pid": dead, "created_at": "2025-03-14T09:00:00+00:00", "token": ""}))
    report = check_health(settings, NOW, records=_healthy())
    assert _rules(report.problems) == [("critical", "swap_unfinished"), ("warning", "holder_gone")]
    assert "repair --database app" in report.problems[0].advice
    assert "app__verify_0123abcd" in report.problems[1].message


def test_check_health_warns_when_the_disk_cannot_take_the_next_backup(tmp_path: Path) -> None:
    settings = _settings(tmp_path, min_free_bytes=10**18)
    report = check_health(settings, NOW, records=_healthy())
    assert _rules(report.problems) == [("warning", "low_space")] and report.exit_code == 1


def test_an_encrypted_backup_on_a_host_without_the_key_is_told_where_its_full_verify_can_run() -> None:
    records = [replace(r, encryption="age") for r in _healthy()]
    nine_days, lenient = NOW + 9 * DAY, Thresholds(max_age_hours=24 * 30)
    keyless = assess("app", records, nine_days, lenient, around=Surroundings(holds_key=False))
    assert _rules(keyless.problems) == [("warning", "verify_old")]  # still a warning: the rule stands
    advice = keyless.problems[0].advice
    assert "on a host that holds one" in advice and f"backup-headless verify --quick {records[0].id}" in advice
    held = assess("app", records, nine_days, lenient, around=Surroundings(holds_key=True))
    assert held.problems[0].advice == f"run one: backup-headless verify {records[0].id}"
    plain = assess("app", _healthy(), nine_days, lenient, around=Surroundings(holds_key=False))
    assert plain.problems[0].advice.startswith("run one:")  # not encrypted: any host can verify it
