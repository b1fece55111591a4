"""Settings: defaults < TOML file < environment < command-line flags.

The environment includes the names operators already have in the env files of
the old shell scripts (``BACKUP_DB_HOST``, ``BACKUP_DIR`` ...); libpq's own
``PG*`` variables and service files keep working because we leave unset
connection fields to libpq.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import stat
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, SupportsIndex
from urllib.parse import quote, urlencode, urlsplit

from backup_tui.engine.core.encryption import IDENTITY_VARIABLE, EncryptionConfig, identity_path, parse_encryption
from backup_tui.engine.core.errors import ConfigError, NotFoundError
from backup_tui.engine.core.events import EVENTS
from backup_tui.engine.core.names import check_database_name
from backup_tui.engine.core.redact import redact_url
from backup_tui.engine.core.retention import RetentionConfig
from backup_tui.engine.core.schedule import DEFAULTS as SCHEDULE_DEFAULTS
from backup_tui.engine.core.schedule import check_cron
from backup_tui.engine.core.thresholds import DEFAULT_THRESHOLDS, Thresholds

DEFAULT_REPOSITORY = Path("/var/backups/backup-tui")
REDACTED = "********"
LARGEST_WHOLE = 2**63 - 1  # TOML's integer range (tomllib reads longer ones): a count or size past it is a typo
LONGEST_DAYS = 36_525  # a century, the longest duration setting: far longer ones overflow a timedelta, or the
# dates reckoned with it (now - limit), as an OverflowError deep inside a run
PG_LONGEST_WAIT_S = 2_147_483  # PostgreSQL's lock_timeout tops out at INT_MAX milliseconds: pg_dump fails past it


class Secret(str):
    """A password: its value where it is used (libpq, a child's PGPASSWORD), stars wherever it is shown as a
    value (repr: a crash screen's locals, a dict or a config object printed whole)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(REDACTED)

    def __getitem__(self, key: SupportsIndex | slice) -> Secret:
        return Secret(str.__getitem__(self, key))  # a piece of it (rich cuts long values short) is a secret too


@dataclass(frozen=True, repr=False)
class DatabaseConfig:
    """One database we back up. Unset fields fall back to libpq (PGHOST, service files...)."""

    name: str
    dbname: str | None = None
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = None
    service: str | None = None
    password_env: str | None = None  # the variable the file named; checked once the environment is merged
    health: Thresholds | None = None  # its own [databases.health]; None: the [health] of the file

    def __post_init__(self) -> None:
        if self.password is not None and not isinstance(self.password, Secret):
            object.__setattr__(self, "password", Secret(self.password))

    def __repr__(self) -> str:
        """Every field but the password, which reads as stars: str() and repr() of settings are safe to print."""
        shown = (f"{f.name}={REDACTED if f.name == 'password' and self.password else getattr(self, f.name)!r}"
                 for f in fields(self))
        return f"DatabaseConfig({', '.join(shown)})"

    @property
    def database(self) -> str:
        return self.dbname or self.name


@dataclass(frozen=True, repr=False)
class S3Config:
    """The ``[s3]`` table (names fixed by the issue, so scripts and docs agree). Credentials are not
    here unless the old scripts' S3_ACCESS_KEY / S3_SECRET_KEY give them: boto3's own chain
    (environment, shared config and profile, instance role) finds them otherwise."""

    bucket: str
    prefix: str = ""
    region: str | None = None
    endpoint_url: str | None = None  # path-style addressing is used whenever one is set (MinIO, Ceph...)
    storage_class: str | None = None
    sse: str | None = None  # "AES256" or "aws:kms"
    sse_kms_key_id: str | None = None
    multipart_threshold_mib: int = 100
    part_size_mib: int = 16
    concurrency: int = 8
    keep_local: bool = True
    retry_seconds: int = 60  # how long a run keeps retrying an unreachable S3 before it gives up (exit 1)
    lock_ttl_seconds: int = 21600
    access_key: str | None = None
    secret_key: Secret | None = None

    def __repr__(self) -> str:
        return f"S3Config({self.shown()!r})"

    def shown(self) -> dict[str, Any]:
        """Every setting, the secret key as stars: what ``config show`` prints."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["secret_key"] = REDACTED if self.secret_key else None
        data["access_key"] = REDACTED if self.access_key else "(AWS credential chain)"
        return data


S3_SSE = ("AES256", "aws:kms")
S3_MIN_PART_MIB = 5  # S3 refuses smaller parts (all but the last)
_S3_NUMBERS = {  # key -> (lowest, highest)
    "multipart_threshold_mib": (S3_MIN_PART_MIB, 5 * 1024 * 1024), "part_size_mib": (S3_MIN_PART_MIB, 5 * 1024),
    "concurrency": (1, 64), "retry_seconds": (0, 86400), "lock_ttl_seconds": (1, LONGEST_DAYS * 86400),
}
_S3_TEXTS = ("bucket", "prefix", "region", "endpoint_url", "storage_class", "sse", "sse_kms_key_id")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def endpoint_with_scheme(endpoint: str) -> str:
    """The old env file wrote ``localhost:9000``: no scheme is plain http on this machine, https elsewhere."""
    if "://" in endpoint:
        return endpoint
    host = endpoint.split("/", maxsplit=1)[0].rsplit(":", 1)[0].strip("[]")
    local = host in ("localhost", "::1") or host.startswith("127.")
    return f"{'http' if local else 'https'}://{endpoint}"


def _s3_from_toml(table: dict[str, Any]) -> S3Config:
    unknown = set(table) - set(_S3_TEXTS) - set(_S3_NUMBERS) - {"keep_local"}
    if unknown:
        raise ConfigError(f"unknown key(s) in [s3]: {', '.join(sorted(unknown))}")
    if "bucket" not in table:
        raise ConfigError("[s3] needs a bucket")
    changes: dict[str, Any] = {k: _expect(table[k], str, f"s3.{k}") for k in _S3_TEXTS if k in table}
    for key, (low, high) in _S3_NUMBERS.items():
        if key in table:
            changes[key] = _in_range(table[key], f"s3.{key}", low, high)
    if "keep_local" in table:
        if not isinstance(table["keep_local"], bool):
            raise ConfigError(f"s3.keep_local must be true or false, not {table['keep_local']!r}")
        changes["keep_local"] = table["keep_local"]
    return _checked_s3(S3Config(**changes))


def _checked_s3(config: S3Config) -> S3Config:
    if not config.bucket.strip():
        raise ConfigError("s3.bucket is empty")
    if re.search(r"[/\\\s]|[^\x21-\x7e]", config.bucket) or len(config.bucket) > 255:
        # no store takes these in a bucket's name ("../../x y" was accepted, then failed at the first call)
        raise ConfigError(f"s3.bucket {config.bucket!r} is no bucket name: a slash, a space or a character no store "
                          "takes (a folder inside the bucket goes in s3.prefix)")
    if config.sse is not None and config.sse not in S3_SSE:
        raise ConfigError(f"s3.sse must be one of {', '.join(S3_SSE)}, not {config.sse!r}")
    if config.sse_kms_key_id and config.sse != "aws:kms":
        raise ConfigError("s3.sse_kms_key_id is set but s3.sse is not \"aws:kms\"")
    if config.part_size_mib > config.multipart_threshold_mib:
        raise ConfigError("s3.part_size_mib must not exceed s3.multipart_threshold_mib")
    prefix = config.prefix.strip("/")
    if any(part in ("", ".", "..") for part in prefix.split("/")) and prefix:
        raise ConfigError(f"s3.prefix {config.prefix!r} has an empty, '.' or '..' part")
    endpoint = _checked_endpoint(endpoint_with_scheme(config.endpoint_url)) if config.endpoint_url else None
    return replace(config, prefix=prefix, endpoint_url=endpoint)


def _checked_endpoint(url: str) -> str:
    """An http(s) URL with a host: 'http://[::1' reached boto3 and came back as 'unexpected ValueError', and
    'ftp://...' as a botocore error at the first call; both are settings to fix, said before anything runs."""
    if "@" in url.partition("://")[2].split("/", 1)[0]:  # botocore signs with the keys, never these: only printed
        raise ConfigError("the S3 endpoint (s3.endpoint_url or S3_ENDPOINT) holds a user or password before '@' "
                          "(not repeated here): give http(s)://HOST[:PORT], and the keys as S3_ACCESS_KEY and "
                          "S3_SECRET_KEY (or the AWS_* variables, a profile, an instance role)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check: 'host:abc' raises here
    except ValueError as exc:
        raise ConfigError(f"the S3 endpoint {url!r} (s3.endpoint_url or S3_ENDPOINT) is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"the S3 endpoint {url!r} (s3.endpoint_url or S3_ENDPOINT) must be http(s)://HOST[:PORT] "
                          "or HOST[:PORT]")
    return url


def _s3_from_env(config: S3Config | None, env: Mapping[str, str]) -> S3Config | None:
    """The old scripts' names: BACKUP_ENABLE_S3 turns S3 on or off, S3_* fill or override the table."""
    enable = env.get("BACKUP_ENABLE_S3")
    if enable is not None and enable.strip().lower() not in _TRUE + _FALSE:
        raise ConfigError(f"BACKUP_ENABLE_S3 must be true or false, not {enable!r}")
    if enable is not None and enable.strip().lower() in _FALSE:
        return None
    changes: dict[str, Any] = {}
    for var, attr in (("S3_BUCKET", "bucket"), ("S3_ENDPOINT", "endpoint_url"), ("S3_ACCESS_KEY", "access_key")):
        if env.get(var):
            changes[attr] = env[var]
    if env.get("S3_SECRET_KEY"):
        changes["secret_key"] = Secret(env["S3_SECRET_KEY"])
    if config is None:
        if enable is None:
            return None  # S3_* alone, without BACKUP_ENABLE_S3 or an [s3] table, was off in the old scripts too
        if "bucket" not in changes:
            raise ConfigError("BACKUP_ENABLE_S3 is true but S3_BUCKET is not set (nor [s3] bucket in the config)")
        config = S3Config(bucket=changes["bucket"])
    if bool(changes.get("access_key") or config.access_key) != bool(changes.get("secret_key") or config.secret_key):
        raise ConfigError("S3_ACCESS_KEY and S3_SECRET_KEY go together: one of them is not set")
    return _checked_s3(replace(config, **changes))


@dataclass(frozen=True, repr=False)
class NotifyTarget:
    """Where notices go: an apprise URL, or (``slack``) a Slack incoming webhook posted to as Slack expects.
    The URL holds credentials: it is shown only through ``shown``."""

    url: str
    events: tuple[str, ...] = ("failure", "recovery")
    kind: str = "apprise"  # apprise | slack | smtp (BACKUP_NOTIFY_EMAIL: ops.mail)
    reminder_hours: float = 24  # a problem that lasts is told again this often
    label: str = ""  # how it is named when shown (the old variables' destinations say which)
    ca_file: Path | None = None  # smtp: a CA to trust besides the system's (BACKUP_SMTP_CA_FILE)

    def __post_init__(self) -> None:
        if not isinstance(self.url, Secret):
            object.__setattr__(self, "url", Secret(self.url))

    @property
    def shown(self) -> str:
        return self.label or redact_url(self.url)

    def __repr__(self) -> str:
        return f"NotifyTarget({self.shown!r}, events={self.events!r})"


@dataclass(frozen=True)
class Settings:
    repository: Path = DEFAULT_REPOSITORY
    log_dir: Path | None = None
    databases: tuple[DatabaseConfig, ...] = ()
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    compression_level: int | Literal["auto"] = "auto"  # "auto": what spare CPU allows (core.levels); a number: fixed
    dump_nice: int = 0  # the niceness pg_dump runs at: 19 leaves the CPU to everything else first
    retention_s3: RetentionConfig = field(default_factory=lambda: RetentionConfig(daily=30, weekly=0, monthly=0))
    compression_threads: int = 0  # 0: one per core
    compression_slowdown: int = 20  # percent more time than the dump alone "auto" may take for one level more
    restore_jobs: int = 1  # >1: decode to a file first, then pg_restore -j (pays off with many big tables)
    min_free_bytes: int = 0  # head-room that must stay free after a backup
    lock_wait_timeout_s: int = 300  # a table another session keeps locked fails the backup then; 0: wait forever
    maintenance_db: str = "postgres"
    pg_bin_dir: Path | None = None
    config_file: Path | None = None
    encryption: EncryptionConfig = field(default_factory=EncryptionConfig)
    s3: S3Config | None = None  # a bucket as a second repository; None: local only
    health: Thresholds = DEFAULT_THRESHOLDS  # [health]: when a database is unwell
    notify: tuple[NotifyTarget, ...] = ()  # [[notify]], then SLACK_WEBHOOK_URL and BACKUP_NOTIFY_EMAIL
    schedule: tuple[tuple[str, str], ...] = tuple(SCHEDULE_DEFAULTS.items())  # [schedule]: job -> cron expression

    def thresholds(self, name: str) -> Thresholds:
        """The health thresholds of a database: its own table's, else [health]'s."""
        for db in self.databases:
            if name in (db.name, db.database) and db.health is not None:
                return db.health
        return self.health

    @property
    def database_names(self) -> tuple[str, ...]:
        """The name of each configured database as backed up (``DatabaseConfig.database``), in order."""
        return tuple(db.database for db in self.databases)

    @property
    def logs(self) -> Path:
        return self.log_dir or self.repository / "logs"

    @property
    def password_variables(self) -> frozenset[str]:
        """The variables the file names as databases' ``password_env``: passwords, which no tool is handed."""
        return frozenset(db.password_env for db in self.databases if db.password_env)

    def database(self, name: str | None) -> DatabaseConfig:
        """The named database, or the only one when no name is given."""
        if name is None:
            if len(self.databases) == 1:
                return self.databases[0]
            if not self.databases:
                raise ConfigError("no database configured: set BACKUP_DB_NAME or add [[databases]] to the config file")
            names = ", ".join(d.name for d in self.databases)
            raise ConfigError(f"several databases configured ({names}): choose one with --database")
        for db in self.databases:
            if name in (db.name, db.database):
                return db
        known = ", ".join(d.name for d in self.databases) or "none"
        raise NotFoundError(f"database {name!r} is not configured (configured: {known})")

    def server_for(self, database: str) -> DatabaseConfig:
        """How to reach the server that held ``database``: its own entry, or the only configured one."""
        try:
            return self.database(database)
        except NotFoundError:
            if len(self.databases) == 1:
                return replace(self.databases[0], dbname=database)
            raise


_TOP_KEYS = {
    "repository", "log_dir", "databases", "retention", "backup", "restore", "maintenance_db", "pg_bin_dir",
    "encryption", "s3",
    "health", "notify", "schedule",
}
_DB_KEYS = {"name", "dbname", "host", "port", "user", "password", "password_env", "service", "health"}
ZSTD_LEVELS = (1, 22)  # zstd's own range; the library refuses anything above 22 only once a backup starts
ZSTD_MAX_THREADS = 256  # zstd caps its workers there (ZSTDMT_NBWORKERS_MAX); more is surely a typo
PORTS = (1, 65535)
# [backup] key -> (Settings attribute, lowest, highest or None, what the range means)
_BACKUP_NUMBERS: dict[str, tuple[str, int, int | None, str]] = {
    "compression_level": ("compression_level", *ZSTD_LEVELS, " (zstd's range)"),
    "nice": ("dump_nice", 0, 19, " (0: as we run; 19: the lowest priority)"),
    "threads": ("compression_threads", 0, ZSTD_MAX_THREADS, " (0: one per core)"),
    "slowdown": ("compression_slowdown", 0, 50, " (percent over the dump's own time; 0: spare CPU only)"),
    "min_free_bytes": ("min_free_bytes", 0, None, ""),
    "lock_wait_timeout": ("lock_wait_timeout_s", 0, PG_LONGEST_WAIT_S, " (seconds; 0: wait forever)"),
}
# [health] key -> (highest, whole number, 0 allowed): an age limit of 0 would alarm for ever
_HEALTH_NUMBERS: dict[str, tuple[int | None, bool, bool]] = {
    "max_age_hours": (LONGEST_DAYS * 24, False, False), "verify_max_age_days": (LONGEST_DAYS, False, False),
    "min_size_bytes": (None, True, True), "size_change": (None, False, True),
}


def load_settings(config_file: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Merge defaults, the TOML file (``--config`` or ``BACKUP_TUI_CONFIG``) and the environment."""
    env = os.environ if env is None else env
    if config_file is not None and not os.fspath(config_file).strip():
        raise ConfigError("--config is empty: give the TOML file, or leave the option out")
    path_text = os.fspath(config_file) if config_file is not None else _env_text(env, "BACKUP_TUI_CONFIG")
    settings = Settings()
    if path_text:
        path = Path(path_text)
        with _in_file(path):
            settings = _apply_file(settings, path, _read_toml(path), env)
    settings = _apply_env(settings, env)
    with _in_file(settings.config_file):
        _check_passwords(settings.databases, env)
        _check_no_conninfo(settings.databases)
        _check_names(settings.databases)
    return settings


def _check_names(dbs: tuple[DatabaseConfig, ...]) -> None:
    """The database we connect to (dbname, else name) must be one PostgreSQL could have, and no field may hold a
    NUL byte: a NUL ended the backup as "unexpected ValueError: embedded null byte" (the journal and the monitor
    said no more), and a name past 63 bytes as "does not exist on the server"."""
    for index, db in enumerate(dbs):
        check_database_name(db.database, f"databases[{index}].{'dbname' if db.dbname else 'name'}")
        for field_name in ("host", "user", "password", "service"):
            if "\x00" in (getattr(db, field_name) or ""):
                raise ConfigError(f"databases[{index}].{field_name} contains a NUL byte (not shown)")


_CONNINFO = re.compile(r"^[a-z][a-z0-9+.-]*://|(^|\s)(password|host|dbname|user|port)\s*=", re.IGNORECASE)


def _check_no_conninfo(dbs: tuple[DatabaseConfig, ...]) -> None:
    """A connection URI where a name belongs would be taken as a name (the backup fails) and its
    password would reach errors and logs: refuse it, without echoing it."""
    for index, db in enumerate(dbs):
        for field_name in ("name", "dbname", "host", "user", "service"):
            value = getattr(db, field_name)
            if isinstance(value, str) and _CONNINFO.search(value):
                raise ConfigError(f"databases[{index}].{field_name} looks like a connection string (not shown, it "
                                  "may hold a password): give host, port, user and password_env their own fields")


@contextlib.contextmanager
def _in_file(path: Path | None) -> Iterator[None]:
    """Prefix a ConfigError with the file it comes from, so the operator knows where to look."""
    try:
        yield
    except ConfigError as exc:
        if path is None or exc.message.startswith("config file"):
            raise
        raise ConfigError(f"config file {path}: {exc.message}") from None


def _check_passwords(dbs: tuple[DatabaseConfig, ...], env: Mapping[str, str]) -> None:
    """A password_env naming an unset variable would fail later as "authentication failed": say so now.

    Checked after the environment is merged, so BACKUP_DB_PASSWORD still overrides the file.
    """
    for index, db in enumerate(dbs):
        if db.password_env is not None and db.password is None:
            state = "is empty" if db.password_env in env else "is not set"
            raise ConfigError(f"databases[{index}].password_env: {db.password_env} {state}")


MAX_CONFIG_BYTES = 1024 * 1024  # a config is a few kB: past this it is the wrong file (a dump, /dev/zero)


def _read_toml(path: Path) -> dict[str, Any]:
    """The file's settings, read up to a cap: a wrong --config (a dump, /dev/zero) was read whole into memory,
    and /dev/zero took the machine's until the out-of-memory killer ended a process (here, the PostgreSQL)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file {path} is larger than {MAX_CONFIG_BYTES // 1024 // 1024} MiB: "
                              "not a config file (a typo in --config or BACKUP_TUI_CONFIG?)")
        return tomllib.loads(data.decode())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except PermissionError:
        raise ConfigError(f"config file {path} is not readable") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {path} is a folder: give the TOML file in it") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        line = exc.object[:exc.start].count(b"\n") + 1
        raise ConfigError(f"config file {path} is not UTF-8 text (line {line}): TOML files are UTF-8") from None


_KIND_NAMES = {int: "a whole number", str: "a string", dict: "a table", list: "a list"}


def _expect(value: Any, kind: type, where: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{where} must be {_KIND_NAMES.get(kind, kind.__name__)}, not {value!r}")
    return value


def _path_text(value: Any, where: str) -> str:
    """A folder's path; an empty one would silently mean the config file's own folder, so it is refused."""
    text = str(_expect(value, str, where))
    if not text.strip():
        raise ConfigError(f"{where} is empty: give a path (a relative one is relative to the config file; "
                          "\".\" for its own folder)")
    return _one_line_path(text, where)


def _one_line_path(text: str, where: str) -> str:
    """A path with no control character: ``schedule install`` writes paths into a logrotate rule and systemd
    units as root, where a newline in one began a line of its own (a postrotate script, an ExecStartPre=+)."""
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise ConfigError(f"{where} holds a control character (a newline?): {text[:60]!r}")
    return text


def _in_range(value: Any, where: str, low: int, high: int | None = None, meaning: str = "") -> int:
    """A whole number within bounds, so a typo fails at load rather than deep inside a backup."""
    return int(_number(value, where, low, high, meaning))


def _number(value: Any, where: str, low: int, high: int | None = None, meaning: str = "", *,
            whole: bool = True, above: bool = False) -> int | float:
    """``value`` if it is a finite number from ``low`` (past it, with ``above``) to ``high`` (else to
    LARGEST_WHOLE), so a typo fails at load naming its key, not deep in a run: nan compares false with every
    limit (it would never alarm), and 1e20 hours overflows a timedelta. A whole number may come as a float
    without a fraction (1e6 bytes)."""
    kind = "a whole number" if whole else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where} must be {kind}, not {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, not {value!r}")
    if whole and isinstance(value, float) and not value.is_integer():
        raise ConfigError(f"{where} must be a whole number, not {value!r}")
    if value < low or (above and value == low) or value > (LARGEST_WHOLE if high is None else high):
        floor = f"above {low}" if above else f"at least {low}"
        if high is None:
            bounds = f"at most {LARGEST_WHOLE}" if value > LARGEST_WHOLE else floor
        else:
            bounds = f"{floor} and at most {high}" if above else f"between {low} and {high}"
        raise ConfigError(f"{where} must be {bounds}, got {value!r}{meaning}")
    return value


def _apply_file(settings: Settings, path: Path, data: dict[str, Any], env: Mapping[str, str]) -> Settings:
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"config file {path}: unknown key(s) {', '.join(sorted(unknown))}")
    base = path.parent
    changes: dict[str, Any] = {"config_file": path}
    if "repository" in data:
        repo = data["repository"]
        if isinstance(repo, dict):
            repo = repo.get("path")
        changes["repository"] = base / _path_text(repo, "repository")
    if "log_dir" in data:
        changes["log_dir"] = base / _path_text(data["log_dir"], "log_dir")
    if "maintenance_db" in data:
        changes["maintenance_db"] = _expect(data["maintenance_db"], str, "maintenance_db")
        check_database_name(changes["maintenance_db"], "maintenance_db")  # "" connected to the user's namesake
    if "pg_bin_dir" in data:
        changes["pg_bin_dir"] = Path(_expect(data["pg_bin_dir"], str, "pg_bin_dir"))
    retention = _expect(data.get("retention", {}), dict, "[retention]")
    bad = set(retention) - {"daily", "weekly", "monthly", "s3"}
    if bad:
        raise ConfigError(f"config file {path}: unknown key(s) in [retention]: {', '.join(sorted(bad))}")
    changes["retention"] = RetentionConfig(
        **{k: _in_range(v, f"retention.{k}", 0) for k, v in retention.items() if k != "s3"}
    )
    in_bucket = _expect(retention.get("s3", {}), dict, "[retention.s3]")
    bad = set(in_bucket) - {"daily", "weekly", "monthly"}
    if bad:
        raise ConfigError(f"config file {path}: unknown key(s) in [retention.s3]: {', '.join(sorted(bad))}")
    changes["retention_s3"] = replace(settings.retention_s3, **{
        k: _in_range(v, f"retention.s3.{k}", 0) for k, v in in_bucket.items()})
    backup = _expect(data.get("backup", {}), dict, "[backup]")
    bad = set(backup) - set(_BACKUP_NUMBERS)
    if bad:
        raise ConfigError(f"config file {path}: unknown key(s) in [backup]: {', '.join(sorted(bad))}")
    for key, (attr, low, high, meaning) in _BACKUP_NUMBERS.items():
        if key == "compression_level" and isinstance(backup.get(key), str):
            if backup[key] != "auto":
                raise ConfigError(f'backup.compression_level must be a whole number or "auto", got {backup[key]!r}')
            changes[attr] = "auto"
        elif key in backup:
            changes[attr] = _in_range(backup[key], f"backup.{key}", low, high, meaning)
    restore = _expect(data.get("restore", {}), dict, "[restore]")
    if "jobs" in restore:
        changes["restore_jobs"] = _in_range(restore["jobs"], "restore.jobs", 1, 64,
                                            " (1: stream into one pg_restore; more: pg_restore -j N)")
    bad = set(restore) - {"jobs"}
    if bad:
        raise ConfigError(f"config file {path}: unknown key(s) in [restore]: {', '.join(sorted(bad))}")
    if "encryption" in data:
        changes["encryption"] = parse_encryption(data["encryption"], base)
    if "s3" in data:
        changes["s3"] = _s3_from_toml(_expect(data["s3"], dict, "[s3]"))
    if "health" in data:
        changes["health"] = _thresholds(data["health"], "[health]", DEFAULT_THRESHOLDS)
    if "schedule" in data:
        table = _expect(data["schedule"], dict, "[schedule]")
        bad = set(table) - set(SCHEDULE_DEFAULTS)
        if bad:
            raise ConfigError(f"config file {path}: unknown key(s) in [schedule]: {', '.join(sorted(bad))} "
                              f"(jobs: {', '.join(SCHEDULE_DEFAULTS)})")
        for job, expression in table.items():
            problem = check_cron(_expect(expression, str, f"schedule.{job}"), f"schedule.{job}")
            if problem:
                raise ConfigError(problem)
        changes["schedule"] = tuple({**SCHEDULE_DEFAULTS, **table}.items())
    targets = _expect(data.get("notify", []), list, "notify")
    changes["notify"] = tuple(_notify_target(i, entry) for i, entry in enumerate(targets))
    dbs = _expect(data.get("databases", []), list, "databases")
    changes["databases"] = tuple(replace(_database_from_toml(i, entry, env), health=_thresholds(
        entry["health"], f"databases[{i}].health", changes.get("health", DEFAULT_THRESHOLDS)))
        if isinstance(entry, dict) and "health" in entry else _database_from_toml(i, entry, env)
        for i, entry in enumerate(dbs))
    names = [d.name for d in changes["databases"]]
    if len(set(names)) != len(names):
        raise ConfigError(f"config file {path}: database names must be unique")
    problem = _shared_database(changes["databases"])
    if problem:
        raise ConfigError(f"config file {path}: {problem}")
    return replace(settings, **changes)


def _shared_database(databases: Sequence[DatabaseConfig]) -> str | None:
    """Why two entries cannot be told apart, or None. The repository keeps a database's backups, lock and
    retention by the name of the database backed up (``DatabaseConfig.database``), and ``--database`` finds
    an entry by its name or that one: two servers' ``app`` in one file would share one history (one's daily
    backup pruned as the other's) and a restore of either would go to the first entry's server."""
    owner: dict[str, DatabaseConfig] = {}
    for db in databases:
        for key in dict.fromkeys((db.name, db.database)):
            first = owner.setdefault(key, db)
            if first is db:
                continue
            if first.database == db.database:
                return (f"databases {first.name!r} and {db.name!r} both back up a database named {key!r}: one "
                        "repository keeps one history per database name; give each server its own config file "
                        "and repository")
            return (f"{key!r} names databases {first.name!r} and {db.name!r} (one by its name, the other by the "
                    "database it backs up): --database could not tell them apart")
    return None


def _database_from_toml(index: int, entry: Any, env: Mapping[str, str]) -> DatabaseConfig:
    where = f"databases[{index}]"
    _expect(entry, dict, where)
    unknown = set(entry) - _DB_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    if "name" not in entry:
        raise ConfigError(f"{where}: 'name' is required")
    password = entry.get("password")
    var = _expect(entry["password_env"], str, f"{where}.password_env") if "password_env" in entry else None
    if var is not None:
        password = env.get(var) or None  # unset or empty: _check_passwords says so once the env is merged
    port = entry.get("port")
    return DatabaseConfig(
        name=_expect(entry["name"], str, f"{where}.name") or _empty(f"{where}.name"),
        dbname=check_database_name(_expect(entry["dbname"], str, f"{where}.dbname"), f"{where}.dbname")
        if "dbname" in entry else None,
        host=_expect(entry["host"], str, f"{where}.host") if "host" in entry else None,
        port=_in_range(port, f"{where}.port", *PORTS) if port is not None else None,
        user=_expect(entry["user"], str, f"{where}.user") if "user" in entry else None,
        password=_expect(password, str, f"{where}.password") if password is not None else None,
        service=_expect(entry["service"], str, f"{where}.service") if "service" in entry else None,
        password_env=var,
    )


def _empty(where: str) -> str:
    """An empty name was taken, then backed up as a database called '' ("error: : cannot connect ...")."""
    raise ConfigError(f"{where} is empty: give the database's name")


def _thresholds(value: Any, where: str, base: Thresholds) -> Thresholds:
    """A [health] table over ``base`` (a database's table over the file's): each key checked, numbers only."""
    table = _expect(value, dict, where)
    bad = set(table) - set(_HEALTH_NUMBERS)
    if bad:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(bad))} "
                          f"(known: {', '.join(sorted(_HEALTH_NUMBERS))})")
    changes: dict[str, Any] = {}
    for key, number in table.items():
        high, whole, zero = _HEALTH_NUMBERS[key]
        checked = _number(number, f"{where}.{key}", 0, high, whole=whole, above=not zero)
        changes[key] = int(checked) if whole else float(checked)
    return replace(base, **changes)


def _notify_target(index: int, entry: Any) -> NotifyTarget:
    """A [[notify]] table; its URL is never echoed in an error (it holds the credentials)."""
    where = f"notify[{index}]"
    _expect(entry, dict, where)
    bad = set(entry) - {"url", "events", "reminder_hours"}
    if bad:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(bad))}")
    url = entry.get("url")
    if not isinstance(url, str) or "://" not in url:
        raise ConfigError(f"{where}.url must be an apprise URL (scheme://...; not shown, it may hold a token)")
    events = entry.get("events", ["failure", "recovery"])
    if not isinstance(events, list) or not events or any(e not in EVENTS for e in events):
        raise ConfigError(f"{where}.events must be a list of: {', '.join(EVENTS)}")
    reminder = _number(entry.get("reminder_hours", 24), f"{where}.reminder_hours", 0, LONGEST_DAYS * 24,
                       whole=False, above=True)
    return NotifyTarget(url=url, events=tuple(dict.fromkeys(events)), reminder_hours=float(reminder))


def _env_notify(targets: tuple[NotifyTarget, ...], env: Mapping[str, str]) -> tuple[NotifyTarget, ...]:
    """The old scripts' names: SLACK_WEBHOOK_URL (posted to as Slack expects) and BACKUP_NOTIFY_EMAIL (over
    SMTP at BACKUP_SMTP_HOST, default localhost:25), both for failures and recoveries."""
    added = []
    webhook = env.get("SLACK_WEBHOOK_URL")
    if webhook:
        if not webhook.startswith(("https://", "http://")):
            raise ConfigError("SLACK_WEBHOOK_URL must be an https:// (or http://) URL (not shown: it holds a token)")
        added.append(NotifyTarget(url=webhook, kind="slack", label=f"Slack webhook {redact_url(webhook)}"))
    address = env.get("BACKUP_NOTIFY_EMAIL")
    if address:
        host, _, port = (env.get("BACKUP_SMTP_HOST") or "localhost").partition(":")
        user, password = env.get("BACKUP_SMTP_USER", ""), env.get("BACKUP_SMTP_PASSWORD", "")
        sender = env.get("BACKUP_SMTP_FROM") or f"backup-tui@{host}"
        login = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user else ""
        query = urlencode({"to": address, "from": sender, "smtp": host})
        url = f"{'mailtos' if user else 'mailto'}://{login}{host}:{port or 25}?{query}"
        ca = _env_text(env, "BACKUP_SMTP_CA_FILE")
        if ca is not None and not Path(ca).is_file():
            raise ConfigError(f"BACKUP_SMTP_CA_FILE: {ca} is not a readable file (the mail server's CA, PEM)")
        added.append(NotifyTarget(url=url, kind="smtp", label=f"email to {address} via {host}:{port or 25}",
                                  ca_file=Path(ca) if ca else None))
    return (*targets, *added)


def _env_text(env: Mapping[str, str], name: str) -> str | None:
    """A variable's value, None when unset. Set but empty is refused, as an empty path in the file is: an unset
    shell variable in a cron line (BACKUP_DIR=$DIR) would bring back the default unseen, backups and all."""
    raw = env.get(name)
    if raw is not None and not raw.strip():
        raise ConfigError(f"{name} is set but empty: give a value or unset it")
    return raw


def _env_int(env: Mapping[str, str], name: str, low: int = 0, high: int | None = None) -> int | None:
    """A whole number from the environment, held to the same bounds as the file's; None when unset."""
    raw = _env_text(env, name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    return _in_range(value, name, low, high)


def _apply_env(settings: Settings, env: Mapping[str, str]) -> Settings:
    changes: dict[str, Any] = {}
    for var, attr in (("BACKUP_DIR", "repository"), ("LOG_DIR", "log_dir")):
        folder = _env_text(env, var)
        if folder is not None:
            changes[attr] = Path(_one_line_path(folder, var))
    retention = settings.retention
    for var, attr in (("BACKUP_RETENTION_DAYS", "daily"), ("BACKUP_RETENTION_WEEKS", "weekly"),
                      ("BACKUP_RETENTION_MONTHS", "monthly")):
        value = _env_int(env, var)
        if value is not None:
            retention = replace(retention, **{attr: value})
    changes["retention"] = retention
    identity = _env_text(env, IDENTITY_VARIABLE)
    if identity is not None:
        changes["encryption"] = replace(settings.encryption, identity_file=identity_path(identity, IDENTITY_VARIABLE))
    changes["databases"] = _env_databases(settings.databases, env)
    changes["s3"] = _s3_from_env(settings.s3, env)
    changes["notify"] = _env_notify(settings.notify, env)
    return replace(settings, **changes)


def _env_databases(dbs: tuple[DatabaseConfig, ...], env: Mapping[str, str]) -> tuple[DatabaseConfig, ...]:
    """Apply BACKUP_DB_* to the database they name (or the only one), adding it if new. A variable the file
    names as a database's ``password_env`` is that database's, not an override of them all: read as one, it
    made a file of several databases fail for want of BACKUP_DB_NAME."""
    overrides: dict[str, Any] = {}
    named = {db.password_env for db in dbs}
    for var, attr in (("BACKUP_DB_HOST", "host"), ("BACKUP_DB_USER", "user"), ("BACKUP_DB_PASSWORD", "password")):
        if env.get(var) and var not in named:
            overrides[attr] = env[var]
    port = _env_int(env, "BACKUP_DB_PORT", *PORTS)
    if port is not None:
        overrides["port"] = port
    name = env.get("BACKUP_DB_NAME") or None
    if name is None and not overrides:
        if not dbs and env.get("PGDATABASE"):
            return (DatabaseConfig(name=env["PGDATABASE"]),)
        return dbs
    if name is None:
        if len(dbs) == 1:
            return (replace(dbs[0], **overrides),)
        if not dbs and env.get("PGDATABASE"):
            return (DatabaseConfig(name=env["PGDATABASE"], **overrides),)
        raise ConfigError("BACKUP_DB_* variables are set but BACKUP_DB_NAME is not, and the config has "
                          f"{len(dbs)} databases: set BACKUP_DB_NAME to say which one they apply to")
    for i, db in enumerate(dbs):
        if name in (db.name, db.database):
            return (*dbs[:i], replace(db, **overrides), *dbs[i + 1:])
    return (*dbs, DatabaseConfig(name=name, **overrides))


def exposed_password(settings: Settings) -> str | None:
    """A config file holding a password (inline ``password =``) that group or others can read: the one line
    ``config check`` warns with, naming the fix; None when there is nothing to say."""
    path = settings.config_file
    if path is None:
        return None
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        entries = _read_toml(path).get("databases", [])
    except (OSError, ConfigError):
        return None
    if not isinstance(entries, list) or not any(isinstance(e, dict) and "password" in e for e in entries):
        return None
    readers = [who for who, bit in (("group", stat.S_IRGRP), ("others", stat.S_IROTH)) if mode & bit]
    if not readers:
        return None
    return (f"config file {path} holds a password and is readable by {' and '.join(readers)} (mode {mode:04o}): "
            f"chmod 600 {path}, or move the password to password_env")


def redacted(settings: Settings) -> dict[str, Any]:
    """The merged settings as plain data, secrets replaced, for ``config show``."""
    return {
        "config_file": str(settings.config_file) if settings.config_file else None,
        "repository": str(settings.repository),
        "log_dir": str(settings.logs),
        "retention": {
            "daily": settings.retention.daily,
            "weekly": settings.retention.weekly,
            "monthly": settings.retention.monthly,
        },
        "backup": {
            "compression": "zstd",
            "compression_level": settings.compression_level,
            "threads": settings.compression_threads or len(os.sched_getaffinity(0)),
            "nice": settings.dump_nice,
            "slowdown": settings.compression_slowdown,
            "min_free_bytes": settings.min_free_bytes,
            "lock_wait_timeout": settings.lock_wait_timeout_s,
        },
        "restore": {"jobs": settings.restore_jobs},
        "encryption": {
            "recipients": list(settings.encryption.recipients),
            "identity_file": str(settings.encryption.identity_file) if settings.encryption.identity_file else None,
        },
        "s3": settings.s3.shown() if settings.s3 else None,
        "retention_s3": {"daily": settings.retention_s3.daily, "weekly": settings.retention_s3.weekly,
                         "monthly": settings.retention_s3.monthly} if settings.s3 else None,
        "health": asdict(settings.health),
        "schedule": dict(settings.schedule),
        "notify": [{"url": t.shown, "events": list(t.events), "reminder_hours": t.reminder_hours}
                   for t in settings.notify],
        "maintenance_db": settings.maintenance_db,
        "pg_bin_dir": str(settings.pg_bin_dir) if settings.pg_bin_dir else None,
        "databases": [
            {
                "name": db.name,
                "dbname": db.database,
                "host": db.host or os.environ.get("PGHOST") or "(libpq default)",
                "port": db.port or os.environ.get("PGPORT") or "(libpq default)",
                "user": db.user or os.environ.get("PGUSER") or "(libpq default)",
                "password": REDACTED if db.password else "(not set: libpq PGPASSWORD/PGPASSFILE)",
                "service": db.service,
                "health": asdict(settings.thresholds(db.name)),
            }
            for db in settings.databases
        ],
    }
