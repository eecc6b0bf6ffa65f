import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal
from torch.distributions import kl_divergence as torch_kl

from unetlab import registry
from unetlab.models.unet import count_parameters
from unetlab.models.vae import AE, VAE, AEConfig, VAEConfig, kl_divergence, reconstruction_nll
from unetlab.tasks.latent import ELBO
from unetlab.train import Batch

TINY = dict(in_channels=1, image_size=16, base=4, depth=2, latent=3)


def test_kl_matches_the_closed_form():
    torch.manual_seed(0)
    mu, logvar = torch.randn(5, 4), torch.randn(5, 4)
    expected = torch_kl(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    assert torch.allclose(kl_divergence(mu, logvar), expected, atol=1e-5)
    # known numbers: N(0, 1) is the prior itself; N(1, 1) per dimension costs mu^2 / 2 = 0.5 nat
    assert kl_divergence(torch.zeros(1, 4), torch.zeros(1, 4)).item() == 0
    assert kl_divergence(torch.ones(1, 4), torch.zeros(1, 4)).item() == pytest.approx(2.0)
    # sigma = e: 1/2 (e^2 - 1 - 2) per dimension
    assert kl_divergence(torch.zeros(1, 1), torch.full((1, 1), 2.0)).item() == pytest.approx(0.5 * (7.389056 - 3))


def test_reparameterisation_gradient_flows():
    mu = torch.tensor([[0.3, -1.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, 1.0]], requires_grad=True)
    g = torch.Generator().manual_seed(0)
    z = VAE.reparameterize(mu, logvar, g)
    eps = torch.randn(1, 2, generator=torch.Generator().manual_seed(0))
    z.sum().backward()
    assert torch.equal(mu.grad, torch.ones(1, 2))  # dz/dmu = 1
    assert torch.allclose(logvar.grad, 0.5 * (0.5 * logvar).exp() * eps)  # dz/dlogvar = sigma * eps / 2


def test_vae_loss_reaches_the_encoder_through_the_sample():
    torch.manual_seed(0)
    model = VAE(VAEConfig(**TINY))
    x = torch.rand(4, 1, 16, 16)
    t = model.terms(x)
    (t["recon"].mean()).backward()  # the reconstruction alone: its only route to the encoder is z
    assert model.encoder.fc.weight.grad.abs().sum() > 0


def test_terms_and_the_elbo():
    torch.manual_seed(0)
    model = VAE(VAEConfig(**TINY, beta=4.0))
    x = torch.rand(3, 1, 16, 16)
    t = model.terms(x, torch.Generator().manual_seed(1))
    assert torch.allclose(t["loss"], t["recon"] + 4.0 * t["kl"])
    assert t["recon"].shape == t["kl"].shape == (3,) and t["image"].shape == x.shape
    again = model.terms(x, torch.Generator().manual_seed(1))
    assert torch.equal(t["loss"], again["loss"])  # a fixed generator fixes the sample
    loss, mse, cols = ELBO().evaluate(model, Batch(x))
    assert loss.shape == mse.shape == (3,) and [c.shape for c in cols] == [x.shape, x.shape]


def test_reconstruction_terms():
    logits, x = torch.randn(2, 1, 4, 4), torch.rand(2, 1, 4, 4)
    bce = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none").flatten(1).sum(1)
    assert torch.allclose(reconstruction_nll(logits, x, "bce"), bce, atol=1e-4)
    sq = (torch.sigmoid(logits) - x).pow(2).flatten(1).sum(1) / (2 * 0.2**2)
    assert torch.allclose(reconstruction_nll(logits, x, "mse", sigma=0.2), sq)


def test_plain_ae_has_the_same_shape_and_no_kl():
    ae, vae = AE(AEConfig(**TINY)), VAE(VAEConfig(**TINY))
    x = torch.rand(2, 1, 16, 16)
    assert ae(x).shape == x.shape and ae.embed(x).shape == vae.embed(x).shape == (2, 3)
    t = ae.terms(x)
    assert torch.equal(t["kl"], torch.zeros(2)) and torch.equal(t["loss"], t["recon"])
    # the only difference: the VAE's encoder head outputs mu and log sigma^2 (2k numbers, not k)
    fc_in = 8 * 4 * 4
    assert count_parameters(vae) - count_parameters(ae) == fc_in * 3 + 3
    ae.eval()
    assert torch.equal(ae(x), ae(x))  # deterministic


def test_registry_builds_both_and_configs_round_trip():
    vae = registry.build("vae", {**TINY, "beta": 2.0, "recon": "mse"})
    assert isinstance(vae, VAE) and vae.config.beta == 2.0
    assert registry.build("vae", vae.config.to_dict()).config == vae.config
    assert isinstance(registry.build("ae", TINY), AE)


def test_bad_configs_and_inputs_say_what_to_do():
    with pytest.raises(ValueError, match="recon must be one of"):
        VAEConfig(recon="l1")
    with pytest.raises(ValueError, match="divisible by 2\\*\\*depth"):
        AEConfig(image_size=20, depth=3)
    with pytest.raises(ValueError, match="resize it first"):
        VAE(VAEConfig(**TINY)).encode(torch.rand(1, 1, 32, 32))


def test_elbo_objective_learns():
    """A few steps of the objective on a fixed batch lower the held-out loss of that batch."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(**TINY))
    x = torch.zeros(16, 1, 16, 16)
    for i in range(16):  # bars: 8 horizontal, 8 vertical, at different places
        (x[i, 0, 2 * (i % 8) : 2 * (i % 8) + 2] if i < 8 else x[i, 0, :, 2 * (i % 8) : 2 * (i % 8) + 2]).fill_(1)
    objective = ELBO()
    before = objective.evaluate(model, Batch(x))[0].mean().item()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(30):
        opt.zero_grad()
        objective.loss(model, Batch(x), torch.Generator().manual_seed(0))[0].backward()
        opt.step()
    assert objective.evaluate(model, Batch(x))[0].mean().item() < 0.75 * before
