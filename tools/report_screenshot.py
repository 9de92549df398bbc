"""Screenshot a pacsaudit report.html in headless Chromium — the README's picture.

Uses Debian's ``chromium`` through Playwright (never ``playwright install``, which downloads a
browser). The flags are what Chromium needs as root in a container, plus everything that would
make it call home; the profile is fresh each time. The browser test imports
:func:`browser_context` from here so the test and the picture open the page the same way.

Usage::

    python tools/report_screenshot.py out/demo/report.html docs/images/report.png
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import BrowserContext, sync_playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # root in CI and containers
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]


def chromium_path() -> Path:
    return Path(shutil.which("chromium") or "/usr/bin/chromium")


@contextmanager
def browser_context(
    profile: Path, *, width: int = 1280, height: int = 1500
) -> Iterator[BrowserContext]:
    """A persistent Chromium context in ``profile`` (which should be a fresh folder)."""
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=str(chromium_path()),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
            service_workers="block",
        )
        try:
            yield context
        finally:
            context.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--height", type=int, default=1100, help="viewport height in pixels")
    parser.add_argument("--full", action="store_true", help="the whole page, not the viewport")
    args = parser.parse_args(argv)
    if not chromium_path().exists():
        print("Debian's chromium is needed: apt-get install chromium", file=sys.stderr)
        return 1
    with (
        tempfile.TemporaryDirectory() as profile,
        browser_context(Path(profile), height=args.height) as context,
    ):
        page = context.new_page()
        page.route(
            "**/*",
            lambda route: (
                route.continue_() if route.request.url.startswith("file:") else route.abort()
            ),
        )
        page.goto(args.report.resolve().as_uri(), wait_until="load")
        args.png.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=args.png, full_page=args.full)
    print(args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
