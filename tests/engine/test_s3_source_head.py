"""An object's first bytes are fetched once per process: a restore's planning reads the archive's table of
contents three times, and each read from byte 0 was a request (to moto, a read of the whole object)."""

from __future__ import annotations

import os
from typing import Any

from backup_tui.engine.storage.s3 import HEAD_KEEP, S3Repository, S3Source
from tests.conftest import Bucket

KEY = "app/2026/12/06/app-20261206T010000Z-abcd/app-20261206T010000Z-abcd.dump.zst"


def test_a_later_reader_of_an_object_gets_its_start_without_a_request(s3_bucket: Bucket) -> None:
    data = os.urandom(HEAD_KEEP + (5 << 20))
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=KEY, Body=data)
    repo = S3Repository(s3_bucket.config())
    ranges: list[str] = []

    def asked(params: dict[str, Any], **_: Any) -> None:
        ranges.append(str(params.get("Range", "")))

    repo.client.meta.events.register("provide-client-params.s3.GetObject", asked)

    def read(n: int = -1) -> bytes:
        """The first ``n`` bytes (all: -1), as a decoder takes them, a block at a time."""
        got = bytearray()
        with S3Source(repo.client, repo.config, s3_bucket.name, KEY).open() as reader:
            while (n < 0 or len(got) < n) and (block := reader.read(1 << 20 if n < 0 else min(1 << 20, n - len(got)))):
                got += block
        return bytes(got)

    assert read(HEAD_KEEP) == data[:HEAD_KEEP]  # a table of contents of 8 MiB, read whole
    assert ranges and ranges[0].startswith("bytes=0-")
    ranges.clear()
    assert read(1 << 20) == data[: 1 << 20]  # the read-ahead's ramp keeps its prefetch within what is kept
    assert ranges == [], "the start came from the first reader"
    assert read() == data  # a whole read: exact, its requests start past what is kept
    assert ranges and not any(r.startswith("bytes=0-") for r in ranges)

    replaced = os.urandom(len(data))
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=KEY, Body=replaced)
    ranges.clear()
    assert read(1 << 20) == replaced[: 1 << 20], "another ETag: the start kept is of another object"
    assert ranges and ranges[0].startswith("bytes=0-")
