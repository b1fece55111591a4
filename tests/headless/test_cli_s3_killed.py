"""A backup with a bucket, killed with SIGKILL (the OOM killer, a power cut): what it left in the bucket, its
lock and the parts of an upload it had begun, must not stop or cost the runs after it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from tests.conftest import Bucket
from tests.headless.conftest import Workspace, WorkspaceFactory, bulky_workspace
from tests.headless.test_cli_s3 import use_bucket


def start_backup(ws: Workspace) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "headless", "backup", "--json"], env=ws.env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition: object, seconds: float = 60) -> None:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def run_log(ws: Workspace) -> str:
    return "".join(p.read_text() for p in Path(ws.logs).rglob("*.log"))


def plant_lock(bucket: Bucket, database: str, host: str, pid: int) -> str:
    """A lock in the bucket as a run of ours on ``host`` writes it (it carries a token); its key."""
    key = f"locks/{database}.json"
    body = {"host": host, "pid": pid, "operation": "backup", "since": "2026-01-01T00:00:00Z", "token": "t"}
    bucket.client.put_object(Bucket=bucket.name, Key=key, Body=json.dumps(body).encode())
    return key


def test_a_backup_killed_while_it_holds_the_bucket_lock_does_not_lock_the_next_backup_out(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket,
) -> None:
    """Its lock in the bucket names this host and a process that is gone: the next backup here takes it over at
    once, where it waited out lock_ttl_seconds (6 h) with exit 3, while the dry run said 0."""
    ws = make_workspace("s3-killed-lock")
    use_bucket(ws, s3_bucket, "")
    lock = f"locks/{ws.database}.json"
    with psycopg.connect(host=ws.sandbox.host, port=ws.sandbox.port, user=ws.sandbox.user,
                         password=ws.sandbox.password, dbname=ws.database) as blocker:
        blocker.execute("LOCK TABLE actor IN ACCESS EXCLUSIVE MODE")  # pg_dump waits, the bucket lock held
        killed = start_backup(ws)
        wait_for(lambda: lock in s3_bucket.objects())
        os.kill(killed.pid, signal.SIGKILL)
        killed.communicate(timeout=30)
        blocker.rollback()
    assert lock in s3_bucket.objects(), "the killed run could not release it"
    made = ws.backup()
    assert made["locations"] == ["local", "s3"]
    assert "took over the stale S3 lock" in run_log(ws) and "its process is gone from this host" in run_log(ws)
    assert lock not in s3_bucket.objects()


def test_a_lock_of_a_live_process_or_another_host_still_holds(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket,
) -> None:
    ws = make_workspace("s3-live-lock")
    use_bucket(ws, s3_bucket, "")
    for host, pid in ((os.uname().nodename, os.getpid()), ("db-other", 4_000_000)):
        plant_lock(s3_bucket, ws.database, host, pid)
        done = ws.run("backup")
        assert done.returncode == 3, done.stderr
    assert not list(ws.repo.glob("backups/*/*"))


def test_the_unfinished_upload_of_a_killed_streamed_backup_is_aborted_by_a_later_backup(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket,
) -> None:
    """keep_local = false, killed between two parts: nothing names that upload again (its id was random), so
    its parts stayed in the bucket, billed, for good. A later backup aborts it once it is older than
    lock_ttl_seconds (a younger one may be an upload under way)."""
    ws = bulky_workspace(make_workspace, "s3-killed-stream")
    use_bucket(ws, s3_bucket, "keep_local = false\nmultipart_threshold_mib = 5\npart_size_mib = 5\n"
                              "lock_ttl_seconds = 3\n")
    gate = s3_bucket.server.gate
    gate.arm(2)
    try:
        killed = start_backup(ws)
        assert gate.reached.wait(120), "the second part was never sent"
        os.kill(killed.pid, signal.SIGKILL)
        killed.communicate(timeout=30)
    finally:
        gate.release.set()
        gate.arm(0)
    [(key, _)] = [(u["Key"], u["UploadId"])
                  for u in s3_bucket.client.list_multipart_uploads(Bucket=s3_bucket.name).get("Uploads", [])]
    assert ws.listing() == [], "nothing of it is listed"
    time.sleep(3.5)
    made = ws.backup()
    assert made["locations"] == ["s3"]
    assert not s3_bucket.client.list_multipart_uploads(Bucket=s3_bucket.name).get("Uploads", [])
    assert f"aborted the unfinished upload s3://{s3_bucket.name}/{key}" in run_log(ws)


def test_the_dry_run_says_exit_3_when_another_host_holds_the_bucket_lock(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket,
) -> None:
    """A dry run exits with the code the real run would: behind another host's live lock in the bucket, 3."""
    ws = make_workspace("s3-dry-lock")
    use_bucket(ws, s3_bucket, "")
    lock = plant_lock(s3_bucket, ws.database, "db-other", 4242)
    real = ws.run("backup")
    planned = ws.run("backup", "--dry-run", "--json")
    assert real.returncode == 3, real.stderr
    assert planned.returncode == 3 and json.loads(planned.stdout)["locked_by_other_run"] is True
    s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key=lock)
    assert ws.run("backup", "--dry-run").returncode == 0


# The CLI, SIGKILLed by itself right after it put an object whose key ends in the suffix given, as the OOM killer
# or a power cut would at exactly that moment.
_KILLED_AFTER_PUT = """
import os, runpy, signal, sys
from botocore.client import BaseClient
real = BaseClient._make_api_call
def then_die(self, operation, params):
    answer = real(self, operation, params)
    if operation == "PutObject" and str(params.get("Key", "")).endswith({suffix!r}):
        os.kill(os.getpid(), signal.SIGKILL)
    return answer
BaseClient._make_api_call = then_die
sys.argv = ["headless", *sys.argv[1:]]
runpy.run_module("headless", run_name="__main__", alter_sys=True)
"""


def test_a_streamed_backup_killed_between_its_sidecar_and_its_manifest_is_incomplete_and_pruned(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket,
) -> None:
    """keep_local = false, killed after the sidecar went up and before the manifest: never committed, so no backup.
    It read "damaged", which prune never removes: its bytes stayed billed for good, every verify --all exited 4 and
    monitor warned until a person deleted it. Incomplete, it is removed by prune once lock_ttl_seconds is past."""
    ws = make_workspace("s3-killed-commit")
    use_bucket(ws, s3_bucket, "keep_local = false\nlock_ttl_seconds = 2\n")
    killed = subprocess.run([sys.executable, "-c", _KILLED_AFTER_PUT.format(suffix=".sha256"), "backup"],
                            env=ws.env, capture_output=True, text=True, timeout=300, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    [left] = ws.listing()
    assert left["status"] == "incomplete" and "manifest missing" in left["reason"]
    assert ws.run("verify", "--quick", "--all").returncode == 0
    assert "damaged" not in ws.run("monitor", "--check", "--no-notify").stdout
    time.sleep(2.5)
    ws.ok("prune")
    assert ws.listing() == [] and [k for k in s3_bucket.objects() if left["id"] in k] == []
    assert ws.backup()["locations"] == ["s3"]
