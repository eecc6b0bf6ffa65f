"""Diffusion on digits: the sampling loop and the measurements the tab and cards show (its training objective,
Denoise, is in tasks/diffusion.py).

The sampling loop is diffusers' own, visible here (one model call and one `scheduler.step` per timestep), with
classifier-free guidance. The objectives use the same U-Net and DDPMScheduler; only `prediction_type` differs:
  epsilon       the U-Net predicts the noise; x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)  (Ho et al. 2020, eq. 15)
  sample        the U-Net predicts x0 directly
  v_prediction  the U-Net predicts v = sqrt(abar_t) eps - sqrt(1 - abar_t) x0  (Salimans & Ho 2022)
Models are trained on one dataset at one size (8x8 digits at 16x16, MNIST at 28x28): every measurement of their
samples uses that dataset's real digits at that size and its classifier.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from torch import nn

from unetlab import metrics

if TYPE_CHECKING:  # diffusers is imported on first use: it would add seconds to the app's cold start
    from diffusers import DDIMScheduler, DDPMScheduler

    from unetlab.models.diffusion import DigitDiffusion
    from unetlab.registry import Registry

SCHEDULERS = ("ddpm", "ddim")
OnStep = Callable[[int, int], None]  # on_step(steps done, steps in all), after each sampling step: a progress bar
LABEL_DROP = 0.1  # share of training prompts replaced by the null token, so one model is also unconditional
# dataset -> the classifier, trained on its real digits only, that judges samples (sample_accuracy in the cards)
CLASSIFIERS = {"digits": "digits-classifier", "mnist": "mnist-classifier"}
# dataset -> how the tab names it (the datasets diffusion models are trained on, in recipes.py)
DATASETS = {"digits": "8×8 digits at 16×16", "mnist": "MNIST 28×28"}


def classifier_for(dataset: str) -> str:
    if dataset not in CLASSIFIERS:
        raise ValueError(f"no classifier judges samples of {dataset!r}; datasets with one: {', '.join(CLASSIFIERS)}")
    return CLASSIFIERS[dataset]


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clipped (for showing x_t and x0 as images)."""
    return ((x.float() + 1) / 2).clamp(0, 1)


def predicted_x0(
    prediction: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, alphas_cumprod: torch.Tensor, prediction_type: str
) -> torch.Tensor:
    """The clean image implied by a U-Net output at timesteps t (B,)."""
    if prediction_type == "sample":
        return prediction
    abar = alphas_cumprod[t].view(-1, 1, 1, 1)
    if prediction_type == "v_prediction":
        return abar.sqrt() * x_t - (1 - abar).sqrt() * prediction  # Salimans & Ho 2022, section 4 and appendix D
    return (x_t - (1 - abar).sqrt() * prediction) / abar.sqrt()  # Ho et al. 2020, eq. 15


def make_scheduler(model: nn.Module, kind: Literal["ddpm", "ddim"]) -> DDPMScheduler | DDIMScheduler:
    """The model's training scheduler, or DDIM built from the same config (same betas, same prediction_type)."""
    from diffusers import DDIMScheduler, DDPMScheduler

    if kind not in SCHEDULERS:
        raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {kind!r}")
    config = model.scheduler().config
    return DDPMScheduler.from_config(config) if kind == "ddpm" else DDIMScheduler.from_config(config)


def initial_noise(n: int, size: int, seed: int, channels: int = 1) -> torch.Tensor:
    """x_T: the same seed gives the same noise, so two models can start from exactly the same point."""
    return torch.randn((n, channels, size, size), generator=torch.Generator().manual_seed(seed))


@dataclass
class Step:
    index: int  # 0-based position in the sampling schedule
    t: int  # the timestep this step denoised from
    x_t: torch.Tensor  # the sample after this step (x_{t-1}), in [-1, 1]
    x0: torch.Tensor  # the scheduler's pred_original_sample at this step


def sample(
    model: DigitDiffusion,
    labels: torch.Tensor,
    *,
    steps: int = 50,
    scheduler: Literal["ddpm", "ddim"] = "ddim",
    guidance: float = 1.0,
    eta: float = 0.0,
    seed: int = 0,
    fast: bool = False,
) -> Iterator[Step]:
    """Denoise from seeded noise, one Step per timestep. guidance 1 = conditional only, 0 = unconditional.

    fast: bf16 autocast. Off by default: at 16x16 this small U-Net measured no faster in bf16 than in fp32
    (python -m unetlab bench: 8 samples x both models x 50 DDIM steps, 3.2 s bf16 vs 2.7 s fp32)."""
    if not 1 <= steps <= model.config.train_timesteps:
        raise ValueError(f"steps must be between 1 and {model.config.train_timesteps}, got {steps}")
    if not 0 <= eta <= 1:
        raise ValueError(f"eta must be between 0 (deterministic DDIM) and 1 (DDPM-like), got {eta}")
    sched = make_scheduler(model, scheduler)
    sched.set_timesteps(steps)
    labels = torch.as_tensor(labels).long()
    x = initial_noise(len(labels), model.config.image_size, seed, model.config.channels)
    g = torch.Generator().manual_seed(seed + 1)  # the per-step noise of DDPM / DDIM with eta > 0: also shared
    null = torch.full_like(labels, model.null)
    extra = {"eta": eta} if scheduler == "ddim" else {}
    for i, t in enumerate(sched.timesteps):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast):
            if guidance == 1:
                pred = model(x, t.expand(len(x)), labels).float()
            elif guidance == 0:
                pred = model(x, t.expand(len(x)), null).float()
            else:
                both = model(torch.cat([x, x]), t.expand(2 * len(x)), torch.cat([labels, null])).float()
                cond, uncond = both.chunk(2)
                pred = uncond + guidance * (cond - uncond)  # classifier-free guidance, Ho & Salimans 2022, eq. 6
        out = sched.step(pred, t, x, generator=g, **extra)
        x = out.prev_sample
        yield Step(i, int(t), x, out.pred_original_sample)


def final(model: DigitDiffusion, labels, tick: Callable[[], None] | None = None, **kw) -> torch.Tensor:
    """The finished samples as images in [0, 1], (N, C, S, S) (a latent model's decoded by its VAE). tick: called
    after each step (a caller counting progress)."""
    for step in sample(model, labels, **kw):
        x = step.x_t
        if tick is not None:
            tick()
    return model.decode(x)


# --- measurements -------------------------------------------------------------------------------------------


def hf_ratio(samples: torch.Tensor | np.ndarray, real: torch.Tensor | np.ndarray) -> float:
    """High-frequency energy of samples relative to real digits: metrics.hf_fraction(samples) / hf_fraction(real).
    1 = as much fine detail as real digits; below 1 = blurrier; above 1 = noisier."""
    return metrics.hf_fraction(np.asarray(samples)) / metrics.hf_fraction(np.asarray(real))


GUIDANCES = (1.0, 2.0)  # the cards measure plain conditioning (the tab's default) and classifier-free guidance 2


def sample_metrics(
    model: DigitDiffusion,
    classifier: nn.Module,
    real: torch.Tensor,
    *,
    per_class: int = 50,
    steps: int = 50,
    scheduler: Literal["ddpm", "ddim"] = "ddim",
    guidances: tuple[float, ...] = GUIDANCES,
    seed: int = 0,
) -> dict:
    """Card metrics: the classifier's accuracy on per_class samples of each digit, and the HF energy ratio, at each
    guidance scale; the first scale's numbers are also the card's headline (sample_accuracy, hf_ratio)."""
    from unetlab.models.classifier import predict

    labels = torch.arange(10).repeat_interleave(per_class)
    by_guidance = {}
    for g in guidances:
        xs = torch.cat(
            [
                final(model, labels[i : i + 100], steps=steps, scheduler=scheduler, guidance=g, seed=seed + i)
                for i in range(0, len(labels), 100)
            ]
        )
        hit = (predict(classifier, xs) == labels).float()
        by_guidance[f"{g:g}"] = {
            "sample_accuracy": round(hit.mean().item(), 4),
            "sample_accuracy_per_class": [round(hit[labels == c].mean().item(), 3) for c in range(10)],
            "hf_ratio": round(hf_ratio(xs, real), 4),
            "hf_fraction_samples": round(metrics.hf_fraction(xs.numpy()), 5),
        }
    sampler = {"scheduler": scheduler, "steps": steps, "eta": 0.0, "per_class": per_class, "guidance": guidances[0]}
    return {
        "sampler": sampler,
        **by_guidance[f"{guidances[0]:g}"],
        "hf_fraction_real": round(metrics.hf_fraction(np.asarray(real)), 5),
        "by_guidance": by_guidance,
    }


# --- the tab: two models from the same noise, every step kept ------------------------------------------------


@dataclass
class Trajectory:
    """Both models' denoising of the same noise, every step, as uint8 images (for the tab's scrubber)."""

    names: list[str]
    label: int
    dataset: str  # the data the models were trained on: their samples are measured against its real digits
    timesteps: list[int]
    x_t: dict[str, np.ndarray]  # name -> (steps, N, S, S) uint8: the sample after each step
    x0: dict[str, np.ndarray]  # name -> (steps, N, S, S) uint8: pred_original_sample at each step
    seconds: dict[str, float]  # name -> sampling time
    settings: dict = field(default_factory=dict)  # scheduler, steps, guidance, eta, seed: what made it

    @property
    def size(self) -> int:
        return self.x_t[self.names[0]].shape[-1]

    @property
    def real(self) -> np.ndarray:
        """The held-out real digits of the models' dataset, at their size: the reference spectrum."""
        return real_digits(self.dataset, self.size)

    @property
    def hf_ratios(self) -> dict[str, float]:
        """Each model's HF energy ratio over its finished samples (the last step's x_t), against real digits."""
        return {name: hf_ratio(x[-1][:, None] / 255.0, self.real) for name, x in self.x_t.items()}


def _uint8(x: torch.Tensor) -> np.ndarray:
    return (to_unit(x)[:, 0].numpy() * 255 + 0.5).astype(np.uint8)


def one_size(models: dict[str, DigitDiffusion]) -> int:
    """The image size all the models sample at; ValueError naming each model's size when they differ (their
    samples could not be shown or measured side by side)."""
    sizes = {name: m.config.image_size for name, m in models.items()}
    if len(set(sizes.values())) > 1:
        each = ", ".join(f"{name} {s}x{s}" for name, s in sizes.items())
        raise ValueError(f"the models sample at different sizes ({each}): compare models trained on the same data")
    return next(iter(sizes.values()))


def side_by_side(
    models: dict[str, DigitDiffusion],
    label: int,
    *,
    dataset: str = "digits",
    n: int = 4,
    steps: int = 50,
    scheduler: Literal["ddpm", "ddim"] = "ddim",
    guidance: float = 1.0,
    eta: float = 0.0,
    seed: int = 0,
    on_step: OnStep | None = None,
) -> Trajectory:
    """Run every model on n samples of one class from the same seeded noise, keeping x_t and x0 at every step.
    dataset: the one the models were trained on (the reference of the measurements); on_step: called after each
    step of each model, with the steps done and the steps of all models together."""
    import time

    one_size(models)
    if label not in range(10):
        raise ValueError(f"class must be a digit 0-9, got {label}")
    labels = torch.full((n,), label)
    xs, x0s, seconds, timesteps = {}, {}, {}, []
    for k, (name, model) in enumerate(models.items()):
        start, x_t, x0, timesteps = time.perf_counter(), [], [], []
        kw = dict(steps=steps, scheduler=scheduler, guidance=guidance, eta=eta, seed=seed)
        for step in sample(model, labels, **kw):
            timesteps.append(step.t)
            x_t.append(_uint8(step.x_t))
            x0.append(_uint8(step.x0))
            if on_step is not None:
                on_step(k * steps + step.index + 1, len(models) * steps)
        xs[name], x0s[name], seconds[name] = np.stack(x_t), np.stack(x0), time.perf_counter() - start
    settings = dict(scheduler=scheduler, steps=steps, guidance=guidance, eta=eta, seed=seed)
    return Trajectory(list(models), label, dataset, timesteps, xs, x0s, seconds, settings)


def panel(traj: Trajectory, name: str, i: int, zoom: int = 8) -> np.ndarray:
    """Step i of one model: x_t (top row) over the predicted x0 (bottom row), each pixel zoom x zoom."""
    from unetlab import images

    i = min(max(int(i), 0), len(traj.timesteps) - 1)
    rows = [traj.x_t[name][i][:, None] / 255.0, traj.x0[name][i][:, None] / 255.0]
    return images.enlarge(images.grid([np.stack(r, 0) for r in zip(*rows)], pad=1), zoom)


@functools.cache
def real_digits(dataset: str = "digits", size: int = 16) -> np.ndarray:
    """The held-out real digits of `dataset` (N, 1, S, S) in [0, 1], at the models' size: the reference spectrum.
    Cached: the tab measures against it at every step it shows."""
    from unetlab import data

    return data.load(dataset, size=size).test.numpy()


BANDS = {"low": (1, 2), "mid": (3, 5), "high": (6, 8)}  # radial frequency rings of a 16x16 image (cycles/image)


def bands(size: int) -> dict[str, tuple[int, int]]:
    """BANDS scaled to a size x size image: the same shares of its Nyquist frequency size // 2 as of 16x16's 8
    (28x28: low 1-4, mid 5-9, high 10-14 cycles per image). A ring narrower than one frequency is left out."""
    nyquist = size // 2
    edges = [0] + [int(hi * nyquist / 8 + 0.5) for _, hi in BANDS.values()]
    rings = {band: (lo + 1, hi) for band, lo, hi in zip(BANDS, edges, edges[1:])}
    return {band: (lo, hi) for band, (lo, hi) in rings.items() if lo <= hi}


def band_curves(traj: Trajectory, real: np.ndarray, roles: dict[str, str] | None = None) -> list[dict]:
    """Power of each model's predicted x0 in low / mid / high frequency rings (bands(size)) over the steps, in dB
    relative to real digits (0 dB = a real digit's power there): the low ring reaches its level first, the high
    ring last.
    roles: model name -> the name its series carry (default: the model's name)."""
    ref = metrics.radial_power(real)
    roles = roles or {}
    rows = []
    for name in traj.names:
        for i, t in enumerate(traj.timesteps):
            for band, db in ring_db(metrics.radial_power(traj.x0[name][i] / 255.0), ref, traj.size).items():
                row = {"step": i + 1, "t": t, "power (dB vs real digits)": round(db, 3)}
                rows.append(row | {"series": f"{roles.get(name, name)}: {band}"})
    return rows


def ring_db(power: np.ndarray, ref: np.ndarray, size: int) -> dict[str, float]:
    """A radial power spectrum's power in each of bands(size)'s rings, in dB relative to the reference's there."""
    return {
        band: float(10 * np.log10(power[lo : hi + 1].sum() / ref[lo : hi + 1].sum() + 1e-12))
        for band, (lo, hi) in bands(size).items()
    }


def spectrum_rows(traj: Trajectory, i: int, real: np.ndarray, roles: dict[str, str] | None = None) -> list[dict]:
    """The radial power spectrum (log10) of each model's x_t and predicted x0 at step i, and of real digits.
    roles: model name -> the name its series carry (default: the model's name)."""
    i = min(max(int(i), 0), len(traj.timesteps) - 1)
    roles = roles or {}
    series = {"real digits": metrics.radial_power(real)}
    for name in traj.names:
        series[f"{roles.get(name, name)}: predicted x0"] = metrics.radial_power(traj.x0[name][i] / 255.0)
        series[f"{roles.get(name, name)}: x_t"] = metrics.radial_power(traj.x_t[name][i] / 255.0)
    return [
        {"frequency": f, "log10 power": round(float(np.log10(p[f] + 1e-12)), 4), "series": s}
        for s, p in series.items()
        for f in range(1, len(p))
    ]


def class_grid(model: DigitDiffusion, per_class: int, **kw) -> tuple[np.ndarray, torch.Tensor]:
    """per_class finished samples of every digit: uint8 grid (row c = class c), and the samples in [0, 1].
    kw: final's (the sampler's settings, tick)."""
    from unetlab import images

    labels = torch.arange(10).repeat_interleave(per_class)
    xs = final(model, labels, **kw)
    rows = xs.view(10, per_class, *xs.shape[1:]).numpy()
    return images.grid([rows[:, j] for j in range(per_class)], pad=1), xs


@dataclass
class CardFigures:
    """What one model's card measured on its samples, per guidance scale (as the cards key them: "1", "2")."""

    name: str
    prediction_type: str  # "epsilon" (the noise), "sample" (the clean x0), "v_prediction" (v); "?" if unknown
    accuracy: dict[str, float]  # guidance -> the classifier's accuracy on the samples; a scale not measured: absent
    hf_ratio: dict[str, float]  # guidance -> HF energy ratio of the samples against real digits


@dataclass
class CardTable:
    """The cards' sample metrics of several models, side by side."""

    scales: list[str]  # every guidance scale some card measured, ascending
    models: list[CardFigures]
    sampler: dict | None  # how the first card that has metrics sampled (scheduler, steps, per_class); None: none
    classifier: str | None = None  # the classifier that judged them (the first card that names one)


def card_figures(cards: dict[str, dict]) -> CardTable:
    """The cards' measured numbers: the classifier's accuracy on each model's samples, and the HF energy ratio,
    at each guidance scale the cards measured."""
    scales = sorted({g for c in cards.values() for g in c.get("metrics", {}).get("by_guidance", {})}, key=float)
    models = []
    for name, card in cards.items():
        by_guidance = card.get("metrics", {}).get("by_guidance", {})
        models.append(
            CardFigures(
                name,
                card.get("config", {}).get("prediction_type", "?"),
                {g: r["sample_accuracy"] for g, r in by_guidance.items()},
                {g: r["hf_ratio"] for g, r in by_guidance.items()},
            )
        )
    sampler = next((c["metrics"]["sampler"] for c in cards.values() if "sampler" in c.get("metrics", {})), None)
    classifier = next(
        (c["metrics"]["classifier"] for c in cards.values() if "classifier" in c.get("metrics", {})), None
    )
    return CardTable(scales, models, sampler, classifier)


def dataset_of(reg: Registry, name: str) -> str | None:
    """The dataset a registered model was trained on (its card's data.dataset); None where the card does not say."""
    return reg.entry(name).card.get("data", {}).get("dataset")


def models_of(reg: Registry, dataset: str) -> list[str]:
    """The registered diffusion models trained on `dataset`."""
    return [n for n in reg.names("diffusion") if dataset_of(reg, n) == dataset]


def models_predicting(reg: Registry, prediction_type: str, dataset: str | None = None) -> list[str]:
    """The registered diffusion models trained to predict `prediction_type` ("epsilon", "sample" or
    "v_prediction"), on `dataset` if given."""
    names = reg.names("diffusion") if dataset is None else models_of(reg, dataset)
    return [n for n in names if reg.entry(n).config.get("prediction_type") == prediction_type]


def shared_dataset(reg: Registry, names: list[str]) -> str:
    """The one dataset the named diffusion models were trained on; ValueError when they differ (their samples
    cannot be compared from the same noise) or a card does not say, naming each model's data and the models of
    each dataset."""
    found = {name: dataset_of(reg, name) for name in names}
    if len(set(found.values())) == 1 and None not in found.values():
        return next(iter(found.values()))
    each = ", ".join(f"{n} on {d or 'unknown data (its card has no data.dataset)'}" for n, d in found.items())
    per_dataset = "; ".join(f"{d}: {', '.join(models_of(reg, d)) or 'none'}" for d in DATASETS)
    raise ValueError(f"compare models trained on the same data, not {each} ({per_dataset})")


def judge(reg: Registry, dataset: str = "digits") -> nn.Module | None:
    """The classifier that judges samples of `dataset` (CLASSIFIERS), or None where it is not registered."""
    name = CLASSIFIERS.get(dataset)
    return reg.load(name) if name in reg.entries else None


@dataclass
class GridFigures:
    """What the classifier and the spectrum say about one model's class grid."""

    name: str
    samples: int  # how many samples the grid holds (10 x per_class)
    hf_ratio: float  # HF energy ratio of these samples against real digits
    accuracy: float | None  # the share the classifier reads as the asked digit; None without a classifier


@dataclass
class GridReport:
    grids: list[np.ndarray] = field(repr=False)  # uint8, one per model: row c = digit c
    figures: list[GridFigures]


def grid_report(
    models: dict[str, DigitDiffusion],
    classifier: nn.Module | None,
    per_class: int,
    *,
    dataset: str = "digits",
    steps: int = 50,
    on_step: OnStep | None = None,
    **kw,
) -> GridReport:
    """Each model's class grid (row c = digit c) from the same noise, and what the classifier and the spectrum
    say about these samples. dataset: the one the models were trained on (their classifier: judge(reg, dataset));
    kw: sample's other settings; on_step: called after each step of each model, with the steps done and the steps
    of all models together."""
    from unetlab.models.classifier import predict

    size = one_size(models)
    if not 1 <= per_class <= 16:
        raise ValueError(f"samples per class must be between 1 and 16, got {per_class}")
    grids, figures = [], []
    labels = torch.arange(10).repeat_interleave(per_class)
    done = itertools.count(1)
    tick = None if on_step is None else lambda: on_step(next(done), len(models) * steps)
    for name, model in models.items():
        g, xs = class_grid(model, per_class, steps=steps, tick=tick, **kw)
        grids.append(g)
        hit = None if classifier is None else (predict(classifier, xs) == labels).float().mean().item()
        figures.append(GridFigures(name, len(xs), hf_ratio(xs, real_digits(dataset, size)), hit))
    return GridReport(grids, figures)
