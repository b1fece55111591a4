"""One backup found in several places (the local disk and a bucket, or two places in one bucket): which copy
stands for it. Pure, so the catalog, a delete's guard and the bucket's own reading decide it one way."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from backup_tui.engine.core.models import BackupRecord

# An old scripts' dump on the disk ranks with a valid copy: its upload's manifest in the bucket outranked it,
# and the disk was then asked to read the dump at the bucket's s3:// path (verify and restore refused it)
_RANK = {"valid": 0, "legacy": 0, "damaged": 2, "incomplete": 3, "unread": 4}


def merge_copies(copies: Sequence[BackupRecord]) -> BackupRecord:
    """One backup found in several places: the best copy (a valid one over a damaged one), with every
    location that holds a good copy of the same bytes. Two valid records under one id that describe
    different bytes are no copies of one backup: the id is damaged until an operator looks, so that
    nothing restores, prunes or trusts either on the word of the other."""
    if len(copies) == 1:
        return copies[0]
    read = [r for r in copies if r.status != "unread"]
    if len(read) < len(copies) and not any(r.is_valid for r in read):
        # A copy whose manifest is not read yet may be the good one: nothing is said until it is read.
        return next(r for r in copies if r.status == "unread")
    copies = read
    best = min(copies, key=lambda r: _RANK[r.status])
    if len(copies) == 1:
        return best
    good = [r for r in copies if r.is_valid]
    # An old script's dump without a sidecar has no sha256 here, and its uploaded copy one: not a conflict.
    if len({r.sha256 for r in good if r.sha256}) > 1 or len({(r.database, r.created_at) for r in good}) > 1:
        return replace(best, status="damaged", reason=f"{len(good)} different backups claim the id {best.id} "
                                                      f"(in {', '.join(r.path or '?' for r in good)})")
    locations = tuple(dict.fromkeys(loc for r in good or [best] for loc in r.locations))
    return replace(best, locations=locations)
