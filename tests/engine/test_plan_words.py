"""How plans word what they name: one wording for the CLI, the JSON's steps and the TUI."""

from __future__ import annotations

from backup_tui.engine.models import lacks_said, sessions_said


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
