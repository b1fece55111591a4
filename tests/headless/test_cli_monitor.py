"""``backup-headless monitor`` against a real repository and cluster: Nagios exit codes as backups, checks and
failures happen; metrics that prometheus_client's own parser reads; ``--serve`` scraped over HTTP while a
backup runs; ``metrics.json`` left by every run."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from backup_tui.engine.config import DatabaseConfig, Settings
from backup_tui.engine.core.clock import system_clock
from backup_tui.engine.core.errors import BackupToolError
from backup_tui.engine.core.health import HealthReport
from backup_tui.engine.ops import swap
from backup_tui.engine.ops.health import check_health
from backup_tui.engine.storage.locks import database_lock
from backup_tui.engine.storage.state import this_host
from headless.monitor import CachedReport, StaleHealth
from tests.conftest import closed_port, run_cli
from tests.headless.conftest import Workspace, WorkspaceFactory, small_dump_workspace


@pytest.fixture
def ws(make_workspace: WorkspaceFactory, tmp_path: Path) -> Workspace:
    return small_dump_workspace(make_workspace, "monitor", tmp_path)


def _metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_check_exits_as_nagios_expects_as_backups_checks_and_failures_happen(ws: Workspace) -> None:
    empty = ws.run("monitor", "--check")
    assert empty.returncode == 2 and empty.stdout.startswith("CRITICAL - 1 critical (1 database")
    assert f"CRITICAL {ws.database}: no valid backup -> take one now" in empty.stdout
    backup = ws.backup()
    unverified = ws.run("monitor")  # --check is the default
    assert unverified.returncode == 1, unverified.stdout
    assert unverified.stdout.splitlines()[1].startswith(f"WARNING {ws.database}: no backup has been verified")
    assert ws.run("verify", backup["id"]).returncode == 0
    healthy = ws.run("monitor", "--check")
    assert (healthy.returncode, healthy.stdout.count("\n")) == (0, 1), healthy.stdout
    assert healthy.stdout.startswith("OK - every database healthy")
    failed = ws.run("backup", env={"BACKUP_DB_PORT": str(closed_port())})
    assert failed.returncode == 1
    after = ws.run("monitor", "--json")
    report = json.loads(after.stdout)
    assert after.returncode == 2 and report["status"] == "critical"
    [problem] = report["databases"][0]["problems"]
    assert problem["rule"] == "failed_run" and "backup failed: " in problem["message"] and problem["advice"]
    assert report["databases"][0]["recovery"]["backup_id"] == backup["id"]


def test_a_run_that_stands_aside_for_the_lock_holder_is_no_failed_run_and_hides_no_later_failure(
        ws: Workspace) -> None:
    """A cron backup that meets a backup already running exits 3 and does nothing: no page saying "backup failed"
    while the other one runs fine, and no failed_run whose de-duplicated alert would name the lock instead of the
    failure (pg_dump killed, a server down) that comes after it."""
    backup = ws.backup()
    assert ws.run("verify", backup["id"]).returncode == 0
    with database_lock(ws.repo, ws.database, "backup"):  # as a running backup holds it
        assert ws.run("backup").returncode == 3
    healthy = ws.run("monitor", "--check")
    assert healthy.returncode == 0, healthy.stdout
    assert ws.run("backup", env={"BACKUP_DB_PORT": str(closed_port())}).returncode == 1
    [problem] = json.loads(ws.run("monitor", "--json").stdout)["databases"][0]["problems"]
    assert problem["rule"] == "failed_run" and "locked" not in problem["message"]
    assert "runs in a row" not in problem["message"], problem["message"]


def test_every_run_leaves_metrics_json_and_the_metrics_parse(ws: Workspace, tmp_path: Path) -> None:
    backup = ws.backup()
    written = ws.logs / "metrics.json"
    data = json.loads(written.read_text())
    assert data["databases"][0]["last_backup"]["id"] == backup["id"] and data["status"] == "warning"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert not list(ws.logs.glob(".metrics.json*"))  # no temp file left
    labels = (("database", ws.database), ("host", data["host"]))
    exposed = ws.run("monitor", "--metrics")
    assert exposed.returncode == 0
    found = _metrics(exposed.stdout)
    assert found[("backup_tui_last_backup_size_bytes", labels)] == backup["size_bytes"]
    assert found[("backup_tui_health_status", labels)] == 1
    assert found[("backup_tui_backups", (*labels, ("location", "local")))] == 1
    assert 0 <= found[("backup_tui_data_loss_window_seconds", labels)] < 600
    assert ("backup_tui_recovery_time_seconds", labels) not in found  # nothing proven restorable yet
    for name, _ in found:
        assert re.fullmatch(r"backup_tui_[a-z_]+", name)
    textfile = tmp_path / "textfile" / "backup_tui.prom"
    textfile.parent.mkdir()
    assert ws.run("monitor", "--textfile", str(textfile)).returncode == 0
    assert _metrics(textfile.read_text()).keys() == found.keys()
    assert stat.S_IMODE(textfile.stat().st_mode) == 0o644  # node_exporter runs as its own user


def test_the_last_run_metrics_keep_one_series_per_operation_so_a_later_verify_hides_no_failed_backup(
        ws: Workspace) -> None:
    """An alert on ``backup_tui_last_run_ok{operation="backup"} == 0`` must keep firing when a verify (or the
    prune of the next cron line) runs after the failed backup: the series was the newest run of any kind, so its
    ``operation`` label flipped to ``verify`` and the failed backup's 0 vanished from the scrape."""
    backup = ws.backup()
    assert ws.run("backup", env={"BACKUP_DB_PORT": str(closed_port())}).returncode == 1
    assert ws.run("verify", backup["id"]).returncode == 0
    found = _metrics(ws.ok("monitor", "--metrics").stdout)
    host = json.loads((ws.logs / "metrics.json").read_text())["host"]
    labels = (("database", ws.database), ("host", host))
    assert found[("backup_tui_last_run_ok", (*labels, ("operation", "backup")))] == 0
    assert found[("backup_tui_last_run_ok", (*labels, ("operation", "verify")))] == 1
    ended = {op: found[("backup_tui_last_run_timestamp_seconds", (*labels, ("operation", op)))]
             for op in ("backup", "verify")}
    assert ended["backup"] < ended["verify"]
    assert json.loads(ws.run("monitor", "--json").stdout)["databases"][0]["last_run"]["operation"] == "verify"


@pytest.mark.parametrize("where", ["no-such-folder/m.prom", "a-folder", ""], ids=["missing folder", "folder", "empty"])
def test_a_textfile_path_that_is_no_file_is_one_clear_line_and_leaves_nothing(ws: Workspace, tmp_path: Path,
                                                                              where: str) -> None:
    """A missing folder was "unexpected FileNotFoundError", a folder left a temp file behind, and an empty path
    ran --check and sent notices instead."""
    (tmp_path / "a-folder").mkdir()
    path = str(tmp_path / where) if where else ""
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = ws.run("monitor", "--textfile", path)
    assert result.returncode == 2 and result.stderr.startswith("error: --textfile ") and "unexpected" not in \
        result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_a_backup_does_not_load_prometheus_client(ws: Workspace) -> None:
    probe = ("import sys\nfrom headless.cli import main\ncode = main(['backup'])\n"
             "print(code, 'prometheus_client' in sys.modules, 'apprise' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe], env=ws.env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.stdout.split() == ["0", "False", "False"], done.stderr
    assert (ws.logs / "metrics.json").exists()


def _get(url: str) -> tuple[int, bytes, float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read(), time.monotonic() - started
    except urllib.error.HTTPError as answer:
        return answer.code, answer.read(), time.monotonic() - started


def test_serve_answers_fast_while_a_backup_runs_and_says_503_when_critical(ws: Workspace) -> None:
    server = subprocess.Popen([sys.executable, "-m", "headless", "monitor", "--serve", "--port", "0",
                               "--interval", "0"], env=ws.env, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        first = server.stderr.readline()
        port = int(re.search(r":(\d+)/metrics", first).group(1))  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        status, body, _ = _get(base + "/health")
        assert status == 503 and json.loads(body)["status"] == "critical"
        assert _get(base + "/nothing")[0] == 404
        with psycopg.connect(ws.sandbox.conninfo(ws.database), autocommit=False) as blocker:
            blocker.execute("LOCK TABLE public.actor IN ACCESS EXCLUSIVE MODE")  # the backup's pg_dump waits
            backup = subprocess.Popen([sys.executable, "-m", "headless", "backup"], env=ws.env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(1.0)
            assert backup.poll() is None  # still running, holding the database's lock
            timings = []
            for _ in range(20):
                status, body, took = _get(base + "/metrics")
                assert status == 200 and b"backup_tui_health_status" in body
                timings.append(took)
            blocker.rollback()
        assert backup.wait(120) == 0
        ranked = sorted(timings)
        print(f"/metrics during a backup: median {ranked[10] * 1000:.1f} ms, 95th percentile {ranked[18] * 1000:.1f} "
              f"ms, max {ranked[-1] * 1000:.1f} ms")
        # The goal is 100 ms; on two cores shared by several test runs one scrape in twenty has taken 110 ms
        # (the process not scheduled), so the goal holds for 19 of 20 and the slowest gets five times that.
        assert ranked[18] < 0.1 and ranked[-1] < 0.5, timings
        deadline = time.monotonic() + 10  # a scrape gets the report at hand and starts the next judgement
        while (status := _get(base + "/health")[0]) == 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        status, body, _ = _get(base + "/health")
        assert status == 200 and json.loads(body)["status"] == "warning"  # backed up, never verified
        head = urllib.request.urlopen(urllib.request.Request(base + "/health", method="HEAD"), timeout=10)
        assert head.status == 200 and head.read() == b"" and "Python" not in head.headers.get("Server", "")
    finally:
        server.terminate()
        assert server.wait(10) == 0  # systemctl stop: how a server ends, not a failure (it was 143)


def test_the_report_is_judged_at_most_once_per_interval_and_a_scrape_never_waits_on_one(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "backups").mkdir(parents=True)
    settings = Settings(repository=repo)
    judged: list[float] = []
    hold = threading.Event()

    def judge() -> HealthReport:
        judged.append(time.monotonic())
        if len(judged) == 2:
            hold.wait(10)  # a slow catalog read (a big or remote repository)
        return check_health(settings, system_clock())

    cache = CachedReport(judge, interval=0.2)
    first = cache.get()
    assert cache.get() is first and len(judged) == 1  # within the interval: the same report, not judged again
    assert cache.metrics() is cache.metrics()  # its Prometheus text made once
    time.sleep(0.25)
    started = time.monotonic()
    assert cache.get() is first  # past the interval: the report at hand, a judgement started behind it
    assert cache.get() is first and time.monotonic() - started < 0.05  # nobody waits for that judgement
    while len(judged) < 2:
        time.sleep(0.01)
    assert cache.get() is first and len(judged) == 2  # one judgement at a time
    hold.set()
    deadline = time.monotonic() + 10
    while cache.get() is first and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cache.get() is not first and len(judged) == 2


def test_a_report_that_cannot_be_judged_again_stops_standing_for_now(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """The repository gone while --serve runs: the last good report was served as healthy for ever, its backup
    ages frozen. After three intervals of failed judgements it is StaleHealth (503), said once on stderr; a
    judgement that works again brings the report back."""
    repo = tmp_path / "repo"
    (repo / "backups").mkdir(parents=True)
    settings = Settings(repository=repo)
    broken = threading.Event()

    def judge() -> HealthReport:
        if broken.is_set():
            raise BackupToolError(f"repository {repo} is not a directory")
        return check_health(settings, system_clock())

    cache = CachedReport(judge, interval=0.05)
    first = cache.get()
    broken.set()
    deadline = time.monotonic() + 10
    with pytest.raises(StaleHealth, match=r"has not been judged for .* is not a directory"):
        while time.monotonic() < deadline:
            assert cache.get() is first  # within three intervals of the last good one, it stands
            time.sleep(0.01)
    assert capsys.readouterr().err.count("the health could not be judged") == 1
    broken.clear()
    while time.monotonic() < deadline:
        with contextlib.suppress(StaleHealth):
            if cache.get() is not first:
                break
        time.sleep(0.01)
    assert cache.get() is not first


@pytest.mark.parametrize("mode", [[], ["--check"], ["--json"]])
def test_a_check_that_cannot_judge_is_unknown_never_a_warning(ws: Workspace, tmp_path: Path, mode: list[str]) -> None:
    """A check that fails (here a config that is not TOML) says nothing of the backups: Nagios's UNKNOWN (3)
    with its status line, not the 1 (warning) or 2 (critical) of a verdict."""
    config = tmp_path / "broken.toml"
    config.write_text("[health\n")
    result = ws.run("--config", str(config), "monitor", *mode)
    assert result.returncode == 3, result.stderr
    if mode == ["--json"]:
        assert json.loads(result.stdout)["exit_code"] == 3
    else:
        assert result.stdout.startswith("UNKNOWN - the health could not be judged: ") and str(config) in result.stdout
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


def test_serve_on_a_taken_port_is_one_clear_line(ws: Workspace) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = ws.run("monitor", "--serve", "--port", str(port))
    said = f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    assert (result.returncode, result.stderr) == (2, said)


def test_serve_with_an_empty_bind_is_refused_not_served_on_every_interface(ws: Workspace) -> None:
    """'--bind ""' (an unset variable) listened on 0.0.0.0: the health report, names and errors, to the network."""
    result = run_cli(["monitor", "--serve", "--bind", "", "--port", "0"], ws.env, timeout=30)
    assert (result.returncode, result.stderr) == (2, "error: --bind is empty: give its value, or leave the option "
                                                     "out (see 'backup-headless monitor --help')\n")


@pytest.mark.parametrize(("given", "said", "code"), [
    (["--port", "9999"], "--port goes", 3),  # a check's own failure is Nagios' UNKNOWN
    (["--metrics", "--bind", "0.0.0.0", "--interval", "5"], "--bind and --interval go", 2)])
def test_server_options_without_serve_are_refused_not_ignored(ws: Workspace, given: list[str], said: str,
                                                              code: int) -> None:
    """'monitor --port 9999' in a unit file missing '--serve' ran one check and exited: no server, no word of why."""
    result = ws.run("monitor", *given)
    assert (result.returncode, result.stderr) == (
        code, f"error: {said} only with --serve (see 'backup-headless monitor --help')\n")


def test_serve_whose_repository_goes_says_503_with_the_reason_not_a_fresh_report_of_no_backups(ws: Workspace) -> None:
    """The repository moved away (a mount lost) while --serve runs: it was read as an empty catalog, a fresh report
    of "no valid backup, take one now" for every database on /health and 200 on /metrics, never the failed
    judgement that stops standing (503 with the reason), where monitor --check says UNKNOWN."""
    ws.ok("backup")
    server = subprocess.Popen([sys.executable, "-m", "headless", "monitor", "--serve", "--port", "0",
                               "--interval", "0.1"], env=ws.env, stderr=subprocess.PIPE, text=True)
    moved = ws.repo.with_name("repo-moved")
    try:
        assert server.stderr is not None
        port = int(re.search(r":(\d+)/metrics", server.stderr.readline()).group(1))  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        assert _get(base + "/health")[0] == 200  # backed up, never verified: a warning
        ws.repo.rename(moved)
        deadline = time.monotonic() + 10
        while (answer := _get(base + "/metrics"))[0] == 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        status, body, _ = answer
        assert status == 503 and b"does not exist" in body, body[:300]
        status, body, _ = _get(base + "/health")
        assert status == 503 and body.startswith(b"the health has not been judged") and b"does not exist" in body
        moved.rename(ws.repo)
        while (status := _get(base + "/health")[0]) == 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status == 200
    finally:
        if moved.exists():
            moved.rename(ws.repo)
        server.terminate()
        assert server.wait(10) == 0
    assert "Traceback" not in (server.stderr.read() if server.stderr else "")


def test_a_problem_about_the_repository_is_in_the_metrics_too(ws: Workspace) -> None:
    """A replace of a database no longer configured, killed mid-swap: critical in monitor --check and /health
    (its repository_problems), while every series of /metrics read healthy, so no Prometheus alert fired."""
    ws.ok("backup")
    ws.ok("verify", "--all")
    dead_pid = subprocess.Popen(["true"])  # a pid whose process has ended
    dead_pid.wait()
    journal = {"kind": "restore", "database": "olddb", "incoming": "olddb__restore_20261207100000",
               "aside": "olddb__pre_restore_20261207100000", "stamp": "20261207100000", "server": "127.0.0.1:5432",
               "step": "rename_aside", "pid": dead_pid.pid, "host": this_host(), "started_at": "2026-12-07T10:00:00Z"}
    path = swap.journal_path(Settings(repository=ws.repo), DatabaseConfig(name="olddb", host=ws.sandbox.host,
                                                                          port=ws.sandbox.port), "olddb")
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(journal) + "\n")  # where repair looks for olddb (the one server configured): believed
    check = ws.run("monitor", "--check", "--no-notify")
    assert check.returncode == 2 and "CRITICAL repository: a restore of olddb was killed" in check.stdout
    figures = _metrics(ws.ok("monitor", "--metrics").stdout)
    assert figures[("backup_tui_health_status", (("database", ws.database), ("host", this_host())))] == 0
    host = ("host", this_host())
    assert figures[("backup_tui_repository_problems", (host, ("severity", "critical")))] == 1
    assert figures[("backup_tui_repository_problems", (host, ("severity", "warning")))] == 0


def test_a_bucket_out_of_reach_is_a_problem_named_with_its_reason(ws: Workspace) -> None:
    """The bucket did not answer: the health was judged on the disk alone and said nothing of the bucket, only
    each backup's "no copy outside this machine" (with keep_local = false, "no valid backup, take one now")."""
    ws.ok("backup")
    config = ws.write("s3.toml", f'[health]\nmin_size_bytes = 1000\n[s3]\nbucket = "gone"\n'
                                 f'endpoint_url = "http://127.0.0.1:{closed_port()}"\nretry_seconds = 1\n')
    ws.env.update(BACKUP_TUI_CONFIG=str(config), S3_ACCESS_KEY="AKIAEXAMPLE", S3_SECRET_KEY="s3-secret-never-shown")
    result = ws.run("monitor", "--json", "--no-notify")
    assert result.returncode == 1, result.stderr
    [problem] = json.loads(result.stdout)["repository_problems"]
    assert (problem["severity"], problem["rule"]) == ("warning", "unreachable")
    assert problem["message"].startswith("the s3 repository could not be listed")
    assert "unreachable" in problem["message"]
    assert "s3-secret-never-shown" not in result.stdout + result.stderr
