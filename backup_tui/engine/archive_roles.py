"""The roles an archive's schema names, read from ``pg_restore --schema-only``'s script.

pg_restore --exit-on-error stops at the first statement naming a role the server lacks: an
owner (ALTER ... OWNER TO) early on, a grantee (GRANT ... TO) or a policy's role only at the
very end, after hours of loading data. The restore plan checks them all first. Owners and
grantees are left out by ``--no-owner --no-privileges``; a policy's roles never are.

The script, not ``pg_restore --list``, is the source: the listing prints names unquoted, so an
owner with a space in its name, or an entry without one, cannot be read back from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_IDENT = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
_OWNER_HEADER = re.compile(r"^-- (?:Data for )?Name: .*; Type: .*; Schema: .*; Owner: (?P<role>.+)$")
_GRANT = re.compile(rf"^(?:GRANT|REVOKE) .* (?:TO|FROM) (?P<role>{_IDENT})(?: WITH GRANT OPTION| GRANTED BY .*)?;$")
_DEFAULT_FOR = re.compile(rf"^ALTER DEFAULT PRIVILEGES FOR ROLE (?P<role>{_IDENT}) ")
_DEFAULT_TO = re.compile(rf"^ALTER DEFAULT PRIVILEGES .* (?:TO|FROM) (?P<role>{_IDENT});$")
_SESSION = re.compile(rf"^SET SESSION AUTHORIZATION (?P<role>{_IDENT}|'(?:[^']|'')+');$")
_POLICY = re.compile(rf"^CREATE POLICY .*? TO (?P<roles>{_IDENT}(?:, {_IDENT})*)(?: USING \(| WITH CHECK \(|;$)")
_ONE = re.compile(_IDENT)
# Not roles: the keyword spellings and the roles every server has.
_EVERYWHERE = {"PUBLIC", "CURRENT_USER", "SESSION_USER", "CURRENT_ROLE", "-", ""}


@dataclass
class ArchiveRoles:
    owners_and_grantees: set[str] = field(default_factory=set)  # left out with --no-owner --no-privileges
    policy_roles: set[str] = field(default_factory=set)  # needed whatever the options


def unquote(name: str) -> str:
    """An identifier as the server knows it: quoted keeps its case, bare folds to lower case."""
    if name.startswith('"') and name.endswith('"') and len(name) >= 2:
        return name[1:-1].replace('""', '"')
    if name.startswith("'") and name.endswith("'") and len(name) >= 2:
        return name[1:-1].replace("''", "'")
    return name if name in _EVERYWHERE else name.lower()


def roles_named(script: str) -> ArchiveRoles:
    """Every role the schema script names, sorted by what ``--no-owner`` does to it."""
    found = ArchiveRoles()
    for line in script.splitlines():
        header = _OWNER_HEADER.match(line)
        if header:
            found.owners_and_grantees.add(header.group("role").strip())  # printed as the server spells it
            continue
        for pattern in (_GRANT, _DEFAULT_FOR, _DEFAULT_TO, _SESSION):
            match = pattern.match(line)
            if match:
                found.owners_and_grantees.add(unquote(match.group("role")))
        policy = _POLICY.match(line)
        if policy:
            found.policy_roles.update(unquote(r) for r in _ONE.findall(policy.group("roles")))
    found.owners_and_grantees -= _EVERYWHERE
    found.policy_roles -= _EVERYWHERE
    return found
