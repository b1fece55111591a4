"""Which pg_dump, pg_restore and psql we start: the configured folder, else PATH; past Debian's pg_wrapper
(a Perl script costing 30-40 ms at every start) to the newest installed client, unless the operator pinned
the wrapper's choice."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from backup_tui.engine.config import Settings
from backup_tui.engine.core.errors import BackupToolError, ConfigError
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from backup_tui.engine.postgres import pg
from backup_tui.engine.storage.catalog import Catalog


def executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def debian(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Debian-like layout: PATH's pg_dump a link to pg_wrapper, clients 9.6, 13 and 15 installed."""
    wrapper = executable(tmp_path / "share" / "postgresql-common" / "pg_wrapper", "#!/usr/bin/perl\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("pg_dump", "pg_restore", "psql"):
        (bin_dir / tool).symlink_to(wrapper)
    for version in ("9.6", "13", "15"):
        for tool in ("pg_dump", "psql"):
            executable(tmp_path / "lib" / version / "bin" / tool)
    monkeypatch.setattr(pg, "DEBIAN_CLIENTS", tmp_path / "lib")
    monkeypatch.setattr(pg, "USER_CLUSTERS", tmp_path / "user_clusters")
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PGCLUSTER", raising=False)
    return tmp_path


def test_the_wrapper_is_passed_for_the_newest_installed_client(debian: Path) -> None:
    assert pg.tool_path("pg_dump") == str(debian / "lib" / "15" / "bin" / "pg_dump")
    assert pg.tool_path("psql") == str(debian / "lib" / "15" / "bin" / "psql")


def test_the_newest_version_holding_the_tool_is_taken(debian: Path) -> None:
    executable(debian / "lib" / "16" / "bin" / "psql")  # 16 has psql but no pg_dump
    assert pg.tool_path("pg_dump") == str(debian / "lib" / "15" / "bin" / "pg_dump")
    assert pg.tool_path("psql") == str(debian / "lib" / "16" / "bin" / "psql")


def test_a_tool_no_version_holds_stays_with_the_wrapper(debian: Path) -> None:
    assert pg.tool_path("pg_restore") == str(debian / "bin" / "pg_restore")


@pytest.mark.parametrize("pin", ["PGCLUSTER", "postgresqlrc", "user_clusters"])
def test_a_version_the_operator_pinned_is_left_to_the_wrapper(debian: Path, pin: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    if pin == "PGCLUSTER":
        monkeypatch.setenv("PGCLUSTER", "13/main")
    elif pin == "postgresqlrc":
        (debian / "home").mkdir()
        (debian / "home" / ".postgresqlrc").write_text("13 main *\n")
    else:
        (debian / "user_clusters").write_text("# USER GROUP VERSION CLUSTER DATABASE\n* * 13 main *\n")
    assert pg.tool_path("pg_dump") == str(debian / "bin" / "pg_dump")


def test_comments_alone_in_user_clusters_pin_nothing(debian: Path) -> None:
    (debian / "user_clusters").write_text("# USER GROUP VERSION CLUSTER DATABASE\n\n")
    assert pg.tool_path("pg_dump") == str(debian / "lib" / "15" / "bin" / "pg_dump")


def test_a_plain_tool_on_path_and_the_configured_folder_are_taken_as_they_are(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    plain = executable(tmp_path / "bin" / "pg_dump")
    monkeypatch.setenv("PATH", str(plain.parent))
    assert pg.tool_path("pg_dump") == str(plain)
    configured = executable(tmp_path / "pg17" / "pg_dump")
    assert pg.tool_path("pg_dump", configured.parent) == str(configured)


def test_no_client_at_all_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackupToolError, match="pg_dump not found: install the PostgreSQL client"):
        pg.tool_path("pg_dump")


def test_a_configured_folder_without_the_tool_is_refused_not_passed_over(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo in ``pg_bin_dir`` (a version not installed) once ran PATH's client instead, silently."""
    monkeypatch.setenv("PATH", str(executable(tmp_path / "bin" / "pg_dump").parent))
    (tmp_path / "pg16").mkdir()
    with pytest.raises(ConfigError, match=r"pg_bin_dir .*pg16 has no pg_dump: install that client there") as refused:
        pg.tool_path("pg_dump", tmp_path / "pg16")
    assert refused.value.exit_code == 2


def test_a_tool_killed_by_a_signal_says_which(settings: Settings, tmp_path: Path) -> None:
    """The out-of-memory killer ends pg_dump with SIGKILL and no word on stderr: the line names the signal and
    where to look, where it said "pg_dump failed: no message"."""
    real = Path(pg.tool_path("pg_dump")).parent
    tools = tmp_path / "tools"
    executable(tools / "pg_dump", f'#!/bin/sh\n[ "$1" = --version ] && exec {real}/pg_dump --version\n'
                                  "kill -KILL $$\n")
    (tools / "psql").symlink_to(real / "psql")
    killed = replace(settings, pg_bin_dir=tools)
    with pytest.raises(BackupToolError) as raised:
        run_backup(Context(killed), killed.databases[0])
    assert raised.value.message == ("pg_dump failed: killed by SIGKILL (by another process, or the kernel's "
                                    "out-of-memory killer: see dmesg)")
    assert Catalog.from_settings(killed).list() == []
    assert str(pg.tool_failed("pg_restore", "pg_restore: error: oops\n", -15)) == \
        "pg_restore failed: killed by SIGTERM; pg_restore: error: oops"
