"""Decode and validate uploads (the one validator every tab and the CLI use), padding, grids and heat maps.

Images travel as uint8 numpy arrays (H, W, 3) or (H, W) between here and the UI; tensors only inside models.
"""

from __future__ import annotations

import io
import re
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from unetlab.settings import Settings

MAX_PIXELS = Settings.max_pixels  # the default limit (the app passes its setting, UNETLAB_MAX_PIXELS)
MIN_SIDE = 16  # smaller images carry too little to reconstruct, and the U-Net pools 4 times
MAX_ASPECT = 50  # long thin strips are refused: the U-Net would see mostly padding

# Our MAX_PIXELS check is stricter than Pillow's warning threshold, so its warning adds nothing.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class ImageError(ValueError):
    """An upload that cannot be used; the message is shown to the user as is."""


def load_image(
    source: str | Path | bytes, mode: Literal["RGB", "L"] = "RGB", name: str = "", max_pixels: int = MAX_PIXELS
) -> np.ndarray:
    """Decode one upload into uint8 (H, W, 3) for mode RGB or (H, W) for mode L, or raise ImageError.

    Handles EXIF rotation, alpha (composited on white), palettes, 16-bit and float images, CMYK and animated
    files (first frame). Refuses empty, undecodable, tiny, extreme-strip and decompression-bomb files.
    name: what messages call the file (default: its file name, or "upload" for bytes); max_pixels: the largest
    image accepted, checked from the header before decoding.
    """
    name = name or ("upload" if isinstance(source, bytes) else Path(source).name)
    limit = max_pixels
    if isinstance(source, bytes):
        if not source:
            raise ImageError("the file is empty (0 bytes)")
        source = io.BytesIO(source)
    elif not Path(source).is_file():
        raise ImageError(f"{name}: no such file")
    elif Path(source).stat().st_size == 0:
        raise ImageError(f"{name} is empty (0 bytes)")
    # exact pixel counts: rounded to Mpx, 4000x4001 (16,004,000) and the 16,000,000 limit both read "16 Mpx"
    too_big = f"the limit is {limit:,} pixels ({limit / 1e6:g} Mpx). Downscale it first."
    try:
        im = Image.open(source)
        w, h = im.size  # read from the header: nothing is decoded yet
        if w * h > limit:
            raise ImageError(f"{name} is {w}x{h} = {w * h:,} pixels ({w * h / 1e6:g} Mpx); {too_big}")
        im.seek(0)  # animated GIF/WebP/APNG: the first frame
        ImageOps.exif_transpose(im, in_place=True)  # decodes; in place: a copy would cost 4 more bytes per pixel
    except ImageError:
        raise
    except Image.DecompressionBombError as e:  # Pillow refuses > 2x its own limit inside open()
        pixels = re.search(r"\((\d+) pixels\)", str(e))
        n = int(pixels.group(1)) if pixels else 0
        size = f"{n:,} pixels ({n / 1e6:g} Mpx)" if pixels else "too large"
        raise ImageError(f"{name} is {size}; {too_big}") from None
    except UnidentifiedImageError:
        raise ImageError(f"{name} is not an image this app can read (PNG, JPEG, WebP, GIF, BMP, TIFF)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"{name} could not be decoded ({e}); is the file truncated?") from None
    w, h = im.size
    if min(w, h) < MIN_SIDE:
        raise ImageError(f"{name} is {w}x{h}; both sides must be at least {MIN_SIDE} px")
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise ImageError(f"{name} is {w}x{h}, a strip; the long side may be at most {MAX_ASPECT}x the short side")
    return np.asarray(_convert(im, mode))


def from_array(img: np.ndarray, mode: Literal["RGB", "L"] = "RGB") -> np.ndarray:
    """An array another component made (a drawing: RGBA with transparent background) -> uint8 RGB or L, alpha
    composited on white, the same conversions as load_image."""
    a = np.asarray(img)
    if a.dtype != np.uint8:
        a = np.clip(a.astype(np.float64) * (255 if a.max() <= 1 else 1) + 0.5, 0, 255).astype(np.uint8)
    return np.asarray(_convert(Image.fromarray(a), mode))


def _convert(im: Image.Image, mode: str) -> Image.Image:
    """Any PIL mode -> 8-bit RGB or L, the way a viewer would show it."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit / 32-bit greys: rescale, don't clip
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        if im.mode == "F":
            top = max(float(a.max()), 1.0) if a.max() > 1 else 1.0
        im = Image.fromarray(np.clip(a / top * 255 + 0.5, 0, 255).astype(np.uint8), "L")
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, im)
    return im if im.mode == mode else im.convert(mode)  # CMYK, YCbCr, 1, ... -> RGB or L (convert would copy)


def luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma Y = 0.299 R + 0.587 G + 0.114 B, the seed's grey; uint8 (H, W, 3) -> uint8 (H, W)."""
    y = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.clip(y + 0.5, 0, 255).astype(np.uint8)


def to_float(img: np.ndarray) -> np.ndarray:
    """uint8 (H, W[, C]) -> float32 (C, H, W) in [0, 1]."""
    a = img.astype(np.float32) / 255
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """float (C, H, W) in [0, 1] -> uint8 (H, W, C), or (H, W) for one channel."""
    a = np.clip(np.asarray(x, dtype=np.float32) * 255 + 0.5, 0, 255).astype(np.uint8)
    return a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)


def pad_to_multiple(x: np.ndarray, m: int) -> np.ndarray:
    """Reflect-pad (C, H, W) on the bottom/right so H and W are multiples of m; crop back with [..., :h, :w]."""
    h, w = x.shape[-2:]
    ph, pw = -h % m, -w % m
    if not (ph or pw):
        return x
    mode = "reflect" if ph < h and pw < w else "edge"
    return np.pad(x, ((0, 0), (0, ph), (0, pw)), mode=mode)


def grid(rows: list[np.ndarray], pad: int = 2) -> np.ndarray:
    """Stack batches side by side: rows[k] is (N, C, H, W) in [0, 1]; row i of the grid shows sample i of each.

    Returns uint8 (N*(H+pad)-pad, K*(W+pad)-pad, 3) on a white background (grey images become RGB).
    """
    rows = [np.repeat(r, 3, axis=1) if r.shape[1] == 1 else r for r in rows]
    n, _, h, w = rows[0].shape
    out = np.ones((3, n * (h + pad) - pad, len(rows) * (w + pad) - pad), dtype=np.float32)
    for j, r in enumerate(rows):
        for i in range(n):
            out[:, i * (h + pad) : i * (h + pad) + h, j * (w + pad) : j * (w + pad) + w] = r[i]
    return to_uint8(out)


# Anchors of matplotlib's "inferno" colormap, enough to draw a perceptually ordered heat map without matplotlib.
_INFERNO = np.array(
    [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39],
     [252, 255, 164]],
    dtype=np.float32,
)  # fmt: skip


def heat_map(err: np.ndarray, vmax: float) -> np.ndarray:
    """Absolute error (H, W) -> uint8 RGB (H, W, 3), 0 black ... vmax and above pale yellow (inferno)."""
    t = np.clip(err / max(vmax, 1e-8), 0, 1) * (len(_INFERNO) - 1)
    i = np.minimum(t.astype(int), len(_INFERNO) - 2)
    f = (t - i)[..., None]
    return (_INFERNO[i] * (1 - f) + _INFERNO[i + 1] * f + 0.5).astype(np.uint8)


def enlarge(img: np.ndarray, factor: int) -> np.ndarray:
    """uint8 (H, W[, C]) -> (factor*H, factor*W[, C]), each pixel a factor x factor block (exact, for display)."""
    return img.repeat(factor, axis=0).repeat(factor, axis=1)


def downscale_to(img: np.ndarray, max_pixels: int) -> np.ndarray:
    """uint8 (H, W[, C]) shrunk (Lanczos, aspect kept) to at most max_pixels; returned as is if already small."""
    h, w = img.shape[:2]
    if h * w <= max_pixels:
        return img
    scale = (max_pixels / (h * w)) ** 0.5
    size = (max(1, int(w * scale)), max(1, int(h * scale)))
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.LANCZOS))


PNG_LEVEL = 1  # zlib level: lossless either way; at 1024x1024, level 1 wrote in a fraction of PIL's default (6)


def save_png(img: np.ndarray, path: str | Path) -> None:
    """Write uint8 (H, W[, 3]) losslessly, with fast compression."""
    Image.fromarray(img).save(path, format="PNG", compress_level=PNG_LEVEL)
