"""psycopg helpers and the runner for pg_dump / pg_restore / psql.

Passwords travel only in the child's environment (PGPASSWORD) or libpq's own
passfile, never on a command line, in a log or in an exception text.

No engine module imports psycopg when it is imported itself: the driver loads at the first connection
(``connect``, or a function that already holds one). Its import is 0.15 s, half of a backup's start, and
a backup starts pg_dump before it needs the driver (``snapshot``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from backup_tui.engine.config import DatabaseConfig
from backup_tui.engine.core.errors import (
    AuthenticationFailed,
    BackupToolError,
    ConfigError,
    ConnectionFailed,
    NotFoundError,
    ServerFailed,
)
from backup_tui.engine.core.progress import SIGNAL_CHECK_S, CancelToken
from backup_tui.engine.core.sizes import plural

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

CONNECT_TIMEOUT_S = 10
APP_NAME = "backup-tui"


def conn_kwargs(db: DatabaseConfig, dbname: str | None = None) -> dict[str, Any]:
    """psycopg keyword arguments; unset fields are left to libpq's environment."""
    kwargs: dict[str, Any] = {
        "dbname": dbname or db.database,
        "connect_timeout": CONNECT_TIMEOUT_S,
        "application_name": APP_NAME,
    }
    for key in ("host", "port", "user", "password", "service"):
        value = getattr(db, key)
        if value is not None:
            kwargs[key] = value
    return kwargs


def server_key(server: DatabaseConfig) -> str:
    """Which server a database lives on, as this configuration reaches it (records of scratch databases
    and swaps name it, so a run against another server leaves them alone)."""
    host = server.host or os.environ.get("PGHOST", "")
    port = server.port or os.environ.get("PGPORT", "")
    return f"service={server.service or ''} host={host} port={port}"


# pg_dump, pg_restore and psql run in a process group of their own: a Ctrl+C on the terminal reaches
# only us, and we stop them in order (drop a scratch database, record no verdict) instead of finding
# them dead mid-stream and taking that for a failure. They never prompt (--no-password), so being
# off the terminal's foreground group cannot stop them.
OWN_GROUP = 0


STOP_GRACE_S = 2.0  # a tool's own stop: a cancel request to the server, then its exit


def signal_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop a child started with ``OWN_GROUP`` and whatever it forked (pg_restore -j's workers); from any thread,
    without waiting. SIGTERM first: pg_dump and pg_restore then cancel their running query and exit, where after a
    SIGKILL their server session went on (a LOCK TABLE still queued for its lock, a COPY running to its end);
    SIGKILL ``STOP_GRACE_S`` later if it is still there (a stopped process takes no SIGTERM)."""
    if _signal(proc, signal.SIGTERM):
        killer = threading.Timer(STOP_GRACE_S, _signal, (proc, signal.SIGKILL))
        killer.daemon = True
        killer.start()


def _signal(proc: subprocess.Popen[bytes], signum: int) -> bool:
    if proc.poll() is not None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signum)
    return True


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop such a child and reap it."""
    signal_group(proc)
    proc.wait()


def wait_for(proc: subprocess.Popen[bytes], cancel: CancelToken) -> int:
    """The child's exit code; a cancel kills its group at once (a load stuck behind a lock reads nothing).

    Waits in naps, so a signal the kernel hands to another thread is acted upon within
    ``SIGNAL_CHECK_S``; a child ended by the cancel raises ``Cancelled``, not a failure.
    """
    with cancel.hook(lambda: signal_group(proc)):
        while True:
            try:
                code = proc.wait(timeout=SIGNAL_CHECK_S)
                break
            except subprocess.TimeoutExpired:
                continue
    cancel.raise_if_cancelled()
    return code


# The variables libpq reads (its manual's "Environment Variables"), and Debian's PGCLUSTER, which ``tool_path``
# honours: what a scheduled run needs of the shell that installed it, where every other PG-named variable of a
# shell (PGDATA, an image's PG_VERSION, a tool's settings) is not ours to copy.
LIBPQ_VARIABLES = frozenset({
    "PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGPASSFILE", "PGCHANNELBINDING",
    "PGSERVICE", "PGSERVICEFILE", "PGOPTIONS", "PGSSLMODE", "PGREQUIRESSL", "PGSSLCOMPRESSION", "PGSSLCERT",
    "PGSSLKEY", "PGSSLCERTMODE", "PGSSLROOTCERT", "PGSSLCRL", "PGSSLCRLDIR", "PGSSLSNI", "PGREQUIREPEER",
    "PGSSLMINPROTOCOLVERSION", "PGSSLMAXPROTOCOLVERSION", "PGGSSENCMODE", "PGKRBSRVNAME", "PGGSSLIB",
    "PGGSSDELEGATION", "PGREQUIREAUTH", "PGCONNECT_TIMEOUT", "PGCLIENTENCODING", "PGTARGETSESSIONATTRS",
    "PGLOADBALANCEHOSTS", "PGDATESTYLE", "PGTZ", "PGGEQO", "PGSYSCONFDIR", "PGLOCALEDIR", "PGCLUSTER",
})


# Our own variables, which the PostgreSQL tools never read: the bucket's keys (S3_*, boto3's AWS_*), the mail
# server's password and the rest of BACKUP_*, a webhook's token. A child holds them in /proc/PID/environ for
# the whole dump or restore, and hands them to whatever it starts: it is given none of them.
NOT_FOR_TOOLS_PREFIXES = ("S3_", "AWS_", "BACKUP_")
NOT_FOR_TOOLS = frozenset({"SLACK_WEBHOOK_URL"})


def tool_env(hide: Collection[str] = ()) -> dict[str, str]:
    """Our environment without the secrets of other services: what a PostgreSQL tool may inherit. ``hide``:
    the variables holding databases' passwords (``Settings.password_variables``); a tool that connects is
    given its own as PGPASSWORD."""
    return {key: value for key, value in os.environ.items()
            if key not in NOT_FOR_TOOLS and key not in hide and not key.startswith(NOT_FOR_TOOLS_PREFIXES)}


def child_env(db: DatabaseConfig, dbname: str | None = None, hide: Collection[str] = ()) -> dict[str, str]:
    """The environment for pg_dump & co: libpq variables, password included, no argv; none of our other
    secrets (``tool_env``)."""
    env = tool_env({*hide, *filter(None, [db.password_env])})
    mapping = {"PGHOST": db.host, "PGPORT": db.port, "PGUSER": db.user, "PGPASSWORD": db.password,
               "PGSERVICE": db.service}
    for var, value in mapping.items():
        if value is not None:
            env[var] = value if isinstance(value, str) else str(value)  # a Secret stays one: stars in a repr
    env["PGDATABASE"] = dbname or db.database
    # From the session's start: pg_dump sets these off itself, but after its first queries, which a database's
    # statement_timeout of a few ms cancelled on a loaded machine ("canceling statement due to statement
    # timeout"). After an operator's own PGOPTIONS, so these two win.
    env["PGOPTIONS"] = " ".join(filter(None, (env.get("PGOPTIONS"), SESSION_OPTIONS)))
    env.setdefault("PGCONNECT_TIMEOUT", str(CONNECT_TIMEOUT_S))
    env["PGAPPNAME"] = APP_NAME
    # The tools' own words in English, as the driver's libpq says them: we read them (a failed connection, a
    # table lock pg_dump gave up on, the server's side of a failure), and under LANGUAGE=de psql said
    # "Fehler" where we look for "error". LC_ALL would override LC_MESSAGES; the data's encoding is not the
    # locale's (pg_dump and pg_restore take the archive's, and plain SQL sets its own).
    env.pop("LC_ALL", None)
    env["LC_MESSAGES"] = "C"
    return env


def describe_connect_error(said: str, db: DatabaseConfig, dbname: str | None = None) -> BackupToolError:
    """Turn what libpq said of a failed connection (through psycopg or psql) into one of our errors, one line."""
    text = said.strip()
    detail = _reason(text) or "no reason given"
    target = f"database {dbname or db.database!r}"
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered or (
        "authentication failed" in lowered
    ):
        return AuthenticationFailed(f"cannot connect to {target}: authentication failed (check user and password)")
    if "does not exist" in lowered and "database" in lowered:
        return NotFoundError(f"cannot connect: {target} does not exist on the server")
    host = db.host or os.environ.get("PGHOST", "the default host")
    where = f" on {host}:{db.port or os.environ.get('PGPORT', '5432')}"
    return ConnectionFailed(f"cannot connect to {target}{where}: {_strip_fatal(detail)}")


def _reason(text: str) -> str:
    """libpq's reason and its hint lines as one line. Its last line alone was a fragment when the hint spans
    lines ("server closed the connection unexpectedly / This probably means ... / before or while processing
    the request." said only "before or while processing the request.") and dropped the reason itself."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    starts = [i for i, line in enumerate(lines) if " failed: " in line]  # one attempt per address tried
    if not starts:
        return lines[-1] if lines else ""
    first = starts[-1]
    reason = lines[first].rsplit(" failed: ", 1)[1].strip()
    hint = " ".join(lines[first + 1:])
    return f"{reason.rstrip('.')}. {hint}" if hint else reason


def _strip_fatal(line: str) -> str:
    for prefix in ("FATAL:", "ERROR:", "connection failed:"):
        line = line.replace(prefix, "").strip()
    return line


# What pg_dump and pg_restore set for their own sessions: a statement_timeout or
# idle_in_transaction_session_timeout set on the database or the role (a guard for the application's
# sessions) would cancel our counts and checks, or end the transaction that holds the dump's snapshot.
UNBOUNDED = "SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0"
SESSION_OPTIONS = "-c statement_timeout=0 -c idle_in_transaction_session_timeout=0"  # the same, for a child tool


@contextmanager
def connect(
    db: DatabaseConfig, dbname: str | None = None, *, autocommit: bool = True
) -> Iterator[psycopg.Connection[Any]]:
    import psycopg

    try:
        conn = psycopg.connect(**conn_kwargs(db, dbname), autocommit=autocommit)
    except psycopg.OperationalError as exc:
        raise describe_connect_error(str(exc), db, dbname) from None
    try:
        conn.execute(UNBOUNDED)
        if not autocommit:
            conn.commit()  # kept for the session; the caller still chooses its transaction's isolation
        yield conn
    finally:
        conn.close()


def dbname_arg(name: str) -> str:
    """``name`` for a tool's ``-d``, as a conninfo that holds only it: libpq reads a bare ``-d`` with an '='
    or a URI prefix as a connection string ('dbname=postgres' reached another database, 'host=...' another
    server). Quoted, it is a name and nothing else; PGDATABASE and psycopg's keywords are never expanded."""
    return "dbname='" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ident(name: str) -> sql.Identifier:
    from psycopg import sql

    return sql.Identifier(name)


DEBIAN_CLIENTS = Path("/usr/lib/postgresql")  # <version>/bin/<tool>, what Debian's pg_wrapper chooses among
USER_CLUSTERS = Path("/etc/postgresql-common/user_clusters")


def tool_path(name: str, bin_dir: Path | None = None) -> str:
    """Find pg_dump, pg_restore or psql: the configured folder first, then PATH. Where PATH has Debian's
    pg_wrapper (a Perl script, 30-40 ms of CPU at every start: a backup starts two tools, a restore six), the
    newest installed client, started directly (unless the operator pinned the wrapper's choice): the newest
    pg_dump dumps any older server, the newest pg_restore reads any older archive. The wrapper itself would
    take the version of a local cluster on port 5432, whose pg_dump refuses a newer server.

    A configured folder without the tool is an error, not a reason to take PATH's: a typo in ``pg_bin_dir``
    (a version not installed) otherwise ran whatever client PATH held, whose pg_dump refuses a newer server."""
    if bin_dir is not None:
        if not (bin_dir / name).is_file():
            raise ConfigError(f"pg_bin_dir {bin_dir} has no {name}: install that client there, or remove "
                              "pg_bin_dir to take the newest on PATH")
        return str(bin_dir / name)
    found = shutil.which(name)
    if found is None:
        raise BackupToolError(f"{name} not found: install the PostgreSQL client (postgresql-client-15)")
    if Path(found).resolve().name == "pg_wrapper" and not version_pinned():
        return newest_client(name) or found
    return found


def version_pinned() -> bool:
    """The operator chose pg_wrapper's version or cluster (``PGCLUSTER``, ``~/.postgresqlrc``, a line in
    ``/etc/postgresql-common/user_clusters``): the wrapper is then left to honour it."""
    if os.environ.get("PGCLUSTER"):
        return True
    if (Path.home() / ".postgresqlrc").exists():
        return True
    try:
        lines = USER_CLUSTERS.read_text(errors="replace").splitlines()
    except OSError:
        return False
    return any(line.strip() and not line.lstrip().startswith("#") for line in lines)


def newest_client(name: str) -> str | None:
    """``DEBIAN_CLIENTS/<newest version>/bin/<name>``, or None where there is none."""
    def version(folder: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in folder.name.split(".") if part.isdigit())

    try:
        folders = [f for f in DEBIAN_CLIENTS.iterdir() if re.fullmatch(r"\d+(\.\d+)?", f.name)]
    except OSError:
        return None
    for folder in sorted(folders, key=version, reverse=True):
        tool = folder / "bin" / name
        if os.access(tool, os.X_OK) and tool.is_file():
            return str(tool)
    return None


def output_buffered(argv: list[str], size: int) -> list[str]:
    """``argv`` started by coreutils' ``stdbuf`` (where it is here), which has the tool's stdio write its standard
    output ``size`` bytes at a time. pg_dump writes through stdio, whose buffer on a pipe is a page: 115,000
    write(2)s for a 471 MB dump, each waking the reader; ``pg_dump | zstd -1 -T2`` of that dump took 5% less
    time with 256 kB writes (2.47-2.49 s against 2.52-2.66 s, alternating). stdbuf execs the tool itself:
    same pid, same process group."""
    stdbuf = shutil.which("stdbuf")
    return [stdbuf, "-o", str(size), *argv] if stdbuf else argv  # -o: coreutils', BSD's and uutils' own


def tool_version(path: str, hide: Collection[str] = ()) -> str:
    out = subprocess.run([path, "--version"], env=tool_env(hide), capture_output=True, text=True,
                         check=False).stdout.strip()
    match = re.search(r"\(PostgreSQL\) (\S+)", out)
    return match.group(1) if match else (out or "unknown")


# What a client tool prints when the server, not the input it sends, failed: connection lost or refused (not a
# FATAL answer such as "database does not exist"), the server shutting down or killing the session, a disk or
# memory exhausted on its side.
_SERVER_SIDE = re.compile(
    r"server closed the connection unexpectedly|terminating connection due to|connection to server .* failed: (?!FATAL)"
    r"|could not connect to server|the database system is (shutting down|starting up|in recovery mode)"
    r"|no space left on device|could not extend file|out of memory|could not resize shared memory", re.I)
# Lines that quote what the tool sent (a failed command, the data row, where in it): the input's words, not the tool's.
_QUOTING = re.compile(r"\s*(DETAIL|CONTEXT|HINT|QUERY|STATEMENT|LINE \d+):")
_TOOL_LINE = ("pg_restore:", "psql:", "pg_dump:")


def _text(stderr: bytes | str) -> str:
    return stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr


def _tool_words(text: str) -> str:
    """The tool's own words in its stderr: a failed command quoted after "Command was:" (up to the tool's next
    line), the lines quoting data or SQL, and quoted names within a line, left out."""
    kept, quoting = [], False
    for line in text.splitlines():
        if line.startswith(_TOOL_LINE):
            quoting = False
        elif line.startswith("Command was:"):
            quoting = True
        if not quoting and not _QUOTING.match(line):
            kept.append(re.sub(r'"[^"]*"', '""', line))
    return "\n".join(kept)


def tool_failed(tool: str, stderr: bytes | str, code: int = 1) -> BackupToolError:
    """The error for a client tool that exited non-zero (``code``, as Popen says it): ``ServerFailed`` when its
    own words blame the server (never words it quotes from the dump: a row may hold any text). Killed by a
    signal it says nothing: the line names the signal ("pg_dump failed: no message" after the OOM killer)."""
    text = _text(stderr)
    kind = ServerFailed if _SERVER_SIDE.search(_tool_words(text)) else BackupToolError
    said = stderr_summary(text) if text.strip() or code >= 0 else ""
    if code < 0:
        killed = f"killed by {signal.Signals(-code).name}" if -code in signal.valid_signals() else "killed"
        if -code == signal.SIGKILL:
            killed += " (by another process, or the kernel's out-of-memory killer: see dmesg)"
        said = f"{killed}; {said}" if said else killed
    return kind(f"{tool} failed: {said}")


def stderr_summary(stderr: bytes | str, limit: int = 3) -> str:
    """The last meaningful lines of a tool's stderr, joined into one line."""
    text = _text(stderr)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower() or "fatal" in ln.lower()] or lines
    return "; ".join(errors[-limit:]) if errors else "no message"


def database_exists(conn: psycopg.Connection[Any], name: str) -> bool:
    row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


def database_oid(conn: psycopg.Connection[Any], name: str) -> int | None:
    """Which database answers to ``name`` now (None: none): a name can be given to another database, an oid
    is not."""
    row = conn.execute("SELECT oid FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return None if row is None else int(row[0])


# What CREATE DATABASE needs to make a copy that sorts and compares text the same way; to_jsonb: the locale
# columns differ between PostgreSQL 15, 16 and 17
DATABASE_INFO_COLUMNS = """pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, r.rolname,
       coalesce(to_jsonb(d) ->> 'datlocprovider', 'c'),
       coalesce(to_jsonb(d) ->> 'daticulocale', to_jsonb(d) ->> 'datlocale', ''),
       coalesce(to_jsonb(d) ->> 'daticurules', ''),
       t.spcname"""
DATABASE_INFO_FROM = ("FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
                      "JOIN pg_tablespace t ON t.oid = d.dattablespace")
_PROVIDERS = {"c": "libc", "i": "icu", "b": "builtin"}


def database_info_of(row: Sequence[str]) -> dict[str, str]:
    """The record's ``database_info`` from a row of ``DATABASE_INFO_COLUMNS``."""
    encoding, collate, ctype, owner, provider, locale, rules, tablespace = row
    info = {"encoding": encoding, "collate": collate, "ctype": ctype, "owner": owner,
            "locale_provider": _PROVIDERS.get(provider, provider)}
    if locale:
        info["locale"] = locale  # ICU (15, 16) or builtin (17) locale
    if rules:
        info["icu_rules"] = rules
    if tablespace != "pg_default":
        info["tablespace"] = tablespace
    return info


def database_size(conn: psycopg.Connection[Any], name: str) -> int:
    row = conn.execute("SELECT pg_database_size(%s)", (name,)).fetchone()
    return int(row[0]) if row else 0


_HOLDER = "coalesce(usename, backend_type), coalesce(host(client_addr), 'local'), application_name"
# Sessions a replace ends, and its plan names: everyone's but the app's own (this connection, a dump or
# restore of ours: application_name starts with APP_NAME), which the database's lock already orders.
_OTHERS_ON = ("FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
              f"AND application_name NOT LIKE '{APP_NAME}%%'")


def _grouped(rows: Iterable[Sequence[Any]]) -> list[tuple[str, int]]:
    held = Counter(f"{user}@{host}" + (f" {app!r}" if app else "") for user, host, app, *_ in rows)
    return sorted(held.items(), key=lambda item: (-item[1], item[0]))


def sessions_on(conn: psycopg.Connection[Any], name: str) -> list[tuple[str, int]]:
    """Who is connected to ``name`` but us, grouped: ("app@10.0.0.5 'pool'", 8), ("alice@local 'psql'", 1).

    A plan that will terminate sessions names them: the application's pool and a colleague's psql
    are different decisions at 3 a.m."""
    return _grouped(conn.execute(f"SELECT {_HOLDER} {_OTHERS_ON}", (name,)).fetchall())


def tablespace_exists(conn: psycopg.Connection[Any], name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_tablespace WHERE spcname = %s", (name,)).fetchone() is not None


def create_database(conn: psycopg.Connection[Any], name: str, info: dict[str, str] | None = None) -> None:
    """CREATE DATABASE from template0 with the original's encoding, locale (provider too), owner and
    tablespace, as far as known and present on this server (the restore plan says what is not)."""
    from psycopg import sql

    info = info or {}
    parts = [sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(ident(name))]
    options = [("ENCODING", "encoding"), ("LC_COLLATE", "collate"), ("LC_CTYPE", "ctype")]
    provider = info.get("locale_provider", "libc")
    if provider == "icu":
        options += [("LOCALE_PROVIDER", "locale_provider"), ("ICU_LOCALE", "locale"), ("ICU_RULES", "icu_rules")]
    elif provider == "builtin":
        options += [("LOCALE_PROVIDER", "locale_provider"), ("BUILTIN_LOCALE", "locale")]
    for keyword, key in options:
        if info.get(key):
            parts.append(sql.SQL(keyword + " {}").format(sql.Literal(info[key])))
    if info.get("owner") and role_exists(conn, info["owner"]):
        parts.append(sql.SQL("OWNER {}").format(ident(info["owner"])))
    if info.get("tablespace") and tablespace_exists(conn, info["tablespace"]):
        parts.append(sql.SQL("TABLESPACE {}").format(ident(info["tablespace"])))
    conn.execute(sql.SQL(" ").join(parts))


def carried(info: dict[str, str], *, owner: bool, tablespace: bool) -> dict[str, str]:
    """The database properties a new database takes from the original's: its owner and tablespace only where
    asked (a test restore, or ``--no-owner``/``--no-tablespaces``, puts the data on trial, not the roles)."""
    dropped = {key for key, kept in (("owner", owner), ("tablespace", tablespace)) if not kept}
    return {key: value for key, value in info.items() if key not in dropped}


def creation_lacks(conn: psycopg.Connection[Any], owner: str | None,
                   object_owners: Iterable[str] = ()) -> tuple[str, bool]:
    """What the user we connect as lacks to CREATE DATABASE (``OWNER owner`` where that names an existing role
    other than that user) and to load it (pg_restore creates in it as that user, then ``ALTER ... OWNER TO`` each
    of ``object_owners``), in words with a way around it ('' when nothing), and whether ``--no-owner`` is
    another way."""
    us = _connected_as(conn)
    if us is None:
        return "", False
    user, superuser, creates = us
    quoted = ident(user).as_string(conn)
    if superuser:
        return "", False
    if not creates:
        return (f"the user we connect as ({user}) cannot create databases: grant it CREATEDB (ALTER ROLE {quoted} "
                "CREATEDB), or restore as a user that has it"), False
    if owner and owner != user and role_exists(conn, owner):
        # OWNER needs membership; creating in a database another role owns needs its privileges too (a member
        # with NOINHERIT may give the database away, then is refused CREATE in it)
        member, uses = conn.execute("SELECT pg_has_role(%s, 'MEMBER'), pg_has_role(%s, 'USAGE')",
                                    (owner, owner)).fetchone() or (True, True)
        if not member:
            return (f"the user we connect as ({user}) cannot give the new database the original's owner, role "
                    f"{owner!r}, as it is no member of it: GRANT {ident(owner).as_string(conn)} TO {quoted}"), True
        if not uses:
            return (f"the user we connect as ({user}) is a member of the original's owner, role {owner!r}, without "
                    f"its privileges (NOINHERIT), so it could not create in the new database: ALTER ROLE {quoted} "
                    "INHERIT"), True
    others = sorted(r for r in set(object_owners) - {user, owner or ""}
                    if role_exists(conn, r) and not _member(conn, r))
    if others:
        grants = "; ".join(f"GRANT {ident(r).as_string(conn)} TO {quoted}" for r in others)
        return (f"the user we connect as ({user}) cannot give the restored objects their owners, as it is no member "
                f"of {', '.join(map(repr, others))}: {grants}"), True
    return "", False


def _connected_as(conn: psycopg.Connection[Any]) -> tuple[str, bool, bool] | None:
    """The user we connect as: its name, whether it is a superuser, whether it has CREATEDB."""
    row = conn.execute("SELECT current_user, rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user"
                       ).fetchone()
    return None if row is None else (str(row[0]), bool(row[1]), bool(row[2]))


def _member(conn: psycopg.Connection[Any], role: str) -> bool:
    row = conn.execute("SELECT pg_has_role(%s, 'MEMBER')", (role,)).fetchone()
    return row is None or bool(row[0])


def prepared_on(conn: psycopg.Connection[Any], name: str) -> str:
    """Why the prepared transactions (two-phase commit) on ``name`` stop it being renamed, with the way out; '' when
    there are none. No session's end closes one: a rename waited 5 s for it at each of its attempts, with the
    database closed to connections for that minute, then failed."""
    gids = [str(r[0]) for r in conn.execute("SELECT gid FROM pg_prepared_xacts WHERE database = %s ORDER BY prepared",
                                            (name,)).fetchall()]
    if not gids:
        return ""
    shown = ", ".join(repr(g) for g in gids[:3]) + (f" and {len(gids) - 3} more" if len(gids) > 3 else "")
    return (f"{name!r} holds {plural(len(gids), 'prepared transaction')} ({shown}), which no "
            "ended session closes and which keep it from being renamed: COMMIT PREPARED or ROLLBACK PREPARED "
            "them first")


def replace_lacks(conn: psycopg.Connection[Any], name: str) -> str:
    """What the user we connect as lacks to swap ``name`` out (block its connections, end its sessions, rename it),
    in words with a way around it, or the prepared transactions that hold it; '' when nothing. Said in the plan:
    found at the swap, it came after the safety backup and the whole restore, and a swap refused at its first
    step left a journal only its owner or a superuser could settle."""
    if prepared := prepared_on(conn, name):
        return prepared
    us = _connected_as(conn)
    if us is None or us[1]:
        return ""
    user, _, creates = us
    quoted = ident(user).as_string(conn)
    if not creates:  # RENAME needs CREATEDB besides ownership
        return (f"the user we connect as ({user}) cannot rename databases without CREATEDB: ALTER ROLE {quoted} "
                "CREATEDB")
    owned = conn.execute("SELECT pg_get_userbyid(datdba), pg_has_role(datdba, 'USAGE') FROM pg_database "
                         "WHERE datname = %s", (name,)).fetchone()
    if owned is not None and not owned[1]:
        return (f"the user we connect as ({user}) does not own {name!r} (its owner is {str(owned[0])!r}), and only "
                f"its owner or a superuser may block its connections and rename it: GRANT "
                f"{ident(str(owned[0])).as_string(conn)} TO {quoted}, or run this as that owner or a superuser")
    # pg_terminate_backend: a superuser's session only by a superuser; another's with its role's privileges or
    # pg_signal_backend's
    held = conn.execute(
        "SELECT DISTINCT a.usename FROM pg_stat_activity a JOIN pg_roles r ON r.oid = a.usesysid "
        "WHERE a.datname = %s AND a.pid <> pg_backend_pid() AND a.application_name NOT LIKE %s "
        "AND (r.rolsuper OR NOT (pg_has_role(a.usesysid, 'USAGE') OR pg_has_role('pg_signal_backend', 'USAGE')))",
        (name, f"{APP_NAME}%")).fetchall()
    if held:
        whose = ", ".join(repr(str(r[0])) for r in held)
        return (f"the user we connect as ({user}) may not end the sessions of {whose} on {name!r}: GRANT "
                f"pg_signal_backend TO {quoted} (a superuser's session only a superuser ends), or end them first")
    return ""


def extension_available(conn: psycopg.Connection[Any], name: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = %s", (name,)).fetchone() is not None


def role_exists(conn: psycopg.Connection[Any], role: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None


def terminate_sessions(conn: psycopg.Connection[Any], name: str) -> list[tuple[str, int]]:
    """End every session on ``name`` but ours (``_OTHERS_ON``); who they were, grouped as ``sessions_on`` says it."""
    return _grouped(conn.execute(f"SELECT {_HOLDER}, pg_terminate_backend(pid) {_OTHERS_ON}", (name,)).fetchall())


def drop_database(conn: psycopg.Connection[Any], name: str) -> None:
    from psycopg import sql

    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident(name)))


_TABLES_SQL = """
SELECT n.nspname, c.relname, quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE ({kinds})
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
ORDER BY 1, 2
"""
# What a restored database's counts cover: its tables and populated materialized views (a manifest written before
# DUMPED_TABLES_SQL may hold a view's count, held against its refresh)
COUNTABLE_TABLES_SQL = _TABLES_SQL.format(kinds="c.relkind = 'r' OR (c.relkind = 'm' AND c.relispopulated)")
# What a backup counts in its snapshot: the tables whose rows are in the dump. A materialized view's are not (the
# dump says REFRESH), and one refreshed before the backup's data changed counted its old rows, which the restore's
# refresh never gives back: every full verify of every backup failed while the view stayed stale.
DUMPED_TABLES_SQL = _TABLES_SQL.format(kinds="c.relkind = 'r'")


def count_key(schema: str, table: str) -> str:
    """A table's key among a record's row counts: ``schema.table``, as records have always said it, unless the
    schema's name holds a dot or starts with a quote: then it is quoted as SQL quotes it, so ``"a.b".c`` and
    ``a."b.c"`` never share a key (one count overwrote the other, and a full verify failed on a good backup)."""
    if "." in schema or schema.startswith('"'):
        return '"' + schema.replace('"', '""') + '".' + table
    return f"{schema}.{table}"


class TableLocked(Exception):
    """A table stayed locked by another session for longer than the connection's lock_timeout."""

    def __init__(self, table: str) -> None:
        super().__init__(table)
        self.table = table
