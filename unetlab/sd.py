"""Optional: a real Stable Diffusion U-Net from a local diffusers folder, denoised the same way, offline.

Point UNETLAB_SD_PATH at a folder with SD's layout: unet/ and scheduler/ (vae/ optional, to decode the latents).
The app loads that folder only, whatever path a caller names (`configured`); `load` itself takes any folder.
Everything loads with local_files_only=True; nothing is downloaded.

The prompt: SD's text encoder is CLIP, which needs the `transformers` package; unetlab does not depend on it. The
U-Net is therefore given an all-zero prompt embedding (77 tokens): an unconditional-like denoise, which still
shows what the tab is about (ε-prediction steps and the x̂0 previews), not a prompt-following image.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

NOTE = """
The server loads the **local** diffusers Stable Diffusion folder it was started with, `UNETLAB_SD_PATH` (`unet/`,
`scheduler/`, optionally `vae/`), and no other. It loads offline (`local_files_only=True`). **CPU time warning**:
SD 1.5's U-Net takes several seconds per step on 2 cores, plus a VAE decode per preview. Without `transformers` the
CLIP text encoder cannot run, so the U-Net gets an all-zero prompt: an unconditional-like denoise that still shows
its ε steps and x̂0 previews.
"""
PREVIEWS = 8  # steps decoded for the strip (each decode of SD's VAE is costly)
TILE = 128  # side of each preview in the strip


def configured(path: str | Path | None, server_path: str) -> Path:
    """The folder the app may load for a caller who names `path`: the server's own (settings.sd_path,
    UNETLAB_SD_PATH), and only that one (an empty path means it). A caller must not make the server load whatever
    folder is on its disk."""
    if not server_path.strip():
        raise ValueError(
            "no Stable Diffusion folder is configured on this server: start the app with UNETLAB_SD_PATH set to a "
            "local diffusers SD folder (unet/, scheduler/, optionally vae/)"
        )
    folder = Path(server_path.strip()).expanduser()
    asked = str(path or "").strip()
    if asked and Path(asked).expanduser().resolve() != folder.resolve():
        raise ValueError(
            "this server loads only the Stable Diffusion folder it was started with (UNETLAB_SD_PATH); "
            "leave the folder empty or name that one"
        )
    return folder


def load(path: str | Path):
    """(unet, scheduler config, vae or None) from a local folder with SD's layout."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel

    folder = Path(str(path).strip()).expanduser() if str(path).strip() else None
    if folder is None:
        raise ValueError("no folder given: set UNETLAB_SD_PATH or type the path of a local diffusers SD folder")
    if not (folder / "unet" / "config.json").is_file() or not (folder / "scheduler").is_dir():
        raise ValueError(f"{folder} is not a diffusers Stable Diffusion folder: it needs unet/ and scheduler/")
    try:
        unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", local_files_only=True).eval()
        config = DDPMScheduler.load_config(folder, subfolder="scheduler", local_files_only=True)
        vae = None
        if (folder / "vae" / "config.json").is_file():
            vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", local_files_only=True).eval()
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot load the SD folder {folder}: {e}") from None
    return unet, config, vae


def _image(vae, latents: torch.Tensor) -> np.ndarray:
    """Latents (1, C, h, w) -> RGB (3, TILE, TILE) in [0, 1]: decoded by the VAE, or the first 3 channels."""
    with torch.inference_mode():
        if vae is not None:
            x = (vae.decode(latents / vae.config.scaling_factor).sample.float() + 1) / 2
        else:
            x = latents[:, :3].float()
            x = (x - x.amin()) / (x.amax() - x.amin() + 1e-8)
            x = x.repeat(1, 3 // x.shape[1], 1, 1) if x.shape[1] < 3 else x
    return F.interpolate(x.clamp(0, 1), size=(TILE, TILE), mode="bilinear", antialias=True)[0].numpy()


def denoise_folder(
    path: str | Path, *, steps: int = 10, scheduler: Literal["ddpm", "ddim"] = "ddim", seed: int = 0
) -> tuple[np.ndarray, str]:
    """Denoise one latent with the folder's U-Net; a strip of x_t (top) and x̂0 (bottom) at up to 8 steps."""
    from diffusers import DDIMScheduler, DDPMScheduler

    from unetlab import images

    if not 1 <= steps <= 1000:
        raise ValueError(f"steps must be between 1 and 1000, got {steps}")
    unet, config, vae = load(path)
    sched = (DDIMScheduler if scheduler == "ddim" else DDPMScheduler).from_config(config)
    sched.set_timesteps(steps)
    c, s = unet.config.in_channels, unet.config.sample_size
    s = s if isinstance(s, int) else s[0]
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((1, c, s, s), generator=g) * sched.init_noise_sigma
    prompt = torch.zeros((1, 77, unet.config.cross_attention_dim))  # no text encoder: see the module docstring
    keep = set(np.linspace(0, steps - 1, min(PREVIEWS, steps)).round().astype(int).tolist())
    top, bottom, start = [], [], time.perf_counter()
    for i, t in enumerate(sched.timesteps):
        with torch.inference_mode():
            eps = unet(sched.scale_model_input(x, t), t, encoder_hidden_states=prompt).sample
        out = sched.step(eps, t, x, generator=g)
        x = out.prev_sample
        if i in keep:
            top.append(_image(vae, x))
            bottom.append(_image(vae, out.pred_original_sample))
    strip = images.grid([np.stack([a, b]) for a, b in zip(top, bottom)], pad=2)
    text = (
        f"{steps} {scheduler.upper()} steps of a {s}×{s}×{c} latent in {time.perf_counter() - start:.1f} s; "
        f"scheduler prediction_type = {config.get('prediction_type', 'epsilon')}; "
        f"{'decoded by the folder VAE' if vae is not None else 'no vae/: the first latent channels are shown'}."
    )
    return strip, text
