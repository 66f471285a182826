"""Headless Chromium for the tests that check pages render (the HTML report, kedro-viz).

Playwright drives the system's Chromium (``playwright install`` downloads browsers and is not used): the
Makefile's ``browser`` step installs Debian's ``chromium`` when it is missing and we are root; elsewhere set
``SAMLAB_CHROMIUM`` to a Chromium/Chrome binary. Without one, the browser tests skip and say why.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("SAMLAB_CHROMIUM"),
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ):
        if candidate and (path := shutil.which(candidate)):
            return path
    return None


def require_browser() -> str:
    """The Chromium binary, or skip the test with the reason."""
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium: `make test` installs Debian's chromium as root; elsewhere set SAMLAB_CHROMIUM")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright (the test extra) is not installed")
    return path


@dataclass
class Rendered:
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    facts: object = None


def render(
    url: str,
    screenshot: Path,
    script: str,
    wait_for: str | None = None,
    allowed_hosts=("127.0.0.1",),
    width: int = 1280,
    height: int = 900,
    timeout_ms: int = 60_000,
) -> Rendered:
    """Open ``url`` in headless Chromium, screenshot the whole page to ``screenshot``, return ``script``'s value
    (a JS function body run in the page) with the console errors, page errors and any request that left the
    machine (those are answered with an empty 204, so the page is judged offline, deterministically)."""
    from playwright.sync_api import sync_playwright

    out = Rendered()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=require_browser(), args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: out.console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: out.page_errors.append(str(e)))

            def route(r):
                u = r.request.url
                if u.startswith(("file:", "data:", "blob:")) or any(f"//{h}" in u for h in allowed_hosts):
                    return r.continue_()
                out.outside_requests.append(u)
                return r.fulfill(status=204, body="")

            page.route("**/*", route)
            page.goto(url, wait_until="load", timeout=timeout_ms)
            if wait_for:
                page.wait_for_selector(wait_for, timeout=timeout_ms)
            page.wait_for_load_state("networkidle", timeout=timeout_ms)
            out.facts = page.evaluate(f"() => {{ {script} }}")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return out


def distinct_colours(png: Path) -> int:
    """How many colours the screenshot uses: a blank or failed page has a handful, charts have hundreds."""
    from PIL import Image

    with Image.open(png) as img:
        colours = img.convert("RGB").getcolors(maxcolors=1 << 24)
    return len(colours)
