"""Walking a latent space: fit images to a VAE/AE, encode, interpolate (lerp or slerp), decode, sample the prior,
and the 2-D latent map (the 2-D model's own plane, or the first two principal components of mu).

Images travel as uint8 numpy arrays in and out, so the UI never touches torch. Endpoints are encoded once
(`encode`); moving the slider only decodes one latent point (`decode_at`), about a millisecond on one CPU core.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from unetlab import data as datasets
from unetlab import images, metrics
from unetlab.models.vae import AE, VAE, kl_divergence, reconstruction_nll
from unetlab.registry import Entry

Method = Literal["linear", "spherical"]
METHODS = ("linear", "spherical")
DIGIT_GRID = 8  # sklearn's digits are 8x8: a drawn or uploaded digit is reduced to that grid, like the training set
# MNIST's framing (LeCun et al. 1998): each digit scaled to fit a 20x20 box, centred by its mass in a 28x28 frame
MNIST_BOX, MNIST_FRAME = 20, 28
INK_ON_BLACK = ("digits", "mnist")  # datasets of light ink on black: a drawing or upload is framed as they are


# --- images in and out ----------------------------------------------------------------------------------------


@dataclass
class Fitted:
    """An upload as a model sees it, and what was done to get there (the tab says it under the endpoints)."""

    x: torch.Tensor  # (1, C, S, S) in [0, 1]
    steps: list[str]  # what was done to the upload, in order, in words; empty: it was used as it is
    colourfulness: float  # Hasler & Suesstrunk's M of the upload before it became grey: 0 for a grey image


def fit(img: np.ndarray, model: AE, dataset: str) -> Fitted:
    """Any uint8 image (H, W[, C]) -> the model's input x (1, C, S, S) in [0, 1], as its training data (`dataset`,
    see dataset_of) looked, and what was done to get there.

    Colour becomes luma. Digits (INK_ON_BLACK) are light ink on black: a light background (a drawing, a scan) is
    inverted and the ink framed as the dataset's digits are: for "digits" cropped to its bounding box, centred on a
    square, reduced to the 8x8 grid and scaled back up; for "mnist" as MNIST did (frame_like_mnist). Other images are
    centre-cropped to a square and resized. An image already at the model's size with a dark background is used as
    it is.
    """
    c = model.config
    h, w = img.shape[:2]
    size = f"{c.image_size}×{c.image_size}"
    steps = []
    colour = img.ndim == 3 and not (img == img[..., :1]).all()  # a grey image saved as RGB is grey
    if colour:
        steps.append("reduced to grey")
    grey = images.luma(img) if img.ndim == 3 else img
    x = torch.from_numpy(images.to_float(grey))[None]  # (1, 1, H, W)
    if dataset in INK_ON_BLACK:
        border = torch.cat([x[..., 0, :], x[..., -1, :], x[..., :, 0], x[..., :, -1]], dim=-1)
        if border.mean() > 0.5:
            x = 1 - x
            steps.append("inverted (its background is light; the digits are light on black)")
        if x.shape[-1] != c.image_size or x.shape[-2] != c.image_size:
            if dataset == "mnist":
                x = frame_like_mnist(x, c.image_size)
                to = "zero-padded" if c.image_size > MNIST_FRAME else "scaled"
                steps.append(
                    f"cropped to its ink, scaled to fit {MNIST_BOX}×{MNIST_BOX} keeping its shape and centred by its "
                    f"mass in a {MNIST_FRAME}×{MNIST_FRAME} frame, {to} to {size}, as MNIST's digits (it was {w}×{h})"
                )
            else:
                x = _frame_ink(x, c.image_size)
                steps.append(
                    f"cropped to its ink and centred, reduced to the digits' {DIGIT_GRID}×{DIGIT_GRID} grid and "
                    f"scaled to {size} (it was {w}×{h})"
                )
    else:
        s = min(h, w)
        x = x[..., (h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
        if h != w:
            steps.append(f"centre-cropped from {w}×{h} to {s}×{s}")
        if s != c.image_size:
            x = datasets.resize(x, c.image_size)
            steps.append(f"{'downscaled' if s > c.image_size else 'upscaled'} from {s}×{s} to {size}")
    x = x.repeat(1, c.in_channels, 1, 1) if c.in_channels != 1 else x
    return Fitted(x, steps, colourfulness(img) if colour else 0.0)


def colourfulness(img: np.ndarray) -> float:
    """Hasler & Suesstrunk's M of a uint8 RGB image, on at most about 2^18 of its pixels (a statistic: a regular
    subsample gives the same number, without a float copy of a 16 Mpx upload)."""
    step = max(1, int((img.shape[0] * img.shape[1] / 2**18) ** 0.5))
    return metrics.colourfulness(images.to_float(np.ascontiguousarray(img[::step, ::step, :3])))


def _ink(x: torch.Tensor) -> torch.Tensor:
    """(1, 1, H, W) ink on black -> the crop to its ink's bounding box (ink: brighter than a fifth of the maximum)."""
    ink = x[0, 0] > 0.2 * x.max()
    if not ink.any():
        raise ValueError("the digit image is empty: draw or upload a digit (dark strokes on light, or the reverse)")
    rows, cols = ink.any(1).nonzero().flatten(), ink.any(0).nonzero().flatten()
    return x[..., rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _frame_ink(x: torch.Tensor, size: int) -> torch.Tensor:
    """(1, 1, H, W) ink on black -> (1, 1, size, size) framed like sklearn's digits."""
    crop = _ink(x)
    h, w = crop.shape[-2:]
    s = max(h, w)
    square = torch.zeros(1, 1, s, s)
    square[..., (s - h) // 2 : (s - h) // 2 + h, (s - w) // 2 : (s - w) // 2 + w] = crop
    small = datasets.resize(square, DIGIT_GRID) if s > DIGIT_GRID else square
    out = datasets.resize(small, size)
    return (out / out.max().clamp_min(1e-6)).clamp(0, 1)


def frame_like_mnist(x: torch.Tensor, size: int) -> torch.Tensor:
    """(1, 1, H, W) ink on black -> (1, 1, size, size) framed as MNIST's digits were (LeCun et al. 1998), brightest
    ink 1: the ink's bounding box scaled to fit 20x20 keeping its aspect ratio (anti-aliased), placed in a 28x28
    frame with its centre of mass at the frame's centre (to the nearest pixel, as a translation), then zero-padded
    to `size` as data.mnist pads the dataset (resized if `size` is under 28)."""
    crop = _ink(x)
    h, w = crop.shape[-2:]
    scale = MNIST_BOX / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    digit = F.interpolate(crop, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
    digit = digit / digit.max().clamp_min(1e-6)
    mass = digit[0, 0]
    cy = float((mass.sum(1) * torch.arange(nh)).sum() / mass.sum())  # centre of mass, in pixels of the box
    cx = float((mass.sum(0) * torch.arange(nw)).sum() / mass.sum())
    mid = (MNIST_FRAME - 1) / 2  # the frame's centre, between its two middle pixels
    top = min(max(round(mid - cy), 0), MNIST_FRAME - nh)  # a lopsided digit stays whole inside the frame
    left = min(max(round(mid - cx), 0), MNIST_FRAME - nw)
    frame = torch.zeros(1, 1, MNIST_FRAME, MNIST_FRAME)
    frame[..., top : top + nh, left : left + nw] = digit
    if size < MNIST_FRAME:
        return datasets.resize(frame, size)
    before = (size - MNIST_FRAME) // 2
    return F.pad(frame, (before, size - MNIST_FRAME - before) * 2)


def to_image(x: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [0, 1] -> uint8 (H, W) or (H, W, 3)."""
    return images.to_uint8(x.detach().float().numpy())


def strip(frames: list[np.ndarray], pad: int = 2) -> np.ndarray:
    """uint8 frames side by side, one row, on white."""
    return images.grid([images.to_float(f)[None] for f in frames], pad=pad)


# --- interpolation --------------------------------------------------------------------------------------------


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation along the great circle from a to b (Shoemake 1985; for latents, White 2016).

    Linear mixing of two Gaussian samples shrinks their norm midway (to ~0.71 of it at t = 0.5), into the prior's
    thin centre; slerp keeps the norm. Nearly parallel vectors fall back to lerp.
    """
    na, nb = a.norm(), b.norm()
    cos = (a @ b / (na * nb).clamp_min(1e-12)).clamp(-1, 1)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-4:
        return lerp(a, b, t)
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def lerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    return (1 - t) * a + t * b


def path(a: np.ndarray, b: np.ndarray, ts: list[float] | np.ndarray, method: Method = "linear") -> np.ndarray:
    """Latent points along the path from a to b (k,) at each t: (len(ts), k)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    fn = slerp if method == "spherical" else lerp
    ta, tb = torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32)
    return torch.stack([fn(ta, tb, float(t)) for t in ts]).numpy()


def encode(model: AE, img: np.ndarray, dataset: str) -> np.ndarray:
    """An image's point in latent space (the VAE's mu, the AE's code), fitted as `dataset`'s images: (k,) float32."""
    return embed(model, fit(img, model, dataset).x)


@torch.inference_mode()
def embed(model: AE, x: torch.Tensor) -> np.ndarray:
    """A fitted image (1, C, S, S) -> its point in latent space (k,) float32."""
    return model.embed(x)[0].float().numpy()


@torch.inference_mode()
def decode(model: AE, z: np.ndarray) -> list[np.ndarray]:
    """Latent points (N, k) -> N uint8 images."""
    y = model.decode(torch.as_tensor(np.asarray(z, dtype=np.float32)).reshape(-1, model.config.latent))
    return [to_image(im) for im in y]


def decode_at(model: AE, a: np.ndarray, b: np.ndarray, t: float, method: Method = "linear") -> np.ndarray:
    """One frame of the walk: what the slider shows."""
    return decode(model, path(a, b, [t], method))[0]


def frames(model: AE, a: np.ndarray, b: np.ndarray, steps: int, method: Method = "linear") -> list[np.ndarray]:
    """`steps` frames from a (first) to b (last), evenly spaced in t."""
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (the two ends), got {steps}")
    return decode(model, path(a, b, np.linspace(0, 1, steps), method))


@torch.inference_mode()
def sample(model: VAE, n: int, temperature: float = 1.0, seed: int = 0) -> list[np.ndarray]:
    """n images decoded from z ~ N(0, temperature^2 I), the prior (scaled): temperature < 1 trades variety for
    cleaner images."""
    if not getattr(model, "variational", False):
        raise ValueError("sampling needs a VAE: a plain autoencoder has no prior to sample from")
    if n < 1 or temperature < 0:
        raise ValueError(f"need n >= 1 and temperature >= 0, got n={n}, temperature={temperature}")
    z = torch.randn(n, model.config.latent, generator=torch.Generator().manual_seed(seed)) * temperature
    return decode(model, z.numpy())


def sample_grid(model: VAE, n: int, temperature: float = 1.0, seed: int = 0, columns: int = 8) -> np.ndarray:
    """Prior samples as one uint8 RGB grid, `columns` wide."""
    imgs = sample(model, n, temperature, seed)
    rows = math.ceil(n / columns)
    blank = np.full_like(imgs[0], 255)
    imgs += [blank] * (rows * columns - n)
    cols = [np.stack([images.to_float(imgs[r * columns + j]) for r in range(rows)]) for j in range(columns)]
    return images.grid(cols)


# --- held-out metrics and the latent map ----------------------------------------------------------------------


@torch.inference_mode()
def heldout_metrics(model: AE, x: torch.Tensor, samples: int = 16, seed: int = 0) -> dict:
    """The card's numbers on held-out images x (N, C, S, S), in nats per image unless named otherwise.

    elbo = -(recon + KL) at beta = 1, a lower bound on log p(x), averaged over `samples` draws of z per image;
    recon_nll and kl are its two terms (for the AE: its reconstruction loss, and no KL). mse and psnr compare the
    decoding of mu (the AE's code) with the input, on [0, 1] pixels.
    """
    model.eval()
    g = torch.Generator().manual_seed(seed)
    c = model.config
    if model.variational:
        mu, logvar = model.encode(x)
        recon = torch.stack(
            [reconstruction_nll(model.decoder(model.reparameterize(mu, logvar, g)), x, c.recon, c.sigma)
             for _ in range(samples)]
        ).mean(0)  # fmt: skip
        kl = kl_divergence(mu, logvar)
    else:
        mu = model.embed(x)
        recon = reconstruction_nll(model.decoder(mu), x, c.recon, c.sigma)
        kl = torch.zeros_like(recon)
    mse = (model.decode(mu) - x).pow(2).flatten(1).mean(1).mean().item()
    out = {
        "recon_nll": round(recon.mean().item(), 3),
        "recon_term": "BCE summed over pixels" if c.recon == "bce" else f"squared error / 2 sigma^2, sigma {c.sigma}",
        "mse": round(mse, 6),
        "psnr": round(10 * math.log10(1 / max(mse, 1e-12)), 3),
    }
    if model.variational:
        out = {"elbo": round(-(recon + kl).mean().item(), 3), **out, "kl": round(kl.mean().item(), 3)}
        out["active_dims"] = int((kl_per_dim(mu, logvar) > 0.01).sum())
    return out


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Mean KL of each latent dimension over a batch (k,): dimensions near 0 are unused ("collapsed")."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean(0)


@dataclass
class Space:
    """A model's held-out set placed in latent space and projected to the map's plane."""

    z: np.ndarray  # (N, k) mu (VAE) or codes (AE) of the held-out images
    labels: np.ndarray | None  # (N,) classes, if the dataset has them
    mean: np.ndarray  # (k,) centre of the projection
    axes: np.ndarray  # (k, 2): the latent's own two axes (k = 2), else the first two principal components
    explained: float  # share of the variance of z the plane shows

    def project(self, z: np.ndarray) -> np.ndarray:
        """(N, k) -> (N, 2)."""
        return (np.asarray(z, dtype=np.float32).reshape(-1, self.z.shape[1]) - self.mean) @ self.axes

    @property
    def title(self) -> str:
        if self.z.shape[1] == 2:
            return "the 2-D latent space itself"
        return f"PCA of mu: first two components ({100 * self.explained:.0f} % of the variance)"


@torch.inference_mode()
def place(model: AE, x: torch.Tensor, labels: torch.Tensor | None = None) -> Space:
    """Held-out images x (N, C, S, S) in the model's latent space, projected to the map's plane."""
    z = model.embed(x).float().numpy()
    labels = None if labels is None else labels.numpy()
    if z.shape[1] == 2:
        sp = Space(z, labels, np.zeros(2, np.float32), np.eye(2, dtype=np.float32), 1.0)
    else:
        mean = z.mean(0)
        _, s, vt = np.linalg.svd(z - mean, full_matrices=False)
        axes = vt[:2].T * np.sign(vt[:2, :1].T + 1e-12)  # a fixed sign per axis: the map does not flip
        explained = float((s[:2] ** 2).sum() / max((s**2).sum(), 1e-12))  # 0 if every code is the same
        sp = Space(z, labels, mean, axes.astype(np.float32), explained)
    return sp


def heldout(entry: Entry, model: AE) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The images a model is judged on, (N, C, S, S) with the model's channels, and their labels: those it was
    registered with (a live job's own data, e.g. a user's upload), else its card's dataset's held-out split.
    Loaded once and kept on the entry (the map and the input check both use them)."""
    if "heldout" not in entry.derived:
        if entry.heldout is not None:
            x, labels = entry.heldout
        else:
            d = datasets.load(dataset_of(entry), size=model.config.image_size)
            x, labels = d.test, d.test_labels
        x = x if x.shape[1] == model.config.in_channels else x.mean(1, keepdim=True)
        entry.derived["heldout"] = x, labels
    return entry.derived["heldout"]


def space(entry: Entry, model: AE) -> Space:
    """The entry's held-out set in its model's latent space, computed once and kept on the entry."""
    if "latent_space" not in entry.derived:
        entry.derived["latent_space"] = place(model, *heldout(entry, model))
    return entry.derived["latent_space"]


# Ten distinct colours (Tableau 10), one per digit class.
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]  # fmt: skip


def latent_map(
    sp: Space, route: np.ndarray | None = None, here: np.ndarray | None = None, side: int = 420
) -> np.ndarray:
    """uint8 RGB (side, side + legend) scatter of the held-out set, coloured by class, with the path from A to B
    (`route`, (M, k), drawn as a line with A and B marked) and the slider's point (`here`, (k,))."""
    pts = sp.project(sp.z)
    extra = [sp.project(route)] if route is not None else []
    allp = np.concatenate([pts, *extra])
    lo, hi = allp.min(0), allp.max(0)
    span = np.maximum(hi - lo, 1e-6)
    margin = 16

    def xy(p: np.ndarray) -> list[tuple[float, float]]:
        q = (np.asarray(p).reshape(-1, 2) - lo) / span
        return [(margin + u * (side - 2 * margin), side - margin - v * (side - 2 * margin)) for u, v in q]

    legend = 60 if sp.labels is not None else 0
    im = Image.new("RGB", (side + legend, side), "white")
    draw = ImageDraw.Draw(im)
    for (u, v), lab in zip(xy(pts), sp.labels if sp.labels is not None else [None] * len(pts)):
        col = PALETTE[int(lab) % 10] if lab is not None else (120, 120, 120)
        draw.ellipse((u - 3, v - 3, u + 3, v + 3), fill=col)
    if route is not None:
        line = xy(sp.project(route))
        draw.line(line, fill="black", width=3)
        for (u, v), name in ((line[0], "A"), (line[-1], "B")):
            draw.rectangle((u - 6, v - 6, u + 6, v + 6), fill="black")
            draw.text((u + 9, v - 7), name, fill="black")
    if here is not None:
        ((u, v),) = xy(sp.project(here))
        draw.ellipse((u - 7, v - 7, u + 7, v + 7), outline="black", fill=(255, 220, 0), width=2)
    if sp.labels is not None:
        for k in range(10):
            y = 14 + 18 * k
            draw.ellipse((side + 14, y, side + 24, y + 10), fill=PALETTE[k])
            draw.text((side + 32, y - 1), str(k), fill="black")
    return np.asarray(im)


# --- does an input look like the training data? ---------------------------------------------------------------

COLOURFUL = 15.0  # M above this is a colour image: "slightly colourful" starts at 15 on Hasler & Suesstrunk's scale
UNLIKE = 1.25  # reconstructed this many times worse than the worst held-out image: unlike the training data

TRAINED_ON = {  # what each embedded dataset looks like, for the tab's warning
    "digits": "grey digits, light ink on black, each an 8×8 grid scaled up to 32×32",
    "mnist": "real handwritten MNIST digits, light ink on black, each scaled to fit 20×20 and centred by its mass in "
    "28×28, zero-padded to 32×32",
    "faces": "grey 25×25 crops from Labeled Faces in the Wild (faces, and as many background patches), scaled up",
}


@dataclass
class InputCheck:
    """How an endpoint reached the model, and whether it looks like what the model was trained on.

    Two simple checks. Colour: the training sets are grey, so a colour upload (Hasler & Suesstrunk's M of the upload
    before it became grey above COLOURFUL) loses its colour. Look: the model's own reconstruction error of the
    fitted input against its worst held-out image's (the Lab's anomaly score): a VAE reconstructs the kind of image
    it learnt, so an input reconstructed UNLIKE times worse than any held-out image is of another kind. Measured:
    photos given to vae-digits 0.08-0.30 MSE against a worst held-out 0.023, typed digits 0.004-0.009; drawn digits
    given to vae-faces 0.07-0.11 against 0.029.
    """

    steps: list[str]  # what was done to the upload, in order (Fitted.steps)
    colourfulness: float  # of the upload; 0 for grey
    error: float  # the model's reconstruction MSE of the fitted input (the decoding of mu against the input)
    worst_heldout: float  # the largest reconstruction MSE over the model's held-out images

    @property
    def colour(self) -> bool:
        return self.colourfulness > COLOURFUL

    @property
    def unlike(self) -> bool:
        return self.error > UNLIKE * self.worst_heldout


@torch.inference_mode()
def reconstruction_errors(model: AE, x: torch.Tensor) -> torch.Tensor:
    """Per-image MSE (N,) between images x (N, C, S, S) and the decoding of their mu (the AE's code)."""
    return (model.decode(model.embed(x)) - x).pow(2).flatten(1).mean(1)


def worst_heldout_error(entry: Entry, model: AE) -> float:
    """The largest reconstruction error over the model's held-out images, computed once and kept on the entry."""
    if "worst_heldout_error" not in entry.derived:
        entry.derived["worst_heldout_error"] = reconstruction_errors(model, heldout(entry, model)[0]).max().item()
    return entry.derived["worst_heldout_error"]


def check(entry: Entry, model: AE, f: Fitted) -> InputCheck:
    """A fitted endpoint against the model's held-out images."""
    error = reconstruction_errors(model, f.x).item()
    return InputCheck(f.steps, f.colourfulness, error, worst_heldout_error(entry, model))


# --- what the tab and the CLI call ----------------------------------------------------------------------------


def dataset_of(entry: Entry) -> str:
    """The dataset a registry entry was trained on (its card's data.dataset: "digits", "mnist", "faces", ...):
    decides how inputs are fitted (fit), the held-out images it is checked and mapped on, and the AE beside it."""
    return entry.card.get("data", {}).get("dataset", "digits")


@dataclass
class Walk:
    """Both endpoints encoded by the VAE (and the plain AE): everything the slider needs, numpy only."""

    vae: str
    ae: str | None
    a: np.ndarray  # (k,) mu of A
    b: np.ndarray  # (k,) mu of B
    ae_a: np.ndarray | None = None  # the AE's codes of A and B
    ae_b: np.ndarray | None = None
    checks: tuple[InputCheck, InputCheck] | None = None  # how A and B reached the VAE, and how they compare


def start_walk(registry, vae: str, ae: str | None, img_a: np.ndarray, img_b: np.ndarray) -> Walk:
    """Encode A and B with the VAE (and the AE, which places them in its own latent space), and check them against
    the VAE's held-out images."""
    entry = registry.entry(vae)
    model = registry.load(vae)
    if not getattr(model, "variational", False):
        raise ValueError(f"model {vae!r} is not a VAE; pick one of the VAE models")
    dataset = dataset_of(entry)
    fa, fb = fit(img_a, model, dataset), fit(img_b, model, dataset)
    w = Walk(vae, ae, embed(model, fa.x), embed(model, fb.x), checks=(check(entry, model, fa), check(entry, model, fb)))
    if ae:
        ae_model, ae_dataset = registry.load(ae), dataset_of(registry.entry(ae))
        w.ae_a, w.ae_b = encode(ae_model, img_a, ae_dataset), encode(ae_model, img_b, ae_dataset)
    return w


def show_frame(
    registry, w: Walk, t: float, method: Method = "linear"
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """The slider's frame: the VAE's decoding at t, the AE's at the same t, and the latent map with the point."""
    model = registry.load(w.vae)
    here = path(w.a, w.b, [t], method)
    vae_frame = decode(model, here)[0]
    ae_frame = None if w.ae is None else decode_at(registry.load(w.ae), w.ae_a, w.ae_b, t, method)
    sp = space(registry.entry(w.vae), model)
    return vae_frame, ae_frame, latent_map(sp, path(w.a, w.b, np.linspace(0, 1, 33), method), here[0])


def show_strips(registry, w: Walk, steps: int, method: Method = "linear") -> tuple[np.ndarray, np.ndarray | None]:
    """N frames from A to B through the VAE, and the same path through the AE."""
    vae_strip = strip(frames(registry.load(w.vae), w.a, w.b, steps, method))
    ae_strip = None if w.ae is None else strip(frames(registry.load(w.ae), w.ae_a, w.ae_b, steps, method))
    return vae_strip, ae_strip


# The faces shown as examples, by index into the faces' held-out split. skimage's lfw_subset is 100 faces, then 100
# background patches, and the split mixes both: these four are faces, bright enough to see on a projector (the first
# four held-out images included a background patch, almost black), with a mean brightness of at least 0.4.
# tests/test_latent.py checks both.
FACE_EXAMPLES = (0, 5, 6, 7)


def example_files(folder: str | Path) -> list[Path]:
    """Held-out examples as 32x32 PNGs (never trained on): one digit of each class 0-9, four faces, then one MNIST
    digit of each class (the first of its class in MNIST's held-out split). Written once; the datasets are read only
    if a file is missing."""
    folder = Path(folder)
    names = [f"digit-{k}" for k in range(10)] + [f"face-{i}" for i in FACE_EXAMPLES] + [f"mnist-{k}" for k in range(10)]
    out = [folder / f"{name}.png" for name in names]
    if all(p.is_file() for p in out):
        return out
    folder.mkdir(parents=True, exist_ok=True)
    d, f, m = datasets.load("digits"), datasets.load("faces"), datasets.load("mnist")
    picks = [d.test[int((d.test_labels == k).nonzero()[0])] for k in range(10)]
    picks += [f.test[i] for i in FACE_EXAMPLES]
    picks += [m.test[int((m.test_labels == k).nonzero()[0])] for k in range(10)]
    for p, x in zip(out, picks):
        images.save_png(to_image(x), p)
    return out
