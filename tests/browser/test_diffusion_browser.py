"""The Diffusion tab in a real browser (Debian's Chromium through playwright), with the shipped weights.

UNETLAB_SCREENSHOTS=DIR saves DIR/diffusion.png (the README's image)."""

import os
import shutil

import numpy as np
import pytest

import app
from tests.browser.test_browser import ARGS, CHROMIUM, FAILURES, not_blank, save_screenshot, shown_image, wait_for_text
from unetlab import registry

PORT = 7915

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        if os.environ.get("UNETLAB_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    demo = app.build_app(registry.Registry(registry.WEIGHTS_DIR))
    demo.queue().launch(prevent_thread_lock=True, server_port=PORT, quiet=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()
    demo.close()


@pytest.fixture
def page(browser, request):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(f"http://127.0.0.1:{PORT}/")
    yield page
    if getattr(request.node, "failed", False):
        FAILURES.mkdir(exist_ok=True)
        page.screenshot(path=FAILURES / f"{request.node.name}.png", full_page=True)
    page.close()


def test_denoise_scrub_play_and_grid(page):
    page.get_by_role("tab", name="Diffusion").click()
    page.locator("#diff-run").click()
    wait_for_text(page, "#diff-info", "Step 50 / 50", timeout=120_000)
    last_eps = shown_image(page, "#diff-eps")
    assert not_blank(last_eps) and not_blank(shown_image(page, "#diff-x0"))
    page.locator("#diff-scrub input[type=range]").fill("5")  # early: x_t is still mostly noise
    wait_for_text(page, "#diff-info", "Step 5 / 50")
    page.wait_for_timeout(1000)
    early = shown_image(page, "#diff-eps")
    assert early.shape != last_eps.shape or np.abs(early.astype(int) - last_eps).mean() > 2
    page.locator("#diff-play").click()  # streams the steps back to the last one
    wait_for_text(page, "#diff-info", "Step 50 / 50", timeout=60_000)
    page.locator("#diff-bands canvas, #diff-bands svg").first.wait_for(timeout=30_000)
    page.locator("#diff-grid-run").click()
    wait_for_text(page, "#diff-grid-note", "HF energy ratio", timeout=120_000)
    assert not_blank(shown_image(page, "#diff-grid-eps")) and not_blank(shown_image(page, "#diff-grid-x0"))
    assert "classifier" in page.locator("#diff-figures").inner_text()
    page.wait_for_timeout(1500)  # the plots draw their lines after the data arrives
    save_screenshot(page, "diffusion")
