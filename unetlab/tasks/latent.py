"""The VAE and the autoencoders with a code (the Latent tab's "vae" and "latent-ae" tasks): each model's per-sample
loss (models/vae.py, models/autoencoders.py: VAE recon + beta * KL, AE recon, variants recon + penalty) averaged
over the batch. The card holds the held-out ELBO, its two terms, MSE and PSNR (latent.heldout_metrics)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from unetlab.data import Data
    from unetlab.models.vae import AE
    from unetlab.recipes import Recipe
    from unetlab.registry import Registry
    from unetlab.train import Batch

NOT_LOGGED = ("loss", "image", "noisy")  # terms that are not per-sample numbers to log (or the loss itself)


class ELBO:
    """The training loop's objective for the VAE, the AE and its variants: the mean over the batch of each model's
    per-sample loss. z (VAE) and the corruption (denoising AE) are drawn from the loop's generator."""

    def loss(self, model: AE, batch: Batch, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        t = model.terms(batch.x, generator)
        return t["loss"].mean(), {k: v.mean().item() for k, v in t.items() if k not in NOT_LOGGED}

    def evaluate(self, model: AE, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Held-out loss (one z per image, fixed seed: comparable across epochs), MSE of the mean decoding.

        A denoising AE (its terms hold the corrupted input) shows noisy | clean | output, scored on the clean image.
        """
        x = batch.x
        t = model.terms(x, torch.Generator().manual_seed(0))
        if "noisy" in t:
            y, columns = t["image"], [t["noisy"], x, t["image"]]
        else:
            y = model.decode(model.embed(x)).float()
            columns = [x, y]
        return t["loss"], (y - x).pow(2).flatten(1).mean(1), columns


def objective(r: Recipe, data: Data) -> ELBO:
    return ELBO()


def loss_name(r: Recipe) -> str:
    """The reconstruction term, then the model's penalty."""
    c = r.config
    recon = "BCE" if c.get("recon", "bce") == "bce" else f"squared error / 2 sigma^2 (sigma {c.get('sigma', 0.1)})"
    if r.model == "dae":
        recon += f" of the clean image from a corrupted one ({c.get('noise')} noise, level {c.get('level'):g})"
    penalty = ""
    if r.model == "vae":
        penalty = f" + {c.get('beta', 1.0):g} * KL"
    elif r.model == "sparse-ae":
        penalty = f" + {c.get('l1'):g} * L1 of the code"
    elif r.model == "contractive-ae":
        penalty = f" + {c.get('weight'):g} * ||dz/dx||_F^2"
    elif r.model == "vq-vae":
        penalty = f" + codebook ||sg[z] - q||^2 + {c.get('commitment'):g} * commitment ||z - sg[q]||^2"
    return f"{recon}{penalty}, summed per image, nats"


def card_metrics(r: Recipe, model: AE, data: Data, reg: Registry) -> dict:
    from unetlab.latent import heldout_metrics

    return heldout_metrics(model, data.test)
