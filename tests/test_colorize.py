"""Colourisation: Lab maths against skimage, ab bins, annealed mean, full-resolution recombination, limits."""

import numpy as np
import pytest
import torch
from skimage import color

from unetlab import colorize as C
from unetlab import images, metrics, registry
from unetlab.tasks.colorize import Colorize
from unetlab.train import Batch

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


def test_annealed_mean_is_the_softmax_mean_across_chunks():
    """Chunked, in float32, from a channels_last bf16 model's logits: the textbook formula, over a map of several
    chunks with a part-filled last one."""
    b = C.bins()
    logits = (3 * torch.randn(2, b.count, 7, C.ANNEAL_CHUNK // 3)).to(torch.bfloat16)
    logits = logits.contiguous(memory_format=torch.channels_last)
    p = torch.softmax(logits.float() / 0.5, dim=1)
    expected = torch.einsum("bqhw,qc->bchw", p, b.centres)
    torch.testing.assert_close(b.annealed_mean(logits, temperature=0.5), expected, atol=1e-3, rtol=1e-4)


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
    objective = Colorize(kind)
    x = torch.rand(2, 3, 16, 16)
    loss, _ = objective.loss(model, Batch(x), torch.Generator().manual_seed(0))
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    model.eval()
    per_sample, mse, cols = objective.evaluate(model, Batch(x))
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


@pytest.mark.parametrize("shape", [(301, 199, 3), (300, 500)])
def test_full_resolution_steps_in_strips_match_the_whole_image_at_once(shape, monkeypatch):
    """The strips (memory: a 40 Mpx upload) give what one pass over the whole image gives, to within a level."""
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    ab = torch.randn(1, 2, 40, 27) * 40  # working-size chroma, upsampled unevenly to the upload's size
    L = C.upload_lightness(img)
    H, W = shape[:2]
    whole = C.lab_to_rgb_uint8(L, torch.nn.functional.interpolate(ab, size=(H, W), mode="bilinear")).astype(int)
    monkeypatch.setattr(C, "STRIP", 1000)  # a few rows a strip: dozens of strips, some of one row
    L_strips = C.upload_lightness(img)
    torch.testing.assert_close(L_strips, L)
    r = C._finish(L_strips, ab, L, views=True)
    assert np.abs(r.image.astype(int) - whole).max() <= 1 and (r.image != whole).mean() < 1e-3
    assert np.array_equal(r.grey, C.grey_uint8(L))


def test_grey_is_the_lightness_with_no_chroma(rgb):
    L = C.upload_lightness(rgb)
    slow = C.lab_to_rgb_uint8(L, torch.zeros(1, 2, *L.shape[-2:])).astype(int)
    grey = C.grey_uint8(L)
    assert np.abs(grey.astype(int) - slow).max() <= 1 and (grey[..., 0] == grey[..., 2]).mean() > 0.99


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


# --- colour hints (Zhang, Zhu et al. 2017) ----------------------------------------------------------------------


def guided_tiny(two_heads: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = {**TINY_COLOR, "in_channels": C.HINT_CHANNELS, "out_channels": C.bins().count + 2 * two_heads}
    return registry.build("unet", cfg).to(memory_format=torch.channels_last).eval()


def test_hints_reach_the_model_where_they_were_placed():
    model = guided_tiny()
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    img = np.full((120, 160, 3), 128, np.uint8)  # works at its own size: upload pixels = working pixels
    hint = C.Hint.from_rgb(40, 30, (200, 30, 30))
    assert hint.a > 40 and hint.b > 20  # red: +a*, +b*
    C.colorize(model, img, views=False, hints=[hint])
    x = seen[-1][0]  # (6, H, W): L*/100, a*, b* where hinted, the mask, the nearest-hint fill's a*, b*
    assert x.shape[0] == C.HINT_CHANNELS == 6 and x[3].sum() == C.HINT_PATCH**2
    assert x[3, 29:32, 39:42].all() and x[3, 30, 43] == 0  # a HINT_PATCH square centred on (x=40, y=30)
    torch.testing.assert_close(x[1, 30, 40] * C.AB_RANGE, torch.tensor(hint.a))
    torch.testing.assert_close(x[4:] * C.AB_RANGE, torch.tensor([hint.a, hint.b]).view(2, 1, 1).expand(2, 120, 160))
    C.colorize(model, img, views=False)
    assert seen[-1][0, 1:].abs().sum() == 0  # no hints: empty hint channels and mask (the automatic mode)


def test_hints_are_mapped_from_upload_to_working_size():
    model = guided_tiny()
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    img = np.full((512, 1024, 3), 90, np.uint8)  # works at 256 x 512: half size
    C.colorize(model, img, views=False, hints=[C.Hint(1023, 511, 30.0, -20.0)])
    mask = seen[-1][0, 3]
    assert mask[255, 511] == 1 and mask[:254].sum() == 0  # the bottom-right corner, clipped at the border


def test_unguided_model_refuses_hints():
    with pytest.raises(ValueError, match="takes no colour hints"):
        C.colorize(tiny(), np.zeros((32, 32, 3), np.uint8), hints=[C.Hint(1, 1, 10.0, 10.0)])


def test_the_guided_loss_is_the_full_outputs_though_its_bins_are_computed_at_a_quarter_of_the_pixels():
    model = guided_tiny(two_heads=True)
    x = torch.rand(3, 3, 32, 32)
    task = Colorize("ab+bins")
    got = task.losses(model, x, torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)  # the same hints and the same stride-2 phase, from the full output
    lab = C.rgb_to_lab(x)
    inp, fill = task._input(model, lab, gen)
    y = model(inp)
    oy, ox = torch.randint(0, 2, (2,), generator=gen).tolist()
    reg = torch.nn.functional.smooth_l1_loss(
        (fill + y[:, :2] * C.AB_RANGE) / C.BIN, lab[:, 1:] / C.BIN, reduction="none"
    )
    classes, soft = C.bins().encode(lab[:, 1:, oy::2, ox::2])
    logp = torch.log_softmax(y[:, 2:, oy::2, ox::2], 1).gather(1, classes)
    torch.testing.assert_close(got, reg.flatten(1).mean(1) - (soft * logp).sum(1).flatten(1).mean(1))
    assert fill.abs().sum() > 0 and got.isfinite().all()  # some hints were drawn


def test_training_hints_come_from_the_true_colours():
    ab = torch.randn(400, 2, 32, 32) * 30
    gen = torch.Generator().manual_seed(0)
    hint, mask = C.sample_hints(ab, gen)
    counted = mask.flatten(1).amax(1)
    assert abs((1 - counted.float().mean()) - C.HINT_P) < 0.06  # no hints with probability HINT_P (Geometric)
    assert (hint * (1 - mask)).abs().sum() == 0  # nothing outside the mask
    hint2, mask2 = C.sample_hints(ab, torch.Generator().manual_seed(0))
    assert torch.equal(hint, hint2) and torch.equal(mask, mask2)  # deterministic given the generator
    one = torch.zeros(1, 2, 16, 16)
    one[:, 0], one[:, 1] = 25.0, -40.0  # a flat colour: every hint is exactly it
    for seed in range(20):
        h, m = C.sample_hints(one, torch.Generator().manual_seed(seed))
        if m.any():
            torch.testing.assert_close(h[:, :, m[0, 0] > 0], one[:, :, m[0, 0] > 0])
            break
    else:
        pytest.fail("twenty draws gave no hints")


@pytest.mark.parametrize("kind", ["classify", "ab+bins"])
def test_guided_objective_trains_and_evaluates(kind):
    model = guided_tiny(two_heads=kind == "ab+bins").train()
    objective = Colorize(kind)
    x = torch.rand(2, 3, 16, 16)
    loss, _ = objective.loss(model, Batch(x), torch.Generator().manual_seed(0))
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    model.eval()
    a = objective.evaluate(model, Batch(x))[0]
    torch.testing.assert_close(a, objective.evaluate(model, Batch(x))[0])  # held-out hints are the same every time


@pytest.mark.parametrize(
    "text, match",
    [
        ("10,20", "expected X,Y,#RRGGBB"),
        ("a,20,#ff0000", "must be numbers"),
        ("10,20,#ff00", "bad colour"),
        ("10,20,blue", "bad colour"),
    ],
)
def test_bad_cli_hints(text, match):
    with pytest.raises(ValueError, match=match):
        C.parse_hint(text)


def test_hint_parsing_and_checks():
    assert C.parse_hint("10,20,#FF8000") == (10.0, 20.0, (255, 128, 0))
    assert C.parse_colour("rgb(255, 128, 0)") == (255, 128, 0) and C.parse_colour("#f80") == (255, 136, 0)
    raw = C.hints_from_json('[{"x": 3, "y": 4, "color": "#00ff00"}]')
    assert raw == [(3.0, 4.0, (0, 255, 0))] and C.hints_from_json("") == [] and C.hints_from_json(None) == []
    (h,) = C.make_hints(raw, 10, 10)
    assert (h.x, h.y) == (3, 4) and h.a < -50  # green: -a*
    for bad, match in [
        ("{", "not valid JSON"),
        ('{"x": 1}', "must be a JSON list"),
        ('[{"x": 1, "y": 2}]', 'must be an object with "x", "y" and "color"'),
        ('[{"x": "1", "y": 2, "color": "#000000"}]', "must be numbers"),
        ('[{"x": 1, "y": 2, "color": "red"}]', "bad colour"),
    ]:
        with pytest.raises(ValueError, match=match):
            C.hints_from_json(bad)
    with pytest.raises(ValueError, match="outside the 10x8 image"):
        C.make_hints([(10.0, 2.0, (0, 0, 0))], 8, 10)
    with pytest.raises(ValueError, match="outside"):
        C.make_hints([(float("nan"), 2.0, (0, 0, 0))], 8, 10)
    with pytest.raises(ValueError, match="too many"):
        C.make_hints([(1.0, 1.0, (0, 0, 0))] * (C.MAX_HINTS + 1), 8, 10)


def test_nearest_hint_baseline_fills_each_pixel_with_its_nearest_hint():
    hints = [C.Hint(2, 5, 30.0, 0.0), C.Hint(17, 5, -30.0, 10.0)]
    ab, mask = C.hint_maps(hints, 10, 20, 10, 20)
    filled = C.nearest_hint_ab(ab, mask)
    assert filled[0, 0, 5, 0] == 30 and filled[0, 0, 5, 19] == -30 and filled[0, 1, 0, 19] == 10
    assert C.nearest_hint_ab(*C.hint_maps([], 10, 20, 10, 20)).abs().sum() == 0  # no hints: grey
    batch_ab, batch_mask = torch.cat([ab, torch.zeros_like(ab)]), torch.cat([mask, torch.zeros_like(mask)])
    both = C.nearest_hint_ab(batch_ab, batch_mask)  # each image of a batch fills from its own hints
    torch.testing.assert_close(both[:1], filled)
    torch.testing.assert_close(both[1:], torch.zeros_like(filled))


def test_edge_aware_fill_stops_a_hints_colour_at_an_edge_of_lightness():
    """A dark left third and a bright rest; one hint in each, the bright one nearer the edge than the dark one. The
    nearest-hint fill gives the dark band's right part the bright hint's colour; the edge-aware fill stops at the
    edge, on both sides, and every hinted pixel keeps its own colour. The edge itself is the Sobel ridge, columns 9
    and 10: which side takes them is a tie that the distance to the hints breaks."""
    L = torch.full((1, 1, 12, 30), 80.0)
    L[..., :10] = 20.0
    hints = [C.Hint(1, 6, 40.0, 0.0), C.Hint(12, 6, -40.0, 20.0)]  # dark side at x = 1, bright side at x = 12
    ab, mask = C.hint_maps(hints, 12, 30, 12, 30)
    nearest, edges = C.nearest_hint_ab(ab, mask), C.edge_hint_ab(ab, mask, L)
    assert nearest[0, 0, 6, 8] == -40  # nearer the bright hint: across the edge
    assert (edges[0, 0, :, :9] == 40).all() and (edges[0, 0, :, 11:] == -40).all()
    assert (edges[0, 1, :, 11:] == 20).all() and (edges[0, 1, :, :9] == 0).all()
    assert C.edge_hint_ab(*C.hint_maps([], 12, 30, 12, 30), L).abs().sum() == 0  # no hints: grey


def test_edge_aware_fill_lets_a_hint_on_a_textured_spot_colour_the_smooth_region_around_it():
    """A portrait's skin hinted on the mouth, in miniature: a flat field with a textured patch (a checkerboard of
    L*) in the middle, hinted at its centre, and a second hint in a corner. The compact watershed gives the smooth
    pixels nearer the patch the patch's hint (a plain watershed kept that colour inside its texture, 4 % of the
    image, and flooded the rest from the corner); the corner keeps its own."""
    L = torch.full((1, 1, 40, 40), 50.0)
    yy, xx = torch.meshgrid(torch.arange(40), torch.arange(40), indexing="ij")
    patch = (yy >= 16) & (yy < 24) & (xx >= 16) & (xx < 24)
    L[0, 0][patch] = torch.where(((yy + xx) % 2 == 0)[patch], 20.0, 80.0)
    ab, mask = C.hint_maps([C.Hint(20, 20, 30.0, 20.0), C.Hint(0, 0, -10.0, -40.0)], 40, 40, 40, 40)
    filled = C.edge_hint_ab(ab, mask, L)
    assert filled[0, 0, 20, 30] == 30 and filled[0, 0, 32, 20] == 30 and filled[0, 1, 30, 30] == 20
    assert filled[0, 0, 4, 4] == -10 and filled[0, 1, 0, 0] == -40
    assert (filled[0, 0] == 30).float().mean() > 0.5


def test_suggest_gives_the_models_top_colours():
    img = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    colours = C.suggest(guided_tiny(), img, 10, 12, k=5)
    probs = [p for _, p in colours]
    assert len(colours) == 5 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    assert all(c.startswith("#") and len(c) == 7 for c, _ in colours)
    with pytest.raises(ValueError, match="outside"):
        C.suggest(guided_tiny(), img, 50, 0)
    with pytest.raises(ValueError, match="distribution"):
        C.suggest(tiny(3), img, 1, 1)


def test_test_report_figures():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:64]
    colourful = np.stack([xx * 4, yy * 5, 255 - xx * 2], -1).astype(np.uint8)  # smooth: a hint says much
    grey = np.repeat(rng.integers(0, 256, (48, 64, 1), dtype=np.uint8), 3, -1)
    report = C.test_report(guided_tiny(), {"src": {"a": colourful, "b": colourful[::-1].copy(), "g": grey}}, 8)
    r = report["per_source"]["src"]
    assert r["images"] == 2 and r["grey_images_skipped"] == 1  # a grey test image has nothing to restore
    assert r["ab_ratio"] == pytest.approx(r["ab_error"] / r["grey_ab_error"], rel=1e-2)
    assert {"hints_psnr", "hints_ab_ratio", "nearest_psnr", "nearest_ab_ratio"} <= set(r)
    assert r["nearest_ab_ratio"] < 1  # hints from the true colours beat grey even without a model
    assert report["mean"]["psnr"] == r["psnr"] and report["hints"] == 8


def test_test_grid_draws_every_column():
    yy, xx = np.mgrid[0:40, 0:60]
    photo = np.stack([xx * 4, yy * 6, 200 - xx * 3], -1).astype(np.uint8)
    models = {"guided": (guided_tiny(), None), "plain": (tiny(), C.Decode(temperature=0.5))}
    grid = C.test_grid(models, [photo, photo[:, ::-1].copy()], 4, height=32)
    # truth, grey + hints, guided automatic and hinted, plain automatic, the two fills: 7 cells of 48 px each
    assert grid.shape == (22 + 2 * (32 + 4), 7 * 48, 3) and grid.dtype == np.uint8


def test_decode_from_card_and_undoing_the_rebalancing():
    b = C.bins()
    w = torch.ones(b.count)
    w[0] = 4.0  # the model was pushed towards bin 0 by its weight
    d = C.Decode.undoing(w, 1.0, 0.5)
    again = C.Decode.from_card({"decode": d.to_card()})
    assert again.temperature == 0.5 and again.alpha == 1.0
    torch.testing.assert_close(again.offset, d.offset, atol=1e-4, rtol=0)
    logits = torch.zeros(1, b.count, 1, 1)
    logits[:, 0] = float(np.log(4.0))  # q ∝ w p with p uniform: undoing w gives back the uniform p
    p = torch.softmax(d.logits(logits)[0, :, 0, 0], 0)
    torch.testing.assert_close(p, torch.full_like(p, 1 / b.count))
    assert C.Decode.from_card({}).temperature == C.TEMPERATURE and C.Decode.undoing(None, 1.0, 0.5).offset is None
    with pytest.raises(ValueError, match="one per bin"):
        C.Decode.from_card({"decode": {"offset": [0.0, 1.0]}})


class TwoHeads(torch.nn.Module):
    """A stand-in two-headed colouriser with a known output: a regression correction of (22, -11) a*b* to the
    nearest-hint fill, and its bins all on bin q."""

    def __init__(self, q: int):
        super().__init__()
        self.config = registry.build("unet", {**TINY_COLOR, "in_channels": C.HINT_CHANNELS, "out_channels": 2}).config
        self.config.out_channels = C.bins().count + 2
        self.q = q

    def forward(self, x):
        B, _, H, W = x.shape
        y = torch.full((B, C.bins().count + 2, H, W), -1e4)
        y[:, 0], y[:, 1], y[:, 2 + self.q] = 22 / C.AB_RANGE, -11 / C.AB_RANGE, 0.0
        return y


def test_two_heads_regression_follows_hints_and_the_card_picks_the_automatic_head():
    model, q = TwoHeads(5), 5
    assert C.kind(model) == "ab+bins"
    L = torch.full((1, 1, 8, 8), 50.0)
    hint_ab, mask = C.no_hints(L)
    mask[..., 2, 2] = 1
    hint_ab[0, :, 2, 2] = torch.tensor([10.0, 5.0])  # one hint: the fill is its colour everywhere
    regression = torch.tensor([22.0, -11.0]).view(1, 2, 1, 1).expand(1, 2, 8, 8)
    centre = C.bins().centres[q].view(1, 2, 1, 1).expand(1, 2, 8, 8)
    for decode in (None, C.Decode(head="ab"), C.Decode(head="bins")):
        ab, logits = C.predict_ab(model, L, (hint_ab, mask), decode)  # with hints: always the regression head
        torch.testing.assert_close(ab, regression + torch.tensor([10.0, 5.0]).view(1, 2, 1, 1))  # fill + correction
        assert logits.shape[1] == C.bins().count and logits[0, :, 0, 0].argmax() == q  # the palette's bins
    torch.testing.assert_close(C.predict_ab(model, L)[0], regression)  # automatic, no card: regression (fill 0)
    torch.testing.assert_close(C.predict_ab(model, L, None, C.Decode(head="bins"))[0], centre, atol=1e-4, rtol=0)
    assert C.Decode.from_card({"decode": C.Decode(head="bins").to_card()}).head == "bins"
    with pytest.raises(ValueError, match="head"):
        C.Decode.from_card({"decode": {"head": "rgb"}})
    photo = np.stack(np.broadcast_arrays(*[np.full((24, 40), v, np.uint8) for v in (200, 120, 60)]), -1)
    d, table = C.choose_decode(model, [photo], None)
    assert [r["head"] for r in table] == ["bins"] * len(C.DECODE_TEMPERATURES) + ["ab"]
    assert d.head in ("ab", "bins")


def test_with_hints_the_card_can_mix_the_bins_into_the_regression():
    """hints_mix: the regression head's share of the colours with hints, the rest the bins' annealed mean; chosen
    on validation photos (the mix with the lowest a*b* error, the regression alone among the candidates)."""
    model, q = TwoHeads(5), 5
    L = torch.full((1, 1, 8, 8), 50.0)
    hint_ab, mask = C.no_hints(L)
    mask[..., 2, 2] = 1
    hint_ab[0, :, 2, 2] = torch.tensor([10.0, 5.0])
    regression = torch.tensor([32.0, -6.0]).view(1, 2, 1, 1)  # the fill (the hint's colour) + the correction
    centre = C.bins().centres[q].view(1, 2, 1, 1)
    mixed = C.Decode(head="bins", hints_mix=0.25, hints_temperature=0.7)
    ab, _ = C.predict_ab(model, L, (hint_ab, mask), mixed)
    torch.testing.assert_close(ab, (0.25 * regression + 0.75 * centre).expand(1, 2, 8, 8), atol=1e-3, rtol=0)
    torch.testing.assert_close(C.predict_ab(model, L, None, mixed)[0], centre.expand(1, 2, 8, 8), atol=1e-4, rtol=0)
    card = {"decode": mixed.to_card()}
    assert (C.Decode.from_card(card).hints_mix, C.Decode.from_card(card).hints_temperature) == (0.25, 0.7)
    assert "hints_mix" not in C.Decode().to_card()  # the default: the regression head alone
    with pytest.raises(ValueError, match="hints_mix"):
        C.Decode.from_card({"decode": {"hints_mix": 1.5}})
    yy, xx = np.mgrid[0:40, 0:60]
    photo = np.stack([xx * 4, yy * 6, 200 - xx * 3], -1).astype(np.uint8)
    fill, mix, temperature, table = C.choose_hints_decode(model, [photo, photo[::-1]])
    per_fill = 1 + len(C.HINTS_MIXES) * len(C.HINTS_TEMPERATURES)  # the regression alone, and every mix
    assert len(table) == len(C.FILLS) * per_fill and {r["fill"] for r in table} == set(C.FILLS)
    assert (table[0]["fill"], table[0]["hints_mix"]) == ("nearest", 1.0)  # as trained: a candidate too
    best = min(table, key=lambda r: r["hints_ab_ratio"])
    assert (fill, mix, temperature) == (best["fill"], best["hints_mix"], best["hints_temperature"])
    edges = C.Decode(fill="edges")
    assert C.Decode.from_card({"decode": edges.to_card()}).fill == "edges" and "fill" not in C.Decode().to_card()
    with pytest.raises(ValueError, match="fill"):
        C.Decode.from_card({"decode": {"fill": "magic"}})


def test_choose_decode_on_validation_photos():
    yy, xx = np.mgrid[0:40, 0:60]
    photo = np.stack([xx * 4, yy * 6, 200 - xx * 3], -1).astype(np.uint8)
    d, table = C.choose_decode(guided_tiny(), [photo], None)
    assert len(table) == len(C.DECODE_TEMPERATURES) and {r["alpha"] for r in table} == {0.0}  # no rebalancing
    assert d.temperature in C.DECODE_TEMPERATURES and d.offset is None
    _, table = C.choose_decode(guided_tiny(), [photo], torch.ones(C.bins().count))
    assert len(table) == len(C.DECODE_ALPHAS) * len(C.DECODE_TEMPERATURES)
    weights = C.rebalance_weights([photo])
    d, table = C.choose_decode(guided_tiny(), [photo], weights, C.DECODE_PRIOR_ALPHAS)  # applying rebalancing
    assert {r["alpha"] for r in table} == set(C.DECODE_PRIOR_ALPHAS)
    applied = C.Decode.undoing(weights, -1.0, 1.0)
    torch.testing.assert_close(applied.offset, weights.log())  # q ∝ p w: the rarer a bin, the more it gains


def test_the_kept_decoding_is_the_most_colourful_of_those_that_do_no_harm():
    """pick_decode: colours worse than grey (a*b* error above the grey image's) are never kept while a harmless
    candidate exists, however colourful (colorize-guided-skip's validation table: alpha -1 reached 0.77x the true
    colourfulness as a yellow-brown cast at 1.19x grey's error); among the harmless, the most colourful wins."""
    table = [
        {"alpha": 0.0, "temperature": 0.38, "ab_ratio": 0.993, "colourfulness_ratio": 0.186},
        {"alpha": 0.0, "temperature": 0.7, "ab_ratio": 0.994, "colourfulness_ratio": 0.304},
        {"alpha": 0.0, "temperature": 1.0, "ab_ratio": 1.019, "colourfulness_ratio": 0.404},
        {"alpha": -1.0, "temperature": 0.7, "ab_ratio": 1.191, "colourfulness_ratio": 0.770},
    ]
    assert C.pick_decode(table) == 1
    harmful = [dict(row, ab_ratio=row["ab_ratio"] + 0.5) for row in table]
    assert C.pick_decode(harmful) == 0  # none harmless: the least harmful


@pytest.mark.parametrize(
    "text, message",
    [
        ('[{"x": NaN, "y": 1, "color": "#fff"}]', r"hint 1 at \(nan, 1\) is outside the 10x10 image"),
        ('[{"x": 1, "y": -Infinity, "color": "#fff"}]', r"hint 1 at \(1, -inf\) is outside"),
        (
            '[{"x": 1' + "0" * 400 + ', "y": 1, "color": "#fff"}]',
            r"hint 1 at \(inf, 1\) is outside",
        ),  # no float holds it
        ('[{"x": 1, "y": 1, "color": "rgb(inf, 0, 0)"}]', "bad colour 'rgb\\(inf, 0, 0\\)': expected #RRGGBB"),
        ('[{"x": 1, "y": 1, "color": "rgb(nan, 0, 0)"}]', "bad colour"),
    ],
)
def test_hints_json_refuses_numbers_no_pixel_has(text, message):
    with pytest.raises(ValueError, match=message):
        C.make_hints(C.hints_from_json(text), 10, 10)
