"""Settings: defaults < TOML < environment (old env-file names, libpq's own) < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from backup_tui.engine.config import REDACTED, load_settings, redacted
from backup_tui.engine.core.errors import ConfigError, NotFoundError

TOML = """
repository = "repo"
[retention]
daily = 3
[[databases]]
name = "app"
host = "db1"
port = 5433
user = "backup"
password_env = "APP_PW"
[[databases]]
name = "reports"
dbname = "reporting"
"""


def test_env_only_works(tmp_path: Path) -> None:
    env = {"BACKUP_DB_HOST": "h", "BACKUP_DB_PORT": "6543", "BACKUP_DB_NAME": "shop", "BACKUP_DB_USER": "u",
           "BACKUP_DB_PASSWORD": "pw", "BACKUP_DIR": str(tmp_path), "LOG_DIR": str(tmp_path / "l"),
           "BACKUP_RETENTION_DAYS": "10", "BACKUP_RETENTION_WEEKS": "5", "BACKUP_RETENTION_MONTHS": "6"}
    s = load_settings(None, env)
    db = s.database(None)
    assert (db.name, db.host, db.port, db.user, db.password) == ("shop", "h", 6543, "u", "pw")
    assert s.repository == tmp_path and s.logs == tmp_path / "l"
    assert (s.retention.daily, s.retention.weekly, s.retention.monthly) == (10, 5, 6)


def test_file_then_env_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(TOML)
    s = load_settings(cfg, {"APP_PW": "secret", "BACKUP_DB_NAME": "app", "BACKUP_DB_HOST": "db2"})
    app = s.database("app")
    assert (app.host, app.port, app.password) == ("db2", 5433, "secret")
    assert s.database("reporting").name == "reports"  # by dbname too
    assert s.repository == tmp_path / "repo"  # relative to the config file
    assert s.retention.daily == 3 and s.retention.weekly == 4
    with pytest.raises(ConfigError, match="several databases"):
        s.database(None)
    with pytest.raises(NotFoundError):
        s.database("nope")


def test_config_file_from_environment_and_pgdatabase(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('repository = "/r"\n')
    s = load_settings(None, {"BACKUP_TUI_CONFIG": str(cfg), "PGDATABASE": "fromlibpq"})
    assert s.repository == Path("/r") and s.database(None).name == "fromlibpq"
    assert s.database(None).host is None  # left to libpq (PGHOST, service files)


@pytest.mark.parametrize(("text", "message"), [
    ("repository = [", "not valid TOML"),
    ("colour = 1", "unknown key"),
    ("[[databases]]\nhost = 'x'", "'name' is required"),
    ("[[databases]]\nname = 'a'\nport = 'x'", "port must be a whole number"),
    ("[retention]\ndaily = -1", "retention.daily must be at least 0, got -1"),
    ("[[databases]]\nname='a'\n[[databases]]\nname='a'", "unique"),
    # two servers' "app" in one repository: one history for both, and a restore sent to the first one's server
    ("[[databases]]\nname='app-eu'\ndbname='app'\nport=1\n[[databases]]\nname='app-us'\ndbname='app'",
     "'app-eu' and 'app-us' both back up a database named 'app'"),
    ("[[databases]]\nname='app'\n[[databases]]\nname='app-copy'\ndbname='app'", "both back up a database named"),
    ("[[databases]]\nname='x'\ndbname='y'\n[[databases]]\nname='y'\ndbname='z'", "'y' names databases 'x' and 'y'"),
])
def test_malformed_config_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_settings(cfg, {})
    assert "\n" not in err.value.message


def test_bad_env_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BACKUP_DB_PORT"):
        load_settings(None, {"BACKUP_DB_PORT": "five", "BACKUP_DB_NAME": "x"})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", {})


def test_redacted_hides_secrets(tmp_path: Path) -> None:
    s = load_settings(None, {"BACKUP_DB_NAME": "a", "BACKUP_DB_PASSWORD": "hunter2"})
    shown = redacted(s)
    assert "hunter2" not in repr(shown)
    assert shown["databases"][0]["password"] == REDACTED
