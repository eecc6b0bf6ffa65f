import numpy as np
import pytest
import torch
from PIL import Image

from tests.latent_fixtures import TINY_LATENT, TINY_MNIST, save_tiny_latent_models, typed_digit
from unetlab import data as datasets
from unetlab import images, latent, metrics, registry
from unetlab.__main__ import main
from unetlab.models.vae import AE, VAE, AEConfig, VAEConfig
from unetlab.settings import Settings


@pytest.fixture
def vae():
    torch.manual_seed(0)
    return VAE(VAEConfig(**TINY_LATENT)).eval()


@pytest.fixture
def reg(tmp_path, monkeypatch):
    save_tiny_latent_models(tmp_path)
    r = registry.Registry(tmp_path)
    monkeypatch.setenv("UNETLAB_WEIGHTS", str(tmp_path))  # the CLI's registry
    return r


def bar_image(w: int = 200, h: int = 120, rgb: bool = False) -> np.ndarray:
    """A dark vertical stroke on a light canvas, off centre: what a drawing looks like."""
    img = np.full((h, w), 250, np.uint8)
    img[20:100, 40:60] = 10
    return np.repeat(img[..., None], 3, 2) if rgb else img


def test_slerp_and_lerp():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    assert torch.allclose(latent.slerp(a, b, 0.0), a) and torch.allclose(latent.slerp(a, b, 1.0), b)
    assert torch.allclose(latent.lerp(a, b, 0.5), torch.tensor([0.5, 1.0]))
    c = torch.tensor([0.0, 1.0])
    mid = latent.slerp(a, c, 0.5)  # a quarter circle: halfway is at 45 degrees on the unit circle
    assert torch.allclose(mid, torch.tensor([0.5**0.5, 0.5**0.5]), atol=1e-6)
    assert torch.allclose(latent.slerp(a, 2 * a, 0.5), 1.5 * a)  # parallel: falls back to lerp
    with pytest.raises(ValueError, match="method must be one of"):
        latent.path(a.numpy(), b.numpy(), [0.5], "cubic")


def bars() -> torch.Tensor:
    """16 images (16, 1, 16, 16): 8 horizontal and 8 vertical bars at different places."""
    x = torch.zeros(16, 1, 16, 16)
    for i in range(16):
        (x[i, 0, 2 * (i % 8) : 2 * (i % 8) + 2] if i < 8 else x[i, 0, :, 2 * (i % 8) : 2 * (i % 8) + 2]).fill_(1)
    return x


@pytest.fixture(scope="module")
def trained_vae():
    """The tiny VAE after 150 steps on bars (width 8, beta 0.1: the codes are not yet ignored): its decodings
    of a horizontal and a vertical bar differ clearly."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(**{**TINY_LATENT, "base": 8}, beta=0.1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        model.terms(bars())["loss"].mean().backward()
        opt.step()
    return model.eval()


def test_interpolation_endpoints_decode_to_the_reconstructions(trained_vae):
    vae = trained_vae
    img_a, img_b = (latent.to_image(bars()[i]) for i in (3, 12))
    za, zb = latent.encode(vae, img_a, "faces"), latent.encode(vae, img_b, "faces")
    frames = latent.frames(vae, za, zb, 6, "spherical")
    assert len(frames) == 6 and frames[0].shape == (16, 16)
    with torch.inference_mode():
        recon = [latent.to_image(vae.decode(vae.embed(latent.fit(i, vae, "faces").x))[0]) for i in (img_a, img_b)]
    assert np.abs(frames[0].astype(int) - recon[0]).max() <= 1  # A's end first
    assert np.abs(frames[-1].astype(int) - recon[1]).max() <= 1
    assert np.abs(frames[0].astype(int) - frames[-1]).max() > 50  # the two ends differ: the test can tell them apart
    assert np.array_equal(latent.decode_at(vae, za, zb, 1.0), frames[-1])
    with pytest.raises(ValueError, match="steps must be at least 2"):
        latent.frames(vae, za, zb, 1)


def test_a_drawing_is_fitted_like_the_digits(vae):
    f = latent.fit(bar_image(rgb=True), vae, "digits")
    x = f.x
    assert x.shape == (1, 1, 16, 16)
    assert x.max() == pytest.approx(1.0)  # the brightest ink is full ink
    assert x[..., 0, :].max() > 0.3  # the stroke fills the frame's height, as sklearn's digits do
    assert x[..., :, 0].max() < 0.05 and x[..., :, -1].max() < 0.05  # dark on both sides: centred, inverted
    cols = x[0, 0].sum(0)
    assert abs(float((cols * torch.arange(16)).sum() / cols.sum()) - 7.5) < 1  # centred left-right
    assert f.colourfulness == 0 and f.steps == [  # a grey image in RGB is not "reduced to grey"
        "inverted (its background is light; the digits are light on black)",
        "cropped to its ink and centred, reduced to the digits' 8×8 grid and scaled to 16×16 (it was 200×120)",
    ]
    with pytest.raises(ValueError, match="the digit image is empty"):
        latent.fit(np.full((40, 40), 255, np.uint8), vae, "digits")


@pytest.fixture
def mnist_vae():
    torch.manual_seed(0)
    return VAE(VAEConfig(**TINY_MNIST)).eval()


def centre_of_mass(x: torch.Tensor) -> tuple[float, float]:
    """(row, column) of a (S, S) image's centre of mass, in pixels."""
    r = torch.arange(x.shape[0], dtype=torch.float32)
    return float((x.sum(1) * r).sum() / x.sum()), float((x.sum(0) * r).sum() / x.sum())


def ink_box(x: torch.Tensor) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of a (S, S) image's non-zero pixels, inclusive."""
    rows, cols = (x > 0).any(1).nonzero().flatten(), (x > 0).any(0).nonzero().flatten()
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def seven(bar: int = 20, w: int = 300, h: int = 240) -> np.ndarray:
    """A "7" drawn dark on light in the top left corner: a heavy bar on a stem, so its centre of mass sits well
    above its bounding box's centre (centring the box would leave the mass 3 px high)."""
    img = np.full((h, w), 255, np.uint8)
    img[10 : 10 + bar, 10:110] = 0  # the bar
    img[10 + bar : 130, 95:110] = 0  # the stem
    return img


def test_a_drawing_for_an_mnist_model_is_framed_as_mnist_was(mnist_vae):
    f = latent.fit(seven(), mnist_vae, "mnist")
    x = f.x[0, 0]
    assert f.x.shape == (1, 1, 32, 32) and x.max() == pytest.approx(1.0) and x.min() >= 0
    top, bottom, left, right = ink_box(x)
    assert max(bottom - top, right - left) + 1 == 20  # the box fits 20x20 (its longer side is 20)
    assert top >= 2 and left >= 2 and bottom <= 29 and right <= 29  # inside the 28x28 frame: 2 px of padding
    cy, cx = centre_of_mass(x)
    assert abs(cy - 15.5) <= 0.5 and abs(cx - 15.5) <= 0.5  # the mass at the frame's centre, to the pixel
    assert abs((top + bottom) / 2 - 15.5) > 2  # not the box's centre: the test tells the two apart
    top, bottom, *_ = ink_box(latent.fit(seven(bar=60), mnist_vae, "mnist").x[0, 0])  # its mass even higher up:
    assert (top, bottom) == (2 + 28 - 20, 29)  # moved down as far as the frame allows, whole, not cut off
    assert f.steps == [
        "inverted (its background is light; the digits are light on black)",
        "cropped to its ink, scaled to fit 20×20 keeping its shape and centred by its mass in a 28×28 frame, "
        "zero-padded to 32×32, as MNIST's digits (it was 300×240)",
    ]


def test_a_tall_thin_one_keeps_its_aspect_ratio(mnist_vae):
    x = latent.fit(bar_image(), mnist_vae, "mnist").x[0, 0]  # an 80x20 stroke, dark on light, off centre
    top, bottom, left, right = ink_box(x)
    assert (bottom - top + 1, right - left + 1) == (20, 5)  # 80x20 scaled by 1/4, not stretched to a square
    assert all(abs(c - 15.5) <= 0.5 for c in centre_of_mass(x))
    wide = latent.fit(bar_image().T.copy(), mnist_vae, "mnist").x[0, 0]  # the same stroke lying down
    top, bottom, left, right = ink_box(wide)
    assert (bottom - top + 1, right - left + 1) == (5, 20)


def test_an_empty_canvas_for_an_mnist_model_says_so(mnist_vae):
    for blank in (np.full((256, 256, 3), 255, np.uint8), np.zeros((100, 60), np.uint8)):
        with pytest.raises(ValueError, match="the digit image is empty: draw or upload a digit"):
            latent.fit(blank, mnist_vae, "mnist")


def test_a_held_out_mnist_digit_drawn_large_is_framed_back_to_itself(mnist_vae):
    """MNIST's own digits already are framed this way: one scaled up 4x and drawn dark on light comes back close to
    the digit itself (measured 0.049 mean absolute difference, about a 1-pixel shift's 0.051), where the digits'
    8x8 framing gives 0.29."""
    from PIL import Image as PILImage

    d = datasets.load("mnist")
    mnist, digits = [], []
    for x in d.test[::100, 0]:  # ten held-out digits, one of each stretch of the split
        drawn = PILImage.fromarray((255 * (1 - x[2:30, 2:30].numpy())).round().astype(np.uint8))
        big = np.asarray(drawn.resize((112, 112), PILImage.BILINEAR))
        mnist.append((latent.fit(big, mnist_vae, "mnist").x[0, 0] - x).abs().mean().item())
        digits.append((latent.fit(big, mnist_vae, "digits").x[0, 0] - x).abs().mean().item())
    assert np.mean(mnist) < 0.07 and np.mean(digits) > 0.2, (mnist, digits)


def test_an_mnist_image_at_the_models_size_is_used_as_it_is(mnist_vae):
    x = datasets.load("mnist").test[0]
    f = latent.fit(latent.to_image(x), mnist_vae, "mnist")
    assert f.steps == [] and torch.allclose(f.x[0], x, atol=1 / 255)


def test_a_smaller_mnist_model_gets_the_frame_resized(vae):
    f = latent.fit(seven(), vae, "mnist")  # a 16x16 model: the 28x28 frame scaled down, as data.mnist(16) does
    assert f.x.shape == (1, 1, 16, 16) and "scaled to 16×16" in f.steps[-1]


def test_other_images_are_centre_cropped_and_resized(vae):
    img = np.zeros((40, 80), np.uint8)
    img[:, 20:60] = 255  # the centre square is white, the sides black
    f = latent.fit(img, vae, "faces")
    assert f.x.shape == (1, 1, 16, 16) and f.x.min() > 0.99
    assert f.steps == ["centre-cropped from 80×40 to 40×40", "downscaled from 40×40 to 16×16"]
    assert latent.fit(img[:16, :16], vae, "faces").steps == []  # at the model's size: used as it is


# --- does an input look like the training data? (the shipped models) ----------------------------------------


@pytest.fixture(scope="module")
def shipped():
    return registry.Registry(Settings().weights)


def checked(reg: registry.Registry, name: str, img: np.ndarray) -> latent.InputCheck:
    entry, model = reg.entry(name), reg.load(name)
    return latent.check(entry, model, latent.fit(img, model, latent.dataset_of(entry)))


def test_a_colour_photo_given_to_the_digit_vae_is_flagged(shipped):
    """It used to be accepted as a "digit" without a word: now it is flagged twice, for its colour and for how badly
    the VAE reconstructs it (measured 4.7x the worst held-out digit's error), and the steps say how it was fitted."""
    import skimage.data

    photo = checked(shipped, "vae-digits", skimage.data.coffee())
    assert photo.colour and photo.colourfulness > 50 and photo.unlike and photo.error > 3 * photo.worst_heldout
    assert photo.steps[0] == "reduced to grey" and "(it was 600×400)" in photo.steps[-1]
    grey = checked(shipped, "vae-digits", skimage.data.camera())  # a grey photo: not colour, still not a digit
    assert not grey.colour and grey.unlike and grey.steps[0].startswith("inverted")


def test_vae_mnist_flags_photos_and_sklearn_digits_not_its_held_out_or_drawn_digits(shipped):
    """Measured against its worst held-out MNIST digit's 0.045 MSE: framed as MNIST's digits, a photo becomes a
    digit-sized blob that vae-mnist reconstructs fairly well (coffee 0.026: flagged for its colour only; astronaut
    0.069), while sklearn's blurry 8x8-born digits are far from its data (median 0.12; 357 of 359 flagged); typed
    digits 0.003-0.011."""
    import skimage.data

    coffee = checked(shipped, "vae-mnist", skimage.data.coffee())
    assert coffee.colour and "as MNIST's digits (it was 600×400)" in coffee.steps[-1]
    astronaut = checked(shipped, "vae-mnist", skimage.data.astronaut())
    assert astronaut.colour and astronaut.unlike
    sklearn = [checked(shipped, "vae-mnist", latent.to_image(x)) for x in datasets.load("digits").test[::10]]
    assert all(c.steps == [] for c in sklearn)  # at its size, light on black: used as it is
    assert np.mean([c.unlike for c in sklearn]) >= 0.9 and np.median([c.error for c in sklearn]) > 0.1  # 357 of 359
    for x in datasets.load("mnist").test[::10]:  # a hundred held-out MNIST digits, as the examples are
        c = checked(shipped, "vae-mnist", latent.to_image(x))
        assert not c.unlike and c.steps == [], c
    for k in range(10):  # a digit drawn on a light canvas is framed as MNIST's were, and passes
        c = checked(shipped, "vae-mnist", typed_digit(k))
        assert not c.unlike and c.error < c.worst_heldout / 2, (k, c)


def test_the_2d_mnist_map_and_samples(shipped):
    entry, model = shipped.entry("vae-mnist-2d"), shipped.load("vae-mnist-2d")
    sp = latent.space(entry, model)
    assert sp.title == "the 2-D latent space itself" and sp.z.shape == (1000, 2)
    assert set(sp.labels.tolist()) == set(range(10))
    grid = latent.sample_grid(model, 16, 1.0, seed=0)
    assert grid.shape == (2 * 32 + 2, 8 * 32 + 14, 3) and grid.std() > 10  # decoded digits, not a blank grid


def test_held_out_and_typed_digits_are_not_flagged(shipped):
    for x in datasets.load("digits").test:  # every held-out digit, as the tab's examples are: 32x32 uint8
        c = checked(shipped, "vae-digits", latent.to_image(x))
        assert not c.colour and not c.unlike and c.steps == [], c
    for k in range(10):  # a digit drawn on a light canvas is fitted like the digits, and passes
        c = checked(shipped, "vae-digits", typed_digit(k))
        assert not c.unlike and c.error < c.worst_heldout, (k, c)


def test_the_faces_vae_flags_a_drawn_digit_not_its_held_out_faces(shipped):
    assert all(not checked(shipped, "vae-faces", latent.to_image(x)).unlike for x in datasets.load("faces").test)
    drawn = checked(shipped, "vae-faces", typed_digit(3))
    assert drawn.unlike and not drawn.colour and drawn.steps == ["downscaled from 256×256 to 32×32"]


def test_colourfulness_of_a_large_upload_is_measured_on_a_subsample():
    import skimage.data

    big = np.repeat(np.repeat(skimage.data.coffee(), 3, 0), 3, 1)  # 1800x1200: every 2nd pixel is measured
    assert latent.colourfulness(big) == pytest.approx(metrics.colourfulness(images.to_float(big)), rel=0.02)


def test_the_examples_are_every_digit_four_visible_faces_and_every_mnist_digit(tmp_path):
    """The face examples used to include a background patch (skimage's lfw_subset is 100 faces, then 100 patches),
    almost black as a thumbnail (mean 0.13). The MNIST examples are held-out digits, never training ones."""
    from skimage.data import lfw_subset

    files = latent.example_files(tmp_path)
    assert [p.stem for p in files] == (
        [f"digit-{k}" for k in range(10)]
        + [f"face-{i}" for i in latent.FACE_EXAMPLES]
        + [f"mnist-{k}" for k in range(10)]
    )
    faces = datasets.resize(torch.from_numpy(lfw_subset()[:100]).float()[:, None], 32)  # as data.faces makes them
    for p in files[10:14]:
        x = torch.from_numpy(images.to_float(np.asarray(Image.open(p))))
        assert (faces - x).abs().flatten(1).max(1).values.min() <= 1 / 255, f"{p.name} is not one of the faces"
        assert x.mean() >= 0.4, f"{p.name} is too dark to see: mean {x.mean():.2f}"
    m = datasets.load("mnist")
    for k, p in enumerate(files[14:]):
        x = torch.from_numpy(images.to_float(np.asarray(Image.open(p))))
        held_out = (m.test[:, 0] - x).abs().flatten(1).max(1).values <= 1 / 255
        assert held_out.any() and set(m.test_labels[held_out].tolist()) == {k}, f"{p.name} is not a held-out {k}"
        assert ((m.train[:, 0] - x).abs().flatten(1).max(1).values > 1 / 255).all(), f"{p.name} was trained on"
    assert latent.example_files(tmp_path) == files  # written once: a second call reads no dataset


def test_sampling(vae):
    a = latent.sample(vae, 5, temperature=1.0, seed=3)
    assert len(a) == 5 and all(np.array_equal(p, q) for p, q in zip(a, latent.sample(vae, 5, 1.0, seed=3)))
    cold = latent.sample(vae, 3, temperature=0.0, seed=1)
    assert np.array_equal(cold[0], cold[2])  # T = 0: every sample is the prior's mean
    assert latent.sample_grid(vae, 10, columns=4).shape == (3 * 16 + 4, 4 * 16 + 6, 3)
    with pytest.raises(ValueError, match="needs a VAE"):
        latent.sample(AE(AEConfig(**TINY_LATENT)), 2)


def test_heldout_metrics(vae):
    x = torch.rand(6, 1, 16, 16)
    m = latent.heldout_metrics(vae, x)
    assert m["elbo"] == pytest.approx(-(m["recon_nll"] + m["kl"]), abs=0.01)
    assert m["kl"] >= 0 and 0 <= m["active_dims"] <= 3 and m["psnr"] > 0
    ae = latent.heldout_metrics(AE(AEConfig(**TINY_LATENT)), x)
    assert "elbo" not in ae and "kl" not in ae and ae["recon_nll"] > 0


def entry(name: str, model) -> registry.Entry:
    return registry.Entry(name, "vae", "vae", model.config.to_dict(), {"data": {"dataset": "digits"}}, module=model)


def test_latent_map_pca_and_2d(vae):
    e = entry("v", vae)
    sp = latent.space(e, vae)
    assert latent.space(e, vae) is sp  # computed once, kept on the entry
    assert sp.z.shape[1] == 3 and sp.labels is not None and len(sp.labels) == len(sp.z)
    p = sp.project(sp.z)
    assert p.shape == (len(sp.z), 2) and np.allclose(p.mean(0), 0, atol=1e-4)  # PCA is centred
    assert p[:, 0].var() >= p[:, 1].var() and 0 < sp.explained <= 1
    route = latent.path(sp.z[0], sp.z[1], np.linspace(0, 1, 5))
    img = latent.latent_map(sp, route, route[2], side=200)
    assert img.shape == (200, 260, 3)
    assert (img == latent.PALETTE[7]).all(-1).any()  # class 7's colour is drawn
    torch.manual_seed(0)
    flat = VAE(VAEConfig(**{**TINY_LATENT, "latent": 2})).eval()
    sp2 = latent.space(entry("flat", flat), flat)
    assert np.array_equal(sp2.project(sp2.z), sp2.z) and sp2.title == "the 2-D latent space itself"


def test_a_live_entry_maps_the_images_it_was_registered_with(vae):
    x, labels = torch.rand(12, 1, 16, 16), torch.arange(12) % 3
    e = registry.Entry("live", "vae", "vae", vae.config.to_dict(), {}, module=vae, heldout=(x, labels))
    sp = latent.space(e, vae)
    assert len(sp.z) == 12 and np.array_equal(sp.labels, labels.numpy())  # not the card's dataset (digits)


def test_an_mnist_models_input_check_uses_its_held_out_mnist_digits(reg):
    entry, model = reg.entry("tiny-vae-mnist"), reg.load("tiny-vae-mnist")
    assert latent.dataset_of(entry) == "mnist" and latent.dataset_of(reg.entry("tiny-vae")) == "digits"
    m = datasets.load("mnist")
    x, labels = latent.heldout(entry, model)
    assert torch.equal(x, m.test) and torch.equal(labels, m.test_labels)  # 1,000 held-out digits, 32x32
    worst = latent.reconstruction_errors(model, m.test).max().item()
    assert latent.worst_heldout_error(entry, model) == pytest.approx(worst)
    digits_worst = latent.reconstruction_errors(model, datasets.load("digits").test).max().item()
    assert abs(worst - digits_worst) > 1e-4  # the two sets give different numbers: the test can tell them apart
    sp = latent.space(entry, model)
    assert len(sp.z) == 1000 and np.array_equal(sp.labels, m.test_labels.numpy())


def test_walk_from_the_registry(reg):
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 255, (30, 30), np.uint8), rng.integers(0, 255, (20, 40, 3), np.uint8)
    w = latent.start_walk(reg, "tiny-vae", "tiny-ae", a, b)
    assert w.a.shape == w.ae_a.shape == (3,)
    fv, fa, lmap = latent.show_frame(reg, w, 0.3, "linear")
    assert fv.shape == fa.shape == (16, 16) and lmap.ndim == 3
    sv, sa = latent.show_strips(reg, w, 4)
    assert sv.shape == sa.shape == (16, 4 * 16 + 6, 3)
    with pytest.raises(ValueError, match="not a VAE"):
        latent.start_walk(reg, "tiny-ae", None, a, b)


# --- the CLI --------------------------------------------------------------------------------------------------


def test_cli_interpolate_writes_frames_in_order(reg, tmp_path, capsys):
    a, b = tmp_path / "a.png", tmp_path / "b.jpg"
    Image.fromarray(bar_image(rgb=True)).save(a)  # any size and colour
    wide = np.zeros((50, 90), np.uint8)
    wide[10:40, 20:70] = 200
    Image.fromarray(wide).save(b)
    out = tmp_path / "frames"
    assert main(["interpolate", "--model", "tiny-vae", str(a), str(b), "--steps", "5", "--out", str(out)]) == 0
    names = [f"{i:03d}.png" for i in range(5)]
    assert sorted(p.name for p in out.iterdir()) == names
    assert capsys.readouterr().out.split() == [str(out / n) for n in names]
    model, entry = reg.load("tiny-vae"), reg.entry("tiny-vae")
    za, zb = (latent.encode(model, np.asarray(Image.open(p).convert("L")), latent.dataset_of(entry)) for p in (a, b))
    expected = latent.frames(model, za, zb, 5)
    for n, e in zip(names, expected):
        assert np.array_equal(np.asarray(Image.open(out / n)), e)  # 000 is A's end, 004 B's
    assert main(["interpolate", "--model", "tiny-ae", str(a), str(b), "--steps", "3", "--out", str(out)]) == 0


def test_cli_interpolate_frames_a_drawing_for_an_mnist_model_as_mnist_was(reg, tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(bar_image(rgb=True)).save(a)
    Image.fromarray(seven()).save(b)
    out = tmp_path / "frames"
    assert main(["interpolate", "--model", "tiny-vae-mnist", str(a), str(b), "--steps", "3", "--out", str(out)]) == 0
    model = reg.load("tiny-vae-mnist")
    grey = [np.asarray(Image.open(p).convert("L")) for p in (a, b)]
    za, zb = (latent.encode(model, g, "mnist") for g in grey)
    assert not np.allclose(za, latent.encode(model, grey[0], "digits"))  # the digits' framing would differ
    for i, e in enumerate(latent.frames(model, za, zb, 3)):
        assert np.array_equal(np.asarray(Image.open(out / f"{i:03d}.png")), e)


def test_cli_interpolate_bad_input_gives_one_line(reg, tmp_path, capsys):
    a = tmp_path / "a.png"
    Image.fromarray(bar_image()).save(a)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    for args, msg in (
        (["--model", "tiny-vae", str(a), str(bad)], "bad.png is not an image"),
        (["--model", "nope", str(a), str(a)], "valid names: tiny-ae-mnist, tiny-ae, tiny-vae-mnist, tiny-vae"),
    ):
        assert main(["interpolate", *args, "--out", str(tmp_path / "o")]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and msg in err
    with pytest.raises(SystemExit) as e:  # a number out of range is a usage error, before any work
        main(["interpolate", "--model", "tiny-vae", str(a), str(a), "--steps", "1", "--out", str(tmp_path / "o")])
    assert e.value.code == 2 and "argument --steps: must be at least 2, got 1" in capsys.readouterr().err
