"""Colourisation with the U-Net: chroma (CIE Lab a*b*) predicted from luminance (L*), at any upload size.

The model sees only L* at a working resolution (short side <= 256); its chroma is upsampled and recombined with
the upload's own full-resolution L*, so edges stay as sharp as the upload's. Two ways to predict chroma:

- classification over quantised ab bins with class rebalancing and annealed-mean decoding (Zhang, Isola & Efros
  2016, "Colorful Image Colorization"): a distribution per pixel, so rare saturated colours are not averaged away;
- the seed's regression: RGB out, per-pixel MSE, which averages plausible colours into brown/grey.

User guidance (Zhang, Zhu et al. 2017, "Real-Time User-Guided Image Colorization with Learned Deep Priors"): a model
with HINT_CHANNELS inputs also takes a sparse a*b* hint map, its mask and the nearest-hint fill; with two heads it
regresses a*b* as a correction to that fill and gives a distribution over the ab bins (the palette). It is trained
with hints drawn from the true colours (a geometric number of small patches, none one time in eight), so with no
hints it is the automatic colouriser, and with a few it corrects their fill (towards the edges of L*). At inference the
card may give it an edge-aware fill instead (a compact watershed from the hints on L*'s gradient), chosen on validation.

The Lab conversions are torch, vectorised, D65 (the same formulas as skimage.color, tested against it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unetlab import images, metrics
from unetlab.hardware import bf16_pays

WORKING_SIDE = 256  # the model runs with its short side at most this
MAX_WORKING_LONG = 1024  # ... and its long side at most this (huge or strip-like uploads)
STRIP = 1 << 20  # the full-resolution steps run in strips of about this many pixels: their float temporaries
# (tens of bytes per pixel) then stay ~100 MB, and a 40 Mpx upload's peak fell from 49 to ~15 bytes per pixel
BIN = 10.0  # ab bin width (Zhang et al. use 10)
AB_RANGE = 110.0  # bins cover [-110, 110) on a and b: a 22 x 22 grid, of which the in-gamut cells are classes
TEMPERATURE = 0.38  # annealed mean, Zhang et al. sec. 2.3
# Pixels per step of the annealed mean. At 256x384 against the bf16 softmax over the whole map (medians of 10,
# interleaved): 29 vs 39 ms on two threads in a worker thread (as the server runs it), 56 vs 67 ms on one thread.
# Chunks of 1024 were faster on one thread (48 ms) but slower on two (65 ms: many small parallel regions).
ANNEAL_CHUNK = 8192
REBALANCE_LAMBDA = 0.5  # mix of the smoothed empirical prior and the uniform one, Zhang et al. eq. 4
PRIOR_SIGMA = 5.0  # Gaussian smoothing of the empirical ab prior, in ab units

# --- sRGB <-> CIE Lab (D65), torch, channels at dim -3 ----------------------------------------------------------

_RGB2XYZ = torch.tensor(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)  # skimage.color's sRGB -> XYZ matrix
_XYZ2RGB = torch.linalg.inv(_RGB2XYZ.double()).float()
_WHITE = torch.tensor([0.95047, 1.0, 1.08883])  # D65, 2 degree observer (skimage's default)
_EPS = 216 / 24389  # CIE: (6/29)^3
_KAPPA = 24389 / 27


def _mix(m: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(3, 3) @ the channel axis of (..., 3, H, W), elementwise so autocast keeps it fp32."""
    c = x.unbind(-3)
    return torch.stack([m[i, 0] * c[0] + m[i, 1] * c[1] + m[i, 2] * c[2] for i in range(3)], dim=-3)


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x > 0.04045, ((x.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4, x / 12.92)  # IEC 61966-2-1


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    return torch.where(x > 0.0031308, 1.055 * x.clamp(min=0.0031308) ** (1 / 2.4) - 0.055, 12.92 * x)


def _f(t: torch.Tensor) -> torch.Tensor:
    return torch.where(t > _EPS, t.clamp(min=_EPS) ** (1 / 3), (_KAPPA * t + 16) / 116)  # CIE 1976 L*a*b*


def _f_inv(t: torch.Tensor) -> torch.Tensor:
    t3 = t * t * t
    return torch.where(t3 > _EPS, t3, (116 * t - 16) / _KAPPA)


def lightness(y: torch.Tensor) -> torch.Tensor:
    """Relative luminance Y in [0, 1] -> L* in [0, 100]."""
    return 116 * _f(y) - 16


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1], (..., 3, H, W) -> L*a*b* (..., 3, H, W): L in [0, 100], a, b about [-110, 110]."""
    with torch.autocast("cpu", enabled=False):
        xyz = _mix(_RGB2XYZ, srgb_to_linear(rgb.float())) / _WHITE[:, None, None].to(rgb.device)
        fx, fy, fz = _f(xyz).unbind(-3)
        return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], dim=-3)


def lab_to_linear(lab: torch.Tensor) -> torch.Tensor:
    """L*a*b* -> linear RGB, unclipped (out-of-gamut colours fall outside [0, 1])."""
    with torch.autocast("cpu", enabled=False):
        L, a, b = lab.float().unbind(-3)
        fy = (L + 16) / 116
        f = torch.stack([fy + a / 500, fy, fy - b / 200], dim=-3)
        return _mix(_XYZ2RGB, _f_inv(f) * _WHITE[:, None, None].to(lab.device))


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """L*a*b* -> sRGB in [0, 1] (clipped to the gamut)."""
    return linear_to_srgb(lab_to_linear(lab).clamp(0, 1))


# --- ab bins: quantisation, soft encoding, class rebalancing, annealed mean -------------------------------------


@dataclass(frozen=True)
class Bins:
    centres: torch.Tensor  # (Q, 2) ab centre of each in-gamut bin
    lut: torch.Tensor  # (G*G,) grid cell -> class (out-of-gamut cells map to the nearest in-gamut class)
    side: int  # G, cells per axis

    @property
    def count(self) -> int:
        return len(self.centres)

    def cell(self, ab: torch.Tensor) -> torch.Tensor:
        """ab (..., 2, H, W) -> the hard class of each pixel (..., H, W)."""
        i = ((ab + AB_RANGE) / BIN).floor().long().clamp(0, self.side - 1)
        return self.lut[i[..., 0, :, :] * self.side + i[..., 1, :, :]]

    def encode(self, ab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Soft encoding: each pixel's ab spread bilinearly over its 4 nearest bin centres.

        ab (B, 2, H, W) -> classes (B, 4, H, W) and weights (B, 4, H, W) summing to 1 (Zhang et al. use 5 nearest
        neighbours with a Gaussian; bilinear weights on the grid are the same idea at a fraction of the cost).
        """
        g = ((ab + AB_RANGE) / BIN - 0.5).clamp(0, self.side - 1 - 1e-4)  # grid coordinates of the centres
        i0 = g.floor().long()
        t = g - i0  # (B, 2, H, W) in [0, 1)
        classes, weights = [], []
        for da in (0, 1):
            for db in (0, 1):
                ia = (i0[:, 0] + da).clamp(max=self.side - 1)
                ib = (i0[:, 1] + db).clamp(max=self.side - 1)
                classes.append(self.lut[ia * self.side + ib])
                wa = t[:, 0] if da else 1 - t[:, 0]
                wb = t[:, 1] if db else 1 - t[:, 1]
                weights.append(wa * wb)
        return torch.stack(classes, 1), torch.stack(weights, 1)

    def annealed_mean(self, logits: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
        """logits (B, Q, H, W) -> ab (B, 2, H, W): the mean of the re-sharpened distribution f_T(z) ∝ exp(log z / T)
        (Zhang et al. eq. 5). T -> 0 is the mode (vivid, patchy), T = 1 the mean (smooth, desaturated)."""
        # In float32, ANNEAL_CHUNK pixels at a time: exp(z / T - max), then one product with [centres | 1] gives the
        # weighted sum and the normaliser together. Faster than a bf16 softmax and a product over the whole map (a
        # colourisation's costliest step), and exact to float32.
        B, Q, H, W = logits.shape
        z = logits.permute(0, 2, 3, 1).reshape(-1, Q)  # (B*H*W, Q): free for a channels_last model's logits
        weights = torch.cat([self.centres, torch.ones(Q, 1)], 1)  # (Q, 3)
        parts = []
        for i in range(0, len(z), ANNEAL_CHUNK):
            e = z[i : i + ANNEAL_CHUNK].float() * (1 / temperature)
            parts.append(e.sub_(e.detach().amax(-1, keepdim=True)).exp_() @ weights)  # a shift: no gradient
        sums = torch.cat(parts)  # (B*H*W, 3)
        return (sums[:, :2] / sums[:, 2:]).reshape(B, H, W, 2).permute(0, 3, 1, 2)  # (B, 2, H, W)


@lru_cache(maxsize=1)
@torch.inference_mode(False)  # first built inside colorize() or in training: either way, usable by both
def bins() -> Bins:
    """The 22 x 22 ab grid, keeping the cells whose centre is displayable in sRGB at some lightness."""
    side = int(2 * AB_RANGE / BIN)
    c = (torch.arange(side) + 0.5) * BIN - AB_RANGE
    grid_ab = torch.stack(torch.meshgrid(c, c, indexing="ij"), -1).reshape(-1, 2)  # (G*G, 2)
    L = torch.linspace(1, 99, 99)
    lab = torch.stack(
        [L[:, None].expand(-1, len(grid_ab)), *grid_ab.T[:, None].expand(-1, len(L), -1)], 0
    )  # (3, 99, G*G)
    rgb = lab_to_linear(lab)
    in_gamut = ((rgb >= -1e-3) & (rgb <= 1 + 1e-3)).all(0).any(0)  # (G*G,)
    centres = grid_ab[in_gamut]
    lut = torch.cdist(grid_ab, centres).argmin(1)
    return Bins(centres, lut, side)


def rebalance_weights(photos: list[np.ndarray], lam: float = REBALANCE_LAMBDA) -> torch.Tensor:
    """Per-class loss weights w ∝ ((1 - λ) p~ + λ / Q)^-1, normalised so that E_p~[w] = 1 (Zhang et al. eq. 4).

    p~ is the empirical ab distribution of the training photos, smoothed with a Gaussian of PRIOR_SIGMA."""
    b = bins()
    counts = torch.zeros(b.side * b.side)
    for img in photos:
        lab = rgb_to_lab(torch.from_numpy(images.to_float(img)))
        i = ((lab[1:] + AB_RANGE) / BIN).floor().long().clamp(0, b.side - 1)
        counts += torch.bincount((i[0] * b.side + i[1]).flatten(), minlength=b.side * b.side).float()
    s = PRIOR_SIGMA / BIN
    k = torch.exp(-0.5 * (torch.arange(-3, 4) / s) ** 2)
    k = (k / k.sum())[None, None]
    grid = counts.view(1, 1, b.side, b.side)
    grid = F.conv2d(F.conv2d(grid, k[..., None], padding=(3, 0)), k[:, :, None], padding=(0, 3))
    p = torch.zeros(b.count).index_add_(0, b.lut, grid.flatten())  # out-of-gamut mass to its nearest class
    p = p / p.sum()
    w = 1 / ((1 - lam) * p + lam / b.count)
    return w / (p * w).sum()


@dataclass(frozen=True)
class Decode:
    """How a bin classifier's logits become a*b* (and, for a guided model with hints, which fill it is given and how
    its two heads are mixed): the annealed mean at `temperature` of the distribution whose logits are shifted by
    `offset` (Q,). Training with class rebalancing makes the model predict q ∝ w p (w the class weights); offset =
    -alpha log w undoes that share of it, so alpha = 1 decodes the calibrated p (a negative alpha applies rebalancing
    to a model trained without it). All are chosen on the validation split after training (choose_decode,
    choose_hints_decode) and kept in the card; the default is Zhang 2016's."""

    temperature: float = TEMPERATURE
    alpha: float = 0.0
    offset: torch.Tensor | None = None
    head: str = "ab"  # a two-headed model's automatic mode: its regression ("ab") or its bins' annealed mean ("bins")
    # A two-headed model with hints: the regression head's share of the colours; the rest is the bins' annealed mean at
    # hints_temperature (of the logits as trained: no offset). Chosen on validation with hints (choose_hints_decode).
    hints_mix: float = 1.0
    hints_temperature: float = TEMPERATURE
    # A guided model's fill input with hints: "nearest" (what it was trained with) or "edges" (edge_hint_ab), chosen on
    # validation with the mix. The model corrects whichever it is given.
    fill: str = "nearest"

    def __post_init__(self):
        if self.head not in ("ab", "bins"):
            raise ValueError(f"a decode head must be 'ab' or 'bins', not {self.head!r}")
        if not 0 <= self.hints_mix <= 1:
            raise ValueError(f"a decode's hints_mix must be in [0, 1], not {self.hints_mix}")
        if self.fill not in FILLS:
            raise ValueError(f"a decode's fill must be one of {', '.join(FILLS)}; not {self.fill!r}")
        if self.offset is not None and len(self.offset) != bins().count:
            raise ValueError(f"a decode offset has {len(self.offset)} values, not one per bin ({bins().count})")

    def logits(self, y: torch.Tensor) -> torch.Tensor:
        return y if self.offset is None else y + self.offset.to(y.dtype).view(1, -1, 1, 1)

    def ab(self, y: torch.Tensor) -> torch.Tensor:
        return bins().annealed_mean(self.logits(y), self.temperature)

    def hinted_ab(self, fill: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """A two-headed model's colours with hints: its regression (a correction to `fill`), mixed with its bins'
        annealed mean as hints_mix says. y: its output (B, 2 + Q, H, W)."""
        ab = fill + y[:, :2].float() * AB_RANGE
        if self.hints_mix == 1:
            return ab
        return self.hints_mix * ab + (1 - self.hints_mix) * bins().annealed_mean(y[:, 2:], self.hints_temperature)

    @classmethod
    def from_card(cls, card: dict | None) -> Decode:
        d = (card or {}).get("decode") or {}
        return cls(
            temperature=float(d.get("temperature", TEMPERATURE)),
            alpha=float(d.get("alpha", 0.0)),
            offset=torch.tensor(d["offset"], dtype=torch.float32) if d.get("offset") else None,
            head=d.get("head", "ab"),
            hints_mix=float(d.get("hints_mix", 1.0)),
            hints_temperature=float(d.get("hints_temperature", TEMPERATURE)),
            fill=d.get("fill", "nearest"),
        )

    @classmethod
    def undoing(cls, weights: torch.Tensor | None, alpha: float, temperature: float, head: str = "bins") -> Decode:
        offset = None if alpha == 0 or weights is None else (-alpha * weights.log()).float()
        return cls(temperature, alpha, offset, head)

    def to_card(self) -> dict:
        out = {"temperature": self.temperature, "alpha": self.alpha, "head": self.head}
        if self.hints_mix != 1.0:
            out |= {"hints_mix": self.hints_mix, "hints_temperature": self.hints_temperature}
        if self.fill != "nearest":
            out["fill"] = self.fill
        if self.offset is not None:
            out["offset"] = [round(v, 5) for v in self.offset.tolist()]
        return out


# --- what the training loop optimises ---------------------------------------------------------------------------


# A guided model's input: L*/100; a*/AB_RANGE and b*/AB_RANGE where hinted (else 0); the mask; and the nearest-hint
# fill (every pixel the a*b* of its nearest hint, the non-learned baseline) / AB_RANGE. A two-headed model's regression
# head predicts a correction to that fill: it starts where the baseline is and learns where colours stop (edges of
# L*) and what colours things have. In an 8,192-crop A/B from the sparse map alone, 16 hints barely moved its colours.
HINT_CHANNELS = 6
# Hints per training crop ~ Geometric(p) on 0, 1, 2, ...: none with p, (1 - p) / p on average; Zhang 2017 use
# p = 1/8. On 64px crops that is 7 hints per crop, far denser than 16 hints on a 256x384 image, yet it is what
# taught a short run to use hints: with p = 0.4 (1.5 per crop) a 33k-crop run learned to ignore them.
HINT_P = 1 / 8
MAX_TRAIN_HINTS = 48
MAX_PATCH = 5  # a training hint is the mean a*b* over a square of side 1..MAX_PATCH (working pixels)
HINT_PATCH = 3  # a user's hint colours this square (a size the model trained on)
MAX_HINTS = 64  # per request


def guided(model: nn.Module) -> bool:
    """Whether the model takes colour hints (4 input channels) or L* alone (1)."""
    return model.config.in_channels == HINT_CHANNELS


def model_input(
    L: torch.Tensor,
    hint_ab: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    fill: torch.Tensor | None = None,
) -> torch.Tensor:
    """L* (B, 1, H, W) [+ hint a*b* (B, 2, H, W), its mask (B, 1, H, W) and the nearest-hint fill] -> the model's
    input (the fill is computed if not given)."""
    if mask is None:
        return L / 100
    fill = nearest_hint_ab(hint_ab, mask) if fill is None else fill
    return torch.cat([L / 100, hint_ab * mask / AB_RANGE, mask, fill / AB_RANGE], 1)


def no_hints(L: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    B, _, H, W = L.shape
    return torch.zeros(B, 2, H, W, device=L.device), torch.zeros(B, 1, H, W, device=L.device)


def sample_hints(ab: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Training hints from the true chroma ab (B, 2, H, W): per image a Geometric(HINT_P) number of squares of
    side 1..MAX_PATCH at uniformly random places, each holding its mean true a*b*. -> hint ab, mask."""
    B, _, H, W = ab.shape
    hint, mask = no_hints(ab)
    u = torch.rand(B, generator=gen).clamp(min=1e-12)
    counts = (u.log() / np.log(1 - HINT_P)).floor().long().clamp(max=MAX_TRAIN_HINTS)
    for i in range(B):
        n = int(counts[i])
        if not n:
            continue
        sides = torch.randint(1, MAX_PATCH + 1, (n,), generator=gen)
        ys = (torch.rand(n, generator=gen) * (H - sides + 1)).long()
        xs = (torch.rand(n, generator=gen) * (W - sides + 1)).long()
        for s, y, x in zip(sides.tolist(), ys.tolist(), xs.tolist()):
            hint[i, :, y : y + s, x : x + s] = ab[i, :, y : y + s, x : x + s].mean((1, 2), keepdim=True)
            mask[i, :, y : y + s, x : x + s] = 1
    return hint, mask


def kind(model: nn.Module) -> str:
    """'classify' (ab bins), 'rgb' (the seed's RGB regression), 'ab' (ab regression) or 'ab+bins' (Zhang 2017's two
    heads: ab regression, the image, and ab bins, the palette's distribution), from the output width."""
    c, q = model.config.out_channels, bins().count
    if c == 3:
        return "rgb"
    if c == 2:
        return "ab"
    if c == q:
        return "classify"
    if c == 2 + q:
        return "ab+bins"
    raise ValueError(f"a colorize model outputs 2 (ab), 3 (RGB), {q} (ab bins) or {2 + q} (both) channels, not {c}")


def predict_ab(
    model: nn.Module,
    L: torch.Tensor,
    hints: tuple[torch.Tensor, torch.Tensor] | None = None,
    decode: Decode | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """L* (B, 1, H, W) [and (hint ab, mask) for a guided model] -> ab (B, 2, H, W), and the (decoding) logits for
    a classifier (None otherwise). decode: the card's (Decode.from_card); None is Zhang 2016's."""
    fill = None
    if guided(model):
        hint_ab, mask = hints if hints is not None else no_hints(L)
        fill = FILLS[(decode or Decode()).fill](hint_ab, mask, L)
        y = model(model_input(L, hint_ab, mask, fill))
    elif hints is not None and hints[1].any():
        raise ValueError("this colorize model takes no colour hints (it sees L* alone); pick a guided one")
    else:
        y = model(model_input(L))
    k = kind(model)
    if k == "classify":
        decode = decode or Decode()
        return decode.ab(y), decode.logits(y)
    if k == "ab+bins":  # with hints: the regression (it follows them), mixed as the card says; else the card's head
        decode, logits = decode or Decode(), y[:, 2:]
        if hints is not None and hints[1].any():
            return decode.hinted_ab(fill, y), decode.logits(logits)
        if decode.head == "ab":  # no hints: the fill is 0
            return y[:, :2].float() * AB_RANGE, decode.logits(logits)
        return decode.ab(logits), decode.logits(logits)
    if k == "ab":
        return y.float() * AB_RANGE, None
    return rgb_to_lab(y.float().clamp(0, 1))[:, 1:], None  # the seed's RGB output, read back as chroma


# --- any upload, full resolution --------------------------------------------------------------------------------


def working_size(h: int, w: int, side: int = WORKING_SIDE, long: int = MAX_WORKING_LONG) -> tuple[int, int]:
    """The size the model runs at: short side <= side, long side <= long, never larger than the upload."""
    s = min(1.0, side / min(h, w), long / max(h, w))
    return max(16, round(h * s)), max(16, round(w * s))


_LINEAR_LUT = srgb_to_linear(torch.arange(256, dtype=torch.float64) / 255).numpy()  # uint8 -> linear light
_Y_LUTS = (_RGB2XYZ[1].double().numpy()[:, None] * _LINEAR_LUT).astype(np.float32)  # (3, 256): R, G, B share of Y
_SRGB_LUT = torch.from_numpy(  # linear light in 1/65535 steps -> uint8 sRGB (within half a level of exact)
    np.clip(linear_to_srgb(torch.arange(65536, dtype=torch.float64) / 65535).numpy() * 255 + 0.5, 0, 255)
).to(torch.uint8)


def upload_lightness(img: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) or (H, W) -> L* (1, 1, H, W). A grey upload is R = G = B: its own lightness.

    Y is the Y row of the sRGB -> XYZ matrix on linear light, looked up per 8-bit level (exact and fast);
    a colour upload's colour is discarded here. In strips of rows, so the float temporaries stay small."""
    H, W = img.shape[:2]
    L = torch.empty(1, 1, H, W)
    for rows in _strips(H, W):
        part = img[rows]
        if img.ndim == 2:
            y = _LINEAR_LUT.astype(np.float32)[part]
        else:
            y = _Y_LUTS[0][part[..., 0]] + _Y_LUTS[1][part[..., 1]] + _Y_LUTS[2][part[..., 2]]
        L[0, 0, rows] = lightness(torch.from_numpy(y))
    return L


def _strips(H: int, W: int):
    """Row slices of about STRIP pixels covering an (H, W) image."""
    step = max(1, STRIP // W)
    for top in range(0, H, step):
        yield slice(top, min(H, top + step))


def _upsample_rows(ab: torch.Tensor, rows: slice, H: int) -> torch.Tensor:
    """Rows `rows` of ab (1, 2, h, W) upsampled to height H: F.interpolate's bilinear with align_corners=False along
    the height alone (source row (i + 0.5) h / H - 0.5, clamped at 0), so strips of a full-size result can be made
    one at a time. -> (1, 2, len(rows), W)."""
    h = ab.shape[-2]
    scale = torch.tensor(h / H, dtype=torch.float32)  # in float32, as F.interpolate computes it
    src = ((torch.arange(rows.start, rows.stop, dtype=torch.float32) + 0.5) * scale - 0.5).clamp(min=0)
    y0 = src.long().clamp(max=h - 1)
    y1 = (y0 + 1).clamp(max=h - 1)
    t = (src - y0)[:, None]  # (n, 1)
    return ab[:, :, y0] * (1 - t) + ab[:, :, y1] * t


def lab_to_rgb_uint8(L: torch.Tensor, ab: torch.Tensor) -> np.ndarray:
    """L* (1, 1, H, W) + ab (1, 2, H, W) -> uint8 (H, W, 3): lab_to_rgb fused for full-size images (the same
    formulas, gamma encoding by a 65536-entry table; within one level of lab_to_rgb, tested)."""
    fy = (L[0, 0] + 16) / 116
    x = _f_inv(fy + ab[0, 0] / 500) * _WHITE[0]
    y = _f_inv(fy)
    z = _f_inv(fy - ab[0, 1] / 200) * _WHITE[2]
    m = _XYZ2RGB
    out = torch.empty(*L.shape[-2:], 3, dtype=torch.uint8)
    for i in range(3):
        lin = (m[i, 0] * x + m[i, 1] * y + m[i, 2] * z).clamp_(0, 1)
        out[..., i] = _SRGB_LUT[lin.mul_(65535).add_(0.5).long()]
    return out.numpy()


def grey_uint8(L: torch.Tensor) -> np.ndarray:
    """L* (1, 1, H, W) -> the grey image of that lightness, uint8 (H, W, 3): lab_to_rgb_uint8 with a*b* = 0, where
    linear RGB is Y times the white point's RGB (1, 1, 1 up to the matrices' rounding), at a third of its cost."""
    y = _f_inv((L[0, 0] + 16) / 116)
    white = _XYZ2RGB @ _WHITE
    out = torch.empty(*L.shape[-2:], 3, dtype=torch.uint8)
    for i in range(3):
        out[..., i] = _SRGB_LUT[(y * white[i]).clamp_(0, 1).mul_(65535).add_(0.5).long()]
    return out.numpy()


@dataclass
class Colorized:
    image: np.ndarray  # uint8 (H, W, 3): the colourised upload, at its own size
    grey: np.ndarray  # uint8 (H, W, 3): what the model was given (L* alone, a = b = 0)
    L: np.ndarray  # uint8 (h, w): the model's input at the working resolution
    a: np.ndarray  # uint8 (h, w, 3): the predicted a* drawn as colour (green <-> magenta) at L* = 60
    b: np.ndarray  # uint8 (h, w, 3): the predicted b* drawn as colour (blue <-> yellow) at L* = 60
    working: tuple[int, int]  # (h, w) the model ran at


def _rgb_uint8(lab: torch.Tensor) -> np.ndarray:
    return images.to_uint8(lab_to_rgb(lab)[0].numpy())


def _channel_view(ab: torch.Tensor, channel: int) -> np.ndarray:
    lab = torch.zeros(1, 3, *ab.shape[-2:])
    lab[:, 0] = 60
    lab[:, 1 + channel] = ab[:, channel]
    return _rgb_uint8(lab)


# --- the user's colour hints -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hint:
    """A colour hint: the pixel (x, y) of the upload, in its own size, should have chroma (a, b)."""

    x: int
    y: int
    a: float
    b: float

    @classmethod
    def from_rgb(cls, x: int, y: int, rgb: tuple[int, int, int]) -> Hint:
        """The chroma of an sRGB colour (its lightness is the upload's own, so only a*b* are kept)."""
        lab = rgb_to_lab(torch.tensor(rgb, dtype=torch.float32).view(3, 1, 1) / 255)
        return cls(int(x), int(y), float(lab[1]), float(lab[2]))

    def rgb(self, L: float = 60.0) -> tuple[int, int, int]:
        """The hint's colour drawn at lightness L."""
        return tuple(
            int(v)
            for v in lab_to_rgb_uint8(torch.full((1, 1, 1, 1), L), torch.tensor([[[[self.a]], [[self.b]]]]))[0, 0]
        )


def parse_colour(text: str) -> tuple[int, int, int]:
    """'#RRGGBB' (or 'RRGGBB', '#RGB', 'rgb(r, g, b)' as Gradio's colour picker may send) -> (r, g, b)."""
    t = str(text).strip().lower()
    if t.startswith("rgb"):
        parts = t[t.find("(") + 1 : t.rfind(")")].split(",")
        try:
            vals = [round(float(v)) for v in parts[:3]]
        except (ValueError, OverflowError):  # not a number; NaN; infinity
            vals = []
        if len(vals) == 3 and all(0 <= v <= 255 for v in vals):
            return tuple(vals)
        raise ValueError(f"bad colour {text!r}: expected #RRGGBB")
    t = t.lstrip("#")
    if len(t) == 3:
        t = "".join(c * 2 for c in t)
    if len(t) != 6 or any(c not in "0123456789abcdef" for c in t):
        raise ValueError(f"bad colour {text!r}: expected #RRGGBB, e.g. #3a7bd5")
    return tuple(int(t[i : i + 2], 16) for i in (0, 2, 4))


def hex_colour(rgb) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in rgb)


def parse_hint(text: str) -> tuple[float, float, tuple[int, int, int]]:
    """The CLI's 'X,Y,#RRGGBB' -> (x, y, rgb)."""
    parts = str(text).split(",")
    if len(parts) != 3:
        raise ValueError(f"bad hint {text!r}: expected X,Y,#RRGGBB (pixel coordinates in the input's own size)")
    try:
        x, y = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"bad hint {text!r}: X and Y must be numbers (pixels)") from None
    return x, y, parse_colour(parts[2])


def hints_from_json(value) -> list[tuple[float, float, tuple[int, int, int]]]:
    """The API's hints: a JSON list (or its text) of {"x": .., "y": .., "color": "#RRGGBB"} -> (x, y, rgb)."""
    import json

    if value is None or (isinstance(value, str) and not value.strip()):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ValueError(
                f'hints are not valid JSON ({e.msg}); expected [{{"x": 10, "y": 20, "color": "#3a7bd5"}}]'
            ) from None
    if not isinstance(value, list):
        raise ValueError('hints must be a JSON list of {"x": .., "y": .., "color": "#RRGGBB"}')
    out = []
    for k, h in enumerate(value):
        if not isinstance(h, dict) or not {"x", "y", "color"} <= set(h):
            raise ValueError(f'hint {k + 1} must be an object with "x", "y" and "color", got {str(h)[:60]!r}')
        if not all(isinstance(h[c], (int, float)) and not isinstance(h[c], bool) for c in ("x", "y")):
            raise ValueError(f"hint {k + 1}: x and y must be numbers (pixels), got {h['x']!r}, {h['y']!r}")
        out.append((_coordinate(h["x"]), _coordinate(h["y"]), parse_colour(h["color"])))  # checked by make_hints
    return out


def _coordinate(v: float) -> float:
    """A hint's x or y as a float; an integer too large for one (JSON allows any) is infinitely far: outside."""
    if isinstance(v, int) and abs(v) > 2**63:
        return np.inf if v > 0 else -np.inf
    return float(v)


def make_hints(raw: list[tuple[float, float, tuple[int, int, int]]], height: int, width: int) -> list[Hint]:
    """Checked hints for an upload of (height, width): inside it, at most MAX_HINTS, finite."""
    if len(raw) > MAX_HINTS:
        raise ValueError(f"{len(raw)} hints is too many; at most {MAX_HINTS} per image")
    out = []
    for k, (x, y, rgb) in enumerate(raw):
        if not (np.isfinite(x) and np.isfinite(y) and 0 <= x < width and 0 <= y < height):
            raise ValueError(
                f"hint {k + 1} at ({x:g}, {y:g}) is outside the {width}x{height} image "
                f"(x from 0 to {width - 1}, y from 0 to {height - 1})"
            )
        out.append(Hint.from_rgb(int(x), int(y), rgb))
    return out


def _working_point(hint: Hint, H: int, W: int, h: int, w: int) -> tuple[int, int]:
    return min(h - 1, int(hint.y * h / H)), min(w - 1, int(hint.x * w / W))


def hint_maps(hints, H: int, W: int, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Hints at upload coordinates (H, W) -> the hint ab map and mask at the working size (h, w): each hint colours a
    HINT_PATCH square around its working pixel; a later hint overwrites an earlier one where they overlap."""
    ab, mask = torch.zeros(1, 2, h, w), torch.zeros(1, 1, h, w)
    r = HINT_PATCH // 2
    for hint in hints:
        y, x = _working_point(hint, H, W, h, w)
        ys, xs = slice(max(0, y - r), y + r + 1), slice(max(0, x - r), x + r + 1)
        ab[0, 0, ys, xs], ab[0, 1, ys, xs] = hint.a, hint.b
        mask[0, 0, ys, xs] = 1
    return ab, mask


def nearest_hint_ab(hint_ab: torch.Tensor, mask: torch.Tensor, L: torch.Tensor | None = None) -> torch.Tensor:
    """The non-learned baseline: every pixel takes the a*b* of its nearest hinted pixel (no hints: grey).
    hint_ab (B, 2, H, W), mask (B, 1, H, W) -> (B, 2, H, W). L: unused (the edge-aware fill's signature)."""
    from scipy import ndimage

    out = torch.zeros_like(hint_ab, dtype=torch.float32)
    for i in range(len(mask)):
        m = mask[i, 0].float().numpy() > 0
        if m.any():
            _, (iy, ix) = ndimage.distance_transform_edt(~m, return_indices=True)
            out[i] = hint_ab[i][:, torch.from_numpy(iy), torch.from_numpy(ix)]
    return out


# The edge-aware fill's compact watershed: a pixel's flooding priority is the gradient of L*/100 plus this times its
# distance (working pixels) to the seed flooding it. A plain watershed (0) floods in order of edge strength alone: a
# hint placed on a textured spot (skin hinted on the mouth of a portrait) stays inside its texture while a far hint
# floods the smooth face around it. Chosen on the validation photos, 16 hints, two draws: the fill alone at 0.431x
# and 0.428x grey's a*b* error at 1e-4, against 0.447x and 0.454x plain (5e-5: 0.432x, 0.430x; 3e-4: 0.442x,
# 0.431x; 1e-3: 0.449x, 0.448x; 1e-2: 0.508x, 0.495x).
EDGE_COMPACTNESS = 1e-4


def edge_hint_ab(hint_ab: torch.Tensor, mask: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    """The edge-aware fill: a compact watershed from the hinted pixels on the gradient of L* (Sobel), so each pixel
    takes the a*b* of the hint whose flood reaches it first: a hint's colour stops at the edges of L* instead of at
    the half-way line to the next hint, and spreads by distance where L* is flat (no hints: grey).
    hint_ab (B, 2, H, W), mask (B, 1, H, W), L (B, 1, H, W) in [0, 100] -> (B, 2, H, W)."""
    from skimage.filters import sobel
    from skimage.segmentation import watershed

    out = torch.zeros_like(hint_ab, dtype=torch.float32)
    for i in range(len(mask)):
        m = mask[i, 0].float().numpy() > 0
        if m.any():
            markers = np.zeros(m.shape, np.int32)
            markers[m] = np.arange(1, int(m.sum()) + 1)  # every hinted pixel a seed of its own colour
            regions = watershed(sobel(L[i, 0].float().numpy() / 100), markers, compactness=EDGE_COMPACTNESS)
            colours = hint_ab[i].float()[:, torch.from_numpy(m)]  # (2, seeds), in the order of their markers
            out[i] = colours[:, torch.from_numpy(regions.astype(np.int64) - 1)]
    return out


FILLS = {"nearest": nearest_hint_ab, "edges": edge_hint_ab}  # the card's decode.fill -> how hints fill the image


@torch.inference_mode()
def colorize(
    model: nn.Module, img: np.ndarray, fast: bool = True, views: bool = True, hints=(), decode: Decode | None = None
) -> Colorized:
    """Colourise one upload: uint8 (H, W, 3) or (H, W) -> Colorized at (H, W).

    1. L* of the upload at full resolution (a colour upload's colour is dropped); 2. downscale to the working
    size (area average) and pad to a multiple of 2^depth; 3. the model predicts ab (a guided model also gets the
    hints, checked Hint objects in the upload's coordinates); 4. ab is upsampled (bilinear) to full size and joined
    to the full-resolution L*; 5. Lab -> sRGB.
    fast: bf16 autocast (the cards use fp32); views: also draw the teaching views; decode: the card's.
    """
    # 1. full-resolution lightness
    L = upload_lightness(img)  # (1, 1, H, W)
    H, W = L.shape[-2:]
    # 2. the working resolution
    h, w = working_size(H, W)
    Lw = F.interpolate(L, size=(h, w), mode="area") if (h, w) != (H, W) else L  # (1, 1, h, w)
    m = 2**model.config.depth
    pad = (0, -w % m, 0, -h % m)
    Lp = F.pad(Lw, pad, mode="replicate")
    maps = None
    if hints:
        maps = tuple(F.pad(t, pad) for t in hint_maps(hints, H, W, h, w))
    # 3. chroma
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast and bf16_pays()):
        ab, _ = predict_ab(model, Lp.contiguous(memory_format=torch.channels_last), maps, decode)
    ab = ab.float()[..., :h, :w]  # (1, 2, h, w)
    return _finish(L, ab, Lw, views)


def _finish(L: torch.Tensor, ab: torch.Tensor, Lw: torch.Tensor, views: bool) -> Colorized:
    """Working-size chroma ab + the upload's full-resolution L* -> the Colorized, one strip of rows at a time."""
    H, W = L.shape[-2:]
    h, w = ab.shape[-2:]
    # 4. upsample chroma (the width here, the height per strip), keep the upload's own L*
    ab_wide = F.interpolate(ab, size=(h, W), mode="bilinear", align_corners=False) if w != W else ab
    out = np.empty((H, W, 3), np.uint8)
    grey = np.empty((H, W, 3), np.uint8) if views else None
    for rows in _strips(H, W):
        ab_rows = _upsample_rows(ab_wide, rows, H) if h != H else ab_wide[:, :, rows]
        # 5. back to sRGB
        out[rows] = lab_to_rgb_uint8(L[..., rows, :], ab_rows)
        if views:
            grey[rows] = grey_uint8(L[..., rows, :])
    if not views:
        return Colorized(out, None, None, None, None, (h, w))
    return Colorized(
        out,
        grey,
        images.to_uint8((Lw[0] / 100).numpy()),
        _channel_view(ab, 0),
        _channel_view(ab, 1),
        (h, w),
    )


@torch.inference_mode()
def suggest(
    model: nn.Module, img: np.ndarray, x: int, y: int, hints=(), k: int = 6, decode: Decode | None = None
) -> list[tuple[str, float]]:
    """Zhang 2017's palette: the model's own colour distribution at the upload's pixel (x, y), given the hints, as
    its k most likely a*b* bins drawn at that pixel's lightness -> [(#rrggbb, probability)], most likely first."""
    if kind(model) not in ("classify", "ab+bins"):
        raise ValueError("only a model over a*b* bins has a colour distribution to suggest from")
    L = upload_lightness(img)
    H, W = L.shape[-2:]
    if not (0 <= x < W and 0 <= y < H):
        raise ValueError(f"({x}, {y}) is outside the {W}x{H} image")
    h, w = working_size(H, W)
    Lw = F.interpolate(L, size=(h, w), mode="area") if (h, w) != (H, W) else L
    m = 2**model.config.depth
    pad = (0, -w % m, 0, -h % m)
    maps = tuple(F.pad(t, pad) for t in hint_maps(hints, H, W, h, w)) if hints else None
    _, logits = predict_ab(model, F.pad(Lw, pad, mode="replicate"), maps, decode)
    yw, xw = _working_point(Hint(x, y, 0, 0), H, W, h, w)
    p = torch.softmax(logits[0, :, yw, xw].float(), 0)
    top = p.topk(k)
    lightness = float(L[0, 0, y, x])
    out = []
    for prob, q in zip(top.values.tolist(), top.indices.tolist()):
        a, b = bins().centres[q].tolist()
        out.append((hex_colour(Hint(x, y, a, b).rgb(lightness)), round(prob, 4)))
    return out


# --- the cards' figures -----------------------------------------------------------------------------------------


def _lab(img: np.ndarray) -> torch.Tensor:
    return rgb_to_lab(torch.from_numpy(images.to_float(img)))


def ab_error(out: np.ndarray, ref_lab: torch.Tensor) -> float:
    """Mean Euclidean a*b* distance of a uint8 result to the true colours (the grey image's is the mean chroma)."""
    return float((_lab(out)[1:] - ref_lab[1:]).norm(dim=0).mean())


def random_hints(img: np.ndarray, n: int, seed: int) -> list[Hint]:
    """n hints taken from the true colours at random places: each the mean true a*b* of the HINT_PATCH square the
    model will colour (what a careful user picking colours off the original would give)."""
    H, W = img.shape[:2]
    h, w = working_size(H, W)
    ab = F.interpolate(_lab(img)[None, 1:], size=(h, w), mode="area") if (h, w) != (H, W) else _lab(img)[None, 1:]
    rng = np.random.default_rng(seed)
    r = HINT_PATCH // 2
    out = []
    for x, y in zip(rng.integers(0, W, n), rng.integers(0, H, n)):
        yw, xw = _working_point(Hint(int(x), int(y), 0, 0), H, W, h, w)
        a, b = ab[0, :, max(0, yw - r) : yw + r + 1, max(0, xw - r) : xw + r + 1].mean((1, 2)).tolist()
        out.append(Hint(int(x), int(y), a, b))
    return out


def score(model: nn.Module, img: np.ndarray, n_hints: int = 16, seed: int = 0, decode: Decode | None = None) -> dict:
    """One image's figures: automatic mode and the grey input; for a guided model also n_hints hints from the
    true colours, and the two non-learned fills (nearest hint, edge-aware) with the same hints."""
    ref = images.to_float(img)
    ref_lab = _lab(img)
    auto = colorize(model, img, fast=False, decode=decode)
    row = {
        "psnr": metrics.psnr(images.to_float(auto.image), ref),
        "grey_psnr": metrics.psnr(images.to_float(auto.grey), ref),
        "ab_error": ab_error(auto.image, ref_lab),
        "grey_ab_error": ab_error(auto.grey, ref_lab),
        "colourfulness": metrics.colourfulness(images.to_float(auto.image)),
        "true_colourfulness": metrics.colourfulness(ref),
    }
    if guided(model):
        hints = random_hints(img, n_hints, seed)
        guided_out = colorize(model, img, fast=False, views=False, hints=hints, decode=decode).image
        H, W = img.shape[:2]
        L = upload_lightness(img)
        h, w = auto.working
        Lw = F.interpolate(L, size=(h, w), mode="area") if (h, w) != (H, W) else L
        nearest = _finish(L, nearest_hint_ab(*hint_maps(hints, H, W, h, w)), Lw, views=False).image
        edges = _finish(L, edge_hint_ab(*hint_maps(hints, H, W, h, w), Lw), Lw, views=False).image
        row |= {
            "hints_psnr": metrics.psnr(images.to_float(guided_out), ref),
            "hints_ab_error": ab_error(guided_out, ref_lab),
            "nearest_psnr": metrics.psnr(images.to_float(nearest), ref),
            "nearest_ab_error": ab_error(nearest, ref_lab),
            "edges_psnr": metrics.psnr(images.to_float(edges), ref),
            "edges_ab_error": ab_error(edges, ref_lab),
        }
    return row


def summary(rows: list[dict]) -> dict:
    """Means over images, and the ratios the targets are stated in (of means, so near-grey images cannot blow up
    a ratio): a*b* error / the grey image's, colourfulness / the true colours'."""
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    out = {k: round(v, 3) for k, v in mean.items()}
    out["ab_ratio"] = round(mean["ab_error"] / mean["grey_ab_error"], 4)
    out["colourfulness_ratio"] = round(mean["colourfulness"] / mean["true_colourfulness"], 4)
    if "hints_ab_error" in mean:
        out["hints_ab_ratio"] = round(mean["hints_ab_error"] / mean["grey_ab_error"], 4)
        out["nearest_ab_ratio"] = round(mean["nearest_ab_error"] / mean["grey_ab_error"], 4)
        out["edges_ab_ratio"] = round(mean["edges_ab_error"] / mean["grey_ab_error"], 4)
    out["images"] = len(rows)
    return out


MIN_CHROMA = 2.0  # test images whose mean true chroma is below this are grey already: nothing to restore


def test_report(
    model: nn.Module, sources: dict[str, dict[str, np.ndarray]], n_hints: int = 16, decode: Decode | None = None
) -> dict:
    """Per test source, then the mean and the worst source (for each figure, the source where it is worst).
    Images that are grey already (mean chroma < MIN_CHROMA) are skipped and counted."""
    import zlib

    per = {}
    for source, imgs in sources.items():
        coloured = {n: img for n, img in imgs.items() if float(_lab(img)[1:].norm(dim=0).mean()) >= MIN_CHROMA}
        if coloured:
            rows = [score(model, img, n_hints, zlib.crc32(n.encode()), decode) for n, img in coloured.items()]
            per[source] = summary(rows)
            per[source]["grey_images_skipped"] = len(imgs) - len(coloured)
    keys = [k for k in next(iter(per.values())) if k not in ("images", "grey_images_skipped")]
    higher_is_better = ("psnr", "grey_psnr", "hints_psnr", "nearest_psnr", "edges_psnr", "colourfulness_ratio")
    worst = {}
    for k in keys:
        pick = min if k in higher_is_better else max
        worst[k] = pick(v[k] for v in per.values())
    mean = {k: round(float(np.mean([v[k] for v in per.values()])), 4) for k in keys}
    return {"per_source": per, "mean": mean, "worst": worst, "hints": n_hints}


def heldout_metrics(model: nn.Module, photos: dict[str, np.ndarray], decode: Decode | None = None) -> dict:
    """The card's numbers: PSNR vs the true colours, that of the grey input (the baseline), and colourfulness
    (Hasler & Suesstrunk 2003) as a ratio to the true colours', per photo and averaged."""
    per = {}
    for name, img in photos.items():
        r = colorize(model, img, fast=False, decode=decode)
        ref = images.to_float(img)
        out, grey = images.to_float(r.image), images.to_float(r.grey)
        per[name] = {
            "psnr": round(metrics.psnr(out, ref), 3),
            "grey_psnr": round(metrics.psnr(grey, ref), 3),
            "colourfulness_ratio": round(metrics.colourfulness(out) / metrics.colourfulness(ref), 4),
        }
    mean = {k: round(float(np.mean([p[k] for p in per.values()])), 4) for k in next(iter(per.values()))}
    return {"heldout": per} | {f"heldout_{k}": v for k, v in mean.items()}


def test_grid(
    models: dict[str, tuple[nn.Module, Decode | None]], photos: list[np.ndarray], n_hints: int = 16, height: int = 160
) -> np.ndarray:
    """A picture of the figures: per photo a row of truth | grey | each model automatic and with n_hints hints (the
    hints drawn as dots on the grey) | the nearest-hint fill | the edge-aware fill, each scaled to `height`, columns
    labelled on top."""
    import zlib

    from PIL import Image, ImageDraw

    names = ["truth", "grey + hints"]
    for name, (model, _) in models.items():
        names += [f"{name}: automatic"] + ([f"{name}: {n_hints} hints"] if guided(model) else [])
    names += ["nearest-hint fill", "edge-aware fill"]
    rows = []
    for img in photos:
        H, W = img.shape[:2]
        hints = random_hints(img, n_hints, zlib.crc32(img.tobytes()[:4096]))
        L = upload_lightness(img)
        h, w = working_size(H, W)
        Lw = F.interpolate(L, size=(h, w), mode="area") if (h, w) != (H, W) else L
        grey = Image.fromarray(_finish(L, torch.zeros(1, 2, h, w), Lw, views=False).image)
        draw = ImageDraw.Draw(grey)
        r = max(3, round(max(H, W) / 100))
        for hint in hints:
            draw.ellipse((hint.x - r - 1, hint.y - r - 1, hint.x + r + 1, hint.y + r + 1), fill="white")
            draw.ellipse((hint.x - r, hint.y - r, hint.x + r, hint.y + r), fill=hex_colour(hint.rgb(70)))
        cells = [img, np.asarray(grey)]
        for model, decode in models.values():
            cells.append(colorize(model, img, fast=False, views=False, decode=decode).image)
            if guided(model):
                cells.append(colorize(model, img, fast=False, views=False, hints=hints, decode=decode).image)
        cells.append(_finish(L, nearest_hint_ab(*hint_maps(hints, H, W, h, w)), Lw, views=False).image)
        cells.append(_finish(L, edge_hint_ab(*hint_maps(hints, H, W, h, w), Lw), Lw, views=False).image)
        width = round(W * height / H)
        rows.append(np.concatenate([np.asarray(Image.fromarray(c).resize((width, height))) for c in cells], 1))
    widest = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, widest - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    body = np.concatenate(rows, 0)
    head = Image.new("RGB", (widest, 22), "white")
    cell = rows[0].shape[1] // len(names)  # labels over the first row's columns
    draw = ImageDraw.Draw(head)
    for k, name in enumerate(names):
        draw.text((k * cell + 4, 5), name, fill="black")
    return np.concatenate([np.asarray(head), body], 0)


DECODE_ALPHAS = (0.0, 0.5, 1.0)  # how much of the class rebalancing to undo at decode time
# A model trained without rebalancing predicts the calibrated p, whose annealed mean leans grey (the guided models'
# first cards: colourfulness at most 0.37x the truth at any temperature). A negative alpha applies that share of the
# training photos' rebalancing at decode time instead (q ∝ p w^-alpha): rare, saturated colours gain.
DECODE_PRIOR_ALPHAS = (0.0, -0.5, -1.0)
DECODE_TEMPERATURES = (0.25, 0.38, 0.5, 0.7, 1.0)
# The automatic colours must first do no harm: a decoding whose a*b* error is above the grey image's paints wrong
# colours. Applying the rebalancing (alpha -1) took colorize-guided-skip to 0.77x the true colourfulness on the
# validation photos, but as a yellow-brown cast over everything (skies yellow-green, grass brown; a*b* 1.19x grey's),
# which the previous rule (the lowest a*b* error among those reaching 0.6x colourfulness) chose.
MAX_AB_RATIO = 1.0


def _validation_input(model: nn.Module, img: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]:
    """A validation photo as the model sees it: its Lab at the working size (1, 3, h, w), L* padded to the model's
    multiple (channels_last), and that padding (F.pad's order)."""
    H, W = img.shape[:2]
    h, w = working_size(H, W)
    lab = _lab(img)[None]
    lab = F.interpolate(lab, size=(h, w), mode="area") if (h, w) != (H, W) else lab
    m = 2**model.config.depth
    pad = (0, -w % m, 0, -h % m)
    return lab, F.pad(lab[:, :1], pad, mode="replicate").contiguous(memory_format=torch.channels_last), pad


@torch.inference_mode()
def choose_decode(
    model: nn.Module, photos: list[np.ndarray], weights: torch.Tensor | None, alphas: tuple[float, ...] = DECODE_ALPHAS
) -> tuple[Decode, list[dict]]:
    """The decoding for the card, chosen on validation photos in automatic mode (pick_decode). Candidates: the
    bins' annealed mean at each (alpha, temperature) pair, and for a two-headed model its regression head too. One
    forward pass per photo at the working size; every candidate decodes the same output. weights: class weights,
    and alphas the shares of them to undo (DECODE_ALPHAS: the weights it trained with) or, negative, to apply
    (DECODE_PRIOR_ALPHAS); None: only the temperature is chosen.
    -> the Decode, and every candidate's figures (ratios of sums over the photos, as in summary)."""
    two_heads = kind(model) == "ab+bins"
    pairs = [(a, t) for a in (alphas if weights is not None else (0.0,)) for t in DECODE_TEMPERATURES]
    candidates = [Decode.undoing(weights, a, t) for a, t in pairs] + ([Decode(head="ab")] if two_heads else [])
    err = [0.0] * len(candidates)
    colour = [0.0] * len(candidates)
    grey_err = true_colour = 0.0
    for img in photos:
        lab, x, _ = _validation_input(model, img)
        h, w = lab.shape[-2:]
        y = (model(model_input(x, *no_hints(x))) if guided(model) else model(model_input(x))).float()  # fill: 0
        grey_err += float(lab[0, 1:].norm(dim=0).mean())
        true_colour += metrics.colourfulness(lab_to_rgb(lab)[0].numpy())
        for i, d in enumerate(candidates):
            ab = y[:, :2] * AB_RANGE if d.head == "ab" and two_heads else d.ab(y[:, 2:] if two_heads else y)
            ab = ab[..., :h, :w]
            err[i] += float((ab[0] - lab[0, 1:]).norm(dim=0).mean())
            colour[i] += metrics.colourfulness(lab_to_rgb(torch.cat([lab[:, :1], ab], 1))[0].numpy())
    table = [
        {
            "head": d.head if two_heads else "bins",
            "alpha": d.alpha,
            "temperature": d.temperature,
            "ab_ratio": round(err[i] / grey_err, 4),
            "colourfulness_ratio": round(colour[i] / true_colour, 4),
        }
        for i, d in enumerate(candidates)
    ]
    return candidates[pick_decode(table)], table


HINTS_MIXES = (0.75, 0.6, 0.5, 0.4, 0.25, 0.0)  # the regression head's share with hints, besides 1 (the regression)
HINTS_TEMPERATURES = (0.5, 0.7, 1.0)
VALIDATION_HINTS = 16  # hints per validation photo, as the test split's figures use


@torch.inference_mode()
def choose_hints_decode(model: nn.Module, photos: list[np.ndarray]) -> tuple[str, float, float, list[dict]]:
    """A two-headed model's colours with hints, chosen on validation photos: the fill it is given (FILLS) and the
    share of the regression head (the rest the bins' annealed mean at a temperature) with the lowest a*b* error,
    VALIDATION_HINTS hints per photo taken from its true colours at random places (seeded by the photo's index). The
    nearest-hint fill and the regression head alone, as trained, are among the candidates.
    -> (fill, mix, temperature, every candidate's figures: a*b* error as a ratio of sums to the grey image's)."""
    candidates = [
        Decode(fill=f, hints_mix=m, hints_temperature=t)
        for f in FILLS
        for m, t in [(1.0, TEMPERATURE)] + [(m, t) for m in HINTS_MIXES for t in HINTS_TEMPERATURES]
    ]
    err, grey_err = [0.0] * len(candidates), 0.0
    for k, img in enumerate(photos):
        lab, x, pad = _validation_input(model, img)
        h, w = lab.shape[-2:]
        hint_ab, mask = (F.pad(t, pad) for t in hint_maps(random_hints(img, VALIDATION_HINTS, k), *img.shape[:2], h, w))
        grey_err += float(lab[0, 1:].norm(dim=0).mean())
        for fill_name, fill_of in FILLS.items():  # one forward pass per fill; every mix decodes its output
            fill = fill_of(hint_ab, mask, x)
            y = model(model_input(x, hint_ab, mask, fill)).float()
            for i, d in enumerate(candidates):
                if d.fill == fill_name:
                    ab = d.hinted_ab(fill, y)[..., :h, :w]
                    err[i] += float((ab[0] - lab[0, 1:]).norm(dim=0).mean())
    table = [
        {
            "fill": d.fill,
            "hints_mix": d.hints_mix,
            "hints_temperature": d.hints_temperature,
            "hints_ab_ratio": round(err[i] / grey_err, 4),
        }
        for i, d in enumerate(candidates)
    ]
    best = candidates[min(range(len(candidates)), key=lambda i: err[i])]
    return best.fill, best.hints_mix, best.hints_temperature, table


def pick_decode(table: list[dict]) -> int:
    """Of the candidates' validation figures, the one to keep: among those whose a*b* error is at most MAX_AB_RATIO
    of the grey image's, the most colourful; if none is, the one with the lowest a*b* error."""
    harmless = [i for i, row in enumerate(table) if row["ab_ratio"] <= MAX_AB_RATIO]
    if harmless:
        return max(harmless, key=lambda i: table[i]["colourfulness_ratio"])
    return min(range(len(table)), key=lambda i: table[i]["ab_ratio"])
