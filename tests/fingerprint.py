"""A database's fingerprint: content of every table, sequences, and every kind of schema object.

Two databases with equal fingerprints hold the same data and the same definitions,
which is what "round-trips exactly" means for a restore test.
"""

from __future__ import annotations

from typing import Any

import psycopg

QUERIES: dict[str, str] = {
    "views": """SELECT n.nspname || '.' || c.relname, c.relkind, pg_get_viewdef(c.oid)
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('v', 'm') AND n.nspname = 'public' ORDER BY 1""",
    "functions": """SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
                       CASE WHEN p.prokind = 'a' THEN p.prokind::text ELSE pg_get_functiondef(p.oid) END
                    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                    WHERE n.nspname = 'public' ORDER BY 1""",
    "aggregates": """SELECT a.aggfnoid::regprocedure::text, a.aggtransfn::text, a.aggfinalfn::text, a.agginitval
                     FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
                     JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' ORDER BY 1""",
    "triggers": """SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger
                   WHERE NOT tgisinternal ORDER BY 1, 2""",
    "types": """SELECT t.typname, t.typtype, format_type(t.typbasetype, t.typtypmod),
                       (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e
                        WHERE e.enumtypid = t.oid)
                FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c') ORDER BY 1""",
    "constraints": """SELECT conrelid::regclass::text, contypid::regtype::text, conname, pg_get_constraintdef(oid)
                      FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2, 3""",
    "indexes": """SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1""",
    "sequences": """SELECT sequencename, last_value, increment_by FROM pg_sequences
                    WHERE schemaname = 'public' ORDER BY 1""",
    "columns": """SELECT table_name, column_name, data_type, column_default, is_nullable
                  FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, ordinal_position""",
    "partitions": """SELECT inhrelid::regclass::text, inhparent::regclass::text,
                            pg_get_expr(c.relpartbound, c.oid)
                     FROM pg_inherits JOIN pg_class c ON c.oid = inhrelid ORDER BY 1""",
}

TABLES_SQL = """SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'm') AND c.relispopulated AND n.nspname = 'public' ORDER BY 1"""


def fingerprint(conninfo: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with psycopg.connect(conninfo) as conn:
        for name, query in QUERIES.items():
            result[name] = conn.execute(query).fetchall()
        tables = {}
        for (table,) in conn.execute(TABLES_SQL).fetchall():
            row = conn.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {table} t"
            ).fetchone()
            tables[table] = row
        result["tables"] = tables
    return result
