"""The Latent tab in a real browser (Debian's Chromium through playwright), with the shipped weights: drawing an
endpoint, the note on what a photo becomes, the examples, and a link to the MNIST VAE."""

import pytest

from tests.browser.test_browser import not_blank, shown_image, wait_for_text
from unetlab import data

PORT = 7951

pytestmark = pytest.mark.browser

NOTE = "#latent-input-note"


def open_tab(page) -> None:
    """The Latent tab, with its preset walk (a held-out 0 to a held-out 7) shown."""
    page.get_by_role("tab", name="Latent").click()
    wait_for_text(page, NOTE, "B: used as it is.", timeout=30_000)


def endpoint_src(page, key: str) -> str:
    return page.locator(f"#latent-{key} img").first.get_attribute("src") or ""


def stroke(page, canvas, fx: float) -> None:
    """A vertical stroke (a "1") at fraction fx of the canvas's width."""
    box = canvas.bounding_box()
    x = box["x"] + fx * box["width"]
    page.mouse.move(x, box["y"] + 0.3 * box["height"])
    page.mouse.down()
    page.mouse.move(x, box["y"] + 0.7 * box["height"], steps=12)
    page.mouse.up()


def open_drawing(page, key: str):
    """The Draw panel of endpoint `key`, open, with its canvas ready for the brush."""
    page.get_by_text(f"Draw {key.upper()}", exact=True).click()
    sketch = page.locator(f"#latent-{key}-sketch")
    canvas = sketch.locator("canvas").first
    canvas.wait_for(state="visible", timeout=10_000)
    page.wait_for_timeout(500)  # the editor picks its tool once its canvas is ready
    return sketch, canvas


def test_drawing_on_the_canvas_sets_the_endpoint(page):
    """The Draw panel used to open with no tool selected ("select the draw tool to start"): a drag selected the
    page's text and drew nothing. Now the brush is ready, a stroke becomes A, and so it is after Clear."""
    open_tab(page)
    before = endpoint_src(page, "a")
    sketch, canvas = open_drawing(page, "a")
    assert sketch.get_by_text("select the draw tool to start").count() == 0
    stroke(page, canvas, 0.5)
    wait_for_text(page, NOTE, "(it was 256×256)", timeout=30_000)  # A is now the 256x256 drawing, fitted
    note = page.locator(NOTE).inner_text()
    assert note.startswith("A: inverted") and "⚠" not in note  # fitted like a digit, and looks like one
    drawn = endpoint_src(page, "a")
    assert drawn != before
    assert page.evaluate("() => window.getSelection().toString()") == ""  # the drag drew; it selected nothing
    assert not_blank(shown_image(page, "#latent-strip"))
    sketch.get_by_role("button", name="Clear canvas").click()
    # the brush is ready again once the server's white background arrives (the queue may be busy: wait for it)
    sketch.get_by_text("select the draw tool to start").wait_for(state="detached", timeout=30_000)
    stroke(page, canvas, 0.4)
    page.wait_for_function(
        "([s, old]) => { const i = document.querySelector(s); return i && i.getAttribute('src') !== old }",
        arg=["#latent-a img", drawn],
        timeout=30_000,
    )
    assert page.evaluate("() => window.getSelection().toString()") == ""


def test_a_colour_photo_is_flagged_and_a_held_out_digit_is_not(page):
    open_tab(page)
    assert "⚠" not in page.locator(NOTE).inner_text()
    page.locator("#latent-a input[type=file]").set_input_files(data.heldout_photo_paths()["coffee"])
    wait_for_text(page, NOTE, "A does not look like the images vae-digits was trained on", timeout=60_000)
    note = page.locator(NOTE).inner_text()
    assert "it is in colour" in note and "It was reduced to grey" in note and "(it was 600×400)" in note
    page.locator("#latent-a-examples .gallery-item").nth(3).click()  # a held-out 3
    wait_for_text(page, NOTE, "A: used as it is.", timeout=60_000)
    assert "⚠" not in page.locator(NOTE).inner_text()


def test_every_example_is_on_one_page(page):
    """Gradio shows 10 examples a page: the four faces used to be on page 2. MNIST's ten have a gallery of their own."""
    open_tab(page)
    for gallery, n in (("examples", 14), ("mnist-examples", 10)):
        for key in ("a", "b"):
            items = page.locator(f"#latent-{key}-{gallery} .gallery-item")
            assert items.count() == n
            assert all(items.nth(i).is_visible() for i in range(n))
            assert page.locator(f"#latent-{key}-{gallery}").get_by_text("Pages").count() == 0


def test_a_link_to_vae_mnist_walks_mnist_digits_and_frames_a_drawing_as_mnist(page):
    """?tab=latent&latent.vae=vae-mnist opens with ae-mnist beside it and a held-out MNIST 0 and 7 at the ends; a
    stroke drawn off centre becomes A, framed and centred as MNIST's digits were."""
    page.goto(f"http://127.0.0.1:{PORT}/?tab=latent&latent.vae=vae-mnist")
    wait_for_text(page, NOTE, "B: used as it is.", timeout=60_000)
    page.wait_for_function("() => document.querySelector('#latent-ae input').value === 'ae-mnist'", timeout=30_000)
    assert page.locator("#latent-vae input").input_value() == "vae-mnist"
    assert "⚠" not in page.locator(NOTE).inner_text()  # MNIST digits given to the MNIST VAE
    assert "mnist-0" in endpoint_src(page, "a") and "mnist-7" in endpoint_src(page, "b")
    assert not_blank(shown_image(page, "#latent-ae-strip"))
    _, canvas = open_drawing(page, "a")
    stroke(page, canvas, 0.25)
    wait_for_text(page, NOTE, "centred by its mass in a 28×28 frame", timeout=30_000)
    note = page.locator(NOTE).inner_text()
    assert note.startswith("A: inverted") and "(it was 256×256)" in note and "⚠" not in note
