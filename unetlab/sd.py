"""Optional: a real Stable Diffusion from a local diffusers folder, denoised step by step, offline.

Point UNETLAB_SD_PATH at a folder with SD's layout: unet/ and scheduler/; optionally vae/ (to decode the latents)
and text_encoder/ + tokenizer/ (CLIP, to follow a prompt). The app loads that folder only, whatever path a caller
names (`configured`); `load` itself takes any folder. Everything loads with local_files_only=True; nothing is
downloaded.

The prompt: CLIP's text encoder needs `transformers`, an optional dependency (requirements-sd.txt) imported only
here, and only for a folder that has text_encoder/ and tokenizer/. With both, the U-Net is given the prompt's
embeddings and classifier-free guidance. Without either, it gets an all-zero prompt embedding: an
unconditional-like denoise, which still shows its prediction steps and the x̂0 previews.

The size: on a CPU the latent is that of a CPU_IMAGE-px image (32x32 for SD), so that a step takes seconds; on a
GPU it is the folder's full sample_size (64x64 for SD 1.5, a 512 px image).
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

NOTE = """
The server loads the **local** diffusers Stable Diffusion folder it was started with, `UNETLAB_SD_PATH` (`unet/`,
`scheduler/`, optionally `vae/`, `text_encoder/` and `tokenizer/`), and no other. It loads offline
(`local_files_only=True`). With CLIP's `text_encoder/` and `tokenizer/` and the optional `transformers` package
(`pip install -r requirements-sd.txt`), the U-Net follows your prompt with classifier-free guidance; without them it
gets an all-zero prompt. **CPU time warning**: on a CPU the latent is 32×32 (a 256 px image, not SD 1.5's 512 px),
yet SD 1.5's 860 M-parameter U-Net still takes seconds per step on 2 cores, twice that with a prompt (guidance runs
it on two latents), plus a VAE decode per preview. On a GPU it runs at the folder's full size.
"""
PREVIEWS = 8  # steps decoded for the strip (each decode of SD's VAE is costly)
TILE = 128  # side of each preview in the strip
CPU_IMAGE = 256  # px: on a CPU the latent is this image's (32x32 behind SD's 8x VAE), at most the folder's full size
ZERO_PROMPT_TOKENS = 77  # CLIP's context length: the zero prompt has SD's shape
PredictionType = Literal["epsilon", "v_prediction", "sample"]
PREDICTS: dict[str, str] = {  # what the U-Net predicts, by the scheduler's prediction_type
    "epsilon": "the noise ε (SD 1.x)",
    "v_prediction": "the velocity v = √ᾱ·ε − √(1−ᾱ)·x0 (SD 2.x)",
    "sample": "the clean latent x0",
}
ENABLE = (
    "To follow a prompt: `pip install -r requirements-sd.txt` (transformers, for CLIP's text encoder), and a folder "
    "with `text_encoder/` and `tokenizer/`."
)


@dataclass
class FolderInfo:
    """What a folder is, read from its configs without loading a model."""

    prediction_type: PredictionType  # the scheduler's
    no_prompt: str  # why the U-Net gets an all-zero prompt; "" when it follows the prompt
    vae: bool  # vae/ is there, to decode the latents


@dataclass
class Models:
    """A loaded folder. vae, tokenizer and text_encoder are None when the folder (or transformers) lacks them."""

    info: FolderInfo
    unet: Any  # diffusers UNet2DConditionModel
    scheduler_config: dict
    vae: Any = None  # diffusers AutoencoderKL
    tokenizer: Any = None  # transformers CLIPTokenizer
    text_encoder: Any = None  # transformers CLIPTextModel


@dataclass
class Denoised:
    """One denoise: the strip and what made it."""

    strip: np.ndarray  # (H, W, 3) in [0, 1]: x_t (top) over x̂0 (bottom), at up to PREVIEWS steps
    info: FolderInfo
    steps: int
    scheduler: str  # "ddim" | "ddpm"
    channels: int  # of the latent
    side: int  # of the latent: full_side on a GPU, smaller on a CPU
    full_side: int  # the folder's sample_size
    device: str  # "cuda" | "cpu"
    prompt: str | None  # None: the all-zero prompt (info.no_prompt says why)
    truncated: bool  # the prompt was longer than CLIP's context and was cut
    guidance: float  # applied only with a prompt
    unet_seconds: float  # all the U-Net calls
    seconds: float  # the whole loop, previews included


def configured(path: str | Path | None, server_path: str) -> Path:
    """The folder the app may load for a caller who names `path`: the server's own (settings.sd_path,
    UNETLAB_SD_PATH), and only that one (an empty path means it). A caller must not make the server load whatever
    folder is on its disk."""
    if not server_path.strip():
        raise ValueError(
            "no Stable Diffusion folder is configured on this server: start the app with UNETLAB_SD_PATH set to a "
            "local diffusers SD folder (unet/, scheduler/, optionally vae/, text_encoder/ and tokenizer/)"
        )
    folder = Path(server_path.strip()).expanduser()
    asked = str(path or "").strip()
    if asked and Path(asked).expanduser().resolve() != folder.resolve():
        raise ValueError(
            "this server loads only the Stable Diffusion folder it was started with (UNETLAB_SD_PATH); "
            "leave the folder empty or name that one"
        )
    return folder


def _folder(path: str | Path) -> Path:
    folder = Path(str(path).strip()).expanduser() if str(path).strip() else None
    if folder is None:
        raise ValueError("no folder given: set UNETLAB_SD_PATH or type the path of a local diffusers SD folder")
    if not (folder / "unet" / "config.json").is_file() or not (folder / "scheduler").is_dir():
        raise ValueError(f"{folder} is not a diffusers Stable Diffusion folder: it needs unet/ and scheduler/")
    return folder


def _scheduler_config(folder: Path) -> dict:
    from diffusers import DDPMScheduler

    try:
        return dict(DDPMScheduler.load_config(folder, subfolder="scheduler", local_files_only=True))
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read the scheduler config of the SD folder {folder}: {e}") from None


def prediction_type(config: dict) -> PredictionType:
    """The scheduler config's prediction_type (diffusers' default: epsilon); an unknown one raises."""
    kind = config.get("prediction_type", "epsilon")
    if kind not in PREDICTS:
        raise ValueError(f"the scheduler's prediction_type {kind!r} is not one of {', '.join(PREDICTS)}")
    return kind


def transformers_installed() -> bool:
    return importlib.util.find_spec("transformers") is not None


def describe(path: str | Path) -> FolderInfo:
    """The folder's prediction_type, whether it can follow a prompt here, and whether it has a VAE; loads no model."""
    folder = _folder(path)
    missing = [f"{d}/" for d in ("text_encoder", "tokenizer") if not (folder / d).is_dir()]
    if missing:
        no_prompt = f"the folder has no {' and no '.join(missing)}"
    elif not transformers_installed():
        no_prompt = "the optional package transformers is not installed"
    else:
        no_prompt = ""
    vae = (folder / "vae" / "config.json").is_file()
    return FolderInfo(prediction_type(_scheduler_config(folder)), no_prompt, vae)


def load(path: str | Path) -> Models:
    """The models of a local folder with SD's layout: the U-Net and the scheduler config always; the VAE, and CLIP's
    tokenizer and text encoder, where the folder (and, for CLIP, transformers) has them."""
    from diffusers import AutoencoderKL, UNet2DConditionModel

    folder = _folder(path)
    info = describe(folder)
    vae = tokenizer = text_encoder = None
    try:
        unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", local_files_only=True).eval()
        if info.vae:
            vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", local_files_only=True).eval()
        if not info.no_prompt:
            from transformers import CLIPTextModel, CLIPTokenizer  # optional: requirements-sd.txt

            tokenizer = CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer", local_files_only=True)
            text_encoder = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", local_files_only=True)
            text_encoder.eval()
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot load the SD folder {folder}: {e}") from None
    if text_encoder is not None and text_encoder.config.hidden_size != unet.config.cross_attention_dim:
        raise ValueError(
            f"the SD folder {folder} does not fit together: its text encoder gives "
            f"{text_encoder.config.hidden_size}-wide embeddings, its U-Net's cross-attention takes "
            f"{unet.config.cross_attention_dim}"
        )
    return Models(info, unet, _scheduler_config(folder), vae, tokenizer, text_encoder)


def sample_side(unet_config) -> int:
    """The folder's latent side, its U-Net's sample_size (64 for SD 1.5: a 512 px image)."""
    s = unet_config.sample_size
    return s if isinstance(s, int) else s[0]


def latent_side(unet_config, vae_config, cuda: bool) -> int:
    """The latent's side: the folder's full sample_size on a GPU; on a CPU, that of a CPU_IMAGE-px image (the VAE
    halves the side per level after its first; SD's 8x when there is no VAE), at most the full size."""
    full = sample_side(unet_config)
    if cuda:
        return full
    factor = 2 ** (len(vae_config.block_out_channels) - 1) if vae_config is not None else 8
    return max(1, min(full, CPU_IMAGE // factor))


def embed(models: Models, prompts: list[str], device: str) -> tuple[torch.Tensor, bool]:
    """CLIP's last hidden states for the prompts, (B, 77, D), as SD's pipelines give them to the U-Net; and whether
    a prompt was longer than CLIP's context and cut."""
    tok = models.tokenizer
    n = min(tok.model_max_length, models.text_encoder.config.max_position_embeddings)
    ids = tok(prompts, padding="max_length", max_length=n, truncation=True, return_tensors="pt").input_ids
    truncated = any(len(t) > n for t in tok(prompts).input_ids)
    with torch.inference_mode():
        return models.text_encoder(ids.to(device))[0], truncated


def _image(vae, latents: torch.Tensor) -> np.ndarray:
    """Latents (1, C, h, w) -> RGB (3, TILE, TILE) in [0, 1]: decoded by the VAE, or the first 3 channels."""
    with torch.inference_mode():
        if vae is not None:
            x = (vae.decode(latents / vae.config.scaling_factor).sample.float() + 1) / 2
        else:
            x = latents[:, :3].float()
            x = (x - x.amin()) / (x.amax() - x.amin() + 1e-8)
            x = x.repeat(1, 3 // x.shape[1], 1, 1) if x.shape[1] < 3 else x
    x = F.interpolate(x.clamp(0, 1), size=(TILE, TILE), mode="bilinear", antialias=True)
    return x[0].cpu().numpy()


def denoise_folder(
    path: str | Path,
    *,
    steps: int = 10,
    scheduler: Literal["ddpm", "ddim"] = "ddim",
    seed: int = 0,
    prompt: str = "",
    guidance: float = 7.5,
    on_step: Callable[[int, int], None] | None = None,
) -> Denoised:
    """Denoise one latent with the folder's U-Net, following the prompt where the folder can (see the module
    docstring); a strip of x_t (top) and x̂0 (bottom) at up to PREVIEWS steps. on_step(done, steps) after each."""
    from diffusers import DDIMScheduler, DDPMScheduler

    from unetlab import images

    if not 1 <= steps <= 1000:
        raise ValueError(f"steps must be between 1 and 1000, got {steps}")
    if not (math.isfinite(guidance) and 0 <= guidance <= 50):
        raise ValueError(f"guidance must be a number from 0 to 50, got {guidance}")
    if scheduler not in ("ddpm", "ddim"):
        raise ValueError(f"scheduler must be ddpm or ddim, got {scheduler!r}")
    models = load(path)
    unet, vae, info = models.unet, models.vae, models.info
    device = "cuda" if torch.cuda.is_available() else "cpu"
    for m in (unet, vae, models.text_encoder):
        if m is not None:
            m.to(device)
    sched = (DDIMScheduler if scheduler == "ddim" else DDPMScheduler).from_config(
        models.scheduler_config, prediction_type=info.prediction_type
    )
    sched.set_timesteps(steps, device=device)
    c = unet.config.in_channels
    s = latent_side(unet.config, vae.config if vae is not None else None, device == "cuda")
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn((1, c, s, s), generator=g) * sched.init_noise_sigma).to(device)

    # 1. the prompt: the empty prompt (unconditional, as SD's pipelines) and the user's, or SD's shape of zeros
    guided = models.text_encoder is not None
    truncated = False
    if guided:
        context, truncated = embed(models, ["", prompt], device)  # (2, 77, D)
    else:
        context = torch.zeros((1, ZERO_PROMPT_TOKENS, unet.config.cross_attention_dim), device=device)

    keep = set(np.linspace(0, steps - 1, min(PREVIEWS, steps)).round().astype(int).tolist())
    top, bottom, unet_seconds, start = [], [], 0.0, time.perf_counter()
    for i, t in enumerate(sched.timesteps):
        # 2. the U-Net's prediction (ε, v or x0: info.prediction_type); with a prompt, both halves in one batch
        tick = time.perf_counter()
        with torch.inference_mode():
            x_in = sched.scale_model_input(x, t)
            if guided:
                uncond, cond = unet(torch.cat([x_in, x_in]), t, encoder_hidden_states=context).sample.chunk(2)
                # classifier-free guidance (Ho & Salimans 2022), as SD's pipelines write it: g = 1 + w
                prediction = uncond + guidance * (cond - uncond)
            else:
                prediction = unet(x_in, t, encoder_hidden_states=context).sample
        if device == "cuda":
            torch.cuda.synchronize()  # the GPU runs asynchronously: wait for it, to time the U-Net
        unet_seconds += time.perf_counter() - tick
        # 3. one step back; the scheduler turns the prediction into x̂0 by the prediction_type
        out = sched.step(prediction, t, x, generator=g)
        x = out.prev_sample
        if i in keep:
            top.append(_image(vae, x))
            bottom.append(_image(vae, out.pred_original_sample))
        if on_step is not None:
            on_step(i + 1, steps)
    strip = images.grid([np.stack([a, b]) for a, b in zip(top, bottom)], pad=2)
    return Denoised(
        strip=strip,
        info=info,
        steps=steps,
        scheduler=scheduler,
        channels=c,
        side=s,
        full_side=sample_side(unet.config),
        device=device,
        prompt=prompt if guided else None,
        truncated=truncated,
        guidance=guidance,
        unet_seconds=unet_seconds,
        seconds=time.perf_counter() - start,
    )
