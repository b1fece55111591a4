"""Benchmark backups and restores through S3 (not a pytest test) against moto's server on 127.0.0.1.

A standalone script. It starts a throwaway cluster and moto's standalone server, fills one table as
bench_backup.py does, then, alternated ``--repeat`` times in the same run:

1. a backup streamed straight to the bucket (``keep_local = false``) against a backup to disk
   followed by its upload (``keep_local = true``: what ``backup`` does after each backup);
   goal: the stream faster;
2. a restore from the bucket alone (an empty local repository, ranged GETs into the decoder) against
   a restore of the same backup from disk (a config without S3); goal: within 1.1x.

Each run is a backup-headless process; its peak memory (VmHWM) is reported, goal under 200 MB.
The shared machine's load only ever adds time: the median and the spread (min-max) are printed.
``--link-mb-s R`` puts the bucket behind a link of R MB/s each way (``link.Link``, a pacing proxy): moto's
server shares the backup's two cores, so without a link an upload costs CPU and no waiting, and overlapping
it with the dump saves nothing to see; across a link, as a store elsewhere is, it saves the upload's time.

    .venv/bin/python -m tests.benchmarks.bench_s3_ops --size-mb 300 --repeat 3 [--link-mb-s 50]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from backup_tui.engine.devtools.sandbox import start_sandbox
from tests.benchmarks.bench_backup import (
    BENCH_DB,
    GOAL_PEAK_RSS_MB,
    HEADLESS,
    MB,
    Measured,
    checkpoint_before_steps,
    create_dataset,
    log,
    run_measured,
    run_table_benchmark,
)
from tests.benchmarks.bench_s3 import start_moto
from tests.benchmarks.link import Link

GOAL_RESTORE_RATIO = 1.1


def write_configs(work: Path, url: str) -> dict[str, Path]:
    s3 = f'[s3]\nbucket = "bench"\nendpoint_url = "{url}"\n'
    configs = {"disk": "", "disk+upload": s3 + "keep_local = true\n", "stream": s3 + "keep_local = false\n"}
    paths = {}
    for name, s3_table in configs.items():
        path = work / f"{name.replace('+', '_')}.toml"
        path.write_text(f"[backup]\ncompression_level = 4\n\n{s3_table}")
        paths[name] = path
    return paths


def spread(values: Sequence[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2), "max": round(max(values), 2)}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    server, url = start_moto()
    link = Link(int(url.rsplit(":", 1)[1]), args.link_mb_s) if args.link_mb_s else None
    url = link.url if link is not None else url
    sb = start_sandbox()
    checkpoint_before_steps(sb)
    work = Path(tempfile.mkdtemp(prefix="bench-s3-ops-", dir="/tmp"))
    try:
        configs = write_configs(work, url)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "BACKUP_", "S3_", "AWS_"))}
        env = {**base_env, "BACKUP_DB_HOST": sb.host, "BACKUP_DB_PORT": str(sb.port), "BACKUP_DB_USER": sb.user,
               "BACKUP_DB_PASSWORD": sb.password, "BACKUP_DB_NAME": BENCH_DB, "BACKUP_DIR": str(work / "repo"),
               "LOG_DIR": str(work / "logs"), "S3_ACCESS_KEY": "bench", "S3_SECRET_KEY": "bench"}
        bucket_only = {**env, "BACKUP_DIR": str(work / "empty")}  # a host that holds nothing locally
        (work / "empty").mkdir(mode=0o700)
        log(f"creating {args.size_mb} MB of {args.data} data")
        data = create_dataset(sb, args.size_mb, args.data)
        backups: dict[str, list[Measured]] = {"stream": [], "disk+upload": []}
        uploaded = ""
        for i in range(args.repeat):  # alternated, so a busy spell on the shared machine hits both
            for name, runs in backups.items():
                log(f"backup {name} ({i + 1}/{args.repeat})")
                m = run_measured(f"backup {name}", [str(HEADLESS), "--config", str(configs[name]), "backup",
                                                    "--json"], env)
                runs.append(m)
                if name == "disk+upload":
                    uploaded = json.loads(m.stdout)["id"]
        restores: dict[str, list[Measured]] = {"disk": [], "s3": []}
        for i in range(args.repeat):
            for name, done in restores.items():
                log(f"restore from {name} ({i + 1}/{args.repeat})")
                config, run_env = (configs["disk"], env) if name == "disk" else (configs["stream"], bucket_only)
                target = f"r_{name}_{i}"
                m = run_measured(f"restore {name}", [str(HEADLESS), "--config", str(config), "restore", uploaded,
                                                     "--target-db", target, "--json"], run_env)
                done.append(m)
                sb.psql(f'DROP DATABASE "{target}" WITH (FORCE)')
        stored = next(r for r in json.loads(run_measured("list", [str(HEADLESS), "--config", str(configs["stream"]),
                                                                  "list", "--json"], env).stdout)
                      if r["id"] == uploaded)["size_bytes"]
        return report(data.total_bytes, stored, backups, restores) | {"link_mb_s": args.link_mb_s}
    finally:
        if link is not None:
            link.close()
        sb.cleanup()
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def report(table_bytes: int, stored_bytes: int, backups: dict[str, list[Measured]],
           restores: dict[str, list[Measured]]) -> dict[str, Any]:
    runs = {**{f"backup {n}": ms for n, ms in backups.items()}, **{f"restore {n}": ms for n, ms in restores.items()}}
    seconds = {n: [m.seconds for m in ms] for n, ms in runs.items()}
    peaks = {n: max(m.own_peak for m in ms) / MB for n, ms in runs.items()}
    # Ratios per pair of alternated runs, then their median: each pair shares the machine's load of its moment.
    stream_ratios = [s.seconds / d.seconds for s, d in zip(backups["stream"], backups["disk+upload"], strict=True)]
    restore_ratios = [s.seconds / d.seconds for s, d in zip(restores["s3"], restores["disk"], strict=True)]
    peak = max(peaks.values())
    return {
        "table_mb": round(table_bytes / MB, 1),
        "stored_mb": round(stored_bytes / MB, 1),
        "seconds": {n: spread(v) for n, v in seconds.items()},
        "runs_s": {n: [round(x, 2) for x in v] for n, v in seconds.items()},
        "peak_mb": {n: round(p, 1) for n, p in peaks.items()},
        "stream_vs_disk_upload": spread(stream_ratios),
        "restore_s3_vs_disk": spread(restore_ratios),
        "goals": {"stream faster than disk+upload (median)": statistics.median(stream_ratios) < 1.0,
                  f"restore from S3 <= {GOAL_RESTORE_RATIO}x disk (median)":
                      statistics.median(restore_ratios) <= GOAL_RESTORE_RATIO,
                  f"peak memory <= {GOAL_PEAK_RSS_MB:.0f} MB": peak <= GOAL_PEAK_RSS_MB},
    }


def render(result: dict[str, Any]) -> str:
    link = f", the bucket behind a {result['link_mb_s']:g} MB/s link" if result.get("link_mb_s") else ""
    lines = [f"table {result['table_mb']} MB, stored dump {result['stored_mb']} MB{link}"]
    for name, s in result["seconds"].items():
        lines.append(f"{name:>20}: median {s['median']:6.2f} s (min {s['min']:.2f}, max {s['max']:.2f}; runs "
                     f"{result['runs_s'][name]}), peak {result['peak_mb'][name]:5.1f} MB")
    for label, key in (("stream / disk+upload", "stream_vs_disk_upload"), ("restore s3 / disk", "restore_s3_vs_disk")):
        r = result[key]
        lines.append(f"{label}: median {r['median']:.2f}x (pairs {r['min']:.2f}-{r['max']:.2f}x)")
    lines += [f"goal {'PASS' if ok else 'FAIL'}: {goal}" for goal, ok in result["goals"].items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--link-mb-s", type=float, default=0, metavar="R",
                            help="the bucket behind a link of R MB/s each way (default: moto direct)")

    return run_table_benchmark(__doc__, argv, "alternated runs of each", measure, render, options)


if __name__ == "__main__":
    sys.exit(main())
