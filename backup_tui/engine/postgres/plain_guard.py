"""A plain SQL dump reaches psql with its backslash commands refused.

psql runs the backslash commands a file holds: ``\\!`` a shell command on this machine, ``\\o`` writes any file,
``\\connect`` moves the load to another database. A plain dump in the repository (an old script's ``.sql.gz``)
is untrusted, so psql is put in restricted mode before its first byte, with a key of our own (``\\restrict``:
psql 13.22, 14.19, 15.14, 16.10, 17.6 and later), and refuses every backslash command from then on.

pg_dump of those versions writes its own ``\\restrict KEY`` as the first line after its header comments and
``\\unrestrict KEY`` near its end; restricted already, psql would refuse both, so those two lines are left out
on the way (only the first line that is no comment, and only the line that names that same key: a row of COPY
data may read ``\\restrict abc``). Nothing else is changed.
"""

from __future__ import annotations

import re
import secrets

from backup_tui.engine.core.errors import BackupToolError

# What psql says when it refuses a command in restricted mode (any, and an ``\unrestrict`` with a key not ours),
# and when it does not know ``\restrict`` at all
REFUSED = ("backslash commands are restricted", "\\unrestrict: wrong key")
UNKNOWN = "invalid command \\restrict"
HEAD_LIMIT = 1 << 16  # pg_dump's header comments are a few hundred bytes; past this, no line is left out
_RESTRICT = re.compile(rb"\\restrict ([A-Za-z0-9]+)\r?")
_SESSION = re.compile(rb"(SET |SELECT pg_catalog\.set_config\().*;\r?")  # pg_dump's session lines before its DDL
MADE_WITH_CREATE = ("the plain dump was made with pg_dump --create: it creates its own database (drops it first, "
                    "made with --clean too) and \\connects to it, which a load into the database we made cannot "
                    "follow; nothing was run on the server (psql loads it by hand, where that database may go)")
CLUSTER_DUMP = ("the plain dump is a cluster's (pg_dumpall): roles, with their passwords, and every database, not "
                "one database's; nothing was run on the server (psql loads it by hand, on a server it may change)")
# The first statement after the session lines of a dump that is no one database's: a load of it into the database
# we made would drop or make databases, or make and alter roles, on the server
_NOT_ONE_DATABASE = {b"CREATE DATABASE ": MADE_WITH_CREATE, b"DROP DATABASE ": MADE_WITH_CREATE,
                     b"CREATE ROLE ": CLUSTER_DUMP, b"ALTER ROLE ": CLUSTER_DUMP, b"DROP ROLE ": CLUSTER_DUMP}


class MadeWithCreate(BackupToolError):
    """A ``pg_dump -C`` dump: its CREATE DATABASE would make (or fail on) a database of the original's name
    before psql refused its ``\\connect``, and with ``-c`` its DROP DATABASE drops the original itself; or a
    cluster's dump (pg_dumpall), whose roles would be made and altered. Stopped before a statement reaches the
    server."""


class PlainGuard:
    """``start()`` first, then ``feed()`` each decoded chunk and ``end()`` once: what psql's stdin gets."""

    def __init__(self) -> None:
        self.key = secrets.token_hex(16)
        self._head: bytearray | None = bytearray()  # the dump's start, until its first line that is no comment
        self._unrestrict = b""  # b"\n\\unrestrict KEY" for the dump's own key, once its head named one
        self._held = b""  # the last bytes, which may be the start of that line

    def start(self) -> bytes:
        return b"\\restrict " + self.key.encode() + b"\n"

    def feed(self, raw: bytes) -> bytes:
        if self._head is not None:
            self._head += raw
            if not self._read_head(final=False):
                return b""
            raw, self._head = bytes(self._head), None
        return self._filter(raw, final=False)

    def end(self) -> bytes:
        if self._head is not None:
            self._read_head(final=True)
            tail, self._head = bytes(self._head), None
            return self._filter(tail, final=True)
        return self._filter(b"", final=True)

    def _read_head(self, final: bool) -> bool:
        """Past the header comments and session settings: True once the first other line was seen (the first line
        after the comments left out when it is pg_dump's ``\\restrict``), or there is no such line within
        ``HEAD_LIMIT``. Raises ``MadeWithCreate`` when that line begins a dump of no one database
        (``_NOT_ONE_DATABASE``: pg_dump --create's ``CREATE``/``DROP DATABASE``, pg_dumpall's roles)."""
        assert self._head is not None
        head, pos, first = self._head, 0, not self._unrestrict  # read again from its start while it grows
        while True:
            newline = head.find(b"\n", pos)
            if newline == -1:
                if not final and len(head) < HEAD_LIMIT:
                    return False
                newline = len(head)
            line = head[pos:newline]
            if newline < len(head) and (not line.strip() or line.startswith(b"--")):
                pos = newline + 1
                continue
            found = _RESTRICT.fullmatch(line) if first else None
            if found:
                self._unrestrict = b"\n\\unrestrict " + found.group(1)
                del head[pos:newline]  # its newline stays: an empty line
                first = False
                continue
            if newline < len(head) and _SESSION.fullmatch(line):
                pos, first = newline + 1, False
                continue
            # pg_dump -c -C begins with DROP DATABASE: run from the database we made, it dropped the original's
            said = next((why for start, why in _NOT_ONE_DATABASE.items() if line.startswith(start)), None)
            if said is not None:
                raise MadeWithCreate(said)
            return True

    def _filter(self, raw: bytes, final: bool) -> bytes:
        """Leave out the line that is exactly ``\\unrestrict KEY`` with the dump's own key."""
        if not self._unrestrict:
            return raw
        data, self._held = self._held + raw, b""
        out, pos, mark = [], 0, self._unrestrict
        while True:
            at = data.find(mark, pos)
            if at == -1:
                keep = 0 if final else min(len(data) - pos, len(mark) + 1)
                out.append(data[pos:len(data) - keep])
                self._held = data[len(data) - keep:]
                break
            after = at + len(mark)
            if after == len(data) and not final:  # its line may go on in the next chunk
                out.append(data[pos:at])
                self._held = data[at:]
                break
            if after == len(data) or data[after:after + 1] in (b"\n", b"\r"):
                out.append(data[pos:at + 1])  # the newline before it stays
                pos = after
            else:
                out.append(data[pos:after])
                pos = after
        return b"".join(out)
