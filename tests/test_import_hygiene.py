"""The engine stays liftable: no textual, no rich; headless never loads the TUI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINE_DIR = ROOT / "backup_tui" / "engine"


def engine_modules(leaving_out: frozenset[str] = frozenset()) -> list[str]:
    """Every engine module's dotted name, but the packages' ``__init__`` and files named in ``leaving_out``."""
    return [".".join(("backup_tui", "engine", *p.relative_to(ENGINE_DIR).with_suffix("").parts))
            for p in ENGINE_DIR.rglob("*.py") if p.name != "__init__.py" and p.name not in leaving_out]


def modules_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_engine_imports_no_ui_library() -> None:
    engine = engine_modules()
    loaded = modules_after_import(", ".join(engine))
    assert not {m for m in loaded if m.split(".")[0] in ("textual", "rich")}
    assert not {m for m in loaded if m.startswith(("backup_tui.tui", "headless"))}


def test_headless_does_not_load_the_tui() -> None:
    loaded = modules_after_import("headless.cli")
    assert not {m for m in loaded if m.split(".")[0] == "textual" or m.startswith("backup_tui.tui")}


def test_import_linter_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Contracts: 4 kept, 0 broken" in proc.stdout


def test_the_crypto_library_loads_only_where_a_backup_is_encrypted_or_decrypted() -> None:
    """Every engine module but stream.crypto, and every command's code, import without it: a command that
    neither encrypts nor decrypts (archive_command runs for every WAL segment) never pays for it."""
    modules = engine_modules(leaving_out=frozenset({"crypto.py"}))
    loaded = modules_after_import(", ".join([*modules, "headless.cli"]))
    assert not {m for m in loaded if m.split(".")[0] == "cryptography" or m == "backup_tui.engine.stream.crypto"}


def test_monitoring_libraries_load_only_when_used() -> None:
    """prometheus_client, apprise and croniter are imported by one module each, lazily: loading every engine
    module and the CLI (what a backup run loads) loads none of them."""
    engine = engine_modules()
    loaded = modules_after_import(", ".join([*engine, "headless.cli"]))
    assert not {m for m in loaded if m.split(".")[0] in ("prometheus_client", "apprise", "croniter")}
    sources = [*ENGINE_DIR.rglob("*.py"), *(ROOT / "headless").rglob("*.py")]
    importers = {lib: sorted(str(p.relative_to(ROOT)) for p in sources
                             if f"from {lib}" in p.read_text() or f"import {lib}" in p.read_text())
                 for lib in ("prometheus_client", "apprise", "croniter")}
    assert importers == {"prometheus_client": ["backup_tui/engine/ops/metrics.py"],
                         "apprise": ["backup_tui/engine/ops/notify.py"],
                         "croniter": ["backup_tui/engine/core/schedule.py"]}


def test_the_app_launches_without_the_screens_the_first_frame_and_a_restore_never_show() -> None:
    """The dialogs, the problems screen and help are imported when opened: the on-call engineer's launch (to
    the dashboard, then the restore wizard) does not wait for them, nor for the cloud and crypto libraries."""
    loaded = modules_after_import("backup_tui.tui.__main__, backup_tui.tui.app")
    assert not loaded & {"backup_tui.tui.screens.dialogs", "backup_tui.tui.screens.problems",
                         "backup_tui.tui.screens.help", "backup_tui.engine.core.evidence"}
    assert not {m for m in loaded if m.split(".")[0] in ("boto3", "botocore", "cryptography", "pyrage", "apprise",
                                                         "prometheus_client", "croniter", "markdown_it")}


def collections_while_loading(module: str, loader: str) -> list[str]:
    """In a fresh interpreter: what ``module.loader()`` returns (its module and name), how many collections ran while it
    loaded, whether the collector is on after, and whether thousands of objects were frozen."""
    code = ("import gc, sys\n"
            "runs = []\n"
            "gc.callbacks.append(lambda phase, info: runs.append(info['generation']) if phase == 'start' else None)\n"
            f"from {module} import {loader}\n"
            "before = len(runs)\n"
            f"loaded = {loader}()\n"
            "print(f'{loaded.__module__}.{loaded.__qualname__}', len(runs) - before, gc.isenabled(),\n"
            "      gc.get_freeze_count() > 10000)\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()


def test_the_app_is_imported_with_the_cycle_collector_paused_then_its_modules_frozen() -> None:
    """The launch's import makes objects that live as long as the process: no collection runs over them
    meanwhile, they are frozen out of later full collections, and the collector is back on afterwards."""
    loaded = collections_while_loading("backup_tui.tui.__main__", "load_app")
    assert loaded == ["backup_tui.tui.app.BackupApp", "0", "True", "True"]


def test_the_cli_is_imported_with_the_cycle_collector_paused_then_its_modules_frozen() -> None:
    """As the app's launch: every run of backup-headless (a backup's start among them) imports the CLI with no
    collection over its modules' objects, which are frozen out of later ones (and of the one at exit)."""
    assert collections_while_loading("headless.__main__", "load_main") == ["headless.cli.main", "0", "True", "True"]


def test_a_backup_run_loads_no_other_commands_code() -> None:
    """Restore, verify, upload, prune, the monitor's web server and the notices' HTTP and mail clients are
    imported by the commands that use them: about 40 ms a backup's start no longer waits for."""
    loaded = modules_after_import("headless.cli")
    assert not loaded & {"backup_tui.engine.ops.restore", "backup_tui.engine.ops.verify",
                         "backup_tui.engine.ops.upload", "backup_tui.engine.ops.prune", "backup_tui.engine.ops.kept",
                         "backup_tui.engine.ops.delete", "backup_tui.engine.core.evidence",
                         "backup_tui.engine.storage.bucket_setup", "http.server", "urllib.request", "smtplib", "uuid"}
    assert "backup_tui.engine.ops.backup" in loaded


def test_reading_the_config_loads_no_health_rules() -> None:
    """The TUI's first frame and every command read the config first: its [health] limits and notice kinds
    live apart from the rules, their statistics and their wording."""
    loaded = modules_after_import("backup_tui.engine.config")
    assert not loaded & {"backup_tui.engine.core.health", "backup_tui.engine.core.notices", "statistics", "humanize"}


def test_the_database_driver_loads_at_the_first_connection() -> None:
    """Every engine module and the CLI import without psycopg (half of a backup's start): a backup starts
    pg_dump in a snapshot psql exported, and the driver loads while pg_dump connects."""
    engine = engine_modules()
    loaded = modules_after_import(", ".join([*engine, "headless.cli"]))
    assert not {m for m in loaded if m.split(".")[0] in ("psycopg", "psycopg_binary", "psycopg_c")}
