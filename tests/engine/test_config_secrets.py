"""A password never shows where a config object is printed: repr, str, a traceback that prints locals (as
Textual's crash screen and rich do), while libpq and the tools still get the real value. And a repository
path left empty is refused rather than quietly meaning the config file's folder."""

from __future__ import annotations

import io
import subprocess
import sys
import traceback
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console
from rich.traceback import Traceback

from backup_tui.engine.config import DatabaseConfig, Settings, load_settings
from backup_tui.engine.core.errors import ConfigError
from backup_tui.engine.postgres import pg

PASSWORDS = ["hunter2-Secret", "Zq9!", "********", "x'); DROP TABLE t; --", "pässwörd with spaces",
             "Long-" + "0123456789abcdef" * 12]  # longer than rich cuts a string shown as a local


def _leaks(password: str, text: str) -> bool:
    """The password, or any 12 characters of it (a cut-short value still gives most of it away)."""
    if len(password) <= 12:
        return password in text
    return any(password[i:i + 12] in text for i in range(len(password) - 11))


def _loaded(tmp_path: Path, password: str) -> list[Settings]:
    """The same password arriving each way an operator can give it."""
    cfg = tmp_path / "c.toml"
    quoted = password.replace("\\", "\\\\").replace('"', '\\"')
    cfg.write_text(f'repository = "repo"\n[[databases]]\nname = "app"\npassword = "{quoted}"\n', encoding="utf-8")
    from_env_file = tmp_path / "e.toml"
    from_env_file.write_text('[[databases]]\nname = "app"\npassword_env = "APP_PW"\n', encoding="utf-8")
    return [
        load_settings(cfg, {}),
        load_settings(from_env_file, {"APP_PW": password}),
        load_settings(None, {"BACKUP_DB_NAME": "app", "BACKUP_DB_PASSWORD": password}),
        Settings(databases=(DatabaseConfig(name="app", password=password),)),
        Settings(databases=(replace(DatabaseConfig(name="app"), password=password),)),
    ]


def _shown(settings: Settings) -> list[str]:
    """Every way the settings or what is made of them gets printed by accident."""
    db = settings.databases[0]
    env = pg.child_env(db)
    kwargs = pg.conn_kwargs(db)
    texts = [repr(settings), str(settings), repr(db), str(db), f"{db!r}", repr(env), repr(kwargs), repr([db])]
    try:
        raise RuntimeError("boom")  # a crash with all of the above in its locals
    except RuntimeError as exc:
        texts.append("".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format()))
        console = Console(file=io.StringIO(), width=300)
        console.print(Traceback.from_exception(type(exc), exc, exc.__traceback__, show_locals=True,
                                               locals_max_length=5))
        texts.append(console.file.getvalue())  # type: ignore[attr-defined]
    assert env and kwargs  # used: their values are in the frame's locals
    return texts


@pytest.mark.parametrize("password", PASSWORDS, ids=[f"password{i}" for i in range(len(PASSWORDS))])
def test_a_password_is_never_in_a_printed_config_or_traceback(tmp_path: Path, password: str) -> None:
    for settings in _loaded(tmp_path, password):
        assert settings.databases[0].password == password
        for text in _shown(settings):
            # the stars may be the password itself: then the field must still read as the stars alone
            if password != "********":
                assert not _leaks(password, text), text
        assert "********" in repr(settings)


def test_the_tools_still_get_the_real_password(tmp_path: Path) -> None:
    for settings in _loaded(tmp_path, "hunter2-Secret"):
        env = pg.child_env(settings.databases[0])
        seen = subprocess.run([sys.executable, "-c", "import os; print(os.environ['PGPASSWORD'])"], env=env,
                              capture_output=True, text=True, check=True).stdout.strip()
        assert seen == "hunter2-Secret"
        assert pg.conn_kwargs(settings.databases[0])["password"] == "hunter2-Secret"


def test_no_password_reads_as_none_not_as_stars() -> None:
    assert "password=None" in repr(DatabaseConfig(name="app"))


@pytest.mark.parametrize("key", ["repository", "log_dir"])
@pytest.mark.parametrize("value", ['""', '" "', '"\\t"'])
def test_an_empty_folder_path_is_refused(tmp_path: Path, key: str, value: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"{key} = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(cfg, {})
    assert str(cfg) in caught.value.message and f"{key} is empty: give a path" in caught.value.message
    assert "\n" not in caught.value.message


def test_a_dot_still_means_the_config_files_folder(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('repository = "."\n', encoding="utf-8")
    assert load_settings(cfg, {}).repository.resolve() == tmp_path.resolve()
