"""backup-headless: the command-line face of the engine, for cron and systemd."""
