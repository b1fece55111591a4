"""Notifications delivered for real on 127.0.0.1: a local HTTP server takes the Slack-format and the JSON
webhook posts, aiosmtpd takes the mail. Failures, de-duplication, recoveries, a destination that is down
(the backup still succeeds), ``notify --test`` and the redaction of URLs."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from backup_tui.engine.config import NotifyTarget, Settings
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from tests.conftest import closed_port
from tests.headless.conftest import Workspace, WorkspaceFactory

TOKEN = "T0KEN-b7c1e9d2"  # stands in for the secret part of a webhook URL


@dataclass
class Receiver:
    """An HTTP server that keeps every POST: path and JSON body."""

    server: ThreadingHTTPServer
    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [body for where, body in self.posts if where == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    posts: list[tuple[str, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            posts.append((self.path, json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Receiver(server, posts)
    server.shutdown()
    server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.mails: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        self.mails.append((str(envelope.mail_from), list(envelope.rcpt_tos), content.decode("utf-8", "replace")))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Mailbox]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, box
    controller.stop()


@pytest.fixture
def ws(make_workspace: WorkspaceFactory, tmp_path: Path, receiver: Receiver, smtp: tuple[int, Mailbox]) -> Workspace:
    workspace = make_workspace("notify")
    config = tmp_path / "backup.toml"
    config.write_text(f'[health]\nmin_size_bytes = 1000\n[[notify]]\nurl = "json://127.0.0.1:'
                      f'{receiver.server.server_port}/hook/{TOKEN}"\nevents = ["failure", "recovery", "success"]\n')
    workspace.env.update(BACKUP_TUI_CONFIG=str(config), SLACK_WEBHOOK_URL=f"{receiver.base}/slack/{TOKEN}",
                         BACKUP_NOTIFY_EMAIL="oncall@example.com", BACKUP_SMTP_HOST=f"127.0.0.1:{smtp[0]}",
                         BACKUP_SMTP_FROM="backups@example.com")
    return workspace


def test_a_failure_is_told_once_everywhere_and_its_recovery_too(ws: Workspace, receiver: Receiver,
                                                                 smtp: tuple[int, Mailbox]) -> None:
    down: dict[str, str | None] = {"BACKUP_DB_PORT": str(closed_port())}
    first = ws.run("backup", env=down)
    assert first.returncode == 1
    [slack] = receiver.bodies(f"/slack/{TOKEN}")
    assert set(slack) == {"text"}  # as Slack's incoming webhooks take it
    text = slack["text"]
    assert f"CRITICAL {ws.database} on " in text and "backup failed: " in text
    assert first.stderr.strip().removeprefix("error: ") in text  # the error line itself
    assert "backup-headless monitor --check" in text and "backup-headless backup --database" in text
    [hook] = receiver.bodies(f"/hook/{TOKEN}")
    assert hook["title"] == text.splitlines()[0]
    box = smtp[1]
    [(sender, to, mail)] = box.mails
    assert (sender, to) == ("backups@example.com", ["oncall@example.com"]) and "backup failed: " in mail
    assert ws.run("backup", env=down).returncode == 1  # the same problem: not told again
    assert ws.run("monitor", "--check").returncode == 2
    assert len(receiver.bodies(f"/slack/{TOKEN}")) == 1 and len(box.mails) == 1
    assert ws.run("backup").returncode == 0
    recovered = receiver.bodies(f"/slack/{TOKEN}")[-1]["text"]
    assert recovered.startswith(f"[backup-tui] RECOVERED {ws.database} on ") and "backup failed: " in recovered
    assert "RECOVERED" in box.mails[-1][2]
    hooks = receiver.bodies(f"/hook/{TOKEN}")
    assert [b["title"].split()[1] for b in hooks] == ["CRITICAL", "RECOVERED"]  # one message per run
    assert hooks[0]["title"].endswith("(+1 more)")  # the failed run, and no valid backup yet
    assert f"[backup-tui] OK backup of {ws.database}" in hooks[1]["message"]  # it asked for success too


def test_a_recovery_goes_only_where_its_problem_was_told(ws: Workspace, receiver: Receiver,
                                                         tmp_path: Path) -> None:
    """A warning told to the destination that asked for warnings ends as a recovery there, and only there: Slack
    (failures and recoveries) never heard of it, and a "RECOVERED" out of nowhere reads as the end of an outage."""
    config = tmp_path / "warnings.toml"
    config.write_text(f'[health]\nmin_size_bytes = 1000\n[[notify]]\nurl = "json://127.0.0.1:'
                      f'{receiver.server.server_port}/hook/{TOKEN}"\nevents = ["warning", "recovery"]\n')
    quiet: dict[str, str | None] = {"BACKUP_TUI_CONFIG": str(config), "BACKUP_NOTIFY_EMAIL": None}
    backup = json.loads(ws.ok("backup", "--json", env=quiet).stdout)  # never verified: a warning
    assert [b["title"].split()[1] for b in receiver.bodies(f"/hook/{TOKEN}")] == ["WARNING"]
    assert ws.run("verify", backup["id"], env=quiet).returncode == 0
    assert [b["title"].split()[1] for b in receiver.bodies(f"/hook/{TOKEN}")] == ["WARNING", "RECOVERED"]
    assert receiver.bodies(f"/slack/{TOKEN}") == []


def test_a_destination_that_is_down_never_fails_the_backup_and_its_url_stays_secret(
        ws: Workspace, receiver: Receiver) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/slack/{TOKEN}"
    result = ws.run("backup", env={"BACKUP_DB_PORT": str(closed_port()), "SLACK_WEBHOOK_URL": dead})
    assert result.returncode == 1  # the backup's own failure, nothing added
    assert len(receiver.bodies(f"/hook/{TOKEN}")) == 1  # the other destination still got it
    logs = "\n".join(p.read_text() for p in ws.logs.glob("*.log"))
    assert "notice to Slack webhook http://127.0.0.1:" in logs and "not sent" in logs
    assert TOKEN not in logs + result.stderr + result.stdout
    ok = ws.run("backup", env={"SLACK_WEBHOOK_URL": dead})
    assert ok.returncode == 0 and TOKEN not in ok.stderr


def test_a_destination_that_was_down_is_told_the_failure_at_the_next_run_and_no_other_twice(
        ws: Workspace, receiver: Receiver, smtp: tuple[int, Mailbox]) -> None:
    """Each destination keeps what it was told: with one state for all, the mail taken was the failure kept as
    told, and Slack, down for it, never heard of it (until the reminder, a day later), only of its end."""
    port = closed_port()
    slack: dict[str, str | None] = {"SLACK_WEBHOOK_URL": f"http://127.0.0.1:{port}/slack/{TOKEN}"}
    assert ws.run("backup", env={**slack, "BACKUP_DB_PORT": str(closed_port())}).returncode == 1
    assert len(smtp[1].mails) == 1 and len(receiver.bodies(f"/hook/{TOKEN}")) == 1  # Slack was down
    back = ThreadingHTTPServer(("127.0.0.1", port), receiver.server.RequestHandlerClass)  # same posts
    threading.Thread(target=back.serve_forever, daemon=True).start()
    try:
        assert ws.run("monitor", "--check", env=slack).returncode == 2
        [told] = receiver.bodies(f"/slack/{TOKEN}")
        assert told["text"].startswith(f"[backup-tui] CRITICAL {ws.database} on ") and "backup failed" in told["text"]
        assert len(smtp[1].mails) == 1 and len(receiver.bodies(f"/hook/{TOKEN}")) == 1  # not told twice
        assert ws.run("backup", env=slack).returncode == 0
        assert "RECOVERED" in receiver.bodies(f"/slack/{TOKEN}")[-1]["text"] and "RECOVERED" in smtp[1].mails[-1][2]
    finally:
        back.shutdown()
        back.server_close()


def test_notify_test_says_which_destination_worked(ws: Workspace, receiver: Receiver,
                                                   smtp: tuple[int, Mailbox]) -> None:
    ws.repo.mkdir(parents=True, exist_ok=True)
    result = ws.run("notify", "--test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok    ") == 3 and TOKEN not in result.stdout
    assert "email to oncall@example.com via 127.0.0.1" in result.stdout
    assert len(smtp[1].mails) == 1 and len(receiver.posts) == 2
    broken = ws.run("notify", "--test", env={"SLACK_WEBHOOK_URL": f"http://127.0.0.1:{closed_port()}/x/{TOKEN}"})
    assert broken.returncode == 1 and "FAILED Slack webhook http://127.0.0.1:" in broken.stdout
    assert TOKEN not in broken.stdout + broken.stderr


def test_config_show_redacts_notification_urls(ws: Workspace, receiver: Receiver, smtp: tuple[int, Mailbox]) -> None:
    shown = ws.run("config", "show", "--json")
    assert TOKEN not in shown.stdout
    port = receiver.server.server_port
    assert [t["url"] for t in json.loads(shown.stdout)["notify"]] == [
        f"json://127.0.0.1:{port}/********", f"Slack webhook http://127.0.0.1:{port}/********",
        f"email to oncall@example.com via 127.0.0.1:{smtp[0]}"]


def test_a_run_the_terminal_app_starts_notifies_as_well(tmp_path: Path, settings: Settings,
                                                        receiver: Receiver) -> None:
    """The app calls the engine's operations as they are: the run recorder sends the notice."""
    down = replace(settings.databases[0], port=closed_port())
    target = NotifyTarget(url=f"{receiver.base}/slack/{TOKEN}", kind="slack")
    with pytest.raises(Exception, match="connect"):
        run_backup(Context(replace(settings, notify=(target,))), down)
    [body] = receiver.bodies(f"/slack/{TOKEN}")
    assert "backup failed: " in body["text"]


def test_a_destination_that_answers_a_byte_at_a_time_is_given_up_on_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    """The socket's timeout is per read: a webhook that answered a byte every half second held a failed backup
    (and every monitor run behind the notices' lock) for ever. The whole send has a deadline."""
    from backup_tui.engine.ops import notify

    stop = threading.Event()

    class Dripping(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.wfile.write(b"HTTP/1.1 200 OK\r\n")
            while not stop.wait(0.5):
                self.wfile.write(b"X-Slow: a\r\n")
                self.wfile.flush()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Dripping)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(notify, "DEADLINE_S", 2.0)
    target = NotifyTarget(url=f"http://127.0.0.1:{server.server_port}/slack/{TOKEN}", kind="slack", label="slack")
    try:
        began = time.monotonic()
        delivery = notify.send(Settings(repository=tmp_path, notify=(target,)), target, "title", "body")
        took = time.monotonic() - began
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
    assert not delivery.ok and delivery.detail == "no answer within 2 s"
    assert 1.9 < took < 4, took


def test_notices_to_several_destinations_go_at_once_so_dead_ones_hold_the_run_one_deadline_not_one_each(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the network is down every destination is: three that never answered held a backup's end for three
    deadlines in turn (a minute). Each is sent beside the others, under one deadline."""
    from backup_tui.engine.ops import notify

    stop, arrived = threading.Event(), list[float]()

    class Silent(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            arrived.append(time.monotonic())
            stop.wait(10)

        def log_message(self, format: str, *args: object) -> None:
            pass

    servers = [ThreadingHTTPServer(("127.0.0.1", 0), Silent) for _ in range(3)]
    for server in servers:
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(notify, "DEADLINE_S", 2.0)
    targets = tuple(NotifyTarget(url=f"http://127.0.0.1:{s.server_port}/slack/{TOKEN}", kind="slack", label="slack")
                    for s in servers)
    try:
        deliveries = notify.test_all(Settings(repository=tmp_path, notify=targets))
    finally:
        stop.set()
        for server in servers:
            server.shutdown()
            server.server_close()
    assert [(d.target, d.ok, d.detail) for d in deliveries] == [(t, False, "no answer within 2 s") for t in targets]
    assert len(arrived) == 3 and max(arrived) - min(arrived) < 1.0  # in turn, each came a whole deadline later
