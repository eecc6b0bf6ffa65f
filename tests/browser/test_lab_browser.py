"""The Lab tab in a real browser (Debian's Chromium through playwright), with the shipped weights: a rerun works on a
copy of the purity results, the purity table fits at 1400 px, and the anomaly plot draws both curves for any
detector."""

import json
import re

import pytest

from unetlab import lab
from unetlab.settings import Settings
from unetlab.ui.lab import duration

PORT = 7941

pytestmark = pytest.mark.browser

SHIPPED = lab.load_purity(Settings().weights)


def open_lab(page) -> None:
    page.get_by_role("tab", name="Lab").click()
    page.locator("#lab-purity").filter(has_text=f"{SHIPPED['rows'][0]['purity_mean']:.4f}").wait_for(timeout=30_000)


def ours(page, table: str) -> list[str]:
    """The "ours" column of a purity table as shown (third column; the rows: four conditions, then raw pixels)."""
    rows = page.locator(f"#{table}").evaluate(
        "t => [...t.querySelectorAll('.virtual-body [role=row]')]"
        ".map(r => [...r.querySelectorAll('[role=gridcell]')].map(c => c.innerText.trim()))"
    )
    return [r[2] for r in rows]


def shows(page, table: str, expected: list[str], timeout: float = 30.0) -> list[str]:
    """The table's "ours" column once it equals `expected` (a table may render after the status line beside it), or
    as it is when `timeout` seconds have passed."""
    for _ in range(int(timeout * 5)):
        if (now := ours(page, table)) == expected:
            break
        page.wait_for_timeout(200)
    return now


def shipped_ours() -> list[str]:
    return [f"{lab.find(SHIPPED['rows'], *c)['purity_mean']:.4f}" for c in [*lab.CONDITIONS, (None, None)]]


def set_slider(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def test_a_rerun_works_on_a_copy(page):
    """Rerun streams into its own table with progress; Stop leaves the shipped results in place; a finished rerun can
    be shown in the main table, and Restore brings the shipped run back."""
    open_lab(page)
    assert ours(page, "lab-purity") == shipped_ours()
    show = page.locator("#lab-show-rerun")
    assert show.is_disabled()  # no finished rerun in this session yet
    set_slider(page, "lab-epochs", 1)
    set_slider(page, "lab-seeds", 1)
    need = lab.rerun_seconds(lab.PurityConfig(epochs=1, kmeans_seeds=1, seeds=1), SHIPPED)  # the shipped run's pace
    page.locator("#lab-rerun").filter(has_text=f"about {duration(need)} at the shipped").wait_for(timeout=10_000)
    # a rerun, stopped: its progress shows in its own status line, and the shipped table never changes
    page.locator("#lab-rerun").click()
    running = page.locator("#lab-rerun-status").filter(has_text="condition 1 of 5")
    running.wait_for(timeout=120_000)
    assert re.search(r"epoch 1 of 1; \d+ s elapsed, about \d+ s left", running.inner_text()), running.inner_text()
    assert ours(page, "lab-purity") == shipped_ours()
    assert "Shipped run" in page.locator("#lab-purity-status").inner_text()
    page.locator("#lab-stop").click()
    page.locator("#lab-rerun-status").filter(has_text="Rerun: stopped after").wait_for(timeout=60_000)
    assert ours(page, "lab-purity") == shipped_ours() and show.is_disabled()
    # a rerun started right after a stopped one runs to its end; shown in the main table only when asked
    page.locator("#lab-rerun").click()
    page.locator("#lab-rerun-status").filter(has_text="Rerun done").wait_for(timeout=300_000)
    rerun = ours(page, "lab-rerun-table")
    assert all(re.fullmatch(r"0\.\d{4}", v) for v in rerun), rerun
    assert ours(page, "lab-purity") == shipped_ours()
    page.wait_for_function("() => !document.querySelector('#lab-show-rerun').disabled", timeout=10_000)
    show.click()
    page.locator("#lab-purity-status").filter(has_text="This session's rerun on mnist: 1 epoch(s)").wait_for(
        timeout=30_000
    )
    assert shows(page, "lab-purity", rerun) == rerun
    assert_table_fits(page, "lab-rerun-table")
    page.locator("#lab-restore").click()
    page.locator("#lab-purity-status").filter(has_text="Shipped run").wait_for(timeout=30_000)
    assert shows(page, "lab-purity", shipped_ours()) == shipped_ours()


def assert_table_fits(page, table: str) -> None:
    """The whole table is visible: nothing to scroll sideways, its last column inside the page."""
    fit = page.locator(f"#{table}").evaluate(
        """t => { const v = t.querySelector('.virtual-table-viewport');
        const th = [...t.querySelectorAll('[role=columnheader]')].pop();
        return {scroll: v.scrollWidth, client: v.clientWidth, right: th.getBoundingClientRect().right,
                box: t.getBoundingClientRect().right, page: window.innerWidth} }"""
    )
    assert fit["scroll"] <= fit["client"] and fit["right"] <= min(fit["box"], fit["page"]), fit


def test_the_data_choice_shows_each_shipped_run(page):
    """MNIST (the article's data, three training seeds) first; digits, the earlier run, one click away; and back."""
    open_lab(page)
    assert re.search(r"\(\d/3\)", page.locator("#lab-reading").inner_text())  # each finding: in how many seeds
    digits = lab.load_purity(Settings().weights, "digits")
    page.locator("#lab-purity-data").get_by_text("digits 8x8").click()
    expected = [f"{lab.find(digits['rows'], *c)['purity_mean']:.4f}" for c in [*lab.CONDITIONS, (None, None)]]
    assert shows(page, "lab-purity", expected) == expected
    assert "ours (digits)" in page.locator("#lab-reading").inner_text()
    assert "1 training seed(s)" in page.locator("#lab-purity-status").inner_text()
    page.locator("#lab-purity-data").get_by_text("MNIST 28x28").click()
    assert shows(page, "lab-purity", shipped_ours()) == shipped_ours()


def test_the_purity_table_fits_the_page(page):
    """At 1400 px (and 1280x720) the table is not cut off on the right: it used to scroll sideways."""
    open_lab(page)
    assert_table_fits(page, "lab-purity")
    page.set_viewport_size({"width": 1280, "height": 720})
    page.wait_for_timeout(500)
    assert_table_fits(page, "lab-purity")


LINES = """() => { const s = document.querySelector('#lab-anomaly-hist svg');
    return s ? {lines: [...s.querySelectorAll('g.mark-line path')].map(p => p.getAttribute('d') || ''),
                legend: [...s.querySelectorAll('.role-legend-label text')].map(t => t.textContent)} : null }"""


def test_every_detector_draws_both_curves(page):
    """Picking another detector redraws both histograms, under the same two legend entries (a left-out digit's curve
    was once never drawn after the first detector)."""
    open_lab(page)
    page.locator("#lab-anomaly-summary").filter(has_text="ROC AUC").wait_for(timeout=60_000)  # on arrival
    page.locator("#lab-anomaly-hist svg g.mark-line path").first.wait_for(timeout=30_000)
    before = page.evaluate(LINES)
    for digit in (8, 3):
        page.locator("#lab-anomaly-model input").click()
        page.get_by_role("option", name=f"digit {digit} left out").click()
        page.locator("#lab-anomaly-summary").filter(has_text=f"for digit {digit}").wait_for(timeout=60_000)
        page.wait_for_function(
            f"""() => {{ const now = ({LINES})(), was = {json.dumps(before["lines"])};
            return now && now.lines.length === 2 && now.lines.every((d, i) => d.length > 50 && d !== was[i]) }}""",
            timeout=30_000,
        )
        drawn = page.evaluate(LINES)
        assert drawn["legend"] == ["normal (other digits)", "left-out digit"], drawn["legend"]
        before = drawn
