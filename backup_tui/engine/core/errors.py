"""One exception tree. Each error carries a one-line message for people and an exit code."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3
EXIT_VERIFY = 4


class BackupToolError(Exception):
    """Base: the operation failed (exit 1). ``str(err)`` is safe to show: no secrets."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(BackupToolError):
    """Bad configuration, bad input or wrong credentials: exit 2."""

    exit_code = EXIT_USAGE


class NotFoundError(ConfigError):
    """An id or database that does not exist: exit 2."""


class LockHeldError(BackupToolError):
    """Another run holds the lock for this database: exit 3."""

    exit_code = EXIT_LOCKED


class VerificationError(BackupToolError):
    """A backup failed verification (corrupt, truncated, altered): exit 4."""

    exit_code = EXIT_VERIFY


class ConnectionFailed(BackupToolError):
    """The server could not be reached: exit 1 (may be transient)."""


class ServerFailed(BackupToolError):
    """The server failed under a tool (closed the connection, ran out of space or memory, shut down): exit 1.
    It says nothing of the data the tool was loading."""


class AuthenticationFailed(ConfigError):
    """The server refused our credentials: exit 2 (fix the configuration)."""


class SpaceError(BackupToolError):
    """Not enough free space for the operation: exit 1."""


class Cancelled(BackupToolError):
    """The operation was cancelled by the user; what it left behind is cleaned up."""


class ConfirmationRequired(ConfigError):
    """A destructive step needs --yes when no terminal is attached."""
