"""F1 / ?: every key, by screen, so nobody needs the docs at 3 a.m."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from backup_tui.tui.widgets.footer import QuietFooter

HELP = """\
# backup-tui keys

| Where | Key | Does |
|---|---|---|
| everywhere | `1` `2` `3` | dashboard, backups, jobs & log |
| everywhere | `b` | new backup (of the database in focus; not inside a restore) |
| everywhere | `ctrl+p` | command palette: every action, themes |
| everywhere | `ctrl+r` | refresh the catalog now |
| everywhere | `F1` `?` | this help |
| everywhere | `q` | quit (asks first while a job runs) |
| dashboard | `↑` `↓` `tab` | move between the cards |
| dashboard | `enter` | the database's backups |
| dashboard | `r` | restore the database (guided) |
| everywhere | `!` | every health problem and what to do, the next scheduled runs, where notices go |
| backups | `/` | filter as you type (`esc` clears, also after `enter`) |
| backups | `s` / click a header | sort: verified newest first, then size, database, duration… / by this column |
| backups | `S` / click it again | reverse the order |
| backups | `tab` | into the detail pane: arrows and `pgdn` scroll it |
| backups | `v` | verify: quick (checksums) or full (test restore) |
| backups | `r` | guided restore of the selected backup |
| backups | `p` | pin / unpin (pinned backups survive retention) |
| backups | `d` | delete (asks first) |
| backups | `u` | upload to S3 (when S3 is configured) |
| jobs | `c` | cancel the selected job (cleans up what it started) |
| jobs | `enter` | a restore: its screen again (progress or result); others: outcome and steps; the log: its lines |
| jobs | `/` | filter the activity log (`enter` keeps it, `esc` clears it) |
| restore | `esc` | back one step (closes from the first) |
| restore | `tab` / `shift+tab` | forward / back between fields; `shift+tab` from the name reaches new or replace |
| restore | `↑` `↓` | new or replace: make the choice (`enter`: its plan); the plan: scroll it (`pgdn` a page) |
| restore | `3` | leave a running or finished restore on the Jobs tab |

Restores never overwrite a database in place: *replace* restores into a temporary
database, checks row counts, then swaps names and keeps the previous database.
The plan warns when the chosen backup was never verified, or its last check failed.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,f1,question_mark", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "Help  (esc closes)"
            yield Markdown(HELP)
        yield QuietFooter()  # esc Close, not the keys of the screen underneath
