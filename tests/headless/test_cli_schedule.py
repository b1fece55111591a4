"""``backup-headless schedule``: the next runs, cron and systemd files installed into a temporary root (checked
by systemd-analyze where it is present), and uninstalled leaving nothing; a first backup at install."""

from __future__ import annotations

import fnmatch
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pyrage
import pytest

from backup_tui.engine.core.schedule import check_cron, logrotate_rule, next_runs, on_calendar
from tests.conftest import Bucket, run_cli
from tests.headless.conftest import WorkspaceFactory


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "backup.toml"
    config.write_text(f'repository = "{tmp_path / "repo"}"\n[[databases]]\nname = "app"\n'
                      '[schedule]\nbackup = "30 1 * * *"\nmonitor = "*/15 * * * *"\n')
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "BACKUP_", "LOG_DIR"))}
    return {**base, "BACKUP_TUI_CONFIG": str(config)}


def _files(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in sorted(root.rglob("*")) if p.is_file()}


def test_show_gives_each_job_and_its_next_five_runs(env: dict[str, str]) -> None:
    shown = run_cli(["schedule", "show", "--json"], env)
    assert shown.returncode == 0, shown.stderr
    jobs = {item["job"]: item for item in json.loads(shown.stdout)}
    assert {name: job["cron"] for name, job in jobs.items()} == {
        "backup": "30 1 * * *", "verify": "0 6 * * 0", "monitor": "*/15 * * * *"}
    assert [c[1:] for c in jobs["backup"]["commands"]] == [["backup"], ["prune"]]
    after = datetime.fromisoformat(jobs["verify"]["next"][0])
    assert after.weekday() == 6 and (after.hour, after.minute) == (6, 0)
    assert jobs["verify"]["next"][1:] == [m.isoformat() for m in next_runs("0 6 * * 0", after, 4)]
    text = run_cli(["schedule", "show"], env).stdout
    assert "monitor  */15 * * * *" in text and text.count("next: ") == 3


def test_a_host_that_encrypts_without_the_key_is_scheduled_the_verify_it_can_run(env: dict[str, str],
                                                                                 tmp_path: Path) -> None:
    # A full verify --all refuses on such a host before it checks anything (exit 2): every week, nothing checked
    identity = pyrage.x25519.Identity.generate()
    config = Path(env["BACKUP_TUI_CONFIG"])
    config.write_text(config.read_text() + f'[encryption]\nrecipients = ["{identity.to_public()}"]\n')
    shown = run_cli(["schedule", "show", "--json"], env)
    assert shown.returncode == 0, shown.stderr
    [verify] = [item for item in json.loads(shown.stdout) if item["job"] == "verify"]
    assert [c[1:] for c in verify["commands"]] == [["verify", "--all", "--quick"]]
    assert "the test restore runs where the key is" in run_cli(["schedule", "show"], env).stdout

    key = tmp_path / "backup.key"
    key.write_text(f"{identity}\n")
    key.chmod(0o600)
    holder = run_cli(["schedule", "show", "--json"], {**env, "BACKUP_ENCRYPTION_IDENTITY_FILE": str(key)})
    [verify] = [item for item in json.loads(holder.stdout) if item["job"] == "verify"]
    assert [c[1:] for c in verify["commands"]] == [["verify", "--all"]]  # the key holder runs the test restores


def test_cron_install_writes_its_files_and_uninstall_leaves_nothing(env: dict[str, str], tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    dry = run_cli(["schedule", "install", "--cron", "--root", str(root), "--dry-run"], env)
    assert dry.returncode == 0 and "would write" in dry.stdout and _files(root) == {}
    done = run_cli(["schedule", "install", "--cron", "--root", str(root), "--no-test-backup", "--user", "backup"], env)
    assert done.returncode == 0, done.stderr
    assert _files(root) == {"etc/backup-tui/backup-tui.env": 0o600, "etc/backup-tui/installed-cron.json": 0o600,
                            "etc/cron.d/backup-tui": 0o644, "etc/logrotate.d/backup-tui": 0o644}
    cron = (root / "etc/cron.d/backup-tui").read_text().splitlines()
    [backup_line] = [line for line in cron if line.startswith("30 1 * * * backup ")]
    assert backup_line.endswith("backup-headless backup && " + backup_line.split("&& ")[1])
    assert ". /etc/backup-tui/backup-tui.env;" in backup_line
    # cron mails any output: the hourly health check's line is mailed only when it is not OK
    [monitor_line] = [line for line in cron if line.startswith("*/15 * * * * backup ")]
    assert monitor_line.endswith("backup-headless monitor --check | grep -v '^OK - '")
    for said, mailed in (("OK - every database healthy\n", ""), ("CRITICAL - app: no backup\n", "CRITICAL")):
        shown = subprocess.run(["sh", "-c", "printf '%s' \"$1\" | grep -v '^OK - '", "-", said],
                               capture_output=True, text=True, check=False)
        assert shown.stdout.startswith(mailed) and (shown.stdout == "") == (not mailed)
    assert f"BACKUP_TUI_CONFIG={env['BACKUP_TUI_CONFIG']}" in (root / "etc/backup-tui/backup-tui.env").read_text()
    assert "su backup backup" in (root / "etc/logrotate.d/backup-tui").read_text()
    if os.geteuid() == 0:  # Debian's backup user reads it, as cron runs the job as that user
        assert (root / "etc/backup-tui/backup-tui.env").stat().st_uid == pwd.getpwnam("backup").pw_uid
    again = run_cli(["schedule", "uninstall", "--cron", "--root", str(root)], env)
    assert again.returncode == 0, again.stderr
    assert list(root.iterdir()) == []  # the folders it made went with the files


def test_one_kind_of_jobs_at_a_time_and_only_for_a_user_that_exists(env: dict[str, str], tmp_path: Path) -> None:
    """Installed with --cron and then --systemd, every job ran twice, and uninstalling one kind removed the env
    file the other reads. A user that does not exist was taken at its word."""
    root = tmp_path / "root"
    root.mkdir()
    install = ["schedule", "install", "--root", str(root), "--no-test-backup"]
    assert run_cli([*install, "--cron"], env).returncode == 0
    twice = run_cli([*install, "--systemd"], env)
    assert twice.returncode == 2 and "installed with --cron: run schedule uninstall --cron first" in twice.stderr
    assert run_cli(["schedule", "uninstall", "--cron", "--root", str(root)], env).returncode == 0
    nobody = run_cli([*install, "--cron", "--user", "no-such-user-here"], env)
    assert nobody.returncode == 2 and "--user no-such-user-here: no such user" in nobody.stderr
    assert list(root.iterdir()) == []


def test_the_env_file_carries_libpqs_variables_and_no_other_pg_named_ones(env: dict[str, str],
                                                                          tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    shell = {**env, "PGHOST": "db1.internal", "PGSSLMODE": "verify-full", "PGDATA": "/var/lib/postgresql/15/main",
             "PG_VERSION": "15", "PGADMIN_DEFAULT_EMAIL": "ops@example.com"}
    done = run_cli(["schedule", "install", "--cron", "--root", str(root), "--no-test-backup"], shell)
    assert done.returncode == 0, done.stderr
    names = {line.split("=", 1)[0] for line in (root / "etc/backup-tui/backup-tui.env").read_text().splitlines()
             if "=" in line and not line.startswith("#")}
    assert {"PGHOST", "PGSSLMODE", "BACKUP_TUI_CONFIG"} <= names
    assert not {"PGDATA", "PG_VERSION", "PGADMIN_DEFAULT_EMAIL"} & names


def test_the_env_file_carries_what_a_scheduled_run_needs_and_a_preview_shows_no_secret(
    env: dict[str, str], tmp_path: Path,
) -> None:
    """A database's password_env and the old scripts' S3_* names were left out: the install's own test backup
    passed (it ran in the installing shell) and every scheduled run failed. A dry run printed every password."""
    config = Path(env["BACKUP_TUI_CONFIG"])
    config.write_text(config.read_text().replace('name = "app"\n', 'name = "app"\npassword_env = "APP_DB_PW"\n'))
    root = tmp_path / "root"
    root.mkdir()
    shell = {**env, "APP_DB_PW": "db-secret-1", "BACKUP_ENABLE_S3": "true", "S3_BUCKET": "b",
             "S3_ACCESS_KEY": "AKIAEXAMPLE", "S3_SECRET_KEY": "s3-secret-2", "SLACK_WEBHOOK_URL": "https://hooks.example/T0/B0/slack-secret-3",
             "BACKUP_X;touch /tmp/pwned;Y": "1"}
    dry = run_cli(["schedule", "install", "--cron", "--root", str(root), "--no-test-backup", "--dry-run"], shell)
    assert dry.returncode == 0, dry.stderr
    assert not any(secret in dry.stdout for secret in ("db-secret-1", "s3-secret-2", "slack-secret-3"))
    assert "APP_DB_PW=********" in dry.stdout and "S3_BUCKET=b" in dry.stdout
    assert run_cli(["schedule", "install", "--cron", "--root", str(root), "--no-test-backup"], shell).returncode == 0
    written = (root / "etc/backup-tui/backup-tui.env").read_text()
    assert {"APP_DB_PW=db-secret-1", "S3_BUCKET=b", "BACKUP_ENABLE_S3=true"} <= set(written.splitlines())
    assert "touch" not in written  # a name no shell takes for a variable is left out, not run
    assert stat.S_IMODE((root / "etc/backup-tui").stat().st_mode) == 0o755  # a job run as --user enters it


def test_a_path_with_a_newline_never_reaches_the_files_root_reads(env: dict[str, str], tmp_path: Path) -> None:
    """log_dir is written into logrotate's rule and repository into systemd's units, read as root: a newline in one
    began a postrotate script or an ExecStartPre=+ of its own."""
    config = Path(env["BACKUP_TUI_CONFIG"])
    config.write_text('log_dir = "/tmp/x\\n    postrotate\\n        touch /tmp/pwned"\n' + config.read_text())
    done = run_cli(["schedule", "install", "--cron", "--root", str(tmp_path), "--dry-run"], env)
    assert done.returncode == 2 and "log_dir holds a control character" in done.stderr, done.stderr
    config.write_text(config.read_text().split("\n", 1)[1])
    quoted = run_cli(["schedule", "install", "--cron", "--root", str(tmp_path), "--dry-run"],
                     {**env, "LOG_DIR": str(tmp_path / "my logs")})
    assert f'"{tmp_path}/my logs/backup-headless-*.log" {{' in quoted.stdout, quoted.stdout


def test_systemd_units_pass_systemd_analyze_and_their_calendar_matches_cron(env: dict[str, str],
                                                                            tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    done = run_cli(["schedule", "install", "--systemd", "--root", str(root), "--no-test-backup"], env)
    assert done.returncode == 0, done.stderr
    assert "systemctl enable --now backup-tui-backup.timer" in done.stdout
    units = root / "etc/systemd/system"
    service = (units / "backup-tui-backup.service").read_text()
    for line in ("Persistent=true", "RandomizedDelaySec=300"):
        assert line in (units / "backup-tui-backup.timer").read_text()
    for line in ("NoNewPrivileges=true", "ProtectSystem=strict", "PrivateTmp=true",
                 f"ReadWritePaths={tmp_path / 'repo'} {tmp_path / 'repo' / 'logs'}", "ExecStartPost="):
        assert line in service
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    checked = subprocess.run(["systemd-analyze", "verify", *map(str, sorted(units.iterdir()))], capture_output=True,
                             text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    shown = {j["job"]: j for j in json.loads(run_cli(["schedule", "show", "--json"], env).stdout)}
    for job in ("backup", "verify", "monitor"):
        calendar = subprocess.run(["systemd-analyze", "calendar", "--iterations=5", on_calendar(shown[job]["cron"])],
                                  capture_output=True, text=True, check=True).stdout
        elapses = [line.split(":", 1)[1].strip() for line in calendar.splitlines()
                   if "Next elapse" in line or line.strip().startswith("Iter.")]
        cron_said = [datetime.fromisoformat(m).strftime("%a %Y-%m-%d %H:%M:%S") for m in shown[job]["next"]]
        assert [e.rsplit(" ", 1)[0] for e in elapses] == cron_said, (job, elapses)
    assert run_cli(["schedule", "uninstall", "--systemd", "--root", str(root)], env).returncode == 0
    assert list(root.iterdir()) == []


def test_install_never_overwrites_a_file_it_did_not_write_and_uninstall_leaves_an_edited_one(
        env: dict[str, str], tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/cron.d").mkdir(parents=True)
    (root / "etc/cron.d/backup-tui").write_text("0 0 * * * root /usr/local/bin/someone-elses\n")
    (root / "etc/cron.d/other").write_text("# another package's\n")
    refused = run_cli(["schedule", "install", "--cron", "--root", str(root), "--no-test-backup"], env)
    assert refused.returncode == 2 and "was not written by schedule install" in refused.stderr
    (root / "etc/cron.d/backup-tui").unlink()
    assert run_cli(["schedule", "install", "--cron", "--root", str(root), "--no-test-backup"], env).returncode == 0
    (root / "etc/logrotate.d/backup-tui").write_text("/var/log/other/*.log { weekly }\n")  # someone's own now
    left = run_cli(["schedule", "uninstall", "--cron", "--root", str(root)], env)
    assert left.returncode == 1 and "left " in left.stderr
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == [
        "etc", "etc/cron.d", "etc/cron.d/other", "etc/logrotate.d", "etc/logrotate.d/backup-tui"]  # cron.d was there


def test_install_takes_a_first_backup(make_workspace: WorkspaceFactory, tmp_path: Path) -> None:
    ws = make_workspace("schedule")
    root = tmp_path / "root"
    root.mkdir()
    done = ws.run("schedule", "install", "--cron", "--root", str(root))
    assert done.returncode == 0, done.stderr
    assert "first backup " in done.stdout
    listed = json.loads(ws.run("list", "--json").stdout)
    assert len(listed) == 1 and listed[0]["database"] == ws.database
    assert f"BACKUP_DB_NAME={ws.database}" in (root / "etc/backup-tui/backup-tui.env").read_text()


def _logrotate(rule: Path, state: Path, months_later: bool) -> None:
    """One daily logrotate run; ``months_later``: as if each file it knows was last looked at months ago."""
    if months_later:
        lines = state.read_text().splitlines()
        state.write_text("\n".join([lines[0], *(f"{line.rsplit(' ', 1)[0]} 2000-1-1-0:0:0" for line in lines[1:])])
                         + "\n")
    subprocess.run(["logrotate", "-s", str(state), str(rule)], check=True, capture_output=True)


def test_logrotate_removes_each_run_log_a_month_after_compressing_it(tmp_path: Path) -> None:
    """A run's log is never written again: logrotate compressed it once, and as it removes old copies only while it
    rotates the log itself, which is gone, every ``.log.1.gz`` stayed for ever. The rule rotates those away too."""
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o700)
    text = logrotate_rule(str(logs), "root")
    rotated = "backup-headless-20250101T020000Z-backup-11.log.1.gz"
    stanzas = re.findall(r'"([^"]+)" \{(.*?)\}', text, re.DOTALL)
    [body] = [body for pattern, body in stanzas if fnmatch.fnmatch(str(logs / rotated), pattern)]
    assert "rotate 0" in body and "compress\n" not in body  # removed, not kept as a .gz of a .gz
    if shutil.which("logrotate") is None:
        return
    rule, state = tmp_path / "rule", tmp_path / "state"
    rule.write_text(text)
    (logs / "backup-headless-20250101T020000Z-backup-11.log").write_text("a run\n")
    _logrotate(rule, state, months_later=False)  # first seen
    _logrotate(rule, state, months_later=True)
    assert [p.name for p in logs.iterdir()] == [rotated]  # a month on: compressed
    _logrotate(rule, state, months_later=False)  # its copy first seen
    _logrotate(rule, state, months_later=True)
    assert list(logs.iterdir()) == []  # the month after: gone


def test_cron_expressions_in_systemds_words() -> None:
    assert on_calendar("*/15 * * * *") == "*-*-* *:0/15:00"
    assert on_calendar("0 6 * * 0") == "Sun *-*-* 6:0:00"
    assert on_calendar("30 2 * * 1-5") == "Mon,Tue,Wed,Thu,Fri *-*-* 2:30:00"
    assert on_calendar("0 3 1,15 * *") == "*-*-1,15 3:0:00"
    with pytest.raises(ValueError, match="both a day of the month and a weekday"):
        on_calendar("0 3 1 * 1")


@pytest.mark.parametrize(("cron", "calendar"), [
    ("0 2 * * 0-6", "Mon,Tue,Wed,Thu,Fri,Sat,Sun *-*-* 2:0:00"),  # was "Sun..Sat": systemd refused it
    ("0 3 * * 5-7", "Fri,Sat,Sun *-*-* 3:0:00"),
    ("0 3 * * sun,mon", "Mon,Sun *-*-* 3:0:00"),
    ("0 2 */3 * *", "*-*-1/3 2:0:00"),  # was "*-*-0/3": there is no day 0
    ("0 2 * jan *", "*-1-* 2:0:00"),  # was "*-jan-*"
    ("0 4 1 */2 *", "*-1/2-1 4:0:00"),
])
def test_cron_expressions_systemd_would_refuse_in_their_first_words(cron: str, calendar: str) -> None:
    assert on_calendar(cron) == calendar
    if shutil.which("systemd-analyze"):
        checked = subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True, text=True,
                                 check=False)
        assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(("cron", "said"), [
    ("0 2 * * L", "'L' is no weekday cron knows"),
    ("0 2 * * thursday", "'thursday' is no weekday cron knows"),
    ("0 2 * mon *", "'mon' is no month cron knows"),
    ("0\n2 * * *", "runs over more than one line"),
])
def test_a_schedule_word_cron_does_not_know_is_refused(cron: str, said: str) -> None:
    assert said in (check_cron(cron, "schedule.backup") or "")


@pytest.mark.parametrize(("cron", "said"), [
    ("0 25 * * 0", "hour 25 is outside 0-23"),
    ("61 1 * * *", "minute 61 is outside 0-59"),
    ("0 1 0 * *", "day 0 is outside 1-31"),
    ("0 1 * 13 *", "month 13 is outside 1-12"),
    ("0 1 * * 8", "weekday 8 is outside 0-7"),
])
def test_a_schedule_number_out_of_its_range_is_a_one_line_config_error(tmp_path: Path, cron: str, said: str) -> None:
    """Caught at the config's load (exit 2), where the app's dashboard once failed reckoning its next run."""
    config = tmp_path / "backup.toml"
    config.write_text(f'repository = "{tmp_path / "repo"}"\n[[databases]]\nname = "app"\n'
                      f'[schedule]\nbackup = "{cron}"\n')
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "BACKUP_", "LOG_DIR"))}
    done = run_cli(["schedule", "show"], {**base, "BACKUP_TUI_CONFIG": str(config)})
    assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_schedule_no_date_matches_never_runs_and_says_so(tmp_path: Path) -> None:
    """The 30th of February: valid numbers, no date. Its next runs are none (the app and schedule show say 'never',
    where show printed an empty "next:"), not an error on the dashboard; steps count, they are not values ("*/90"
    is every 90th minute, that is at 0)."""
    assert next_runs("0 0 30 2 *", datetime(2026, 1, 1)) == []
    assert next_runs("*/90 1 * * *", datetime(2026, 1, 1), 1) == [datetime(2026, 1, 1, 1, 0)]
    config = tmp_path / "backup.toml"
    config.write_text(f'repository = "{tmp_path / "repo"}"\n[[databases]]\nname = "app"\n'
                      '[schedule]\nbackup = "0 0 30 2 *"\n')
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "BACKUP_", "LOG_DIR"))}
    shown = run_cli(["schedule", "show"], {**base, "BACKUP_TUI_CONFIG": str(config)})
    assert shown.returncode == 0 and "next: never (no date matches)" in shown.stdout.splitlines()[2], shown.stdout


def test_root_installing_for_another_user_takes_the_first_backup_as_that_user(make_workspace: WorkspaceFactory,
                                                                               tmp_path: Path) -> None:
    """Taken as root, the first backup made the repository's folders root's alone: install said "ok" and every
    scheduled run as --user failed. Run as the user, it meets what cron will meet (here: this test's interpreter,
    which that user cannot reach) and says so, leaving the repository as it was."""
    if os.geteuid() != 0:
        pytest.skip("only root installs for another user")
    ws = make_workspace("schedule-as")
    root = tmp_path / "root"
    root.mkdir()
    done = ws.run("schedule", "install", "--cron", "--root", str(root), "--user", "nobody")
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith("error: first backup, run as nobody as the schedule will run it: ") and \
        "could not be started: Permission denied" in line and "installed all the same" in line, line
    assert (root / "etc/cron.d/backup-tui").exists()
    assert not ws.repo.exists() or not any(ws.repo.iterdir()), "nothing was made as root"


def test_install_takes_the_first_backup_as_the_job_does_uploaded_to_the_bucket(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket, tmp_path: Path,
) -> None:
    """Taken as the backup job takes it (its command), the first backup is uploaded too: taken in the installing
    process it was left local, tested nothing of the bucket, and the health warned of no copy outside this machine."""
    ws = make_workspace("schedule-s3")
    ws.env.update(s3_bucket.env())
    root = tmp_path / "root"
    root.mkdir()
    done = ws.run("schedule", "install", "--cron", "--root", str(root))
    assert done.returncode == 0, done.stderr
    [listed] = ws.json("list")
    assert listed["locations"] == ["local", "s3"]
    assert f"first backup {listed['id']}: ok (local and s3)" in done.stdout
    assert "not_remote" not in ws.run("monitor", "--json", "--no-notify").stdout


def test_the_env_file_names_folders_and_files_as_absolute_paths(env: dict[str, str], tmp_path: Path) -> None:
    """A relative BACKUP_DIR (or LOG_DIR, identity file, pgpass) was copied into the env file as typed: the job runs
    from / (cron: the user's home), so it backed up into another folder than the one the install named in
    ReadWritePaths and logrotate, and its own first backup (run from /) went there too."""
    config = Path(env["BACKUP_TUI_CONFIG"])
    config.write_text(config.read_text().replace(f'repository = "{tmp_path / "repo"}"\n', ""))
    (tmp_path / "backup.key").write_text("")
    root = tmp_path / "root"
    root.mkdir()
    shell = {**env, "BACKUP_DIR": "backups", "LOG_DIR": "./logs", "BACKUP_ENCRYPTION_IDENTITY_FILE": "backup.key",
             "PGPASSFILE": "pgpass"}
    done = subprocess.run([sys.executable, "-m", "headless", "schedule", "install", "--systemd", "--root", str(root),
                           "--no-test-backup"], env=shell, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    written = (root / "etc/backup-tui/backup-tui.env").read_text().splitlines()
    assert {f"BACKUP_DIR={tmp_path / 'backups'}", f"LOG_DIR={tmp_path / 'logs'}",
            f"BACKUP_ENCRYPTION_IDENTITY_FILE={tmp_path / 'backup.key'}", f"PGPASSFILE={tmp_path / 'pgpass'}"} \
        <= set(written)
    unit = (root / "etc/systemd/system/backup-tui-backup.service").read_text()
    assert f"ReadWritePaths={tmp_path / 'backups'} {tmp_path / 'logs'}" in unit


def test_a_root_that_does_not_exist_is_said_so(env: dict[str, str], tmp_path: Path) -> None:
    missing = run_cli(["schedule", "install", "--cron", "--root", str(tmp_path / "nowhere"), "--dry-run"], env)
    assert missing.returncode == 2 and f"--root {tmp_path / 'nowhere'} does not exist" in missing.stderr, missing.stderr
    (tmp_path / "a-file").write_text("")
    a_file = run_cli(["schedule", "install", "--cron", "--root", str(tmp_path / "a-file"), "--dry-run"], env)
    assert a_file.returncode == 2 and "is not a folder" in a_file.stderr, a_file.stderr
