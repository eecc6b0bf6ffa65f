import math

import numpy as np
import pytest
import torch

from unetlab import registry
from unetlab.data import Data
from unetlab.tasks.reconstruct import Reconstruct
from unetlab.train import cosine_schedule, train

CONFIG = {"base": 4, "depth": 2, "skips": True}


def tiny_data(n: int = 48) -> Data:
    g = torch.Generator().manual_seed(0)
    x = torch.nn.functional.interpolate(torch.rand(n, 3, 4, 4, generator=g), size=16, mode="bilinear")  # smooth
    return Data("tiny", x[:40], x[40:])


def run(epochs=2, seed=0, fast=True, stop=None):
    torch.manual_seed(seed)
    model = registry.build("unet", CONFIG)
    kw = dict(epochs=epochs, batch_size=8, lr=3e-3, objective=Reconstruct(), seed=seed, fast=fast, stop=stop)
    return model, list(train(model, tiny_data(), **kw))


@pytest.mark.parametrize("fast", [True, False])
def test_one_tiny_epoch_reports(fast):
    _, reports = run(epochs=1, fast=fast)
    (r,) = reports
    assert (r.epoch, r.epochs, r.stopped) == (1, 1, False)
    assert r.train_loss > 0 and r.test_loss > 0 and r.images_per_s > 0 and r.elapsed > 0
    assert math.isclose(r.psnr, 10 * math.log10(1 / r.test_loss), rel_tol=1e-6)
    # grid: 8 held-out samples (rows) x input|output (columns), 2 px gaps
    assert r.grid.shape == (8 * 18 - 2, 2 * 18 - 2, 3) and r.grid.dtype == np.uint8
    assert set(r.row()) == {"epoch", "epochs", "train_loss", "test_loss", "psnr", "images_per_s", "elapsed", "stopped"}


def test_loss_decreases():
    _, reports = run(epochs=6)
    assert reports[-1].train_loss < 0.8 * reports[0].train_loss
    assert reports[-1].test_loss < reports[0].test_loss


def test_deterministic_given_seed():
    _, a = run(seed=3)
    _, b = run(seed=3)
    _, c = run(seed=4)
    assert [r.train_loss for r in a] == [r.train_loss for r in b]
    assert [r.test_loss for r in a] == [r.test_loss for r in b]
    assert a[0].train_loss != c[0].train_loss


class Drawing(Reconstruct):
    """Reconstruction that also draws `n` numbers per batch from the generator it is given, and records the batches."""

    def __init__(self, n: int):
        self.n, self.seen, self.drawn = n, [], []

    def loss(self, model, batch, generator):
        self.seen.append(batch.x.clone())
        self.drawn.append(torch.rand(self.n, generator=generator))
        return super().loss(model, batch, generator)


def test_what_an_objective_draws_leaves_the_batches_alone():
    """Under accelerate every process must draw the same batches: the objective's draws come from their own
    generator, seeded from the run's seed, and the same seed draws the same numbers again."""
    data = Data("crops", [torch.rand(3, 24, 24) for _ in range(3)], torch.rand(8, 3, 16, 16), crop=16, epoch_size=16)
    runs = []
    for n, seed in ((0, 0), (7, 0), (7, 0), (7, 1)):
        torch.manual_seed(0)
        objective = Drawing(n)
        list(
            train(registry.build("unet", CONFIG), data, epochs=2, batch_size=8, lr=1e-3, seed=seed, objective=objective)
        )
        runs.append(objective)
    none, a, b, c = runs
    assert all(torch.equal(x, y) for x, y in zip(none.seen, a.seen, strict=True))  # same crops with or without draws
    assert all(torch.equal(x, y) for x, y in zip(a.drawn, b.drawn, strict=True))  # same seed, same draws
    assert not torch.equal(a.drawn[0], c.drawn[0])


def test_stop_ends_with_a_partial_report():
    calls = iter(range(100))
    model, reports = run(epochs=5, stop=lambda: next(calls) >= 7)  # 5 batches/epoch: stops mid epoch 2
    assert [r.epoch for r in reports] == [1, 2]
    assert reports[-1].stopped and not reports[0].stopped
    assert not model.training


def test_schedule_warms_up_then_decays():
    f = cosine_schedule(100, warmup=10)
    assert f(0) == pytest.approx(0.1)
    assert f(9) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.5)
    assert f(100) == pytest.approx(0.0)


def test_bf16_only_where_the_cpu_has_it(monkeypatch):
    """Emulated bf16 measured 8x slower than fp32 on an AVX2 CPU: 'fast' must not turn it on there."""
    from unetlab import hardware

    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert not hardware.bf16_pays("cpu")
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_bf16"}))
    assert hardware.bf16_pays("cpu")
    monkeypatch.setattr(hardware, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    assert hardware.bf16_pays(torch.device("cpu"))
    assert not hardware.bf16_pays("meta")
