"""The reading of the snapshot session's answers (``postgres.in_snapshot``), apart from a server: each line in
its place, anything else refused in one line, and why psql ended early said as the backup says it."""

from __future__ import annotations

import pytest

from backup_tui.engine.core.errors import BackupToolError
from backup_tui.engine.postgres import pg
from backup_tui.engine.postgres.in_snapshot import Answers

FACTS = '["16.4", "UTF8", "en_US.UTF-8", "en_US.UTF-8", "app", "i", "und-x-icu", "", "fast"]'


def test_facts_then_a_name_and_its_count_per_table_then_the_end() -> None:
    answers = Answers()
    for line in (FACTS, '["public", "orders", "public.orders"]', "42", '["odd\\nschema", "t", "\\"odd\\nschema\\".t"]',
                 "0", "counted"):
        answers.take(line)
    assert answers.done and answers.counts == {"public.orders": 42, "odd\nschema.t": 0}
    assert answers.facts is not None and answers.facts.version == "16.4"
    assert answers.facts.database_info == {"encoding": "UTF8", "collate": "en_US.UTF-8", "ctype": "en_US.UTF-8",
                                           "owner": "app", "locale_provider": "icu", "locale": "und-x-icu",
                                           "tablespace": "fast"}


@pytest.mark.parametrize("lines", [["SELECT 1"], [FACTS, '["public", "t"]'], [FACTS, '["public", "t", "public.t"]',
                                                                               "-1"], [FACTS, "[1, 2, 3]"]])
def test_a_line_out_of_its_place_is_refused_in_one_line(lines: list[str]) -> None:
    answers = Answers()
    with pytest.raises(BackupToolError, match=r"^psql answered .* which is no answer to what it was asked$"):
        for line in lines:
            answers.take(line)


def test_why_psql_ended_early() -> None:
    answers = Answers()
    assert str(answers.failure(3, "psql:<stdin>:4: ERROR:  42501: permission denied for table pg_database\n"
                                  "LOCATION:  aclcheck_error, aclchk.c:2843\n")) \
        == "a query of the backup failed: permission denied for table pg_database"
    answers.take(FACTS)
    answers.take('["public", "film", "public.film"]')
    locked = answers.failure(3, "psql:<stdin>:9: ERROR:  55P03: canceling statement due to lock timeout\n")
    assert isinstance(locked, pg.TableLocked) and locked.table == "public.film"
    lost = answers.failure(2, "psql:<stdin>:9: FATAL:  57P01: terminating connection due to administrator "
                              "command\nserver closed the connection unexpectedly\n")
    assert str(lost) == ("lost the connection to the server during the backup: terminating connection due to "
                         "administrator command")
    assert str(answers.failure(3, "psql:<stdin>:9: ERROR:  XX001: invalid page in block 7\n")) \
        == "counting rows failed: invalid page in block 7"


def test_a_lock_timeout_is_known_in_the_servers_language() -> None:
    """The severity is in the server's lc_messages (ALTER DATABASE ... SET lc_messages, postgresql.conf), which
    a session that is no superuser cannot change: "FEHLER" was no error, and a table locked past the bound was
    said as "counting rows failed: LINE 1: SELECT count(*) FROM public.film; ^; LOCATION: ...". The SQLSTATE
    says it; a notice or a warning before it (classes 00-02) is not the error."""
    answers = Answers()
    answers.take(FACTS)
    answers.take('["public", "film", "public.film"]')
    locked = answers.failure(3, "HINWEIS:  00000: bla\nFEHLER:  55P03: storniere Anfrage wegen Zeitüberschreitung "
                                "einer Sperre\nLINE 1: SELECT count(*) FROM public.film;\n"
                                "                             ^\nLOCATION:  ProcessInterrupts, postgres.c:3312\n")
    assert isinstance(locked, pg.TableLocked) and locked.table == "public.film"
    assert str(answers.failure(3, "FEHLER:  XX001: ungültige Seite in Block 7\nLOCATION:  x.c:1\n")) \
        == "counting rows failed: ungültige Seite in Block 7"
