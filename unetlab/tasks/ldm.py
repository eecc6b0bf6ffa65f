"""The miniature Stable Diffusion's two trainings (models/ldm.py; the sampling and measurements are in ldm.py):

ldm-vae  the autoencoder (SD's first stage): L1 + L1 on image differences + SD's KL weight, on 64x64 crops of the
         corpus's photographs and textures. Then its scaling_factor is measured on training crops (prepare).
ldm      the latent U-Net: diffusion.Denoise on latents the VAE encoded once (ldm.latent_data), the same objective
         as the digit models, with epsilon, x0 or v as the target.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from unetlab.tasks.diffusion import Denoise

if TYPE_CHECKING:
    from unetlab.data import Data
    from unetlab.models.ldm import LatentVAE
    from unetlab.recipes import Recipe
    from unetlab.registry import Registry
    from unetlab.train import Batch

SCALING_CROPS = 1024  # training crops the scaling factor is measured on (a fixed draw)
TILE_SIDE = 128  # the test images' short side when they are cut into 64x64 tiles for the card (the training scale)


def differences(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


class KLAutoencoding:
    """SD's first-stage loss without its learned parts (Rombach et al. 2022, appendix G): L1 reconstruction, plus L1 on
    horizontal and vertical differences as a cheap stand-in for LPIPS (edges are what a plain L1 blurs), plus KL to
    N(0, I) at SD's weight 1e-6 against the per-pixel sum of the error (here: the KL sum / pixels). z is drawn from
    the posterior with the loop's generator."""

    def terms(self, model: LatentVAE, x: torch.Tensor, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        c = model.config
        target = x * 2 - 1
        dist = model.vae.encode(target).latent_dist
        z = dist.mean if generator is None else dist.mean + dist.std * torch.randn(dist.mean.shape, generator=generator)
        rec = model.vae.decode(z).sample.float()
        l1 = (rec - target).abs().flatten(1).mean(1)
        edge = sum((a - b).abs().flatten(1).mean(1) for a, b in zip(differences(rec), differences(target)))
        kl = dist.kl().float() / target[0].numel()
        loss = l1 + c.edge_weight * edge + c.kl_weight * kl
        return {"loss": loss, "l1": l1, "edge": edge, "kl": kl, "image": ((rec + 1) / 2).clamp(0, 1)}

    def loss(self, model: LatentVAE, batch: Batch, generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        t = self.terms(model, batch.x, generator)
        return t["loss"].mean(), {k: t[k].mean().item() for k in ("l1", "edge", "kl")}

    def evaluate(self, model: LatentVAE, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Held-out loss and MSE of the posterior mean's decoding; previews: input | reconstruction."""
        t = self.terms(model, batch.x, None)
        return t["loss"], (t["image"] - batch.x).pow(2).flatten(1).mean(1), [batch.x, t["image"]]


class LatentDenoise(Denoise):
    """Denoise on latents that are already scaled to unit variance (previews: decoded through the VAE)."""

    def clean(self, x: torch.Tensor) -> torch.Tensor:
        return x


def objective(r: Recipe, data: Data) -> KLAutoencoding | LatentDenoise:
    return KLAutoencoding() if r.task == "ldm-vae" else LatentDenoise()


def loss_name(r: Recipe) -> str:
    if r.task == "ldm-vae":
        edge, kl = r.config.get("edge_weight", 1.0), r.config.get("kl_weight", 1e-6)
        return f"L1 + {edge:g} x L1 of image differences + {kl:g} x KL sum / pixels"
    from unetlab.tasks.diffusion import loss_name as denoise_name

    return denoise_name(r) + ", on the VAE's scaled latents"


def prepare(r: Recipe, model: LatentVAE, data: Data) -> None:
    """Before the VAE is saved: its scaling_factor, 1 / std of the latents of SCALING_CROPS training crops (SD's)."""
    from unetlab.data import random_crops

    g = torch.Generator().manual_seed(r.seed)
    model.eval().measure_scaling(random_crops(data.train, SCALING_CROPS, data.crop, g, data.weights))


@torch.no_grad()
def tile_psnr(model: LatentVAE, img: np.ndarray) -> float:
    """PSNR of the VAE's reconstruction of one image at short side TILE_SIDE, cut into 64x64 tiles."""
    from unetlab.data import short_side, tile_crops, to_tensor

    tiles = tile_crops(to_tensor(short_side(img, TILE_SIDE)), model.config.image_size)
    mse = torch.cat(
        [(model(tiles[i : i + 64]) - tiles[i : i + 64]).pow(2).flatten(1).mean(1) for i in range(0, len(tiles), 64)]
    )
    return float(10 * np.log10(1 / max(mse.mean().item(), 1e-12)))


def card_metrics(r: Recipe, model, data: Data, reg: Registry) -> dict:
    """The VAE: reconstruction PSNR on the corpus's test sources (photographs, cut-outs, textures), per source, mean
    and worst. The latent models: their samples against held-out crops (ldm.sample_report)."""
    from unetlab import data as datasets

    if r.task != "ldm-vae":
        from unetlab.ldm import card_report

        return card_report(model)
    per_source = {}
    for source, imgs in datasets.corpus_test(kinds=datasets.CORPUS_SETS[r.dataset]).items():
        per_source[source] = round(float(np.mean([tile_psnr(model, img) for img in imgs.values()])), 3)
    values = list(per_source.values())
    return {
        "scaling_factor": model.scaling_factor,
        "test_split": {"psnr_per_source": per_source, "psnr_mean": round(float(np.mean(values)), 3),
                       "psnr_worst": round(min(values), 3), "scale": f"short side {TILE_SIDE}, 64x64 tiles"},
    }  # fmt: skip
