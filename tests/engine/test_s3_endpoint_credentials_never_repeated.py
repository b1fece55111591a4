"""A user and password written into the S3 endpoint (``http://minio:PASSWORD@host:9000``, as some clients take
them) are refused at load in one line that does not repeat them: botocore never used them, and every error and
warning about the endpoint, ``config show`` and the run log printed the URL whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from backup_tui.engine.config import load_settings
from backup_tui.engine.core.errors import ConfigError

PASSWORD = "Endpoint-Pa55word"


@pytest.mark.parametrize("endpoint", [f"http://minio:{PASSWORD}@127.0.0.1:9000", f"minio:{PASSWORD}@localhost:9000",
                                      f"https://{PASSWORD}@s3.example.com", f"https://minio:{PASSWORD}@[::1"])
def test_an_endpoint_with_a_password_is_refused_without_repeating_it(tmp_path: Path, endpoint: str) -> None:
    env = {"BACKUP_ENABLE_S3": "true", "S3_BUCKET": "b1", "S3_ENDPOINT": endpoint}
    with pytest.raises(ConfigError) as refused:
        load_settings(env=env)
    assert "user or password" in refused.value.message and PASSWORD not in refused.value.message
    config = tmp_path / "c.toml"
    config.write_text(f'[s3]\nbucket = "b1"\nendpoint_url = "{endpoint}"\n')
    with pytest.raises(ConfigError) as refused:
        load_settings(config, env={})
    assert PASSWORD not in refused.value.message, refused.value.message


def test_an_endpoint_without_one_still_loads() -> None:
    s3 = load_settings(env={"BACKUP_ENABLE_S3": "true", "S3_BUCKET": "b1", "S3_ENDPOINT": "localhost:9000/"}).s3
    assert s3 is not None and s3.endpoint_url == "http://localhost:9000/"
