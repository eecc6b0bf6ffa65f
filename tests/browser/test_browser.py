"""Every tab driven in a real browser: Debian's Chromium through playwright, against the app on loopback.

The app runs with the shipped weights. On failure a screenshot is saved under tests/browser/failures/.
UNETLAB_SCREENSHOTS=DIR also saves each tab's screenshot into DIR (how the README's images are made).
UNETLAB_REQUIRE_BROWSER=1 (set by CI) turns a missing Chromium into a failure instead of a skip.
"""

import io
import json
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


def save_screenshot(page, name: str, full_page: bool = True) -> None:
    """With UNETLAB_SCREENSHOTS=DIR, the page as shown (the whole page, or the screen's worth) into DIR."""
    out = os.environ.get("UNETLAB_SCREENSHOTS")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=Path(out) / f"{name}.png", full_page=full_page)


def wait_for_text(page, selector: str, text: str, timeout: float = 60_000) -> None:
    """Wait until an event's output shows `text` and its progress overlay is gone."""
    page.locator(selector).filter(has_text=text).wait_for(timeout=timeout)
    page.locator(".generating, .pending").first.wait_for(state="detached", timeout=timeout)


def test_reconstruction_example_click(page):
    # the result on arrival first: on a cold server a late arrival can still replace a photo clicked before it came
    wait_for_text(page, "#recon-scores", "on this 600x400 image")
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
    upload = colourful_upload(tmp_path)
    page.locator("#recon-input input[type=file]").set_input_files(str(upload))
    w, h = Image.open(upload).size  # its own size: the tab opens with coffee's results already shown
    wait_for_text(page, "#recon-scores", f"on this {w}x{h} image")
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
    # the page keeps working: a real upload goes through (chelsea: the tab opens with coffee's results)
    page.locator("#recon-input input[type=file]").set_input_files(data.heldout_photo_paths()["chelsea"])
    wait_for_text(page, "#recon-scores", "on this 451x300 image")
    assert not_blank(shown_image(page, "#recon-skip"))


def test_colorize_example_click(page):
    page.get_by_role("tab", name="Colorize").click()
    # the result on arrival first: on a cold server a late arrival can still replace a photo clicked before it came
    wait_for_text(page, "#color-info", "600x400 upload")
    page.locator("#color-examples button.gallery-item").first.click()  # chelsea
    wait_for_text(page, "#color-info", "451x300 upload")
    assert "colorize-guided-skip" in page.locator("#color-info").inner_text()
    assert not_blank(shown_image(page, "#color-result")) and not_blank(shown_image(page, "#color-other"))
    for view in ("#color-canvas", "#color-L", "#color-a", "#color-b"):
        assert not_blank(shown_image(page, view))


def drawn_point(page, selector: str, fx: float, fy: float) -> dict:
    """Where a point at fractions (fx, fy) of an image lies inside its element (drawn with object-fit: contain)."""
    img = page.locator(f"{selector} img").first
    box = img.bounding_box()
    nw, nh = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    s = min(box["width"] / nw, box["height"] / nh)
    return {"x": (box["width"] - nw * s) / 2 + fx * nw * s, "y": (box["height"] - nh * s) / 2 + fy * nh * s}


def drawn_image(page, selector: str) -> np.ndarray:
    """An output image's pixels as rendered, without the letterbox object-fit: contain leaves around it."""
    pixels = shown_image(page, selector)
    img = page.locator(f"{selector} img").first
    box = img.bounding_box()
    nw, nh = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    s = min(box["width"] / nw, box["height"] / nh)
    k = pixels.shape[1] / box["width"]  # screenshot pixels per CSS pixel
    x0, y0 = round(k * (box["width"] - nw * s) / 2), round(k * (box["height"] - nh * s) / 2)
    return pixels[y0 : y0 + round(k * nh * s), x0 : x0 + round(k * nw * s)]


def colour_at(pixels: np.ndarray, fx: float, fy: float, r: int = 3) -> np.ndarray:
    h, w = pixels.shape[:2]
    y, x = round(fy * (h - 1)), round(fx * (w - 1))
    return pixels[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1].reshape(-1, 3).astype(float).mean(0)


def test_colorize_hint_click_places_a_hint(page):
    """A click on the canvas puts a hint of the picker's colour (blue by default) where it was clicked: drawn there,
    listed in the hints box, sent with the request, and the shipped guided colouriser turns that spot blue (a brown
    cat's fur). The palette offers the model's own colours there. Clearing the hints empties the list."""
    page.get_by_role("tab", name="Colorize").click()
    wait_for_text(page, "#color-info", "600x400 upload")  # the arrival first (see test_colorize_example_click)
    page.locator("#color-examples button.gallery-item").first.click()  # chelsea: a brown cat
    wait_for_text(page, "#color-info", "451x300 upload")  # not the coffee the tab opens with
    assert "colorize-guided-skip" in page.locator("#color-info").inner_text()
    spot = (0.3, 0.3)  # the fur above the cat's eye

    def blueness(selector: str) -> float:
        r, _, b = colour_at(drawn_image(page, selector), *spot)
        return b - r

    before = blueness("#color-result")
    page.locator("#color-canvas img").first.click(position=drawn_point(page, "#color-canvas", *spot))
    wait_for_text(page, "#color-info", "1 hint(s)")
    hints = json.loads(page.locator("#color-hints textarea").input_value())
    assert len(hints) == 1 and abs(hints[0]["x"] - 0.3 * 451) < 4 and abs(hints[0]["y"] - 0.3 * 300) < 4
    assert hints[0]["color"] == "#3a7bd5"
    canvas = shown_image(page, "#color-canvas")
    h, w = canvas.shape[:2]
    r, g, b = canvas[round(0.3 * (h - 1)), round(0.3 * (w - 1))].astype(int)
    assert b > r + 60 and b > g + 30, (r, g, b)  # the blue dot is drawn where the click was
    after = blueness("#color-result")
    assert after > 0 and after > before + 40, (before, after)  # the result turned blue where the hint is
    assert not_blank(shown_image(page, "#color-palette"))  # the model's top colours at the point
    page.locator("#color-clear").click()
    wait_for_text(page, "#color-info", "0 hint(s)")
    assert page.locator("#color-hints textarea").input_value() == "[]"


def hinted_photo(tmp_path) -> tuple[Path, list[dict]]:
    """A photo from a test source (a Tux Paint starter when the corpus cache holds one, else coffee) and five hints
    taken from its own colours, as a user copying colours off the original would place them."""
    from unetlab import corpus

    found = [i for i in corpus.items("test", ("photo",)) if i.source == "tuxpaint" and i.path.exists()]
    path = found[len(found) // 2].path if found else Path(data.heldout_photo_paths()["coffee"])
    img = np.asarray(Image.open(path).convert("RGB"))[:, :-2]  # 2 px off: not the size of the photo shown on arrival
    h, w = img.shape[:2]
    spots = [(0.2, 0.2), (0.75, 0.25), (0.5, 0.55), (0.2, 0.8), (0.8, 0.8)]
    hints = []
    for fx, fy in spots:
        x, y = int(fx * w), int(fy * h)
        r, g, b = img[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3].reshape(-1, 3).mean(0).round().astype(int)
        hints.append({"x": x, "y": y, "color": f"#{r:02x}{g:02x}{b:02x}"})
    out = tmp_path / "photo.png"
    Image.fromarray(img).save(out)
    return out, hints


def test_colorize_from_a_handful_of_hints(page, tmp_path):
    """Hints typed into the hints box (then Enter) reach the request, and both guided models follow them: the
    result's colours at the hinted points move towards the hints' (the README's screenshot)."""
    page.get_by_role("tab", name="Colorize").click()
    photo, hints = hinted_photo(tmp_path)
    page.locator("#color-input input[type=file]").set_input_files(str(photo))
    h, w = np.asarray(Image.open(photo)).shape[:2]
    wait_for_text(page, "#color-info", f"{w}x{h} upload; ")  # its own size: the tab opens with coffee colourised
    box = page.locator("#color-hints textarea")
    box.fill(json.dumps(hints))
    box.press("Enter")
    wait_for_text(page, "#color-info", "5 hint(s)")
    want = np.array([[int(c["color"][i : i + 2], 16) for i in (1, 3, 5)] for c in hints], float)
    for selector in ("#color-result", "#color-other"):
        shown = drawn_image(page, selector)
        got = np.array([colour_at(shown, c["x"] / w, c["y"] / h, r=1) for c in hints])
        grey = got.mean(1, keepdims=True)  # the same lightness without colour, roughly
        assert np.abs(got - want).mean() < 0.6 * np.abs(grey - want).mean(), (selector, got.round(), want)
    assert "colorize-guided-skip: the edges fill" in page.locator("#color-info").inner_text()  # the card's choice
    save_screenshot(page, "colorize")
    # the fill picked by hand: both models run again on the nearest-hint fill they were trained with
    before = drawn_image(page, "#color-result")
    page.locator("#color-fill").get_by_text("nearest hint").click()
    wait_for_text(page, "#color-info", "colorize-guided-skip: the nearest fill")
    after = drawn_image(page, "#color-result")
    assert before.shape != after.shape or np.abs(before.astype(int) - after.astype(int)).mean() > 0.5


def test_latent_interpolate_slide_and_sample(page):
    page.get_by_role("tab", name="Latent").click()
    # a result on arrival: A = a held-out 0 and B = a held-out 7 are preset, and their walk is already shown
    wait_for_text(page, "#latent-map-note", "coloured by class", timeout=10_000)
    assert not_blank(shown_image(page, "#latent-strip", timeout=10_000)) and not_blank(shown_image(page, "#latent-map"))
    page.locator("#latent-run").click()
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
    digits = shown_image(page, "#latent-samples")
    assert not_blank(digits)
    save_screenshot(page, "latent")
    # another VAE: its own plain AE (none was trained on faces, so none) and its own prior samples
    page.locator("#latent-vae input").click()
    page.get_by_role("option", name="vae-faces").click()
    page.wait_for_function("() => document.querySelector('#latent-ae input').value === ''", timeout=30_000)
    page.wait_for_timeout(2000)
    faces = shown_image(page, "#latent-samples")
    assert faces.shape != digits.shape or np.abs(faces.astype(int) - digits).mean() > 2


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
