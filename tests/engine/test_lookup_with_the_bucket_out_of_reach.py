"""A backup looked up by id while the bucket cannot be listed: the one line names the bucket and why, not
"no backup with id", which sent an operator restoring from the bucket after a typo (exit 2) while the
store was down or refused the keys."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from backup_tui.engine.config import S3Config, Secret, Settings
from backup_tui.engine.core.errors import EXIT_FAILED, EXIT_USAGE, BackupToolError, NotFoundError
from backup_tui.engine.storage.catalog import Catalog
from tests.conftest import Bucket, closed_port

BACKUP_ID = "app-20261207T213155Z-5skd"


def lookup(tmp_path: Path, s3: S3Config | None) -> BackupToolError:
    (tmp_path / "repo").mkdir(exist_ok=True)
    catalog = Catalog.from_settings(Settings(repository=tmp_path / "repo", s3=s3))
    with pytest.raises(BackupToolError) as raised:
        catalog.get(BACKUP_ID)
    return raised.value


def test_a_lookup_while_the_bucket_is_out_of_reach_says_so_not_that_the_id_is_unknown(tmp_path: Path) -> None:
    down = S3Config(bucket="gone", endpoint_url=f"http://127.0.0.1:{closed_port()}", access_key="AKIAEXAMPLE",
                    secret_key=Secret("not-a-secret"), retry_seconds=1)
    missed = lookup(tmp_path, down)
    assert not isinstance(missed, NotFoundError)
    assert "s3 could not be listed" in missed.message and "unreachable" in missed.message, missed.message
    assert missed.exit_code == EXIT_FAILED  # the store is down: the operation failed, no usage error


def test_a_lookup_with_keys_the_bucket_refuses_says_so_with_a_configuration_error(tmp_path: Path,
                                                                                   s3_bucket: Bucket) -> None:
    missed = lookup(tmp_path, replace(s3_bucket.config(), secret_key=Secret("not-the-secret")))
    assert not isinstance(missed, NotFoundError)
    assert "wrong credentials" in missed.message and "not-the-secret" not in missed.message, missed.message
    assert missed.exit_code == EXIT_USAGE


def test_an_unknown_id_with_every_repository_listed_is_still_not_found(tmp_path: Path, s3_bucket: Bucket) -> None:
    missed = lookup(tmp_path, s3_bucket.config())
    assert isinstance(missed, NotFoundError) and "no backup with id" in missed.message
