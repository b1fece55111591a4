"""Benchmark backup-headless against pg_dump's floor, the old gzip scripts and plain pg_restore.

A standalone script, not a pytest test: one run takes minutes and needs a real
cluster of several hundred MB, so it is run by hand before and after changes to
the data path (pipeline.py, backup.py, restore.py). It starts a throwaway
cluster, fills one table with random but text-like data, times each step with
wall-clock time, samples memory, prints a table and checks the goals:

    .venv/bin/python tests/benchmarks/bench_backup.py --size-mb 500
    .venv/bin/python tests/benchmarks/bench_backup.py --size-mb 500 --compression-level auto,1,3 --json
    .venv/bin/python tests/benchmarks/bench_backup.py --data events --cpus 0   # our backup on one CPU (taskset)
    .venv/bin/python tests/benchmarks/bench_backup.py --dump-rate 40           # a server that sends 40 MB/s

``--dump-rate`` stands in for a remote or busy server: pg_dump's output reaches every pipeline (the floor,
the bare tools and ours, through ``pg_bin_dir``) through a pacer at that rate, so there is CPU to spare
while the dump sets the pace, which is where "auto" should climb above level 1.

The bare tools are measured at each level of ``--bare-levels`` (``pg_dump -Fc -Z0 | zstd -L -T2 > f``)
until one takes longer than the time goal, by a margin for noise: the best of those that kept within it is
the size to match. Every step runs once per round, in turn (``--repeat`` rounds), and keeps its fastest.

MB here is 10**6 bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from backup_tui.engine.config import Settings
from backup_tui.engine.core.levels import levels_said
from backup_tui.engine.devtools.sandbox import Sandbox, start_sandbox
from backup_tui.engine.postgres import pg

MB = 1_000_000
BENCH_DB = "bench"
TABLE = "docs"
VOCAB_WORDS = 30_000
POOL_SENTENCES = 1_000_000
PROBE_ROWS = 5_000
BATCH_BYTES = 120 * MB
SAMPLE_EVERY_S = 0.05  # VmHWM is the kernel's own peak, so polling only has to catch each process alive
HEADLESS = Path(sys.executable).with_name("backup-headless")
ROOT = Path(__file__).resolve().parents[2]

# The goals this benchmark checks (ratios, except memory).
GOAL_BACKUP_VS_FLOOR = 1.3  # or no slower than the bare tools at zstd's level 1, where they take longer
GOAL_OLD_VS_BACKUP = 5.0
GOAL_STORED_VS_BARE = 1.02  # against the bare tools at the best level that keeps within the time goal
GOAL_RESTORE_VS_PG_RESTORE = 1.15
GOAL_PEAK_RSS_MB = 200.0
SEARCH_PAST_GOAL = 1.15  # the bare levels are searched up to one this much slower than the time goal in round 1


# -- running one measured child ------------------------------------------------


@dataclass
class Measured:
    """One child run: wall time, CPU and memory of its whole process tree."""

    label: str
    seconds: float
    cpu_seconds: float
    returncode: int
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)
    tree_max_rss: int  # bytes: ru_maxrss from wait4, the largest single process in the tree (exact)
    own_peak: int  # bytes: VmHWM of the child itself (polled; exact peak up to its last poll)
    process_peaks: dict[str, int]  # bytes: VmHWM per command name in the tree, max over processes
    tree_sum_peak: int  # bytes: largest sum of VmRSS over the tree seen at one poll
    machine_busy: float  # average number of busy CPUs over the whole machine: ours + server + anyone else
    server_cpu_seconds: float  # user+sys of the PostgreSQL cluster (backends, including ones that exited)
    all_seconds: list[float] = field(default_factory=list)  # every run of the step, when the fastest was kept


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


_server_pid: int | None = None  # the cluster's postmaster, whose CPU we charge to the step running
_idle_wait_s = 0.0  # --wait-idle: before each measured run, wait up to this long for a quiet machine
# The cluster's CHECKPOINT, run before each measured step: a restore writes 500 MB of WAL, and without it the
# checkpoint max_wal_size asks for landed in whichever step came next (one run's restore baseline 5.9 s, the
# next run's 6.9 s; ours 7.5 s, then 7.0 s).
_settled: Sandbox | None = None


def _server_cpu() -> float:
    """CPU seconds of the postmaster, its live children and (cutime) its reaped children."""
    if _server_pid is None:
        return 0.0
    ticks = 0
    for pid in [_server_pid, *_descendants(_server_pid)]:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "; utime is field 14 of stat
        ticks += int(fields[11]) + int(fields[12])
        if pid == _server_pid:
            ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def _status_fields(pid: int) -> dict[str, int] | None:
    """VmRSS and VmHWM of a live process, in bytes; None once it is gone or a zombie."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out if "VmHWM" in out else None


def _descendants(pid: int) -> list[int]:
    """The tree under ``pid`` via /proc/<pid>/task/<tid>/children (cheap: no scan of /proc)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                kids = Path(f"/proc/{current}/task/{tid}/children").read_text().split()
            except OSError:
                continue
            for kid in map(int, kids):
                found.append(kid)
                todo.append(kid)
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


class _Sampler(threading.Thread):
    """Polls the tree's memory until told to stop; the child is reaped by the caller."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True, name="rss-sampler")
        self.pid = pid
        self.stop = threading.Event()
        self.own_peak = 0
        self.tree_sum_peak = 0
        self.process_peaks: dict[str, int] = {}
        self._names: dict[int, str] = {}

    def run(self) -> None:
        while not self.stop.is_set():
            total = 0
            for pid in [self.pid, *_descendants(self.pid)]:
                fields = _status_fields(pid)
                if fields is None:
                    continue
                name = "self" if pid == self.pid else self._names.setdefault(pid, _comm(pid))
                total += fields.get("VmRSS", 0)
                self.process_peaks[name] = max(self.process_peaks.get(name, 0), fields["VmHWM"])
                if pid == self.pid:
                    self.own_peak = max(self.own_peak, fields["VmHWM"])
            self.tree_sum_peak = max(self.tree_sum_peak, total)
            self.stop.wait(SAMPLE_EVERY_S)


def checkpoint_before_steps(sb: Sandbox) -> None:
    """Every ``run_measured`` step from now on starts after a CHECKPOINT of ``sb`` (``settle``)."""
    global _settled
    _settled = sb


def settle(sb: Sandbox | None) -> None:
    """Before a timed run: the cluster's checkpoint (when there is one) and the page cache written back, so no
    run pays for the writes of the one before it."""
    if sb is not None:
        sb.psql("CHECKPOINT")
    os.sync()


def run_measured(label: str, argv: Sequence[str], env: dict[str, str], *, cwd: Path | None = None,
                 check: bool = True) -> Measured:
    """Run ``argv`` alone and measure it; wait4 gives the tree's exact CPU time and largest RSS.

    Dirty pages of earlier steps (the data load, raw.dump, restored databases) are
    flushed first, the server's by a checkpoint: their writeback would otherwise land
    on whichever step runs next.
    """
    settle(_settled)
    if _idle_wait_s:
        wait_idle(_idle_wait_s, window_s=0.5)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        busy0, total0 = _busy_jiffies()
        server0 = _server_cpu()
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=out, stderr=err, env=env, cwd=cwd)
        sampler = _Sampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        busy1, total1 = _busy_jiffies()
        server1 = _server_cpu()
        sampler.stop.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so tell Popen
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    result = Measured(
        label=label, seconds=seconds, cpu_seconds=usage.ru_utime + usage.ru_stime, returncode=proc.returncode,
        stdout=stdout, stderr=stderr, tree_max_rss=usage.ru_maxrss * 1024, own_peak=sampler.own_peak,
        process_peaks=dict(sampler.process_peaks), tree_sum_peak=sampler.tree_sum_peak,
        machine_busy=(os.cpu_count() or 1) * (busy1 - busy0) / max(1, total1 - total0),
        server_cpu_seconds=server1 - server0, all_seconds=[seconds],
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"{label} failed (exit {result.returncode}): {stderr.strip()[-2000:]}")
    return result


def fastest(runs: list[Measured]) -> Measured:
    """The fastest of a step's runs, with every run's time: on a shared 2-core VM noise only ever adds time."""
    best = min(runs, key=lambda m: m.seconds)
    best.all_seconds = [round(m.seconds, 3) for m in runs]
    return best


def best_of(repeat: int, run: Callable[[int], Measured], after: Callable[[int], None] = lambda i: None) -> Measured:
    """Fastest of ``repeat`` runs of one step in a row."""
    runs = []
    for i in range(repeat):
        runs.append(run(i))
        after(i)
    return fastest(runs)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the data set ----------------------------------------------------------------

# Words: 100 common English words, then syllable compounds, drawn with a steep
# skew (power(random(), 4)) so that frequencies look like text, not like noise.
VOCAB_SQL = f"""
CREATE UNLOGGED TABLE bench_vocab AS
WITH common AS (
  SELECT string_to_array('the of and to a in is that for it as was with be by on not he i this are or his from '
    'at which but have an they you were her she there been one all we their has would when if so no will my '
    'more can out up about them what some into than only other time new these two may first then do any like '
    'our over such very after most also made well through where years between back good much before must used',
    ' ') AS w),
syl AS (
  SELECT string_to_array('ba con de ex for ger in lo ment ne or pro qui re sta tion un ver wa ing al er ly ous '
    'ti ca mi po su ter ble ment na di ri ar en per com sen', ' ') AS s)
SELECT i AS id,
  CASE WHEN i < cardinality(common.w) THEN common.w[i + 1]
       ELSE syl.s[1 + i % 40] || syl.s[1 + (i / 40) % 40]
            || CASE WHEN i >= 1600 THEN syl.s[1 + (i / 1600) % 40] ELSE '' END
  END AS w
FROM generate_series(0, {VOCAB_WORDS - 1}) i, common, syl
"""


def pool_sql(words_per_sentence: int = 12) -> str:
    """A million 12-word sentences; twelve hash joins are far faster than per-row array lookups."""
    picks = ", ".join(f"floor(power(random(), 4) * {VOCAB_WORDS})::int AS a{i}" for i in range(words_per_sentence))
    joins = " ".join(f"JOIN bench_vocab v{i} ON v{i}.id = t.a{i}" for i in range(words_per_sentence))
    text = " || ' ' || ".join(f"v{i}.w" for i in range(words_per_sentence))
    return (f"{seed_sql(0)} "
            f"CREATE UNLOGGED TABLE bench_pool AS SELECT t.sid AS id, {text} || '.' AS s "
            f"FROM (SELECT sid, {picks} FROM generate_series(0, {POOL_SENTENCES - 1}) sid) t {joins}")


def rows_sql(first: int, last: int) -> str:
    """Rows of an app table: ordered timestamps, skewed ids, an md5 ref, small JSON, four random sentences."""
    n = POOL_SENTENCES
    return f"""{seed_sql(first)}
INSERT INTO {TABLE}
SELECT x.g,
  timestamptz '2020-01-01' + x.g * interval '41 seconds' + x.r0 * interval '30 seconds',
  (power(x.r1, 2) * 100000)::int,
  'user' || (power(x.r1, 2) * 100000)::int || '@'
    || (ARRAY['example.com','mail.org','corp.net','gmail.com'])[1 + (x.r1 * 3.99)::int],
  (ARRAY['new','open','closed','pending','archived'])[1 + (x.r2 * 4.99)::int],
  md5(x.r0::text),
  '{{"source": "' || (ARRAY['web','api','mobile','import'])[1 + (x.r2 * 3.99)::int] || '", "lang": "'
    || (ARRAY['en','en','en','de','fr','es'])[1 + (x.r0 * 5.99)::int] || '", "score": '
    || round(x.r1::numeric, 3) || ', "retries": ' || (x.r2 * 3)::int || '}}',
  p1.s || ' ' || p2.s || ' ' || p3.s || ' ' || p4.s
FROM (SELECT g, random() AS r0, random() AS r1, random() AS r2,
             floor(random() * {n})::int AS a, floor(random() * {n})::int AS b,
             floor(random() * {n})::int AS c, floor(random() * {n})::int AS d
      FROM generate_series({first}, {last}) g) x
JOIN bench_pool p1 ON p1.id = x.a JOIN bench_pool p2 ON p2.id = x.b
JOIN bench_pool p3 ON p3.id = x.c JOIN bench_pool p4 ON p4.id = x.d"""


def seed_sql(first: int) -> str:
    """The same data every run, batch by batch."""
    return f"SET work_mem = '1GB'; SELECT setseed({(first % 9973) / 9973.0});"


def documents_sql(first: int, last: int) -> str:
    """Documents of 200-1,100 words drawn from the skewed vocabulary."""
    return f"""{seed_sql(first)}
INSERT INTO {TABLE}
SELECT g, (SELECT string_agg(v.w, ' ')
           FROM (SELECT floor(power(random(), 4) * {VOCAB_WORDS})::int AS wid
                 FROM generate_series(1, 200 + (g::bigint * 7919) % 900) k) r
           JOIN bench_vocab v ON v.id = r.wid)
FROM generate_series({first}, {last}) g"""


def hex_sql(first: int, last: int) -> str:
    """Documents of 40-120 ``md5(random()::text)`` strings: the text PostgreSQL examples usually mean."""
    return f"""{seed_sql(first)}
INSERT INTO {TABLE}
SELECT g, (SELECT string_agg(md5(random()::text), ' ') FROM generate_series(1, 40 + (g::bigint * 7919) % 80))
FROM generate_series({first}, {last}) g"""


def events_sql(first: int, last: int) -> str:
    """An event or log table: ids, timestamps, short codes, numbers, and a few random hex ids per row."""
    return f"""{seed_sql(first)}
INSERT INTO {TABLE}
SELECT g, timestamptz '2026-01-01' + g * interval '15 ms',
  (ARRAY['login','logout','view','click','purchase','error','retry','sync'])[1 + (g * 7 + (random() * 3)::int) % 8],
  (ARRAY['ok','ok','ok','ok','warn','fail'])[1 + (random() * 5.99)::int],
  (power(random(), 3) * 50000)::int, round((random() * 2000)::numeric, 2), (random() * 65535)::int,
  md5(random()::text), substr(md5(random()::text), 1, 16), 'req-' || substr(md5(g::text), 1, 12)
FROM generate_series({first}, {last}) g"""


def bytea_sql(first: int, last: int) -> str:
    """Blobs of 1-4 KB of random bytes: what an app storing images or zipped files holds."""
    return f"""{seed_sql(first)}
INSERT INTO {TABLE}
SELECT g, (SELECT string_agg(sha256(random()::text::bytea), ''::bytea) FROM generate_series(1, 32 + (g * 7919) % 96))
FROM generate_series({first}, {last}) g"""


@dataclass(frozen=True)
class DataKind:
    """One kind of "random text": how to make it, batch by batch, and what it is like."""

    description: str
    setup: tuple[str, ...]
    columns: str
    rows: Callable[[int, int], str]  # SQL inserting rows first..last
    teardown: str


DATA_KINDS = {
    "documents": DataKind(
        "documents of 200-1,100 skewed words, 1-7 KB (TOASTed, pglz-compressed on disk)",
        (VOCAB_SQL, "ALTER TABLE bench_vocab ADD PRIMARY KEY (id)"),
        "id bigint, body text", documents_sql, "DROP TABLE bench_vocab"),
    "text": DataKind(
        "app rows of ~450 bytes: timestamps, ids, an md5, JSON, four sentences of skewed words (inline, not TOASTed)",
        (VOCAB_SQL, pool_sql()),
        "id bigint, created_at timestamptz, customer_id int, email text, status text, ref text, meta text, body text",
        rows_sql, "DROP TABLE bench_pool; DROP TABLE bench_vocab"),
    "hex": DataKind(
        "documents of 40-120 md5 hex strings, 1.3-4 KB (TOASTed, stored as is: pglz gains nothing)",
        (), "id bigint, body text", hex_sql, ""),
    "events": DataKind(
        "event rows of ~150 bytes: a timestamp, short codes, numbers, three random hex ids (inline)",
        (), "id bigint, at timestamptz, kind text, status text, user_id int, amount numeric, port int, "
            "trace text, span text, request text", events_sql, ""),
    "bytea": DataKind(
        "blobs of 1-4 KB of random bytes (bytea, TOASTed, incompressible: images, zipped files)",
        (), "id bigint, body bytea", bytea_sql, ""),
}


@dataclass
class DataSet:
    kind: str
    rows: int
    heap_bytes: int
    total_bytes: int  # pg_total_relation_size: heap + TOAST + primary key
    database_bytes: int
    seconds: float


def create_dataset(sb: Sandbox, size_mb: int, kind: str = "documents") -> DataSet:
    """Fill ``bench.docs`` with about ``size_mb`` MB of table (heap + TOAST), server-side, then freeze it."""
    spec = DATA_KINDS[kind]
    started = time.perf_counter()
    sb.psql(f'CREATE DATABASE "{BENCH_DB}"')
    for sql in spec.setup:
        sb.psql(sql, BENCH_DB)
    sb.psql(f"CREATE TABLE {TABLE} ({spec.columns})", BENCH_DB)

    def table_bytes() -> int:
        return int(sb.psql(f"SELECT pg_total_relation_size('{TABLE}')", BENCH_DB))

    sb.psql(spec.rows(1, PROBE_ROWS), BENCH_DB)
    per_row = table_bytes() / PROBE_ROWS
    target = max(PROBE_ROWS, int(size_mb * MB / per_row))
    batch = max(PROBE_ROWS, int(BATCH_BYTES / per_row))
    done = PROBE_ROWS
    while done < target:
        last = min(target, done + batch)
        sb.psql(spec.rows(done + 1, last), BENCH_DB)
        done = last
        log(f"data: {done:,}/{target:,} rows")
    if spec.teardown:
        sb.psql(spec.teardown, BENCH_DB)
    sb.psql(f"ALTER TABLE {TABLE} ADD PRIMARY KEY (id)", BENCH_DB)
    sb.psql(f"VACUUM (FREEZE, ANALYZE) {TABLE}", BENCH_DB)  # hint bits set now, not during the first dump
    sb.psql("CHECKPOINT")
    heap, total, db = sb.psql(
        f"SELECT pg_relation_size('{TABLE}') || ' ' || pg_total_relation_size('{TABLE}') || ' ' "
        f"|| pg_database_size('{BENCH_DB}')", BENCH_DB).split()
    return DataSet(kind=kind, rows=done, heap_bytes=int(heap), total_bytes=int(total), database_bytes=int(db),
                   seconds=time.perf_counter() - started)


# -- the benchmark ----------------------------------------------------------------


Level = int | str  # a zstd level, "auto", or "auto:N" ([backup] slowdown = N)
AUTO_LEVEL = re.compile(r"auto(:(\d+))?")


def parse_levels(text: str) -> list[Level]:
    try:
        levels: list[Level] = [part.strip() if AUTO_LEVEL.fullmatch(part.strip()) else int(part)
                               for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of levels: {text!r}") from None
    if not levels or any(isinstance(lv, int) and not 1 <= lv <= 22 for lv in levels):
        raise argparse.ArgumentTypeError("zstd levels are 1..22, auto, or auto:N (N: [backup] slowdown)")
    return levels


def write_config(path: Path, level: Level, threads: int | None, restore_jobs: int | None,
                 bin_dir: Path | None = None) -> Path:
    """Only [backup] and [restore] (and the paced pg_dump's folder): the database and the repository come
    from the environment."""
    lines = [f"pg_bin_dir = {json.dumps(str(bin_dir))}"] if bin_dir else []
    auto = AUTO_LEVEL.fullmatch(level) if isinstance(level, str) else None
    lines += ["[backup]", f"compression_level = {json.dumps('auto' if auto else level)}"]
    if auto and auto.group(2):
        lines.append(f"slowdown = {auto.group(2)}")
    if threads is not None:
        lines.append(f"threads = {threads}")
    if restore_jobs is not None:
        lines += ["", "[restore]", f"jobs = {restore_jobs}"]
    path.write_text("\n".join(lines) + "\n")
    return path


PACER = """import os, sys, time
rate, n, start = float(sys.argv[1]) * 1e6, 0, time.monotonic()
while block := os.read(0, 1 << 20):
    n += len(block)
    view = memoryview(block)
    while view:
        view = view[os.write(1, view):]
    ahead = n / rate - (time.monotonic() - start)
    if ahead > 0:
        time.sleep(ahead)
"""


def paced_pg_dump(work: Path, rate_mb_s: float) -> Path:
    """A folder whose ``pg_dump`` is the real one with its output paced to ``rate_mb_s`` (``--version`` is
    not paced), beside the other client tools: put first on PATH for the bare tools, and as ``pg_bin_dir`` for
    ours."""
    real = shutil.which("pg_dump")
    if real is None:
        raise SystemExit("pg_dump not found on PATH")
    folder = work / "paced-bin"
    folder.mkdir()
    (folder / "pacer.py").write_text(PACER)
    script = folder / "pg_dump"
    script.write_text(f"""#!/bin/bash
set -o pipefail
for arg; do [ "$arg" = --version ] && exec {real} --version; done
{real} "$@" | {sys.executable} {folder / 'pacer.py'} {rate_mb_s}
""")
    script.chmod(0o755)
    for tool in ("pg_restore", "psql"):  # pg_bin_dir holds every client tool ours starts
        (folder / tool).symlink_to(pg.tool_path(tool))
    return folder


def bare_zstd(level: int) -> str:
    """The stock zstd command line at ``level`` with two threads: what a careful script would run."""
    return f"zstd -{level} -T2"


def auto_levels(repo: Path, backup_id: str) -> dict[str, int]:
    """The levels an "auto" backup used, from its manifest."""
    manifest = next(repo.glob(f"backups/*/{backup_id}/manifest.json"))
    levels: dict[str, int] = json.loads(manifest.read_text()).get("compression_levels", {})
    return levels


def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


def background_busy(seconds: float = 2.0) -> float:
    """Busy CPUs while we do nothing: other people's work on a shared machine shows up here."""
    busy0, total0 = _busy_jiffies()
    time.sleep(seconds)
    busy1, total1 = _busy_jiffies()
    return round((os.cpu_count() or 1) * (busy1 - busy0) / max(1, total1 - total0), 2)


def wait_idle(limit_s: float, window_s: float = 2.0) -> None:
    """On a shared machine, go on when other work pauses (busy < 0.25 CPUs), or after ``limit_s``."""
    deadline = time.monotonic() + limit_s
    said = False
    while time.monotonic() < deadline:
        busy = background_busy(window_s)
        if busy < 0.25:
            return
        if not said:
            log(f"machine busy ({busy:.2f} CPUs): waiting up to {limit_s:.0f} s")
            said = True
    log("machine still busy: going on anyway")


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    global _idle_wait_s
    if args.wait_idle:
        wait_idle(args.wait_idle)
        _idle_wait_s = args.wait_idle
    before = background_busy()
    sb = start_sandbox()
    checkpoint_before_steps(sb)
    work = Path(tempfile.mkdtemp(prefix="bench-backup-", dir="/tmp"))
    log(f"cluster on port {sb.port} in {sb.root}; work dir {work}")
    try:
        result = _measure(args, sb, work)
        result["background_busy"] = [before, background_busy()]
        return result
    finally:
        if args.keep:
            log(f"--keep: cluster left running (PGHOST={sb.host} PGPORT={sb.port} PGUSER={sb.user} "
                f"PGPASSWORD={sb.password}), stop it with: runuser -u postgres -- "
                f"{sb.bin_dir}/pg_ctl -D {sb.data_dir} stop; files in {work}")
        else:
            sb.cleanup()
            shutil.rmtree(work, ignore_errors=True)


def _measure(args: argparse.Namespace, sb: Sandbox, work: Path) -> dict[str, Any]:
    global _server_pid
    _server_pid = int((sb.data_dir / "postmaster.pid").read_text().split()[0])
    levels: list[int] = args.compression_level
    repeat: int = args.repeat
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "BACKUP_"))}
    pg_env = {**base_env, **sb.env(), "PGDATABASE": BENCH_DB}
    paced = paced_pg_dump(work, args.dump_rate) if args.dump_rate else None
    ours_env = {**base_env, "BACKUP_DB_HOST": sb.host, "BACKUP_DB_PORT": str(sb.port), "BACKUP_DB_USER": sb.user,
                "BACKUP_DB_PASSWORD": sb.password, "BACKUP_DB_NAME": BENCH_DB,
                "BACKUP_DIR": str(work / "repo"), "LOG_DIR": str(work / "logs")}

    log(f"creating {args.size_mb} MB of {args.data} data")
    data = create_dataset(sb, args.size_mb, args.data)
    log(f"data: {data.rows:,} rows, table {data.total_bytes / MB:.1f} MB in {data.seconds:.1f} s")

    def drop(name: str) -> None:
        sb.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # Untimed: the raw custom dump for the pg_restore baseline; it also warms the page cache.
    raw_dump = work / "raw.dump"
    run_measured("raw dump", ["pg_dump", "-Fc", "-Z0", "-f", str(raw_dump), "-d", BENCH_DB], pg_env)

    if paced is not None:  # from here on every pg_dump but the restores' source goes at the paced rate
        pg_env["PATH"] = f"{paced}:{pg_env.get('PATH', os.defpath)}"
        log(f"pg_dump paced to {args.dump_rate:g} MB/s")
    # Every step once per round, in turn: the steps whose times are compared share the same minutes. On these
    # shared 2-core VMs the same step drifts by 20% within an hour; measured one after the other (every floor
    # run, then every bare run, then ours), the ratios compared different machines.
    runs: dict[str, list[Measured]] = {}
    bare_bytes: dict[int, int] = {}
    ids: dict[Level, list[str]] = {level: [] for level in levels}
    pin = ["taskset", "-c", args.cpus] if args.cpus else []
    configs = {level: write_config(work / f"backup-l{level}.toml", level, args.threads, None, paced)
               for level in levels}
    # The bare tools, level by level, until one is slower than the time goal by more than one run's noise (in the
    # first round; later rounds measure the same levels): the size to match is the best level whose fastest run
    # kept within the goal (level 1 where none did), and level 1's time is the pace where none did. Stopping at
    # the goal itself let one slow first run (1.35x, fastest 1.14x) leave a level within it unmeasured.
    bare_levels = [int(level) for level in args.bare_levels] if shutil.which("zstd") else []
    for i in range(repeat):
        bare_said = ", ".join(f"-{lv}" for lv in bare_levels) if i else "from -1 up to the first well past the goal"
        log(f"round {i + 1} of {repeat}: floor (pg_dump -Fc -Z0 > /dev/null), bare tools {bare_said}, "
            f"ours {', '.join(map(str, levels))}")
        floor_run = run_measured("floor", ["bash", "-c", f"pg_dump -Fc -Z0 -d {BENCH_DB} > /dev/null"], pg_env)
        runs.setdefault("floor", []).append(floor_run)
        for level in list(bare_levels):
            command = f"pg_dump -Fc -Z0 -d {BENCH_DB} | {bare_zstd(level)} -q > {work}/bare.zst"
            m = run_measured(f"pg_dump | zstd -{level}", ["bash", "-o", "pipefail", "-c", command], pg_env)
            runs.setdefault(f"bare {level}", []).append(m)
            bare_bytes[level] = (work / "bare.zst").stat().st_size
            (work / "bare.zst").unlink()
            if i == 0 and m.seconds > GOAL_BACKUP_VS_FLOOR * SEARCH_PAST_GOAL * floor_run.seconds:
                bare_levels = bare_levels[:bare_levels.index(level) + 1]
                break
        for level in levels:
            m = run_measured(f"backup zstd {level}", [*pin, str(HEADLESS), "--config", str(configs[level]),
                                                      "backup", "--json"], ours_env)
            runs.setdefault(f"ours {level}", []).append(m)
            ids[level].append(json.loads(m.stdout)["id"])

    floor = fastest(runs["floor"])
    bare: dict[int, tuple[Measured, int]] = {lv: (fastest(runs[f"bare {lv}"]), bare_bytes[lv]) for lv in bare_levels}
    listing = run_measured("list", [str(HEADLESS), "list", "--json"], ours_env).stdout
    records = {r["id"]: r for r in json.loads(listing)}
    backups: dict[Level, tuple[Measured, dict[str, Any]]] = {
        level: (fastest(runs[f"ours {level}"]),
                {**records[ids[level][-1]], "levels": auto_levels(work / "repo", ids[level][-1])})
        for level in levels}

    old: Measured | None = None
    gz_bytes = 0
    if not args.no_old:
        log("old scripts: pg_dump -Fp | gzip -9 > f.sql.gz && sha256sum f.sql.gz")
        gz_file = work / "f.sql.gz"
        old = run_measured("old", ["bash", "-o", "pipefail", "-c",
                                   f"pg_dump -Fp -d {BENCH_DB} | gzip -9 > {gz_file} && sha256sum {gz_file}"], pg_env)
        gz_bytes = gz_file.stat().st_size
        gz_file.unlink()

    restore_level = levels[0]
    restore_id = backups[restore_level][1]["id"]
    restore_configs = {jobs: write_config(work / f"restore-j{jobs}.toml", restore_level, args.threads, jobs)
                       for jobs in (2, 1)}
    for i in range(repeat):
        log(f"round {i + 1} of {repeat}: restore baseline (createdb && pg_restore -j2 raw.dump), ours "
            f"(backup-headless restore {restore_id}, restore jobs = 2, then 1)")
        runs.setdefault("base restore", []).append(run_measured(
            "pg_restore -j2", ["bash", "-c", f"createdb r1_{i} && pg_restore -j2 -d r1_{i} {raw_dump}"], pg_env))
        drop(f"r1_{i}")
        for jobs, config in restore_configs.items():
            runs.setdefault(f"restore {jobs}", []).append(run_measured(
                f"restore jobs={jobs}", [str(HEADLESS), "--config", str(config), "restore", restore_id,
                                         "--target-db", f"r{jobs + 1}_{i}", "--json"], ours_env))
            drop(f"r{jobs + 1}_{i}")
    base_restore = fastest(runs["base restore"])
    restores = {jobs: fastest(runs[f"restore {jobs}"]) for jobs in restore_configs}

    return report_data(args, data, floor, bare, old, gz_bytes, backups, base_restore, restores, restore_level)


def _m(m: Measured) -> dict[str, Any]:
    data = asdict(m)
    del data["stdout"], data["stderr"]
    return data


def _goal(name: str, value: float, limit: float, at_most: bool) -> dict[str, Any]:
    ok = value <= limit if at_most else value >= limit
    return {"name": name, "value": round(value, 3), "limit": limit, "op": "<=" if at_most else ">=",
            "pass": ok}


def report_data(args: argparse.Namespace, data: DataSet, floor: Measured, bare: dict[int, tuple[Measured, int]],
                old: Measured | None, gz_bytes: int,
                backups: dict[Level, tuple[Measured, dict[str, Any]]], base_restore: Measured,
                restores: dict[int, Measured], restore_level: Level) -> dict[str, Any]:
    goals = []
    levels = []
    within = [lv for lv, (m, _) in bare.items() if m.seconds <= GOAL_BACKUP_VS_FLOOR * floor.seconds]
    best_bare = max(within, default=min(bare, default=0))
    # Where even level 1 of the bare tools is slower than the goal, the goal is their pace.
    time_limit = max(GOAL_BACKUP_VS_FLOOR, bare[min(bare)][0].seconds / floor.seconds) if bare else GOAL_BACKUP_VS_FLOOR
    for level, (m, record) in backups.items():
        stored = int(record["size_bytes"])
        levels.append({"level": level, "backup": _m(m), "stored_bytes": stored, "raw_bytes": record["raw_bytes"],
                       "id": record["id"], "levels_used": record["levels"]})
        goals += [
            _goal(f"backup / floor (zstd {level})", m.seconds / floor.seconds, round(time_limit, 3), True),
            *([_goal(f"old pipeline / backup (zstd {level})", old.seconds / m.seconds, GOAL_OLD_VS_BACKUP, False)]
              if old else []),
            _goal(f"peak RSS of backup-headless, MB (zstd {level})", m.own_peak / MB, GOAL_PEAK_RSS_MB, True),
        ]
        if best_bare:
            goals.append(_goal(f"stored / bare zstd -{best_bare} size (zstd {level})", stored / bare[best_bare][1],
                               GOAL_STORED_VS_BARE, True))
    # The goal is on the default (jobs = 1: streamed); the temp-file + pg_restore -j2 path is shown for reference.
    goals.append(_goal(f"restore / pg_restore -j2 (zstd {restore_level}, jobs=1, default)",
                       restores[1].seconds / base_restore.seconds, GOAL_RESTORE_VS_PG_RESTORE, True))
    info = [{"name": f"restore / pg_restore -j2 (zstd {restore_level}, jobs=2)",
             "value": round(restores[2].seconds / base_restore.seconds, 3)}]
    info += [{"name": f"stored / gzip -9 size (zstd {lv['level']})", "value": round(lv["stored_bytes"] / gz_bytes, 3)}
             for lv in levels if gz_bytes]
    info += [{"name": f"bare zstd -{lv} / floor (size {_mb(size)})", "value": round(m.seconds / floor.seconds, 3)}
             for lv, (m, size) in bare.items()]
    return {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "revision": git_revision(),
                    "memory_total_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)},
        "args": {"data": args.data, "size_mb": args.size_mb, "compression_levels": args.compression_level,
                 "threads": args.threads, "repeat": args.repeat, "cpus": args.cpus, "dump_rate": args.dump_rate},
        "data": asdict(data),
        "floor": _m(floor),
        "bare": {str(lv): {**_m(m), "output_bytes": size} for lv, (m, size) in bare.items()},
        "best_bare_level": best_bare,
        "old_pipeline": {**_m(old), "output_bytes": gz_bytes} if old else None,
        "levels": levels,
        "restore_baseline": _m(base_restore),
        "restore": {f"jobs={j}": _m(m) for j, m in restores.items()},
        "restore_level": restore_level,
        "goals": goals,
        "info": info,
        "all_pass": all(g["pass"] for g in goals),
    }


def _mb(n: float) -> str:
    return f"{n / MB:,.1f} MB"


def render(result: dict[str, Any]) -> str:
    """The human table: one line per measured step, then the goals."""
    d, old = result["data"], result["old_pipeline"]
    bg = result["background_busy"]
    lines = [
        f"revision {result['machine']['revision']}, {result['machine']['cpus']} cpus, "
        f"repeat {result['args']['repeat']} (in rounds: every step once per round; the fastest kept), "
        "MB = 10^6 bytes",
        f"background load (busy CPUs while idle, before / after): {bg[0]:.2f} / {bg[1]:.2f}"
        + ("  WARNING: other work on this machine skews the times" if max(bg) > 0.25 else ""),
        f"data ({d['kind']}): {DATA_KINDS[d['kind']].description}"
        + (f"; pg_dump paced to {result['args']['dump_rate']:g} MB/s" if result["args"].get("dump_rate") else ""),
        f"      {TABLE} {d['rows']:,} rows, heap {_mb(d['heap_bytes'])}, pg_total_relation_size "
        f"{_mb(d['total_bytes'])} (made in {d['seconds']:.0f} s)",
        "",
        f"{'step':<46} {'wall s':>7} {'cpu s':>7} {'srv s':>6} {'busy':>5} {'output':>12} "
        f"{'peak RSS (own / largest / tree sum)':>38}",
    ]

    def row(name: str, m: dict[str, Any], output: str = "-", rss: bool = False) -> None:
        mem = (f"{_mb(m['own_peak'])} / {_mb(m['tree_max_rss'])} / {_mb(m['tree_sum_peak'])}" if rss else "-")
        runs = "/".join(f"{x:.2f}" for x in m["all_seconds"])
        lines.append(f"{name:<46} {m['seconds']:>7.2f} {m['cpu_seconds']:>7.2f} {m['server_cpu_seconds']:>6.2f} "
                     f"{m['machine_busy']:>5.2f} "
                     f"{output:>12} {mem:>38}"
                     + (f"  runs {runs}" if len(m["all_seconds"]) > 1 else ""))

    row("floor: pg_dump -Fc -Z0 > /dev/null", result["floor"])
    for lv, m in result["bare"].items():
        row(f"bare: pg_dump | {bare_zstd(int(lv))}", m, _mb(m["output_bytes"]))
    if old:
        row("old: pg_dump -Fp | gzip -9; sha256sum", old, _mb(old["output_bytes"]))
    for lv in result["levels"]:
        row(f"ours: backup-headless backup (zstd {lv['level']})", lv["backup"], _mb(lv["stored_bytes"]), rss=True)
    row("restore baseline: createdb; pg_restore -j2", result["restore_baseline"])
    for jobs, m in result["restore"].items():
        row(f"ours: backup-headless restore ({jobs}, {result['restore_level']})", m, rss=True)
    raw = result["levels"][0]["raw_bytes"]
    lines += ["wall s: fastest of the runs; cpu s: user+sys of the command's process tree; srv s: user+sys of "
              "the PostgreSQL server;",
              "busy: average busy CPUs of the whole machine during the step (ours + server + anyone else)",
              "peak RSS: own = the command itself (VmHWM), largest = largest process in its tree (wait4), "
              "tree sum = largest sum seen"]
    lines += ["", f"raw custom dump {_mb(raw)}; "
              + (f"gzip -9 ratio {raw / old['output_bytes']:.2f}x; " if old else "")
              + "; ".join(f"zstd {lv['level']} ratio {raw / lv['stored_bytes']:.2f}x" for lv in result["levels"])]
    lines += [f"levels used by zstd {lv['level']}: {levels_said(lv['levels_used'])}"
              for lv in result["levels"] if lv["levels_used"]]
    lines += ["", f"{'goal':<52} {'value':>9} {'limit':>9}  result"]
    for g in result["goals"]:
        lines.append(f"{g['name']:<52} {g['value']:>9.3f} {g['op'] + ' ' + str(g['limit']):>9}  "
                     f"{'PASS' if g['pass'] else 'FAIL'}")
    for item in result["info"]:
        lines.append(f"{item['name']:<52} {item['value']:>9.3f} {'(info)':>9}")
    return "\n".join(lines)


def run_table_benchmark(doc: str | None, argv: Sequence[str] | None, repeat_help: str,
                        measure: Callable[[argparse.Namespace], dict[str, Any]],
                        render: Callable[[dict[str, Any]], str],
                        options: Callable[[argparse.ArgumentParser], None] | None = None) -> int:
    """The command line of a benchmark over one generated table (--size-mb, --data, --repeat, --json, and the
    benchmark's own ``options``): parse, measure, print, exit 0 when every goal held."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0] if doc else None)
    parser.add_argument("--size-mb", type=int, default=300, help="the table's size on disk (default 300)")
    parser.add_argument("--data", choices=sorted(DATA_KINDS), default="documents")
    parser.add_argument("--repeat", type=int, default=3, help=repeat_help)
    parser.add_argument("--json", action="store_true")
    if options is not None:
        options(parser)
    args = parser.parse_args(argv)
    result = measure(args)
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0 if all(result["goals"].values()) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--size-mb", type=int, default=500,
                        help="size of the generated table on disk, heap + TOAST (default 500)")
    parser.add_argument("--data", choices=sorted(DATA_KINDS), default="documents",
                        help="the kind of random text: " + "; ".join(f"{k}: {v.description}"
                                                                     for k, v in DATA_KINDS.items()))
    parser.add_argument("--compression-level", type=parse_levels, default=[Settings.compression_level],
                        metavar="N[,N...]", help="zstd level(s) for our backup, via [backup] compression_level "
                                                 f"(default {Settings.compression_level}); restores use the first")
    parser.add_argument("--threads", type=int, default=None, help="[backup] threads (default: the engine's)")
    parser.add_argument("--bare-levels", type=parse_levels, default=[1, 2, 3, 4, 5, 6, 7, 8, 9], metavar="N[,N...]",
                        help="levels of the bare tools, tried in order until one misses the time goal (default 1-9)")
    parser.add_argument("--cpus", default="", metavar="LIST",
                        help="run our backups under taskset -c LIST (fewer CPUs than the machine has)")
    parser.add_argument("--no-old", action="store_true", help="leave out the old scripts' gzip -9 pipeline (slow)")
    parser.add_argument("--dump-rate", type=float, default=0, metavar="MB_S",
                        help="pace pg_dump's output to MB_S (a remote or busy server: CPU to spare)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="N rounds of every step but the gzip pipeline, in turn; each step's fastest is kept "
                             "(default 1)")
    parser.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                        help="before the run and each measured step, wait up to SECONDS for the machine to be idle")
    parser.add_argument("--keep", action="store_true", help="leave the cluster and the files in place")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if not HEADLESS.exists():
        parser.error(f"{HEADLESS} not found: run with the project's venv python")
    if args.size_mb < 1 or args.repeat < 1:
        parser.error("--size-mb and --repeat must be positive")
    result = run_benchmark(args)
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0 if result["all_pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
