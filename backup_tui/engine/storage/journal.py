"""The journal of runs: one small record per run, written once when it ends, in ``runs/`` of the
repository (or its private stand-in for a read-only one). Records never change and never collide,
so hosts sharing a repository each add their own."""

from __future__ import annotations

import json
import os
from pathlib import Path

from backup_tui.engine.core.manifest import InvalidRecord
from backup_tui.engine.core.runs import RunRecord, parse_run
from backup_tui.engine.core.untrusted_json import load_json
from backup_tui.engine.storage.files import read_capped, write_record
from backup_tui.engine.storage.paths import OutsideRepository
from backup_tui.engine.storage.state import state_dir

RUNS = "runs"
JUNK_FACTOR = 10


def journal_dir(repository: Path) -> Path:
    return state_dir(repository, RUNS)


def record_run(repository: Path, run: RunRecord) -> None:
    folder = journal_dir(repository)
    folder.parent.mkdir(parents=True, exist_ok=True)
    write_record(folder.parent, folder, json.dumps(run.to_json(), sort_keys=True) + "\n")


def read_runs(repository: Path, newest: int = 1000) -> list[RunRecord]:
    """The newest runs, oldest first; a record that does not validate is skipped, and the next older one read in
    its place (1,000 junk files named as the newest hid every real run, and monitor said all was well), up to
    ``JUNK_FACTOR`` times ``newest`` files looked at: a health check stays quick in a folder of junk."""
    try:
        folder = journal_dir(repository)
        with os.scandir(folder) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(".json") and e.is_file(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError, OutsideRepository):  # a link planted as runs/ holds none of ours
        return []
    runs: list[RunRecord] = []
    for name in reversed(names[-newest * JUNK_FACTOR:]):
        if len(runs) == newest:
            break
        try:
            runs.append(parse_run(load_json(read_capped(folder / name, 64 * 1024))))
        except (OSError, ValueError, TypeError, InvalidRecord):
            continue
    return runs[::-1]
