"""A backup killed with SIGKILL while it commits, its sidecar written and its manifest not yet: the run never
committed, so the folder is an incomplete backup that the next backup removes, not a damaged one (manifest
lost) that fails every `verify --all`, warns in `monitor` and that retention keeps until a person deletes it."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.conftest import run_cli, run_cli_killed_after

pytestmark = pytest.mark.slow

def test_a_backup_killed_between_sidecar_and_manifest_is_incomplete(cli_env: dict[str, str], tmp_path: Path) -> None:
    killed = run_cli_killed_after("replace", ".sha256", ["backup"], cli_env)  # the sidecar named, not the manifest
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
