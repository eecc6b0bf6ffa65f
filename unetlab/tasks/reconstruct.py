"""Reconstruction: the U-Net as an autoencoder. The target is the input; MSE; PSNR on [0, 1] images. The card
scores photo and corpus models at full resolution on the held-out photos and the corpus's test sources."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unetlab import data as datasets

if TYPE_CHECKING:
    from unetlab.recipes import Recipe
    from unetlab.registry import Registry
    from unetlab.train import Batch


class Reconstruct:
    """Autoencoding: the target is the input. MSE loss; PSNR on [0, 1] images."""

    def loss(self, model: nn.Module, batch: Batch, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        return F.mse_loss(model(batch.x).float(), batch.x), {}

    def evaluate(self, model: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        y = model(batch.x).float()
        mse = (y - batch.x).pow(2).flatten(1).mean(1)
        return mse, mse, [batch.x, y]


def objective(r: Recipe, data: datasets.Data) -> Reconstruct:
    return Reconstruct()


def loss_name(r: Recipe) -> str:
    return "MSE"


def card_metrics(r: Recipe, model: nn.Module, data: datasets.Data, reg: Registry) -> dict:
    """Photo and corpus models: full-resolution PSNR/SSIM on the held-out photos (and the corpus's test sources)."""
    from unetlab.reconstruct import heldout_report, score

    if r.dataset not in ("photos", *datasets.CORPUS_SETS) or data.adapted:
        return {}
    scores = {name: score(model, img) for name, img in datasets.photo_arrays(held_out=True).items()}
    out: dict = {
        "heldout": scores,
        "heldout_psnr": round(float(np.mean([s["psnr"] for s in scores.values()])), 3),
        "heldout_ssim": round(float(np.mean([s["ssim"] for s in scores.values()])), 4),
    }
    if r.dataset in datasets.CORPUS_SETS:  # whole sources no recipe trains on (corpus.py), at full size
        out["test_split"] = heldout_report(model, datasets.corpus_test())
    return out
