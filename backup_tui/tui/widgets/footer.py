"""The key footer, rebuilt only when the keys it shows change.

Textual's Footer removes and mounts all its keys again on every refresh of the bindings: each focus move,
and every job event (the Jobs tab and the wizard refresh them so a finished job's keys show). During a
restore that was about 80 rebuilds in 5 s, the largest share of the app's CPU, taken from pg_restore and
the server on a machine of two cores.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer

Shown = tuple[object, ...]


def footer_keys(screen: Screen[object], command_palette: bool) -> Shown:
    """What ``Footer.compose`` makes of the screen's bindings: the shown keys, their words and whether they
    are enabled, in order, and the command palette's key when the footer shows it."""
    active = screen.active_bindings
    keys: list[object] = [(key, b.action, b.description, b.tooltip, b.group, enabled, tooltip)
                          for key, (_, b, enabled, tooltip) in active.items() if b.show]
    if command_palette and screen.app.ENABLE_COMMAND_PALETTE:
        palette = active.get(screen.app.COMMAND_PALETTE_BINDING)
        keys.append(None if palette is None else (palette.binding.key, palette.enabled, palette.tooltip))
    return tuple(keys)


class QuietFooter(Footer):
    """A Footer that recomposes when what it would show differs from what it shows."""

    _shown: Shown | None = None

    def bindings_changed(self, screen: Screen[object]) -> None:
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            shown = footer_keys(screen, self.show_command_palette)
            if self._bindings_ready and shown == self._shown:
                return
            self._shown = shown
        super().bindings_changed(screen)
