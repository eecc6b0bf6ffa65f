"""Small autoencoders for the Lab tab's classic experiments.

LinearAE: no activation anywhere, trained with MSE. Its optimum is PCA's: the decoder's columns span the top-k
principal subspace of the (centred) data, and its reconstruction error equals PCA's with k components (Baldi &
Hornik 1989). It need not find the principal axes themselves, only their span, so it is compared with PCA by the
principal angles between the two subspaces.
"""

from dataclasses import asdict, dataclass

import torch
from torch import nn


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
