"""Notification URLs carry their credentials (Slack's token is its path, a mail URL its password): they are
shown only as their scheme and server, and every line that might quote one is cleaned first."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

HIDDEN = "********"
# Schemes whose host part is a server's name; for the others (slack://T000/B000/XXXX ...) it is a token too.
SERVER_SCHEMES = frozenset({"http", "https", "json", "jsons", "xml", "xmls", "form", "forms", "mailto", "mailtos"})


def redact_url(url: str) -> str:
    """'https://hooks.example.com/********', 'slack://********': enough to tell destinations apart."""
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:
        return HIDDEN
    if not scheme:
        return HIDDEN
    if scheme in SERVER_SCHEMES and host:
        return f"{scheme}://{host}{f':{port}' if port else ''}/{HIDDEN}"
    return f"{scheme}://{HIDDEN}"


def pieces(url: str) -> list[str]:
    """The parts of a URL that may be secret (user, password, path segments, query values), longest first."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [url, parts.netloc, parts.path, parts.query, parts.username or "", parts.password or ""]
    found += [unquote(p) for p in (parts.username or "", parts.password or "")]
    found += parts.path.split("/") + [v for kv in parts.query.split("&") for v in kv.split("=")[1:]]
    if parts.scheme.lower() not in SERVER_SCHEMES:
        found.append(parts.hostname or "")
    return sorted({p for p in found if len(p) >= 4}, key=len, reverse=True)


def redact_text(text: str, urls: Iterable[str]) -> str:
    """``text`` with every URL of ``urls`` and each of its secret-looking pieces replaced by stars."""
    for url in urls:
        for piece in pieces(url):
            text = text.replace(piece, HIDDEN)
    return re.sub(r"(\*{8})(\*{8})+", HIDDEN, text)
