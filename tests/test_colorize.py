"""Colourisation: Lab maths against skimage, ab bins, annealed mean, full-resolution recombination, limits."""

import numpy as np
import pytest
import torch
from skimage import color

from unetlab import colorize as C
from unetlab import images, metrics, registry

TINY_COLOR = dict(in_channels=1, base=4, depth=2, output="linear")


def tiny(out_channels: int | None = None) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = {**TINY_COLOR, "out_channels": out_channels or C.bins().count}
    return registry.build("unet", cfg).to(memory_format=torch.channels_last).eval()


@pytest.fixture(scope="module")
def rgb():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)


def test_lab_matches_skimage(rgb):
    x = rgb / 255.0
    ours = C.rgb_to_lab(torch.from_numpy(x.transpose(2, 0, 1))).numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(ours, color.rgb2lab(x), atol=1e-3)
    back = C.lab_to_rgb(torch.from_numpy(color.rgb2lab(x).transpose(2, 0, 1))).numpy().transpose(1, 2, 0)
    np.testing.assert_allclose(back, x, atol=1e-4)


def test_fused_recombination_within_one_level(rgb):
    lab = C.rgb_to_lab(torch.from_numpy(images.to_float(rgb)))[None]
    exact = images.to_uint8(C.lab_to_rgb(lab)[0].numpy()).astype(int)
    fused = C.lab_to_rgb_uint8(lab[:, :1], lab[:, 1:]).astype(int)
    assert np.abs(fused - exact).max() <= 1
    assert np.abs(fused - rgb).max() <= 1  # and the round trip returns the upload


def test_upload_lightness_matches_skimage(rgb):
    L = C.upload_lightness(rgb)[0, 0].numpy()
    np.testing.assert_allclose(L, color.rgb2lab(rgb / 255.0)[..., 0], atol=1e-3)
    grey = images.luma(rgb)
    np.testing.assert_allclose(
        C.upload_lightness(grey)[0, 0].numpy(),
        color.rgb2lab(np.repeat(grey[..., None], 3, -1) / 255.0)[..., 0],
        atol=1e-3,
    )


def test_bins_quantisation_round_trip():
    b = C.bins()
    assert 150 < b.count < 300 and len(b.lut) == b.side**2
    ab = b.centres.T[None, :, :, None]  # (1, 2, Q, 1): every bin centre as a pixel
    assert torch.equal(b.cell(ab)[0, :, 0], torch.arange(b.count))
    classes, weights = b.encode(ab)
    torch.testing.assert_close(weights.sum(1), torch.ones(1, b.count, 1))
    top = classes.gather(1, weights.argmax(1, keepdim=True))[0, 0, :, 0]
    assert torch.equal(top, torch.arange(b.count))  # a centre is encoded onto its own bin


def test_annealed_mean_of_one_hot_is_the_bin_centre():
    b = C.bins()
    for q in (0, b.count // 2, b.count - 1):
        logits = torch.full((1, b.count, 2, 3), -1e4)
        logits[:, q] = 0
        ab = b.annealed_mean(logits)
        torch.testing.assert_close(ab, b.centres[q].view(1, 2, 1, 1).expand(1, 2, 2, 3))


def test_annealed_mean_sharpens_towards_the_mode():
    b = C.bins()
    logits = torch.zeros(1, b.count, 1, 1)
    logits[:, 0] = 2.0  # one bin a little more likely than the rest
    near_mean = b.annealed_mean(logits, temperature=1.0)[0, :, 0, 0]
    sharp = b.annealed_mean(logits, temperature=0.1)[0, :, 0, 0]
    assert (sharp - b.centres[0]).norm() < 1 < (near_mean - b.centres[0]).norm()


def test_rebalancing_upweights_rare_colours(rgb):
    photos = [np.full((20, 20, 3), 128, np.uint8)] * 5 + [rgb]  # mostly grey
    w = C.rebalance_weights(photos)
    grey_bin = C.bins().cell(torch.zeros(1, 2, 1, 1)).item()
    assert w.shape == (C.bins().count,) and w[grey_bin] < 0.5 < w.max()


def test_bins_built_in_inference_mode_still_train():
    C.bins.cache_clear()
    with torch.inference_mode():
        C.bins()
    test_objective_trains_and_evaluates("classify")


@pytest.mark.parametrize("kind", ["classify", "rgb"])
def test_objective_trains_and_evaluates(kind):
    model = tiny(3 if kind == "rgb" else None).train()
    objective = C.Colorize(kind)
    x = torch.rand(2, 3, 16, 16)
    loss = objective.loss(model, x)
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    model.eval()
    per_sample, mse, cols = objective.evaluate(model, x)
    assert per_sample.shape == mse.shape == (2,) and len(cols) == 3
    torch.testing.assert_close(cols[2], x)
    assert (cols[0][:, 0] - cols[0][:, 1]).abs().max() < 1e-4  # the grey column has no chroma


@pytest.mark.parametrize("shape", [(45, 67, 3), (45, 67), (301, 199, 3)])
def test_full_resolution_keeps_the_uploads_lightness(shape):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    r = C.colorize(tiny(), img)
    assert r.image.shape == (*shape[:2], 3) and r.grey.shape == (*shape[:2], 3)
    L_in = C.upload_lightness(img)[0, 0].numpy()
    L_out = color.rgb2lab(r.image / 255.0)[..., 0]
    inside = (r.image > 2).all(-1) & (r.image < 253).all(-1)  # clipping to the gamut may move L* at the edges
    assert np.abs(L_out - L_in)[inside].mean() < 0.5
    assert r.L.shape == r.working and r.a.shape == (*r.working, 3)


def test_colour_upload_is_reduced_to_lightness(rgb):
    model = tiny()
    lab = C.rgb_to_lab(torch.from_numpy(images.to_float(rgb)))
    grey = images.to_uint8(C.lab_to_rgb(lab * torch.tensor([1.0, 0, 0])[:, None, None]).numpy())  # same L*, no chroma
    out = [C.colorize(model, img).image.astype(int) for img in (rgb, grey)]
    # the same L* gives the same colours: the model never sees the upload's chroma (up to 8-bit rounding of L*)
    assert np.abs(out[1] - out[0]).max() <= 3
    other = C.colorize(model, rgb[::-1].copy()).image.astype(int)  # a different L* does change the output
    assert np.abs(other - out[0]).max() > 10


def test_huge_upload_is_capped():
    img = np.zeros((4000, 6000), np.uint8)
    img[::7] = 200
    r = C.colorize(tiny(), img, views=False)
    assert r.working == (256, 384) and r.image.shape == (4000, 6000, 3)
    assert C.working_size(100, 5000) == (20, 1024)  # a strip: the long side is capped too
    assert C.working_size(64, 80) == (64, 80)  # small uploads run at their own size


def test_model_width_is_checked():
    with pytest.raises(ValueError, match="2 \\(ab\\), 3 \\(RGB\\)"):
        C.colorize(tiny(5), np.zeros((32, 32), np.uint8))


def test_colourfulness():
    grey = np.full((3, 8, 8), 0.5)
    assert metrics.colourfulness(grey) == 0
    rng = np.random.default_rng(0)
    vivid = rng.random((3, 32, 32))
    assert metrics.colourfulness(vivid) > metrics.colourfulness(0.5 + 0.2 * (vivid - 0.5)) > 0
    red = np.zeros((3, 4, 4))
    red[0] = 1  # rg = 255, yb = 127.5, no spread: M = 0.3 * |(255, 127.5)|
    assert metrics.colourfulness(red) == pytest.approx(0.3 * np.hypot(255, 127.5))
