"""A user's own training images: a zip, several image files, or both. Every image goes through images.load_image.

A zip is read in memory, entry by entry, and never extracted: no file is ever written under a name taken from
the archive. Still, an archive that tries to escape (zip-slip: absolute paths, `..`, drive letters) is refused,
and so is a zip bomb, by the declared sizes (per entry, in total), the compression ratio, the entry count and
the bytes actually read. Entries that are not images (by suffix) or do not decode are skipped and counted; per
image and total pixel caps keep a job's memory bounded. Every refusal is a DataError saying what to do.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from unetlab.data import IMAGE_SUFFIXES, DataError
from unetlab.images import ImageError, load_image
from unetlab.settings import Settings

SUFFIXES = (*IMAGE_SUFFIXES, ".gif", ".bmp", ".tif", ".tiff")
MAX_RATIO = 100  # uncompressed / compressed: images barely compress (PNG, JPEG ~1); bombs reach 1000s


@dataclass(frozen=True)
class Limits:
    """What one upload may hold; the defaults and the environment variables that set them are in settings.py."""

    entries: int = Settings.zip_entries  # entries in one zip, folders included
    entry_bytes: int = Settings.zip_entry_bytes  # one entry, uncompressed
    total_bytes: int = Settings.zip_bytes  # all entries, uncompressed
    image_pixels: int = Settings.dataset_image_pixels  # one training image
    total_pixels: int = Settings.dataset_pixels  # all of them (~300 MB decoded)

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        return cls(s.zip_entries, s.zip_entry_bytes, s.zip_bytes, s.dataset_image_pixels, s.dataset_pixels)


@dataclass
class Upload:
    images: list[np.ndarray] = field(default_factory=list)  # uint8 RGB (H, W, 3)
    names: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "name: why", one per skipped entry or file
    pixels: int = 0
    limits: Limits = field(default_factory=Limits)

    def add(self, name: str, source: str | Path | bytes) -> None:
        """Decode one image (or skip it, with the reason), enforcing the per-image and total pixel caps."""
        if Path(name).suffix.lower() not in SUFFIXES:
            self.skipped.append(f"{name}: not an image ({', '.join(SUFFIXES)})")
            return
        try:
            img = load_image(source, mode="RGB", name=name, max_pixels=self.limits.image_pixels)
        except ImageError as e:
            self.skipped.append(str(e))
            return
        self.pixels += img.shape[0] * img.shape[1]
        if self.pixels > self.limits.total_pixels:
            raise DataError(
                f"the images hold more than {self.limits.total_pixels / 1e6:g} Mpx in all (the limit for one training "
                f"job; reached at {name}); use fewer or smaller images"
            )
        self.images.append(img)
        self.names.append(name)

    def summary(self) -> str:
        text = f"{len(self.images)} image(s)"
        if self.skipped:
            shown = "; ".join(self.skipped[:3]) + ("; ..." if len(self.skipped) > 3 else "")
            text += f", {len(self.skipped)} skipped ({shown})"
        return text


def unsafe(name: str) -> bool:
    """A name that would land outside the folder it was extracted to (zip-slip), on any OS."""
    p = name.replace("\\", "/")
    return p.startswith("/") or bool(re.match(r"^[A-Za-z]:", p)) or ".." in PurePosixPath(p).parts


def read_zip(path: str | Path, into: Upload) -> None:
    """Add a zip's images to `into`; refuse hostile archives with a clear DataError."""
    label, cap = Path(path).name, into.limits
    if not zipfile.is_zipfile(path):
        raise DataError(f"{label} is not a zip archive (or it is damaged)")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > cap.entries:
                raise DataError(f"{label} holds {len(infos):,} entries; the limit is {cap.entries:,}")
            bad = next((i.filename for i in infos if unsafe(i.filename)), None)
            if bad is not None:
                raise DataError(f"{label} holds an unsafe path, {bad!r}, that points outside the archive; refused")
            declared = sum(i.file_size for i in infos)
            if declared > cap.total_bytes:
                raise DataError(
                    f"{label} unpacks to {declared / 1e6:,.0f} MB; the limit is {cap.total_bytes / 1e6:,.0f} MB"
                )
            read = 0
            for info in infos:
                if info.is_dir():
                    continue
                name = info.filename
                if info.file_size > cap.entry_bytes:
                    raise DataError(
                        f"{name} in {label} unpacks to {info.file_size / 1e6:,.0f} MB; the limit per file is "
                        f"{cap.entry_bytes / 1e6:,.0f} MB"
                    )
                if info.file_size > MAX_RATIO * max(info.compress_size, 1):
                    ratio = info.file_size / max(info.compress_size, 1)
                    raise DataError(
                        f"{name} in {label} is compressed {ratio:,.0f}:1 (images are never more than "
                        f"{MAX_RATIO}:1): a zip bomb; refused"
                    )
                if info.flag_bits & 0x1:
                    into.skipped.append(f"{name}: encrypted")
                    continue
                if Path(name).suffix.lower() not in SUFFIXES:
                    into.add(name, b"")  # counted as not an image, never read
                    continue
                with zf.open(info) as f:
                    data = f.read(cap.entry_bytes + 1)  # never more than the cap, whatever the header says
                read += len(data)
                if len(data) > cap.entry_bytes or read > cap.total_bytes:
                    raise DataError(f"{name} in {label} unpacks to more than it declares; refused")
                into.add(name, data)
    except zipfile.BadZipFile as e:
        raise DataError(f"{label} is damaged ({e})") from None


def read_uploads(paths: list[str | Path], limits: Limits = Limits()) -> Upload:
    """Images from uploaded files: each a zip (its images) or an image. Raises DataError when none is usable."""
    out = Upload(limits=limits)
    for p in paths:
        if str(p).lower().endswith(".zip"):
            read_zip(p, out)
        else:
            out.add(Path(p).name, p)
    if len(out.images) < 2:
        found = "no usable image" if not out.images else "one usable image"
        why = f" ({'; '.join(out.skipped[:3])})" if out.skipped else ""
        raise DataError(f"the upload holds {found}{why}; a dataset needs at least two (one is held out)")
    return out
