"""Stable Diffusion's denoiser class at digit size: diffusers' UNet2DConditionModel with cross-attention to a prompt.

The "prompt" is a few tokens from a learned embedding table, one row per digit class plus a null row for
classifier-free guidance (Ho & Salimans 2022). The U-Net has SD's shape: CrossAttnDownBlock2D /
CrossAttnUpBlock2D and the cross-attention mid block, only tiny (widths 32-64, one ResNet per block).

Saved as a diffusers folder, the layout of an SD pipeline folder:
  <name>/unet/config.json + diffusion_pytorch_model.safetensors   (UNet2DConditionModel.save_pretrained)
  <name>/scheduler/scheduler_config.json                          (DDPMScheduler.save_pretrained)
  <name>/prompt.safetensors                                       (the class-token table)
and loaded back with from_pretrained(local_files_only=True); nothing else is needed.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel
from safetensors.torch import load_file, save_file
from torch import nn

from unetlab.diffusion import to_unit

PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")


@dataclass
class DiffusionConfig:
    image_size: int = 32  # digits are 32x32 grey, scaled to [-1, 1]
    channels: int = 1
    widths: tuple[int, ...] = (32, 64, 64)  # block_out_channels; 32 -> 16 -> 8
    layers_per_block: int = 1  # ResNet blocks per level (SD: 2)
    attention_from: int = 1  # the first level (0 = full size) with cross-attention; the levels above are plain
    heads: int = 4  # attention heads per transformer block
    classes: int = 10  # digit classes; row `classes` of the table is the null token
    tokens: int = 4  # prompt length: tokens per class
    token_dim: int = 64  # cross_attention_dim (SD 1.5: 768)
    # what the U-Net outputs: the noise, the clean image, or the velocity v = sqrt(abar) eps - sqrt(1 - abar) x0
    prediction_type: Literal["epsilon", "sample", "v_prediction"] = "epsilon"
    train_timesteps: int = 1000
    beta_schedule: str = "linear"  # Ho et al. 2020: betas 1e-4 .. 0.02
    unet_extra: dict = field(default_factory=dict)  # any other UNet2DConditionModel argument

    def __post_init__(self):
        if self.prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {self.prediction_type!r}")
        self.widths = tuple(self.widths)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        return d

    def unet(self) -> UNet2DConditionModel:
        """SD's block types at this config's size: plain blocks above `attention_from` (SD: the full-resolution
        level), cross-attention below it and in the mid block."""
        n, plain = len(self.widths), self.attention_from
        if not 0 <= plain < n:
            raise ValueError(f"attention_from must be between 0 and {n - 1} (a level), got {plain}")
        return UNet2DConditionModel(
            sample_size=self.image_size,
            in_channels=self.channels,
            out_channels=self.channels,
            down_block_types=("DownBlock2D",) * plain + ("CrossAttnDownBlock2D",) * (n - plain),
            mid_block_type="UNetMidBlock2DCrossAttn",
            up_block_types=("CrossAttnUpBlock2D",) * (n - plain) + ("UpBlock2D",) * plain,
            block_out_channels=self.widths,
            layers_per_block=self.layers_per_block,
            norm_num_groups=8,
            cross_attention_dim=self.token_dim,
            attention_head_dim=self.heads,  # read as the number of heads, a known diffusers quirk (issue 2011)
            **self.unet_extra,
        )

    def scheduler(self) -> DDPMScheduler:
        return DDPMScheduler(
            num_train_timesteps=self.train_timesteps,
            beta_schedule=self.beta_schedule,
            prediction_type=self.prediction_type,
        )


class DigitDiffusion(nn.Module):
    """UNet2DConditionModel + the class-token table that makes its prompt."""

    config_class = DiffusionConfig  # what prompt.safetensors' metadata is read back as

    def __init__(self, config: DiffusionConfig, unet: UNet2DConditionModel | None = None):
        super().__init__()
        self.config = config
        self.prompt_table = nn.Embedding(config.classes + 1, config.tokens * config.token_dim)
        nn.init.normal_(self.prompt_table.weight, std=0.5)
        self.unet = unet if unet is not None else config.unet()

    def prompt(self, labels: torch.Tensor) -> torch.Tensor:
        """Class labels (B,) in 0..classes (classes = null) -> encoder_hidden_states (B, tokens, token_dim)."""
        return self.prompt_table(labels).view(len(labels), self.config.tokens, self.config.token_dim)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """x_t (B, C, H, W), timesteps (B,), labels (B,) -> the prediction (epsilon, x0 or v), (B, C, H, W)."""
        return self.unet(x, t, encoder_hidden_states=self.prompt(labels)).sample

    def scheduler(self) -> DDPMScheduler:
        return self.config.scheduler()

    def save_pretrained(self, folder: Path, dtype: torch.dtype = torch.float32) -> list[Path]:
        """Write the diffusers folder (weights in `dtype`); returns the files written."""
        folder = Path(folder)
        unet = copy.deepcopy(self.unet).to(memory_format=torch.contiguous_format)
        for p in [*unet.parameters(), *unet.buffers()]:  # not unet.to(dtype): diffusers warns about that cast
            p.data = p.data.to(dtype) if p.is_floating_point() else p.data
        unet.save_pretrained(folder / "unet", safe_serialization=True)
        self.scheduler().save_pretrained(folder / "scheduler")
        table = self.prompt_table.weight.detach().to(dtype).contiguous()
        config = json.dumps(self.config.to_dict())
        save_file({"weight": table}, str(folder / "prompt.safetensors"), metadata={"config": config})
        return sorted(p for p in folder.rglob("*") if p.is_file())

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """What the U-Net denoises, as images in [0, 1]: digits are images in [-1, 1]."""
        return to_unit(x)

    @property
    def null(self) -> int:
        """The null token's row ("no class"): what classifier-free guidance contrasts with."""
        return self.config.classes

    @classmethod
    def from_pretrained(cls, folder: Path, **parts) -> DigitDiffusion:
        """Load a folder written by save_pretrained, offline, as float32. parts: the subclass's other modules."""
        folder = Path(folder)
        unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", local_files_only=True)  # float32
        from safetensors import safe_open

        with safe_open(str(folder / "prompt.safetensors"), "pt") as f:
            config = cls.config_class(**json.loads(f.metadata()["config"]))
        model = cls(config, unet=unet, **parts)
        model.prompt_table.weight.data.copy_(load_file(str(folder / "prompt.safetensors"))["weight"].float())
        return model.eval()
