"""A delete (or a prune's) killed with SIGKILL mid-way through a backup's files, right after its dump went and
before its manifest did (the order the folder's entries come in): the backup is gone from the catalog, not
left as a manifest without its dump that lists as damaged, fails every `verify --all` and that retention keeps
for a person to delete; what the killed run left on the disk goes with the next backup."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tests.conftest import run_cli, run_cli_killed_after

pytestmark = pytest.mark.slow

def test_a_delete_killed_after_the_dump_leaves_no_damaged_backup(cli_env: dict[str, str], tmp_path: Path) -> None:
    made = run_cli(["backup", "--json"], cli_env)
    assert made.returncode == 0, made.stderr
    backup_id = json.loads(made.stdout)["id"]

    killed = run_cli_killed_after("unlink", ".dump.zst", ["delete", backup_id, "--yes", "--force"], cli_env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    listed = run_cli(["list", "--json"], cli_env)
    assert [b["id"] for b in json.loads(listed.stdout)] == []  # not "damaged: its data file is missing"
    checked = run_cli(["verify", "--all", "--quick"], cli_env)
    assert checked.returncode == 0, checked.stderr

    again = run_cli(["backup"], cli_env)
    assert again.returncode == 0, again.stderr
    database_dir = next((tmp_path / "repo" / "backups").iterdir())
    assert [p.name for p in database_dir.iterdir() if backup_id in p.name] == []  # the leftover went with it
