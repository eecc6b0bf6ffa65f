import numpy as np
import pytest
import torch

from unetlab import images, metrics, registry
from unetlab.reconstruct import compare, reconstruct
from unetlab.settings import Settings


def tiny(skips=True, in_channels=3):
    torch.manual_seed(0)
    return registry.build("unet", {"in_channels": in_channels, "base": 4, "depth": 3, "skips": skips}).eval()


def test_any_size_is_padded_and_cropped_back():
    rng = np.random.default_rng(0)
    for h, w in [(17, 33), (64, 64), (9 * 8 + 1, 5)]:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        assert reconstruct(tiny(), img).shape == (h, w, 3)


def test_grey_into_rgb_model_and_rgb_into_grey_model():
    rgb = np.full((20, 24, 3), 100, np.uint8)
    assert reconstruct(tiny(), rgb[..., 0]).shape == (20, 24, 3)
    assert reconstruct(tiny(in_channels=1), rgb).shape == (20, 24, 3)  # out_channels stays 3


def test_the_edges_see_reflected_context_and_the_crop_back_is_exact():
    """The result is the model run on the image reflected by BORDER on every side, cropped back: no zero padding
    reaches the image's edges, and the padding to a multiple of 2^depth leaks nothing into the visible part."""
    from unetlab.reconstruct import BORDER

    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)  # 96 x 104 once reflected: divisible by 8
    m = tiny()
    padded = np.pad(images.to_float(img), ((0, 0), (BORDER, BORDER), (BORDER, BORDER)), mode="reflect")
    with torch.no_grad():
        direct = m(torch.from_numpy(padded)[None])[0, :, BORDER:-BORDER, BORDER:-BORDER].numpy()
    assert np.array_equal(reconstruct(m, img, fast=False), images.to_uint8(direct))


def test_fast_bf16_stays_close_to_fp32():
    img = np.random.default_rng(3).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    m = tiny()
    fast, exact = reconstruct(m, img).astype(int), reconstruct(m, img, fast=False).astype(int)
    assert np.abs(fast - exact).max() <= 8 and np.abs(fast - exact).mean() < 1.5


def test_psnr_and_ssim_on_known_images():
    x = np.array([[0.0, 0.5], [0.5, 1.0]])
    y = x + np.array([[0.2, 0.0], [0.0, 0.0]])  # one pixel of four off by 0.2: MSE 0.04 / 4 = 0.01
    assert metrics.psnr(y, x) == 20.0  # 10 log10(1 / 0.01)
    assert metrics.psnr(x, x) == float("inf")
    img = np.random.default_rng(0).random((3, 32, 32))
    assert metrics.ssim(img, img) == 1.0
    noisy = np.clip(img + np.random.default_rng(1).normal(0, 0.1, img.shape), 0, 1)
    assert metrics.ssim(noisy, img) < 0.95


class _ByName:
    """A registry whose models are their names (the stubbed reconstruct below looks the output up by name)."""

    def load(self, name: str, task: str | None = None) -> str:
        return name


def test_compare_scores(monkeypatch):
    """Each model's output scored against the input: a known error gives known numbers."""
    import unetlab.reconstruct as rec

    img = np.full((16, 16, 3), 100, np.uint8)  # SSIM's Gaussian window needs 11x11
    off = img.copy()
    off[:8, :8] += 51  # a quarter of the pixels off by 51/255 = 0.2 in every channel: MSE 0.04 / 4 = 0.01
    outputs = {"blurry": off, "exact": img}
    monkeypatch.setattr(rec, "reconstruct", lambda model, x, progress=None: outputs[model])
    a, b = compare(img, ["blurry", "exact"], _ByName())
    assert (a.name, b.name) == ("blurry", "exact") and a.image is off
    assert a.psnr == pytest.approx(20.0) and b.psnr == float("inf")  # 10 log10(1 / 0.01)
    assert b.ssim == 1.0 and a.ssim < 0.9
    assert a.error.shape == (16, 16, 3)
    assert (a.error[:8, :8] != a.error[0, 15]).all() and (a.error[8:] == a.error[15, 15]).all()  # where it is
    assert (b.error == b.error[0, 0]).all()


def test_large_images_run_in_tiles_that_match_one_pass(monkeypatch):
    """Tiles with margins reproduce the one-pass result to within a few grey levels, at every position."""
    import unetlab.reconstruct as rec

    rng = np.random.default_rng(4)
    small = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
    img = np.kron(small, np.ones((8, 8, 1), np.uint8))  # 80 x 96, smooth enough to autoencode
    m = tiny()
    whole = reconstruct(m, img, fast=False)
    monkeypatch.setattr(rec, "TILE", 32)
    monkeypatch.setattr(rec, "MARGIN", 16)
    tiled = reconstruct(m, img, fast=False)
    assert tiled.shape == whole.shape
    diff = np.abs(tiled.astype(int) - whole.astype(int))
    assert diff.mean() < 1 and diff.max() <= 12


def test_a_large_comparison_reports_its_progress_tile_by_tile(monkeypatch):
    """compare(progress=) hears the share done and the model at work after every tile: rising to 1, model by model
    (the tab shows it while a large upload takes seconds)."""
    import unetlab.reconstruct as rec

    monkeypatch.setattr(rec, "TILE", 32)
    img = np.zeros((80, 96, 3), np.uint8)  # 3 x 3 tiles
    heard = []
    compare(img, ["a", "b"], _Tiny(), progress=lambda done, name: heard.append((round(done, 4), name)))
    assert [n for _, n in heard] == ["a"] * 9 + ["b"] * 9
    shares = [d for d, _ in heard]
    assert shares == sorted(shares) and shares[8] == 0.5 and shares[-1] == 1.0


class _Tiny:
    """A registry of one tiny U-Net under any name."""

    def load(self, name, task=None):
        return tiny()


def drawn_slide() -> np.ndarray:
    """A saturated, slide-like image: a magenta-to-blue gradient, a green disc, a yellow box, white letters and a
    thin blue line (the colours the nine-photo model shifted: it scored 19.6 dB on this image)."""
    from PIL import Image, ImageDraw, ImageFont

    t = np.linspace(0, 1, 640)[None, :, None]
    img = Image.fromarray((255 * (t * [0.1, 0.2, 1.0] + (1 - t) * [1.0, 0.1, 0.6])).astype(np.uint8).repeat(400, 0))
    draw = ImageDraw.Draw(img)
    draw.ellipse((60, 80, 260, 280), fill=(0, 200, 40))
    draw.rectangle((330, 60, 590, 200), fill=(255, 220, 0))
    draw.line((20, 380, 620, 300), fill=(0, 0, 255), width=2)
    draw.text((330, 240), "U-Net 2026", fill=(255, 255, 255), font=ImageFont.load_default(size=44))
    return np.asarray(img)


def test_shipped_skip_model_keeps_saturated_colours_without_a_grid():
    """The corpus-trained recon-skip on a saturated slide: near-identity, no block-periodic error; the no-skip
    model is far behind and shows its 16-pixel grid."""
    reg = registry.Registry(Settings().weights)
    x = drawn_slide()
    ref = images.to_float(x)
    skip = images.to_float(reconstruct(reg.load("recon-skip"), x, fast=False))
    noskip = images.to_float(reconstruct(reg.load("recon-noskip"), x, fast=False))
    assert metrics.psnr(skip, ref) > 28
    assert metrics.periodic_error(skip, ref) < 1.0  # under one 8-bit level
    assert metrics.psnr(skip, ref) - metrics.psnr(noskip, ref) > 8
    assert metrics.periodic_error(noskip, ref) > 2 * metrics.periodic_error(skip, ref)


def test_shipped_skip_model_keeps_flat_dark_colours_flat_up_to_the_edges():
    """Flat images, dark blues above all, are where recon-skip failed at the image's edges (a bright dotted band
    along the top of a flat navy image, 249 levels off, with zero padding there). Every pixel stays close."""
    model = registry.Registry(Settings().weights).load("recon-skip")
    for colour in [(6, 10, 30), (0, 10, 40), (25, 25, 40), (0, 0, 0), (128, 128, 128), (250, 250, 250), (200, 30, 30)]:
        flat = np.full((128, 160, 3), colour, np.uint8)
        error = np.abs(reconstruct(model, flat, fast=False).astype(int) - flat)
        assert error.max() <= 32 and error.mean() < 4, (colour, error.max(), error.mean())
