"""A database's own properties: its comment, its privileges (GRANT CONNECT ...) and its settings
(ALTER DATABASE / ALTER ROLE ... IN DATABASE ... SET). pg_dump stores them in every custom archive,
but pg_restore applies them only with --create, which we cannot use (we restore into a database of
another name). Without them a replaced database would lose, say, its search_path or the one role
allowed to connect. We ask pg_restore for exactly those entries and aim them at our database.
"""

from __future__ import annotations

import re

# The table of contents' descriptions of the entries that belong to the database itself.
_DATABASE_LEVEL = re.compile(r"^\d+; \d+ \d+ (COMMENT - DATABASE |ACL - DATABASE |SECURITY LABEL - DATABASE "
                             r"|DATABASE PROPERTIES - )")
# The statements those entries hold, each naming the database right after "DATABASE".
_ROLE = r'(?:"(?:[^"]|"")+"|[^" ]+)'  # a quoted role name may itself hold " IN DATABASE "
_STATEMENT = re.compile(rf"^(COMMENT ON DATABASE|ALTER DATABASE|ALTER ROLE {_ROLE} IN DATABASE|GRANT .*? ON DATABASE"
                        r"|REVOKE .*? ON DATABASE|SECURITY LABEL .*? ON DATABASE) ")
_HEADER = re.compile(r"^-- Name: .*; Type: (?P<type>[A-Z ]+); Schema: ")
_KEPT = {"COMMENT", "ACL", "SECURITY LABEL", "DATABASE PROPERTIES"}
_BARE_IDENT = re.compile(r"^[a-z_][a-z0-9_$]*$")


def database_level_entries(toc: str, *, privileges: bool = True) -> list[str]:
    """The lines of ``pg_restore --list --create`` to hand back with ``--use-list``."""
    return [line for line in toc.splitlines()
            if _DATABASE_LEVEL.match(line) and (privileges or " ACL - DATABASE " not in line)]


def archived_name(toc: str) -> str | None:
    """The dumped database's name, from the listing's header."""
    for line in toc.splitlines():
        if line.startswith(";") and line[1:].strip().startswith("dbname: "):
            return line[1:].strip()[len("dbname: "):]
    return None


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def retarget(script: str, original: str, target: str, *, role_settings: bool = True) -> str:
    """From ``script`` (pg_restore's text for those entries), their statements aimed at ``target``.

    With --create pg_restore also prints the CREATE DATABASE entry and reconnects (psql's
    \\connect) to the original: entries are told apart by the "-- Name: ...; Type: ..." line that
    heads each one, and only ours are kept, without psql meta-commands; every statement names
    its database, so any connection serves. pg_dump quotes a name only when it must: both
    spellings are tried, and only the name right after the statement's own "DATABASE" changes,
    never text inside a comment.
    """
    spellings = [quote_ident(original)] + ([original] if _BARE_IDENT.match(original) else [])
    out, keep = [], False
    for line in script.splitlines():
        header = _HEADER.match(line)
        if header:
            keep = header["type"] in _KEPT
        if not keep or line.startswith("\\"):
            continue
        if not role_settings and line.startswith("ALTER ROLE "):
            continue
        head = _STATEMENT.match(line)
        out.append(_aimed(line, head.end(), spellings, target) if head else line)
    return "\n".join(out) + "\n"


def _aimed(line: str, at: int, spellings: list[str], target: str) -> str:
    rest = line[at:]
    for spelling in spellings:
        if rest.startswith(spelling) and rest[len(spelling):][:1] in (" ", ";"):
            return line[:at] + quote_ident(target) + rest[len(spelling):]
    raise ValueError(f"cannot find database {spellings[0]} in: {line[:120]}")
