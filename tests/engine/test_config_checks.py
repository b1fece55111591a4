"""Values that would only fail deep inside a backup are refused when the settings load, naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from backup_tui.engine.config import Settings, load_settings
from backup_tui.engine.core.errors import ConfigError


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Settings:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    return load_settings(cfg, env or {})


@pytest.mark.parametrize(("text", "message"), [
    ("[backup]\ncompression_level = 99", r"backup.compression_level must be between 1 and 22, got 99 \(zstd's range\)"),
    ("[backup]\ncompression_level = 0", "backup.compression_level must be between 1 and 22, got 0"),
    ("[backup]\ncompression_level = -3", "backup.compression_level must be between 1 and 22, got -3"),
    ("[backup]\ncompression_level = '3'", "backup.compression_level must be a whole number"),
    ("[backup]\ncompression_level = 3.5", "backup.compression_level must be a whole number"),
    ("[backup]\ncompression_level = 'fast'", r'backup.compression_level must be a whole number or "auto", got'),
    ("[backup]\nnice = 20", r"backup.nice must be between 0 and 19, got 20"),
    ("[backup]\nthreads = -1", r"backup.threads must be between 0 and 256, got -1 \(0: one per core\)"),
    ("[backup]\nthreads = 100000", "backup.threads must be between 0 and 256, got 100000"),
    ("[backup]\nthreads = true", "backup.threads must be a whole number"),
    ("[backup]\nslowdown = 60", r"backup.slowdown must be between 0 and 50, got 60 \(percent over the dump's own time"),
    ("[backup]\nslowdown = 0.5", "backup.slowdown must be a whole number"),
    ("[backup]\nmin_free_bytes = -5", "backup.min_free_bytes must be at least 0, got -5"),
    ("[backup]\nmin_free_bytes = '10GB'", "backup.min_free_bytes must be a whole number"),
    ("[backup]\nlevel = 3", r"unknown key\(s\) in \[backup\]: level"),
    ("[restore]\njobs = 0", r"restore.jobs must be between 1 and 64, got 0 \(1: stream into one pg_restore"),
    ("[[databases]]\nname = 'a'\nport = 0", r"databases\[0\].port must be between 1 and 65535, got 0"),
    ("[[databases]]\nname = 'a'\nport = 70000", r"databases\[0\].port must be between 1 and 65535, got 70000"),
])
def test_out_of_range_numbers_fail_at_load(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        _load(tmp_path, text)
    assert err.value.message.startswith(f"config file {tmp_path / 'c.toml'}: ")
    assert "\n" not in err.value.message
    assert err.value.exit_code == 2


def test_the_edges_of_each_range_load(tmp_path: Path) -> None:
    for level, threads in ((1, 0), (22, 256)):
        s = _load(tmp_path, f"[backup]\ncompression_level = {level}\nthreads = {threads}\nmin_free_bytes = 0\n"
                            "[[databases]]\nname = 'a'\nport = 65535\n")
        assert (s.compression_level, s.compression_threads, s.min_free_bytes) == (level, threads, 0)
    assert _load(tmp_path, "[restore]\njobs = 64\n").restore_jobs == 64
    assert _load(tmp_path, "[backup]\ncompression_level = 'auto'\nnice = 19\n").compression_level == "auto"
    assert _load(tmp_path, "").compression_level == "auto"  # the default: what the spare CPU allows
    assert [_load(tmp_path, f"[backup]\nslowdown = {n}\n").compression_slowdown for n in (0, 50)] == [0, 50]


@pytest.mark.parametrize("value", ["0", "65536"])
def test_backup_db_port_out_of_range(value: str) -> None:
    with pytest.raises(ConfigError, match=f"BACKUP_DB_PORT must be between 1 and 65535, got {value}"):
        load_settings(None, {"BACKUP_DB_PORT": value, "BACKUP_DB_NAME": "x"})


PASSWORD_ENV = "[[databases]]\nname = 'app'\nuser = 'backup'\npassword_env = 'APP_DB_PASSWORD'\n"


def test_password_env_naming_an_unset_variable_fails_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, PASSWORD_ENV)
    expected = f"config file {tmp_path / 'c.toml'}: databases[0].password_env: APP_DB_PASSWORD is not set"
    assert err.value.message == expected
    assert err.value.exit_code == 2


def test_password_env_naming_an_empty_variable_fails_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"databases\[1\].password_env: APP_DB_PASSWORD is empty"):
        _load(tmp_path, "[[databases]]\nname = 'other'\n" + PASSWORD_ENV, {"APP_DB_PASSWORD": ""})


def test_password_env_set_or_overridden_by_backup_db_password_loads(tmp_path: Path) -> None:
    s = _load(tmp_path, PASSWORD_ENV, {"APP_DB_PASSWORD": "s3cret"})
    assert s.database("app").password == "s3cret"
    # The environment outranks the file: BACKUP_DB_PASSWORD stands in for the missing variable.
    s = _load(tmp_path, PASSWORD_ENV, {"BACKUP_DB_PASSWORD": "from-env"})
    assert s.database("app").password == "from-env"


def test_backup_db_password_named_as_one_databases_password_env_is_that_databases_alone(tmp_path: Path) -> None:
    two = ("[[databases]]\nname = 'app'\npassword_env = 'BACKUP_DB_PASSWORD'\n"
           "[[databases]]\nname = 'billing'\npassword_env = 'BILLING_PW'\n")
    s = _load(tmp_path, two, {"BACKUP_DB_PASSWORD": "app-secret", "BILLING_PW": "billing-secret"})
    assert s.database("app").password == "app-secret"
    assert s.database("billing").password == "billing-secret"


@pytest.mark.parametrize(("entry", "where"), [
    ('name = "app"\ndbname = "postgresql://app:Hunter2-secret@db1:5432/app"', "databases[0].dbname"),
    ('name = "app"\nhost = "postgres://app:Hunter2-secret@db1/app"', "databases[0].host"),
    ('name = "app"\ndbname = "host=db1 dbname=app password=Hunter2-secret"', "databases[0].dbname"),
    ('name = "postgresql://app:Hunter2-secret@db1/app"', "databases[0].name"),
])
def test_a_connection_string_where_a_name_belongs_is_refused_unseen(tmp_path: Path, entry: str, where: str) -> None:
    with pytest.raises(ConfigError) as refused:
        _load(tmp_path, f"[[databases]]\n{entry}\n")
    assert f"{where} looks like a connection string" in refused.value.message
    assert "Hunter2-secret" not in refused.value.message


def test_names_with_odd_characters_still_load(tmp_path: Path) -> None:
    settings = _load(tmp_path, '[[databases]]\nname = "app=prod"\ndbname = "we\\"ird name"\nhost = "db-1.internal"\n')
    assert settings.databases[0].database == 'we"ird name'
