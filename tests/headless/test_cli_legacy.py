"""Backups made by the old shell scripts: listed, verified (gzip + sha256, psql restore), restored."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.headless.conftest import Workspace, WorkspaceFactory, files_containing, one_error_line

GOOD_STAMP = "20240105_020000"
BAD_STAMP = "20240104_020000"


@dataclass
class Legacy:
    ws: Workspace
    good: Path
    bad: Path

    def id_of(self, path: Path) -> str:
        return f"legacy-daily-{path.name.removesuffix('.sql.gz')}"


def old_script_backup(ws: Workspace, stamp: str) -> Path:
    """What the old scripts did: pg_dump -Fp | gzip -9, then sha256sum and a .meta beside it."""
    daily = ws.repo / "daily"
    daily.mkdir(parents=True, exist_ok=True)
    name = f"{ws.database}_{stamp}.sql.gz"
    env = {**os.environ, **ws.sandbox.env()}
    subprocess.run(f'pg_dump -Fp "{ws.database}" | gzip -9 > "{name}"', shell=True, cwd=daily, env=env,
                   check=True)
    subprocess.run(f'sha256sum "{name}" > "{name}.sha256"', shell=True, cwd=daily, check=True)
    path = daily / name
    (daily / f"{name}.meta").write_text(
        f"database={ws.database}\nhost={ws.sandbox.host}\ntimestamp={stamp}\ntype=daily\n"
        f"size={path.stat().st_size}\nserver_version=15\n"
    )
    return path


@pytest.fixture(scope="module")
def legacy(make_workspace: WorkspaceFactory) -> Legacy:
    ws = make_workspace("legacy")
    good = old_script_backup(ws, GOOD_STAMP)
    # A second one, then damaged on disk: one byte flipped in the middle, the sidecar as it was.
    bad = old_script_backup(ws, BAD_STAMP)
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    return Legacy(ws, good, bad)


def test_old_backups_are_listed(legacy: Legacy) -> None:
    items = {i["id"]: i for i in legacy.ws.listing()}
    assert set(items) == {legacy.id_of(legacy.good), legacy.id_of(legacy.bad)}
    item = items[legacy.id_of(legacy.good)]
    assert item["status"] == "legacy"
    assert item["database"] == legacy.ws.database
    assert (item["format"], item["compression"]) == ("plain", "gzip")
    assert item["locations"] == ["local"]
    assert Path(item["path"]) == legacy.good
    assert item["size_bytes"] == legacy.good.stat().st_size
    assert item["sha256"] == hashlib.sha256(legacy.good.read_bytes()).hexdigest()
    assert item["pinned"] is False
    assert item["verified"] is None
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", item["created_at"])
    taken = datetime.strptime(GOOD_STAMP, "%Y%m%d_%H%M%S").astimezone()  # the scripts wrote local time
    assert item["created_at"] == taken.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    # newest first
    assert [i["id"] for i in legacy.ws.listing()] == [legacy.id_of(legacy.good), legacy.id_of(legacy.bad)]


def test_old_backup_verifies_quick_and_full(legacy: Legacy) -> None:
    ws, backup_id = legacy.ws, legacy.id_of(legacy.good)
    quick = ws.run("verify", backup_id, "--quick")
    assert (quick.returncode, quick.stdout, quick.stderr) == (0, "", "")
    (full,) = ws.json("verify", backup_id)
    assert (full["level"], full["ok"]) == ("full", True)
    assert any("test restore" in c for c in full["checks"])
    assert not any("manifest" in c for c in full["checks"]), full["checks"]  # it has none to match
    assert ws.item(backup_id)["verified"]["ok"] is True
    history = ws.json("show", backup_id)["verifications"]
    assert [(v["level"], v["ok"]) for v in history] == [("quick", True), ("full", True)]
    assert len(list((legacy.good.parent / "reports").glob(f"{legacy.good.name}-*.txt"))) == 2
    assert not [d for d in ws.databases() if "__verify_" in d]
    # the old files themselves are untouched
    check = subprocess.run(["sha256sum", "-c", f"{legacy.good.name}.sha256"], cwd=legacy.good.parent,
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout


def test_old_backup_restores_into_a_new_database(legacy: Legacy) -> None:
    ws, target = legacy.ws, f"{legacy.ws.database}_xlegacy"
    result = ws.run("restore", legacy.id_of(legacy.good), "--target-db", target)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert ws.psql("SELECT count(*) FROM rental", target) == "16044"
    assert ws.psql("SELECT count(*) FROM film_actor", target) == ws.psql("SELECT count(*) FROM film_actor")
    assert ws.psql("SELECT last_value FROM actor_actor_id_seq", target) == \
        ws.psql("SELECT last_value FROM actor_actor_id_seq")


def test_an_old_backups_restore_refuses_the_options_psql_cannot_honour(legacy: Legacy) -> None:
    """--no-owner was ignored for a plain dump: the plan read clean, and psql stopped on 'role ... does not exist'."""
    ws, target = legacy.ws, f"{legacy.ws.database}_xlegacy_owners"
    for option in ("--no-owner", "--no-tablespaces"):
        result = ws.run("restore", legacy.id_of(legacy.good), "--target-db", target, option, "--dry-run")
        assert result.returncode == 2, result.stderr
        assert "plain SQL dump (the old scripts'): psql runs its OWNER TO" in one_error_line(result)
    assert target not in ws.databases()


def test_an_old_backups_restore_says_its_tables_were_not_compared(legacy: Legacy) -> None:
    # The old scripts record no row counts: "21 tables match the manifest" claimed a check that never ran
    ws, target = legacy.ws, f"{legacy.ws.database}_xlegacy_said"
    code, out, err = ws.run_on_terminal("restore", legacy.id_of(legacy.good), "--target-db", target)
    assert code == 0, err
    assert re.search(r"; \d+ tables restored; no row counts in this backup to compare them with\n", out), out
    assert re.search(r"verify done \(\d+ tables restored; no row counts", err), err  # the engine's step too
    assert "match" not in out + err


def test_damaged_old_backup_fails_verification(legacy: Legacy) -> None:
    ws, backup_id = legacy.ws, legacy.id_of(legacy.bad)
    for args in (("verify", backup_id, "--quick"), ("verify", backup_id)):
        result = ws.run(*args)
        assert result.returncode == 4, result.stderr
        line = one_error_line(result)
        assert backup_id in line
        assert "checksum" in line or "gzip" in line or "corrupt" in line.lower()
    verified = ws.item(backup_id)["verified"]
    assert verified["ok"] is False
    assert not [d for d in ws.databases() if "__verify_" in d]
    # the damage does not spread: --all fails as a whole, the good one still passes
    result = ws.run("verify", "--all", "--quick")
    assert result.returncode == 4
    assert backup_id in one_error_line(result)
    assert ws.item(legacy.id_of(legacy.good))["verified"]["ok"] is True


def test_damaged_old_backup_cannot_be_restored(legacy: Legacy) -> None:
    ws, target = legacy.ws, f"{legacy.ws.database}_xdamaged"
    result = ws.run("restore", legacy.id_of(legacy.bad), "--target-db", target)
    assert result.returncode == 4  # corruption is a verification failure
    assert legacy.bad.name in one_error_line(result)
    assert target not in ws.databases()  # the half-loaded database was dropped


def test_password_never_in_logs_or_repository(legacy: Legacy) -> None:
    assert list(legacy.ws.logs.glob("*.log"))
    assert files_containing(legacy.ws.logs, legacy.ws.password) == []
    assert files_containing(legacy.ws.repo, legacy.ws.password) == []

