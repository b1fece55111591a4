"""What an archive needs from the server it is restored on: roles, extensions, tablespaces.

pg_restore --exit-on-error stops at the first statement naming something the server lacks: an
owner or an extension early on, a grantee, a policy's role or a large object's privileges only
at the very end, after hours of loading data. The restore plan checks them all first, from
the script pg_restore prints for every entry but the data (``definitions_list``).

Owners and grantees are left out by ``--no-owner --no-privileges``; a policy's roles, the
extensions and the tablespaces never are. The script, not ``pg_restore --list``, is the source
of names: the listing prints them unquoted, so an owner with a space in its name, or an entry
without an owner, cannot be read back from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
# A table or index outside the database's default tablespace has "; Tablespace: x" after its owner.
_OWNER_HEADER = re.compile(
    r"^-- (?:Data for )?Name: .*; Type: .*; Schema: .*; Owner: (?P<role>.+?)(?:; Tablespace: .*)?$")
_GRANT = re.compile(rf"^(?:GRANT|REVOKE) .* (?:TO|FROM) (?P<role>{_IDENT})(?: WITH GRANT OPTION| GRANTED BY .*)?;$")
_DEFAULT_FOR = re.compile(rf"^ALTER DEFAULT PRIVILEGES FOR ROLE (?P<role>{_IDENT}) ")
_DEFAULT_TO = re.compile(rf"^ALTER DEFAULT PRIVILEGES .* (?:TO|FROM) (?P<role>{_IDENT});$")
_SESSION = re.compile(rf"^SET SESSION AUTHORIZATION (?P<role>{_IDENT}|'(?:[^']|'')+');$")
_ROLE_SETTING = re.compile(rf"^ALTER ROLE (?P<role>{_IDENT}) IN DATABASE ")
_POLICY = re.compile(rf"^CREATE POLICY .*? TO (?P<roles>{_IDENT}(?:, {_IDENT})*)(?: USING \(| WITH CHECK \(|;$)")
_EXTENSION = re.compile(rf"^CREATE EXTENSION IF NOT EXISTS (?P<name>{_IDENT})")
_TABLESPACE = re.compile(rf"^SET default_tablespace = (?P<name>{_IDENT});$")
_ONE = re.compile(_IDENT)
# Not roles: the keyword spellings, "no owner", and the roles every server has.
_EVERYWHERE = {"PUBLIC", "CURRENT_USER", "SESSION_USER", "CURRENT_ROLE", "-", "", "pg_database_owner"}
# Entries that carry rows, not definitions: leaving them out keeps the read to the table of contents.
_DATA_ENTRY = re.compile(r"^\d+; \d+ \d+ (TABLE DATA|BLOBS|LARGE OBJECTS) ")


@dataclass
class ArchiveNeeds:
    owners_and_grantees: set[str] = field(default_factory=set)  # left out with --no-owner --no-privileges
    owners: set[str] = field(default_factory=set)  # of the objects: pg_restore gives them away with ALTER ... OWNER
    policy_roles: set[str] = field(default_factory=set)  # needed whatever the options
    extensions: set[str] = field(default_factory=set)
    tablespaces: set[str] = field(default_factory=set)


def definitions_list(toc: str) -> str:
    """``pg_restore --list`` without the data entries, to hand back with ``--use-list``."""
    return "".join(line + "\n" for line in toc.splitlines() if line and not line.startswith(";")
                   and not _DATA_ENTRY.match(line))


def unquote(name: str) -> str:
    """An identifier as the server knows it: quoted keeps its case, bare folds to lower case."""
    if name.startswith('"') and name.endswith('"') and len(name) >= 2:
        return name[1:-1].replace('""', '"')
    if name.startswith("'") and name.endswith("'") and len(name) >= 2:
        return name[1:-1].replace("''", "'")
    return name if name in _EVERYWHERE else name.lower()


def needs_of(script: str) -> ArchiveNeeds:
    """Everything the definitions script names that a server may lack."""
    found = ArchiveNeeds()
    roles = (_GRANT, _DEFAULT_FOR, _DEFAULT_TO, _SESSION, _ROLE_SETTING)
    for line in script.splitlines():
        header = _OWNER_HEADER.match(line)
        if header:
            found.owners_and_grantees.add(header.group("role").strip())  # printed as the server spells it
            found.owners.add(header.group("role").strip())
            continue
        for pattern in roles:
            match = pattern.match(line)
            if match:
                found.owners_and_grantees.add(unquote(match.group("role")))
        policy = _POLICY.match(line)
        if policy:
            found.policy_roles.update(unquote(r) for r in _ONE.findall(policy.group("roles")))
        extension = _EXTENSION.match(line)
        if extension:
            found.extensions.add(unquote(extension.group("name")))
        tablespace = _TABLESPACE.match(line)
        if tablespace:
            found.tablespaces.add(unquote(tablespace.group("name")))
    found.owners_and_grantees -= _EVERYWHERE
    found.owners -= _EVERYWHERE
    found.policy_roles -= _EVERYWHERE
    return found
