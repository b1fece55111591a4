"""The restore wizard on an encrypted backup, against the test cluster: its plan step names the key
that is missing (in the app's words, no command-line flag) and cannot run; given the key, it can."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pyrage
from textual.widgets import Button, Static

from backup_tui.engine.config import Settings
from backup_tui.engine.core.encryption import EncryptionConfig
from backup_tui.engine.devtools.sandbox import Sandbox
from backup_tui.engine.ops.backup import run_backup
from backup_tui.engine.ops.context import Context
from tests.tui.conftest import rendered, running, sync
from tests.tui.test_flows import make_app, open_wizard_at_plan

SIZE = (100, 30)


def encrypted_settings(settings: Settings, tmp_path: Path) -> tuple[Settings, Path]:
    identity = pyrage.x25519.Identity.generate()
    key = tmp_path / "backup.key"
    key.write_text(f"{identity}\n")
    return replace(settings, encryption=EncryptionConfig((str(identity.to_public()),))), key


@sync
async def test_the_plan_step_names_the_missing_key_and_cannot_run(settings: Settings, pg_sandbox: Sandbox,
                                                                   tmp_path: Path) -> None:
    backing_up, key = encrypted_settings(settings, tmp_path)
    run_backup(Context(backing_up), backing_up.databases[0])
    app, _ = make_app(backing_up)  # the recipients only, as on a host that backs up
    async with running(app, SIZE) as pilot:
        wizard = await open_wizard_at_plan(pilot, app, target=f"{settings.databases[0].database}_copy")
        assert wizard.step == "plan" and wizard.plan is not None and wizard.plan.key_problem
        said = rendered(wizard.query_one("#plan-text", Static))
        assert "Cannot restore here:" in said and "no key to decrypt it was given" in said
        assert "set [encryption] identity_file in the config" in said and "encrypted (age)" in said and "--" not in said
        assert wizard.query_one("#run", Button).disabled

    with_key = replace(backing_up, encryption=replace(backing_up.encryption, identity_file=key))
    app, _ = make_app(with_key)
    async with running(app, SIZE) as pilot:
        wizard = await open_wizard_at_plan(pilot, app, target=f"{settings.databases[0].database}_copy")
        assert wizard.plan is not None and wizard.plan.refusal is None
        assert not wizard.query_one("#run", Button).disabled
