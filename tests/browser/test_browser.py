"""Every tab driven in a real browser: Debian's Chromium through playwright, against the app on loopback.

The app runs with the shipped weights. On failure a screenshot is saved under tests/browser/failures/.
UNETLAB_SCREENSHOTS=DIR also saves each tab's screenshot into DIR (how the README's images are made).
UNETLAB_REQUIRE_BROWSER=1 (set by CI) turns a missing Chromium into a failure instead of a skip.
"""

import io
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unetlab import data

PORT = 7880

pytestmark = pytest.mark.browser


def shown_image(page, selector: str, timeout: float = 60_000) -> np.ndarray:
    """Wait until an output image is displayed and return its pixels as rendered."""
    img = page.locator(f"{selector} img").first
    img.wait_for(state="visible", timeout=timeout)
    page.wait_for_function(
        "s => { const i = document.querySelector(s); return i && i.complete && i.naturalWidth > 0 }",
        arg=f"{selector} img",
        timeout=timeout,
    )
    return np.asarray(Image.open(io.BytesIO(img.screenshot())).convert("RGB"))


def not_blank(pixels: np.ndarray) -> bool:
    return pixels.size > 0 and float(pixels.std()) > 10


def save_screenshot(page, name: str) -> None:
    out = os.environ.get("UNETLAB_SCREENSHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=Path(out) / f"{name}.png", full_page=True)


def wait_for_text(page, selector: str, text: str, timeout: float = 60_000) -> None:
    """Wait until an event's output shows `text` and its progress overlay is gone."""
    page.locator(selector).filter(has_text=text).wait_for(timeout=timeout)
    page.locator(".generating, .pending").first.wait_for(state="detached", timeout=timeout)


def test_reconstruction_example_click(page):
    page.locator("#recon-examples button.gallery-item").first.click()  # chelsea
    wait_for_text(page, "#recon-scores", "on this 451x300 image")
    assert "with skips (recon-skip)" in page.locator("#recon-scores").inner_text()
    assert not_blank(shown_image(page, "#recon-noskip")) and not_blank(shown_image(page, "#recon-skip"))
    page.locator("#recon-plot canvas, #recon-plot svg").first.wait_for(timeout=30_000)


def colourful_upload(tmp_path) -> Path:
    """A saturated, slide-like upload: UKUI's 3-D ribbon wallpaper (rhythm.jpg, a test source: the kind of image the
    nine-photo model shifted) when the corpus cache holds it, else the drawn slide of the reconstruction tests,
    so the test runs on a fresh machine too."""
    from tests.test_reconstruct import drawn_slide
    from unetlab import corpus

    ukui = [i for i in corpus.items("test") if i.member.endswith("/rhythm.jpg") and i.path.exists()]
    if ukui:
        img = Image.open(ukui[0].path).convert("RGB")
        img.thumbnail((800, 800))
    else:
        img = Image.fromarray(drawn_slide())
    path = tmp_path / "colourful.png"
    img.save(path)
    return path


def test_reconstruction_of_a_colourful_upload(page, tmp_path):
    """The skip model reconstructs a saturated slide-like image near-perfectly (the README's screenshot)."""
    page.locator("#recon-input input[type=file]").set_input_files(str(colourful_upload(tmp_path)))
    wait_for_text(page, "#recon-scores", "The skips gain")
    text = page.locator("#recon-scores").inner_text()
    skip_psnr = float(re.search(r"with skips \(recon-skip\)\s+([\d.]+)", text).group(1))
    noskip_psnr = float(re.search(r"without skips \(recon-noskip\)\s+([\d.]+)", text).group(1))
    assert skip_psnr > 28 and skip_psnr - noskip_psnr > 8, text
    assert not_blank(shown_image(page, "#recon-skip"))
    page.locator("#recon-plot canvas, #recon-plot svg").first.wait_for(timeout=30_000)
    save_screenshot(page, "reconstruction")


def test_reconstruction_upload_and_bad_upload(page, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is not a picture")
    page.locator("#recon-input input[type=file]").set_input_files(str(bad))
    page.get_by_text("is not an image this app can read").first.wait_for(timeout=30_000)
    # the page keeps working: a real upload goes through
    page.locator("#recon-input input[type=file]").set_input_files(data.heldout_photo_paths()["coffee"])
    wait_for_text(page, "#recon-scores", "on this 600x400 image")
    assert not_blank(shown_image(page, "#recon-skip"))


def test_colorize_example_click(page):
    page.get_by_role("tab", name="Colorize").click()
    page.locator("#color-examples button.gallery-item").first.click()  # chelsea
    wait_for_text(page, "#color-info", "451x300 upload")
    assert "colorize-skip" in page.locator("#color-info").inner_text()
    assert not_blank(shown_image(page, "#color-slider")) and not_blank(shown_image(page, "#color-other"))
    for view in ("#color-L", "#color-a", "#color-b"):
        assert not_blank(shown_image(page, view))
    save_screenshot(page, "colorize")


def test_latent_interpolate_slide_and_sample(page):
    page.get_by_role("tab", name="Latent").click()
    page.locator("#latent-run").click()  # A = a held-out 0, B = a held-out 7 are preset
    wait_for_text(page, "#latent-map-note", "coloured by class")
    assert not_blank(shown_image(page, "#latent-strip")) and not_blank(shown_image(page, "#latent-ae-strip"))
    before = shown_image(page, "#latent-frame")
    slider = page.locator("#latent-t input[type=range]")
    slider.fill("0.9")  # dragging: only a decode per frame
    page.wait_for_function(
        "() => document.querySelector('#latent-t input[type=number]').value === '0.9'", timeout=10_000
    )
    page.wait_for_timeout(1500)
    after = shown_image(page, "#latent-frame")
    assert before.shape != after.shape or np.abs(before.astype(int) - after).mean() > 2  # the frame moved
    assert not_blank(shown_image(page, "#latent-map"))
    page.locator("#latent-sample").click()
    assert not_blank(shown_image(page, "#latent-samples"))
    save_screenshot(page, "latent")


def test_lab_purity_anomaly_and_pca(page):
    page.get_by_role("tab", name="Lab").click()
    # the shipped purity run shows at once, ours beside the seed's, with the reading
    page.locator("#lab-purity").filter(has_text="0.6998").wait_for(timeout=30_000)
    assert "raw pixels" in page.locator("#lab-purity").inner_text()
    wait_for_text(page, "#lab-reading", "findings agree")
    page.locator("#lab-purity-plot canvas, #lab-purity-plot svg").first.wait_for(timeout=30_000)
    page.locator("#lab-pca-run").click()
    wait_for_text(page, "#lab-pca-summary", "off PCA's", timeout=120_000)
    assert not_blank(shown_image(page, "#lab-pca-grid"))
    page.locator("#lab-anomaly-run").click()
    wait_for_text(page, "#lab-anomaly-summary", "ROC AUC")
    assert not_blank(shown_image(page, "#lab-worst"))
    page.locator("#lab-anomaly-hist canvas, #lab-anomaly-hist svg").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)  # the plot draws its lines after the data arrives
    save_screenshot(page, "lab")
