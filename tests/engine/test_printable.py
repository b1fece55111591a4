"""``printable``: the one function every human output passes untrusted text through. What a terminal would act
on, or would not show, becomes a visible escape; everything a person reads stays as it is."""

from __future__ import annotations

import pytest

from backup_tui.engine.core.models import BackupRecord, Verification
from backup_tui.engine.core.printable import printable
from backup_tui.engine.core.report import render_report

ATTACK = "\x1b[2J\x1b]0;PWNED\x07\nFAKE LINE: all backups verified OK"
SHOWN = "\\x1b[2J\\x1b]0;PWNED\\x07\\nFAKE LINE: all backups verified OK"


@pytest.mark.parametrize(("text", "shown"), [
    (ATTACK, SHOWN),
    ("a\tb\r\n", "a\\tb\\r\\n"),
    ("\x00\x08\x7f", "\\x00\\x08\\x7f"),  # NUL, backspace, DEL
    ("\x85\x9b31m", "\\x85\\x9b31m"),  # C1: next line, a CSI on its own
    ("admin\u202egpj.exe", "admin\\u202egpj.exe"),  # a bidi override reorders what follows
    ("a\u2028b\u00a0c", "a\\u2028b\\xa0c"),  # a line separator; a space that is not one
    ("db\udcff", "db\\udcff"),  # an undecodable byte of a file name (surrogateescape)
    ("x\U000e0001", "x\\U000e0001"),  # a tag character: shown by nothing
])
def test_control_characters_become_visible_escapes(text: str, shown: str) -> None:
    assert printable(text) == shown
    assert printable(shown) == shown, "printing twice changes nothing more"


@pytest.mark.parametrize("text", ["", "public.payment_p2022_01", "base de données été", "数据库 ✓", "C:\\x1b 50% 'q'",
                                  "emoji 🐘"])
def test_readable_text_is_left_as_it_is(text: str) -> None:
    assert printable(text) == text


def test_a_verification_report_keeps_planted_text_on_its_own_line() -> None:
    record = BackupRecord(id="app-20250101T000000Z", database="app", created_at="2025-01-01T00:00:00Z",
                          finished_at="2025-01-01T00:01:00Z", duration_s=60.0, format="custom", compression="zstd",
                          raw_bytes=10, stored_bytes=5, sha256="a" * 64, file_name="app-20250101T000000Z.dump.zst",
                          path="/repo/x" + ATTACK)
    result = Verification(at="2025-01-02T00:00:00Z", level="full", ok=False, problems=("bad" + ATTACK,),
                          checks=("restored" + ATTACK,), not_done=("later" + ATTACK,),
                          row_counts={"public.t" + ATTACK: [1, 2]})
    report = render_report(record, result)
    assert "\x1b" not in report and "\x07" not in report
    lines = report.splitlines()
    assert not any(line.startswith("FAKE") for line in lines)
    for line in (f"file       /repo/x{SHOWN}", f"  - bad{SHOWN}", f"  ~ later{SHOWN}", f"  + restored{SHOWN}"):
        assert line in lines
    assert any(line.startswith(f"public.t{SHOWN}") and line.endswith("<-- differs") for line in lines)
