"""The upload after a backup sends every local backup the bucket lacks; one the bucket refuses for a reason of
its own (another backup, or an altered manifest, under its id there) is said and kept, and the ones after it
still go up. It stopped the loop: every later backup of the database stayed on this disk alone, run after run,
under "the next run sends it"."""

from __future__ import annotations

import json

from tests.conftest import Bucket
from tests.headless.conftest import WorkspaceFactory, one_error_line


def test_a_backup_the_bucket_refuses_does_not_hold_back_the_backups_after_it(
    make_workspace: WorkspaceFactory, s3_bucket: Bucket,
) -> None:
    ws = make_workspace("s3-refused")
    ws.env.update(s3_bucket.env())
    first = ws.backup()
    key = next(k for k in s3_bucket.objects() if k.endswith(f"{first['id']}/manifest.json"))
    manifest = json.loads(s3_bucket.client.get_object(Bucket=s3_bucket.name, Key=key)["Body"].read())
    manifest["host"] = "web-9"  # altered in the bucket, not sealed again: not this backup any more
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=key, Body=json.dumps(manifest).encode())
    assert ws.item(first["id"])["locations"] == ["local"]

    later = [ws.run("backup", "--json") for _ in range(2)]
    for run in later:
        assert run.returncode == 4, run.stderr
        said = one_error_line(run)
        assert first["id"] in said and "different backup under this id" in said and "next run" not in said, said
    made = [json.loads(run.stdout) for run in later]
    assert [m["uploaded"] for m in made] == [[m["id"]] for m in made], "each backup after it went up"
    listed = {item["id"]: item["locations"] for item in ws.listing()}
    assert [listed[m["id"]] for m in made] == [["local", "s3"]] * 2
    assert listed[first["id"]] == ["local"], "the refused backup's local copy stays"
