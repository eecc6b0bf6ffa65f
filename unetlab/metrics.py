"""Image quality metrics on float arrays in [0, 1]."""

from __future__ import annotations

import numpy as np


def psnr(x: np.ndarray, y: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for signals in [0, 1]: 10 log10(1 / MSE); inf for identical inputs."""
    mse = float(np.mean((np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2))
    return float("inf") if mse == 0 else float(10 * np.log10(1 / mse))


def ssim(x: np.ndarray, y: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004, Gaussian window sigma 1.5) of two (C, H, W) images in [0, 1].

    The mean over channels, one channel at a time (skimage's channel_axis gives the same number, but converts every
    channel first: a fifth more memory at 4 Mpx), in float32: within 1e-6 of float64 and a fifth faster (skimage
    filters in its input's float type). SSIM was a quarter of a /reconstruct request's time."""
    from skimage.metrics import structural_similarity

    return float(
        np.mean(
            [
                structural_similarity(
                    np.asarray(a, np.float32),
                    np.asarray(b, np.float32),
                    data_range=1.0,
                    gaussian_weights=True,
                    sigma=1.5,
                    use_sample_covariance=False,
                )
                for a, b in zip(x, y)
            ]
        )
    )


def purity(labels: np.ndarray, clusters: np.ndarray) -> float:
    """Weighted purity of a clustering: each cluster's majority-label share, weighted by the cluster's size.

    The seed's formula: rows = clusters, columns = labels of a contingency matrix M; per-cluster purity
    max_j M_kj / sum_j M_kj, weighted by sum_j M_kj / N. The weights cancel, leaving sum_k max_j M_kj / N
    (Manning, Raghavan & Schuetze, Introduction to Information Retrieval, eq. 16.1).
    """
    labels, clusters = np.asarray(labels).ravel(), np.asarray(clusters).ravel()
    if labels.shape != clusters.shape or labels.size == 0:
        raise ValueError(f"purity needs one cluster per label, got {labels.size} labels and {clusters.size} clusters")
    _, y = np.unique(labels, return_inverse=True)
    _, c = np.unique(clusters, return_inverse=True)
    matrix = np.zeros((c.max() + 1, y.max() + 1), dtype=np.int64)
    np.add.at(matrix, (c, y), 1)  # rows: clusters, columns: labels
    return float(matrix.max(axis=1).sum() / labels.size)


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler & Suesstrunk 2003, "Measuring colourfulness in natural images", eq. 3, of a (3, H, W) image in [0, 1]
    (computed on the 0-255 scale, as in the paper): M = sigma_rgyb + 0.3 mu_rgyb with rg = R - G,
    yb = (R + G) / 2 - B, sigma_rgyb = sqrt(sigma_rg^2 + sigma_yb^2), mu_rgyb = sqrt(mu_rg^2 + mu_yb^2)."""
    r, g, b = (np.asarray(rgb, np.float64) * 255)[:3]
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def radial_power(x: np.ndarray, mean: bool = True) -> np.ndarray:
    """Radial power spectrum of images (..., H, W), averaged over the images: the power |FFT|^2 of each image
    (its mean removed) at each integer spatial frequency radius 0 .. H // 2 (cycles per image, corners folded into
    the last bin). mean=True: the mean power per frequency in each ring (for plots); False: the ring's total."""
    x = np.asarray(x, np.float64)
    h, w = x.shape[-2:]
    x = x.reshape(-1, h, w)
    power = np.abs(np.fft.fft2(x - x.mean(axis=(-2, -1), keepdims=True))) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(h) * h, np.fft.fftfreq(w) * w, indexing="ij")
    radius = np.minimum(np.rint(np.hypot(fy, fx)).astype(int), min(h, w) // 2)
    total = np.bincount(radius.ravel(), power.mean(axis=0).ravel(), minlength=min(h, w) // 2 + 1)
    return total / np.bincount(radius.ravel()) if mean else total


def hf_fraction(x: np.ndarray) -> float:
    """Share of images' (non-DC) energy above half the Nyquist frequency (radius > H / 4): fine detail and noise."""
    total = radial_power(x, mean=False)
    return float(total[np.shape(x)[-2] // 4 + 1 :].sum() / total[1:].sum())


def periodic_error(y: np.ndarray, x: np.ndarray, periods: tuple[int, ...] = (2, 4, 8, 16)) -> float:
    """The block-periodic part of the error y - x of two (C, H, W) images in [0, 1], in 8-bit levels (RMS).

    For each period p, the error is averaged over all pixels that share a position modulo p (per channel); what
    varies between those p x p phases is a grid or checkerboard repeating every p pixels, the pattern strided
    up-sampling leaves when it is not learnt away. Random error averages out (it contributes about
    sigma * p / sqrt(H * W)). The largest over the periods is returned; about 1 level and above is visible on
    flat colour."""
    e = np.asarray(y, np.float64) - np.asarray(x, np.float64)
    worst = 0.0
    for p in periods:
        c, h, w = e.shape
        if h < 4 * p or w < 4 * p:
            continue
        phases = e[:, : h - h % p, : w - w % p].reshape(c, h // p, p, w // p, p).mean((1, 3))
        phases -= phases.mean((1, 2), keepdims=True)
        worst = max(worst, float(np.sqrt((phases**2).mean((1, 2))).max() * 255))
    return worst
