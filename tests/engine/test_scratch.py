"""Which recorded scratch databases and files a run may remove: only a dead process's, on this machine,
on this server. Against the real server of the test session."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.progress import LogLine, ProgressEvent
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops import scratch


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def record_as(entry: scratch.Scratch, **changes: object) -> None:
    """Rewrite a record as another process (or machine) would have written it."""
    data = json.loads(entry.record.read_text())
    data.update(changes)
    entry.record.write_text(json.dumps(data))


def databases(sandbox: Sandbox) -> set[str]:
    return set(sandbox.psql("SELECT datname FROM pg_database").splitlines())


def test_only_dead_local_runs_leftovers_are_removed(settings: Settings, pg_sandbox: Sandbox) -> None:
    server = settings.databases[0]
    names = {tag: f"{server.database}__verify_{tag}" for tag in ("dead", "live", "remote", "other_server")}
    made = {tag: scratch.create_database(settings, server, name, None, "verify") for tag, name in names.items()}
    record_as(made["dead"], pid=dead_pid())
    record_as(made["remote"], pid=dead_pid(), host="another-machine")
    record_as(made["other_server"], pid=dead_pid(), server="service= host=db9.internal port=5432")
    file = settings.repository / "tmp" / "x.dump"
    file.parent.mkdir()
    file.write_bytes(b"decoded")
    record_as(scratch.Scratch.begin(settings, "file", str(file), "restore"), pid=dead_pid())
    (settings.repository / scratch.SCRATCH_DIR / "garbled.json").write_text("{not json")
    said: list[ProgressEvent] = []

    def reporter(event: ProgressEvent) -> None:
        said.append(event)

    removed = scratch.clean_leftovers(settings, server, reporter)

    assert sorted(removed) == sorted([names["dead"], str(file)])
    left = databases(pg_sandbox)
    assert names["dead"] not in left and not file.exists()
    assert {names["live"], names["remote"], names["other_server"]} <= left
    assert sum(isinstance(e, LogLine) and "removed the database" in e.message for e in said) == 1
    for tag in ("live", "remote", "other_server"):
        scratch.drop_database(settings, server, made[tag])
    assert not ({names["live"], names["remote"], names["other_server"]} & databases(pg_sandbox))
    assert [p.name for p in (settings.repository / scratch.SCRATCH_DIR).iterdir()] == ["garbled.json"]


def test_a_failed_create_leaves_no_record(settings: Settings) -> None:
    """The name was taken: that database is someone else's, never ours to drop later."""
    server = settings.databases[0]
    with pytest.raises(psycopg.errors.DuplicateDatabase):
        scratch.create_database(settings, server, server.database, None, "restore")
    assert scratch.recorded(settings) == []


def test_records_of_an_unreachable_repository_are_no_error(settings: Settings, tmp_path: Path) -> None:
    elsewhere = replace(settings, repository=tmp_path / "not-there")
    assert scratch.recorded(elsewhere) == []
    assert scratch.clean_leftovers(elsewhere, settings.databases[0], lambda e: None) == []
