"""The regularised autoencoders: each trains with THE loop (its loss falls over a few tiny steps), and each
penalty is what it says (checked against a direct computation)."""

import pytest
import torch

from unetlab import data as datasets
from unetlab import registry
from unetlab.data import Data
from unetlab.models.autoencoders import (
    VQVAE,
    ContractiveAE,
    ContractiveAEConfig,
    DenoisingAE,
    DenoisingAEConfig,
    VQVAEConfig,
)
from unetlab.tasks.latent import ELBO
from unetlab.train import Batch, train

TINY = dict(in_channels=1, image_size=16, base=4, depth=2, latent=8, recon="mse")  # MSE: its floor is 0
VARIANTS = {
    "dae": {"noise": "gaussian", "level": 0.3},
    "sparse-ae": {"l1": 0.1},
    "contractive-ae": {"weight": 0.5},
    "vq-vae": {"dim": 2, "codebook": 16, "commitment": 0.25},
}


def digits() -> Data:
    """256 training and 32 held-out digits at 16x16: real structure, tiny cost."""
    d = datasets.digits(16)
    return Data("digits", d.train[:256], d.test[:32])


@pytest.mark.parametrize("kind", [*VARIANTS, "dae-masking"])
def test_each_variant_learns(kind):
    name, extra = (kind, VARIANTS[kind]) if kind in VARIANTS else ("dae", {"noise": "masking", "level": 0.5})
    torch.manual_seed(0)
    model = registry.build(name, {**TINY, **extra})
    reports = list(train(model, digits(), epochs=6, batch_size=32, lr=1e-2, objective=ELBO(), fast=False))
    assert reports[-1].train_loss < 0.9 * reports[0].train_loss
    assert reports[-1].test_loss < reports[0].test_loss


def test_denoising_grid_shows_noisy_clean_output():
    torch.manual_seed(0)
    model = DenoisingAE(DenoisingAEConfig(**TINY, noise="masking", level=0.5)).eval()
    x = digits().test
    _, mse, cols = ELBO().evaluate(model, Batch(x))
    noisy, clean, out = cols
    assert torch.equal(clean, x) and mse.shape == (len(x),)
    assert 0.35 < (noisy == 0).float().mean() < 0.65  # about half the pixels masked
    with pytest.raises(ValueError, match="noise must be one of"):
        DenoisingAEConfig(**TINY, noise="salt")


def test_contractive_penalty_is_the_jacobians_frobenius_norm():
    torch.manual_seed(0)
    model = ContractiveAE(ContractiveAEConfig(**TINY)).eval()
    x = torch.rand(2, 1, 16, 16)
    t = model.terms(x)
    for i in range(2):
        jac = torch.autograd.functional.jacobian(lambda v: model.embed(v[None])[0], x[i])  # (k, 1, 16, 16)
        assert t["jacobian"][i].item() == pytest.approx(jac.pow(2).sum().item(), rel=1e-4)


def test_vq_snaps_to_the_codebook_and_passes_gradients_straight_through():
    torch.manual_seed(0)
    model = VQVAE(VQVAEConfig(**TINY, dim=2, codebook=5))
    z = torch.randn(3, 8)
    q, idx = model.quantize(z)
    assert idx.shape == (3, 4) and idx.max() < 5
    book = model.codebook.weight.detach()
    assert torch.allclose(q.detach(), book[idx].reshape(3, 8))  # every pair of numbers is a codebook vector
    nearest = torch.cdist(z.reshape(3, 4, 2), book[None]).argmin(-1)
    assert torch.equal(idx, nearest)
    t = model.terms(torch.rand(4, 1, 16, 16))
    t["recon"].mean().backward()  # the reconstruction's only route to the encoder is the straight-through copy
    assert model.encoder.fc.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="multiple"):
        VQVAEConfig(**{**TINY, "latent": 7}, dim=2)
