"""Benchmark the TUI (not a pytest test): launch time and memory with 5,000 backups, and event-loop stalls.

    .venv/bin/python tests/benchmarks/bench_tui.py [--backups 5000]

1. Launch: a fresh process starts backup-tui on a repository with N manifests on
   disk and reports when the first interactive frame (catalog shown) is ready.
   Goal < 1 s. Memory (max RSS) at that point: goal < 150 MB.
2. Stalls: a real backup, a restore into a new database and catalog refreshes run
   against a throwaway cluster while a 10 ms timer records how late it fires.
   Goal: longest stall < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

GOAL_LAUNCH_S = 1.0
GOAL_RSS_MB = 150
GOAL_STALL_MS = 50


def fill_repository(repository: Path, count: int, databases: tuple[str, ...]) -> None:
    """``count`` committed manifests (no data files: listing reads manifests only)."""
    from backup_tui.engine.core.models import BackupRecord, utc_iso

    start = datetime(2020, 1, 1, 2, tzinfo=UTC)
    for i in range(count):
        database = databases[i % len(databases)]
        moment = start + timedelta(hours=6 * i)
        backup_id = f"{database}-{moment:%Y%m%dT%H%M%SZ}"
        folder = repository / "backups" / database / backup_id
        folder.mkdir(parents=True)
        record = BackupRecord(
            id=backup_id, database=database, created_at=utc_iso(moment), finished_at=utc_iso(moment),
            duration_s=1.5, format="custom", compression="zstd", raw_bytes=10_000_000 + i,
            stored_bytes=2_000_000 + i * 10, sha256="ab" * 32, file_name=f"{backup_id}.dump.zst",
            row_counts={f"public.t{n}": n * 100 for n in range(20)},
        )
        (folder / "manifest.json").write_text(record.manifest_json())


def child_launch(repository: Path, started: float) -> None:
    """In the measured process: start the app, stop at the first frame with the catalog shown."""
    from backup_tui.engine.config import DatabaseConfig, Settings
    from backup_tui.tui.app import BackupApp

    settings = Settings(repository=repository, databases=(DatabaseConfig(name="alpha"), DatabaseConfig(name="beta")))
    app = BackupApp(settings, refresh_seconds=0)
    result: dict[str, float] = {}

    async def auto_pilot(pilot: object) -> None:
        result["interactive_s"] = time.time() - started  # screens mounted, keys handled; catalog still loading
        while app.catalog_loads == 0:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0)  # the frame after the catalog landed
        result["ready_s"] = time.time() - started
        result["rows"] = len(app.main.backups.shown)
        result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        table = app.main.backups.table  # rows reach the table in slices, the first screenful first
        deadline = time.time() + 30
        while table.row_count < result["rows"] and time.time() < deadline:
            await asyncio.sleep(0.01)
        result["filled_s"] = time.time() - started
        app.exit()

    app.run(headless=True, size=(120, 36), auto_pilot=auto_pilot)
    print(json.dumps(result))


def measure_launch(count: int) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="bench-tui-"))
    try:
        fill_repository(work / "repo", count, ("alpha", "beta"))
        started = time.time()
        out = subprocess.run([sys.executable, __file__, "--child-launch", str(work / "repo"), str(started)],
                             capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
    finally:
        shutil.rmtree(work, ignore_errors=True)


async def measure_stalls(count: int, bulk_rows: int = 0) -> dict[str, float]:
    from backup_tui.engine.config import DatabaseConfig, Settings
    from backup_tui.engine.devtools.sandbox import start_sandbox
    from backup_tui.tui.app import BackupApp

    sandbox = start_sandbox()
    work = Path(tempfile.mkdtemp(prefix="bench-tui-"))
    try:
        sandbox.load_pagila("pagila")
        if bulk_rows:  # a database big enough that the dump and the load take seconds, not a blink
            sandbox.psql(f"CREATE TABLE public.bulk AS SELECT g, md5(g::text) || md5((g * 7)::text) AS t "
                         f"FROM generate_series(1, {bulk_rows}) g; CREATE INDEX ON public.bulk (g)", "pagila")
        fill_repository(work / "repo", count, ("alpha",))
        db = DatabaseConfig(name="pagila", host=sandbox.host, port=sandbox.port, user=sandbox.user,
                            password=sandbox.password)
        settings = Settings(repository=work / "repo", databases=(db,))
        app = BackupApp(settings, refresh_seconds=0)
        app.animation_level = "none"
        late: list[float] = []
        async with app.run_test(size=(120, 36)) as pilot:
            while app.catalog_loads == 0:
                await pilot.pause(0.01)
            last = time.monotonic()

            def tick() -> None:
                nonlocal last
                now = time.monotonic()
                late.append(now - last - 0.01)
                last = now

            app.set_interval(0.01, tick)
            app.new_backup("pagila")
            while app.running_jobs or not app.jobs:
                await asyncio.sleep(0.05)
            newest = None
            while newest is None:
                await asyncio.sleep(0.05)
                newest = next((r for r in app.records if r.database == "pagila"), None)
            # Planned in a thread, as the restore wizard does: planning connects to the server, and doing that
            # here, on the event loop, would be the benchmark's own stall, not the app's.
            plan = await asyncio.to_thread(app.services.plan_restore, newest, "pagila_bench_copy", False)
            app.start_restore(newest, plan)
            for _ in range(5):
                app.refresh_catalog()
                await asyncio.sleep(0.2)
            while app.running_jobs:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            failed = [j.message for j in app.jobs.values() if j.state != "done"]
        late.sort()
        return {"ticks": len(late), "max_stall_ms": late[-1] * 1000, "p99_stall_ms": late[int(len(late) * 0.99)] * 1000,
                "failed_jobs": len(failed)}
    finally:
        sandbox.cleanup()
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description="backup-tui benchmark")
    parser.add_argument("--backups", type=int, default=5000)
    parser.add_argument("--child-launch", nargs=2, metavar=("REPO", "STARTED"), help=argparse.SUPPRESS)
    parser.add_argument("--skip-stalls", action="store_true")
    parser.add_argument("--bulk-rows", type=int, default=0,
                        help="add a table of that many rows (about 100 bytes each) to the stall test's database")
    args = parser.parse_args()
    if args.child_launch:
        child_launch(Path(args.child_launch[0]), float(args.child_launch[1]))
        return 0
    launch = measure_launch(args.backups)
    print(f"launch to first interactive frame, {args.backups} backups in the repository: "
          f"{launch['interactive_s']:.2f} s (goal < {GOAL_LAUNCH_S} s)")
    print(f"launch until all {launch['rows']:.0f} backups are listed in the table: {launch['ready_s']:.2f} s "
          f"(the same goal, stricter reading)")
    print(f"max RSS with that catalog: {launch['rss_mb']:.0f} MB (goal < {GOAL_RSS_MB} MB)")
    print(f"launch until the table holds all of them (scrolling reaches the oldest): {launch['filled_s']:.2f} s")
    if not args.skip_stalls:
        stalls = asyncio.run(measure_stalls(args.backups, args.bulk_rows))
        print(f"event loop during backup + restore + 5 refreshes ({args.backups} backups): "
              f"longest stall {stalls['max_stall_ms']:.0f} ms, p99 {stalls['p99_stall_ms']:.0f} ms "
              f"over {stalls['ticks']:.0f} ticks (goal < {GOAL_STALL_MS} ms); failed jobs {stalls['failed_jobs']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
