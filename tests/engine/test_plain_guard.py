"""What psql reads of a plain dump: restricted by our key first, pg_dump's own restrict lines left out, every
other byte as it was, however the decoded stream is cut into chunks."""

from __future__ import annotations

import pytest

from backup_tui.engine.postgres.plain_guard import HEAD_LIMIT, MadeWithCreate, PlainGuard

KEY = b"kkv1s3XqCnGU5LwqJcRpkoV2xaexdLWiPzSwnYP52abebRxt89JK33qQj72Zukv"
HEADER = b"--\n-- PostgreSQL database dump\n--\n\n"
BODY = (b"SET statement_timeout = 0;\n\nCOPY public.t (a) FROM stdin;\n\\restrict abc\n\\unrestrict abc\n"
        b"\\rx\n\\.\n\n")
END = b"--\n-- PostgreSQL database dump complete\n--\n\n"
NEW_DUMP = HEADER + b"\\restrict " + KEY + b"\n\n" + BODY + b"\\unrestrict " + KEY + b"\n\n" + END
OLD_DUMP = HEADER + BODY + END  # pg_dump before 15.14 wrote no restrict lines


def through(guard: PlainGuard, dump: bytes, size: int) -> bytes:
    out = [guard.start()]
    out += [guard.feed(dump[i:i + size]) for i in range(0, len(dump), size)]
    return b"".join([*out, guard.end()])


@pytest.mark.parametrize("size", [1, 2, 7, 64, 1 << 20])
def test_pg_dumps_own_restrict_lines_are_left_out_and_nothing_else(size: int) -> None:
    guard = PlainGuard()
    assert through(guard, NEW_DUMP, size) == (b"\\restrict " + guard.key.encode() + b"\n" + HEADER + b"\n\n" + BODY
                                              + b"\n\n" + END)


@pytest.mark.parametrize("size", [1, 5, 1 << 20])
def test_a_dump_without_them_passes_byte_for_byte_after_our_restrict_line(size: int) -> None:
    guard = PlainGuard()
    assert through(guard, OLD_DUMP, size) == guard.start() + OLD_DUMP


def test_our_key_is_new_each_time_and_only_letters_and_digits() -> None:
    first, second = PlainGuard().key, PlainGuard().key
    assert first != second and first.isalnum() and len(first) == 32


@pytest.mark.parametrize("dump", [
    HEADER + b"\\! id > /tmp/x\n" + BODY,  # a first line that is a command, not pg_dump's restrict line
    HEADER + b"\\restrict " + KEY + b"\n\\unrestrict " + KEY + b"x\n\\! id\n",  # another key: not theirs
    HEADER + b"\\restrict " + KEY + b"\nSELECT 1; \\unrestrict " + KEY + b"\n",  # not a line of its own
    HEADER + b"SELECT 1;\n\\restrict " + KEY + b"\n",  # not the first line after the comments
])
def test_any_other_backslash_line_reaches_psql_which_refuses_it(dump: bytes) -> None:
    guard = PlainGuard()
    out = through(guard, dump, 3)
    kept = [line for line in dump.split(b"\n") if line.startswith((b"\\!", b"SELECT 1"))]
    assert kept and all(line in out for line in kept)
    assert out.startswith(guard.start())


def test_a_head_past_the_limit_is_passed_on_whole() -> None:
    comments = b"-- x\n" * (HEAD_LIMIT // 5 + 1)
    dump = comments + b"\\restrict " + KEY + b"\n"
    guard = PlainGuard()
    assert through(guard, dump, 4096) == guard.start() + dump


CREATE_HEAD = (b"SET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n\n"
               b"--\n-- Name: app; Type: DATABASE; Schema: -; Owner: postgres\n--\n\n"
               b"CREATE DATABASE app WITH TEMPLATE = template0 ENCODING = 'UTF8';\n\n\n"
               b"ALTER DATABASE app OWNER TO postgres;\n\n\\connect app\n\n")


CLEAN_CREATE_HEAD = CREATE_HEAD.replace(b"CREATE DATABASE", b"DROP DATABASE app;\nCREATE DATABASE")  # -c -C


@pytest.mark.parametrize("dump", [HEADER + b"\\restrict " + KEY + b"\n\n" + CREATE_HEAD, HEADER + CREATE_HEAD,
                                  HEADER + CLEAN_CREATE_HEAD])
@pytest.mark.parametrize("size", [1, 7, 1 << 20])
def test_a_dump_made_with_create_is_stopped_before_a_statement_reaches_psql(dump: bytes, size: int) -> None:
    """pg_dump -C: its CREATE DATABASE ran before psql refused the \\connect, making a database of the
    original's name on the server (left there by a full verify) or failing on the existing one."""
    guard = PlainGuard()
    out = [guard.start()]
    with pytest.raises(MadeWithCreate, match="--create"):
        out += [guard.feed(dump[i:i + size]) for i in range(0, len(dump), size)]
        out.append(guard.end())
    assert b"DATABASE" not in b"".join(out) and b"SET " not in b"".join(out)


def test_session_lines_before_the_schema_still_pass_byte_for_byte() -> None:
    dump = HEADER + b"\\restrict " + KEY + b"\n\n" + CREATE_HEAD.replace(b"CREATE DATABASE", b"CREATE TABLE")
    guard = PlainGuard()
    assert through(guard, dump, 5) == guard.start() + HEADER + b"\n\n" + CREATE_HEAD.replace(b"CREATE DATABASE",
                                                                                             b"CREATE TABLE")


CLUSTER_HEAD = (b"--\n-- PostgreSQL database cluster dump\n--\n\n\\restrict " + KEY + b"\n\n"
                b"SET default_transaction_read_only = off;\n\nSET client_encoding = 'UTF8';\n\n--\n-- Roles\n--\n\n"
                b"CREATE ROLE app;\nALTER ROLE app WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:x';\n")


def test_a_cluster_dump_is_stopped_before_its_roles_reach_the_server() -> None:
    """pg_dumpall's output named as one database's: its CREATE ROLE and ALTER ROLE ... PASSWORD ran on the server
    (a verify made roles, or set their passwords) before the load stopped at its \\connect."""
    guard = PlainGuard()
    guard.start()
    with pytest.raises(MadeWithCreate, match="pg_dumpall"):
        guard.feed(CLUSTER_HEAD)
        guard.end()
