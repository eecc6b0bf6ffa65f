"""The Diffusion tab in a real browser (Debian's Chromium through playwright), with the shipped weights.

UNETLAB_SCREENSHOTS=DIR saves DIR/diffusion.png and DIR/diffusion-mnist.png (the README's images)."""

import re
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from tests.browser.test_browser import not_blank, save_screenshot, shown_image, wait_for_text
from unetlab import diffusion, registry
from unetlab.settings import Settings

PORT = 7915

pytestmark = pytest.mark.browser


def enter(page, selector: str, value: str) -> None:
    """Type a value into a control's number box, as a lecturer would."""
    box = page.locator(f"{selector} input[type=number]")
    box.fill(value)
    box.press("Enter")


def test_denoise_scrub_play_and_grid(page):
    page.get_by_role("tab", name="Diffusion").click()
    arrival = "seed 0, ddpm-eps vs ddpm-x0. Step 50 / 50"  # on arrival: the default run
    wait_for_text(page, "#diff-info", arrival, timeout=120_000)
    assert not_blank(shown_image(page, "#diff-eps")) and not_blank(shown_image(page, "#diff-x0"))
    seed = page.locator("#diff-seed input")
    seed.fill("1")
    seed.press("Enter")  # DDIM 50 steps is a short run: it re-runs at once, without Denoise
    wait_for_text(page, "#diff-info", "seed 1, ddpm-eps vs ddpm-x0. Step 50 / 50", timeout=120_000)
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
    # guidance 8 at 50 steps doubles the U-Net passes (over the short-run limit): the panels stay, the tab says so
    enter(page, "#diff-guidance", "8")
    wait_for_text(page, "#diff-stale", "These panels were made with class 3, DDIM 50 steps, guidance 1, η 0, seed 1")
    assert "DDIM 50 steps at guidance 8 takes about" in page.locator("#diff-stale").inner_text()
    page.locator("#diff-scrub input[type=range]").fill("10")  # scrubbing keeps the note
    wait_for_text(page, "#diff-info", "Step 10 / 50")
    assert "These panels were made with" in page.locator("#diff-stale").inner_text()
    enter(page, "#diff-steps", "20")  # guidance 8 at 20 steps is short again: it runs, and the info line says so
    wait_for_text(page, "#diff-info", "Made with class 3, DDIM 20 steps, guidance 8, η 0, seed 1", timeout=120_000)
    assert page.locator("#diff-stale").inner_text().strip() == ""
    enter(page, "#diff-guidance", "1")  # and back: the panels follow the slider
    wait_for_text(page, "#diff-info", "Made with class 3, DDIM 20 steps, guidance 1, η 0, seed 1", timeout=120_000)
    enter(page, "#diff-steps", "50")
    wait_for_text(page, "#diff-info", "Made with class 3, DDIM 50 steps, guidance 1, η 0, seed 1", timeout=120_000)
    page.locator("#diff-grid-run").click()
    wait_for_text(page, "#diff-grid-note", "HF energy ratio", timeout=120_000)
    assert not_blank(shown_image(page, "#diff-grid-eps")) and not_blank(shown_image(page, "#diff-grid-x0"))
    assert "Made with 4 samples per digit, DDIM 20 steps, guidance 1, seed 1" in page.inner_text("#diff-grid-note")
    assert "classifier" in page.locator("#diff-figures").inner_text()
    page.wait_for_timeout(1500)  # the plots draw their lines after the data arrives
    save_screenshot(page, "diffusion")


def test_a_long_run_shows_its_progress(page):
    page.get_by_role("tab", name="Diffusion").click()
    wait_for_text(page, "#diff-info", "seed 0, ddpm-eps vs ddpm-x0. Step 50 / 50", timeout=120_000)
    enter(page, "#diff-steps", "100")  # 100 U-Net passes per model: over the short-run limit, so it waits
    wait_for_text(page, "#diff-stale", "DDIM 100 steps at guidance 1 takes about")
    page.locator("#diff-run").click()
    page.get_by_text(re.compile(r"^\d+/200 steps")).first.wait_for(timeout=60_000)  # 100 steps of each model
    page.get_by_text("Denoising with both models").first.wait_for(timeout=10_000)
    wait_for_text(page, "#diff-info", "Made with class 3, DDIM 100 steps, guidance 1", timeout=180_000)


MNIST = ["ddpm-mnist-eps", "ddpm-mnist-v", "ddpm-mnist-x0"]


def test_mnist_models_side_by_side_and_a_link_to_them(page, browser):
    """The data choice fills both lists with MNIST's models and runs its ε- vs x0-model at 28x28; a v-model on the
    right renames its panel and the plots' series; the link to that view reopens it."""
    shipped = diffusion.models_of(registry.Registry(Settings().weights), "mnist")
    if shipped != MNIST:
        pytest.skip(f"the MNIST diffusion models are not all in the weights folder (found: {shipped})")
    page.get_by_role("tab", name="Diffusion").click()
    wait_for_text(page, "#diff-info", "seed 0, ddpm-eps vs ddpm-x0. Step 50 / 50", timeout=120_000)
    page.locator("#diff-data").get_by_text("MNIST 28×28").click()  # 50 DDIM steps: a short run, at once
    wait_for_text(page, "#diff-info", "seed 0, ddpm-mnist-eps vs ddpm-mnist-x0. Step 50 / 50", timeout=120_000)
    left = shown_image(page, "#diff-eps")
    assert not_blank(left) and not_blank(shown_image(page, "#diff-x0"))
    assert "ε-model (ddpm-mnist-eps)" in page.locator("#diff-eps label").first.inner_text()
    assert "mnist-classifier" in page.locator("#diff-figures").inner_text()
    page.locator("#diff-x0-model input").click()  # the list holds MNIST's models only
    options = page.get_by_role("option")
    options.first.wait_for(timeout=30_000)
    assert sorted(o.get_attribute("aria-label") for o in options.all()) == MNIST  # (its text: "✓ " + the value)
    page.get_by_role("option", name="ddpm-mnist-v").click()
    wait_for_text(page, "#diff-info", "ddpm-mnist-eps vs ddpm-mnist-v. Step 50 / 50", timeout=120_000)
    page.wait_for_function(
        "() => document.querySelector('#diff-x0 label')?.innerText.includes('v-model (ddpm-mnist-v)')", timeout=30_000
    )
    # the band plot redraws its legend for the new pair (its title names the roles)
    page.locator("#diff-bands svg text").filter(has_text="v-model: high").first.wait_for(timeout=30_000)
    assert page.locator("#diff-bands svg text").filter(has_text="x0-model: low").count() == 0
    page.locator("#diff-grid-run").click()
    wait_for_text(page, "#diff-grid-note", "the classifier reads the asked digit", timeout=180_000)
    assert "**" not in page.locator("#diff-grid-note").inner_text()
    assert "v-model ddpm-mnist-v" in page.locator("#diff-grid-note").inner_text()
    page.wait_for_timeout(1500)  # the plots draw their lines after the data arrives
    save_screenshot(page, "diffusion-mnist")

    page.locator("#unetlab-share").click()
    page.wait_for_function("s => document.querySelector(s)?.value.startsWith('http')", arg="#unetlab-link textarea")
    url = page.locator("#unetlab-link textarea").first.input_value()
    query = parse_qs(urlparse(url).query)
    assert query["tab"] == ["diffusion"] and query["diffusion.data"] == ["mnist"]
    assert query["diffusion.left"] == ["ddpm-mnist-eps"] and query["diffusion.right"] == ["ddpm-mnist-v"]
    other = browser.new_page(viewport={"width": 1400, "height": 1100})  # someone else, opening the link
    other.goto(url)
    wait_for_text(other, "#diff-info", "seed 0, ddpm-mnist-eps vs ddpm-mnist-v. Step 50 / 50", timeout=120_000)
    assert other.locator("#diff-x0-model input").input_value() == "ddpm-mnist-v"
    opened = shown_image(other, "#diff-eps")
    assert opened.shape == left.shape and np.abs(opened.astype(int) - left).mean() < 2  # same seed, same noise
    other.close()


LDM = ["ldm-eps", "ldm-x0", "ldm-v"]


def test_three_objectives_on_photos_then_on_mnist(page):
    """The miniature SD's ε-, x0- and v-models denoise the same latent noise in three panels; scrubbing shows an
    earlier step; MNIST's three take their place when the data changes."""
    if sorted(registry.Registry(Settings().weights).names("ldm")) != sorted(LDM):
        pytest.skip("the latent diffusion models are not all in the weights folder")
    page.get_by_role("tab", name="Diffusion").click()
    page.locator("#three-run").scroll_into_view_if_needed()
    page.locator("#three-run").click()
    wait_for_text(page, "#three-info", "Step 50 / 50", timeout=120_000)
    info = page.locator("#three-info").inner_text()
    assert "ε-model = ldm-eps, x0-model = ldm-x0, v-model = ldm-v" in info and "Class photo" in info
    last = [shown_image(page, f"#three-panel-{i}") for i in range(3)]
    assert all(not_blank(p) for p in last)
    page.locator("#three-bands svg text").filter(has_text="v-model (ldm-v): high").first.wait_for(timeout=30_000)
    assert "the VAE's own reconstructions" in page.locator("#three-figures").inner_text()
    page.locator("#three-scrub input[type=range]").fill("10")
    wait_for_text(page, "#three-info", "Step 10 / 50")
    page.wait_for_timeout(1000)
    early = shown_image(page, "#three-panel-0")
    assert np.abs(early.astype(int) - last[0]).mean() > 2
    page.locator("#three-scrub input[type=range]").fill("50")
    wait_for_text(page, "#three-info", "Step 50 / 50")
    page.wait_for_timeout(1500)
    page.locator("#three-data").evaluate("e => e.scrollIntoView({block: 'start'})")
    page.mouse.wheel(0, -170)  # the section's heading in view too, the band plot below the panels
    page.wait_for_timeout(800)
    save_screenshot(page, "diffusion-photos", full_page=False)
    page.locator("#three-data").get_by_text("MNIST 28×28").click()
    page.locator("#three-run").click()
    wait_for_text(page, "#three-info", "ε-model = ddpm-mnist-eps, x0-model = ddpm-mnist-x0", timeout=120_000)
    assert all(not_blank(shown_image(page, f"#three-panel-{i}")) for i in range(3))
