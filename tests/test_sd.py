"""The optional real-SD path, on a tiny random folder of Stable Diffusion's layout made with save_pretrained."""

import sys
from types import SimpleNamespace

import numpy as np
import pytest

from tests.sd_fixtures import save_tiny_clip, save_tiny_sd
from unetlab import sd


@pytest.fixture
def sd_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return save_tiny_sd(tmp_path / "sd")


@pytest.fixture
def clip_folder(tmp_path, monkeypatch):
    """With vae/, text_encoder/ and tokenizer/: it follows a prompt."""
    pytest.importorskip("transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return save_tiny_sd(tmp_path / "sd", vae=True, text=True)


def test_loads_offline_and_denoises_a_latent(sd_folder):
    r = sd.denoise_folder(sd_folder, steps=3, scheduler="ddim")
    assert r.strip.shape == (2 * sd.TILE + 2, 3 * sd.TILE + 2 * 2, 3)  # x_t over x0, at each of the 3 steps
    assert (r.steps, r.scheduler, r.channels, r.side, r.full_side, r.device) == (3, "ddim", 4, 8, 8, "cpu")
    assert r.prompt is None and not r.info.vae and r.unet_seconds <= r.seconds


def test_with_a_vae_the_previews_are_decoded(sd_folder):
    from diffusers import AutoencoderKL

    AutoencoderKL(block_out_channels=(8,), latent_channels=4, norm_num_groups=4, sample_size=8).save_pretrained(
        sd_folder / "vae"
    )
    r = sd.denoise_folder(sd_folder, steps=2, scheduler="ddpm")
    assert r.strip.shape[1] == 2 * sd.TILE + 2 and r.info.vae


def test_not_a_folder_says_what_is_needed(tmp_path):
    with pytest.raises(ValueError, match="UNETLAB_SD_PATH"):
        sd.load("")
    with pytest.raises(ValueError, match="needs unet/ and scheduler/"):
        sd.load(tmp_path)


def test_the_app_loads_only_the_configured_folder(sd_folder):
    with pytest.raises(
        ValueError, match="no Stable Diffusion folder is configured.*start the app with UNETLAB_SD_PATH"
    ):
        sd.configured(sd_folder, "")
    own = str(sd_folder)
    assert sd.configured("", own) == sd.configured(None, own) == sd.configured(f"{sd_folder}/unet/..", own) == sd_folder
    for other in ("/", "/etc", sd_folder / "unet", sd_folder.parent):
        with pytest.raises(ValueError, match="loads only the Stable Diffusion folder it was started with"):
            sd.configured(other, own)


def test_the_prediction_type_is_read_and_given_to_the_scheduler(tmp_path):
    eps = save_tiny_sd(tmp_path / "eps")
    v = save_tiny_sd(tmp_path / "v", prediction_type="v_prediction")  # the same weights
    assert sd.describe(eps).prediction_type == "epsilon" and sd.describe(v).prediction_type == "v_prediction"
    a, b = (sd.denoise_folder(f, steps=2, seed=1) for f in (eps, v))
    assert (a.info.prediction_type, b.info.prediction_type) == ("epsilon", "v_prediction")
    assert not np.allclose(a.strip, b.strip, atol=1e-3)  # one U-Net output, read as ε or as v: other x̂0 and x_t
    with pytest.raises(ValueError, match="prediction_type 'flow' is not one of epsilon, v_prediction, sample"):
        sd.prediction_type({"prediction_type": "flow"})
    assert sd.prediction_type({}) == "epsilon"  # diffusers' default


def test_the_latent_is_cpu_sized_and_full_sized_on_a_gpu():
    sd15 = SimpleNamespace(sample_size=64)  # SD 1.5: 64x64 latents, a 512 px image through an 8x VAE
    vae = SimpleNamespace(block_out_channels=(128, 256, 512, 512))
    assert sd.latent_side(sd15, vae, cuda=False) == sd.CPU_IMAGE // 8 == 32
    assert sd.latent_side(sd15, vae, cuda=True) == sd.latent_side(sd15, None, cuda=True) == 64
    assert sd.latent_side(sd15, None, cuda=False) == 32  # no vae/: SD's 8x
    assert sd.latent_side(SimpleNamespace(sample_size=(8, 8)), vae, cuda=False) == 8  # never above the full size


def test_without_text_encoder_the_prompt_is_zero_and_the_message_says_how_to_enable_it(tmp_path):
    folder = save_tiny_sd(tmp_path / "sd", vae=True)
    info = sd.describe(folder)
    assert info.no_prompt == "the folder has no text_encoder/ and no tokenizer/"
    assert sd.ENABLE == (
        "To follow a prompt: `pip install -r requirements-sd.txt` (transformers, for CLIP's text encoder), and a "
        "folder with `text_encoder/` and `tokenizer/`."
    )
    a = sd.denoise_folder(folder, steps=2, prompt="a cat")
    b = sd.denoise_folder(folder, steps=2, prompt="a dog", guidance=3)
    assert a.prompt is None and np.array_equal(a.strip, b.strip)  # the prompt is not used


def test_without_transformers_the_prompt_is_zero(clip_folder, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if not installed: its import fails
    assert sd.describe(clip_folder).no_prompt == "the optional package transformers is not installed"
    r = sd.denoise_folder(clip_folder, steps=1, prompt="a cat")
    assert r.prompt is None and sd.load(clip_folder).text_encoder is None


def test_a_prompt_steers_the_denoise(clip_folder):
    """Different prompts, different images from the same noise; the same prompt, the same image."""
    models = sd.load(clip_folder)
    assert models.info.no_prompt == "" and models.text_encoder is not None
    cat = sd.denoise_folder(clip_folder, steps=3, prompt="a cat", guidance=5, seed=2)
    assert cat.prompt == "a cat" and not cat.truncated and cat.side == 8
    again = sd.denoise_folder(clip_folder, steps=3, prompt="a cat", guidance=5, seed=2)
    dog = sd.denoise_folder(clip_folder, steps=3, prompt="a dog", guidance=5, seed=2)
    assert np.array_equal(cat.strip, again.strip) and not np.allclose(cat.strip, dog.strip, atol=1e-3)
    long = sd.denoise_folder(clip_folder, steps=1, prompt="cat " * 80)
    assert long.truncated  # CLIP reads 77 tokens


def test_guidance_mixes_the_conditional_and_unconditional_predictions(clip_folder):
    """uncond + g·(cond − uncond): g = 0 is the empty prompt's denoise, and each g gives another image."""

    def run(prompt, g):
        return sd.denoise_folder(clip_folder, steps=3, prompt=prompt, guidance=g, seed=4).strip

    unconditional = run("", 7.5)  # cond = uncond: any g gives the unconditional prediction
    assert np.allclose(run("a cat", 0), unconditional, atol=1e-5)
    assert not np.allclose(run("a cat", 1), unconditional, atol=1e-3)
    assert not np.allclose(run("a cat", 1), run("a cat", 4), atol=1e-3)
    with pytest.raises(ValueError, match="guidance must be a number from 0 to 50, got nan"):
        sd.denoise_folder(clip_folder, guidance=float("nan"))


def test_progress_is_reported_every_step(sd_folder):
    calls = []
    sd.denoise_folder(sd_folder, steps=4, on_step=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_a_text_encoder_of_another_width_is_refused(clip_folder):
    import shutil

    shutil.rmtree(clip_folder / "text_encoder")
    shutil.rmtree(clip_folder / "tokenizer")
    save_tiny_clip(clip_folder, width=8)
    with pytest.raises(ValueError, match="text encoder gives 8-wide embeddings, its U-Net's cross-attention takes 16"):
        sd.load(clip_folder)
