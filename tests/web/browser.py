"""What the browser tests share: chromium's location and flags, viewports, the page watch and page helpers."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page, ViewportSize

CHROMIUM = Path(os.environ.get("SITECHECK_TEST_CHROMIUM", "/usr/bin/chromium"))
# The flags this machine's closed network needs (no background fetches, no first-run, no QUIC) and headless.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "web"
LAPTOP: ViewportSize = {"width": 1366, "height": 768}
MONITOR: ViewportSize = {"width": 1920, "height": 1080}


@dataclass
class Watch:
    """What a page did that it must not: requests leaving the service, console errors, uncaught exceptions."""

    external: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow_console(self, fragment: str) -> None:
        """Accept console errors containing this text (the browser's own report of an expected 4xx answer)."""
        self.allowed.append(fragment)

    def problems(self) -> list[str]:
        """Everything recorded that is not allowed."""
        errors = [e for e in self.console_errors if not any(fragment in e for fragment in self.allowed)]
        return [f"external request: {url}" for url in self.external] + errors + self.page_errors


@dataclass
class BrowserPage:
    """A page of the service in a fresh browser context, with its watch."""

    page: Page
    watch: Watch
    base_url: str

    def open(self) -> Page:
        """Load the page and wait until its map, catalogue and search options are ready."""
        self.page.goto(self.base_url + "/")
        self.page.wait_for_selector("body[data-ready='true']", timeout=60_000)
        self.wait_for_map()
        return self.page

    def wait_for_map(self) -> None:
        """Wait until the map has drawn every tile it asked for."""
        self.page.wait_for_function(
            "() => window.sitecheck && window.sitecheck.map && window.sitecheck.map.loaded()"
            " && window.sitecheck.map.areTilesLoaded()",
            timeout=60_000,
        )

    def screenshot(self, name: str) -> Path:
        """Save a screenshot under artifacts/web/ and return its path."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path
