"""The readable report written beside a backup for each verification (a full verify's or a restore's)."""

from __future__ import annotations

from backup_tui.engine.core.models import BackupRecord, Verification
from backup_tui.engine.core.printable import printable


def render_report(record: BackupRecord, result: Verification) -> str:
    """The readable report written beside the backup, and printed on a failed verify's terminal: each line
    made printable, since its problems, checks and table names can come from a planted record."""
    lines = [
        f"backup-tui verification report: {'PASSED' if result.ok else 'FAILED'}",
        "",
        f"backup     {record.id}",
        f"database   {record.database}",
        f"created    {record.created_at}",
        f"file       {record.path}",
        f"level      {result.level}",
        f"verified   {result.at} in {result.duration_s:.1f} s",
        "",
    ]
    if result.problems:
        lines.append("problems:")
        lines += [f"  - {p}" for p in result.problems]
        lines.append("")
    if result.not_done:
        lines.append("not done here:")
        lines += [f"  ~ {n}" for n in result.not_done]
        lines.append("")
    lines.append("checks passed:")
    lines += [f"  + {c}" for c in result.checks] or ["  (none)"]
    if result.row_counts:
        lines += ["", f"{'table':<48} {'manifest':>12} {'restored':>12}"]
        for table, (want, got) in sorted(result.row_counts.items()):
            mark = "" if want is None or want == got else "  <-- differs"
            lines.append(f"{table:<48} {want if want is not None else '-':>12} "
                         f"{got if got is not None else '-':>12}{mark}")
    return "".join(printable(line) + "\n" for line in lines)
