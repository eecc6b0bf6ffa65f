"""Named training recipes: data + model config + hyper-parameters -> one weights file and its card.

`python -m unetlab train --recipe NAME` runs one; the card records the exact command, so every shipped weights
file can be rebuilt. Overrides (--epochs, --lr, ...) are written into that command too, and into the card's
`overrides`: such a run is not the recipe, so the CLI writes it to runs/ unless told where (--out).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from unetlab import data as datasets
from unetlab import registry
from unetlab.colorize import HINT_CHANNELS, bins
from unetlab.corpus import PHOTO_KINDS
from unetlab.lab import purity_net
from unetlab.reconstruct import heldout_report, score
from unetlab.train import Objective, Reconstruct, Report, train


@dataclass(frozen=True)
class Recipe:
    name: str
    task: str  # reconstruct | colorize | vae | diffusion | ...
    model: str  # a key of registry.MODELS
    config: dict
    dataset: str  # an embedded dataset name or a path
    epochs: int
    batch_size: int
    lr: float
    seed: int = 0
    crop: int = 64  # photo-like datasets: training crop side
    epoch_size: int = 2048  # photo-like datasets: crops per epoch
    size: int = 32  # image-set datasets: side images are resized to
    side: int = datasets.CORPUS_SIDE  # corpus datasets: the training images' short side (at most)
    fast: bool = True  # bf16 autocast + channels_last
    dtype: str = "float16"  # how the weights are stored
    without_class: int | None = None  # labelled datasets: leave this class out of train and test (anomaly models)
    keep_best: bool = False  # keep the weights of the epoch with the lowest held-out (validation) loss
    augment: str = ""  # crop datasets: '+'-joined augment.CHOICES (colour, synthetic), or '' for none
    description: str = ""
    data_hint: str = ""  # how to get the data, shown when it cannot be loaded
    overrides: dict = field(default_factory=dict)  # what the command line changed

    @property
    def command(self) -> str:
        flags = "".join(f" --{k.replace('_', '-')} {v}" for k, v in self.overrides.items())
        return f"python -m unetlab train --recipe {self.name}{flags}"

    def with_overrides(self, **kw) -> Recipe:
        kw = {k: v for k, v in kw.items() if v is not None}
        return replace(self, **kw, overrides={**self.overrides, **kw})


# Linear output: a sigmoid must reach 0 and 1 (white pages, saturated primaries) through vanishing gradients; in a
# 3,000-crop A/B on the corpus, linear was ahead by 0.9 dB of validation PSNR. Outputs are clipped when saved.
RECON = dict(in_channels=3, out_channels=3, base=16, depth=4, output="linear")
# The image corpus's training split (corpus.py), colour-augmented and with synthetic images (augment.py); the
# validation split picks the kept epoch, the test sources only score it.
RECON_DATA = dict(dataset="corpus", crop=64, epoch_size=4096, batch_size=16, keep_best=True, augment="colour+synthetic")
EPOCHS_RECON = 16  # 65,536 crops: about 55 min at ~20 img/s on one AVX2 core in fp32 (two runs side by side)
COLOR = dict(in_channels=1, base=16, depth=4)  # L* in; recon-skip's width and depth
COLOR_DATA = dict(dataset="colour-photos", crop=96, epoch_size=1024, batch_size=16, keep_best=True)
# The guided colourisers: L*, a*b* hints, their mask and the nearest-hint fill in (colorize.HINT_CHANNELS); two heads
# out (Zhang 2017): a*b* regression, a correction to the fill (the image), and 222 ab bins (the palette). Trained on
# the corpus's photographs, photo cut-outs and textures (its training split; validation picks the kept epoch and the
# automatic mode's decoding, the test sources only score). No colour augmentation: the colour of things is what they
# learn. Three earlier CPU runs with the bins alone and the sparse hints alone failed (README, Colorize).
GUIDED = dict(COLOR, in_channels=HINT_CHANNELS, out_channels=2 + 222, output="linear")
# At short side 256 (the colouriser's working size) a 64px crop sees as much of a scene as it will at inference,
# and trains about 2x faster than a 96px crop at 384 (10.5 against 5.2 img/s, one core, skip model).
GUIDED_DATA = dict(dataset="corpus-photos", side=256, crop=64, epoch_size=4096, batch_size=16, keep_best=True)
EPOCHS_GUIDED = 16  # 65,536 crops: ~80 min at 12-15 img/s on one AVX2 core (skip and noskip side by side)
LATENT = dict(in_channels=1, image_size=32, base=32, depth=3)  # the VAE/AE shape: 32x32 grey -> 4x4x128 -> z

# The seed article's model: 31,042,499 parameters, grey 96x96 in, RGB out, per-pixel MSE (models/unet.py)
SEED_UNET = dict(in_channels=1, out_channels=3, base=64, depth=4, skips=True, output="sigmoid")
STL10 = os.environ.get("UNETLAB_STL10", "data/stl10_binary/unlabeled_X.bin")  # STL-10's 100,000 unlabeled images
VARIANT = dict(LATENT, latent=16, recon="bce")  # the regularised AEs (models/autoencoders.py): vae-digits' shape
EPOCHS_COLOR = 24  # about 20 min on one core (0.7 s per batch of 16 96px crops, 64 batches an epoch)
EPOCHS_MSE = 15  # the baseline: about 6 min

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe(
            "recon-skip",
            "reconstruct",
            "unet",
            {**RECON, "skips": True},
            epochs=EPOCHS_RECON,
            **RECON_DATA,
            lr=2e-3,
            description="U-Net autoencoder on 64x64 crops of the image corpus, with its contracting path (skips)",
        ),
        Recipe(
            "recon-noskip",
            "reconstruct",
            "unet",
            {**RECON, "skips": False},
            epochs=EPOCHS_RECON,
            **RECON_DATA,
            lr=2e-3,
            description="the same U-Net and data without skips: everything must pass the 1/16-size bottom",
        ),
        Recipe(
            "colorize-skip",
            "colorize",
            "unet",
            {**COLOR, "out_channels": 222, "output": "linear", "skips": True},
            epochs=EPOCHS_COLOR,
            **COLOR_DATA,
            lr=2e-3,
            description="ab bins (222 classes) from L*, class-rebalanced cross-entropy, annealed mean (Zhang 2016)",
        ),
        Recipe(
            "colorize-noskip",
            "colorize",
            "unet",
            {**COLOR, "out_channels": 222, "output": "linear", "skips": False},
            epochs=EPOCHS_COLOR,
            **COLOR_DATA,
            lr=2e-3,
            description="the same colourizer without skips: chroma must pass the 1/16-size bottom",
        ),
        Recipe(
            "colorize-guided-skip",
            "colorize",
            "unet",
            {**GUIDED, "skips": True},
            epochs=EPOCHS_GUIDED,
            **GUIDED_DATA,
            lr=2e-3,
            description="L* + colour hints -> a*b* (Huber, a correction to the nearest-hint fill) and 222 ab bins "
            "(cross-entropy, the palette), Zhang et al. 2017",
        ),
        Recipe(
            "colorize-guided-noskip",
            "colorize",
            "unet",
            {**GUIDED, "skips": False},
            epochs=EPOCHS_GUIDED,
            **GUIDED_DATA,
            lr=2e-3,
            description="the same guided colourizer without skips: its corrections must pass the 1/16-size bottom",
        ),
        Recipe(
            "colorize-mse",
            "colorize",
            "unet",
            {**COLOR, "out_channels": 3, "output": "sigmoid", "skips": True},
            epochs=EPOCHS_MSE,
            **COLOR_DATA,
            lr=2e-3,
            description="the seed's baseline: RGB from grey, per-pixel MSE (same U-Net with skips, shorter budget)",
        ),
        Recipe(
            "vae-digits",
            "vae",
            "vae",
            {**LATENT, "latent": 16, "beta": 1.0, "recon": "bce"},
            "digits",
            epochs=150,
            batch_size=64,
            lr=2e-3,
            description="convolutional VAE on 32x32 digits, 16-D latent, Bernoulli likelihood (BCE), beta = 1",
        ),
        Recipe(
            "vae-digits-2d",
            "vae",
            "vae",
            {**LATENT, "latent": 2, "beta": 1.0, "recon": "bce"},
            "digits",
            epochs=150,
            batch_size=64,
            lr=2e-3,
            description="the same VAE with a 2-D latent: the latent map is the latent space itself",
        ),
        Recipe(
            "ae-digits",
            "latent-ae",
            "ae",
            {**LATENT, "latent": 16, "recon": "bce"},
            "digits",
            epochs=150,
            batch_size=64,
            lr=2e-3,
            description="the plain autoencoder of vae-digits' shape and data: no KL term, so its codes leave holes",
        ),
        Recipe(
            "vae-faces",
            "vae",
            "vae",
            {**LATENT, "latent": 16, "beta": 1.0, "recon": "mse", "sigma": 0.1},
            "faces",
            epochs=120,  # 160 training faces: longer runs overfit (held-out loss 618 at epoch 104, 752 at 600)
            batch_size=32,
            lr=1e-3,
            description="convolutional VAE on 32x32 lfw faces, 16-D latent, Gaussian likelihood (MSE, sigma 0.1)",
        ),
        Recipe(
            "seed-colorize-stl10",
            "colorize",
            "unet",
            SEED_UNET,
            STL10,
            epochs=100,
            batch_size=32,
            lr=1e-3,
            size=96,
            description="the seed article at full size: the 31 M U-Net colourising STL-10's unlabeled 96x96 images",
            data_hint=(
                "download stl10_binary.tar.gz from https://cs.stanford.edu/~acoates/stl10/, unpack it, and set "
                "UNETLAB_STL10=/path/to/stl10_binary/unlabeled_X.bin or pass --dataset /path/to/unlabeled_X.bin"
            ),
        ),
        Recipe(
            "dae-digits",
            "latent-ae",
            "dae",
            {**VARIANT, "noise": "gaussian", "level": 0.3},
            "digits",
            epochs=60,
            batch_size=64,
            lr=2e-3,
            description="denoising AE: digits with Gaussian noise (std 0.3) in, the clean digit out",
        ),
        Recipe(
            "sparse-digits",
            "latent-ae",
            "sparse-ae",
            {**VARIANT, "latent": 64, "l1": 0.1},
            "digits",
            epochs=60,
            batch_size=64,
            lr=2e-3,
            description="sparse AE: a 64-unit ReLU code with an L1 penalty, so few units fire per digit",
        ),
        Recipe(
            "contractive-digits",
            "latent-ae",
            "contractive-ae",
            {**VARIANT, "weight": 1.0},
            "digits",
            epochs=60,
            batch_size=64,
            lr=2e-3,
            description="contractive AE: the code penalised by the squared Frobenius norm of its Jacobian dz/dx",
        ),
        Recipe(
            "vqvae-digits",
            "latent-ae",
            "vq-vae",
            {**VARIANT, "dim": 4, "codebook": 64, "commitment": 0.25},
            "digits",
            epochs=60,
            batch_size=64,
            lr=2e-3,
            description="VQ-VAE: the code is 4 vectors, each snapped to the nearest of 64 codebook vectors",
        ),
    ]
}

# The Diffusion tab: SD's denoiser class (UNet2DConditionModel, cross-attention to class tokens) on digits at
# 16x16. At 32x32 a 3-level U-Net (widths 32/64/64) trained at 28 img/s on one quiet core, against 93 img/s at
# 16x16: too slow for the 40-minute budget. The digits are 8x8 scans, so 16x16 loses none of their detail. That
# 3-level U-Net reached 94.8 % classifier accuracy after 20 epochs; two levels (16 -> 8, attention at 8x8 and in
# the mid block) train about 1.5x faster, and 8 samples x 2 models x 50 guided steps must take about 3 s.
DIFFUSION = dict(image_size=16, widths=[32, 64], layers_per_block=1, heads=4, tokens=4, token_dim=64)
EPOCHS_DIFFUSION = 70  # about 100k images seen; 30-40 min on one shared core
RECIPES |= {
    name: Recipe(
        name,
        "diffusion",
        "diffusion",
        {**DIFFUSION, "prediction_type": prediction},
        "digits",
        epochs=EPOCHS_DIFFUSION,
        batch_size=64,
        lr=2e-3,
        size=16,
        description=f"tiny UNet2DConditionModel (cross-attention to class tokens) on 16x16 digits, {what}",
    )
    for name, prediction, what in (
        ("ddpm-eps", "epsilon", "DDPM predicting the noise epsilon"),
        ("ddpm-x0", "sample", "DDPM predicting the clean image x0"),
    )
}
RECIPES["digits-classifier"] = Recipe(
    "digits-classifier",
    "classifier",
    "classifier",
    {"image_size": 16, "width": 32},
    "digits",
    epochs=40,
    batch_size=64,
    lr=2e-3,
    size=16,
    description="small CNN trained on real 16x16 digits: judges the diffusion models' samples",
)

# The Lab tab's anomaly detectors: the seed's purity net without skips (a plain conv AE with a 16-unit code),
# trained on the digits with one digit left out; that digit's reconstruction error is the anomaly score.
ANOMALY_NET = purity_net(skip=False, bottleneck=True).to_dict()
RECIPES |= {
    f"anomaly-no{c}": Recipe(
        f"anomaly-no{c}",
        "anomaly",
        "unet",
        ANOMALY_NET,
        "digits",
        epochs=30,
        batch_size=32,
        lr=3e-3,
        without_class=c,
        description=f"conv autoencoder (the seed's purity net, no skips, 16-unit code) on digits without {c}s",
    )
    for c in range(10)
}


def get(name: str) -> Recipe:
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; valid: {', '.join(RECIPES)}")
    return RECIPES[name]


ADAPTABLE = ("reconstruct", "anomaly", "vae", "latent-ae")  # tasks whose target is the input: channels can adapt


def load_data(r: Recipe) -> datasets.Data:
    """The recipe's data, fitted to its model's input channels where the task allows (see adapt_channels)."""
    from unetlab.augment import augmenter

    try:
        d = datasets.load(r.dataset, size=r.size, crop=r.crop, epoch_size=r.epoch_size, side=r.side)
    except datasets.DataError as e:
        raise datasets.DataError(f"{e}; {r.data_hint}" if r.data_hint else str(e)) from None
    want = r.config.get("in_channels")
    if r.task == "colorize":  # a colouriser takes the L* of colour data, whatever its input channels
        if d.channels != 3:
            raise datasets.DataError(
                f"{r.name} learns colour from colour images, and {r.dataset} is grey; use photos, "
                "colour-photos, corpus or a folder of colour images"
            )
    elif want and d.channels != want:
        if r.task not in ADAPTABLE:
            raise datasets.DataError(
                f"{r.name}'s model takes {want}-channel images and {r.dataset} has "
                f"{d.channels}; this task cannot adapt them"
            )
        d = datasets.adapt_channels(d, want)
    d.augment = augmenter(r.augment)
    return d if r.without_class is None else datasets.without_class(d, r.without_class)


def build_model(r: Recipe) -> torch.nn.Module:
    torch.manual_seed(r.seed)  # the same seed gives the same initial weights
    return registry.build(r.model, r.config)


LATENT_TASKS = ("vae", "latent-ae")  # trained with models.vae.ELBO; the Latent tab lists them
CLASSIFIER = "digits-classifier"  # judges the diffusion models' samples (sample_accuracy in their cards)


def loss_name(r: Recipe) -> str:
    """The loss as the card names it."""
    if r.task == "colorize" and r.config.get("in_channels") == HINT_CHANNELS:
        return (
            "Huber on a*b* (the regression head, a correction to the nearest-hint fill) + cross-entropy over "
            f"{r.config['out_channels'] - 2} ab bins; hints from the true colours (Zhang et al. 2017)"
        )
    if r.task == "colorize" and r.config.get("out_channels") != 3:
        return f"class-rebalanced cross-entropy over {r.config['out_channels']} ab bins (Zhang et al. 2016, lambda 0.5)"
    if r.task == "diffusion":
        if r.config.get("prediction_type") == "sample":
            return "MSE on x0 (not SNR-weighted), 10% null prompts"
        return "MSE on epsilon, 10% null prompts"
    if r.task == "classifier":
        return "cross-entropy"
    if r.task not in LATENT_TASKS:
        return "MSE"
    c = r.config
    recon = "BCE" if c.get("recon", "bce") == "bce" else f"squared error / 2 sigma^2 (sigma {c.get('sigma', 0.1)})"
    if r.model == "dae":
        recon += f" of the clean image from a corrupted one ({c.get('noise')} noise, level {c.get('level'):g})"
    penalty = ""
    if r.model == "vae":
        penalty = f" + {c.get('beta', 1.0):g} * KL"
    elif r.model == "sparse-ae":
        penalty = f" + {c.get('l1'):g} * L1 of the code"
    elif r.model == "contractive-ae":
        penalty = f" + {c.get('weight'):g} * ||dz/dx||_F^2"
    elif r.model == "vq-vae":
        penalty = f" + codebook ||sg[z] - q||^2 + {c.get('commitment'):g} * commitment ||z - sg[q]||^2"
    return f"{recon}{penalty}, summed per image, nats"


def class_weights(r: Recipe, data: datasets.Data) -> torch.Tensor | None:
    """A bin colouriser's class-rebalancing weights, from its training photos (Zhang et al. 2016); None for the
    guided colourisers, which train with plain cross-entropy: with rebalancing (lambda 0.5) the first run's skip
    model cast yellow over every image (validation a*b* error 1.80x the grey image's)."""
    from unetlab.colorize import rebalance_weights

    if r.config.get("in_channels") == HINT_CHANNELS:
        return None
    photos = [
        t.permute(1, 2, 0).numpy()
        if t.dtype == torch.uint8
        else (t.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        for t in data.train
    ]
    return rebalance_weights(photos)


def objective(r: Recipe, data: datasets.Data) -> Objective:
    """The loss a recipe trains with, chosen by its task (the colouriser's class weights come from its data)."""
    if r.task in LATENT_TASKS:
        from unetlab.models.vae import ELBO

        return ELBO(loss_name(r))
    if r.task == "diffusion":
        from unetlab.diffusion import Denoise

        return Denoise()
    if r.task == "classifier":
        from unetlab.models.classifier import Classify

        return Classify()
    if r.task == "colorize":
        from unetlab.colorize import Colorize

        if r.config.get("out_channels") == 3:
            return Colorize("rgb", seed=r.seed)
        if r.config.get("out_channels") == 2 + bins().count:
            return Colorize("ab+bins", seed=r.seed)
        return Colorize("classify", class_weights(r, data), seed=r.seed)
    return Reconstruct()


def run(
    r: Recipe,
    data: datasets.Data | None = None,
    model: torch.nn.Module | None = None,
    stop: Callable[[], bool] | None = None,
    accelerator=None,
) -> Iterator[Report]:
    """The recipe's training as the loop's generator (the model is trained in place)."""
    data = data or load_data(r)
    model = model or build_model(r)
    reports = train(
        model,
        data,
        epochs=r.epochs,
        batch_size=r.batch_size,
        lr=r.lr,
        seed=r.seed,
        fast=r.fast,
        objective=objective(r, data),
        stop=stop,
        accelerator=accelerator,
    )
    return keep_best(reports, model) if r.keep_best else reports


def keep_best(reports: Iterator[Report], model: torch.nn.Module) -> Iterator[Report]:
    """Pass the reports on; when they end, put back the weights of the epoch with the lowest held-out loss
    (early stopping without stopping: the curve stays whole, the card says which epoch was kept)."""
    best, state = float("inf"), None
    for report in reports:
        if report.test_loss < best:
            best, state = report.test_loss, {k: v.detach().clone() for k, v in model.state_dict().items()}
        yield report
    if state is not None:
        model.load_state_dict(state)


def kept(r: Recipe, history: list[dict]) -> dict:
    """The history row whose weights were saved: the best held-out loss (keep_best) or the last epoch."""
    if not history:
        return {}
    return min(history, key=lambda h: h["test_loss"]) if r.keep_best else history[-1]


def evaluate(r: Recipe, model: torch.nn.Module, data: datasets.Data) -> dict:
    """The card's metrics. Photo reconstruction: full-resolution PSNR/SSIM on the held-out photos.
    VAE / AE: held-out ELBO and its two terms, reconstruction MSE and PSNR (see latent.heldout_metrics)."""
    model.eval()
    out: dict = {}
    if r.task in LATENT_TASKS:
        from unetlab.latent import heldout_metrics

        out |= heldout_metrics(model, data.test)
    if r.task == "classifier":
        from unetlab.models.classifier import predict

        hit = (predict(model, data.test) == data.test_labels).float()
        out["heldout_accuracy"] = round(hit.mean().item(), 4)
        out["heldout_accuracy_per_class"] = [round(hit[data.test_labels == c].mean().item(), 3) for c in range(10)]
    if r.task == "diffusion":
        from unetlab.diffusion import sample_metrics

        judge = registry.default().load(CLASSIFIER)
        out |= sample_metrics(model, judge, data.test)
        out["classifier"] = CLASSIFIER
    if r.task == "anomaly":
        from unetlab.lab import anomaly_metrics

        out |= anomaly_metrics(model, r.without_class)
    if r.task == "colorize" and r.dataset in ("photos", "colour-photos", *datasets.CORPUS_SETS):
        from unetlab.colorize import choose_decode, heldout_metrics, kind, test_report

        decode = None
        if r.dataset in datasets.CORPUS_SETS and kind(model) in ("classify", "ab+bins"):  # decoding: on validation
            val = datasets.corpus_test(kinds=PHOTO_KINDS, split="val")
            photos = [img for group in val.values() for img in group.values()]
            decode, table = choose_decode(model, photos, class_weights(r, data))
            out["decode"] = decode.to_card() | {
                "chosen_on": f"automatic mode, {len(photos)} validation photos (corpus-photos, "
                f"{datasets.TEST_PER_SOURCE} per source)",
                "table": table,
            }
        out |= heldout_metrics(model, datasets.photo_arrays(held_out=True), decode)
        if r.dataset in datasets.CORPUS_SETS:  # the test sources' photographs, cut-outs and textures, full size
            out["test_split"] = test_report(model, datasets.corpus_test(kinds=PHOTO_KINDS), decode=decode)
    if r.task == "reconstruct" and r.dataset in ("photos", *datasets.CORPUS_SETS) and not data.adapted:
        scores = {name: score(model, img) for name, img in datasets.photo_arrays(held_out=True).items()}
        out["heldout"] = scores
        out["heldout_psnr"] = round(float(np.mean([s["psnr"] for s in scores.values()])), 3)
        out["heldout_ssim"] = round(float(np.mean([s["ssim"] for s in scores.values()])), 4)
        if r.dataset in datasets.CORPUS_SETS:  # whole sources no recipe trains on (corpus.py), at full size
            out["test_split"] = heldout_report(model, datasets.corpus_test())
    return out


def card(r: Recipe, model: torch.nn.Module, data: datasets.Data, history: list[dict], seconds: float) -> dict:
    from unetlab.models.unet import count_parameters

    data_info = {"dataset": r.dataset, "train_samples_per_epoch": len(data), "test_samples": len(data.test)}
    if r.without_class is not None:
        data_info["without_class"] = r.without_class
    if r.dataset == "photos":
        data_info |= {
            "train_photos": sorted(datasets.photo_arrays()),
            "held_out": list(datasets.HELDOUT_PHOTOS),
            "crop": r.crop,
            "flips": "left-right, p=0.5",
        }
    if data.adapted:
        data_info["adapted"] = data.adapted
    if r.augment:
        data_info["augment"] = r.augment
    if r.dataset in datasets.CORPUS_SETS:
        from unetlab import corpus

        data_info |= {
            "kinds": datasets.CORPUS_SETS[r.dataset] or "all",
            "manifest": {"file": "unetlab/corpus.json", "sha256": registry.sha256(corpus.MANIFEST)},
            "split": "train: the training split of every train source, drawn 1/sqrt(source size) per image; "
            "validation (kept epoch): a fixed tenth of those sources; test (scores only): whole sources",
            "scale": f"short side <= {r.side}; validation tiles at short side <= {datasets.VAL_SIDE}",
            "crop": r.crop,
            "flips": "left-right, p=0.5",
            "held_out": list(datasets.HELDOUT_PHOTOS),
            "sources": corpus.credits()
            + [
                {
                    "source": corpus.PACKAGED,
                    "package": "scikit-image, scikit-learn (PyPI)",
                    "split": "train",
                    "files": {"train": 9},
                    "licence": "see skimage.data / sklearn sample images",
                    "author": "astronaut: NASA; china, flower: CC-BY-2.0; others as shipped",
                }
            ],
        }
    if r.dataset == "colour-photos":
        from unetlab import photo_sources

        fetched = [n for n in photo_sources.PHOTOS if n not in datasets.VALIDATION_PHOTOS]
        data_info |= {
            "train_photos": list(datasets.NATURAL_PHOTOS) + fetched,
            "validation_photos": list(datasets.VALIDATION_PHOTOS),
            "held_out": list(datasets.HELDOUT_PHOTOS),
            "scales": f"each photo resized to short side {' and '.join(map(str, datasets.COLOUR_SCALES))}",
            "crop": r.crop,
            "flips": "left-right, p=0.5",
            "sources": {
                "skimage.data": "astronaut (NASA, public domain), rocket (SpaceX launch photo), "
                "stereo_motorcycle left and right (Middlebury 2014 stereo benchmark), as shipped in scikit-image",
                "sklearn.datasets.load_sample_images": "china.jpg, flower.jpg (CC-BY-2.0, as shipped in scikit-learn)",
                "debian": photo_sources.credits(list(photo_sources.PHOTOS)),
            },
        }
    hyper = {k: v for k, v in asdict(r).items() if k in ("epochs", "batch_size", "lr", "fast")}
    return {
        "name": r.name,
        "task": r.task,
        "model": r.model,
        "config": dict(model.config.to_dict()) if hasattr(model, "config") else r.config,
        "params": count_parameters(model),
        "description": r.description,
        "recipe": r.name,
        "command": r.command,
        "overrides": r.overrides,
        "data": data_info,
        "seed": r.seed,
        "hyper": hyper | {"optimizer": "AdamW, warm-up + cosine", "loss": loss_name(r)},
        "metrics": {},
        "history": history,
        "train_seconds": round(seconds, 1),
        "environment": registry.environment(),
        "created": time.strftime("%Y-%m-%d"),
    }


def finish(r: Recipe, model, data, history: list[dict], seconds: float, out_dir: Path) -> Path:
    """Save weights + card, fill the card's metrics from the saved (reloaded) weights, then move both into out_dir.
    A run that trained no epoch, whose kept epoch's held-out loss is not finite (it diverged), or whose evaluation
    fails, writes nothing."""
    if not history:
        raise ValueError(f"{r.name}: no epoch was trained; nothing was written")
    loss = kept(r, history)["test_loss"]
    if not math.isfinite(loss):
        raise registry.WeightsError(
            f"{r.name}: the held-out loss is {loss} (the run diverged; a lower --lr may help); nothing was written"
        )
    c = card(r, model, data, history, seconds)
    # staged beside out_dir's files and evaluated there: a crash in the evaluation replaces nothing
    stage = Path(tempfile.mkdtemp(prefix=f".{r.name}-staging-", dir=registry.writable_dir(out_dir)))
    try:
        path = registry.save(model, c, stage, dtype=getattr(torch, r.dtype))
        return registry.publish(fill_metrics(r, path, data), out_dir)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def fill_metrics(r: Recipe, path: Path, data: datasets.Data) -> Path:
    """The card's metrics (and a colouriser's decoding) from the saved weights and the card's history: the last
    step of every training, and what refreshes the figures of saved weights when the evaluation changes."""
    entry = registry.read_card(path)
    last = kept(r, entry.card.get("history", []))
    held = {"test_psnr": last.get("psnr"), "test_loss": last.get("test_loss")}
    if r.keep_best:
        held["kept_epoch"] = last.get("epoch")
    if r.task == "classifier":  # its 'PSNR' would be of the 0/1 error rate: meaningless
        del held["test_psnr"]
    metrics = evaluate(r, registry.load_entry(entry), data)
    decode = metrics.pop("decode", None)  # a colouriser's decoding, chosen on validation: the app reads it
    c = {k: v for k, v in entry.card.items() if k != "decode"} | {"metrics": held | metrics}
    return registry.write_card(path, c | ({"decode": decode} if decode else {}))
