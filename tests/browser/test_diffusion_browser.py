"""The Diffusion tab in a real browser (Debian's Chromium through playwright), with the shipped weights.

UNETLAB_SCREENSHOTS=DIR saves DIR/diffusion.png (the README's image)."""

import numpy as np
import pytest

from tests.browser.test_browser import not_blank, save_screenshot, shown_image, wait_for_text

PORT = 7915

pytestmark = pytest.mark.browser


def test_denoise_scrub_play_and_grid(page):
    page.get_by_role("tab", name="Diffusion").click()
    wait_for_text(page, "#diff-info", "seed 0. Step 50 / 50", timeout=120_000)  # on arrival: the default run
    assert not_blank(shown_image(page, "#diff-eps")) and not_blank(shown_image(page, "#diff-x0"))
    seed = page.locator("#diff-seed input")
    seed.fill("1")
    seed.press("Enter")
    page.locator("#diff-run").click()
    wait_for_text(page, "#diff-info", "seed 1. Step 50 / 50", timeout=120_000)
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
    assert "Made with class 3, DDIM 50 steps, guidance 1" in page.locator("#diff-info").inner_text()
    guidance = page.locator("#diff-guidance input[type=number]")
    guidance.fill("8")
    guidance.press("Enter")  # a new setting: the panels are now from other settings, and the tab says so
    wait_for_text(page, "#diff-info", "These panels were made with class 3, DDIM 50 steps, guidance 1")
    page.locator("#diff-grid-run").click()
    wait_for_text(page, "#diff-grid-note", "HF energy ratio", timeout=120_000)
    assert not_blank(shown_image(page, "#diff-grid-eps")) and not_blank(shown_image(page, "#diff-grid-x0"))
    assert "classifier" in page.locator("#diff-figures").inner_text()
    page.wait_for_timeout(1500)  # the plots draw their lines after the data arrives
    save_screenshot(page, "diffusion")
