"""An age secret key given where a path or a public key goes (pasted from age-keygen's file into
identity_file, BACKUP_ENCRYPTION_IDENTITY_FILE, --identity or recipients) is refused in one line that never
repeats it: the line went to stderr (cron's mail), and the path's "does not exist" to the run log, the
journal and metrics.json besides."""

from __future__ import annotations

import os
from pathlib import Path

import pyrage
import pytest

from backup_tui.engine.config import load_settings
from backup_tui.engine.core.errors import EXIT_USAGE, ConfigError
from tests.conftest import run_cli


@pytest.fixture
def secret() -> str:
    return str(pyrage.x25519.Identity.generate())


@pytest.mark.parametrize("table", ['identity_file = "{key}"', 'recipients = ["{key}"]', 'recipients = "{key}"',
                                   'recipients = [" {key} "]'])
def test_a_secret_key_in_the_encryption_table_is_refused_unsaid(tmp_path: Path, secret: str, table: str) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[encryption]\n" + table.format(key=secret) + "\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(config, env={})
    assert "secret key" in refused.value.message
    assert secret.lower() not in refused.value.message.lower(), refused.value.message


def test_a_secret_key_in_the_identity_variable_is_refused_unsaid(secret: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(env={"BACKUP_ENCRYPTION_IDENTITY_FILE": secret})
    assert "BACKUP_ENCRYPTION_IDENTITY_FILE holds an age secret key" in refused.value.message
    assert secret not in refused.value.message


def test_a_secret_key_given_as_identity_is_refused_unsaid_and_leaves_no_trace(tmp_path: Path, secret: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "BACKUP_", "LOG_DIR"))}
    env.update(BACKUP_DIR=str(repo), BACKUP_CACHE_DIR=str(tmp_path / "cache"))
    done = run_cli(["verify", "app-20261207T213155Z-5skd", "--identity", secret], env)
    assert done.returncode == EXIT_USAGE and "--identity holds an age secret key" in done.stderr, done.stderr
    assert secret not in done.stderr + done.stdout
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_a_file_named_after_a_key_is_still_a_path(tmp_path: Path) -> None:
    settings = load_settings(env={"BACKUP_ENCRYPTION_IDENTITY_FILE": str(tmp_path / "age-secret-key-1.txt")})
    assert settings.encryption.identity_file == tmp_path / "age-secret-key-1.txt"
