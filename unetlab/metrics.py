"""Image quality metrics on float arrays in [0, 1]."""

from __future__ import annotations

import numpy as np


def psnr(x: np.ndarray, y: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for signals in [0, 1]: 10 log10(1 / MSE); inf for identical inputs."""
    mse = float(np.mean((np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004, Gaussian window sigma 1.5) of two (C, H, W) images in [0, 1]."""
    from skimage.metrics import structural_similarity

    return float(
        structural_similarity(
            np.asarray(x, np.float64),
            np.asarray(y, np.float64),
            channel_axis=0,
            data_range=1.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )
