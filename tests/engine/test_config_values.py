"""Numbers, bytes and empty variables that used to pass the loader and fail later (an OverflowError from a
monitor, a nan threshold that never fires, backups sent to the default folder) are one config error at load."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backup_tui.engine.config import Settings, load_settings
from backup_tui.engine.core.errors import ConfigError
from tests.conftest import run_cli

NOTIFY = "[[notify]]\nurl = 'json://127.0.0.1/hook'\n"
S3 = "[s3]\nbucket = 'b'\n"
TOO_LONG = "1e20"  # hours: a timedelta overflows past ~2.5e10


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Settings:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    return load_settings(cfg, env or {})


def _refused(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    """The message of the ConfigError loading ``text`` raises, checked to be one line and exit 2."""
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text, env)
    assert "\n" not in err.value.message and err.value.exit_code == 2
    return err.value.message


@pytest.mark.parametrize("table", ["[health]", "[[databases]]\nname = 'app'\n[databases.health]"])
@pytest.mark.parametrize("key", ["max_age_hours", "min_size_bytes", "size_change", "verify_max_age_days"])
@pytest.mark.parametrize(("written", "read"), [("nan", "nan"), ("inf", "inf"), ("-inf", "-inf"), ("1e400", "inf")])
def test_a_threshold_that_is_not_a_finite_number_is_a_config_error(tmp_path: Path, table: str, key: str,
                                                                   written: str, read: str) -> None:
    where = "[health]" if table == "[health]" else "databases[0].health"
    message = _refused(tmp_path, f"{table}\n{key} = {written}\n")
    assert message == f"config file {tmp_path / 'c.toml'}: {where}.{key} must be a finite number, not {read}"


@pytest.mark.parametrize(("text", "message"), [
    (f"[health]\nmax_age_hours = {TOO_LONG}", "[health].max_age_hours must be above 0 and at most 876600, got 1e+20"),
    ("[health]\nverify_max_age_days = 1e12", "[health].verify_max_age_days must be above 0 and at most 36525, got "
                                             "1000000000000.0"),
    (f"{NOTIFY}reminder_hours = {TOO_LONG}", "notify[0].reminder_hours must be above 0 and at most 876600, got 1e+20"),
    (f"{NOTIFY}reminder_hours = nan", "notify[0].reminder_hours must be a finite number, not nan"),
    (f"{S3}lock_ttl_seconds = 100000000000000", "s3.lock_ttl_seconds must be between 1 and 3155760000, got "
                                                "100000000000000"),
    ("[backup]\nlock_wait_timeout = 2147484", "backup.lock_wait_timeout must be between 0 and 2147483, got 2147484 "
                                              "(seconds; 0: wait forever)"),
])
def test_a_duration_longer_than_dates_and_tools_can_take_is_a_config_error(tmp_path: Path, text: str,
                                                                           message: str) -> None:
    assert _refused(tmp_path, text) == f"config file {tmp_path / 'c.toml'}: {message}"


@pytest.mark.parametrize(("text", "message"), [
    ("[health]\nmax_age_hours = 0", "[health].max_age_hours must be above 0 and at most 876600, got 0"),
    ("[health]\nverify_max_age_days = -1.5",
     "[health].verify_max_age_days must be above 0 and at most 36525, got -1.5"),
    ("[health]\nmin_size_bytes = -1", "[health].min_size_bytes must be at least 0, got -1"),
    ("[health]\nsize_change = -0.5", "[health].size_change must be at least 0, got -0.5"),
    (f"{NOTIFY}reminder_hours = 0", "notify[0].reminder_hours must be above 0 and at most 876600, got 0"),
    ("[retention.s3]\nweekly = -2", "retention.s3.weekly must be at least 0, got -2"),
])
def test_a_negative_or_zero_limit_where_it_means_nothing_is_a_config_error(tmp_path: Path, text: str,
                                                                            message: str) -> None:
    assert _refused(tmp_path, text) == f"config file {tmp_path / 'c.toml'}: {message}"


@pytest.mark.parametrize(("text", "message"), [
    ("[health]\nmin_size_bytes = 1.5", "[health].min_size_bytes must be a whole number, not 1.5"),
    ("[retention]\ndaily = 2.5", "retention.daily must be a whole number, not 2.5"),
    ("[restore]\njobs = 1.5", "restore.jobs must be a whole number, not 1.5"),
    ("[backup]\nthreads = nan", "backup.threads must be a finite number, not nan"),
    ("[backup]\nmin_free_bytes = inf", "backup.min_free_bytes must be a finite number, not inf"),
    ("[[databases]]\nname = 'a'\nport = inf", "databases[0].port must be a finite number, not inf"),
    (f"{S3}concurrency = nan", "s3.concurrency must be a finite number, not nan"),
])
def test_a_fraction_or_non_finite_number_where_a_count_belongs_is_a_config_error(tmp_path: Path, text: str,
                                                                                 message: str) -> None:
    assert _refused(tmp_path, text) == f"config file {tmp_path / 'c.toml'}: {message}"


@pytest.mark.parametrize(("text", "message"), [
    ("[backup]\nmin_free_bytes = 100000000000000000000", "backup.min_free_bytes must be at most 9223372036854775807, "
                                                         "got 100000000000000000000"),
    ("[health]\nmin_size_bytes = 1e19", "[health].min_size_bytes must be at most 9223372036854775807, got 1e+19"),
    ("[retention]\nmonthly = 100000000000000000000", "retention.monthly must be at most 9223372036854775807, got "
                                                     "100000000000000000000"),
])
def test_a_count_or_size_past_tomls_integer_range_is_a_config_error(tmp_path: Path, text: str, message: str) -> None:
    assert _refused(tmp_path, text) == f"config file {tmp_path / 'c.toml'}: {message}"


def test_the_longest_durations_allowed_still_fit_the_calendar_and_the_timers(tmp_path: Path) -> None:
    settings = _load(tmp_path, f"[health]\nmax_age_hours = 876600\nverify_max_age_days = 36525.0\n"
                               f"{NOTIFY}reminder_hours = 876600\n{S3}lock_ttl_seconds = 3155760000\n")
    now = datetime.now(UTC)
    assert settings.s3 is not None
    for limit in (settings.health.max_age, timedelta(days=settings.health.verify_max_age_days),
                  timedelta(hours=settings.notify[0].reminder_hours), timedelta(seconds=settings.s3.lock_ttl_seconds)):
        assert now - limit < now < now + limit
    assert settings.s3.lock_ttl_seconds / 3 < threading.TIMEOUT_MAX  # the bucket lock's renewal wait


def test_a_whole_number_written_as_a_float_without_a_fraction_loads(tmp_path: Path) -> None:
    settings = _load(tmp_path, "[health]\nmin_size_bytes = 1e6\nmax_age_hours = 36\n[backup]\nthreads = 4.0\n")
    assert settings.health.min_size_bytes == 1_000_000 and isinstance(settings.health.min_size_bytes, int)
    assert settings.health.max_age_hours == 36.0 and isinstance(settings.health.max_age_hours, float)
    assert settings.compression_threads == 4 and isinstance(settings.compression_threads, int)


def test_a_config_file_that_is_not_utf8_is_a_config_error_naming_it(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b"[retention]\ndaily = 7\nrepository = 'caf\xe9'\n")  # latin-1, as an old editor saved it
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, {})
    assert err.value.message == f"config file {cfg} is not UTF-8 text (line 3): TOML files are UTF-8"


@pytest.mark.parametrize("value", ["", "  "])
@pytest.mark.parametrize(("name", "needs"), [
    ("BACKUP_DIR", {}), ("LOG_DIR", {}), ("BACKUP_TUI_CONFIG", {}), ("BACKUP_ENCRYPTION_IDENTITY_FILE", {}),
    ("BACKUP_DB_PORT", {"BACKUP_DB_NAME": "app"}), ("BACKUP_RETENTION_DAYS", {}), ("BACKUP_RETENTION_WEEKS", {}),
    ("BACKUP_RETENTION_MONTHS", {}), ("BACKUP_SMTP_CA_FILE", {"BACKUP_NOTIFY_EMAIL": "oncall@example.com"}),
])
def test_an_environment_variable_set_but_empty_is_a_config_error(name: str, needs: dict[str, str],
                                                                  value: str) -> None:
    """An unset shell variable in a cron line (BACKUP_DIR=$DIR) must not bring back the default unseen."""
    with pytest.raises(ConfigError) as err:
        load_settings(None, {**needs, name: value})
    assert err.value.message == f"{name} is set but empty: give a value or unset it"
    assert err.value.exit_code == 2


def test_an_empty_config_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings("", {})
    assert err.value.message == "--config is empty: give the TOML file, or leave the option out"


@pytest.mark.parametrize(("name", "value", "message"), [
    ("BACKUP_RETENTION_DAYS", "-1", "BACKUP_RETENTION_DAYS must be at least 0, got -1"),
    ("BACKUP_RETENTION_DAYS", "1e3", "BACKUP_RETENTION_DAYS must be a whole number, not '1e3'"),
    ("BACKUP_RETENTION_WEEKS", "1" + "0" * 20, "BACKUP_RETENTION_WEEKS must be at most 9223372036854775807, got 1"
                                               + "0" * 20),
    ("BACKUP_DB_PORT", "-5432", "BACKUP_DB_PORT must be between 1 and 65535, got -5432"),
])
def test_an_environment_number_out_of_range_is_a_config_error(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, {"BACKUP_DB_NAME": "app", name: value})
    assert err.value.message == message


def test_empty_off_switches_and_unused_features_still_mean_off() -> None:
    """The old scripts' env files keep unused names as empty lines (S3_BUCKET=, SLACK_WEBHOOK_URL=): off, as
    there; connection fields left empty go to libpq as unset (its own reading of an empty PGHOST)."""
    empty = ("BACKUP_ENABLE_S3", "S3_BUCKET", "S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "SLACK_WEBHOOK_URL",
             "BACKUP_NOTIFY_EMAIL", "BACKUP_SMTP_CA_FILE", "BACKUP_DB_HOST", "BACKUP_DB_USER", "BACKUP_DB_PASSWORD")
    settings = load_settings(None, {"BACKUP_DB_NAME": "app", **dict.fromkeys(empty, "")})
    assert settings.s3 is None and settings.notify == ()
    assert (settings.database("app").host, settings.database("app").password) == (None, None)


def test_backup_headless_says_an_empty_backup_dir_in_one_line_and_exits_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "BACKUP_", "LOG_DIR", "S3_"))}
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[health]\nmax_age_hours = {TOO_LONG}\n")
    empty_dir = run_cli(["list"], {**env, "BACKUP_DIR": ""})
    assert (empty_dir.returncode, empty_dir.stderr) == (
        2, "error: BACKUP_DIR is set but empty: give a value or unset it\n")
    too_long = run_cli(["--config", str(cfg), "list"], {**env, "BACKUP_DIR": str(tmp_path)})
    assert (too_long.returncode, too_long.stderr) == (
        2, f"error: config file {cfg}: [health].max_age_hours must be above 0 and at most 876600, got 1e+20\n")


LONG_NAME = "x" * 64


@pytest.mark.parametrize(("text", "message"), [
    ('[[databases]]\nname = "a\\u0000b"', "databases[0].name 'a\\x00b' contains a NUL byte, which no database name "
                                          "can"),
    (f"[[databases]]\nname = '{LONG_NAME}'",
     f"databases[0].name '{LONG_NAME}' is longer than 63 bytes, PostgreSQL's limit for a name"),
    ('[[databases]]\nname = "a"\nhost = "h\\u0000"', "databases[0].host contains a NUL byte (not shown)"),
    ('[[databases]]\nname = "a"\npassword = "p\\u0000"', "databases[0].password contains a NUL byte (not shown)"),
    ('maintenance_db = ""\n[[databases]]\nname = "a"', "maintenance_db is empty: give the database's name"),
])
def test_a_database_name_postgresql_cannot_have_is_a_config_error(tmp_path: Path, text: str, message: str) -> None:
    """A NUL ended the backup as "unexpected ValueError: embedded null byte", a long name as "does not exist"."""
    assert _refused(tmp_path, text) == f"config file {tmp_path / 'c.toml'}: {message}"


def test_a_database_name_from_the_environment_is_checked_too() -> None:
    with pytest.raises(ConfigError, match=r"databases\[0\]\.name 'x+' is longer than 63 bytes"):
        load_settings(None, {"BACKUP_DB_NAME": LONG_NAME})
    assert load_settings(None, {"BACKUP_DB_NAME": "x" * 63}).databases[0].name == "x" * 63


def test_a_config_file_far_larger_than_any_config_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    """A dump given as --config by mistake was read whole into memory, and --config /dev/zero read until the
    out-of-memory killer came (it took the PostgreSQL beside it)."""
    path = tmp_path / "big.toml"
    path.write_text("# " + "x" * (2 * 1024 * 1024) + "\n")  # valid TOML, a comment: only its size is wrong
    with pytest.raises(ConfigError, match="is larger than 1 MiB: not a config file"):
        load_settings(path, {})
