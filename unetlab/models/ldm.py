"""A miniature Stable Diffusion: SD's VAE (diffusers' AutoencoderKL) compresses 64x64 colour crops to 16x16x4
latents, and SD's denoiser class (UNet2DConditionModel, models/diffusion.py) denoises those latents.

Saved in the folder layout of a diffusers Stable Diffusion pipeline:
  ldm-vae/vae/                       the autoencoder alone (AutoencoderKL.save_pretrained), trained once
  ldm-eps/vae/ unet/ scheduler/      a latent diffusion model: its own copy of that VAE, the U-Net, the scheduler,
          prompt.safetensors         and the class-token table (the "prompt": photo or texture)
and loaded back with from_pretrained(local_files_only=True).

The VAE's `scaling_factor` is measured as SD's was (Rombach et al. 2022, section 4.3.2 and their config's 0.18215):
1 / the standard deviation of the training latents, so the U-Net sees latents of unit variance.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from torch import nn

from unetlab.models.diffusion import DiffusionConfig, DigitDiffusion


@dataclass
class LatentVAEConfig:
    image_size: int = 64  # training crops: 64x64 RGB, scaled to [-1, 1]
    channels: int = 3
    widths: tuple[int, ...] = (32, 64, 64)  # block_out_channels; two downsamplings: 64 -> 16 (SD: 4 levels, f=8)
    layers_per_block: int = 1  # ResNet blocks per level (SD: 2)
    latent_channels: int = 4  # SD's 4
    kl_weight: float = 1e-6  # SD's KL weight, against a per-pixel *sum* of the reconstruction error
    edge_weight: float = 1.0  # L1 on the images' horizontal and vertical differences (no perceptual network here)

    def __post_init__(self):
        self.widths = tuple(self.widths)

    def to_dict(self) -> dict:
        return asdict(self) | {"widths": list(self.widths)}

    @property
    def latent_size(self) -> int:
        return self.image_size // 2 ** (len(self.widths) - 1)

    def autoencoder(self) -> AutoencoderKL:
        n = len(self.widths)
        return AutoencoderKL(
            in_channels=self.channels,
            out_channels=self.channels,
            down_block_types=("DownEncoderBlock2D",) * n,
            up_block_types=("UpDecoderBlock2D",) * n,
            block_out_channels=self.widths,
            layers_per_block=self.layers_per_block,
            latent_channels=self.latent_channels,
            norm_num_groups=16,
            sample_size=self.image_size,
        )


def _cast(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A contiguous copy with floating tensors in dtype (not module.to(dtype): diffusers warns about that cast)."""
    module = copy.deepcopy(module).to(memory_format=torch.contiguous_format)
    for p in [*module.parameters(), *module.buffers()]:
        p.data = p.data.to(dtype) if p.is_floating_point() else p.data
    return module


class LatentVAE(nn.Module):
    """diffusers' AutoencoderKL with the training config beside it. Images in [0, 1] in, latents scaled by the
    measured scaling_factor out (encode), and back (decode)."""

    def __init__(self, config: LatentVAEConfig, vae: AutoencoderKL | None = None):
        super().__init__()
        self.config = config
        self.vae = vae if vae is not None else config.autoencoder()

    @property
    def scaling_factor(self) -> float:
        return float(self.vae.config.scaling_factor)

    def encode(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] -> scaled latents (B, 4, H/4, W/4): the posterior's mean, or a draw from
        it when a generator is given."""
        dist = self.vae.encode(x * 2 - 1).latent_dist
        z = dist.mean if generator is None else dist.mean + dist.std * torch.randn(dist.mean.shape, generator=generator)
        return z * self.scaling_factor

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Scaled latents -> images in [0, 1] (clipped)."""
        return ((self.vae.decode(z / self.scaling_factor).sample.float() + 1) / 2).clamp(0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The reconstruction of x (the posterior's mean, decoded), in [0, 1]."""
        return self.decode(self.encode(x))

    @torch.no_grad()
    def measure_scaling(self, images: torch.Tensor, batch: int = 64) -> float:
        """Set scaling_factor to 1 / std of the unscaled latent means of `images` (SD's recipe); returns it."""
        self.vae.register_to_config(scaling_factor=1.0)
        z = torch.cat([self.encode(images[i : i + batch]) for i in range(0, len(images), batch)])
        factor = 1.0 / z.std().item()
        self.vae.register_to_config(scaling_factor=factor)
        return factor

    def save_pretrained(self, folder: Path, dtype: torch.dtype = torch.float32) -> list[Path]:
        folder = Path(folder)
        _cast(self.vae, dtype).save_pretrained(folder / "vae", safe_serialization=True)
        (folder / "vae" / "unetlab.json").write_text(json.dumps(self.config.to_dict()) + "\n")
        return sorted(p for p in folder.rglob("*") if p.is_file())

    @classmethod
    def from_pretrained(cls, folder: Path) -> LatentVAE:
        folder = Path(folder)
        vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", local_files_only=True)
        config = LatentVAEConfig(**json.loads((folder / "vae" / "unetlab.json").read_text()))
        return cls(config, vae).eval()


@dataclass
class LatentDiffusionConfig(DiffusionConfig):
    """The U-Net's config (DiffusionConfig) on latents, and the VAE it was trained with."""

    image_size: int = 16  # the latents' side: 64x64 crops / 4
    channels: int = 4  # SD's latent channels
    widths: tuple[int, ...] = (32, 64, 128)  # 16 -> 8 -> 4
    classes: int = 2  # the corpus's kinds: 0 photo, 1 texture; row 2 is the null token
    vae: str = "ldm-vae"  # the registered LatentVAE the latents come from (copied into the saved folder)


class LatentDiffusion(DigitDiffusion):
    """A class-conditioned UNet2DConditionModel on VAE latents, with the VAE that decodes them (frozen)."""

    config_class = LatentDiffusionConfig

    def __init__(self, config: LatentDiffusionConfig, unet: UNet2DConditionModel | None = None, vae=None):
        super().__init__(config, unet)
        self.autoencoder = vae if vae is not None else LatentVAE(LatentVAEConfig())
        self.autoencoder.requires_grad_(False)

    def set_autoencoder(self, vae: LatentVAE) -> None:
        self.autoencoder = copy.deepcopy(vae).eval().requires_grad_(False)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents -> images in [0, 1], through the VAE's decoder."""
        return self.autoencoder.decode(z)

    def save_pretrained(self, folder: Path, dtype: torch.dtype = torch.float32) -> list[Path]:
        folder = Path(folder)
        super().save_pretrained(folder, dtype)
        return self.autoencoder.save_pretrained(folder, dtype)

    @classmethod
    def from_pretrained(cls, folder: Path) -> LatentDiffusion:
        return super().from_pretrained(folder, vae=LatentVAE.from_pretrained(folder))
