"""Which recorded scratch databases and files a run may remove: only a dead process's, on this machine,
on this server. Against the real server of the test session."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core import names
from backup_tui.engine.core.progress import LogLine, ProgressEvent
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops import scratch
from backup_tui.engine.postgres import pg
from tests.conftest import dead_pid


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


@pytest.mark.parametrize(("after", "chosen"), [("create", False), ("connect", False), ("connect", True)],
                         ids=["work-database-made", "work-database-nothing-sent", "operator-named-nothing-sent"])
def test_a_create_interrupted_leaves_no_database_and_no_record(
    settings: Settings, pg_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, after: str, chosen: bool,
) -> None:
    """A signal right after the server made a replace's work database (its answer not yet taken), or before
    anything was sent: nothing is left behind, neither a database nor its record."""
    server = settings.databases[0]
    name = "restored_here" if chosen else names.side_name(server.database, names.WORK, datetime.now(UTC))
    real = pg.create_database if after == "create" else pg.connect

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        real(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(pg, "create_database" if after == "create" else "connect", interrupted)
    with pytest.raises(KeyboardInterrupt):
        scratch.create_database(settings, server, name, None, "restore")
    monkeypatch.undo()
    assert name not in databases(pg_sandbox)
    assert scratch.recorded(settings) == []


def test_an_operator_named_database_interrupted_once_made_is_dropped(
    settings: Settings, pg_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its CREATE returned, then a signal before its marker comment: it is ours all the same, and dropped."""
    server, name, made = settings.databases[0], "restored_then_stopped", []
    real_create, real_ident = pg.create_database, pg.ident

    def create(*args: Any, **kwargs: Any) -> None:
        real_create(*args, **kwargs)
        made.append(True)

    def ident(value: str) -> object:
        if made == [True]:  # the marker comment's statement, once
            made.append(True)
            raise KeyboardInterrupt
        return real_ident(value)

    monkeypatch.setattr(pg, "create_database", create)
    monkeypatch.setattr(pg, "ident", ident)
    with pytest.raises(KeyboardInterrupt):
        scratch.create_database(settings, server, name, None, "restore")
    monkeypatch.undo()
    assert made and name not in databases(pg_sandbox)
    assert scratch.recorded(settings) == []


def test_an_operator_named_database_made_by_someone_else_is_left_with_its_record(
    settings: Settings, pg_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Interrupted before the server's answer came, a name the operator chose that someone else made meanwhile
    stays theirs: it carries no marker of ours, and its record says so to the next run."""
    server = settings.databases[0]
    name = "made_meanwhile"
    pg_sandbox.psql(f"CREATE DATABASE {name}")

    def no_answer(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pg, "create_database", no_answer)
    with pytest.raises(KeyboardInterrupt):
        scratch.create_database(settings, server, name, None, "restore")
    monkeypatch.undo()
    assert name in databases(pg_sandbox)
    (left,) = scratch.recorded(settings)
    assert left.name == name
    left.forget()
    pg_sandbox.psql(f"DROP DATABASE {name}")


def test_records_of_an_unreachable_repository_are_no_error(settings: Settings, tmp_path: Path) -> None:
    elsewhere = replace(settings, repository=tmp_path / "not-there")
    assert scratch.recorded(elsewhere) == []
    assert scratch.clean_leftovers(elsewhere, settings.databases[0], lambda e: None) == []


def test_a_scratch_database_another_role_holds_for_a_moment_is_dropped_all_the_same(
        settings: Settings, pg_sandbox: Sandbox) -> None:
    """DROP ... WITH (FORCE) may not end another role's session (here the superuser's, as a monitor's or a person's
    psql would be): tried again a moment later, the work database goes, where it was left for the next run."""
    pg_sandbox.psql("DO $$ BEGIN CREATE ROLE bt_scratcher LOGIN PASSWORD 'Pw-5521-s' CREATEDB; EXCEPTION WHEN "
                    "duplicate_object THEN NULL; END $$")
    server = replace(settings.databases[0], user="bt_scratcher", password="Pw-5521-s")
    made = scratch.create_database(settings, server, names.verify_name("held", "0a1b2c3d"), None, "verify")
    holder = psycopg.connect(pg_sandbox.conninfo(made.name), autocommit=True)
    releaser = threading.Timer(scratch.DROP_PAUSE_S * 0.6, holder.close)
    releaser.start()
    try:
        scratch.drop_database(settings, server, made)
    finally:
        releaser.join()
        holder.close()
    assert made.name not in databases(pg_sandbox)
