import contextlib
import os
import shutil
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
FAILURES = Path(__file__).parent / "failures"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
ARGS += ["--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Mark a failed test so the page fixture can save a screenshot of what the browser showed."""
    outcome = yield
    if outcome.get_result().failed:
        item.failed = True


@contextlib.contextmanager
def app_in_chromium(port: int):
    """The app with the shipped weights on loopback at `port`, and a headless Chromium to drive it.

    Skips without Chromium, unless UNETLAB_REQUIRE_BROWSER is set (CI): then that is a failure."""
    if not shutil.which(CHROMIUM):
        if os.environ.get("UNETLAB_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    import app
    from unetlab import registry
    from unetlab.settings import Settings

    demo = app.build_app(registry.Registry(Settings().weights))
    app.launch(demo, Settings(), prevent_thread_lock=True, server_port=port, quiet=True)  # as app.py does: its CSS too
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            yield b
            b.close()
    finally:
        idle(demo)
        demo.close()


def idle(demo, seconds: float = 120) -> None:
    """Wait until the app runs no event: a page's load events (the tabs' results on arrival) may still be computing
    when a test ends, and a process that exits inside torch aborts."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(job is not None for job in demo._queue.active_jobs):
        time.sleep(0.2)


def new_page(browser, port: int, request, height: int = 1100):
    """A fresh page on the app (a fixture's body); on failure, a screenshot goes to tests/browser/failures/."""
    page = browser.new_page(viewport={"width": 1400, "height": height})
    page.goto(f"http://127.0.0.1:{port}/")
    yield page
    if getattr(request.node, "failed", False):
        FAILURES.mkdir(exist_ok=True)
        page.screenshot(path=FAILURES / f"{request.node.name}.png", full_page=True)
    page.close()


@pytest.fixture(scope="module")
def browser(request):
    """The app and Chromium for a test module, on the module's own PORT."""
    with app_in_chromium(request.module.PORT) as b:
        yield b


@pytest.fixture
def page(browser, request):
    yield from new_page(browser, request.module.PORT, request)
