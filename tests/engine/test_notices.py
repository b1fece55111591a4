"""Which notices a run sends: a problem once when it appears, again every reminder while it lasts, its end
once; judged over a simulated day of hourly runs with an injected clock. And URLs redacted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from backup_tui.engine.config import NotifyTarget, Settings
from backup_tui.engine.core.health import Health, HealthReport, Problem
from backup_tui.engine.core.notices import State, due, undelivered
from backup_tui.engine.core.redact import redact_text, redact_url
from tests.conftest import closed_port

START = datetime(2025, 3, 14, 0, 0, tzinfo=UTC)
STALE = Problem("app", "critical", "too_old", "last backup 2 days ago (expected daily)", "run a backup")
UNVERIFIED = Problem("app", "warning", "never_verified", "no backup has been verified", "verify it")


def _report(at: datetime, *problems: Problem) -> HealthReport:
    health = Health(database="app", status="failing" if problems else "ok", reasons=(), last_backup=None,
                    last_verification=None, sizes=(), anomalies=(), locations=(), problems=problems)
    return HealthReport(checked_at=at, host="web-1", databases=(health,))


def test_a_day_of_hourly_runs_tells_a_problem_once_reminds_and_tells_its_end() -> None:
    state, told = State(), []
    for hour in range(24):
        at = START + timedelta(hours=hour)
        problems = ((STALE,) if 3 <= hour < 20 else ()) + ((UNVERIFIED,) if hour >= 10 else ())
        notices, state = due(_report(at, *problems), state, at, timedelta(hours=6))
        told += [(hour, n.event, n.key) for n in notices]
    assert told == [
        (3, "failure", "app:too_old"), (9, "failure", "app:too_old"), (10, "warning", "app:never_verified"),
        (15, "failure", "app:too_old"), (16, "warning", "app:never_verified"), (20, "recovery", "app:too_old"),
        (22, "warning", "app:never_verified")]


def test_a_second_backup_found_damaged_is_told_at_once() -> None:
    """A damage rule names its backup: another one named is news, told at once (not at the next reminder) and
    without a recovery of the first, which is still damaged; undelivered, it is tried again. The rules whose
    named backup is merely the newest are not told again when a new backup is taken."""
    def damaged(backup_id: str) -> Problem:
        return Problem("app", "critical", "failed_check", f"verification of {backup_id} failed", "take a new backup",
                       backup_id)

    def small(backup_id: str) -> Problem:
        return Problem("app", "warning", "too_small", "newest backup is 1 KiB", "check it", backup_id)

    state, told = State(), []
    for hour, problems in enumerate([(damaged("app-1"), small("app-1")), (damaged("app-1"), small("app-2")),
                                     (damaged("app-2"), small("app-3"))]):
        at = START + timedelta(hours=hour)
        notices, state = due(_report(at, *problems), state, at, timedelta(hours=24))
        told += [(hour, n.event, n.key, n.title) for n in notices]
    assert [(hour, event, key) for hour, event, key, _ in told] == [
        (0, "failure", "app:failed_check"), (0, "warning", "app:too_small"), (2, "failure", "app:failed_check")]
    assert "verification of app-2 failed" in told[-1][3] and "(still" not in told[-1][3]

    before, at = state, START + timedelta(hours=3)
    notices, after = due(_report(at, damaged("app-3"), small("app-3")), before, at, timedelta(hours=24))
    assert [n.event for n in notices] == ["failure"]
    kept = undelivered(after, before, notices)  # app-3's notice reached nobody: due again
    again, _ = due(_report(at + timedelta(hours=1), damaged("app-3"), small("app-3")), kept,
                   at + timedelta(hours=1), timedelta(hours=24))
    assert [n.event for n in again] == ["failure"]


def test_a_notice_is_worded_for_the_person_on_call() -> None:
    at = START + timedelta(hours=1)
    [notice], _ = due(_report(at, STALE), State(), at, timedelta(hours=24))
    assert notice.title == "[backup-tui] CRITICAL app on web-1: last backup 2 days ago (expected daily)"
    assert "what to do:  run a backup" in notice.body and "backup-headless monitor --check" in notice.body
    [reminder], state = due(_report(at + timedelta(days=1), STALE), _, at + timedelta(days=1), timedelta(hours=24))
    assert "(still, since 2025-03-14T01:00:00Z)" in reminder.title
    [recovered], _ = due(_report(at + timedelta(days=2)), state, at + timedelta(days=2), timedelta(hours=24))
    assert recovered.title.startswith("[backup-tui] RECOVERED app on web-1") and "from:        2025-03-14T01" in \
        recovered.body


def test_a_notice_no_destination_took_is_tried_again_next_run() -> None:
    at = START
    notices, state = due(_report(at, STALE), State(), at, timedelta(hours=24))
    state = undelivered(state, State(), notices)
    again, state = due(_report(at + timedelta(hours=1), STALE), state, at + timedelta(hours=1), timedelta(hours=24))
    assert [n.event for n in again] == ["failure"]
    gone, after = due(_report(at + timedelta(hours=2)), state, at + timedelta(hours=2), timedelta(hours=24))
    assert [n.event for n in gone] == ["recovery"]
    kept = undelivered(after, state, gone)  # the recovery was not delivered: it stays due
    assert [n.event for n in due(_report(at + timedelta(hours=3)), kept, at + timedelta(hours=3),
                                 timedelta(hours=24))[0]] == ["recovery"]


def test_a_state_file_someone_edited_is_read_as_far_as_it_validates() -> None:
    state = State.from_json({"problems": {"app:too_old": {"severity": "critical", "message": "m", "since": "x",
                                                          "notified_at": ""},
                                          "app:x": {"severity": "warning", "message": "m",
                                                    "since": "2025-03-14T00:00:00Z", "notified_at": ""}}})
    assert list(state.problems) == ["app:x"]
    assert State.from_json([1, 2]).problems == {}
    named = State.from_json({"problems": {"app:failed_check": {
        "severity": "critical", "message": "m", "since": "2025-03-14T00:00:00Z", "notified_at": "",
        "backup_id": {"../../etc": 1}}}})  # a backup named by anything but a string: none named
    assert named.problems["app:failed_check"].backup_id == ""


def test_urls_are_shown_by_scheme_and_server_only_and_cleaned_from_text() -> None:
    slack = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    assert redact_url(slack) == "https://hooks.slack.com/********"
    assert redact_url("slack://T000/B000/XXXXSECRET") == "slack://********"
    assert redact_url("mailtos://user:hunter22@smtp.example.com:587?to=a@b") == "mailtos://smtp.example.com:587/********"
    said = redact_text(f"HTTPError posting to {slack}: token XXXXSECRET refused", [slack])
    assert "XXXXSECRET" not in said and "hooks.slack.com/services" not in said
    assert "hunter22" not in redact_text("login hunter22 failed", ["mailtos://user:hunter22@smtp.example.com"])


def test_a_warning_no_destination_asked_for_is_never_recovered(tmp_path: Path) -> None:
    """Only failures and recoveries wanted (the default): a warning went nowhere, was kept as told, and its end
    was sent as RECOVERED, of something no one had heard of."""
    from backup_tui.engine.ops import notify

    target = NotifyTarget(url=f"json://127.0.0.1:{closed_port()}/hook", events=("failure", "recovery"))
    settings = Settings(repository=tmp_path, notify=(target,))
    tmp_path.joinpath("notify").mkdir()
    assert notify.notify_after(settings, _report(START, UNVERIFIED), START) == []  # nothing was for anyone
    state = notify._read_state(notify._state_path(settings), target)
    assert state.problems["app:never_verified"].notified_at == ""
    later = START + timedelta(hours=1)
    notices, _ = due(_report(later), state, later, timedelta(hours=6))
    assert notices == []


def test_a_notice_keeps_every_field_on_its_line() -> None:
    """A run record's error (planted, or a message quoting a server's lines) and a database name can hold a
    newline: the mail's Subject refused it, so the critical notice never went out, and in Slack it wrote a line
    of its own that read as the problem's end."""
    fake = "disk full\n\n[backup-tui] RECOVERED app on web-1: all good"
    failed = Problem("ap\rp\n", "critical", "failed_run", f"backup failed: {fake}", "read its log\nthen rerun")
    at = START + timedelta(hours=1)
    [notice], state = due(_report(at, failed), State(), at, timedelta(hours=24))
    [recovered], _ = due(_report(at + timedelta(hours=1)), state, at + timedelta(hours=1), timedelta(hours=24))
    for told in (notice, recovered):
        assert "\n" not in told.title and "\r" not in told.title
        assert not any(line.startswith("[backup-tui]") for line in told.body.splitlines()), told.body
    assert notice.title.startswith("[backup-tui] CRITICAL ap\\rp\\n on web-1: backup failed: disk full\\n\\n")
    assert len(notice.body.split("\n")) == 5  # database, host, problem, what to do, look closer


def test_a_failed_verify_is_told_while_a_failed_backup_of_the_same_database_is_known() -> None:
    """Each kind of run fails and recovers on its own: with one key per database for every failed run, a verify
    that could not reach its server after a backup failure was told was never told (nor the backup's recovery),
    the report and the dashboard listing both."""
    from backup_tui.engine.core.health import Surroundings, assess
    from backup_tui.engine.core.models import utc_iso
    from backup_tui.engine.core.runs import RunRecord
    from tests.tui.fixtures import NOW, PAGILA_TABLES, _record

    def run(operation: str, ok: bool, at: datetime, error: str = "", backup_id: str = "") -> RunRecord:
        return RunRecord(operation=operation, database="app", host="web-1", pid=1, front_end="backup-headless",
                         started_at=utc_iso(at - timedelta(seconds=5)), finished_at=utc_iso(at), duration_s=5.0,
                         ok=ok, exit_code=0 if ok else 1, error=error, backup_id=backup_id)

    def told(at: datetime, runs: list[RunRecord], state: State) -> tuple[list[tuple[str, str]], State]:
        backup = _record("app", NOW - timedelta(hours=1), 2_000_000, took=1.0, tables=PAGILA_TABLES)
        health = assess("app", [backup], at, around=Surroundings(runs=runs))
        notices, kept = due(HealthReport(checked_at=at, host="web-1", databases=(health,)), state, at,
                            timedelta(hours=24))
        return [(n.event, n.title) for n in notices if n.key.split(":")[1] == "failed_run"], kept

    runs = [run("backup", False, NOW, "server down")]
    first, state = told(NOW, runs, State())
    assert [event for event, _ in first] == ["failure"] and "backup failed: server down" in first[0][1]
    runs += [run("backup", True, NOW + timedelta(hours=1), backup_id="app-2"),
             run("verify", False, NOW + timedelta(hours=2), "server down again", "app-2")]
    then, _ = told(NOW + timedelta(hours=3), runs, state)
    assert sorted(event for event, _ in then) == ["failure", "recovery"], then
    assert any(event == "failure" and "verify of app-2 failed: server down again" in title for event, title in then)
    assert any(event == "recovery" and "backup failed: server down" in title for event, title in then)


def test_a_failed_run_told_before_runs_were_keyed_by_operation_is_not_told_recovered() -> None:
    """A state written when one key stood for every failed run: the failure still going on is neither told again
    nor "RECOVERED" beside its own CRITICAL."""
    failed = Problem("app", "critical", "failed_run", "backup failed: server down", "run it again",
                     operation="backup")
    at = START + timedelta(hours=1)
    old = State.from_json({"problems": {"app:failed_run": {
        "severity": "critical", "message": "backup failed: server down (at 2025-03-14 00:00 UTC)",
        "since": "2025-03-14T00:00:00Z", "notified_at": "2025-03-14T00:00:00Z"}}})
    notices, _ = due(_report(at, failed), old, at, timedelta(hours=24))
    assert notices == []


def test_an_upgrade_tells_neither_the_failure_told_under_the_one_key_again_nor_the_other_recovered() -> None:
    """The one key of a database's failed runs was told for its backup's failure; a verify failing after it wrote
    its message there (the earlier release told it nowhere). Read by its message alone (a verify's), the upgrade
    told the backup's failure again, and when the verify went through, "RECOVERED" of a failure never told."""
    backup = Problem("app", "critical", "failed_run", "backup failed: server down", "run it again",
                     operation="backup")
    verify = Problem("app", "critical", "failed_run", "verify of app-1 failed: server down", "run it again",
                     backup_id="app-1", operation="verify")
    at = START + timedelta(hours=1)
    old = State.from_json({"problems": {"app:failed_run": {
        "severity": "critical", "message": "verify of app-1 failed: server down (at 2025-03-14 00:05 UTC)",
        "since": "2025-03-14T00:00:00Z", "notified_at": "2025-03-14T00:00:00Z", "backup_id": "app-1"}}})
    notices, state = due(_report(at, backup, verify), old, at, timedelta(hours=24))
    assert notices == []
    notices, _ = due(_report(at + timedelta(minutes=5), backup), state, at + timedelta(minutes=5),
                     timedelta(hours=24))
    assert [n.event for n in notices] == ["recovery"]  # the verify's: both were told as the one failed run
    gone, _ = due(_report(at), old, at, timedelta(hours=24))  # both ended before the upgrade: its end, once
    assert [(n.event, n.title.split(": ", 1)[1]) for n in gone] == [
        ("recovery", "verify of app-1 failed: server down (at 2025-03-14 00:05 UTC)")]


def test_each_destination_sent_at_once_says_its_own_failure_not_anothers(tmp_path: Path) -> None:
    """Sent at once, every sender's capture of apprise's log took the lines of the others too: a webhook that
    answered 500 read 'A Connection error occurred sending JSON notification to 127.0.0.2' (another destination's
    failure) on its line and in the run log."""
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from backup_tui.engine.ops import notify

    class Slow500(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(1)  # the other destination fails meanwhile
            self.send_response(500)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow500)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        slow = NotifyTarget(url=f"json://127.0.0.1:{server.server_address[1]}/hook")
        dead = NotifyTarget(url=f"json://127.0.0.2:{closed_port()}/hook")
        settings = Settings(repository=tmp_path, notify=(slow, dead))
        to_slow, to_dead = notify.send_all(settings, [(slow, "t", "b"), (dead, "t", "b")])
    finally:
        server.shutdown()
    assert not to_slow.ok and "500" in to_slow.detail
    assert "127.0.0.2" not in to_slow.detail
    assert not to_dead.ok and "127.0.0.2" in to_dead.detail
