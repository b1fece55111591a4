"""``upload ID`` of a backup whose copy in the bucket failed its check there (bytes, sidecar or manifest altered
after it was sent): said in one line with the way to send the good local copy again, exit 4. It said "is in
s3 already" and exited 0, with "uploaded" in its log, and the copy that does not restore stayed the bucket's."""

from __future__ import annotations

from dataclasses import replace

import pytest

from backup_tui.engine.core.errors import EXIT_VERIFY, VerificationError
from backup_tui.engine.ops.context import Context
from backup_tui.engine.ops.delete import plan_delete, run_delete
from backup_tui.engine.ops.upload import run_upload
from backup_tui.engine.ops.verify import verify_backup
from backup_tui.engine.storage.s3 import S3Repository
from tests.conftest import Bucket


def test_an_upload_over_a_bucket_copy_that_failed_its_check_says_so_and_the_way_to_send_it_again(
    uploaded: tuple[Context, S3Repository, str], s3_bucket: Bucket,
) -> None:
    ctx, repo, backup_id = uploaded
    with_s3, made = ctx.settings, ctx.catalog.get(backup_id)
    sidecar = repo.data_key(made) + ".sha256"
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=sidecar, Body=f"{'0' * 64}  {made.file_name}\n".encode())
    bucket_only = replace(with_s3, repository=with_s3.repository.parent / "dr-host")
    bucket_only.repository.mkdir()
    checked = verify_backup(Context(bucket_only), Context(bucket_only).catalog.get(made.id), "quick")
    assert not checked.ok

    ctx = Context(with_s3)
    with pytest.raises(VerificationError) as refused:
        run_upload(ctx, ctx.catalog.get(made.id))
    assert refused.value.exit_code == EXIT_VERIFY
    assert "failed its last check" in refused.value.message and "--location s3" in refused.value.message
    assert "sidecar" in refused.value.message, refused.value.message

    # The way it names: the bucket's copy deleted, the local one goes up again and reads well there.
    run_delete(ctx, plan_delete(ctx, ctx.catalog.get(made.id), location="s3", force=True))
    ctx = Context(with_s3)
    run_upload(ctx, ctx.catalog.get(made.id))
    assert s3_bucket.client.get_object(Bucket=s3_bucket.name, Key=sidecar)["Body"].read().startswith(
        made.sha256.encode())
