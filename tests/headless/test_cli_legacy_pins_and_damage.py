"""The old shell scripts' backups beyond listing and restoring them: pinned and unpinned (the marker beside the
dump, kept through prune, gone with a delete); damage found and named alike by verify and restore (a dump cut
short, a .sha256 missing or not matching, a psql backslash command planted in a dump); a raw size that is unknown,
shown so and estimated for a restore; and ids longer than the list's usual ID column."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from backup_tui.engine.ops.restore import GZIP_SQL_FACTOR, RESTORE_SPACE_FACTOR
from backup_tui.engine.storage import legacy as legacy_format
from backup_tui.engine.storage.catalog import Catalog
from backup_tui.engine.storage.local import LocalRepository
from backup_tui.engine.storage.space import human_bytes
from tests.headless.conftest import Workspace, WorkspaceFactory, files_containing, one_error_line

KEEP_ONE = {"BACKUP_RETENTION_DAYS": "1", "BACKUP_RETENTION_WEEKS": "1", "BACKUP_RETENTION_MONTHS": "1"}
CUT_SHORT = "plain dump is cut short: no 'dump complete' line at its end"


@dataclass
class Old:
    """A workspace with the old scripts' folders and the plain dump they would have taken of its database."""

    ws: Workspace
    sql: bytes

    def write(self, stamp: str, sql: bytes | None = None, *, tier: str = "daily", sidecar: bool = True) -> str:
        """``pg_dump -Fp | gzip -9`` then ``sha256sum``, as the scripts did; the backup's id."""
        folder = self.ws.repo / tier
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.ws.database}_{stamp}.sql.gz"
        path.write_bytes(gzip.compress(self.sql if sql is None else sql, compresslevel=9))
        if sidecar:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            Path(f"{path}.sha256").write_text(f"{digest}  {path.name}\n")
        return f"legacy-{tier}-{path.name.removesuffix('.sql.gz')}"

    def path(self, backup_id: str) -> Path:
        _, tier, stem = backup_id.split("-", 2)
        return self.ws.repo / tier / f"{stem}.sql.gz"


def dump_sql(ws: Workspace) -> bytes:
    env = {**os.environ, **ws.sandbox.env()}
    done = subprocess.run(["pg_dump", "-Fp", ws.database], env=env, capture_output=True, check=True)
    assert legacy_format.PLAIN_DUMP_END in done.stdout[-256:]
    return done.stdout


@pytest.fixture(scope="module")
def old(make_workspace: WorkspaceFactory) -> Old:
    ws = make_workspace("legacy-more")
    return Old(ws, dump_sql(ws))


def cut_in_copy_data(sql: bytes) -> bytes:
    """Cut mid-row in the rental table's data: what a full disk under the old script left."""
    start = sql.index(b"COPY public.rental ")
    return sql[: start + (sql.index(b"\n\\.\n", start) - start) // 2]


def cut_before_the_end(sql: bytes) -> bytes:
    """Every statement whole, only pg_dump's last comment lines missing: psql loads it without an error."""
    return sql[: sql.rindex(b"--\n-- PostgreSQL database dump complete")]


# -- pin and unpin ---------------------------------------------------------------------------------------


def test_pin_and_unpin_a_legacy_backup(make_workspace: WorkspaceFactory) -> None:
    ws = make_workspace("legacy-pin")
    ws.env.update(KEEP_ONE)
    old = Old(ws, b"-- a stand-in: pins and prune never read the dump\n")
    older, newer = old.write("20240104_020000"), old.write("20240105_020000")
    marker = Path(f"{old.path(older)}.pinned")

    pinned = ws.run("pin", older)
    assert (pinned.returncode, pinned.stdout, pinned.stderr) == (0, "", "")
    assert marker.is_file()
    assert {i["id"]: i["pinned"] for i in ws.listing()} == {older: True, newer: False}
    assert "pinned          yes" in ws.ok("show", older).stdout
    plan = {d["id"]: d for d in ws.json("prune", "--dry-run")}
    assert plan[older]["keep"] is True
    assert "pinned" in plan[older]["reasons"]

    pruned = ws.run("prune")
    assert (pruned.returncode, pruned.stderr) == (0, "")
    assert old.path(older).is_file() and marker.is_file()

    unpinned = ws.json("unpin", older)
    assert (unpinned["id"], unpinned["pinned"]) == (older, False)
    assert not marker.exists()
    assert ws.item(older)["pinned"] is False
    assert ws.ok("prune").stderr == ""
    assert not old.path(older).exists()
    assert [i["id"] for i in ws.listing()] == [newer]


def test_deleting_a_pinned_legacy_backup_removes_its_marker(make_workspace: WorkspaceFactory) -> None:
    """What the TUI's delete does: the pin goes with the file, no stray marker is left behind."""
    ws = make_workspace("legacy-delete")
    old = Old(ws, b"-- a stand-in\n")
    backup_id = old.write("20240105_020000")
    ws.ok("pin", backup_id)
    repo = LocalRepository(ws.repo)
    (record,) = [r for r in Catalog([repo]).list() if r.id == backup_id]
    assert record.pinned
    repo.delete(record)
    assert sorted(p.name for p in old.path(backup_id).parent.iterdir()) == []


@pytest.mark.parametrize("leftover", ["incomplete", "damaged"])
def test_pinning_a_broken_backup_is_a_usage_error(make_workspace: WorkspaceFactory, leftover: str) -> None:
    ws = make_workspace(f"pin-{leftover}")
    backup_id = f"{ws.database}-20240105T020000Z"
    folder = ws.repo / "backups" / ws.database / backup_id
    folder.mkdir(parents=True)
    (folder / f"{backup_id}.dump.zst").write_bytes(b"partial")
    if leftover == "damaged":  # the dump finished (sidecar written), the manifest was lost
        (folder / f"{backup_id}.dump.zst.sha256").write_text(f"{'0' * 64}  {backup_id}.dump.zst\n")
    assert ws.item(backup_id)["status"] == leftover
    for command in ("pin", "unpin"):
        result = ws.run(command, backup_id)
        assert result.returncode == 2, result.stderr
        line = one_error_line(result)
        assert backup_id in line and leftover in line and "pinned" in line
    assert ws.item(backup_id)["pinned"] is False


# -- a plain dump cut short ---------------------------------------------------------------------------


@pytest.mark.parametrize(("stamp", "cut"), [("20240102_020000", cut_in_copy_data),
                                            ("20240103_020000", cut_before_the_end)],
                         ids=["psql-fails", "psql-succeeds"])
def test_a_dump_cut_short_is_damage_for_verify_and_restore_alike(
    old: Old, stamp: str, cut: Callable[[bytes], bytes]
) -> None:
    ws = old.ws
    backup_id = old.write(stamp, cut(old.sql))
    assert legacy_format.CUT_SHORT == CUT_SHORT  # one source for both commands

    verify = ws.run("verify", backup_id, "--quick")
    assert verify.returncode == 4, verify.stderr
    assert CUT_SHORT in one_error_line(verify)

    target = f"{ws.database}_xcut"
    restore = ws.run("restore", backup_id, "--target-db", target)
    assert restore.returncode == 4, restore.stderr
    line = one_error_line(restore)
    assert CUT_SHORT in line and old.path(backup_id).name in line
    assert "psql failed" not in line
    assert target not in ws.databases()  # the half-loaded database was dropped


def test_a_psql_error_before_the_end_stays_a_psql_error(old: Old) -> None:
    """psql stopping early (ON_ERROR_STOP) leaves the rest of the file unread: that is no sign it is cut short."""
    head = old.sql.index(b"\nSET ")
    sql = old.sql[:head] + b"\nSELECT no_such_function_here();\n" + old.sql[head:]
    backup_id = old.write("20240106_020000", sql)
    assert old.ws.ok("verify", backup_id, "--quick").stderr == ""
    target = f"{old.ws.database}_xpsql"
    restore = old.ws.run("restore", backup_id, "--target-db", target)
    assert restore.returncode == 1, restore.stderr
    line = one_error_line(restore)
    assert "psql failed" in line and "no_such_function_here" in line
    assert CUT_SHORT not in line
    assert target not in old.ws.databases()


# -- the repository is untrusted: a plain dump's backslash commands never run ---------------------------


@pytest.mark.parametrize(("stamp", "command"), [
    ("20240111_020000", b"\\! touch {ran}\n"),
    ("20240112_020000", b"SELECT 1; \\! touch {ran}\n"),
    ("20240113_020000", b"\\o {ran}\nSELECT 1;\n"),
    ("20240114_020000", b"\\unrestrict x\n\\! touch {ran}\n"),
], ids=["own-line", "after-a-statement", "output-to-a-file", "unrestrict-first"])
def test_a_plain_dumps_backslash_commands_are_refused_as_damage(old: Old, stamp: str, command: bytes) -> None:
    """psql runs a file's \\! (a shell command here, as whoever runs the backup) and \\o (any file): a plain dump
    in the repository is loaded with them refused, and is damage (pg_dump writes none that a load needs)."""
    ws, ran = old.ws, old.ws.root / f"ran-{stamp}"
    head = old.sql.index(b"\nSET ")
    sql = old.sql[:head] + b"\n" + command.replace(b"{ran}", str(ran).encode()) + old.sql[head:]
    backup_id = old.write(stamp, sql)
    verify = ws.run("verify", backup_id)
    assert verify.returncode == 4, verify.stderr
    assert "holds a psql backslash command, refused" in one_error_line(verify)
    target = f"{ws.database}_xcommand"
    restore = ws.run("restore", backup_id, "--target-db", target)
    assert restore.returncode == 4, restore.stderr
    assert "holds a psql backslash command, refused" in one_error_line(restore)
    assert not ran.exists()
    assert target not in ws.databases()


def test_rows_that_read_like_pg_dumps_restrict_lines_are_restored_as_they_were(old: Old) -> None:
    """pg_dump's own \\restrict and \\unrestrict lines are left out of what psql reads; COPY data that reads the
    same (a carriage return, then "estrict") is data, and stays."""
    assert old.sql.count(b"\n\\restrict ") == 1  # pg_dump 15.14 and later: the dump's own, after its header
    rows = b"COPY public.lookalike (a) FROM stdin;\n\\restrict abc\n\\unrestrict abc\n\\.\n"
    end = old.sql.rindex(b"\n\\unrestrict ")
    sql = old.sql[:end] + b"\nCREATE TABLE public.lookalike (a text);\n" + rows + old.sql[end:]
    backup_id = old.write("20240120_020000", sql)
    target = f"{old.ws.database}_xlookalike"
    old.ws.ok("restore", backup_id, "--target-db", target)
    # COPY's text format reads \\r as a carriage return, and \\u as a "u"
    shown = "SELECT string_agg(replace(a, E'\\r', '<CR>'), '|' ORDER BY a) FROM lookalike"
    assert old.ws.psql(shown, target) == "<CR>estrict abc|unrestrict abc"


# -- no .sha256 beside the dump -----------------------------------------------------------------------


def test_a_dump_without_sidecar_verifies_and_restores_with_a_note(old: Old) -> None:
    ws = old.ws
    backup_id = old.write("20240107_020000", sidecar=False)
    (quick,) = ws.json("verify", backup_id, "--quick")
    assert quick["ok"] is True, quick["problems"]
    assert legacy_format.NO_SIDECAR in quick["checks"]
    assert legacy_format.NO_SIDECAR == ("no .sha256 beside it: checked that gzip decodes to its end and the dump "
                                        "is complete, nothing more")
    report = next((old.path(backup_id).parent / "reports").glob(f"{old.path(backup_id).name}-*-quick.txt"))
    assert "PASSED" in report.read_text() and legacy_format.NO_SIDECAR in report.read_text()

    target = f"{ws.database}_xnosidecar"
    restore = ws.run("restore", backup_id, "--target-db", target)
    assert (restore.returncode, restore.stdout, restore.stderr) == (0, "", "")  # a note, in the run log
    assert ws.psql("SELECT count(*) FROM rental", target) == "16044"
    logs = [p for p in files_containing(ws.logs, legacy_format.NO_SIDECAR) if "-restore-" in p.name]
    assert len(logs) == 1
    assert f"INFO {backup_id}: {legacy_format.NO_SIDECAR}" in logs[0].read_text()


def test_a_dump_without_sidecar_that_is_cut_short_still_fails(old: Old) -> None:
    backup_id = old.write("20240108_020000", cut_before_the_end(old.sql), sidecar=False)
    result = old.ws.run("verify", backup_id, "--quick")
    assert result.returncode == 4
    assert CUT_SHORT in one_error_line(result)


def test_a_sidecar_that_does_not_match_is_still_a_failure(old: Old) -> None:
    ws = old.ws
    backup_id = old.write("20240109_020000")
    Path(f"{old.path(backup_id)}.sha256").write_text(f"{'ab' * 32}  {old.path(backup_id).name}\n")
    verify = ws.run("verify", backup_id, "--quick")
    assert verify.returncode == 4
    assert "checksum mismatch" in one_error_line(verify)
    target = f"{ws.database}_xmismatch"
    restore = ws.run("restore", backup_id, "--target-db", target)
    assert restore.returncode == 4
    assert "sha256" in one_error_line(restore)
    assert target not in ws.databases()


def test_a_sidecar_md5sum_wrote_is_said_once_for_what_it_is(old: Old) -> None:
    """An old script that used md5sum: 'is not in sha256sum format; no checksum to compare against (no manifest or
    sidecar)' called the file altered, then said it was not there."""
    backup_id = old.write("20240111_020000")
    path = old.path(backup_id)
    Path(f"{path}.sha256").write_text(f"{hashlib.md5(path.read_bytes()).hexdigest()}  {path.name}\n")
    result = old.ws.run("verify", backup_id, "--quick", "--json")
    assert result.returncode == 4, result.stderr
    (verify,) = json.loads(result.stdout)
    assert verify["problems"] == [f"sidecar altered: {path.name}.sha256 holds an md5 hash (32 hex digits), not a "
                                  "sha256"], verify["problems"]


# -- the raw size is unknown --------------------------------------------------------------------------


def test_unknown_raw_size_is_shown_as_unknown_and_estimated_for_restore(old: Old) -> None:
    ws = old.ws
    backup_id = old.write("20240110_020000")
    stored = old.path(backup_id).stat().st_size
    assert f"{human_bytes(stored)} stored, ? raw" in ws.ok("show", backup_id).stdout

    plan = ws.json("restore", backup_id, "--target-db", f"{ws.database}_xplan", "--dry-run")
    needed = int(stored * GZIP_SQL_FACTOR * RESTORE_SPACE_FACTOR)
    assert plan["space_needed_bytes"] == needed
    assert needed > len(old.sql)  # pagila's SQL text is 4.3x its gzip -9: the guess errs on the safe side
    text = ws.ok("restore", backup_id, "--target-db", f"{ws.database}_xplan", "--dry-run").stdout
    assert f"space needed: about {human_bytes(needed)};" in text
    assert "? raw" in text and "0 B raw" not in text and "about 0 B" not in text


def test_a_raw_size_in_the_meta_is_used_and_one_past_any_disk_is_not(old: Old) -> None:
    ws = old.ws
    backup_id = old.write("20240111_020000")
    meta = Path(f"{old.path(backup_id)}.meta")
    meta.write_text(f"database={ws.database}\nuncompressed_size={len(old.sql)}\n")
    assert f"{human_bytes(len(old.sql))} raw" in ws.ok("show", backup_id).stdout
    plan = ws.json("restore", backup_id, "--target-db", f"{ws.database}_xplan", "--dry-run")
    assert plan["space_needed_bytes"] == int(len(old.sql) * RESTORE_SPACE_FACTOR)
    meta.write_text(f"database={ws.database}\nuncompressed_size={1 << 70}\n")  # hand-written, or hostile
    assert ws.json("show", backup_id)["raw_bytes"] == 0  # not known, as with no size at all


# -- the list's ID column -----------------------------------------------------------------------------


def test_list_columns_line_up_with_long_legacy_ids(old: Old) -> None:
    """Ids of 35+ characters, ages of 1000+ days and failed verifications: every column still lines up."""
    ws = old.ws
    long_id = old.write("20261101_040000", tier="monthly")
    ws.run("verify", old.write("20200101_020000", cut_before_the_end(old.sql)), "--quick")
    assert len(long_id) > 34
    header, *rows = ws.ok("list").stdout.splitlines()
    assert len(rows) == len(ws.listing()) and any(r.startswith(long_id + " ") for r in rows)
    assert any("FAILED quick" in r for r in rows) and any("years" in r and " ago " in r for r in rows)
    database, status, verified = (header.index(name) for name in ("DATABASE", "STATUS", "VERIFIED"))
    assert database == len(long_id) + 1
    for row in rows:
        assert row[database - 1] == " " and row[database:].startswith(ws.database + " "), row
        assert row[status - 1] == " " and row[status:].startswith(("legacy ", "failed check ")), row
        assert row[verified - 1] == " " and row[verified:].startswith(("ok ", "FAILED ", "never ")), row
        assert len(row) <= len(header), row  # PIN, the last column, is empty: nothing spills past it


def test_password_never_in_logs_or_repository(old: Old) -> None:
    assert list(old.ws.logs.glob("*.log"))
    assert files_containing(old.ws.logs, old.ws.password) == []
    assert files_containing(old.ws.repo, old.ws.password) == []
