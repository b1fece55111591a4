"""Metrics of a health report: Prometheus text (the only module that imports prometheus_client, and only
when metrics are asked for, so a backup does not load it) and the small ``metrics.json`` every run leaves
in the log folder for other tools."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backup_tui import __version__
from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import ConfigError
from backup_tui.engine.core.health import HealthReport
from backup_tui.engine.core.models import parse_utc
from backup_tui.engine.storage.files import atomic_write
from backup_tui.engine.storage.paths import log_folder

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

METRICS_JSON = "metrics.json"
PREFIX = "backup_tui_"
SEVERITY_VALUE = {"ok": 0, "warning": 1, "critical": 2}


def samples(report: HealthReport) -> Iterator[tuple[str, str, dict[str, str], float]]:
    """(name, help, labels, value) of every metric, in base units (seconds, bytes); the one list both the
    Prometheus exposition and ``metrics.json`` are made of."""
    now, host = report.checked_at, report.host
    yield "info", "backup-tui's version on this host", {"host": host, "version": __version__}, 1
    for level in ("critical", "warning"):  # about no configured database: /health's repository_problems
        yield ("repository_problems", "health problems found now about the repository, not one configured "
               "database (a swap of another killed, a leftover file), by severity", {"host": host, "severity": level},
               sum(1 for p in report.general if p.severity == level))
    for health in report.databases:
        labels = {"database": health.database, "host": host}
        severity = health.severity or "ok"
        yield ("health_status", "0 healthy, 1 a warning, 2 critical (as monitor --check exits)", labels,
               SEVERITY_VALUE[severity])
        for level in ("critical", "warning"):
            yield ("problems", "health problems found now, by severity", {**labels, "severity": level},
                   sum(1 for p in health.problems if p.severity == level))
        # The age an alert reads is the age rule's: a manifest dated in the future made it negative, and an alert
        # on it silent for as long as the date lay ahead (the future date is a critical problem of its own).
        newest = health.last_dated
        if newest is not None:
            created = parse_utc(newest.created_at)
            yield "last_backup_timestamp_seconds", "when the newest valid backup was taken", labels, created.timestamp()
            yield "last_backup_age_seconds", "age of the newest valid backup", labels, (now - created).total_seconds()
            yield "last_backup_size_bytes", "stored bytes of the newest valid backup", labels, newest.stored_bytes
            yield "last_backup_duration_seconds", "how long the newest valid backup took", labels, newest.duration_s
        if health.data_loss_s is not None:
            yield ("data_loss_window_seconds", "now minus the newest valid backup: the data a loss would cost",
                   labels, health.data_loss_s)
        if health.recovery is not None:
            yield ("recovery_time_seconds", "measured duration of the last full verify or restore of the newest "
                   "backup proven restorable", labels, health.recovery[1].duration_s)
        if health.last_verification is not None:
            yield ("last_verification_timestamp_seconds", "when a backup of this database was last verified", labels,
                   parse_utc(health.last_verification.at).timestamp())
            yield ("last_verification_ok", "1 when the last verification passed", labels,
                   int(health.last_verification.ok))
        for run in health.last_runs:  # one series per operation: a verify after a failed backup hides nothing
            run_labels = {**labels, "operation": run.operation}
            yield ("last_run_timestamp_seconds", "when the newest run of this operation (backup, verify, prune) "
                   "ended", run_labels, parse_utc(run.finished_at).timestamp())
            yield "last_run_ok", "1 when the newest run of this operation (backup, verify, prune) succeeded", \
                run_labels, int(run.ok)
        for location, (count, size) in sorted(_per_location(report, health.database).items()):
            where = {**labels, "location": location}
            yield "backups", "valid backups held, by location", where, count
            yield "backups_size_bytes", "stored bytes of the valid backups, by location", where, size


def _per_location(report: HealthReport, database: str) -> dict[str, tuple[int, int]]:
    found: dict[str, tuple[int, int]] = {}
    for record in report.records:
        if record.database == database and record.is_valid and record.host in (report.host, ""):
            for location in record.locations:
                count, size = found.get(location, (0, 0))
                found[location] = (count + 1, size + record.stored_bytes)
    return found


def registry(report: HealthReport) -> CollectorRegistry:
    """A prometheus_client registry holding the report's metrics, gauges all (nothing here only grows)."""
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector, CollectorRegistry

    families: dict[str, GaugeMetricFamily] = {}
    for name, text, labels, value in samples(report):
        family = families.get(name)
        if family is None:
            family = families[name] = GaugeMetricFamily(PREFIX + name, text, labels=sorted(labels))
        family.add_metric([labels[key] for key in sorted(labels)], float(value))

    class Report(Collector):
        def collect(self) -> Iterator[GaugeMetricFamily]:
            yield from families.values()

    held = CollectorRegistry(auto_describe=False)
    held.register(Report())
    return held


def exposition(report: HealthReport) -> bytes:
    """The Prometheus text format (version 0.0.4)."""
    from prometheus_client import generate_latest

    return generate_latest(registry(report))


def content_type() -> str:
    """The Content-Type of ``exposition``'s bytes, as Prometheus expects it."""
    from prometheus_client import CONTENT_TYPE_LATEST

    return str(CONTENT_TYPE_LATEST)


def write_textfile(report: HealthReport, path: Path) -> None:
    """For node_exporter's textfile collector: never read half-made; mode 644, since node_exporter runs as a
    user of its own (metrics hold no secret). A folder that is missing, or a folder given as the file, is one
    clear error, and no temp file is left behind."""
    if not path.name or path.is_dir():
        raise ConfigError(f"--textfile {path}: give a file's path (node_exporter reads <folder>/<name>.prom), "
                          "not a folder")
    if not path.parent.is_dir():
        raise ConfigError(f"--textfile {path}: its folder {path.parent} does not exist")
    atomic_write(path, exposition(report).decode(), 0o644)


def metrics_json(report: HealthReport) -> dict[str, Any]:
    """The health report with its figures, as plain data: the shape of ``metrics.json``."""
    data = report.to_json()
    data["metrics"] = [{"name": PREFIX + name, "labels": labels, "value": value}
                       for name, _, labels, value in samples(report)]
    return data


def write_metrics_json(settings: Settings, report: HealthReport) -> Path:
    """``<log folder>/metrics.json``, atomically (``storage.files.atomic_write``)."""
    path = log_folder(settings) / METRICS_JSON
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(metrics_json(report), indent=1, sort_keys=True) + "\n", 0o600)
    return path
