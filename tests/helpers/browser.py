"""Render a report in headless Debian Chromium through playwright."""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def render_figures(html: Path, screenshot: Path) -> tuple[list[int], int]:
    """Open ``html`` in headless Debian Chromium: (naturalWidth of each figure image, number of
    skipped-figure notes); saves a full-page screenshot. Skips when Chromium/playwright are absent."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (make test installs Debian's chromium as root)")
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
    ]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(html.as_uri())
            widths = page.eval_on_selector_all(
                "img[data-figure]", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)"
            )
            skipped = page.eval_on_selector_all("[data-skipped]", "els => els.length")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return widths, skipped
