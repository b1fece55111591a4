"""The terminal app makes its process private where it starts, as backup-headless does: what its jobs write
(dumps, manifests, reports, restore temp files) is the owner's alone whatever umask the login shell had."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backup_tui.tui.__main__ import main


def test_the_app_is_private_from_its_first_step(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.umask(0o022)  # the conftest puts the test process's own umask back afterwards
    assert main(["--config", str(tmp_path / "missing.toml")]) == 2  # stops early, after the mode is set
    capsys.readouterr()
    probe = tmp_path / "made-after"
    probe.mkdir()
    (probe / "file").write_text("x")
    assert oct(probe.stat().st_mode & 0o777) == oct(0o700)
    assert oct((probe / "file").stat().st_mode & 0o777) == oct(0o600)
