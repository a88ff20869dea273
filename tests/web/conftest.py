"""The web page in a real browser: the service on the sample city, Debian's chromium driven by Playwright.

The service runs in a thread (uvicorn, embedded engine, data in a temporary folder) on a free loopback port.
Chromium is Debian's ``/usr/bin/chromium`` (apt package ``chromium``), never a browser Playwright downloads; a
missing chromium fails the tests, it never skips them. Every request that is not for the local service is
aborted and recorded, and every console error is recorded: each test ends by asserting there were none.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Playwright, Request, Route, ViewportSize, sync_playwright

from sitecheck.settings import SAMPLE_CITY_DIR, AccessSettings, Settings
from tests.web.browser import CHROMIUM, CHROMIUM_ARGS, LAPTOP, BrowserPage, Watch


def _free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def web_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The sample city on the embedded engine, every layer loaded once, in a fresh data folder, as the demo runs."""
    from layers.load import load_configured_layers
    from sitecheck.stores import open_store

    settings = Settings(
        database_url=None,
        data_dir=tmp_path_factory.mktemp("web") / "var",
        layer_config=SAMPLE_CITY_DIR / "layers.toml",
        access=AccessSettings(auth_enabled=False),  # as `sitecheck demo`: loopback callers, no keys
    )
    store = open_store(settings)
    try:
        load_configured_layers(store, loaded_by="web-tests", analysis_crs=settings.analysis_crs)
    finally:
        store.close()
    return settings


@pytest.fixture(scope="session")
def base_url(web_settings: Settings) -> Iterator[str]:
    """The real service (uvicorn in a thread) on a free loopback port; stopped at the end of the session."""
    from app.main import create_app

    port = _free_port()
    config = uvicorn.Config(create_app(web_settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="sitecheck-web-tests", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the service did not start for the browser tests", pytrace=False)
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver (its own browser downloads are never used)."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's chromium, headless; fails loudly when it is not installed."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); the browser tests "
            "need it and are never skipped",
            pytrace=False,
        )
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    yield launched
    launched.close()


@pytest.fixture
def open_page(browser: Browser, base_url: str) -> Iterator[Callable[..., BrowserPage]]:
    """Make pages at a viewport size; after the test, assert none fetched from outside or logged an error."""
    made: list[tuple[Any, Watch]] = []

    def make(viewport: ViewportSize = LAPTOP) -> BrowserPage:
        context = browser.new_context(viewport=viewport, locale="zh-CN", accept_downloads=True)
        watch = Watch()

        def guard(route: Route, request: Request) -> None:
            if request.url.startswith(base_url + "/"):
                route.continue_()
            else:
                watch.external.append(request.url)
                route.abort()

        def console(message: ConsoleMessage) -> None:
            if message.type == "error":
                watch.console_errors.append(f"console error: {message.text} ({message.location.get('url')})")

        context.route("**/*", guard)
        page = context.new_page()
        page.on("console", console)
        page.on("pageerror", lambda error: watch.page_errors.append(f"page error: {error}"))
        made.append((context, watch))
        return BrowserPage(page=page, watch=watch, base_url=base_url)

    yield make
    problems = [problem for _, watch in made for problem in watch.problems()]
    for context, _ in made:
        context.close()
    assert problems == [], "\n".join(problems)
