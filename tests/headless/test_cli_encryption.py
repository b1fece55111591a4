"""Encryption at rest through backup-headless, as an operator runs it: backups encrypted to the
configured age recipients, restored exactly with the key, refused cleanly (exit 2, nothing created)
without it or with the wrong one, opened by hand with the age format's own tools, keys rotated, and
a manifest that lies about encryption taken for damage."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage
import pytest

from backup_tui.engine.core.models import manifest_checksum
from tests.fingerprint import fingerprint
from tests.headless.conftest import Workspace, WorkspaceFactory, one_error_line, tree


@dataclass
class Keys:
    path: Path  # an identity file as age-keygen writes it
    recipient: str


def new_key(root: Path, name: str) -> Keys:
    identity = pyrage.x25519.Identity.generate()
    recipient = str(identity.to_public())
    path = root / f"{name}.key"
    path.write_text(f"# created: 2026-12-05T00:00:00Z\n# public key: {recipient}\n{identity}\n")
    path.chmod(0o600)
    return Keys(path, recipient)


@dataclass
class Encrypted:
    ws: Workspace
    old: Keys
    new: Keys
    before: dict[str, Any]  # made with the old recipient
    after: dict[str, Any]  # made after the rotation to the new one
    both: Path  # an identity file with both keys

    def stored(self, backup: dict[str, Any]) -> Path:
        return Path(backup["path"])


def configure(ws: Workspace, *recipients: str) -> None:
    config = ws.write("config.toml", "[encryption]\nrecipients = [" + ", ".join(f'"{r}"' for r in recipients) + "]\n")
    ws.env["BACKUP_TUI_CONFIG"] = str(config)


@pytest.fixture(scope="module")
def enc(make_workspace: WorkspaceFactory) -> Encrypted:
    ws = make_workspace("encrypted")
    old, new = new_key(ws.root, "old"), new_key(ws.root, "new")
    configure(ws, old.recipient)
    before = ws.backup()
    configure(ws, new.recipient)  # rotation: an edit of the config, nothing else
    after = ws.backup()
    both = ws.write("both.key", old.path.read_text() + new.path.read_text())
    return Encrypted(ws, old, new, before, after, both)


def manifest(backup: dict[str, Any]) -> dict[str, Any]:
    data = json.loads((Path(backup["path"]).parent / "manifest.json").read_text())
    assert isinstance(data, dict)
    return data


def history(backup: dict[str, Any]) -> list[Path]:
    folder = Path(backup["path"]).parent / "verifications"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def test_the_stored_bytes_are_age_ciphertext_and_the_manifest_says_to_whom(enc: Encrypted) -> None:
    stored = enc.stored(enc.before).read_bytes()
    assert stored.startswith(b"age-encryption.org/v1\n-> X25519 ")
    data = manifest(enc.before)
    assert data["encryption"] == "age" and data["recipients"] == [enc.old.recipient]
    assert manifest(enc.after)["recipients"] == [enc.new.recipient], "new backups go to the new recipients"
    assert data["stored_bytes"] == len(stored), "the size covers what is stored: the ciphertext"
    assert data["sha256"] == hashlib.sha256(stored).hexdigest(), "the checksum covers the ciphertext"
    sidecar = (enc.stored(enc.before).parent / f"{enc.stored(enc.before).name}.sha256").read_text()
    assert sidecar.split()[0] == data["sha256"], "sha256sum -c works on the stored file as before"
    shown = enc.ws.ok("show", enc.before["id"]).stdout
    assert f"encryption      age, to {enc.old.recipient}" in shown


def test_an_encrypted_backup_restores_exactly_with_its_key(enc: Encrypted) -> None:
    ws = enc.ws
    target = f"{ws.database}_xkey"
    ws.ok("restore", enc.after["id"], "--target-db", target, "--identity", str(enc.new.path))
    assert fingerprint(ws.sandbox.conninfo(target)) == fingerprint(ws.sandbox.conninfo(ws.database))


@pytest.mark.parametrize("how", ["no key", "wrong key", "missing identity file"])
def test_a_restore_without_the_right_key_refuses_before_anything_is_created(enc: Encrypted, how: str) -> None:
    ws = enc.ws
    flags = {"no key": [], "wrong key": ["--identity", str(enc.new.path)],
             "missing identity file": ["--identity", str(ws.root / "nowhere.key")]}[how]
    databases, listed, repo = ws.databases(), ws.listing(), tree(ws.repo)
    for where in (["--target-db", f"{ws.database}_xnokey"], ["--replace", "--yes"]):
        done = ws.run("restore", enc.before["id"], *where, *flags)
        assert done.returncode == 2, done.stderr
        line = one_error_line(done)
        if how == "no key":
            assert "no key to decrypt it" in line and "--identity FILE" in line, line
        elif how == "wrong key":
            assert f"do not open {enc.before['id']}" in line and enc.old.recipient[:12] in line, line
        else:
            assert "nowhere.key does not exist" in line, line
    assert ws.databases() == databases, "no database created, none replaced"
    assert ws.listing() == listed, "no safety backup taken"
    assert {k: v for k, v in tree(ws.repo).items() if not k.startswith(("runs", "locks"))} == {
        k: v for k, v in repo.items() if not k.startswith(("runs", "locks"))}


def test_the_dry_run_plan_names_the_missing_key(enc: Encrypted) -> None:
    done = enc.ws.run("restore", enc.before["id"], "--target-db", "x", "--dry-run", "--json")
    assert done.returncode == 2
    plan = json.loads(done.stdout)
    assert plan["exit_code"] == 2 and "no key to decrypt it was given" in plan["refusal"]


def test_a_full_verify_without_the_right_key_exits_2_and_records_nothing(enc: Encrypted) -> None:
    ws = enc.ws
    recorded = history(enc.before)
    done = ws.run("verify", enc.before["id"])
    assert done.returncode == 2 and "no key to decrypt it" in one_error_line(done)
    done = ws.run("verify", enc.before["id"], "--identity", str(enc.new.path))
    assert done.returncode == 2 and "a backup made before a rotation needs the key of its time" in one_error_line(done)
    done = ws.run("verify", "--all")
    assert done.returncode == 2, "a full verification of every backup says the missing key before it starts"
    assert history(enc.before) == recorded, "a missing key is not the backup's failure"


def test_a_quick_verify_without_a_key_checks_the_stored_bytes_and_says_the_decode_was_not(enc: Encrypted) -> None:
    [result] = enc.ws.json("verify", enc.before["id"], "--quick")
    assert result["ok"] and result["level"] == "quick"
    assert "sha256 of the stored (encrypted) bytes matches" in result["checks"]
    assert any(note.startswith("decode not checked") and "--identity FILE" in note for note in result["not_done"])
    code, out, _ = enc.ws.run_on_terminal("verify", enc.before["id"], "--quick")
    assert code == 0 and "decode not checked" in out


def test_a_quick_verify_without_a_key_still_catches_a_flipped_bit(enc: Encrypted, tmp_path: Path) -> None:
    ws = copy_of(enc, tmp_path)
    stored = Path(str(enc.stored(enc.before)).replace(str(enc.ws.repo), str(ws.repo)))
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 1
    stored.write_bytes(bytes(data))
    done = ws.run("verify", enc.before["id"], "--quick")
    assert done.returncode == 4 and "checksum mismatch" in done.stderr


def test_a_damaged_key_stanza_is_damage_recorded_not_a_key_problem(enc: Encrypted, tmp_path: Path) -> None:
    """The header's wrapped key altered: the key the manifest names no longer opens it. That is the stored
    bytes' fault, not the operator's key: exit 4 and a failed check in the history, never exit 2 "wrong key"."""
    ws = copy_of(enc, tmp_path)
    stored = Path(str(enc.stored(enc.before)).replace(str(enc.ws.repo), str(ws.repo)))
    lines = stored.read_bytes().split(b"\n")
    body = bytearray(lines[2])  # the first recipient stanza's body, after its "-> X25519 share" line
    body[0] = ord("A") if body[0] != ord("A") else ord("B")
    lines[2] = bytes(body)
    stored.write_bytes(b"\n".join(lines))
    backup = {**enc.before, "path": str(stored)}
    earlier = set(history(backup))  # the copied repository holds the checks other tests made
    done = ws.run("verify", enc.before["id"], "--quick", "--identity", str(enc.both))
    assert done.returncode == 4, done.stderr
    [recorded] = set(history(backup)) - earlier
    assert json.loads(recorded.read_text())["ok"] is False


def test_rotation_each_backup_opens_with_the_key_of_its_time(enc: Encrypted) -> None:
    ws = enc.ws
    results = ws.json("verify", enc.before["id"], "--identity", str(enc.both))
    assert results[0]["ok"] and results[0]["level"] == "full"
    ws.ok("verify", enc.after["id"], "--identity", str(enc.both))
    ws.ok("verify", enc.after["id"], "--quick", "--identity", str(enc.new.path))
    env: dict[str, str | None] = {"BACKUP_ENCRYPTION_IDENTITY_FILE": str(enc.old.path)}
    [quick] = ws.json("verify", enc.before["id"], "--quick", env=env)
    assert quick["ok"] and not quick["not_done"], "with its key, the quick check decodes the stream"
    assert ws.run("verify", enc.after["id"], "--quick", env=env).returncode == 2, "the old key does not open new ones"


def test_a_backup_only_host_needs_no_identity(enc: Encrypted) -> None:
    assert "identity_file" not in (Path(enc.ws.env["BACKUP_TUI_CONFIG"]).read_text())
    assert enc.ws.backup()["id"], "backups need only the recipients"


def test_the_stored_file_opens_by_hand_with_age_zstd_and_pg_restore(enc: Encrypted) -> None:
    """README's by-hand restore, word for word: age -d -i KEY FILE | zstd -d | pg_restore -d NEW_DB."""
    if shutil.which("age") is None:
        pytest.skip("the age command is not installed (scripts/setup.sh installs it where it can)")
    ws = enc.ws
    target = f"{ws.database}_xhand"
    ws.sandbox.psql(f'CREATE DATABASE "{target}"')
    env = {**ws.env_with(None), "PGPASSWORD": ws.password}
    pipeline = (f"age -d -i {enc.new.path} {enc.stored(enc.after)} | zstd -d | "
                f"{ws.sandbox.bin_dir}/pg_restore --no-owner -h {ws.sandbox.host} -p {ws.sandbox.port} "
                f"-U {ws.sandbox.user} -d {target}")
    done = subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    counts = ws.psql("SELECT count(*) FROM rental", target)
    assert counts == ws.psql("SELECT count(*) FROM rental")


def test_the_stored_file_opens_by_hand_with_pyrage(enc: Encrypted, tmp_path: Path) -> None:
    """A second implementation of the format opens the stored file, and zstd reads what it yields."""
    plain = tmp_path / "dump.zst"
    identity = pyrage.x25519.Identity.from_str(enc.old.path.read_text().splitlines()[-1])
    pyrage.decrypt_file(str(enc.stored(enc.before)), str(plain), [identity])
    listing = subprocess.run(f"zstd -dc {plain} | {enc.ws.sandbox.bin_dir}/pg_restore --list", shell=True,
                             capture_output=True, text=True, check=True).stdout
    assert "TABLE DATA public rental" in listing


def copy_of(enc: Encrypted, tmp_path: Path) -> Workspace:
    """The workspace on a copy of its repository, for a test that damages it."""
    repo = tmp_path / "repo"
    shutil.copytree(enc.ws.repo, repo, symlinks=True)
    env = {**enc.ws.env, "BACKUP_DIR": str(repo), "LOG_DIR": str(tmp_path / "logs")}
    return Workspace(root=tmp_path, sandbox=enc.ws.sandbox, database=enc.ws.database, env=env)


def resign(ws: Workspace, backup: dict[str, Any], changes: dict[str, Any], drop: tuple[str, ...] = ()) -> None:
    """Edit a manifest and recompute its checksum, as anyone who can write the repository can."""
    [path] = ws.repo.glob(f"backups/*/{backup['id']}/manifest.json")
    data = json.loads(path.read_text())
    data.update(changes)
    for name in drop:
        data.pop(name, None)
    data["manifest_sha256"] = manifest_checksum(data)
    path.write_text(json.dumps(data))


FORGED: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "says not encrypted": ({"manifest_version": 1}, ("encryption", "recipients")),
    "names another recipient": ({"recipients": ["RECIPIENT"]}, ()),
}


@pytest.mark.parametrize("forgery", FORGED, ids=list(FORGED))
def test_a_forged_manifest_about_encryption_is_damage(enc: Encrypted, tmp_path: Path, forgery: str) -> None:
    ws = copy_of(enc, tmp_path)
    changes, drop = FORGED[forgery]
    changes = {k: [enc.new.recipient] if v == ["RECIPIENT"] else v for k, v in changes.items()}
    resign(ws, enc.before, changes, drop)
    done = ws.run("verify", enc.before["id"], "--quick", "--identity", str(enc.both))
    assert done.returncode == 4, done.stderr
    said = {"says not encrypted": "zstd stream is corrupt",
            "names another recipient": "the manifest's recipients do not name the key that opens it"}[forgery]
    assert said in done.stderr
    restored = ws.run("restore", enc.before["id"], "--target-db", f"{ws.database}_xforged", "--identity", str(enc.both))
    assert restored.returncode != 0 and f"{ws.database}_xforged" not in ws.databases()


@pytest.mark.parametrize(("changes", "reason"), [
    ({"encryption": "rot13"}, "not one we read"),
    ({"recipients": ["age1notakey"]}, "not an age public key"),
    ({"recipients": []}, "names no recipient"),
    ({"manifest_version": 1}, "its version is 1"),
])
def test_a_malformed_encryption_field_lists_the_backup_as_damaged(
    enc: Encrypted, tmp_path: Path, changes: dict[str, Any], reason: str,
) -> None:
    ws = copy_of(enc, tmp_path)
    resign(ws, enc.before, changes)
    [item] = [i for i in ws.listing() if i["id"] == enc.before["id"]]
    assert item["status"] == "damaged"
    assert reason in ws.ok("show", enc.before["id"]).stdout


def test_an_encrypted_backup_restores_through_pg_restore_jobs_too(enc: Encrypted) -> None:
    """With [restore] jobs > 1 the decrypted, decompressed dump goes to a file first: the same stages."""
    ws = enc.ws
    config = ws.write("jobs.toml", f'[restore]\njobs = 2\n\n[encryption]\nidentity_file = "{enc.both}"\n')
    target = f"{ws.database}_xjobs"
    ws.ok("restore", enc.before["id"], "--target-db", target, env={"BACKUP_TUI_CONFIG": str(config)})
    assert ws.psql("SELECT count(*) FROM payment", target) == ws.psql("SELECT count(*) FROM payment")
    assert not list((ws.repo / "tmp").glob("*.dump")), "the decrypted temp file is gone"


def test_a_bad_recipient_is_a_one_line_config_error(enc: Encrypted) -> None:
    config = enc.ws.write("bad.toml", '[encryption]\nrecipients = ["age1notakey"]\n')
    done = enc.ws.run("backup", env={"BACKUP_TUI_CONFIG": str(config)})
    assert done.returncode == 2
    assert "encryption.recipients[0] 'age1notakey' is not an age X25519 public key" in one_error_line(done)


def test_config_check_names_the_keys_and_warns_of_an_identity_file_others_can_read(enc: Encrypted) -> None:
    ws = enc.ws
    key = ws.write("open.key", enc.both.read_text())
    key.chmod(0o644)
    config = ws.write("check.toml", f'[encryption]\nrecipients = ["{enc.new.recipient}"]\nidentity_file = "{key}"\n')
    done = ws.run("config", "check", env={"BACKUP_TUI_CONFIG": str(config)})
    assert "ok    encryption: new backups encrypted (age) to" in done.stdout
    assert f"identity file {key} holds the key(s) of" in done.stdout
    assert f"chmod 600 {key}" in done.stderr
    missing = ws.write("gone.toml", f'[encryption]\nidentity_file = "{ws.root / "gone.key"}"\n')
    done = ws.run("config", "check", env={"BACKUP_TUI_CONFIG": str(missing)})
    assert done.returncode == 2 and "gone.key does not exist" in done.stderr


def test_a_damaged_encrypted_backup_is_named_with_its_by_hand_decryption(enc: Encrypted, tmp_path: Path) -> None:
    """Its manifest lost, the restore refuses and says how to load it by hand: age first, then zstd."""
    ws = copy_of(enc, tmp_path)
    [manifest_file] = ws.repo.glob(f"backups/*/{enc.before['id']}/manifest.json")
    manifest_file.unlink()
    done = ws.run("restore", enc.before["id"], "--target-db", "x")
    assert done.returncode == 4
    stored = manifest_file.parent / f"{enc.before['id']}.dump.zst"
    assert f"age -d -i KEY_FILE {stored} | zstd -dc | pg_restore -d NEW_DB" in one_error_line(done)


def test_the_verify_dry_run_names_the_missing_key_and_exits_as_the_run_would(enc: Encrypted) -> None:
    ws = enc.ws
    done = ws.run("verify", enc.before["id"], "--dry-run")
    assert done.returncode == 2 and "would not verify" in done.stderr and "no key to decrypt it" in done.stderr
    [plan] = ws.json("verify", enc.before["id"], "--quick", "--dry-run")
    assert plan["refusal"] is None and plan["exit_code"] == 0  # a quick check needs no key
