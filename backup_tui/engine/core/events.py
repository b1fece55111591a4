"""The kinds of notice a channel can be sent (``events`` of a ``[[notify]]`` entry): apart from
``core.notices`` so that reading the config loads none of the health rules the notices are decided by."""

from __future__ import annotations

from typing import Literal

Event = Literal["failure", "recovery", "warning", "success"]
EVENTS: tuple[Event, ...] = ("failure", "recovery", "warning", "success")
