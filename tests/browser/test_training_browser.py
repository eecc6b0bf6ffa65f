"""The Live training tab in a real browser (Debian's Chromium through playwright): train the U-Net with vs without
skips on digits, watch the grids and curves stream, stop, then use the new model in the Reconstruction tab.

UNETLAB_SCREENSHOTS=DIR saves the tab's screenshot as DIR/training.png (the README's image).
"""

import tempfile
import time
from pathlib import Path

import pytest

from tests.browser.conftest import app_in_chromium, new_page
from tests.browser.test_browser import not_blank, save_screenshot, shown_image

PORT = 7905

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser():
    with app_in_chromium(PORT) as b:
        yield b


@pytest.fixture
def page(browser, request):
    yield from new_page(browser, PORT, request, height=1300)


def live_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("unetlab-live-*"))


def test_train_compare_stop_and_use_in_reconstruction(page, browser):
    before = live_folders()
    page.get_by_role("tab", name="Live training").click()
    download = page.locator("#live-download")
    assert download.is_disabled() and "after a job" in download.inner_text()  # nothing to download yet
    page.locator("#live-start").click()
    t0 = time.perf_counter()
    page.locator("#live-status").filter(has_text="epoch 0/10").wait_for(timeout=30_000)
    first_grid = time.perf_counter() - t0
    assert not_blank(shown_image(page, "#live-grid-a")) and not_blank(shown_image(page, "#live-grid-b"))
    page.locator("#live-status").filter(has_text="epoch 1/10").wait_for(timeout=60_000)
    first_epoch = time.perf_counter() - t0
    page.locator("#live-status").filter(has_text="epoch 4/10").wait_for(timeout=120_000)
    page.locator("#live-stop").click()
    page.locator("#live-status").filter(has_text="Registered as").wait_for(timeout=60_000)
    page.locator("#live-plot canvas, #live-plot svg").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)  # the plot draws its lines after the data arrives
    save_screenshot(page, "training")
    text = page.locator("#live-status").inner_text()
    assert "stopped" in text and "live-unet-skip-digits" in text and "epoch 10/10" not in text
    page.wait_for_function("() => !document.querySelector('#live-download').disabled", timeout=30_000)
    assert "after a job" not in download.inner_text()
    print(f"first grid (epoch 0, untrained) after {first_grid:.1f} s; both models' epoch 1 after {first_epoch:.1f} s")

    # the new model, at once, in the Reconstruction tab
    page.get_by_role("tab", name="Reconstruction").click()
    skip = page.get_by_label("Model with skips")
    skip.click()  # opening the list refreshes it from the registry
    page.get_by_role("option", name="live-unet-skip-digits").click()
    # picking it re-runs on the photo the tab holds (coffee); wait until that run has ended, not just its text
    page.locator("#recon-scores").filter(has_text="with skips (live-unet-skip-digits)").wait_for(timeout=60_000)
    page.locator("#recon-skip .pending, #recon-skip .generating").first.wait_for(state="detached", timeout=60_000)
    assert not_blank(shown_image(page, "#recon-skip"))

    # private: another browser tab (another session) does not see it; closing this tab deletes its files
    other = browser.new_page(viewport={"width": 1400, "height": 1100})
    other.goto(f"http://127.0.0.1:{PORT}/")
    other.get_by_label("Model with skips").click()
    other.get_by_role("option", name="recon-skip").first.wait_for(timeout=30_000)
    assert other.get_by_role("option", name="live-unet-skip-digits").count() == 0
    other.close()
    ours = live_folders() - before
    assert ours and all(f.is_dir() for f in ours)
    page.close()  # the session ends: Gradio's unload event
    deadline = time.time() + 60
    while any(f.exists() for f in ours) and time.time() < deadline:
        time.sleep(0.5)
    assert not any(f.exists() for f in ours)
