"""atomic_write between processes: two real processes writing one path at once never publish a half-written
file (each renames only its own temp), leave no temp behind, and what a crash left is swept once stale and
never read as a record meanwhile."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from backup_tui.engine.config import Settings
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.storage.files import STALE_TEMP_SECONDS, atomic_write, sweep_stale_temps
from backup_tui.engine.storage.journal import journal_dir, read_runs

ROUNDS = 150
ROOT = Path(__file__).resolve().parents[2]

# Each round writes a body whose first line is the sha256 of the rest: a torn or mixed file cannot pass.
WRITER = """
import hashlib, sys
from pathlib import Path
from backup_tui.engine.storage.files import atomic_write
path, me, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for n in range(rounds):
    payload = (f"{me}:{n};" * (20000 + 997 * (n % 7))) + "\\n"
    atomic_write(path, hashlib.sha256(payload.encode()).hexdigest() + "\\n" + payload)
"""


def whole(text: str) -> bool:
    digest, _, payload = text.partition("\n")
    return bool(payload) and hashlib.sha256(payload.encode()).hexdigest() == digest


def test_two_processes_racing_on_one_path_always_leave_a_whole_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(target), name, str(ROUNDS)], env=env,
                                stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    reads = torn = 0
    while any(w.poll() is None for w in writers):
        try:
            text = target.read_text()
        except FileNotFoundError:  # before the first rename
            continue
        reads += 1
        torn += not whole(text)
    errors = [w.communicate()[1] for w in writers]
    assert [w.returncode for w in writers] == [0, 0], errors  # no writer lost its temp to the other
    assert torn == 0, f"{torn} of {reads} reads saw a half-written or mixed file"
    assert reads > 10, "the reader must have raced the writers"
    assert whole(target.read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"], "every temp was renamed or removed"


def test_a_failed_write_removes_only_its_own_temp(tmp_path: Path) -> None:
    target = tmp_path / "record.json"
    atomic_write(target, "before\n")
    another = tmp_path / ".record.json.0123456789abcdef.tmp"  # a live writer's temp, beside ours
    another.write_text("theirs, half-written")
    try:
        atomic_write(target, "\udcff not encodable")  # fails while writing its temp
    except UnicodeEncodeError:
        pass
    else:
        raise AssertionError("the write should have failed")
    assert target.read_text() == "before\n", "the old content stays whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == [another.name, "record.json"]


def test_stale_temps_are_swept_by_the_next_write_and_never_listed_as_records(settings: Settings) -> None:
    ctx = Context(settings)
    record = run_backup(ctx, settings.databases[0])
    folder = Path(record.path).parent
    pins = folder / "pins"
    pins.mkdir(exist_ok=True)
    long_ago = time.time() - STALE_TEMP_SECONDS - 60
    pin = json.dumps({"pinned": True, "at": "2026-01-01T00:00:00Z"}) + "\n"  # a whole pin, but in a temp's name
    stale, fresh = pins / ".0000-stale.json.aaaaaaaaaaaaaaaa.tmp", pins / ".0000-fresh.json.bbbbbbbbbbbbbbbb.tmp"
    for path in (stale, fresh):
        path.write_text(pin)
    os.utime(stale, (long_ago, long_ago))
    runs = journal_dir(settings.repository)
    stale_run = runs / ".0000-run.json.cccccccccccccccc.tmp"
    stale_run.write_text(json.dumps({"operation": "backup"}) + "\n")
    os.utime(stale_run, (long_ago, long_ago))
    journaled_before = len(read_runs(settings.repository))

    listed = ctx.catalog.get(record.id)
    assert not listed.pinned, "a temp in pins/ is not a pin record"
    assert len(read_runs(settings.repository)) == journaled_before

    ctx.catalog.set_pinned(listed, False)  # a record written into pins/: its folder's stale temps go
    assert not stale.exists(), "a temp older than STALE_TEMP_SECONDS is a dead writer's"
    assert fresh.exists(), "a younger temp may be a live writer's: left alone"
    assert not ctx.catalog.get(record.id).pinned
    assert sweep_stale_temps(runs) == [stale_run.name]
