"""The optional real-SD path, on a tiny random folder of Stable Diffusion's layout made with save_pretrained."""

import pytest
import torch
from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel

from unetlab import sd


@pytest.fixture
def sd_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)
    UNet2DConditionModel(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(8, 16),
        layers_per_block=1,
        norm_num_groups=4,
        cross_attention_dim=16,
        attention_head_dim=2,
    ).save_pretrained(tmp_path / "unet")
    # SD 1.x ships a PNDM scheduler config; the tab reads it as DDPM or DDIM (the same betas)
    PNDMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012).save_pretrained(
        tmp_path / "scheduler"
    )
    return tmp_path


def test_loads_offline_and_denoises_a_latent(sd_folder):
    strip, text = sd.denoise_folder(sd_folder, steps=3, scheduler="ddim")
    assert strip.shape == (2 * sd.TILE + 2, 3 * sd.TILE + 2 * 2, 3)  # x_t over x0, at each of the 3 steps
    assert "3 DDIM steps of a 8×8×4 latent" in text and "no vae/" in text


def test_with_a_vae_the_previews_are_decoded(sd_folder):
    AutoencoderKL(block_out_channels=(8,), latent_channels=4, norm_num_groups=4, sample_size=8).save_pretrained(
        sd_folder / "vae"
    )
    strip, text = sd.denoise_folder(sd_folder, steps=2, scheduler="ddpm")
    assert strip.shape[1] == 2 * sd.TILE + 2 and "decoded by the folder VAE" in text


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
