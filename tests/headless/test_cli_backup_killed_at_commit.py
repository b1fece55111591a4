"""A backup killed with SIGKILL while it commits, its sidecar written and its manifest not yet: the run never
committed, so the folder is an incomplete backup that the next backup removes, not a damaged one (manifest
lost) that fails every `verify --all`, warns in `monitor` and that retention keeps until a person deletes it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow

# The CLI, SIGKILLed by itself right after its sidecar took its name: as the OOM killer or a power cut would, there.
KILLED_AFTER_THE_SIDECAR = """
import os, runpy, signal, sys
rename = os.replace
def rename_then_die(src, dst, *args, **kwargs):
    rename(src, dst, *args, **kwargs)
    if str(dst).endswith(".sha256"):
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = rename_then_die
sys.argv = ["headless", *sys.argv[1:]]
runpy.run_module("headless", run_name="__main__", alter_sys=True)
"""


def test_a_backup_killed_between_sidecar_and_manifest_is_incomplete(cli_env: dict[str, str], tmp_path: Path) -> None:
    killed = subprocess.run([sys.executable, "-c", KILLED_AFTER_THE_SIDECAR, "backup"], env=cli_env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    [left] = json.loads(run_cli(["list", "--json"], cli_env).stdout)
    assert left["status"] == "incomplete", left
    checked = run_cli(["verify", "--all", "--quick"], cli_env)
    assert checked.returncode == 0, checked.stderr

    again = run_cli(["backup", "--json"], cli_env)
    assert again.returncode == 0, again.stderr
    listed = json.loads(run_cli(["list", "--json"], cli_env).stdout)
    assert [(b["id"], b["status"]) for b in listed] == [(json.loads(again.stdout)["id"], "valid")]
    assert not list((tmp_path / "repo" / "backups").glob(f"*/{left['id']}"))
