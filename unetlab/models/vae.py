"""A convolutional VAE (Kingma & Welling 2013) and the plain autoencoder of the same shape, for contrast.

Encoder: (4x4 stride-2 conv -> ReLU) x depth, flatten, linear -> the code. The VAE's code is a Gaussian
q(z|x) = N(mu, diag(sigma^2)), read as (mu, log sigma^2); the AE's is one point z. Decoder: linear -> feature
map, (4x4 stride-2 transposed conv -> ReLU) x depth, 3x3 conv -> logits; images are sigmoid(logits).

Loss per image (negative ELBO, beta-weighted as in Higgins et al. 2017):
    recon(x, z) + beta * KL(q(z|x) || N(0, I)),  z = mu + sigma * eps,  eps ~ N(0, I)
recon is the Bernoulli negative log-likelihood (BCE summed over pixels) or a Gaussian one with fixed sigma
(squared error / 2 sigma^2, constant dropped). The AE minimises recon alone, with z = its code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

RECON = ("bce", "mse")


@dataclass
class AEConfig:
    in_channels: int = 1  # 1 for grey images
    image_size: int = 32  # input side; must be divisible by 2**depth
    base: int = 32  # channels of the first conv; doubles at every level down
    depth: int = 3  # stride-2 convs: 32 -> 4
    latent: int = 16  # dimensions of z
    recon: Literal["bce", "mse"] = "bce"  # reconstruction term: Bernoulli (BCE) or Gaussian (MSE) likelihood
    sigma: float = 0.1  # the Gaussian likelihood's std, recon="mse" only (sets MSE's weight against the KL)

    def __post_init__(self):
        if self.recon not in RECON:
            raise ValueError(f"recon must be one of {RECON}, got {self.recon!r}")
        if self.image_size % 2**self.depth:
            raise ValueError(f"image_size {self.image_size} must be divisible by 2**depth = {2**self.depth}")
        if self.latent < 1:
            raise ValueError(f"latent must be at least 1, got {self.latent}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class VAEConfig(AEConfig):
    beta: float = 1.0  # weight of the KL term; 1 is the ELBO, > 1 a beta-VAE (smoother, blurrier)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) summed over latent dimensions, per sample: (B, k) -> (B,).

    Closed form, Kingma & Welling 2013, appendix B: -1/2 sum(1 + log sigma^2 - mu^2 - sigma^2).
    """
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)


def reconstruction_nll(logits: torch.Tensor, x: torch.Tensor, kind: str, sigma: float = 0.1) -> torch.Tensor:
    """-log p(x|z) per sample, in nats (Gaussian: up to a constant): (B, C, H, W) -> (B,)."""
    if kind == "bce":
        nll = F.binary_cross_entropy_with_logits(logits.float(), x, reduction="none")
    else:
        nll = (torch.sigmoid(logits.float()) - x).pow(2) / (2 * sigma**2)
    return nll.flatten(1).sum(1)


class Encoder(nn.Module):
    """x (B, C, S, S) -> features (B, base * 2^(depth-1) * (S/2^depth)^2) -> `out` numbers per sample."""

    def __init__(self, c: AEConfig, out: int):
        super().__init__()
        layers, cin = [], c.in_channels
        for i in range(c.depth):
            layers += [nn.Conv2d(cin, c.base * 2**i, 4, stride=2, padding=1), nn.ReLU(inplace=True)]
            cin = c.base * 2**i
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Linear(cin * (c.image_size // 2**c.depth) ** 2, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(x)  # (B, base*2^(depth-1), S/2^depth, S/2^depth)
        return self.fc(h.flatten(1))  # (B, out)


class Decoder(nn.Module):
    """z (B, k) -> logits (B, C, S, S)."""

    def __init__(self, c: AEConfig):
        super().__init__()
        top = c.base * 2 ** (c.depth - 1)
        self.shape = (top, c.image_size // 2**c.depth, c.image_size // 2**c.depth)
        self.fc = nn.Linear(c.latent, top * self.shape[1] * self.shape[2])
        layers, cin = [], top
        for i in reversed(range(c.depth)):
            cout = c.base * 2 ** max(i - 1, 0)
            layers += [nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), nn.ReLU(inplace=True)]
            cin = cout
        self.convs = nn.Sequential(*layers)
        self.head = nn.Conv2d(cin, c.in_channels, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc(z)).view(-1, *self.shape)  # (B, top, S/2^depth, S/2^depth)
        return self.head(self.convs(h))  # (B, C, S, S)


class AE(nn.Module):
    """The plain, deterministic autoencoder: z = encoder(x), nothing asks the codes to fill a smooth space."""

    variational = False

    def __init__(self, config: AEConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config, config.latent)
        self.decoder = Decoder(config)

    def check_size(self, x: torch.Tensor) -> None:
        c = self.config
        if tuple(x.shape[1:]) != (c.in_channels, c.image_size, c.image_size):
            want = f"(B, {c.in_channels}, {c.image_size}, {c.image_size})"
            raise ValueError(f"input of shape {tuple(x.shape)} does not fit this model, {want}; resize it first")

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The point in latent space an image maps to: (B, C, S, S) -> (B, k)."""
        self.check_size(x)
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent points -> images in [0, 1]: (B, k) -> (B, C, S, S)."""
        return torch.sigmoid(self.decoder(z))

    def terms(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Per-sample loss terms (B,) and the reconstruction (B, C, S, S); `generator` is unused (no sampling)."""
        logits = self.decoder(self.embed(x))
        recon = reconstruction_nll(logits, x, self.config.recon, self.config.sigma)
        return {"recon": recon, "kl": torch.zeros_like(recon), "loss": recon, "image": torch.sigmoid(logits.float())}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.embed(x))


class VAE(AE):
    """The variational autoencoder: the encoder outputs a distribution, the decoder is trained on samples of it."""

    variational = True

    def __init__(self, config: VAEConfig):
        nn.Module.__init__(self)
        self.config = config
        self.encoder = Encoder(config, 2 * config.latent)  # mu and log sigma^2 side by side
        self.decoder = Decoder(config)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x) as (mu, log sigma^2), each (B, k)."""
        self.check_size(x)
        mu, logvar = self.encoder(x).float().chunk(2, dim=1)
        return mu, logvar.clamp(-30, 20)  # exp() stays finite

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The mean of q(z|x): where the tab places an image."""
        return self.encode(x)[0]

    @staticmethod
    def reparameterize(
        mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """z = mu + sigma * eps with eps ~ N(0, I): the randomness moves into eps, so gradients reach mu and
        sigma (the reparameterisation trick, Kingma & Welling 2013, section 2.4)."""
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
        return mu + torch.exp(0.5 * logvar) * eps

    def terms(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        # 1. encode: q(z|x)
        mu, logvar = self.encode(x)  # (B, k) each
        # 2. sample z with the reparameterisation trick
        z = self.reparameterize(mu, logvar, generator)  # (B, k)
        # 3. decode and score: -ELBO = recon + KL, with the KL weighted by beta for training
        logits = self.decoder(z)  # (B, C, S, S)
        recon = reconstruction_nll(logits, x, self.config.recon, self.config.sigma)
        kl = kl_divergence(mu, logvar)
        loss = recon + self.config.beta * kl
        return {"recon": recon, "kl": kl, "loss": loss, "image": torch.sigmoid(logits.float())}

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A sampled reconstruction and q(z|x): (images, mu, log sigma^2)."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar
