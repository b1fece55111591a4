"""Write the README's screenshots (SVG) from the same fixed catalog and steps as the snapshot tests.

    .venv/bin/python scripts/make_screenshots.py [--size 120x36] [--out screenshots]

Because the scenarios are the snapshot tests' own, a picture in the README cannot
drift from what the tests pin down.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual.reactive import reactive  # noqa: E402
from textual.widgets import Input  # noqa: E402

from tests.tui.fixtures import FixedServices, fixed_app  # noqa: E402
from tests.tui.test_snapshots import SCENARIOS  # noqa: E402

PICTURES = ("dashboard", "backups", "verify_dialog", "wizard_plan_replace", "wizard_confirm", "wizard_progress",
            "wizard_result_replace", "jobs", "help")


def steady_cursor() -> None:
    """As in the tests: a blinking cursor would make every run's picture differ."""
    steady: reactive[bool] = reactive(False, init=False)
    steady.__set_name__(Input, "cursor_blink")
    Input.cursor_blink = steady


async def shoot(name: str, size: tuple[int, int], out: Path) -> Path:
    steps, hold = SCENARIOS[name]
    app = fixed_app(FixedServices(hold_restore=hold))
    async with app.run_test(size=size) as pilot:
        await steps(pilot)
        await pilot.pause()
        svg = app.export_screenshot(title=f"backup-tui: {name.replace('_', ' ')}")
    path = out / f"{name}.svg"
    path.write_text(svg, encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="120x36", help="WIDTHxHEIGHT (default 120x36)")
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    steady_cursor()
    for name in PICTURES:
        print(asyncio.run(shoot(name, (width, height), args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
