"""Benchmark S3 uploads and reads (not a pytest test) against moto's server in a process of its own.

    .venv/bin/python tests/benchmarks/bench_s3.py [--mib 320]

1. Upload: the same incompressible file (a stored dump's bytes) sent by raw boto3 ``upload_file``
   (alternated with ours and with ``upload_file`` asked for SHA-256 checksums as ours sends, which costs
   moto more at completion than its default CRC32; ``--repeat`` rounds; the median and spread of the
   ratios per round are printed, with the client's CPU time,
   with the time each run spent in CreateMultipartUpload, CompleteMultipartUpload and HeadObject)
   (16 MiB parts, 8 threads, the defaults of [s3]) and by our upload path (``S3Repository.send_file``
   as ``ops.upload`` calls it: ranges of the file, SHA-256 per part, then the store's size and
   checksums checked).
   Goal: ours within 1.1x of boto3's.
2. Read: the object through ``S3Source`` (ranged GETs of 64 MiB, as verify and restore read it)
   against the local file, both hashed. Reported, no goal here.
Peak memory (max RSS of this process) is reported too.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

GOAL_UPLOAD_RATIO = 1.1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    """moto's standalone server on a free port of 127.0.0.1 with an empty bucket "bench": (process, URL)."""
    import boto3
    from botocore.config import Config

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench",
                          aws_secret_access_key="bench", config=Config(s3={"addressing_style": "path"}))
    for _ in range(200):
        try:
            client.create_bucket(Bucket="bench")
            return server, url
        except Exception:
            time.sleep(0.1)
    server.terminate()
    raise RuntimeError("moto's server did not start")


class CallTimes:
    """Wall time per S3 operation, summed, from botocore's own events: where an upload's time goes."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self._started: dict[int, float] = {}

    def watch(self, client: object) -> None:
        events = client.meta.events  # type: ignore[attr-defined]
        for op in ("CompleteMultipartUpload", "HeadObject", "CreateMultipartUpload"):
            events.register(f"before-call.s3.{op}", self._before)
            events.register(f"after-call.s3.{op}", self._after)

    def _before(self, model: object, **_: object) -> None:
        import threading

        self._started[threading.get_ident()] = time.perf_counter()

    def _after(self, model: object, **_: object) -> None:
        import threading

        name = str(getattr(model, "name", "?"))
        started = self._started.pop(threading.get_ident(), time.perf_counter())
        self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - started

    def take(self) -> dict[str, float]:
        taken, self.totals = self.totals, {}
        return taken


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=320)
    parser.add_argument("--repeat", type=int, default=3, help="alternated rounds of uploads")
    args = parser.parse_args()

    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config

    from backup_tui.engine.config import S3Config, Secret
    from backup_tui.engine.storage.s3 import MIB, S3Repository, S3Source

    server, url = start_moto()
    try:
        client = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench",
                              aws_secret_access_key="bench", config=Config(s3={"addressing_style": "path"}))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "stored.dump.zst"
            with open(path, "wb") as fh:
                for _ in range(args.mib):
                    fh.write(os.urandom(MIB))
            config = S3Config(bucket="bench", endpoint_url=url, access_key="bench", secret_key=Secret("bench"))
            repo = S3Repository(config)
            calls = CallTimes()
            calls.watch(client)
            calls.watch(repo.client)
            phases: dict[str, list[dict[str, float]]] = {"boto3": [], "boto3+sha256": [], "ours": []}
            cpu: dict[str, list[float]] = {who: [] for who in phases}
            times: dict[str, list[float]] = {who: [] for who in phases}
            sent_sha = ""

            def upload(who: str, key: str) -> None:
                nonlocal sent_sha
                started, cpu_started = time.perf_counter(), time.process_time()  # moto runs in its own process
                if who == "ours":
                    with open(path, "rb") as src:
                        sent = repo.send_file(key, src)  # as ops.upload sends a local backup
                    sent_sha = sent_sha or sent.sha256
                else:  # boto3+sha256: the same SHA-256 checksums as ours, so the same work for the server
                    client.upload_file(str(path), "bench", key, Config=TransferConfig(
                        multipart_threshold=100 * MIB, multipart_chunksize=16 * MIB, max_concurrency=8),
                        ExtraArgs={"ChecksumAlgorithm": "SHA256"} if who == "boto3+sha256" else None)
                times[who].append(time.perf_counter() - started)
                cpu[who].append(time.process_time() - cpu_started)
                phases[who].append(calls.take())

            # Alternated rounds, the order reversed each time: the shared machine's load and the server's store
            # weigh on all alike. Each object but the one read back is deleted once timed.
            for i in range(args.repeat):
                for who in (list(phases) if i % 2 == 0 else list(phases)[::-1]):
                    upload(who, f"{who}{i}")
                    if who != "ours" or i:
                        client.delete_object(Bucket="bench", Key=f"{who}{i}")
            raw_times, our_times = times["boto3"], times["ours"]
            ratios = sorted(o / r for o, r in zip(our_times, raw_times, strict=True))
            sha_ratios = sorted(o / r for o, r in zip(our_times, times["boto3+sha256"], strict=True))
            raw_s, ours_s = statistics.median(raw_times), statistics.median(our_times)

            remote = S3Source(repo.client, config, "bench", "ours0")  # what open_stored returns for a record
            started = time.perf_counter()
            digest = hashlib.sha256()
            with remote.open() as reader:
                while chunk := reader.read(MIB):
                    digest.update(chunk)
            read_s = time.perf_counter() - started
            started = time.perf_counter()
            local_digest = hashlib.sha256()
            with open(path, "rb") as local_file:
                while chunk := local_file.read(MIB):
                    local_digest.update(chunk)
            local = local_digest.hexdigest()
            local_s = time.perf_counter() - started
            assert digest.hexdigest() == local == sent_sha, "the bytes read back differ"
        size = args.mib * MIB
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"upload {args.mib} MiB, {args.repeat} alternated rounds: boto3 upload_file median {raw_s:.2f} s "
              f"({size / raw_s / MIB:.0f} MiB/s; runs {' '.join(f'{t:.2f}' for t in raw_times)}), ours median "
              f"{ours_s:.2f} s ({size / ours_s / MIB:.0f} MiB/s; runs {' '.join(f'{t:.2f}' for t in our_times)})")
        print(f"ours / boto3 per round: median {statistics.median(ratios):.2f}x (spread {ratios[0]:.2f}-"
              f"{ratios[-1]:.2f}x; goal <= {GOAL_UPLOAD_RATIO}x)")
        with_sha = statistics.median(times["boto3+sha256"])
        print(f"ours / boto3 with SHA-256 checksums per round: median {statistics.median(sha_ratios):.2f}x (spread "
              f"{sha_ratios[0]:.2f}-{sha_ratios[-1]:.2f}x); boto3+sha256 median {with_sha:.2f} s")
        spent = ", ".join(f"{who} {statistics.median(v):.2f} s" for who, v in cpu.items())
        print(f"client CPU per run (median): {spent}")
        for who, taken in phases.items():
            parts = "; ".join(", ".join(f"{op} {s:.2f} s" for op, s in sorted(t.items())) for t in taken)
            print(f"  {who} per run: {parts}")
        print(f"read back: ranged GETs {read_s:.2f} s ({size / read_s / MIB:.0f} MiB/s), local file hashed "
              f"{local_s:.2f} s")
        print(f"peak RSS of this process: {peak} MiB")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
