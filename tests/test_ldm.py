"""The miniature Stable Diffusion, end to end at toy size on stand-in images: the VAE's recipe (scaling factor measured,
SD's folder layout), the latent U-Nets trained on its encodings, their cards' measurements, and the tab's trajectory."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.diffusion_fixtures import TINY, TINY_VAE
from unetlab import cards, diffusion, ldm, recipes, registry
from unetlab import data as datasets
from unetlab.models.ldm import LatentDiffusion, LatentVAE

CROP = 16  # the stand-in crops' side: TINY_VAE's 8 would leave 4x4 latents; 16 gives 8x8, TINY's image_size


@pytest.fixture
def stand_in(monkeypatch):
    """Smooth random colour images for every corpus split and kind (photos warm, textures cool), and a small budget."""
    asked = []

    def fake_arrays(split, kinds=None, fetch=True, limit=0):
        asked.append(split)
        g = np.random.default_rng(len(kinds or ()))
        tint = np.array([1.0, 0.6, 0.3]) if "photo" in (kinds or ()) else np.array([0.3, 0.6, 1.0])
        base = g.random((6, 9, 10, 1)) * tint
        return {f"s:{k}": (np.kron(b, np.ones((5, 5, 1))) * 255).astype(np.uint8) for k, b in enumerate(base)}

    def fake_test(per_source=40, fetch=True, kinds=None, split="test"):
        return {"s": fake_arrays("test", kinds)}

    monkeypatch.setattr(datasets, "corpus_arrays", fake_arrays)
    monkeypatch.setattr(datasets, "corpus_test", fake_test)
    monkeypatch.setattr(ldm, "SIDE", 40)
    monkeypatch.setattr(ldm, "CROPS_PER_CLASS", 256)
    monkeypatch.setattr(ldm, "MEASURE_PER_CLASS", 3)
    ldm.heldout_by_source.cache_clear()
    yield asked
    ldm.heldout_by_source.cache_clear()


def train(r, reg, out):
    data = recipes.load_data(r, reg)
    model = recipes.build_model(r, reg)
    history = [report.row() for report in recipes.training(r, data, model)]
    return cards.finish(r, model, data, history, 1.0, out, reg)


@pytest.fixture
def trained(stand_in, tmp_path):
    """A toy ldm-vae and the three latent U-Nets on its latents, saved in tmp_path as `train` saves them."""
    vae_recipe = replace(
        recipes.get("ldm-vae"), config={**TINY_VAE, "image_size": CROP}, side=40, crop=CROP, epoch_size=16,
        epochs=1, batch_size=8,
    )  # fmt: skip
    train(vae_recipe, registry.Registry(tmp_path), tmp_path)
    for name in ("ldm-eps", "ldm-x0", "ldm-v"):
        r = recipes.get(name)
        config = {**TINY, "channels": 4, "classes": 2, "vae": "ldm-vae", "prediction_type": r.config["prediction_type"]}
        train(replace(r, config=config, crop=CROP, epochs=1, batch_size=64), registry.Registry(tmp_path), tmp_path)
    return registry.Registry(tmp_path)


def test_the_vae_is_saved_in_sds_layout_with_its_measured_scaling_factor(trained, tmp_path, stand_in):
    entry = trained.entry("ldm-vae")
    assert set(entry.card["files"]) >= {"vae/config.json", "vae/diffusion_pytorch_model.safetensors"}
    vae = trained.load("ldm-vae")
    assert isinstance(vae, LatentVAE) and vae.scaling_factor != 1.0
    assert entry.card["metrics"]["scaling_factor"] == pytest.approx(vae.scaling_factor)
    crops = ldm.tiles([a for a in datasets.corpus_arrays("train", ("texture",)).values()], CROP)
    z = ldm.encode(vae, crops)  # scaled: unit variance on the data it was measured on (there: random crops)
    assert 0.5 < z.std().item() < 2.0
    split = entry.card["metrics"]["test_split"]
    assert split["psnr_worst"] <= split["psnr_mean"] and set(split["psnr_per_source"]) == {"s"}
    assert set(stand_in) <= {"train", "val", "test"}


def test_the_latent_models_hold_the_vae_and_differ_only_in_what_they_predict(trained):
    models = {n: trained.load(n, "ldm") for n in ("ldm-eps", "ldm-x0", "ldm-v")}
    kinds = {n: m.config.prediction_type for n, m in models.items()}
    assert kinds == {"ldm-eps": "epsilon", "ldm-x0": "sample", "ldm-v": "v_prediction"}
    for name, m in models.items():
        assert isinstance(m, LatentDiffusion)
        files = set(trained.entry(name).card["files"])
        assert {"unet/config.json", "scheduler/scheduler_config.json", "vae/config.json", "prompt.safetensors"} <= files
        assert m.autoencoder.scaling_factor == pytest.approx(trained.load("ldm-vae").scaling_factor, rel=1e-3)
    x = diffusion.final(models["ldm-eps"], torch.tensor([0, 1]), steps=3)
    assert x.shape == (2, 3, CROP, CROP) and 0 <= x.min() and x.max() <= 1


def test_the_cards_say_how_each_model_drew_its_crops(trained):
    """The VAE crops the corpus by source (1/sqrt of its size); the U-Nets' latents weigh each image of a class
    alike."""
    assert "1/sqrt(source size)" in trained.entry("ldm-vae").card["data"]["split"]
    split = trained.entry("ldm-eps").card["data"]["split"]
    assert "256 crops per class (photo, texture), each image of a class alike" in split and "sqrt" not in split


def test_the_cards_measure_each_class_at_50_and_10_steps_against_real_crops(trained):
    m = trained.entry("ldm-v").card["metrics"]
    for cls in ldm.CLASSES:
        assert {"vae_reconstruction", "ddim50", "ddim10", "real_spectrum"} <= set(m[cls])
        for key in ("vae_reconstruction", "ddim50", "ddim10"):
            pooled = {k: m[cls][key][k] for k in ("hf_ratio", "spectrum_distance", "kid")}
            assert all(np.isfinite(v) for v in pooled.values())
            # per test source (the stand-in has one), then the mean and the worst over sources
            assert set(m[cls]["per_source"]) == {"s"} and set(m[cls]["per_source"]["s"][key]) == set(pooled)
            assert m[cls][key]["kid_worst_source"] == "s"
            assert (
                m[cls][key]["kid_worst"]
                == m[cls][key]["kid_mean_over_sources"]
                == m[cls]["per_source"]["s"][key]["kid"]
            )
        assert len(m[cls]["real_spectrum"]) == CROP // 2 + 1


def test_a_latent_recipe_without_its_vae_says_to_train_it_first(tmp_path):
    with pytest.raises(datasets.DataError, match="train it first: python -m unetlab train --recipe ldm-vae"):
        recipes.load_data(recipes.get("ldm-eps"), registry.Registry(tmp_path))


def test_the_tabs_trajectory_shares_the_noise_and_decodes_what_it_shows(trained):
    models = {n: trained.load(n, "ldm") for n in ("ldm-eps", "ldm-x0", "ldm-v")}
    t = ldm.side_by_side(models, 1, n=2, steps=4, seed=3)
    assert t.timesteps == sorted(t.timesteps, reverse=True) and len(t.timesteps) == 4
    assert all(x.shape == (4, 2, 4, 8, 8) for x in t.x_t.values())
    again = ldm.side_by_side({"ldm-eps": models["ldm-eps"]}, 1, n=2, steps=4, seed=3)
    assert torch.equal(again.x_t["ldm-eps"], t.x_t["ldm-eps"])  # the same seed: the same noise, the same path
    p = ldm.panel(t, models["ldm-x0"], "ldm-x0", 2)
    assert p.dtype == np.uint8 and p.shape[-1] == 3
    assert ("ldm-x0", "x0", 2) in t.decoded
    spectrum = trained.entry("ldm-eps").card["metrics"]["photo"]["real_spectrum"]
    rows = ldm.band_curves(t, models, spectrum, {"ldm-eps": "ε-model"})
    assert {r["series"].split(":")[0] for r in rows} == {"ε-model", "ldm-x0", "ldm-v"}
    with pytest.raises(ValueError, match="class must be one of photo, texture"):
        ldm.side_by_side(models, 5, n=1, steps=2)


def test_every_steps_x0_is_decoded_at_once_as_each_step_alone_in_fp32(trained):
    """decode_all fills every step the scrubber can show with that step's decode, within bf16's rounding of fp32
    (where the CPU has bf16) and 8-bit storage."""
    models = {n: trained.load(n, "ldm") for n in ("ldm-eps", "ldm-x0")}
    t = ldm.side_by_side(models, 0, n=3, steps=5, seed=1)
    done = []
    t.decode_all(models, on_model=lambda k, total: done.append((k, total)), batch=4)  # batches straddle steps
    assert done == [(1, 2), (2, 2)]
    assert {k for k in t.decoded} == {(n, "x0", i) for n in models for i in range(5)}
    for name, model in models.items():
        for i in range(5):
            fp32 = model.decode(t.x0[name][i].float())
            assert t.images(model, name, "x0", i).shape == fp32.shape == (3, 3, CROP, CROP)
            error = (t.images(model, name, "x0", i) - fp32).abs()
            assert error.max() <= 6 / 255 and error.mean() <= 1 / 255


def test_kid_is_near_zero_for_one_sample_and_grows_with_a_shift():
    g = np.random.default_rng(0)
    a, b = g.normal(size=(200, 8)), g.normal(size=(200, 8))
    assert abs(ldm.kid(a, b)) < 0.05 < ldm.kid(a, b + 1.0)


def test_cli_samples_photos_and_textures_by_name(trained, tmp_path, monkeypatch, capsys):
    from PIL import Image

    from unetlab.__main__ import main

    monkeypatch.setenv("UNETLAB_WEIGHTS", str(tmp_path))
    out = tmp_path / "out"
    args = ["sample", "--model", "ldm-v", "--n", "2", "--steps", "3", "--guidance", "2", "--out", str(out)]
    assert main(args + ["--timeline"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"{c}_{i}{t}.png" for c in ldm.CLASSES for i in (0, 1) for t in ("", "_timeline")]
    assert Image.open(out / "photo_0.png").size == (CROP, CROP)
    assert main(["sample", "--model", "ldm-eps", "--label", "texture", "--n", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["sample", "--model", "ldm-eps", "--label", "7", "--out", str(out)]) == 1
    assert "--label for ldm-eps must be one of photo, texture or all, got '7'" in capsys.readouterr().err
