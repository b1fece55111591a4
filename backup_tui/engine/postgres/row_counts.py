"""Exact row counts of a restored database, over two connections when the tables are big enough to share.

After a restore the counts are the check that every row arrived, so they are real ``count(*)`` in the
restored database, table by table as ``pg.exact_row_counts`` takes them; only the waiting is shared. A
freshly loaded table has no visibility map yet, so each count is a full scan (which also sets every
row's hint bits): with several big tables, two sessions keep both CPUs busy where one left the second idle.

The connections are all open before ``counting`` yields: settings applied to the database meanwhile
(``ALTER DATABASE ... SET statement_timeout``, restored alongside) reach new sessions only, never these.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from backup_tui.engine.config import DatabaseConfig
from backup_tui.engine.postgres import pg

if TYPE_CHECKING:
    import psycopg

SHARE_FROM_BYTES = 32 << 20  # a second session pays only when its share holds this much (scans of ~0.03 s)

# pg.COUNTABLE_TABLES_SQL's tables, with the size their scan reads (heap, TOAST left out: count(*) skips it).
SIZED_TABLES_SQL = f"""
SELECT t.nspname, t.relname, pg_relation_size(quote_ident(t.nspname) || '.' || quote_ident(t.relname))
FROM ({pg.COUNTABLE_TABLES_SQL}) AS t (nspname, relname, shown)
ORDER BY 3 DESC, 1, 2
"""

Table = tuple[str, str, int]  # schema, name, bytes


def shares(tables: list[Table], sessions: int, share_from: int = SHARE_FROM_BYTES) -> list[list[Table]]:
    """Split ``tables`` (biggest first) over at most ``sessions``: each table to the lightest share so far.
    A share lighter than ``share_from`` bytes is folded into the first: a connection costs more than it saves."""
    split: list[list[Table]] = [[] for _ in range(max(1, sessions))]
    weight = [0] * len(split)
    for table in sorted(tables, key=lambda t: -t[2]):
        lightest = weight.index(min(weight))
        split[lightest].append(table)
        weight[lightest] += table[2]
    kept = [split[0]]
    for share, held in zip(split[1:], weight[1:], strict=True):
        if held >= share_from:
            kept.append(share)
        else:
            kept[0] += share
    return [share for share in kept if share] or [[]]


def _count(conn: psycopg.Connection[Any], tables: list[Table]) -> dict[str, int]:
    from psycopg import sql

    counts: dict[str, int] = {}
    for schema, table, _ in tables:
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(pg.ident(schema), pg.ident(table))
        row = conn.execute(query).fetchone()
        counts[pg.count_key(schema, table)] = int(row[0]) if row else 0
    return counts


class Counter:
    """Sessions open on a database, ready to count its tables (see ``counting``)."""

    def __init__(self, conns: list[psycopg.Connection[Any]], split: list[list[Table]]) -> None:
        self._conns, self._split = conns, split

    @property
    def sessions(self) -> int:
        return len(self._conns)

    def count(self) -> dict[str, int]:
        """Every table's exact count(*); the first session's share here, the others' in threads."""
        results: list[dict[str, int]] = [{} for _ in self._conns]
        errors: list[BaseException] = []

        def run(i: int) -> None:
            try:
                results[i] = _count(self._conns[i], self._split[i])
            except BaseException as exc:  # raised below, in the caller's thread
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(i,), name=f"row-counts-{i}", daemon=True)
                   for i in range(1, len(self._conns))]
        for thread in threads:
            thread.start()
        try:
            run(0)
        finally:
            for thread in threads:
                thread.join()
        if errors:
            raise errors[0]
        merged: dict[str, int] = {}
        for part in results:
            merged.update(part)
        return dict(sorted(merged.items()))


@contextmanager
def counting(server: DatabaseConfig, database: str, sessions: int = 2,
             share_from: int = SHARE_FROM_BYTES) -> Iterator[Counter]:
    """Open the sessions ``Counter.count`` will use on ``database``: one, or ``sessions`` where the
    tables are big enough to share (``shares``)."""
    with ExitStack() as stack:
        first = stack.enter_context(pg.connect(server, database))
        tables = [(str(s), str(t), int(b)) for s, t, b in first.execute(SIZED_TABLES_SQL).fetchall()]
        split = shares(tables, sessions, share_from)
        conns = [first] + [stack.enter_context(pg.connect(server, database)) for _ in split[1:]]
        yield Counter(conns, split)


def count_rows(server: DatabaseConfig, database: str, sessions: int = 2) -> dict[str, int]:
    with counting(server, database, sessions) as counter:
        return counter.count()
