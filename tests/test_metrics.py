import numpy as np
import pytest

from unetlab import metrics


def test_psnr_known_values():
    x = np.zeros((3, 8, 8))
    assert metrics.psnr(x, x + 0.1) == pytest.approx(20.0)
    assert metrics.psnr(x, x + 0.01) == pytest.approx(40.0)
    assert metrics.psnr(x, x) == float("inf")


def test_ssim():
    rng = np.random.default_rng(0)
    x = rng.random((3, 32, 32))
    assert metrics.ssim(x, x) == pytest.approx(1.0)
    noisy = np.clip(x + rng.normal(0, 0.1, x.shape), 0, 1)
    assert 0 < metrics.ssim(x, noisy) < 0.95
    assert metrics.ssim(x, noisy) > metrics.ssim(x, np.clip(x + rng.normal(0, 0.3, x.shape), 0, 1))
