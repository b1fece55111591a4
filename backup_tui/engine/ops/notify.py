"""Sending notices: through apprise (imported here only, and only when there is something to send), or, for
the old SLACK_WEBHOOK_URL, a JSON POST with ``text`` as Slack expects. De-duplicated between runs by a state
file per host. Nothing here raises: a notice that cannot be sent is logged (its URL redacted) and the run it
follows keeps its own result."""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from backup_tui.engine.config import NotifyTarget, Settings
from backup_tui.engine.core.health import HealthReport
from backup_tui.engine.core.notices import Notice, State, due, undelivered
from backup_tui.engine.core.redact import redact_text
from backup_tui.engine.core.runs import RunRecord
from backup_tui.engine.core.untrusted_json import load_json
from backup_tui.engine.storage.files import RECORD_LIMIT, atomic_write, read_capped
from backup_tui.engine.storage.state import state_dir, this_host

log = logging.getLogger("backup_tui")
NOTIFY_DIR = "notify"
TIMEOUT_S = 10.0  # per destination: a dead mail server must not hold a backup's end for long
DEADLINE_S = 2 * TIMEOUT_S  # the whole of one destination's send: connect, write, answer


@dataclass(frozen=True)
class Delivery:
    target: NotifyTarget
    ok: bool
    detail: str = ""  # why not, redacted


def _urls(settings: Settings) -> list[str]:
    return [t.url for t in settings.notify]


def send(settings: Settings, target: NotifyTarget, title: str, body: str) -> Delivery:
    """One notice to one destination (``send_all``); never raises."""
    return send_all(settings, [(target, title, body)])[0]


def send_all(settings: Settings, messages: Sequence[tuple[NotifyTarget, str, str]]) -> list[Delivery]:
    """Each ``(destination, title, body)`` sent at once beside the others, each given up ``DEADLINE_S`` after the
    sending began whatever its destination does; never raises. The socket's own timeout is per read: a webhook
    that answered a byte at a time held a failed backup (and every monitor run waiting on the notices' lock)
    for ever. At once, not in turn: where the network is down, three dead destinations held a backup's end for
    a minute, one deadline after another."""
    outcomes: list[list[Delivery]] = [[] for _ in messages]
    sendings = [threading.Thread(target=lambda out=out, msg=msg: out.append(_send(settings, *msg)),
                                 name="notify", daemon=True)  # left behind, it ends with the process
                for out, msg in zip(outcomes, messages, strict=True)]
    began = time.monotonic()
    for sending in sendings:
        sending.start()
    for sending in sendings:
        sending.join(max(0.0, began + DEADLINE_S - time.monotonic()))
    deliveries = []
    for outcome, (target, _, _) in zip(outcomes, messages, strict=True):
        if not outcome:
            log.warning("notice to %s not sent: no answer within %g s", target.shown, DEADLINE_S)
        deliveries.append(outcome[0] if outcome else Delivery(target, False, f"no answer within {DEADLINE_S:g} s"))
    return deliveries


def _send(settings: Settings, target: NotifyTarget, title: str, body: str) -> Delivery:
    try:
        if target.kind == "slack":
            _post_slack(target.url, f"{title}\n{body}")
        elif target.kind == "smtp":
            from backup_tui.engine.ops.mail import send_mail  # smtplib, ssl, email: loaded when a notice is sent

            send_mail(target.url, target.ca_file, title, body, TIMEOUT_S)
        else:
            _via_apprise(target.url, title, body)
        return Delivery(target, True)
    except Exception as exc:
        detail = redact_text(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, _urls(settings))
        log.warning("notice to %s not sent: %s", target.shown, detail)
        return Delivery(target, False, detail)


def _post_slack(url: str, text: str) -> None:
    import urllib.request  # 15 ms of every run's start (http.client, ssl, email), for runs that send a notice

    request = urllib.request.Request(url, data=json.dumps({"text": text}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
        if not 200 <= answer.status < 300:
            raise OSError(f"the webhook answered HTTP {answer.status}")


class _Captured(logging.Handler):
    """apprise says why a send failed only in its log: keep those lines (never printed: cron would mail them,
    URLs and all), of this send only: destinations are sent at once (``send_all``), and one's failure read another's
    line. apprise logs from its own workers, which run in a copy of the caller's context: the context says whose."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if _capturing.get() is self:
            self.lines.append(record.getMessage())


_capturing: contextvars.ContextVar[_Captured | None] = contextvars.ContextVar("notify_capturing", default=None)


@contextlib.contextmanager
def _apprise_log() -> Iterator[_Captured]:
    logger = logging.getLogger("apprise")
    logger.propagate = False
    captured = _Captured()
    mine = _capturing.set(captured)
    logger.addHandler(captured)
    try:
        yield captured
    finally:
        logger.removeHandler(captured)
        _capturing.reset(mine)


def _via_apprise(url: str, title: str, body: str) -> None:
    import apprise

    with _apprise_log() as captured:
        sender = apprise.Apprise()
        if not sender.add(url):
            raise ValueError("apprise does not know this URL")
        if not sender.notify(title=title, body=body):
            raise OSError("; ".join(captured.lines[-2:]) or "apprise could not deliver it")


def _state_path(settings: Settings) -> Path:
    return state_dir(settings.repository, NOTIFY_DIR) / f"{this_host()}.json"


@contextlib.contextmanager
def _state_locked(settings: Settings) -> Iterator[Path]:
    """Two runs ending at once on this host take turns, so a problem is told once."""
    path = _state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        os.close(fd)


def _read_state(path: Path, target: NotifyTarget) -> State:
    """What ``target`` was told. A file written before each destination had its own (one ``problems`` for all)
    stands for each of them, so nothing is told again on the upgrade."""
    try:
        data = load_json(read_capped(path, RECORD_LIMIT))
    except FileNotFoundError:
        return State()
    except Exception:  # unreadable: start afresh (at worst a notice is sent again)
        return State()
    kept = data.get("destinations") if isinstance(data, dict) else None
    return State.from_json(kept.get(_target_key(target)) if isinstance(kept, dict) else data)


def _target_key(target: NotifyTarget) -> str:
    """A destination's name in the state file: a digest of its URL (the URL holds its token)."""
    return hashlib.sha256(target.url.encode()).hexdigest()[:16]


def message(target: NotifyTarget, notices: Sequence[Notice]) -> tuple[list[Notice], str, str]:
    """The notices ``target`` asked for (by event), and their one message (title, body): one run, one page."""
    # A recovery goes where its problem went: "RECOVERED" of a warning a failures-only channel never saw
    # reads as the end of an outage nobody had.
    wanted = [n for n in notices if n.event in target.events and (n.was is None or n.was in target.events)]
    if not wanted:
        return [], "", ""
    title = wanted[0].title + (f" (+{len(wanted) - 1} more)" if len(wanted) > 1 else "")
    body = "\n\n".join(n.body if len(wanted) == 1 else f"{n.title}\n{n.body}" for n in wanted)
    return wanted, title, body


def notify_after(settings: Settings, report: HealthReport, now: datetime,
                 runs: Sequence[RunRecord] = ()) -> list[Delivery]:
    """Tell what changed since the last run of this host; never raises. Returns the deliveries that failed."""
    if not settings.notify:
        return []
    try:
        with _state_locked(settings) as path:
            reminder = timedelta(hours=min(t.reminder_hours for t in settings.notify))
            # Each destination keeps what it was told: with one state for all, a notice one destination took
            # was kept as told everywhere, and a destination that was down for it never heard of the failure
            # (until the next reminder), only of its end.
            due_now = []
            for target in settings.notify:
                old = _read_state(path, target)
                notices, state = due(report, old, now, reminder, runs)
                due_now.append((target, old, notices, state, message(target, notices)))
            asked = [(target, title, body) for target, _, _, _, (wanted, title, body) in due_now if wanted]
            deliveries = iter(send_all(settings, asked))
            kept, failed = {}, []
            for target, old, notices, state, (wanted, _, _) in due_now:
                delivery = next(deliveries) if wanted else None
                # Not told: it failed, or it was not asked for (a warning where only failures and recoveries are
                # wanted was kept as told, and its end was then told as a recovery of it)
                told = delivery is None or delivery.ok
                lost = [n for n in notices if (n in wanted and not told)
                        or (n not in wanted and n.event in ("failure", "warning"))]
                kept[_target_key(target)] = undelivered(state, old, lost).to_json()
                if delivery is not None and not delivery.ok:
                    failed.append(delivery)
            atomic_write(path, json.dumps({"destinations": kept}, indent=1) + "\n")
            return failed
    except Exception as exc:
        log.warning("notifications skipped: %s", redact_text(f"{type(exc).__name__}: {exc}", _urls(settings)))
        return []


def test_all(settings: Settings) -> list[Delivery]:
    """``notify --test``: one test message to every destination, whatever its events."""
    title = f"[backup-tui] test notice from {this_host()}"
    body = "If you read this, backup-tui's notices reach you here."
    return send_all(settings, [(target, title, body) for target in settings.notify])
