"""Benchmark the TUI on a bucket of 5,000 backups (not a pytest test), against moto's server on 127.0.0.1.

    .venv/bin/python -m tests.benchmarks.bench_s3_tui [--backups 5000] [--repeat 3]

The bucket is seeded with N backups put directly with boto3 at their places in the layout (a small data
object, its sidecar and the manifest: what a listing pages through); the local repository is empty, as on a
new host of the fleet. Each launch is a fresh process timed as bench_tui.py times it: the first interactive
frame (goal < 1 s), every backup listed in the table (goal < 5 s), every record filled in from its manifest,
and the process's peak memory (goal < 200 MB). Each round launches cold (this host's record cache emptied)
then warm (the cache the cold launch left). Median and spread over ``--repeat`` rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

GOAL_FIRST_FRAME_S = 1.0
GOAL_LISTED_S = 5.0
GOAL_PEAK_MB = 200.0
DATABASES = ("alpha", "beta")


def seed_bucket(url: str, count: int, objects: int = 3) -> None:
    """``count`` committed backups in the bucket, at the keys the layout gives them: the data object, its sidecar
    and the manifest (``objects`` 3), or the manifest alone (1: what earlier runs of this benchmark seeded)."""
    from backup_tui.engine.config import S3Config, Secret
    from backup_tui.engine.core.models import BackupRecord, utc_iso
    from backup_tui.engine.storage.s3 import S3Repository

    repo = S3Repository(S3Config(bucket="bench", endpoint_url=url, access_key="bench", secret_key=Secret("bench")))
    start = datetime(2020, 1, 1, 2, tzinfo=UTC)

    def put(i: int) -> None:
        database, moment = DATABASES[i % len(DATABASES)], start + timedelta(hours=6 * i)
        backup_id = f"{database}-{moment:%Y%m%dT%H%M%SZ}"
        record = BackupRecord(
            id=backup_id, database=database, created_at=utc_iso(moment), finished_at=utc_iso(moment),
            duration_s=1.5, format="custom", compression="zstd", raw_bytes=10_000_000 + i,
            stored_bytes=2_000_000 + i * 10, sha256="ab" * 32, file_name=f"{backup_id}.dump.zst",
            row_counts={f"public.t{n}": n * 100 for n in range(20)}, host="web-1",
        )
        folder = repo.folder(record)
        if objects == 3:
            repo.client.put_object(Bucket="bench", Key=folder + record.file_name, Body=b"z" * 64)
            repo.client.put_object(Bucket="bench", Key=folder + record.file_name + ".sha256",
                                   Body=f"{record.sha256}  {record.file_name}\n".encode())
        repo.client.put_object(Bucket="bench", Key=folder + "manifest.json", Body=record.manifest_json().encode())

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, range(count)))


def child_launch(repository: Path, url: str, started: float, expected: int) -> None:
    """In the measured process: start the app on the bucket, stop once the table holds every backup filled in."""
    from backup_tui.engine.config import DatabaseConfig, S3Config, Secret, Settings
    from backup_tui.tui.app import BackupApp
    from backup_tui.tui.widgets.backups import ID_COLUMN

    s3 = S3Config(bucket="bench", endpoint_url=url, access_key="bench", secret_key=Secret("bench"))
    settings = Settings(repository=repository, databases=tuple(DatabaseConfig(name=d) for d in DATABASES), s3=s3)
    app = BackupApp(settings, refresh_seconds=0)
    result: dict[str, float] = {}

    async def auto_pilot(pilot: object) -> None:
        result["interactive_s"] = time.time() - started
        deadline = time.time() + 300
        while app.mounted_main() is None or not app.main.query("#backups-view"):
            await asyncio.sleep(0.005)
        backups = app.main.backups
        while app.catalog_loads == 0 and time.time() < deadline:
            await asyncio.sleep(0.005)
        result["first_load_s"] = time.time() - started  # the listing made and judged: the table fills next
        while len(backups._applied) < expected and time.time() < deadline:
            await asyncio.sleep(0.01)
        result["listed_s"] = time.time() - started
        result["rows"] = len(backups._applied)
        while time.time() < deadline and (app.catalog_complete == 0 or backups._applying or any(
                cells[ID_COLUMN][0].endswith("(not read yet)") for _, cells in backups._applied)):
            await asyncio.sleep(0.05)
        result["filled_s"] = time.time() - started
        result["unread_left"] = sum(1 for r in app.records if r.status == "unread")
        result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        app.exit()

    app.run(headless=True, size=(120, 36), auto_pilot=auto_pilot)
    print(json.dumps(result))


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} (min {min(values):.2f}, max {max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description="backup-tui on a bucket of many backups")
    parser.add_argument("--backups", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--objects", type=int, choices=(1, 3), default=3,
                        help="objects per backup: data, sidecar and manifest (3), or the manifest alone (1)")
    parser.add_argument("--child-launch", nargs=4, metavar=("REPO", "URL", "STARTED", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_launch:
        repo, url, started, expected = args.child_launch
        child_launch(Path(repo), url, float(started), int(expected))
        return 0
    from tests.benchmarks.bench_s3 import start_moto

    server, url = start_moto()
    work = Path(tempfile.mkdtemp(prefix="bench-s3-tui-"))
    cache = work / "cache"
    env = {**os.environ, "BACKUP_CACHE_DIR": str(cache)}
    runs: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
    try:
        seeded = time.perf_counter()
        seed_bucket(url, args.backups, args.objects)
        print(f"seeded {args.backups} backups in {time.perf_counter() - seeded:.1f} s", file=sys.stderr)
        (work / "repo").mkdir(mode=0o700)
        for _ in range(args.repeat):
            shutil.rmtree(cache, ignore_errors=True)
            for kind in ("cold", "warm"):
                started = time.time()
                out = subprocess.run([sys.executable, __file__, "--child-launch", str(work / "repo"), url,
                                      str(started), str(args.backups)],
                                     check=False, capture_output=True, text=True, env=env)
                if out.returncode:
                    raise SystemExit(f"launch failed:\n{out.stderr[-3000:]}")
                runs[kind].append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.backups} backups ({args.objects} object(s) each) in the bucket, empty local repository, "
          f"{args.repeat} rounds of fresh launches")
    ok = True
    for kind, done in runs.items():
        rows = {int(r["rows"]) for r in done}
        first, listed = [r["interactive_s"] for r in done], [r["listed_s"] for r in done]
        filled, rss = [r["filled_s"] for r in done], [r["rss_mb"] for r in done]
        print(f"{kind} cache:")
        print(f"  first interactive frame: {spread(first)} s (goal < {GOAL_FIRST_FRAME_S} s)")
        print(f"  listing read (first catalog load): {spread([r['first_load_s'] for r in done])} s")
        print(f"  every backup listed ({'/'.join(map(str, sorted(rows)))} rows): {spread(listed)} s "
              f"(goal < {GOAL_LISTED_S} s)")
        print(f"  every record filled in: {spread(filled)} s (unread left: {max(r['unread_left'] for r in done):.0f})")
        print(f"  peak RSS: {spread(rss)} MB (goal < {GOAL_PEAK_MB:.0f} MB)")
        ok = ok and (rows == {args.backups} and statistics.median(first) < GOAL_FIRST_FRAME_S
                     and statistics.median(listed) < GOAL_LISTED_S and max(rss) < GOAL_PEAK_MB)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
