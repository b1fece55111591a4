"""``backup-headless monitor``: the engine's health report for Nagios (--check), scripts (--json),
Prometheus (--metrics, --textfile, --serve)."""

from __future__ import annotations

import argparse
import json
import math
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backup_tui.engine.core.errors import EXIT_FAILED, EXIT_OK, BackupToolError, ConfigError
from backup_tui.engine.core.health import HealthReport
from backup_tui.engine.core.printable import printable
from backup_tui.engine.ops import metrics
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.health import check_health
from backup_tui.engine.ops.notify import notify_after, test_all
from backup_tui.engine.storage.local import require_repository
from headless.output import Output
from headless.runlog import log

if TYPE_CHECKING:
    from http.server import ThreadingHTTPServer

DEFAULT_BIND = "127.0.0.1"
DEFAULT_PORT = 9188
DEFAULT_INTERVAL = 30.0
STATUS_WORD = {0: "OK", 1: "WARNING", 2: "CRITICAL"}
REQUEST_TIMEOUT_S = 30.0  # a scrape's request and answer; an idle connection is closed after it
HUNG_S = 600.0  # no judgement ended for this long (and ten intervals): the report no longer stands


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("monitor", help="health of every database: for Nagios, scripts and Prometheus")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="(default) one line per problem; exit 0 healthy, 1 a warning, 2 critical, 3 unknown")
    mode.add_argument("--json", action="store_true", help="the full health report as JSON (exits as --check)")
    mode.add_argument("--metrics", action="store_true", help="Prometheus text exposition on stdout")
    mode.add_argument("--textfile", metavar="PATH", help="write the metrics for node_exporter's textfile collector")
    mode.add_argument("--serve", action="store_true", help="answer /metrics and /health over HTTP until stopped")
    p.add_argument("--no-notify", action="store_true",
                   help="with --check or --json: send no notices (by default, what changed is notified)")
    p.add_argument("--bind", metavar="ADDR", help=f"with --serve (default {DEFAULT_BIND})")
    p.add_argument("--port", type=int, metavar="N", help=f"with --serve (default {DEFAULT_PORT})")
    p.add_argument("--interval", type=float, metavar="SECONDS",
                   help=f"with --serve: read the catalog at most this often (default {DEFAULT_INTERVAL:g})")


def judges(args: argparse.Namespace) -> bool:
    """``monitor --check`` (the default) or ``--json``: the run whose exit code is a verdict on the backups."""
    return args.command == "monitor" and not (args.metrics or args.textfile is not None or args.serve)


def check_lines(report: HealthReport) -> list[str]:
    """Nagios' shape: the status and a summary first, then a line per problem with its advice."""
    problems = report.problems
    counts = {level: sum(1 for p in problems if p.severity == level) for level in ("critical", "warning")}
    said = ", ".join(f"{n} {level}{'s' if level == 'warning' and n > 1 else ''}" for level, n in counts.items() if n)
    first = f"{STATUS_WORD[report.exit_code]} - {said or 'every database healthy'} ({len(report.databases)} " \
            f"database{'s' if len(report.databases) != 1 else ''}, {report.host})"
    return [first] + [f"{p.severity.upper()} {p.database or 'repository'}: {p.message} -> {p.advice}"
                      for p in problems]


SERVE_ONLY = ("bind", "port", "interval")


def cmd_monitor(ctx: Context, args: argparse.Namespace, out: Output) -> int:
    if args.serve:
        return serve(ctx, DEFAULT_BIND if args.bind is None else args.bind,
                     DEFAULT_PORT if args.port is None else args.port,
                     DEFAULT_INTERVAL if args.interval is None else args.interval)
    given = [f"--{option}" for option in SERVE_ONLY if getattr(args, option) is not None]
    if given:  # a port meant for a server that is not started would be ignored unseen
        raise ConfigError(f"{' and '.join(given)} {'go' if len(given) > 1 else 'goes'} only with --serve "
                          "(see 'backup-headless monitor --help')")
    report = check_health(ctx.settings, ctx.now(), catalog=ctx.catalog)
    if args.metrics:
        sys.stdout.buffer.write(metrics.exposition(report))
        return 0
    if args.textfile is not None:  # "" too: a path, if an empty one, never the --check it fell back to
        metrics.write_textfile(report, Path(args.textfile))
        return 0
    if not args.no_notify:  # only what changed since the last run: a problem is not told every hour
        for failed in notify_after(ctx.settings, report, report.checked_at):
            out.warning(f"notice to {failed.target.shown} not sent: {failed.detail}")
    if args.json:
        out.json(report.to_json())
    else:
        for line in check_lines(report):
            out.line(line, always=True)
    return report.exit_code


class CachedReport:
    """The report, judged at most once per ``interval``, never while a scrape waits: past the interval, a scrape
    gets the report it has at once and starts a judgement in the background for the next one. Only the very
    first waits (``serve`` makes it before it listens)."""

    def __init__(self, judge: Callable[[], HealthReport], interval: float) -> None:
        self.judge, self.interval = judge, interval
        self._report: HealthReport | None = None
        self._metrics: bytes | None = None
        self._at = 0.0
        self._failed = ""  # why the last judgement failed; "" when it did not
        self._refreshing = threading.Lock()
        self._first = threading.Lock()

    def get(self) -> HealthReport:
        """The report; ``StaleHealth`` once it is too old to stand for now (see ``_stale``)."""
        report = self._report
        if report is None:
            with self._first:
                if self._report is None:
                    self._store(self.judge())
            assert self._report is not None
            return self._report
        age = time.monotonic() - self._at
        if age >= self.interval and self._refreshing.acquire(blocking=False):
            threading.Thread(target=self._refresh, name="health-refresh", daemon=True).start()
        why = self._stale(age)
        if why:
            raise StaleHealth(why)
        return report

    def _stale(self, age: float) -> str:
        """Why the last report no longer stands: judgements failed for three intervals (the repository gone, a
        bucket refusing), or none ended for ten (a hung mount). It was served as healthy for ever, its backup
        ages frozen, so no age alert could fire."""
        if self._failed and age > 3 * self.interval:
            return f"the health has not been judged for {age:.0f} s: {self._failed}"
        if age > max(10 * self.interval, HUNG_S):
            return f"the health has not been judged for {age:.0f} s: a judgement is still running"
        return ""

    def metrics(self) -> bytes:
        """The report's Prometheus text, made once per report."""
        report = self.get()
        made = self._metrics
        if made is None or self._report is not report:
            made = metrics.exposition(report)
            if self._report is report:
                self._metrics = made
        return made

    def _store(self, report: HealthReport) -> None:
        self._report, self._metrics, self._at = report, None, time.monotonic()

    def _refresh(self) -> None:
        try:
            self._store(self.judge())
            self._failed = ""
        except Exception as exc:  # the previous report stands for a while (``_stale``); the next scrape tries again
            message = exc.message if isinstance(exc, BackupToolError) else f"{type(exc).__name__}: {exc}"
            if message != self._failed:  # said once on stderr (the journal, under systemd), not every scrape
                print(f"warning: monitor --serve: the health could not be judged: {printable(message)}",
                      file=sys.stderr, flush=True)
            self._failed = message
            log.error("monitor --serve: %s", message)
        finally:
            self._refreshing.release()


class StaleHealth(Exception):
    """The last report is too old to stand for now (``CachedReport._stale``): /health and /metrics say 503."""


def make_server(cache: CachedReport, bind: str, port: int) -> ThreadingHTTPServer:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # 15 ms, for --serve alone

    class Handler(BaseHTTPRequestHandler):
        server_version, sys_version = "backup-tui-monitor", ""  # not which Python runs it
        timeout = REQUEST_TIMEOUT_S  # a client that never finishes its request holds a thread no longer

        def do_HEAD(self) -> None:  # uptime checkers ask with HEAD: the GET's status and headers, no body
            self._head_only = True
            self.do_GET()

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path not in ("/metrics", "/health", "/"):
                self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics or /health\n")
                return
            if path == "/":
                self._send(200, "text/plain; charset=utf-8", b"backup-tui monitor: /metrics /health\n")
                return
            try:
                if path == "/metrics":
                    self._send(200, metrics.content_type(), cache.metrics())
                else:
                    report = cache.get()
                    body = json.dumps(report.to_json(), indent=1).encode() + b"\n"
                    self._send(503 if report.worst == "critical" else 200, "application/json", body)
            except StaleHealth as exc:  # Prometheus marks the target down, a /health check fails: someone looks
                self._send(503, "text/plain; charset=utf-8", f"{printable(str(exc))}\n".encode())
            except Exception as exc:  # one line to the scraper; the server keeps serving
                log.error("monitor --serve: %s: %s", type(exc).__name__, exc)
                self._send(500, "text/plain; charset=utf-8", f"health check failed: {type(exc).__name__}\n".encode())

        def _send(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not getattr(self, "_head_only", False):
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # to the log, not stderr
            log.info("monitor --serve: %s %s", self.address_string(), format % args)

    class Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in bind else socket.AF_INET  # --bind :: listens on IPv6
        request_queue_size = 64  # 5 dropped connections when a few dozen scrapers came at once
        daemon_threads = True

    return Server((bind, port), Handler)


def judge_while_serving(ctx: Context) -> HealthReport:
    """A judgement of ``--serve``: the repository is checked at each one, not only at the start as every command
    does (main), since it can go while the server runs (a mount lost, the folder moved). Read as an empty catalog,
    it was served as a fresh report ("no valid backup, take one now") for every database, never as the failed
    judgement ``CachedReport`` stops standing for (503 with the reason), as ``monitor --check`` says UNKNOWN."""
    require_repository(ctx.settings.repository)
    return check_health(ctx.settings, ctx.now(), catalog=ctx.catalog)


def serve(ctx: Context, bind: str, port: int, interval: float) -> int:
    """Until stopped (Ctrl+C, SIGTERM): main() turns the signal into its exit code."""
    if not math.isfinite(interval) or interval < 0 or not 0 <= port <= 65535:
        raise ConfigError("--interval must be a number of seconds, not negative, and --port between 0 and 65535")
    cache = CachedReport(lambda: judge_while_serving(ctx), interval)
    cache.get()  # the first judgement before the first scrape: none waits for one
    try:
        server = make_server(cache, bind, port)
    except OSError as exc:  # the port is taken, the address is not ours...
        raise ConfigError(f"cannot listen on {bind}:{port}: {exc.strerror or exc}") from None
    print(f"serving http://{bind}:{server.server_port}/metrics and /health (catalog read at most every {interval:g} s)",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:  # SIGTERM (systemctl stop) or Ctrl+C: how a server is meant to end, not a failure
        print("stopped", file=sys.stderr, flush=True)
    finally:
        server.server_close()
    return 0


def add_notify_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("notify", help="send a test notice to every destination and say which worked")
    p.add_argument("--test", action="store_true", required=True, help="send the test notice")


def cmd_notify(ctx: Context, args: argparse.Namespace, out: Output) -> int:
    settings = ctx.settings
    if not settings.notify:
        raise ConfigError("no notification destination configured: add [[notify]] to the config, or set "
                          "SLACK_WEBHOOK_URL or BACKUP_NOTIFY_EMAIL")
    results = test_all(settings)
    for result in results:
        out.line(f"{'ok    ' if result.ok else 'FAILED'} {result.target.shown}"
                 f"{'' if result.ok else ': ' + result.detail}", always=True)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED
