"""Text from the repository made safe to print: anyone who can write BACKUP_DIR writes manifests, history
records and file names, and a control character in one of them would reach the operator's terminal as a
command (clear the screen, set the title, forge a line). Human output passes through ``printable``;
JSON needs nothing (json.dumps escapes every control character itself)."""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _visible(char: str) -> str:
    """One character a terminal would act on, or not show, as the escape Python itself writes for it."""
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every character that is not printable (C0 and C1 controls, DEL, newlines and tabs, format
    characters such as bidi overrides, unpaired surrogates from undecodable file names, separators other
    than the space) shown as a visible escape, so a field stays on its line and the terminal interprets
    nothing. Backslashes are left alone: printing twice changes nothing more."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _visible(char) for char in text)
