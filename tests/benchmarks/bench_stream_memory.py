"""Benchmark the peak memory of a backup streamed to S3 (not a pytest test): ``keep_local = false`` into moto,
at each of ``--levels``, plain and encrypted, the process's peak read as bench_backup.py reads it.

    .venv/bin/python tests/benchmarks/bench_stream_memory.py [--size-mb 200] [--levels 9,8,auto]

Goal (issue 10): under 200 MB whatever the size and the level "auto" may reach (1-9). What sets it: boto3 and
the engine (about 100 MB), zstd's workers and their jobs (grows with the level: ``pipeline.MAX_JOB``), age's
buffers; no part of the stream is held in memory (``s3_upload.MultipartSink`` fills them on disk).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

GOAL_PEAK_MB = 200


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--data", default="documents", help="a kind of bench_backup.py's data")
    parser.add_argument("--levels", default="9,8,auto", help="compression levels, comma-separated")
    args = parser.parse_args()

    import pyrage

    from backup_tui.engine.devtools.sandbox import start_sandbox
    from tests.benchmarks.bench_backup import BENCH_DB, HEADLESS, create_dataset, log, run_measured
    from tests.benchmarks.bench_s3 import start_moto

    server, url = start_moto()
    sb = start_sandbox()
    work = Path(tempfile.mkdtemp(prefix="bench-stream-memory-", dir="/tmp"))
    worst = 0.0
    try:
        recipient = str(pyrage.x25519.Identity.generate().to_public())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "BACKUP_", "S3_", "AWS_"))}
        env.update(BACKUP_DB_HOST=sb.host, BACKUP_DB_PORT=str(sb.port), BACKUP_DB_USER=sb.user,
                   BACKUP_DB_PASSWORD=sb.password, BACKUP_DB_NAME=BENCH_DB, BACKUP_DIR=str(work / "repo"),
                   LOG_DIR=str(work / "logs"), S3_ACCESS_KEY="bench", S3_SECRET_KEY="bench")
        log(f"creating {args.size_mb} MB of {args.data} data")
        create_dataset(sb, args.size_mb, args.data)
        for level in args.levels.split(","):
            for encrypted in (False, True):
                config = work / "stream.toml"
                said = '"auto"' if level == "auto" else level
                config.write_text(
                    f"[backup]\ncompression_level = {said}\n\n"
                    f'[s3]\nbucket = "bench"\nendpoint_url = "{url}"\nkeep_local = false\n'
                    + (f'\n[encryption]\nrecipients = ["{recipient}"]\n' if encrypted else ""))
                m = run_measured("stream", [str(HEADLESS), "--config", str(config), "backup", "--json"], env)
                peak = m.own_peak / 1e6
                worst = max(worst, peak)
                print(f"level {level:>4} {'encrypted' if encrypted else 'plain    '}: {m.seconds:6.2f} s, "
                      f"peak {peak:5.0f} MB", flush=True)
        print(f"goal: peak < {GOAL_PEAK_MB} MB: {'met' if worst < GOAL_PEAK_MB else 'MISSED'} (worst {worst:.0f} MB)")
    finally:
        sb.cleanup()
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
