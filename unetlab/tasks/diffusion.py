"""Diffusion on digits (diffusion.py holds the sampling loop and the measurements): DDPM training, predicting the
noise epsilon or the clean image x0. The card holds how often a classifier trained on real digits reads the asked
digit in the samples, and their high-frequency energy against real digits'."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from unetlab.diffusion import LABEL_DROP, classifier_for, predicted_x0, sample_metrics

if TYPE_CHECKING:
    from diffusers import DDPMScheduler

    from unetlab.data import Data
    from unetlab.models.diffusion import DigitDiffusion
    from unetlab.recipes import Recipe
    from unetlab.registry import Registry
    from unetlab.train import Batch


def target(sched: DDPMScheduler, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """What the U-Net learns to output at x_t: the noise, the clean image, or the velocity."""
    kind = sched.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return sched.get_velocity(x0, noise, t)  # sqrt(abar) eps - sqrt(1 - abar) x0, Salimans & Ho 2022, eq. 9
    return x0


class Denoise:
    """DDPM training (Ho et al. 2020, algorithm 1): noise a clean digit to a random t, predict epsilon, x0 or v, MSE.

    The x0 objective is plain MSE on x0, not SNR-weighted. In x0's terms MSE on epsilon is SNR(t) x MSE on x0 and
    MSE on v is (1 + SNR(t)) x MSE on x0: against the epsilon loss, the x0 loss weighs the noisy steps relatively
    more and the nearly clean ones less, and v lies between. No extra weighting (diffusers' --snr_gamma) is applied.
    A LABEL_DROP share of the prompts is the null token (classifier-free guidance, Ho & Salimans 2022). The noise,
    the timesteps and the dropped prompts are drawn from the loop's generator.
    """

    def __init__(self, label_drop: float = LABEL_DROP):
        self.label_drop = label_drop

    def clean(self, x: torch.Tensor) -> torch.Tensor:
        """A batch as the model denoises it: digits in [0, 1] -> [-1, 1]."""
        return x * 2 - 1

    def image(self, model: DigitDiffusion, x0: torch.Tensor) -> torch.Tensor:
        """What the model denoises, as an image in [0, 1]."""
        return model.decode(x0)

    def loss(
        self, model: DigitDiffusion, batch: Batch, generator: torch.Generator
    ) -> tuple[torch.Tensor, dict[str, float]]:
        sched = model.scheduler()
        y = batch.need_labels()
        x0 = self.clean(batch.x)
        noise = torch.randn(x0.shape, generator=generator).to(x0.device)
        t = torch.randint(0, sched.config.num_train_timesteps, (len(x0),), generator=generator)
        x_t = sched.add_noise(x0, noise, t)
        drop = (torch.rand(len(y), generator=generator) < self.label_drop).to(y.device)
        y = torch.where(drop, torch.full_like(y, model.null), y)
        return F.mse_loss(model(x_t, t, y).float(), target(sched, x0, noise, t)), {}

    def evaluate(self, model: DigitDiffusion, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """Fixed noise and timesteps spread over 0..T: per-sample loss, MSE of the implied x0 (in [0, 1]), and
        preview columns x0 | x_t | predicted x0."""
        sched = model.scheduler()
        g = torch.Generator().manual_seed(0)
        x0 = self.clean(batch.x)
        noise = torch.randn(x0.shape, generator=g)
        t = torch.linspace(0, sched.config.num_train_timesteps - 1, len(x0)).long()
        x_t = sched.add_noise(x0, noise, t)
        pred = model(x_t, t, batch.need_labels()).float()
        x0_hat = predicted_x0(pred, x_t, t, sched.alphas_cumprod, model.config.prediction_type)
        loss = (pred - target(sched, x0, noise, t)).pow(2).flatten(1).mean(1)
        x, x_hat = self.image(model, x0), self.image(model, x0_hat)
        mse = (x_hat - x).pow(2).flatten(1).mean(1)
        return loss, mse, [x, self.image(model, x_t), x_hat]


def objective(r: Recipe, data: Data) -> Denoise:
    return Denoise()


def loss_name(r: Recipe) -> str:
    if r.config.get("prediction_type") == "sample":
        return "MSE on x0 (not SNR-weighted), 10% null prompts"
    if r.config.get("prediction_type") == "v_prediction":
        return "MSE on v (= (1 + SNR) x MSE on x0), 10% null prompts"
    return "MSE on epsilon, 10% null prompts"


def card_metrics(r: Recipe, model: DigitDiffusion, data: Data, reg: Registry) -> dict:
    """The samples as the classifier in `reg` reads them, and their spectrum (diffusion.sample_metrics)."""
    name = classifier_for(r.dataset)
    per_class = 50 if model.config.image_size <= 16 else 20  # 28x28: 3 s per 50-step batch of 100 on one core
    return sample_metrics(model, reg.load(name), data.test, per_class=per_class) | {"classifier": name}
