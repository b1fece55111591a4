"""backup, list, show, verify and restore through backup-headless, as cron runs it."""

from __future__ import annotations

import hashlib
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import history_records
from tests.headless.conftest import Workspace, WorkspaceFactory, files_containing

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
LIST_FIELDS = {"id", "database", "created_at", "size_bytes", "raw_bytes", "sha256", "format", "compression",
               "locations", "path", "pinned", "verified"}


@dataclass
class Lifecycle:
    ws: Workspace
    quiet_run: subprocess.CompletedProcess[str]
    logs_after_quiet_run: list[Path]
    first: dict[str, Any]  # from `list --json` right after the quiet run
    second: dict[str, Any]  # from `backup --json`
    listed_before_verify: list[dict[str, Any]]


@pytest.fixture(scope="module")
def life(make_workspace: WorkspaceFactory) -> Lifecycle:
    ws = make_workspace("lifecycle")
    quiet = ws.run("backup")
    logs = sorted(ws.logs.glob("*.log")) if ws.logs.exists() else []
    first = ws.listing()
    assert len(first) == 1, first
    second = ws.backup()
    return Lifecycle(ws, quiet, logs, first[0], second, ws.listing())


def _table_counts(ws: Workspace, tables: list[str]) -> dict[str, int]:
    sql = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in tables)
    rows = [line.split("|") for line in ws.psql(sql).splitlines()]
    return {name: int(count) for name, count in rows}


def _check_item(item: dict[str, Any], ws: Workspace) -> None:
    assert set(item) >= LIST_FIELDS, LIST_FIELDS - set(item)
    assert item["database"] == ws.database
    assert ISO_UTC.match(item["created_at"]), item["created_at"]
    created = datetime.fromisoformat(item["created_at"].replace("Z", "+00:00"))
    assert created.utcoffset() is not None
    assert abs((datetime.now(UTC) - created).total_seconds()) < 600
    assert item["format"] == "custom"
    assert item["compression"] == "zstd"
    assert item["locations"] == ["local"]
    assert item["pinned"] is False
    path = Path(item["path"])
    assert path.is_file()
    assert path.is_relative_to(ws.repo)
    assert item["size_bytes"] == path.stat().st_size > 0
    assert item["raw_bytes"] > item["size_bytes"]  # pagila compresses
    assert item["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_backup_is_quiet_without_a_terminal(life: Lifecycle) -> None:
    assert life.quiet_run.returncode == 0, life.quiet_run.stderr
    assert life.quiet_run.stdout == ""
    assert life.quiet_run.stderr == ""


def test_backup_writes_a_run_log(life: Lifecycle) -> None:
    assert len(life.logs_after_quiet_run) == 1, life.logs_after_quiet_run
    log = life.logs_after_quiet_run[0]
    assert "backup" in log.name
    text = log.read_text(encoding="utf-8")
    assert life.first["id"] in text
    assert "exit 0" in text


def test_backup_json_prints_one_listed_object(life: Lifecycle) -> None:
    _check_item(life.second, life.ws)
    assert life.second["verified"] is None
    assert life.second["id"] != life.first["id"]
    by_id = {i["id"]: i for i in life.listed_before_verify}
    assert by_id[life.second["id"]] == life.second


def test_sidecar_checks_with_sha256sum(life: Lifecycle) -> None:
    path = Path(life.second["path"])
    sidecar = path.with_name(path.name + ".sha256")
    assert sidecar.read_text() == f"{life.second['sha256']}  {path.name}\n"
    check = subprocess.run(["sha256sum", "-c", sidecar.name], cwd=path.parent, capture_output=True, text=True,
                           check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_list_json_items(life: Lifecycle) -> None:
    items = life.listed_before_verify
    assert [i["id"] for i in items] == [life.second["id"], life.first["id"]]  # newest first
    for item in items:
        _check_item(item, life.ws)
        assert item["verified"] is None
        assert item["status"] == "valid"
    assert life.ws.run("list", "--database", "no_such_db").returncode == 2  # a typo, not an empty listing


def test_show_prints_manifest_and_row_counts(life: Lifecycle) -> None:
    backup_id = life.first["id"]
    text = life.ws.ok("show", backup_id).stdout
    assert backup_id in text
    assert life.first["sha256"] in text
    assert re.search(r"public\.rental\s+16044", text)
    assert "verification history" in text


def test_show_json_has_the_manifest(life: Lifecycle) -> None:
    data = life.ws.json("show", life.first["id"])
    assert data["id"] == life.first["id"]
    manifest = data["manifest"]
    for key in ("id", "database", "server_version", "tool_versions", "format", "compression", "created_at",
                "finished_at", "duration_s", "raw_bytes", "stored_bytes", "sha256", "row_counts", "locations",
                "pinned"):
        assert key in manifest, key
    assert manifest["server_version"].startswith("15")
    assert "pg_dump" in manifest["tool_versions"]
    assert manifest["stored_bytes"] == life.first["size_bytes"]
    counts = manifest["row_counts"]
    assert counts["public.rental"] == 16044
    assert counts["public.actor"] == 200
    assert _table_counts(life.ws, sorted(counts)) == counts  # exact, every table
    assert isinstance(data["verifications"], list)


def _pg_dump_version() -> str:
    try:
        out = subprocess.run(["pg_dump", "--version"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""
    return out.strip()


def test_manifest_records_the_pg_dump_version(life: Lifecycle) -> None:
    data = life.ws.json("show", life.first["id"])
    match = re.search(r"\(PostgreSQL\) (\S+)", _pg_dump_version())
    assert match is not None
    assert data["manifest"]["tool_versions"]["pg_dump"] == match[1]


def test_verify_quick_then_full_keeps_history_and_reports(life: Lifecycle) -> None:
    ws, backup_id = life.ws, life.second["id"]
    folder = Path(life.second["path"]).parent
    assert not history_records(folder)

    quick = ws.run("verify", backup_id, "--quick")
    assert (quick.returncode, quick.stdout, quick.stderr) == (0, "", "")
    verified = ws.item(backup_id)["verified"]
    assert set(verified) == {"at", "level", "ok"}
    assert (verified["level"], verified["ok"]) == ("quick", True)
    assert ISO_UTC.match(verified["at"])

    results = ws.json("verify", backup_id)
    assert [(r["id"], r["level"], r["ok"]) for r in results] == [(backup_id, "full", True)]
    assert results[0]["row_counts"]["public.rental"] == [16044, 16044]

    shown = ws.json("show", backup_id)
    assert (shown["verified"]["level"], shown["verified"]["ok"]) == ("full", True)
    assert [(v["level"], v["ok"]) for v in shown["verifications"]] == [("quick", True), ("full", True)]
    assert len(history_records(folder)) == 2
    reports = sorted((folder / "reports").glob("*.txt"))
    assert sorted(r.name.rsplit("-", 1)[-1] for r in reports) == ["full.txt", "quick.txt"]
    for report in reports:
        text = report.read_text()
        assert "PASSED" in text
        assert backup_id in text
    human = ws.ok("show", backup_id).stdout
    assert re.search(r"quick\s+ok", human)
    assert re.search(r"full\s+ok", human)
    assert not [d for d in ws.databases() if "__verify_" in d], "the throwaway database was left behind"


def _history_lengths(ws: Workspace, items: list[dict[str, Any]]) -> dict[str, int]:
    counts = {}
    for item in items:
        counts[item["id"]] = len(history_records(Path(item["path"]).parent))
    return counts


def test_verify_all_in_parallel(life: Lifecycle) -> None:
    ws = life.ws
    items = ws.listing()
    assert len(items) == 2
    before = _history_lengths(ws, items)
    result = ws.run("verify", "--all", "--parallel", "2")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    after = ws.listing()
    assert _history_lengths(ws, after) == {k: v + 1 for k, v in before.items()}
    for item in after:
        assert (item["verified"]["level"], item["verified"]["ok"]) == ("full", True)
        assert list((Path(item["path"]).parent / "reports").glob("*-full.txt"))
    assert not [d for d in ws.databases() if "__verify_" in d]


def test_restore_into_a_new_database(life: Lifecycle) -> None:
    ws, target = life.ws, f"{life.ws.database}_xrestored"
    result = ws.run("restore", life.first["id"], "--target-db", target)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert target in ws.databases()
    assert ws.psql("SELECT count(*) FROM rental", target) == "16044"
    assert ws.psql("SELECT count(*) FROM payment", target) == ws.psql("SELECT count(*) FROM payment")


def test_every_verification_keeps_its_report(life: Lifecycle) -> None:
    ws, backup_id = life.ws, life.first["id"]
    folder = Path(life.first["path"]).parent
    for _ in range(5):  # two verifications in the same second: start them together
        with ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(lambda _: ws.run("verify", backup_id, "--quick"), range(2)))
        assert [r.returncode for r in runs] == [0, 0]
        stamps = [entry["at"] for entry in history_records(folder)]
        if len(stamps) != len(set(stamps)):
            break
    else:
        pytest.skip("could not get two verifications into the same second")
    assert len(list((folder / "reports").glob("*.txt"))) == len(stamps)


def test_password_never_in_logs_or_repository(life: Lifecycle) -> None:
    assert life.ws.runs
    assert list(life.ws.logs.glob("*.log"))
    assert files_containing(life.ws.logs, life.ws.password) == []
    assert files_containing(life.ws.repo, life.ws.password) == []
