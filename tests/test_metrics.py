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
    # one channel at a time: the number skimage gives with channel_axis (the cards' figures do not move)
    from skimage.metrics import structural_similarity

    whole = structural_similarity(
        x, noisy, channel_axis=0, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert metrics.ssim(x.astype(np.float32), noisy.astype(np.float32)) == pytest.approx(whole, abs=1e-6)


def test_periodic_error_finds_a_checkerboard_and_not_noise():
    from unetlab.metrics import periodic_error

    rng = np.random.default_rng(0)
    x = rng.random((3, 128, 128))
    board = (np.indices((128, 128)).sum(0) % 2) * 2 - 1  # +-1 every other pixel
    assert periodic_error(x + board * 2 / 255, x) == pytest.approx(2, rel=1e-6)  # 2 levels, period 2
    block = np.kron(np.ones((8, 8)), np.pad(np.ones((8, 8)), ((0, 8), (0, 8)))) / 255  # a 16-px grid
    assert periodic_error(x + block, x) > 0.4
    noisy = x + rng.normal(0, 3 / 255, x.shape)  # strong but random error: ~3 levels RMS
    assert periodic_error(noisy, x) < 0.5
    assert periodic_error(x, x) == 0
