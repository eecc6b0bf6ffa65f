"""Small autoencoders: the Lab tab's linear AE, and the classic regularised AEs the Live training tab trains.

LinearAE: no activation anywhere, trained with MSE. Its optimum is PCA's: the decoder's columns span the top-k
principal subspace of the (centred) data, and its reconstruction error equals PCA's with k components (Baldi &
Hornik 1989). It need not find the principal axes themselves, only their span, so it is compared with PCA by the
principal angles between the two subspaces.

DenoisingAE, SparseAE, ContractiveAE, VQVAE: the plain conv AE (models/vae.py) with one change each, to the input
(noise), the code (L1, ReLU), the encoder's Jacobian (a penalty) or the code's values (a codebook).
"""

from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import nn

from unetlab.models.vae import AE, AEConfig, reconstruction_nll


@dataclass
class LinearAEConfig:
    dims: int = 64  # input values per sample (8x8 digits: 64 pixels)
    k: int = 8  # code size = the number of principal components it is compared with

    def __post_init__(self):
        if not 1 <= self.k <= self.dims:
            raise ValueError(f"the code size k must be between 1 and {self.dims} (the input's values), got {self.k}")

    def to_dict(self) -> dict:
        return asdict(self)


class LinearAE(nn.Module):
    """x -> z = W_e x + b_e -> x' = W_d z + b_d; the biases let it learn the mean that PCA subtracts."""

    def __init__(self, config: LinearAEConfig):
        super().__init__()
        self.config = config
        self.encoder = nn.Linear(config.dims, config.k)
        self.decoder = nn.Linear(config.k, config.dims)

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.flatten(1))  # (B, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.latent(x)).view_as(x)  # (B, C, H, W), unclamped: a linear map

    def basis(self) -> torch.Tensor:
        """The decoder's columns: a (dims, k) basis of the subspace its reconstructions lie in (plus b_d)."""
        return self.decoder.weight.detach()


# --- the classic regularised autoencoders, on the plain conv AE's shape (models/vae.py) -------------------------
#
# Each keeps AE's contract (embed: image -> code, decode: code -> image, terms: per-sample loss terms), so the loop
# trains them with the same objective as the VAE (vae.ELBO) and the Latent tab can walk their codes.

Noise = Literal["gaussian", "masking"]
NOISES = ("gaussian", "masking")


@dataclass
class DenoisingAEConfig(AEConfig):
    noise: Noise = "gaussian"  # gaussian: x + level * N(0, 1), clipped; masking: a share `level` of pixels set to 0
    level: float = 0.3  # noise std (on [0, 1] pixels) or the masked share

    def __post_init__(self):
        super().__post_init__()
        if self.noise not in NOISES:
            raise ValueError(f"noise must be one of {NOISES}, got {self.noise!r}")
        if not 0 <= self.level <= (1 if self.noise == "masking" else 10):
            raise ValueError(f"noise level {self.level} is out of range (masking: a share in [0, 1]; gaussian: std)")


class DenoisingAE(AE):
    """Corrupt the input, reconstruct the clean image (Vincent et al. 2008): the code must capture structure, since
    the noise cannot be copied through."""

    def corrupt(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        c = self.config
        if c.noise == "gaussian":
            return (x + c.level * torch.randn(x.shape, generator=generator).to(x.device)).clamp(0, 1)
        return x * (torch.rand(x.shape, generator=generator).to(x.device) >= c.level)

    def terms(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        noisy = self.corrupt(x, generator)
        logits = self.decoder(self.embed(noisy))
        recon = reconstruction_nll(logits, x, self.config.recon, self.config.sigma)  # scored against the clean x
        return {"recon": recon, "loss": recon, "image": torch.sigmoid(logits.float()), "noisy": noisy}


@dataclass
class SparseAEConfig(AEConfig):
    latent: int = 64  # an over-complete code is usual: sparsity, not size, limits it
    l1: float = 0.1  # weight of the L1 norm of the code, per image (recon is summed over pixels, in nats)


class SparseAE(AE):
    """A non-negative code (ReLU) with an L1 penalty (Ng 2011's sparse AE uses a KL to a target rate; L1 is the
    common modern form): most units are exactly 0 for any one image."""

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(super().embed(x))  # (B, k), >= 0

    def terms(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        z = self.embed(x)
        logits = self.decoder(z)
        recon = reconstruction_nll(logits, x, self.config.recon, self.config.sigma)
        l1 = z.float().abs().sum(1)
        return {"recon": recon, "l1": l1, "loss": recon + self.config.l1 * l1, "image": torch.sigmoid(logits.float())}


@dataclass
class ContractiveAEConfig(AEConfig):
    weight: float = 1.0  # lambda on the squared Frobenius norm of the encoder's Jacobian dz/dx


class ContractiveAE(AE):
    """Penalise how much the code moves when the input moves: lambda * ||dz/dx||_F^2 (Rifai et al. 2011, eq. 2).
    The code becomes insensitive to directions the data does not vary along."""

    def jacobian_norm(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """||dz/dx||_F^2 per sample (B,), exact: one vector-Jacobian product per code unit, batched."""
        k = z.shape[1]
        eye = torch.eye(k, dtype=z.dtype, device=z.device)
        rows = eye.unsqueeze(1).expand(k, len(z), k)  # (k, B, k): e_j for every sample
        (jac,) = torch.autograd.grad(z, x, rows, create_graph=self.training, is_grads_batched=True)  # (k, B, C, H, W)
        return jac.float().pow(2).flatten(2).sum(2).sum(0)

    def terms(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        with torch.enable_grad():  # the penalty needs dz/dx, also when evaluating
            x = x.detach().requires_grad_(True)
            z = self.embed(x)
            jac = self.jacobian_norm(x, z)
        logits = self.decoder(z)
        recon = reconstruction_nll(logits, x.detach(), self.config.recon, self.config.sigma)
        loss = recon + self.config.weight * jac
        return {"recon": recon, "jacobian": jac, "loss": loss, "image": torch.sigmoid(logits.float())}


@dataclass
class VQVAEConfig(AEConfig):
    dim: int = 4  # numbers per code vector: the code is latent / dim vectors, each snapped to the codebook
    codebook: int = 64  # K, the codebook's size
    commitment: float = 0.25  # beta: how hard the encoder is pulled to its chosen codes (van den Oord 2017, eq. 3)

    def __post_init__(self):
        super().__post_init__()
        if self.latent % self.dim:
            raise ValueError(f"latent ({self.latent}) must be a multiple of the code vectors' dim ({self.dim})")
        if self.codebook < 2:
            raise ValueError(f"the codebook needs at least 2 vectors, got {self.codebook}")


class VQVAE(AE):
    """A discrete code (van den Oord et al. 2017): the encoder's output is latent / dim vectors, each replaced by its
    nearest of K learned codebook vectors. The paper quantises a spatial grid of vectors; here they follow the
    dense layer, so the model keeps the AE's contract. Gradients skip the (non-differentiable) snapping: the
    straight-through estimator copies the decoder's gradient to the encoder."""

    def __init__(self, config: VQVAEConfig):
        super().__init__(config)
        self.codebook = nn.Embedding(config.codebook, config.dim)
        nn.init.normal_(self.codebook.weight)
        self.register_buffer("usage", torch.full((config.codebook,), 1 / config.codebook))  # EMA share per code

    @torch.no_grad()
    def restart_dead_codes(self, v: torch.Tensor, idx: torch.Tensor, decay: float = 0.9) -> None:
        """Codes that stopped being picked move to random encoder outputs of the batch ("random restarts",
        Dhariwal et al. 2020, Jukebox): without this a small codebook collapses to a handful of codes."""
        k = self.config.codebook
        self.usage.mul_(decay).add_(torch.bincount(idx.flatten(), minlength=k) / idx.numel(), alpha=1 - decay)
        dead = (self.usage < 0.1 / k).nonzero().flatten()
        if len(dead):
            flat = v.detach().reshape(-1, self.config.dim)
            pick = torch.randint(len(flat), (len(dead),), device=flat.device)
            self.codebook.weight[dead] = flat[pick].to(self.codebook.weight.dtype)
            self.usage[dead] = 1 / k

    def quantize(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, latent) -> the snapped code (B, latent) and the chosen codebook indices (B, latent / dim)."""
        c = self.config
        v = z.float().reshape(len(z), -1, c.dim)  # (B, M, dim)
        idx = torch.cdist(v, self.codebook.weight.float()[None]).argmin(-1)  # (B, M): the nearest vector
        return self.codebook(idx).reshape(len(z), -1), idx

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Any latent point decodes through its nearest codes: a walk between two images jumps, not glides."""
        return torch.sigmoid(self.decoder(self.quantize(z)[0]))

    def terms(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        # 1. encode and snap to the codebook
        z = self.embed(x).float()  # (B, latent)
        q, idx = self.quantize(z)
        if self.training:
            self.restart_dead_codes(z, idx)
        # 2. straight-through: the forward pass uses q, the backward pass treats q as z
        logits = self.decoder(z + (q - z).detach())
        # 3. loss = recon + ||sg[z] - q||^2 (moves the codebook) + beta ||z - sg[q]||^2 (commits the encoder), eq. 3
        recon = reconstruction_nll(logits, x, self.config.recon, self.config.sigma)
        codebook = (q - z.detach()).pow(2).sum(1)
        commit = (z - q.detach()).pow(2).sum(1)
        loss = recon + codebook + self.config.commitment * commit
        return {"recon": recon, "codebook": codebook, "loss": loss, "image": torch.sigmoid(logits.float())}
