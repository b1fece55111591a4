"""Text planted in the repository reaches the operator's terminal only in a visible form: a manifest re-signed
with escape sequences and newlines in its text fields, a verification record and an old script's file name
holding them, and every human output (show, list, report, monitor, errors) prints them as ``\\x1b``, ``\\n``,
one record to a line. JSON output carries them exactly, escaped by json.dumps."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from backup_tui.engine.core.models import manifest_checksum
from backup_tui.engine.core.progress import LogLine, StepStarted
from headless.output import EXIT_UNKNOWN, Output
from tests.headless.conftest import Workspace, WorkspaceFactory, one_error_line

ATTACK = "\x1b[2J\x1b]0;PWNED\x07\x9b31m\r\nFAKE LINE: all backups verified OK"
SHOWN = "\\x1b[2J\\x1b]0;PWNED\\x07\\x9b31m\\r\\nFAKE LINE: all backups verified OK"
TERMINAL_ACTS_ON = ("\x1b", "\x07", "\x9b", "\r")
SINCE = "2020-01-01"  # the planted verification's time lies in the report's period
LEGACY_DB = "shop\x1b]0;PWNED\x07"  # a file name cannot hold a newline the old scripts' pattern accepts


@dataclass
class Planted:
    ws: Workspace
    backup_id: str
    legacy_id: str


def assert_harmless(text: str) -> None:
    """Nothing a terminal acts on, and no line forged by a field's newline."""
    for char in TERMINAL_ACTS_ON:
        assert char not in text, f"{char!r} reached the terminal: {text!r}"
    assert not any(line.startswith("FAKE LINE") for line in text.splitlines()), text


def texts(value: object) -> set[str]:
    """Every string in parsed JSON, keys too."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return {t for k, v in value.items() for t in texts(k) | texts(v)}
    if isinstance(value, list):
        return {t for v in value for t in texts(v)}
    return set()


def resign(manifest: Path, changes: dict[str, object]) -> None:
    """What anyone who can write the repository can do: edit a manifest and recompute its checksum."""
    data = json.loads(manifest.read_text())
    data.update(changes)
    data["manifest_sha256"] = manifest_checksum(data)
    manifest.write_text(json.dumps(data))


@pytest.fixture(scope="module")
def planted(make_workspace: WorkspaceFactory) -> Planted:
    ws = make_workspace("printable")
    backup = ws.backup()
    folder = Path(backup["path"]).parent
    manifest = json.loads((folder / "manifest.json").read_text())
    resign(folder / "manifest.json", {
        "reason": "scheduled" + ATTACK,
        "server_version": "16.2" + ATTACK,
        "tool_versions": {"pg_dump" + ATTACK: "16" + ATTACK},
        "row_counts": {**manifest["row_counts"], "public.t" + ATTACK: 1},
        "database_info": {"encoding": "UTF8", "collate": "C" + ATTACK},  # an encoding of that kind is damage
    })
    history = folder / "verifications"
    history.mkdir(exist_ok=True)
    (history / "planted.json").write_text(json.dumps({
        "at": "2025-01-01T00:00:00Z", "level": "full", "ok": False, "duration_s": 1.0,
        "problems": ["bad" + ATTACK], "checks": ["restored into 'x'" + ATTACK], "not_done": [],
        "row_counts": {"public.t" + ATTACK: [1, 2]},
    }))
    daily = ws.repo / "daily"
    daily.mkdir()
    name = f"{LEGACY_DB}_20240105_020000.sql.gz"
    (daily / name).write_bytes(b"not gzip")
    (daily / f"{name}.meta").write_text(json.dumps({"server_version": "15" + ATTACK}))
    return Planted(ws, backup["id"], f"legacy-daily-{name.removesuffix('.sql.gz')}")


@pytest.mark.parametrize("command", [
    pytest.param(("show", "{backup}"), id="show"),
    pytest.param(("show", "{legacy}"), id="show-legacy"),
    pytest.param(("list",), id="list"),
    pytest.param(("locations",), id="locations"),
    pytest.param(("report", "--since", SINCE), id="report-markdown"),
    pytest.param(("report", "--format", "html", "--since", SINCE), id="report-html"),
    pytest.param(("monitor", "--check", "--no-notify"), id="monitor-check"),
    pytest.param(("verify", "{legacy}", "--quick"), id="verify-error"),
])
def test_planted_control_characters_never_reach_the_terminal(planted: Planted, command: tuple[str, ...]) -> None:
    args = [word.format(backup=planted.backup_id, legacy=planted.legacy_id) for word in command]
    result = planted.ws.run(*args)
    assert result.stdout or result.stderr, args
    assert_harmless(result.stdout)
    assert_harmless(result.stderr)


def test_show_prints_each_planted_field_visibly_on_its_own_line(planted: Planted) -> None:
    shown = planted.ws.ok("show", planted.backup_id).stdout
    lines = shown.splitlines()
    assert f"reason          scheduled{SHOWN}" in lines
    assert f"server          PostgreSQL 16.2{SHOWN}" in lines
    assert any(line.startswith(f"  public.t{SHOWN}") for line in lines)
    assert any(line.startswith("tools ") and f"pg_dump{SHOWN} 16{SHOWN}" in line for line in lines)
    assert any(f"FAILED: bad{SHOWN}" in line for line in lines)
    legacy = planted.ws.ok("show", planted.legacy_id).stdout
    assert "id              legacy-daily-shop\\x1b]0;PWNED\\x07_20240105_020000" in legacy.splitlines()


def test_the_error_line_of_a_planted_name_is_one_visible_line(planted: Planted) -> None:
    result = planted.ws.run("verify", planted.legacy_id, "--quick")
    assert result.returncode == 4
    assert "shop\\x1b]0;PWNED\\x07_20240105_020000" in one_error_line(result)


@pytest.mark.parametrize(("command", "planted_text"), [
    pytest.param(("show", "{backup}", "--json"), "scheduled" + ATTACK, id="show"),
    pytest.param(("list", "--json"), LEGACY_DB, id="list"),
    pytest.param(("report", "--format", "json", "--since", SINCE), "bad" + ATTACK, id="report"),
])
def test_json_output_carries_planted_text_exactly_and_escaped(planted: Planted, command: tuple[str, ...],
                                                              planted_text: str) -> None:
    result = planted.ws.ok(*[word.format(backup=planted.backup_id) for word in command])
    assert_harmless(result.stdout)
    assert "\n" + "FAKE" not in result.stdout
    assert planted_text in texts(json.loads(result.stdout))


@pytest.mark.parametrize("monitor", [False, True], ids=["command", "monitor"])
def test_an_error_quoting_a_planted_field_stays_one_visible_line(monitor: bool) -> None:
    out, err = io.StringIO(), io.StringIO()
    speaker = Output(as_json=False, interactive=False, out=out, err=err)
    speaker.unknown_on_failure = monitor
    message = f"manifest field 'created_at' is not a UTC time: {ATTACK}"
    code = speaker.fail(message, 2)
    assert code == (EXIT_UNKNOWN if monitor else 2)
    assert err.getvalue() == f"error: manifest field 'created_at' is not a UTC time: {SHOWN}\n"
    assert out.getvalue() == (f"UNKNOWN - the health could not be judged: manifest field 'created_at' is not a UTC "
                              f"time: {SHOWN}\n" if monitor else "")


def test_an_error_under_json_keeps_the_planted_text_exact_and_escaped() -> None:
    out, err = io.StringIO(), io.StringIO()
    Output(as_json=True, interactive=False, out=out, err=err).fail(ATTACK, 1)
    assert_harmless(out.getvalue())
    assert_harmless(err.getvalue())
    assert json.loads(out.getvalue()) == {"error": ATTACK, "exit_code": 1}


def test_warnings_and_progress_lines_are_made_visible_too() -> None:
    out, err = io.StringIO(), io.StringIO()
    speaker = Output(as_json=False, interactive=True, out=out, err=err)
    speaker.warning(f"the s3 repository was not listed: {ATTACK}")
    speaker.line(f"ok      id{ATTACK}")
    speaker(StepStarted("verify", f"id{ATTACK}"))
    speaker(LogLine("warning", f"kept {ATTACK}"))
    assert err.getvalue() == (f"warning: the s3 repository was not listed: {SHOWN}\n"
                              f"-> verify: id{SHOWN}\n   kept {SHOWN}\n")
    assert out.getvalue() == f"ok      id{SHOWN}\n"


def test_run_logs_hold_planted_text_visibly_too(planted: Planted) -> None:
    """A run log is read with cat or tail -f, a terminal too: the engine's lines quoting planted records are
    escaped there as on the screen."""
    planted.ws.run("verify", planted.legacy_id, "--quick")  # a run that writes a log, quoting the planted name
    logs = [p.read_text() for p in planted.ws.logs.glob("backup-headless-*-verify-*.log")]
    assert logs and any("\\x1b]0;PWNED\\x07" in text for text in logs)
    for text in logs:
        assert_harmless(text)
