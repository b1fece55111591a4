"""Benchmark encryption at rest: the same backup and restore, encrypted (age) and not, in the same run.

A standalone script, not a pytest test. It starts a throwaway cluster, fills one table as
bench_backup.py does, then alternates backup-headless backups without and with ``[encryption]
recipients`` (the fastest of ``--repeat`` each), and restores of each (the encrypted one with
``--identity``), and prints the ratios with each run's peak memory:

    .venv/bin/python -m tests.benchmarks.bench_encryption --size-mb 300 --repeat 3

Goal (issue 10): an encrypted backup within 1.1x of the same backup unencrypted; peak memory under
200 MB. The exit code is 0 when the goals pass.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyrage

from backup_tui.engine.devtools.sandbox import start_sandbox
from tests.benchmarks.bench_backup import (
    BENCH_DB,
    GOAL_PEAK_RSS_MB,
    HEADLESS,
    MB,
    Measured,
    best_of,
    checkpoint_before_steps,
    create_dataset,
    log,
    run_measured,
    run_table_benchmark,
)

GOAL_ENCRYPTED_VS_PLAIN = 1.1


def write_configs(work: Path, recipient: str, key: Path) -> tuple[Path, Path]:
    plain = work / "plain.toml"
    plain.write_text("[backup]\ncompression_level = 4\n")
    encrypted = work / "encrypted.toml"
    encrypted.write_text(f'[backup]\ncompression_level = 4\n\n[encryption]\nrecipients = ["{recipient}"]\n'
                         f'identity_file = "{key}"\n')
    return plain, encrypted


def measure(args: argparse.Namespace) -> dict[str, Any]:
    sb = start_sandbox()
    checkpoint_before_steps(sb)
    work = Path(tempfile.mkdtemp(prefix="bench-encryption-", dir="/tmp"))
    try:
        identity = pyrage.x25519.Identity.generate()
        key = work / "backup.key"
        key.write_text(f"{identity}\n")
        plain_cfg, encrypted_cfg = write_configs(work, str(identity.to_public()), key)
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "BACKUP_"))}
        env = {**base_env, "BACKUP_DB_HOST": sb.host, "BACKUP_DB_PORT": str(sb.port), "BACKUP_DB_USER": sb.user,
               "BACKUP_DB_PASSWORD": sb.password, "BACKUP_DB_NAME": BENCH_DB,
               "BACKUP_DIR": str(work / "repo"), "LOG_DIR": str(work / "logs")}
        log(f"creating {args.size_mb} MB of {args.data} data")
        data = create_dataset(sb, args.size_mb, args.data)
        configs = {"plain": plain_cfg, "encrypted": encrypted_cfg}
        backups: dict[str, list[Measured]] = {"plain": [], "encrypted": []}
        ids: dict[str, str] = {}
        for i in range(args.repeat):  # alternated, so a busy spell on the shared machine hits both
            for name, config in configs.items():
                log(f"backup {name} ({i + 1}/{args.repeat})")
                m = run_measured(f"backup {name}", [str(HEADLESS), "--config", str(config), "backup", "--json"], env)
                ids[name] = json.loads(m.stdout)["id"]
                backups[name].append(m)
        restores: dict[str, Measured] = {}
        for name, config in configs.items():
            log(f"restore {name}")

            def one(i: int, name: str = name, config: Path = config) -> Measured:
                return run_measured(f"restore {name}", [str(HEADLESS), "--config", str(config), "restore", ids[name],
                                                        "--target-db", f"r_{name}_{i}", "--json"], env)

            def drop(i: int, name: str = name) -> None:
                sb.psql(f'DROP DATABASE "r_{name}_{i}" WITH (FORCE)')

            restores[name] = best_of(args.repeat, one, after=drop)
        listing = {r["id"]: r for r in json.loads(run_measured("list", [str(HEADLESS), "list", "--json"], env).stdout)}
        return report(data.total_bytes, backups, restores, {n: listing[i] for n, i in ids.items()})
    finally:
        sb.cleanup()
        shutil.rmtree(work, ignore_errors=True)


def report(table_bytes: int, backups: dict[str, list[Measured]], restores: dict[str, Measured],
           records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    best = {name: min(runs, key=lambda m: m.seconds) for name, runs in backups.items()}
    peak = max(m.own_peak for m in [*best.values(), *restores.values()]) / MB
    ratio = best["encrypted"].seconds / best["plain"].seconds
    return {
        "table_mb": round(table_bytes / MB, 1),
        "backup_s": {n: [round(m.seconds, 2) for m in runs] for n, runs in backups.items()},
        "backup_cpu_s": {n: round(m.cpu_seconds, 2) for n, m in best.items()},
        "backup_peak_mb": {n: round(m.own_peak / MB, 1) for n, m in best.items()},
        "stored_mb": {n: round(r["size_bytes"] / MB, 2) for n, r in records.items()},
        "restore_s": {n: round(m.seconds, 2) for n, m in restores.items()},
        "restore_peak_mb": {n: round(m.own_peak / MB, 1) for n, m in restores.items()},
        "backup_ratio": round(ratio, 3),
        "backup_cpu_ratio": round(best["encrypted"].cpu_seconds / best["plain"].cpu_seconds, 3),
        "restore_ratio": round(restores["encrypted"].seconds / restores["plain"].seconds, 3),
        "goals": {"encrypted backup <= 1.1x plain": ratio <= GOAL_ENCRYPTED_VS_PLAIN,
                  f"peak memory <= {GOAL_PEAK_RSS_MB:.0f} MB": peak <= GOAL_PEAK_RSS_MB},
    }


def render(result: dict[str, Any]) -> str:
    lines = [f"table: {result['table_mb']} MB on disk"]
    for name in ("plain", "encrypted"):
        runs = result["backup_s"][name]
        lines.append(f"{name:>9}: backup best {min(runs):6.2f} s (runs {runs}), "
                     f"cpu {result['backup_cpu_s'][name]:6.2f} s, peak {result['backup_peak_mb'][name]:5.1f} MB, "
                     f"stored {result['stored_mb'][name]} MB; restore {result['restore_s'][name]:6.2f} s, "
                     f"peak {result['restore_peak_mb'][name]:5.1f} MB")
    lines.append(f"encrypted / plain: backup {result['backup_ratio']:.3f}x (cpu {result['backup_cpu_ratio']:.3f}x), "
                 f"restore {result['restore_ratio']:.3f}x")
    lines += [f"goal {'PASS' if ok else 'FAIL'}: {goal}" for goal, ok in result["goals"].items()]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    return run_table_benchmark(__doc__, argv, "runs of each backup and restore; the fastest counts", measure, render)


if __name__ == "__main__":
    sys.exit(main())
