"""What every operation runs with, whichever front end started it: the settings, the clock, where
progress goes, how it is cancelled, and the catalog over the configured repositories (built here,
once, for the whole operation). The TUI makes one per job with a reporter that posts messages; the
headless runner one per command with a reporter that writes lines or JSON."""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field

from backup_tui.engine.config import Settings
from backup_tui.engine.core.clock import Clock, system_clock
from backup_tui.engine.core.progress import CancelToken, Reporter, null_reporter
from backup_tui.engine.storage.catalog import Catalog


@dataclass(frozen=True)
class Context:
    settings: Settings
    reporter: Reporter = null_reporter
    cancel: CancelToken = field(default_factory=CancelToken)
    now: Clock = system_clock
    over: InitVar[Catalog | None] = None  # another set of repositories than the settings name (tests, tools)
    catalog: Catalog = field(init=False)  # each list() reads the repositories afresh

    def __post_init__(self, over: Catalog | None) -> None:
        object.__setattr__(self, "catalog", over or Catalog.from_settings(self.settings))
