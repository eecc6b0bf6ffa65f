import numpy as np
import torch

from unetlab import images, metrics, registry
from unetlab.reconstruct import compare, reconstruct
from unetlab.registry import Registry


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


def test_padding_does_not_leak_into_the_visible_part():
    """The crop-back equals running the model on an exactly divisible input."""
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (32, 40, 3), dtype=np.uint8)
    m = tiny()
    with torch.no_grad():
        direct = m(torch.from_numpy(images.to_float(img))[None])[0].numpy()
    assert np.array_equal(reconstruct(m, img, fast=False), images.to_uint8(direct))


def test_fast_bf16_stays_close_to_fp32():
    img = np.random.default_rng(3).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    m = tiny()
    fast, exact = reconstruct(m, img).astype(int), reconstruct(m, img, fast=False).astype(int)
    assert np.abs(fast - exact).max() <= 8 and np.abs(fast - exact).mean() < 1.5


def test_compare_scores(weights_dir):
    reg = Registry(weights_dir)
    img = np.random.default_rng(2).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    a, b = compare(img, ["tiny-noskip", "tiny-skip"], reg)
    assert (a.name, b.name) == ("tiny-noskip", "tiny-skip")
    assert a.image.shape == img.shape and a.error.shape == (30, 50, 3)
    assert a.psnr == metrics.psnr(images.to_float(a.image), images.to_float(img))
    assert -1 <= b.ssim <= 1


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
