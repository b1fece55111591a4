"""A manifest alone is no backup, on the disk as in the bucket: a folder whose dump is missing (deleted by hand to
free space, lost by a copy that stopped half-way) or of another size than its manifest says is damaged. Read as
valid, it held its day's slot and was the newest valid backup, and prune deleted the backup that restores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.retention import RetentionConfig
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.prune import plan_prune
from backup_tui.engine.ops.verify import verify_backup
from backup_tui.engine.storage.local import DATA_NOT_AS_WRITTEN, LocalRepository
from tests.engine.planted import on_disk, record_of

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("spoil", "said"), [
    (lambda dump: dump.unlink(), "missing"),
    (lambda dump: dump.write_bytes(b"01234"), "5 bytes, not the manifest's 10"),
    (lambda dump: (dump.unlink(), dump.symlink_to("/dev/null")), "a symbolic link in the repository: not followed"),
    (lambda dump: (dump.unlink(), dump.mkdir()), "not a plain file"),
])
def test_a_manifest_without_its_dump_is_damaged_and_the_backup_that_restores_is_kept(
    tmp_path: Path, spoil: object, said: str
) -> None:
    root = tmp_path / "repo"
    good = on_disk(root, record_of(NOW - timedelta(days=1), "good"))
    newer = on_disk(root, record_of(NOW - timedelta(hours=1), "lost"))
    spoil(newer)  # type: ignore[operator]
    listed = {r.id: r for r in LocalRepository(root).list()}
    lost = listed[newer.parent.name]
    assert (lost.status, lost.reason) == ("damaged", f"{DATA_NOT_AS_WRITTEN}{said}")
    assert listed[good.parent.name].status == "valid"

    keep_one = Settings(repository=root, log_dir=tmp_path / "logs",
                        retention=RetentionConfig(daily=1, weekly=1, monthly=1))
    plan = {d.record.id: d for d in plan_prune(Context(keep_one, now=lambda: NOW))}
    assert plan[good.parent.name].keep and "newest valid backup" in plan[good.parent.name].reasons
    assert plan[newer.parent.name].keep, "damaged: kept for a person"
    quick = verify_backup(Context(keep_one), lost, "quick")  # said as what it is: the manifest is as written
    assert f"damaged: {DATA_NOT_AS_WRITTEN}{said}" in quick.problems, quick.problems
