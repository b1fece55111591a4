"""Both ways bytes reach the bucket (storage.s3_upload), against moto's server over HTTP: a local file sent as
ranges read from disk, and a stream cut into reused part buffers. Each is proved part by part, and a failure,
a cancel or a file changing on the way leaves no object and no open multipart upload."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from backup_tui.engine.core.errors import Cancelled
from backup_tui.engine.core.progress import CancelToken
from backup_tui.engine.storage.s3 import S3Repository, S3Unreachable
from backup_tui.engine.storage.s3_upload import SourceChanged
from tests.conftest import Bucket

MIB = 1 << 20
SMALL = {"multipart_threshold_mib": 5, "part_size_mib": 5, "concurrency": 3}


def b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def assert_stored_part_by_part(bucket: Bucket, key: str, data: bytes, part: int) -> None:
    client = bucket.client
    slices = [data[i:i + part] for i in range(0, len(data), part)]
    assert len(slices) > 1
    for number, expected in enumerate(slices, start=1):
        head = client.head_object(Bucket=bucket.name, Key=key, PartNumber=number, ChecksumMode="ENABLED")
        assert head["ContentLength"] == len(expected)
        assert head["ChecksumSHA256"] == b64(expected)
    assert client.get_object(Bucket=bucket.name, Key=key)["Body"].read() == data


def no_open_uploads(bucket: Bucket) -> bool:
    return bucket.client.list_multipart_uploads(Bucket=bucket.name).get("Uploads", []) == []


def test_a_file_goes_up_as_ranges_checked_part_by_part_with_progress(s3_bucket: Bucket, tmp_path: Path) -> None:
    data = os.urandom(13 * MIB + 12345)  # two whole parts and a short last one
    path = tmp_path / "stored.dump.zst"
    path.write_bytes(data)
    repo = S3Repository(s3_bucket.config(**SMALL))
    progress: list[int] = []
    with path.open("rb") as src:
        sent = repo.send_file("k/file", src, on_sent=progress.append,
                              expected_sha256=hashlib.sha256(data).hexdigest())
    assert (sent.sha256, sent.total) == (hashlib.sha256(data).hexdigest(), len(data))
    assert [p.number for p in sent.parts] == [1, 2, 3]
    assert [p.sha256_b64 for p in sent.parts] == [b64(data[i:i + 5 * MIB]) for i in range(0, len(data), 5 * MIB)]
    assert len(progress) == 3 and progress == sorted(progress) and progress[-1] == len(data), progress
    assert_stored_part_by_part(s3_bucket, "k/file", data, 5 * MIB)
    assert no_open_uploads(s3_bucket)


def test_a_small_file_is_one_put_with_its_checksum(s3_bucket: Bucket, tmp_path: Path) -> None:
    data = os.urandom(3 * MIB)
    path = tmp_path / "small"
    path.write_bytes(data)
    repo = S3Repository(s3_bucket.config(**SMALL))
    with path.open("rb") as src:
        sent = repo.send_file("k/small", src)
    head = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key="k/small", ChecksumMode="ENABLED")
    assert (len(sent.parts), head["ContentLength"], head["ChecksumSHA256"]) == (1, len(data), b64(data))


def test_a_file_that_is_not_its_manifest_is_refused_before_anything_is_completed(
    s3_bucket: Bucket, tmp_path: Path,
) -> None:
    data = os.urandom(11 * MIB)
    path = tmp_path / "stored"
    path.write_bytes(data)
    repo = S3Repository(s3_bucket.config(**SMALL))
    with path.open("rb") as src, pytest.raises(SourceChanged, match="differs from its manifest"):
        repo.send_file("k/other", src, expected_sha256=hashlib.sha256(b"what the manifest says").hexdigest())
    assert s3_bucket.objects() == [] and no_open_uploads(s3_bucket)


def test_a_file_that_changes_while_it_is_sent_is_refused_and_leaves_nothing(s3_bucket: Bucket, tmp_path: Path) -> None:
    data = os.urandom(16 * MIB)
    path = tmp_path / "stored"
    path.write_bytes(data)
    repo = S3Repository(s3_bucket.config(**{**SMALL, "concurrency": 1}))
    changed = threading.Event()

    def change_once(sent: int) -> None:  # after the first part: bytes already hashed are rewritten on disk
        if not changed.is_set():
            changed.set()
            with path.open("r+b") as out:
                out.seek(6 * MIB)
                out.write(b"\0" * 4096)

    with path.open("rb") as src, pytest.raises(SourceChanged, match="changed while it was sent"):
        repo.send_file("k/changing", src, on_sent=change_once, expected_sha256=hashlib.sha256(data).hexdigest())
    assert changed.is_set()
    assert s3_bucket.objects() == [] and no_open_uploads(s3_bucket)


def test_a_cancelled_file_upload_is_aborted(s3_bucket: Bucket, tmp_path: Path) -> None:
    path = tmp_path / "stored"
    path.write_bytes(os.urandom(16 * MIB))
    repo = S3Repository(s3_bucket.config(**{**SMALL, "concurrency": 1}))
    cancel = CancelToken()
    with path.open("rb") as src, pytest.raises(Cancelled):
        repo.send_file("k/cancelled", src, on_sent=lambda n: cancel.cancel(), cancel=cancel)
    assert s3_bucket.objects() == [] and no_open_uploads(s3_bucket)


def _stream(repo: S3Repository, key: str, data: bytes) -> None:
    sink = repo.sink_for(key)
    try:
        for start in range(0, len(data), MIB):
            sink.write(data[start:start + MIB])
    except BaseException:
        sink.abort()
        raise
    sink.close()


def _file(repo: S3Repository, key: str, path: Path) -> None:
    with path.open("rb") as src:
        repo.send_file(key, src)


@pytest.mark.parametrize("way", ["file", "stream"])
def test_the_server_stopped_mid_upload_leaves_no_object_and_the_next_upload_completes(
    s3_bucket: Bucket, tmp_path: Path, way: str,
) -> None:
    server = s3_bucket.server
    data = os.urandom(16 * MIB)
    path = tmp_path / "stored"
    path.write_bytes(data)
    repo = S3Repository(s3_bucket.config(**SMALL))

    def send() -> None:
        if way == "file":
            _file(repo, "k/interrupted", path)
        else:
            _stream(repo, "k/interrupted", data)

    server.gate.arm(hold_at=2)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            send()
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=run)
    try:
        worker.start()
        assert server.gate.reached.wait(60)
        server.stop()
        server.gate.release.set()
        worker.join(120)
    finally:
        server.gate.arm(0)
        server.start()
    assert len(failure) == 1 and isinstance(failure[0], S3Unreachable), failure
    assert "k/interrupted" not in s3_bucket.objects()
    # The store was down for the abort too: the next upload's first step aborts what is left (as ops.upload does).
    repo.abort_unfinished("k/interrupted")
    assert no_open_uploads(s3_bucket)
    send()
    assert_stored_part_by_part(s3_bucket, "k/interrupted", data, 5 * MIB)
    assert no_open_uploads(s3_bucket)


STREAM_IN_A_PROCESS = """
import json, os, random, sys, tracemalloc
from backup_tui.engine.config import S3Config, Secret
from backup_tui.engine.storage.s3 import S3Repository
url, bucket, access, secret, blocks, threshold, spill = sys.argv[1:8]
config = S3Config(bucket=bucket, endpoint_url=url, access_key=access, secret_key=Secret(secret),
                  multipart_threshold_mib=int(threshold), part_size_mib=8, concurrency=3)
repo = S3Repository(config, spill_dir=__import__("pathlib").Path(spill))
repo.client.head_bucket(Bucket=bucket)  # botocore's models loaded before the count starts
descriptors = len(os.listdir("/proc/self/fd"))
sink = repo.sink_for("k/stream")
rng = random.Random(11)
tracemalloc.start()
for i in range(int(blocks)):
    sink.write(rng.randbytes((1 << 20) + (i % 3) * 1000))  # odd sizes, as zstd hands blocks over
sink.close()
print(json.dumps({"peak": tracemalloc.get_traced_memory()[1], "sha256": sink.sha256, "parts": len(sink.parts),
                  "upload_id": sink.upload_id, "descriptors_left": len(os.listdir("/proc/self/fd")) - descriptors}))
"""


@pytest.mark.parametrize(("blocks", "threshold_mib", "multipart"),
                         [(23, 8, True), (3, 8, False), (17, 20, False), (40, 100, True)])
def test_a_stream_is_filled_part_by_part_on_disk_and_sent_from_there(s3_bucket: Bucket, tmp_path: Path,
                                                                     blocks: int, threshold_mib: int,
                                                                     multipart: bool) -> None:
    """A stream in its own process (the test's own holds moto's store): each 8 MiB part is filled in a file of
    its own (in the spill folder, unlinked) and sent from it, so the stream holds no part in memory, whatever
    the part size; the object is the bytes sent, proved part by part, and no file is left open or behind.
    Below the threshold (two whole parts held and a third begun, under 20 MiB) it is one PUT; a stream of
    unknown size is decided within 32 MiB, so 40 MiB go up in parts under a threshold of 100."""
    server = s3_bucket.server
    spill = tmp_path / "tmp"
    out = subprocess.run([sys.executable, "-c", STREAM_IN_A_PROCESS, server.url, s3_bucket.name, server.access_key,
                          server.secret_key, str(blocks), str(threshold_mib), str(spill)],
                         capture_output=True, text=True, check=True, timeout=300)
    found = json.loads(out.stdout.splitlines()[-1])
    rng = random.Random(11)
    data = b"".join(rng.randbytes(MIB + (i % 3) * 1000) for i in range(blocks))
    assert found["sha256"] == hashlib.sha256(data).hexdigest()
    parts = -(-len(data) // (8 * MIB)) if multipart else 1
    assert (found["parts"], bool(found["upload_id"])) == (parts, multipart)
    if multipart:
        assert_stored_part_by_part(s3_bucket, "k/stream", data, 8 * MIB)
    else:
        assert s3_bucket.client.get_object(Bucket=s3_bucket.name, Key="k/stream")["Body"].read() == data
    # a block on its way, botocore reading each of 3 parts in flight 1 MiB at a time to sign it (5.5 MiB in
    # all, measured): less than one part, where the parts filled in memory held 20 MiB
    assert found["peak"] < 8 * MIB, f"the stream held {found['peak'] / MIB:.1f} MiB"
    assert found["descriptors_left"] == 0
    assert spill.is_dir() and list(spill.iterdir()) == []
    assert no_open_uploads(s3_bucket)


def test_a_small_stream_is_one_put_with_its_checksum(s3_bucket: Bucket) -> None:
    repo = S3Repository(s3_bucket.config(**SMALL))
    small = repo.sink_for("k/small-stream")
    small.write(b"x" * 1000)
    small.close()
    assert (small.upload_id, len(small.parts)) == ("", 1)
    head = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key="k/small-stream", ChecksumMode="ENABLED")
    assert (head["ContentLength"], head["ChecksumSHA256"]) == (1000, b64(b"x" * 1000))


def test_parts_are_never_filled_where_a_link_planted_as_tmp_points(tmp_path: Path) -> None:
    """The repository's tmp/ linked elsewhere: a stream's parts (the dump, compressed) go to $TMPDIR, not there."""
    from backup_tui.engine.storage.s3_upload import _temporary

    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "tmp").symlink_to(outside)
    with _temporary(tmp_path / "repo" / "tmp") as part, _temporary(tmp_path / "own") as own:
        where = os.readlink(f"/proc/self/fd/{part.fileno()}")
        assert not where.startswith(str(outside)) and not where.startswith(str(tmp_path))
        assert os.readlink(f"/proc/self/fd/{own.fileno()}").startswith(str(tmp_path / "own"))
