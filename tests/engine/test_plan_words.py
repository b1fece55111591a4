"""How plans word what they name: one wording for the CLI, the JSON's steps and the TUI."""

from __future__ import annotations

from backup_tui.engine.core.health import human_duration
from backup_tui.engine.core.models import RestorePlan, lacks_said, sessions_said
from backup_tui.tui.format import duration
from headless.output import plan_lines


def test_sessions_are_named_by_holder_and_long_lists_are_cut() -> None:
    assert sessions_said(0, ()) == "0"
    assert sessions_said(3, ("app@10.0.4.7 'api' x2", "alice@local")) == "3 (app@10.0.4.7 'api' x2, alice@local)"
    many = tuple(f"u{i}@local" for i in range(7))
    assert sessions_said(7, many) == "7 (u0@local, u1@local, u2@local, u3@local, u4@local, 2 more)"


def test_what_a_server_lacks_is_said_in_a_fixed_order_and_empty_parts_left_out() -> None:
    assert lacks_said((), ()) == ""
    assert lacks_said(("reader",), (), ("fast",), ("owner1", "owner2")) == (
        "role(s) in row-level security policies: reader; tablespace(s): fast; "
        "role(s) owning objects or holding privileges: owner1, owner2")


def test_durations_read_the_same_in_the_cli_plan_and_the_terminal_app() -> None:
    assert [human_duration(s) for s in (0.24, 12.0, 185, 7800)] == ["0.2 s", "12.0 s", "3 min 05 s", "2 h 10 min"]
    plan = RestorePlan("app-1", "new", "x", "x", None, False, 0, 1, 2, 0.24, (), "drop database 'x'")
    assert "  estimated time: about 0.2 s (from past restores)" in plan_lines(plan)  # not "about 0 s"
    assert duration(0.24) == "0.2 s" and duration(None) == "—"
