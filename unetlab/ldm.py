"""The miniature Stable Diffusion's data and measurements (models/ldm.py is the model, tasks/ldm.py its training).

Data: 64x64 crops of the corpus's photographs (class 0, "photo") and textures (class 1, "texture") at short side 128,
encoded once by the trained VAE (ldm-vae) into scaled 16x16x4 latents: the U-Net trains on those, with the class as
its prompt. The training split trains, the validation split is the loop's held-out set, the test split (whole
sources no recipe sees) is only measured.

Measurements (the seed's claim: x0-prediction blurs, epsilon keeps detail), on decoded samples against held-out real
crops of the same class, at 50 and at 10 DDIM steps:
  hf_ratio           energy above half the Nyquist frequency, samples / real (metrics.hf_fraction): < 1 blurrier
  spectrum_distance  mean |log10 P_samples(f) - log10 P_real(f)| over the radial frequencies 1..32: 0 = the same
  kid                Kernel Inception Distance (Binkowski et al. 2018) on features of a network trained here, not
                     Inception: the VAE encoder's per-level channel means and standard deviations (320 numbers)
The VAE's own reconstructions of the real crops are measured too: what its decoder alone costs (the floor).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from unetlab import data as datasets
from unetlab import metrics
from unetlab.hardware import bf16_pays

if TYPE_CHECKING:
    from unetlab.models.diffusion import DigitDiffusion
    from unetlab.models.ldm import LatentDiffusion, LatentVAE
    from unetlab.recipes import Recipe

CLASSES = ("photo", "texture")  # the prompt: class index -> name
KINDS = {"photo": ("photo", "photo cut-out"), "texture": ("texture",)}  # corpus kinds of each class
SIDE = 128  # images' short side before cropping: a 64x64 crop holds a good part of a scene
CROPS_PER_CLASS = 6144  # training latents per class, encoded once (each image of a class alike, flipped half the time)
VAL_PER_CLASS = 128  # held-out latents per class for the loop (validation split tiles)
MEASURE_PER_CLASS = 128  # samples per class the card measures
STEPS = (50, 10)  # DDIM steps the card measures at: the usual count, and a few (where x0 and v are said to hold up)


def class_images(split: str, name: str) -> list[np.ndarray]:
    """The corpus's images of one class and split, uint8 RGB at short side SIDE (the training split also holds the
    photographs shipped in scikit-image and scikit-learn)."""
    arrays = datasets.corpus_arrays(split, KINDS[name])
    return [datasets.short_side(a, SIDE) for a in arrays.values()]


def tiles(images: list[np.ndarray], crop: int = 64, limit: int = 0) -> torch.Tensor:
    """Non-overlapping crop x crop tiles of every image, float in [0, 1]; limit > 0: that many, evenly spaced."""
    t = torch.cat([datasets.tile_crops(datasets.to_tensor(a), crop) for a in images])
    if limit and len(t) > limit:
        t = t[torch.linspace(0, len(t) - 1, limit).round().long()]
    return t


@torch.no_grad()
def encode(vae: LatentVAE, x: torch.Tensor, batch: int = 128) -> torch.Tensor:
    return torch.cat([vae.encode(x[i : i + batch]) for i in range(0, len(x), batch)])


def latent_data(vae: LatentVAE, r: Recipe) -> datasets.Data:
    """The U-Net's data: scaled latents of training crops (CROPS_PER_CLASS per class, drawn with the recipe's seed)
    and of validation tiles, labelled by class."""
    g = torch.Generator().manual_seed(r.seed)
    train, test, train_labels, test_labels = [], [], [], []
    for c, name in enumerate(CLASSES):
        photos = [torch.from_numpy(np.array(a)).permute(2, 0, 1) for a in class_images("train", name)]
        weights = datasets.source_weights([str(i) for i in range(len(photos))])  # every image alike
        crops = torch.cat(
            [datasets.random_crops(photos, 256, r.crop, g, weights) for _ in range(CROPS_PER_CLASS // 256)]
        )
        train.append(encode(vae, crops))
        test.append(encode(vae, tiles(class_images("val", name), r.crop, VAL_PER_CLASS)))
        train_labels.append(torch.full((len(train[-1]),), c))
        test_labels.append(torch.full((len(test[-1]),), c))
    return datasets.Data(
        "corpus-photos latents",
        torch.cat(train),
        torch.cat(test),
        torch.cat(train_labels),
        torch.cat(test_labels),
        sampling=f"{CROPS_PER_CLASS:,} crops per class ({', '.join(CLASSES)}), each image of a class alike, "
        "encoded once by the VAE",
    )


@functools.cache
def heldout_by_source(name: str, crop: int = 64) -> dict[str, torch.Tensor]:
    """Real crop x crop tiles of one class from each of the test split's sources (never trained on), all their
    images at short side SIDE: the measurements' reference."""
    groups = datasets.corpus_test(per_source=10**9, kinds=KINDS[name])
    return {s: tiles([datasets.short_side(a, SIDE) for a in imgs.values()], crop) for s, imgs in groups.items()}


# --- measurements ---------------------------------------------------------------------------------------------


@torch.no_grad()
def features(vae: LatentVAE, x: torch.Tensor, batch: int = 128) -> np.ndarray:
    """Per image, the VAE encoder's channel means and standard deviations after each of its levels."""
    out = []
    enc = vae.vae.encoder
    for i in range(0, len(x), batch):
        h, f = enc.conv_in(x[i : i + batch] * 2 - 1), []
        for block in enc.down_blocks:
            h = block(h)
            f += [h.mean((2, 3)), h.std((2, 3))]
        out.append(torch.cat(f, 1))
    return torch.cat(out).double().numpy()


def kid(a: np.ndarray, b: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel (x.y / d + 1)^3 (Binkowski et al. 2018), features (N, d)."""
    d = a.shape[1]
    k_aa, k_bb, k_ab = ((p @ q.T / d + 1) ** 3 for p, q in ((a, a), (b, b), (a, b)))
    m, n = len(a), len(b)
    return float(
        (k_aa.sum() - np.trace(k_aa)) / (m * (m - 1)) + (k_bb.sum() - np.trace(k_bb)) / (n * (n - 1)) - 2 * k_ab.mean()
    )


def spectrum_distance(samples: np.ndarray, real: np.ndarray) -> float:
    """Mean |log10 power| difference over the radial frequencies 1 .. S/2 (all channels' spectra averaged)."""
    p, q = metrics.radial_power(samples), metrics.radial_power(real)
    return float(np.abs(np.log10(p[1:] + 1e-12) - np.log10(q[1:] + 1e-12)).mean())


def compare(samples: torch.Tensor, real: torch.Tensor, vae: LatentVAE, real_features: np.ndarray) -> dict:
    """The three figures of samples (or reconstructions) against real crops. The features are standardised by the
    real crops' per-feature mean and deviation first, so that no feature's scale dominates the kernel (Inception's
    pooled features, which KID was made for, are of similar scale; these are not)."""
    s, r = samples.numpy(), real.numpy()
    mean, std = real_features.mean(0), real_features.std(0) + 1e-8
    return {
        "hf_ratio": round(metrics.hf_fraction(s) / metrics.hf_fraction(r), 4),
        "spectrum_distance": round(spectrum_distance(s, r), 4),
        "kid": round(kid((features(vae, samples) - mean) / std, (real_features - mean) / std), 5),
    }


def samples(model: LatentDiffusion, label: int, n: int, steps: int, seed: int = 0, guidance: float = 1.0):
    """n decoded samples of one class, (n, 3, 64, 64) in [0, 1]."""
    from unetlab.diffusion import final

    return final(model, torch.full((n,), label), steps=steps, guidance=guidance, seed=seed)


@torch.no_grad()
def reconstruct(vae: LatentVAE, x: torch.Tensor, batch: int = 128) -> torch.Tensor:
    return torch.cat([vae(x[i : i + batch]) for i in range(0, len(x), batch)])


def card_report(model: LatentDiffusion, per_class: int = MEASURE_PER_CLASS) -> dict:
    """The card's figures: per class and step count, the samples against the test split's real crops (all its
    sources together, then each source alone, with the mean and the worst over sources); and the VAE's
    reconstructions of those crops (what the decoder alone costs)."""
    vae = model.autoencoder
    out: dict = {"sampler": {"scheduler": "ddim", "eta": 0.0, "guidance": 1.0, "per_class": per_class}}
    for c, name in enumerate(CLASSES):
        by_source = heldout_by_source(name, vae.config.image_size)
        real = torch.cat(list(by_source.values()))
        made = {"vae_reconstruction": reconstruct(vae, real)}
        made |= {f"ddim{steps}": samples(model, c, per_class, steps) for steps in STEPS}
        row = {"real_crops": len(real)}
        # the reference of the tab's band plot: the app reads it here, as it never reads the corpus
        row["real_spectrum"] = [round(float(v), 8) for v in metrics.radial_power(real.numpy())]
        row |= {key: compare(x, real, vae, features(vae, real)) for key, x in made.items()}
        per_source = {}
        for source, crops in by_source.items():  # a reconstruction against its own source's crops only
            own = {"vae_reconstruction": reconstruct(vae, crops)} | {
                k: v for k, v in made.items() if k != "vae_reconstruction"
            }
            per_source[source] = {k: compare(x, crops, vae, features(vae, crops)) for k, x in own.items()}
        row["per_source"] = per_source
        for key in made:  # over the sources: the mean, and the worst (largest KID) source
            kids = {s: f[key]["kid"] for s, f in per_source.items()}
            row[key] |= {"kid_mean_over_sources": round(float(np.mean(list(kids.values()))), 5),
                         "kid_worst_source": max(kids, key=kids.get), "kid_worst": max(kids.values())}  # fmt: skip
        out[name] = row
    return out


# --- the tab: three models from the same noise, every step kept (the latent models, or MNIST's three) ---------

BAND_POINTS = 10  # steps the band plot shows (evenly spaced, the last included)


def class_names(model: DigitDiffusion) -> list[str]:
    """What the prompt's classes are called: photo and texture for a latent model, the digits for a digit model."""
    return list(CLASSES) if is_latent(model) else [str(d) for d in range(model.config.classes)]


def is_latent(model: DigitDiffusion) -> bool:
    return hasattr(model, "autoencoder")


@dataclass
class LatentTrajectory:
    """Each model's denoising of the same noise: every step's x_t and x̂0 (float16; latents for a latent model), the
    decoded images (uint8: decode_all fills every step's x̂0 at once; anything else is decoded on first view), and
    what made them."""

    names: list[str]
    label: int
    timesteps: list[int]
    x_t: dict[str, torch.Tensor]  # name -> (steps, N, 4, 16, 16) latents after each step
    x0: dict[str, torch.Tensor]  # name -> (steps, N, 4, 16, 16) pred_original_sample at each step
    seconds: dict[str, float]
    settings: dict = field(default_factory=dict)
    decoded: dict = field(default_factory=dict, repr=False)  # (name, kind, step) -> (N, 3, 64, 64) uint8

    def images(self, model: DigitDiffusion, name: str, kind: str, i: int) -> torch.Tensor:
        """x̂0 ("x0") or x_t ("x_t") of one model at step i as images in [0, 1], decoded by its VAE (cached)."""
        key = (name, kind, i)
        if key not in self.decoded:
            self.decoded[key] = _decode(model, (self.x0 if kind == "x0" else self.x_t)[name][i])
        return self.decoded[key].float() / 255

    def decode_all(self, models: dict[str, DigitDiffusion], on_model=None, batch: int = 50) -> None:
        """Decode every step's x̂0 of every model now, `batch` latents a call, so that scrubbing only looks them up
        (a first view decoding 3 x 4 latents took 80-90 ms in the app). on_model(done, total): after each model."""
        for k, name in enumerate(self.names):
            z = self.x0[name].flatten(0, 1)  # (steps * N, C, h, w)
            out = torch.cat([_decode(models[name], z[j : j + batch]) for j in range(0, len(z), batch)])
            for i, step in enumerate(out.unflatten(0, self.x0[name].shape[:2])):
                self.decoded[(name, "x0", i)] = step
            if on_model is not None:
                on_model(k + 1, len(self.names))


def _decode(model: DigitDiffusion, z: torch.Tensor) -> torch.Tensor:
    """Latents (or digits) -> uint8 images (B, C, H, W). In bf16 where the CPU has it natively: 2.2x faster (4 latents:
    10 against 21 ms), at most 2 of 255 levels from fp32 (0.3 on average); the cards measure in fp32."""
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16_pays()):
        return (model.decode(z.float()).float() * 255).round().to(torch.uint8)


def side_by_side(
    models: dict[str, DigitDiffusion],
    label: int,
    *,
    n: int = 4,
    steps: int = 50,
    guidance: float = 1.0,
    seed: int = 0,
    on_step=None,
) -> LatentTrajectory:
    """Every model on n samples of one class from the same seeded noise (DDIM, eta 0), every step kept. The models
    must denoise the same shape (the same VAE's latents, or the same digits). on_step(done, total): after each step
    of each model."""
    from unetlab.diffusion import sample

    first = next(iter(models.values()))
    shapes = {name: (m.config.channels, m.config.image_size) for name, m in models.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"the models denoise different shapes ({shapes}): compare models of the same data")
    names = class_names(first)
    if label not in range(len(names)):
        raise ValueError(f"class must be one of {', '.join(names)}, got {label}")
    labels = torch.full((n,), label)
    x_t, x0, seconds, timesteps = {}, {}, {}, []
    for k, (name, model) in enumerate(models.items()):
        start, xs, x0s, timesteps = time.perf_counter(), [], [], []
        for step in sample(model, labels, steps=steps, guidance=guidance, seed=seed):
            timesteps.append(step.t)
            xs.append(step.x_t.half())
            x0s.append(step.x0.half())
            if on_step is not None:
                on_step(k * steps + step.index + 1, len(models) * steps)
        x_t[name], x0[name], seconds[name] = torch.stack(xs), torch.stack(x0s), time.perf_counter() - start
    settings = dict(scheduler="ddim", steps=steps, guidance=guidance, eta=0.0, seed=seed)
    return LatentTrajectory(list(models), label, timesteps, x_t, x0, seconds, settings)


def latent_view(z: torch.Tensor) -> torch.Tensor:
    """Latents (N, 4, h, w) as RGB (N, 3, h, w) in [0, 1]: their first three channels, -3..3 (3 standard deviations
    of the scaled latents) mapped to 0..1. What the U-Net denoises, not a picture of it."""
    return ((z[:, :3].float() + 3) / 6).clamp(0, 1)


def panel(traj: LatentTrajectory, model: DigitDiffusion, name: str, i: int, zoom: int = 2) -> np.ndarray:
    """Step i of one model: x_t (top row; a latent model's latent, nearest-neighbour up to the images' size) over
    x̂0 (bottom row; decoded by the VAE), uint8."""
    from unetlab import images

    i = min(max(int(i), 0), len(traj.timesteps) - 1)
    x0 = traj.images(model, name, "x0", i)
    if is_latent(model):
        top = torch.nn.functional.interpolate(latent_view(traj.x_t[name][i]), size=x0.shape[-2:], mode="nearest")
    else:
        top = traj.images(model, name, "x_t", i)
    rows = [top.numpy(), x0.numpy()]
    return images.enlarge(images.grid([np.stack(r, 0) for r in zip(*rows)], pad=2), zoom)


def band_steps(n: int) -> list[int]:
    return sorted(set(np.linspace(0, n - 1, min(BAND_POINTS, n)).round().astype(int).tolist()))


def band_curves(traj: LatentTrajectory, models: dict[str, DigitDiffusion], real_spectrum, roles=None) -> list[dict]:
    """Power of each model's (decoded) x̂0 in low / mid / high frequency rings at BAND_POINTS steps, in dB relative
    to real held-out images (real_spectrum: their radial power; the latent models' cards hold their crops')."""
    from unetlab.diffusion import ring_db

    ref = np.asarray(real_spectrum)
    roles = roles or {}
    rows = []
    for name in traj.names:
        for i in band_steps(len(traj.timesteps)):
            p = metrics.radial_power(traj.images(models[name], name, "x0", i).numpy())
            for band, db in ring_db(p, ref, 2 * (len(ref) - 1)).items():
                row = {"step": i + 1, "t": traj.timesteps[i], "power (dB vs real)": round(db, 3)}
                rows.append(row | {"series": f"{roles.get(name, name)}: {band}"})
    return rows
