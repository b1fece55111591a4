"""S3 as a second repository, end to end: backup-headless as cron runs it against moto's server over HTTP,
configured with the old scripts' environment names. Keys that stop working cost the upload, not the backup; a
bucket out of reach is said with the seconds actually waited; s3 init refuses an object lock it cannot set as asked."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.conftest import Bucket, closed_port
from tests.headless.conftest import Workspace, WorkspaceFactory, bulky_workspace, one_error_line
from tests.headless.test_cli_encryption import new_key
from tests.headless.test_cli_legacy import old_script_backup

TABLES = ("actor", "film", "rental", "payment")


def use_bucket(ws: Workspace, bucket: Bucket, settings: str, *, endpoint: str | None = None) -> None:
    """Point ``ws`` at ``bucket`` with a config file: ``[s3]`` with ``settings`` (TOML lines after it,
    other tables too); the keys come from the old scripts' variables, as an env file gives them."""
    server = bucket.server
    config = ws.write("s3.toml", f'[s3]\nbucket = "{bucket.name}"\nendpoint_url = "{endpoint or server.url}"\n'
                                 + settings)
    ws.env.update(BACKUP_TUI_CONFIG=str(config), S3_ACCESS_KEY=server.access_key, S3_SECRET_KEY=server.secret_key)


def counts(ws_psql: object, database: str) -> dict[str, str]:
    assert callable(ws_psql)
    return {t: str(ws_psql(f"SELECT count(*) FROM {t}", database)) for t in TABLES}


def test_backup_uploads_and_a_host_with_an_empty_repository_lists_verifies_and_restores_from_s3(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket, tmp_path: Path,
) -> None:
    ws = make_workspace("s3-roundtrip")
    ws.env.update(s3_bucket.env())
    made = ws.backup()
    assert made["uploaded"] == [made["id"]] and made["locations"] == ["local", "s3"]  # where it is once sent
    folder = f"{ws.database}/{made['created_at'][:4]}/{made['created_at'][5:7]}/{made['created_at'][8:10]}/{made['id']}"
    assert s3_bucket.objects() == [f"{folder}/{made['id']}.dump.zst", f"{folder}/{made['id']}.dump.zst.sha256",
                                f"{folder}/manifest.json"]
    assert ws.item(made["id"])["locations"] == ["local", "s3"]

    # Another host: the same bucket, an empty repository of its own.
    empty = tmp_path / "dr-host"
    empty.mkdir()
    dr = {"BACKUP_DIR": str(empty), "LOG_DIR": str(tmp_path / "dr-logs")}
    listed = ws.json("list", env=dict(dr))
    assert [(r["id"], r["locations"], r["status"]) for r in listed] == [(made["id"], ["s3"], "valid")]
    assert ws.json("list", "--location", "local", env=dict(dr)) == []
    assert ws.json("list", "--host", "another-host", env=dict(dr)) == []
    assert [r["id"] for r in ws.json("list", "--host", listed[0]["host"], env=dict(dr))] == [made["id"]]
    table = ws.ok("list", env=dict(dr)).stdout.splitlines()
    assert table[0].endswith("WHERE  HOST") and table[1].endswith(f"s3     {listed[0]['host']}")
    where = ws.ok("locations", env=dict(dr)).stdout
    assert made["id"] in where and "s3" in where

    checked = ws.json("verify", made["id"], env=dict(dr))
    assert checked[0]["ok"], checked
    assert any("test restore" in c for c in checked[0]["checks"])

    plan = ws.json("restore", made["id"], "--target-db", f"{ws.database}_x3", "--dry-run", env=dict(dr))
    restore_step = next(s for s in plan["steps"] if s["action"] == "restore")
    assert "s3://" in restore_step["description"] and "download" in restore_step["description"]
    ws.ok("restore", made["id"], "--target-db", f"{ws.database}_x3", env=dict(dr))
    assert counts(ws.psql, f"{ws.database}_x3") == counts(ws.psql, ws.database)
    assert not list(empty.glob("backups/*")), "nothing of the backup was written to the empty repository"


def test_an_object_altered_in_the_bucket_fails_verify(make_workspace: WorkspaceFactory, s3_bucket: Bucket,
                                                      tmp_path: Path) -> None:
    ws = make_workspace("s3-altered")
    ws.env.update(s3_bucket.env())
    made = ws.backup()
    data_key = next(k for k in s3_bucket.objects() if k.endswith(".dump.zst"))
    body = bytearray(s3_bucket.client.get_object(Bucket=s3_bucket.name, Key=data_key)["Body"].read())
    body[len(body) // 2] ^= 0xFF
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=data_key, Body=bytes(body))
    (tmp_path / "dr").mkdir()
    result = ws.run("verify", made["id"], "--quick", env={"BACKUP_DIR": str(tmp_path / "dr")})
    assert result.returncode == 4, result.stderr
    assert "checksum mismatch" in one_error_line(result)


def test_config_check_says_wrong_credentials_and_a_missing_bucket_in_one_line(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket,
) -> None:
    ws = make_workspace("s3-check")
    ws.env.update(s3_bucket.env())
    assert "ok    s3:" in ws.ok("config", "check").stdout
    wrong = ws.run("config", "check", env={"S3_SECRET_KEY": "not-the-secret", "S3_ACCESS_KEY": "AKIAWRONG"})
    assert wrong.returncode == 2
    assert one_error_line(wrong) == (f"error: S3: wrong credentials for bucket {s3_bucket.name!r} "
                                     "(InvalidAccessKeyId)")  # its subject named once
    missing = ws.run("config", "check", env={"S3_BUCKET": "no-such-bucket-here"})
    assert missing.returncode == 2
    assert "bucket 'no-such-bucket-here' does not exist" in one_error_line(missing)
    shown = json.dumps(ws.json("config", "show"))
    assert s3_bucket.server.secret_key not in shown and s3_bucket.server.access_key not in shown


def test_multipart_upload_survives_the_server_stopping_mid_upload_and_the_next_upload_completes_it(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket,
) -> None:
    server = s3_bucket.server
    ws = bulky_workspace(make_workspace, "s3-multipart")
    use_bucket(ws, s3_bucket, "multipart_threshold_mib = 5\npart_size_mib = 5\nconcurrency = 2\nretry_seconds = 2\n",
               endpoint=server.url.removeprefix("http://"))  # no scheme, as the old env file wrote it
    made = ws.json("backup", "--no-upload")
    assert "uploaded" not in made
    assert s3_bucket.objects() == [], "--no-upload sends nothing"
    local = Path(made["path"])
    before = local.read_bytes()
    assert len(before) > 10 << 20, "the dump must span three parts"

    server.gate.arm(hold_at=2)
    try:
        upload = subprocess.Popen([sys.executable, "-m", "headless", "upload", made["id"]], env=ws.env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert server.gate.reached.wait(60), "the upload never reached its second part"
        server.stop()
        server.gate.release.set()
        _, err = upload.communicate(timeout=120)
    finally:
        server.gate.arm(0)
        server.start()
    assert upload.returncode == 1, err
    assert len(err.splitlines()) == 1 and "unreachable" in err and "Traceback" not in err, err
    assert local.read_bytes() == before, "the local copy is intact"
    assert ws.json("list", "--location", "s3") == [], "no partial object is listed as a backup"

    ws.ok("upload", made["id"])
    client = s3_bucket.client
    assert client.list_multipart_uploads(Bucket=s3_bucket.name).get("Uploads", []) == [], "no orphan parts"
    key = next(k for k in s3_bucket.objects() if k.endswith(".dump.zst"))
    part = 5 << 20
    slices = [before[i:i + part] for i in range(0, len(before), part)]
    for number, expected in enumerate(slices, start=1):
        head = client.head_object(Bucket=s3_bucket.name, Key=key, PartNumber=number, ChecksumMode="ENABLED")
        assert head["ContentLength"] == len(expected)
        assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(expected).digest()).decode()
    assert client.head_object(Bucket=s3_bucket.name, Key=key)["ContentLength"] == len(before)
    assert ws.item(made["id"])["locations"] == ["local", "s3"]


def test_prune_keeps_local_copies_the_bucket_lacks_and_reports_versions_object_lock_keeps(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket,
) -> None:
    name = s3_bucket.locked_twin()
    ws = make_workspace("s3-prune")
    ws.env.update(s3_bucket.env(), S3_BUCKET=name)
    config = ws.write("retention.toml", "[retention]\ndaily = 1\nweekly = 0\nmonthly = 0\n"
                                        "[retention.s3]\ndaily = 1\nweekly = 0\nmonthly = 0\n")
    ws.env["BACKUP_TUI_CONFIG"] = str(config)
    first = ws.backup()["id"]
    second = ws.json("backup", "--no-upload")["id"]
    third = ws.backup()["id"]  # sends the second too: what a run could not send, the next one does
    assert ws.item(second)["locations"] == ["local", "s3"]

    plan = ws.json("prune", "--dry-run")
    by = {(d["id"], d["location"]): d for d in plan}
    assert not by[first, "local"]["keep"] and not by[first, "s3"]["keep"]
    assert by[third, "local"]["keep"] and by[third, "s3"]["keep"]

    pruned = ws.ok("prune", "--json")
    assert pruned.stderr == "", "object lock at work is no warning: said every night, it would be cron's noise"
    done = {(d["id"], d["location"]): d for d in json.loads(pruned.stdout)}
    assert not done[first, "local"]["keep"]
    assert done[first, "s3"]["keep"] and "object lock" in done[first, "s3"]["reasons"][0]
    assert [i["id"] for i in ws.listing()] == [third, second, first]
    assert ws.item(first)["locations"] == ["s3"], "the local copies went; the bucket kept what object lock holds"
    assert ws.item(second)["locations"] == ["s3"]

    fourth = ws.json("backup", "--no-upload")["id"]
    ws.json("backup", "--no-upload")  # supersedes the fourth, which the bucket lacks
    local = {d["id"]: d for d in ws.json("prune", "--dry-run") if d["location"] == "local"}
    assert not local[third]["keep"], "superseded, and safe in the bucket"
    assert local[fourth]["keep"] and local[fourth]["reasons"][0].startswith("not in S3 yet")


def test_keep_local_false_streams_the_backup_straight_to_the_bucket(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket,
) -> None:
    ws = bulky_workspace(make_workspace, "s3-stream")
    use_bucket(ws, s3_bucket, "keep_local = false\nmultipart_threshold_mib = 5\npart_size_mib = 5\n")
    peak_file = ws.root / "peak-kib"
    measured = ("import sys; from headless.cli import main; code = main(['backup', '--json']); "
                f"open({str(peak_file)!r}, 'w').write(next(line.split()[1] for line in open('/proc/self/status') "
                "if line.startswith('VmHWM'))); "
                "sys.exit(code)")
    run = subprocess.run([sys.executable, "-c", measured], env=ws.env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    made = json.loads(run.stdout)
    # The backup process's own high-water mark (ru_maxrss would carry pytest's, from before the exec).
    peak_kib = int(peak_file.read_text())
    assert made["uploaded"] == [], "nothing was left to upload: it went straight there"
    assert not list(ws.repo.glob("backups/*/*")), "no local copy"
    key = next(k for k in s3_bucket.objects() if k.endswith(".dump.zst"))
    head = s3_bucket.client.head_object(Bucket=s3_bucket.name, Key=key, PartNumber=1)
    assert head["PartsCount"] >= 2 and head["ContentLength"] == 5 << 20, "sent as a multipart upload"
    assert ws.item(made["id"])["locations"] == ["s3"]
    checked = ws.json("verify", made["id"])
    assert checked[0]["ok"] and checked[0]["level"] == "full", checked
    assert peak_kib < 200 * 1024, f"peak memory {peak_kib // 1024} MiB"
    assert not [u for u in s3_bucket.client.list_multipart_uploads(Bucket=s3_bucket.name).get("Uploads", [])]


def test_two_hosts_on_one_bucket_cannot_back_up_one_database_at_once(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket, tmp_path: Path,
) -> None:
    ws = make_workspace("s3-lock")
    ws.env.update(s3_bucket.env())
    other_host = {"BACKUP_DIR": str(tmp_path / "host-b"), "LOG_DIR": str(tmp_path / "host-b-logs")}
    # Host A's pg_dump waits behind a table lock while it holds the database's lock in the bucket.
    with psycopg.connect(host=ws.sandbox.host, port=ws.sandbox.port, user=ws.sandbox.user,
                         password=ws.sandbox.password, dbname=ws.database) as blocker:
        blocker.execute("LOCK TABLE actor IN ACCESS EXCLUSIVE MODE")
        first = subprocess.Popen([sys.executable, "-m", "headless", "backup", "--json"], env=ws.env,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lock = f"locks/{ws.database}.json"
        deadline = time.monotonic() + 60
        while lock not in s3_bucket.objects() and time.monotonic() < deadline:
            time.sleep(0.1)
        second = ws.run("backup", env=dict(other_host))
        blocker.rollback()
    assert second.returncode == 3, second.stderr
    said = one_error_line(second)
    assert f"is locked in s3://{s3_bucket.name}/{lock} by backup on" in said and f"(pid {first.pid})" in said
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert lock not in s3_bucket.objects(), "released at the end"

    # A holder that died: its lock is not renewed, and once stale the next run takes it over.
    stale = {"host": "db-old", "pid": 4242, "operation": "backup", "since": "2026-01-01T00:00:00Z", "token": "x"}
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=lock, Body=json.dumps(stale).encode())
    config = ws.write("ttl.toml", f'[s3]\nbucket = "{s3_bucket.name}"\nlock_ttl_seconds = 1\n')
    time.sleep(2.5)
    taken = ws.run("backup", env={**other_host, "BACKUP_TUI_CONFIG": str(config)})
    assert taken.returncode == 0, taken.stderr
    run_log = "".join(p.read_text() for p in (tmp_path / "host-b-logs").rglob("*.log"))
    assert "took over the stale S3 lock" in run_log and "db-old" in run_log


def test_s3_init_creates_the_bucket_with_versioning_and_object_lock_and_says_what_it_found(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket,
) -> None:
    ws = make_workspace("s3-init")
    name = f"{s3_bucket.name}-new"
    ws.env.update(s3_bucket.env(), S3_BUCKET=name)
    planned = ws.json("s3", "init", "--object-lock-days", "7", "--dry-run")
    assert planned["changed"] == [f"would create bucket {name} with object lock", "would turn versioning on",
                                  "would set default object lock: governance for 7 days"]
    assert name not in [b["Name"] for b in s3_bucket.client.list_buckets()["Buckets"]]
    made = ws.json("s3", "init", "--object-lock-days", "7")
    assert [c.replace("would ", "") for c in planned["changed"]] == made["changed"]
    client = s3_bucket.client
    assert client.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    rule = client.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert (rule["Mode"], rule["Days"]) == ("GOVERNANCE", 7)
    again = ws.json("s3", "init", "--object-lock-days", "7")
    assert again["changed"] == []
    assert again["found"] == [f"bucket {name} exists", "versioning is on", "default object lock: governance for 7 days"]
    ws.backup()  # the new bucket takes backups; object lock keeps them, as the prune test shows
    assert any(k.endswith("manifest.json") for k in (o["Key"] for o in client.list_objects_v2(Bucket=name)["Contents"]))


def test_an_object_lock_mode_without_days_is_refused_not_ignored(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket,
) -> None:
    """'s3 init --object-lock-mode compliance' set nothing and exited 0: the operator believed the bucket locked."""
    ws = make_workspace("trial-s3-lock-mode")
    ws.env.update(s3_bucket.env())
    result = ws.run("s3", "init", "--object-lock-mode", "compliance")
    assert result.returncode == 2
    assert "needs --object-lock-days" in one_error_line(result)
    assert "Status" not in s3_bucket.client.get_bucket_versioning(Bucket=s3_bucket.name), "refused before any change"


@pytest.mark.parametrize("days", ["0", "36501", "100000"])
def test_an_object_lock_beyond_s3s_hundred_years_is_refused_before_anything_is_set(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket, days: str,
) -> None:
    """A compliance lock can never be shortened: a typo in its days is refused in one line, the bucket as it was."""
    ws = make_workspace(f"trial-s3-lock-days-{days}")
    ws.env.update(s3_bucket.env())
    result = ws.run("s3", "init", "--object-lock-days", days, "--object-lock-mode", "compliance")
    assert result.returncode == 2
    assert "must be from 1 to 36,500" in one_error_line(result)
    assert "Status" not in s3_bucket.client.get_bucket_versioning(Bucket=s3_bucket.name), "refused before any change"


def test_an_old_scripts_backup_is_uploaded_on_demand_and_restores_from_the_bucket(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket, tmp_path: Path,
) -> None:
    ws = make_workspace("s3-legacy")
    ws.repo.mkdir(parents=True, exist_ok=True)
    path = old_script_backup(ws, "20240301_020000")
    backup_id = f"legacy-daily-{path.name.removesuffix('.sql.gz')}"
    ws.env.update(s3_bucket.env())
    sent = ws.json("upload", backup_id)
    assert sent["uploaded"]["locations"] == ["s3"] and sent["destination"].endswith(f"{backup_id}.sql.gz")
    assert ws.item(backup_id)["locations"] == ["local", "s3"], "the same backup in two places"
    dr = {"BACKUP_DIR": str(tmp_path / "dr")}
    (tmp_path / "dr").mkdir()
    only = next(i for i in ws.json("list", env=dict(dr)) if i["id"] == backup_id)
    assert only["locations"] == ["s3"] and only["status"] == "valid"
    assert ws.json("verify", backup_id, "--quick", env=dict(dr))[0]["ok"]
    ws.ok("restore", backup_id, "--target-db", f"{ws.database}_x5", env=dict(dr))
    assert counts(ws.psql, f"{ws.database}_x5") == counts(ws.psql, ws.database)
    again = ws.run("upload", backup_id)
    assert again.returncode == 0, "already there: nothing sent twice"


def test_config_check_says_no_credentials_and_an_unreachable_endpoint_in_one_line(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket,
) -> None:
    ws = make_workspace("s3-check-more")
    ws.env.update(s3_bucket.env())
    nothing = {"S3_ACCESS_KEY": None, "S3_SECRET_KEY": None, "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
               "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
               "AWS_EC2_METADATA_DISABLED": "true"}  # no instance role asked for: this machine has none
    none = ws.run("config", "check", env=nothing)
    assert none.returncode == 2 and "S3: no credentials" in one_error_line(none)
    down = ws.run("config", "check", env={"S3_ENDPOINT": f"127.0.0.1:{closed_port()}"})
    assert down.returncode == 1
    assert "unreachable after 10 s of retries" in one_error_line(down), "the seconds it waited, not retry_seconds'"


def test_s3_keys_that_stopped_working_keep_the_local_backup_and_the_next_run_sends_it(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket,
) -> None:
    """Rotated or expired keys used to stop the backup itself (exit 2, nothing taken): now only the upload
    fails, with the same words config check uses, and the run after the keys are fixed sends it."""
    ws = make_workspace("trial-s3-keys")
    ws.env.update(s3_bucket.env())
    wrong: dict[str, str | None] = {"S3_SECRET_KEY": "not-the-secret"}
    failed = ws.run("backup", "--json", env=wrong)
    assert failed.returncode == 2
    assert "wrong credentials" in one_error_line(failed) and "local copy is kept" in failed.stderr
    kept = [r for r in ws.listing() if r["status"] == "valid"]
    assert len(kept) == 1 and kept[0]["locations"] == ["local"]

    listed = ws.run("list", env=wrong)
    assert listed.returncode == 0
    assert one_error_line(listed).startswith("warning: the s3 repository was not listed: ")
    asked = ws.run("list", "--location", "s3", env=wrong)
    assert asked.returncode == 1, "nothing of what was asked could be shown: not an empty list"
    assert "could not be listed" in one_error_line(asked)

    again = ws.backup()
    assert kept[0]["id"] in again["uploaded"] and again["id"] in again["uploaded"]
    assert {r["id"]: r["locations"] for r in ws.listing()}[kept[0]["id"]] == ["local", "s3"]


def test_an_unreachable_bucket_is_said_with_the_seconds_actually_waited(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket,
) -> None:
    """A listing waits 5 s for a bucket out of reach and says so, where it said retry_seconds' 60 s (config
    check's 10 s: test_cli_s3)."""
    ws = make_workspace("trial-s3-down")
    ws.env.update(s3_bucket.env())
    ws.repo.mkdir()
    listed = ws.run("list", env={"S3_ENDPOINT": f"127.0.0.1:{closed_port()}"})
    assert listed.returncode == 0 and "unreachable after 5 s of retries" in one_error_line(listed)


def test_an_encrypted_backup_streamed_to_the_bucket_restores_from_it_with_its_key_only(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket, tmp_path: Path,
) -> None:
    ws = make_workspace("s3-encrypted")
    key = new_key(ws.root, "fleet")
    use_bucket(ws, s3_bucket, f'keep_local = false\n[encryption]\nrecipients = ["{key.recipient}"]\n')
    made = ws.backup()
    data_key = next(k for k in s3_bucket.objects() if k.endswith(".dump.zst"))
    stored = s3_bucket.client.get_object(Bucket=s3_bucket.name, Key=data_key)["Body"].read()
    assert stored.startswith(b"age-encryption.org/v1\n"), "what the bucket holds is ciphertext"
    assert hashlib.sha256(stored).hexdigest() == ws.item(made["id"])["sha256"], "the checksum covers what is stored"

    dr = {"BACKUP_DIR": str(tmp_path / "dr")}
    (tmp_path / "dr").mkdir()
    target = f"{ws.database}_from_bucket"
    refused = ws.run("restore", made["id"], "--target-db", target, env=dict(dr))
    assert refused.returncode == 2 and "no key to decrypt it" in one_error_line(refused)
    assert target not in ws.databases(), "refused before anything was created"
    ws.ok("restore", made["id"], "--target-db", target, "--identity", str(key.path), env=dict(dr))
    assert counts(ws.psql, target) == counts(ws.psql, ws.database)


def test_an_upload_after_a_verify_carries_the_check_to_the_bucket(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket, tmp_path: Path,
) -> None:
    ws = make_workspace("s3-history")
    ws.env.update(s3_bucket.env())
    made = ws.json("backup", "--no-upload")
    ws.ok("verify", made["id"], "--quick")
    ws.ok("upload", made["id"])
    dr = {"BACKUP_DIR": str(tmp_path / "dr-host"), "LOG_DIR": str(tmp_path / "dr-logs")}
    (tmp_path / "dr-host").mkdir()
    there = ws.json("list", env=dict(dr))
    assert [(r["id"], r["locations"]) for r in there] == [(made["id"], ["s3"])]
    assert there[0]["verified"] is not None and there[0]["verified"]["level"] == "quick", there[0]
    assert there[0]["verified"] == ws.item(made["id"])["verified"], "the bucket's check is the local one"
