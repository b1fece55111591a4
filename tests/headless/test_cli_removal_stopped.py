"""A delete or a prune stopped by SIGTERM (or Ctrl+C) while it removes a backup: the removal under way ends in full,
and the run's one line says what went. A bare "stopped by SIGTERM" (exit 143), with the backup gone and the rerun
saying "no backup with id ...", left the operator unable to tell what was removed; cut mid-removal, a folder was
left half gone."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Bucket, run_cli

pytestmark = pytest.mark.slow

# The CLI, sending itself STOP_SIGNAL inside a removal (as systemd, timeout or a Ctrl+C would, then): right after it
# unlinked a backup's dump (its folder half gone), or as it asks the bucket to delete a backup's objects.
STOPPED_MID_REMOVAL = """
import os, runpy, signal, sys
import botocore.client
stop = getattr(signal, os.environ["STOP_SIGNAL"])
unlink = os.unlink
def unlink_then_stopped(path, *args, **kwargs):
    unlink(path, *args, **kwargs)
    if str(path).endswith(".dump.zst") and os.environ["STOP_AT"] == "unlink":
        os.kill(os.getpid(), stop)
os.unlink = unlink_then_stopped
call = botocore.client.BaseClient._make_api_call
def stopped_at_delete(self, operation, params):
    if operation == "DeleteObjects" and os.environ["STOP_AT"] == "DeleteObjects":
        os.kill(os.getpid(), stop)
    return call(self, operation, params)
botocore.client.BaseClient._make_api_call = stopped_at_delete
sys.argv = ["headless", *sys.argv[1:]]
runpy.run_module("headless", run_name="__main__", alter_sys=True)
"""

KEEP_ONE = {"BACKUP_RETENTION_DAYS": "1", "BACKUP_RETENTION_WEEKS": "1", "BACKUP_RETENTION_MONTHS": "1"}
STOPS = [(signal.SIGTERM, "stopped by SIGTERM"), (signal.SIGINT, "interrupted")]


def stopped_run(args: list[str], env: dict[str, str], signum: int, at: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", STOPPED_MID_REMOVAL, *args],
                          env={**env, "STOP_SIGNAL": signal.Signals(signum).name, "STOP_AT": at},
                          capture_output=True, text=True, timeout=120, check=False)


def backups(env: dict[str, str], count: int) -> list[str]:
    made = [run_cli(["backup", "--json"], env) for _ in range(count)]
    assert all(m.returncode == 0 for m in made), [m.stderr for m in made]
    return [json.loads(m.stdout)["id"] for m in made]


def listed(env: dict[str, str]) -> list[str]:
    return [b["id"] for b in json.loads(run_cli(["list", "--json"], env).stdout)]


def run_log(root: Path) -> str:
    return "".join(p.read_text() for p in (root / "logs").rglob("*.log"))


@pytest.mark.parametrize(("signum", "said"), STOPS)
def test_a_delete_stopped_mid_removal_ends_it_and_says_the_backup_was_deleted(
    cli_env: dict[str, str], tmp_path: Path, signum: int, said: str,
) -> None:
    [backup_id] = backups(cli_env, 1)
    stopped = stopped_run(["delete", backup_id, "--yes", "--force"], cli_env, signum, "unlink")
    assert stopped.returncode == 128 + signum, stopped.stderr
    assert stopped.stderr == f"error: {said} after deleting {backup_id} from local\n"
    assert listed(cli_env) == []
    assert [p for p in (tmp_path / "repo" / "backups").rglob("*") if backup_id in p.name] == []  # not half gone


def test_a_prune_stopped_mid_removal_says_how_many_backups_went(cli_env: dict[str, str], tmp_path: Path) -> None:
    env = {**cli_env, **KEEP_ONE}
    made = backups(env, 3)
    stopped = stopped_run(["prune"], env, signal.SIGTERM, "unlink")
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    assert stopped.stderr == ("error: stopped by SIGTERM after deleting 1 of 2 backup(s) retention let go (each in "
                              "the run log); the next prune deletes the rest\n")
    left = listed(env)
    [gone] = set(made) - set(left)
    assert made[-1] in left and len(left) == 2
    assert f"deleted {gone} from local" in run_log(tmp_path)


def test_a_prune_of_a_bucket_stopped_mid_removal_deletes_the_backup_from_both(
    cli_env: dict[str, str], tmp_path: Path, s3_bucket: Bucket,
) -> None:
    config = tmp_path / "retention.toml"
    config.write_text("[retention.s3]\ndaily = 1\nweekly = 0\nmonthly = 0\n")
    env = {**cli_env, **KEEP_ONE, **s3_bucket.env(), "BACKUP_TUI_CONFIG": str(config)}
    older, newer = backups(env, 2)
    stopped = stopped_run(["prune"], env, signal.SIGTERM, "DeleteObjects")
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    assert stopped.stderr == ("error: stopped by SIGTERM after deleting 1 of 1 backup(s) retention let go (each in "
                              "the run log)\n")
    assert listed(env) == [newer]
    assert [key for key in s3_bucket.objects() if older in key] == []  # not a bucket place half gone
    assert f"deleted {older} from local and S3" in run_log(tmp_path)
