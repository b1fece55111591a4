"""backup-headless delete, as an operator runs it on a real cluster's backups: the engine's delete plan (the
TUI's), every copy or one location's, dry run, the typed confirmation, the refusals, object lock, and prune
letting go of a backup's two copies as one delete."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Bucket, closed_port
from tests.headless.conftest import (
    Workspace,
    WorkspaceFactory,
    assert_clean_output,
    one_error_line,
    read_terminal,
    tree,
)

pytestmark = pytest.mark.slow


def journal(ws: Workspace, operation: str) -> list[dict[str, Any]]:
    runs = [json.loads(p.read_text()) for p in sorted((ws.repo / "runs").glob("*.json"))]
    return [r for r in runs if r["operation"] == operation]


def folder_of(ws: Workspace, backup_id: str) -> Path:
    return Path(ws.item(backup_id)["path"]).parent


def typed_on_terminal(ws: Workspace, answer: str, *args: str) -> tuple[int, str]:
    """Run with stdin and stderr on a pseudo-terminal, as an operator at a prompt, typing ``answer``."""
    master, slave = pty.openpty()
    with subprocess.Popen([sys.executable, "-m", "headless", *args], env=ws.env, stdin=slave, stdout=subprocess.PIPE,
                          stderr=slave) as proc:
        os.close(slave)
        seen = b""
        while b"to confirm: " not in seen:
            chunk = os.read(master, 4096)
            assert chunk, seen
            seen += chunk
        os.write(master, answer.encode() + b"\n")
        seen += read_terminal(master)
        code = proc.wait(timeout=120)
        assert proc.stdout is not None
        proc.stdout.read()
    said = seen.decode().replace("\r\n", "\n")
    assert_clean_output(subprocess.CompletedProcess(list(args), code, "", said), {ws.password})
    return code, said


def test_delete_takes_no_hostile_id_at_its_word(make_workspace: WorkspaceFactory) -> None:
    ws = make_workspace("delete-hostile")
    ws.backup()
    # Ids as an attacker would write them: out of the repository, a folder's name, a connection string; and a
    # link planted among the backups that points out of the repository. Nothing is deleted, nothing followed.
    outside = ws.root / "outside.txt"
    outside.write_text("not a backup\n")
    planted = next((ws.repo / "backups").iterdir()) / f"{ws.database}-20990101T000000Z-evil"
    planted.symlink_to(ws.root)
    backups = tree(ws.repo / "backups")
    for hostile in ("../outside.txt", f"../../{outside.name}", "backups", "host=evil dbname=postgres", "-"):
        refused = ws.run("delete", hostile, "--yes", "--force")
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, (hostile, refused.stderr)
    linked = ws.run("delete", planted.name, "--yes", "--force")  # listed (as damaged), never followed
    assert linked.returncode == 1 and one_error_line(linked).endswith("is a symbolic link inside the repository "
                                                                      f"{ws.repo}: not followed"), linked.stderr
    assert tree(ws.repo / "backups") == backups and outside.read_text() == "not a backup\n" and planted.is_symlink()


def test_delete_asks_refuses_and_deletes_local_backups(make_workspace: WorkspaceFactory) -> None:
    ws = make_workspace("delete-local")
    first, second, newest = ws.backup()["id"], ws.backup()["id"], ws.backup()["id"]

    unknown, shown = ws.run("delete", "no-such-id", "--yes"), ws.run("show", "no-such-id")
    assert unknown.returncode == shown.returncode == 2
    assert one_error_line(unknown) == one_error_line(shown)


    before = tree(ws.repo)
    plan = ws.ok("delete", first, "--dry-run").stdout.splitlines()
    assert plan[0].startswith(f"delete plan for {first} ({ws.database}, ")
    assert plan[1] == f"  local: {ws.item(first)['path']}"
    planned = ws.json("delete", first, "--dry-run")
    assert [(c["location"], c["retained"]) for c in planned["copies"]] == [("local", [])]
    assert (planned["refusal"], planned["exit_code"], planned["unreachable"]) == (None, 0, [])
    assert tree(ws.repo) == before, "a dry run changes nothing"

    no_terminal = ws.run("delete", first)
    assert no_terminal.returncode == 2
    assert one_error_line(no_terminal) == f"error: delete of {first!r} needs --yes when no terminal is attached"

    refused = ws.run("delete", newest, "--yes")
    assert refused.returncode == 2
    assert one_error_line(refused) == (f"error: {newest} is the newest valid backup of {ws.database} in local: "
                                       "retention always keeps it; nothing was deleted (--force deletes it anyway)")
    assert ws.run("delete", newest, "--dry-run").returncode == 2, "a dry run exits as the run would"
    ws.ok("pin", second)
    pinned = ws.run("delete", second, "--yes")
    assert pinned.returncode == 2 and f"{second} is pinned: retention always keeps it" in one_error_line(pinned)
    ws.ok("unpin", second)
    assert tree(ws.repo).keys() >= before.keys(), "nothing refused was deleted"

    code, said = typed_on_terminal(ws, "not-the-id", "delete", first)
    assert code == 2 and "the id typed does not match: nothing was deleted" in said
    assert f"  local: {ws.item(first)['path']}" in said, "the plan is shown before the question"
    code, said = typed_on_terminal(ws, first, "delete", first)
    assert code == 0, said
    assert first not in [i["id"] for i in ws.listing()]

    done = ws.json("delete", second, "--yes")
    assert (done["deleted"], done["kept"], done["exit_code"]) == (["local"], {}, 0)
    assert not list(ws.repo.glob(f"backups/*/{second}"))
    forced = ws.json("delete", newest, "--yes", "--force")
    assert forced["deleted"] == ["local"] and forced["guarded"] == [
        f"the newest valid backup of {ws.database} in local"]
    assert ws.listing() == []
    assert [(r["backup_id"], r["ok"]) for r in journal(ws, "delete")] == [(first, True), (second, True),
                                                                           (newest, True)]
    assert list(ws.logs.glob("backup-headless-*.log")), "a delete writes a run log"


def test_delete_from_s3_only_local_only_and_both(make_workspace: WorkspaceFactory, s3_bucket: Bucket) -> None:
    ws = make_workspace("delete-s3")
    ws.env.update(s3_bucket.env())
    first, second, third, newest = (ws.backup()["id"] for _ in range(4))
    assert ws.item(first)["locations"] == ["local", "s3"]

    plan = ws.json("delete", first, "--dry-run")
    assert [c["location"] for c in plan["copies"]] == ["local", "s3"]
    assert plan["copies"][1]["where"].startswith(f"s3://{s3_bucket.name}/") and plan["exit_code"] == 0

    from_s3 = ws.json("delete", first, "--location", "s3", "--yes")
    assert from_s3["deleted"] == ["s3"]
    assert ws.item(first)["locations"] == ["local"] and Path(ws.item(first)["path"]).exists()
    assert not [k for k in s3_bucket.objects() if first in k]
    assert (ws.repo / "locks" / f"backup-{first}.lock").exists(), "a copy is left: readers queued on its lock stay"
    again = ws.run("delete", first, "--location", "s3", "--yes")
    assert again.returncode == 2
    assert one_error_line(again) == f"error: {first} has no copy in s3 (its copies: local)"

    from_disk = ws.json("delete", second, "--location", "local", "--yes")
    assert from_disk["deleted"] == ["local"] and ws.item(second)["locations"] == ["s3"]
    assert not list(ws.repo.glob(f"backups/*/{second}")) and [k for k in s3_bucket.objects() if second in k]

    both = ws.json("delete", third, "--yes")
    assert both["deleted"] == ["local", "s3"]
    assert third not in [i["id"] for i in ws.listing()] and not [k for k in s3_bucket.objects() if third in k]
    assert not (ws.repo / "locks" / f"backup-{third}.lock").exists(), "no copy left anywhere: nothing to protect"
    assert [r["backup_id"] for r in journal(ws, "delete")] == [first, second, third], "one run per delete"
    assert ws.run("delete", newest, "--location", "s3", "--yes").returncode == 2, "the bucket's newest is kept"


def test_object_lock_keeps_the_s3_copy_and_delete_says_so(make_workspace: WorkspaceFactory, s3_bucket: Bucket) -> None:
    name = s3_bucket.locked_twin()
    ws = make_workspace("delete-locked")
    ws.env.update(s3_bucket.env(), S3_BUCKET=name)
    first = ws.backup()["id"]
    ws.backup()

    plan = ws.ok("delete", first, "--dry-run").stdout
    assert "  object lock keeps 3 object(s) in s3: " in plan and "(governance until " in plan
    done = ws.run("delete", first, "--yes", "--json")
    assert done.returncode == 0, done.stderr
    (line,) = done.stderr.splitlines()  # said once: the engine's own warning of it made it twice
    assert line.startswith("warning: kept in s3: ") and "object lock" in line
    result = json.loads(done.stdout)
    assert result["deleted"] == ["local"] and "object lock" in result["kept"]["s3"] and result["exit_code"] == 0
    assert ws.item(first)["locations"] == ["s3"]
    assert [(r["backup_id"], r["ok"]) for r in journal(ws, "delete")] == [(first, True)]


def test_prune_lets_go_of_both_copies_with_one_delete(make_workspace: WorkspaceFactory, s3_bucket: Bucket) -> None:
    ws = make_workspace("delete-prune")
    ws.env.update(s3_bucket.env())
    config = ws.write("retention.toml", "[retention]\ndaily = 1\nweekly = 0\nmonthly = 0\n"
                                        "[retention.s3]\ndaily = 1\nweekly = 0\nmonthly = 0\n")
    ws.env["BACKUP_TUI_CONFIG"] = str(config)
    first, newest = ws.backup()["id"], ws.backup()["id"]

    dry = ws.ok("prune", "--dry-run").stdout.splitlines()
    assert [ln.split()[:4] for ln in dry if first in ln.split()[:4]] == [["would", "delete", "(local+s3)", first]]
    code, out, _ = ws.run_on_terminal("prune")
    assert code == 0
    said = [ln for ln in out.splitlines() if ln.split()[:1] == ["deleted"]]
    assert len(said) == 1 and said[0].split()[:3] == ["deleted", "(local+s3)", first], out
    assert [i["id"] for i in ws.listing()] == [newest]
    assert not [k for k in s3_bucket.objects() if first in k]
    assert [(r["backup_id"], r["ok"]) for r in journal(ws, "delete")] == [(first, True)], "one entry per backup"
    assert len(journal(ws, "prune")) == 1


def test_a_bucket_out_of_reach_is_named_in_the_plan_and_the_local_copy_still_goes(
    make_workspace: WorkspaceFactory,
) -> None:
    ws = make_workspace("delete-unreachable")
    older, _newer = ws.backup()["id"], ws.backup()["id"]
    config = ws.write("s3.toml", f'[s3]\nbucket = "gone"\nendpoint_url = "http://127.0.0.1:{closed_port()}"\n'
                                 "retry_seconds = 1\n")
    ws.env.update(BACKUP_TUI_CONFIG=str(config), S3_ACCESS_KEY="AKIAEXAMPLE", S3_SECRET_KEY="not-a-secret")

    plan = ws.json("delete", older, "--dry-run")
    assert [c["location"] for c in plan["copies"]] == ["local"]
    assert [u["repository"] for u in plan["unreachable"]] == ["s3"] and plan["unreachable"][0]["why"]
    said = ws.ok("delete", older, "--dry-run").stdout
    assert "  s3 could not be listed (" in said and "): a copy there stays" in said
    assert ws.json("delete", older, "--yes")["deleted"] == ["local"]
    assert not list(ws.repo.glob(f"backups/*/{older}"))
