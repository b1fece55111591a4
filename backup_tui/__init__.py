"""backup-tui: PostgreSQL backups with one engine, a terminal app and a headless runner."""

__version__ = "0.1.0"
