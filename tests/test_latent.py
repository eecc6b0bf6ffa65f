import numpy as np
import pytest
import torch
from PIL import Image

from tests.latent_fixtures import TINY_LATENT, save_tiny_latent_models, typed_digit
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
    za, zb = latent.encode(vae, img_a, digits=False), latent.encode(vae, img_b, digits=False)
    frames = latent.frames(vae, za, zb, 6, "spherical")
    assert len(frames) == 6 and frames[0].shape == (16, 16)
    with torch.inference_mode():
        recon = [latent.to_image(vae.decode(vae.embed(latent.fit(i, vae, False).x))[0]) for i in (img_a, img_b)]
    assert np.abs(frames[0].astype(int) - recon[0]).max() <= 1  # A's end first
    assert np.abs(frames[-1].astype(int) - recon[1]).max() <= 1
    assert np.abs(frames[0].astype(int) - frames[-1]).max() > 50  # the two ends differ: the test can tell them apart
    assert np.array_equal(latent.decode_at(vae, za, zb, 1.0), frames[-1])
    with pytest.raises(ValueError, match="steps must be at least 2"):
        latent.frames(vae, za, zb, 1)


def test_a_drawing_is_fitted_like_the_digits(vae):
    f = latent.fit(bar_image(rgb=True), vae, digits=True)
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
        latent.fit(np.full((40, 40), 255, np.uint8), vae, digits=True)


def test_other_images_are_centre_cropped_and_resized(vae):
    img = np.zeros((40, 80), np.uint8)
    img[:, 20:60] = 255  # the centre square is white, the sides black
    f = latent.fit(img, vae, digits=False)
    assert f.x.shape == (1, 1, 16, 16) and f.x.min() > 0.99
    assert f.steps == ["centre-cropped from 80×40 to 40×40", "downscaled from 40×40 to 16×16"]
    assert latent.fit(img[:16, :16], vae, digits=False).steps == []  # at the model's size: used as it is


# --- does an input look like the training data? (the shipped models) ----------------------------------------


@pytest.fixture(scope="module")
def shipped():
    return registry.Registry(Settings().weights)


def checked(reg: registry.Registry, name: str, img: np.ndarray) -> latent.InputCheck:
    entry, model = reg.entry(name), reg.load(name)
    return latent.check(entry, model, latent.fit(img, model, latent.dataset_of(entry) == "digits"))


def test_a_colour_photo_given_to_the_digit_vae_is_flagged(shipped):
    """It used to be accepted as a "digit" without a word: now it is flagged twice, for its colour and for how badly
    the VAE reconstructs it (measured 4.7x the worst held-out digit's error), and the steps say how it was fitted."""
    import skimage.data

    photo = checked(shipped, "vae-digits", skimage.data.coffee())
    assert photo.colour and photo.colourfulness > 50 and photo.unlike and photo.error > 3 * photo.worst_heldout
    assert photo.steps[0] == "reduced to grey" and "(it was 600×400)" in photo.steps[-1]
    grey = checked(shipped, "vae-digits", skimage.data.camera())  # a grey photo: not colour, still not a digit
    assert not grey.colour and grey.unlike and grey.steps[0].startswith("inverted")


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


def test_the_examples_are_every_digit_and_four_visible_faces(tmp_path):
    """The face examples used to include a background patch (skimage's lfw_subset is 100 faces, then 100 patches),
    almost black as a thumbnail (mean 0.13)."""
    from skimage.data import lfw_subset

    files = latent.example_files(tmp_path)
    assert [p.stem for p in files] == [f"digit-{k}" for k in range(10)] + [f"face-{i}" for i in latent.FACE_EXAMPLES]
    faces = datasets.resize(torch.from_numpy(lfw_subset()[:100]).float()[:, None], 32)  # as data.faces makes them
    for p in files[10:]:
        x = torch.from_numpy(images.to_float(np.asarray(Image.open(p))))
        assert (faces - x).abs().flatten(1).max(1).values.min() <= 1 / 255, f"{p.name} is not one of the faces"
        assert x.mean() >= 0.4, f"{p.name} is too dark to see: mean {x.mean():.2f}"


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
    digits = latent.dataset_of(entry) == "digits"
    za, zb = (latent.encode(model, np.asarray(Image.open(p).convert("L")), digits) for p in (a, b))
    expected = latent.frames(model, za, zb, 5)
    for n, e in zip(names, expected):
        assert np.array_equal(np.asarray(Image.open(out / n)), e)  # 000 is A's end, 004 B's
    assert main(["interpolate", "--model", "tiny-ae", str(a), str(b), "--steps", "3", "--out", str(out)]) == 0


def test_cli_interpolate_bad_input_gives_one_line(reg, tmp_path, capsys):
    a = tmp_path / "a.png"
    Image.fromarray(bar_image()).save(a)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    for args, msg in (
        (["--model", "tiny-vae", str(a), str(bad)], "bad.png is not an image"),
        (["--model", "nope", str(a), str(a)], "valid names: tiny-ae, tiny-vae"),
    ):
        assert main(["interpolate", *args, "--out", str(tmp_path / "o")]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and msg in err
    with pytest.raises(SystemExit) as e:  # a number out of range is a usage error, before any work
        main(["interpolate", "--model", "tiny-vae", str(a), str(a), "--steps", "1", "--out", str(tmp_path / "o")])
    assert e.value.code == 2 and "argument --steps: must be at least 2, got 1" in capsys.readouterr().err
