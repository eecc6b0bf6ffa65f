"""The image corpus: a few thousand licensed images from Debian packages, split by source.

Nine photographs from one package taught the reconstruction U-Nets a narrow gamut, and two held-out photos from
that same package flattered them. The corpus draws on independent projects (wallpapers, game art, icons,
manuals, a children's paint program, a planetarium), each pinned by package version, every file by sha256, with
its licence and author. The test split is whole sources: no recipe trains on them or picks a checkpoint with
them. Validation is a fixed tenth of every training source, so it never straddles a source boundary it should
not: near-duplicates (one wallpaper at several resolutions, one stamp in two colours) were removed across the
whole corpus before the split, so no image sits on both sides.

The manifest (corpus.json, beside this file) lists every file; `python -m unetlab data --build` rewrites it from
the packages and the rules in SOURCES (a maintainer's step), `python -m unetlab data --list` prints it per
source, and `python -m unetlab data --fetch` fills the cache. Recipes fetch what they need (photo_sources.py's
extract: `apt-get download PACKAGE=VERSION`, files checked against their sha256, cached under UNETLAB_CACHE);
the app never does: the Live training tab reads the cache or says how to fill it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import subprocess
import tarfile
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unetlab import photo_sources
from unetlab.settings import data_cache

MANIFEST = Path(__file__).with_name("corpus.json")
SPLITS = ("train", "val", "test")
PHOTO_KINDS = ("photo", "photo cut-out", "texture")  # what the corpus-photos dataset holds
OTHER_KINDS = ("illustration", "icon", "screenshot", "clip art", "line art")  # ... and corpus-other
MIN_SIDE = 128  # smaller images are skipped: too little to crop from at two scales
VAL_EVERY = 10  # one training-source file in ten (by the hash of its path) is validation
DUPLICATE_BITS = 5  # difference hashes (64 bits) this close are the same picture


def cache_dir() -> Path:
    return data_cache() / "corpus"


@dataclass(frozen=True)
class Source:
    """One package the corpus draws from: which of its files (glob -> kind, first match wins), under which
    licence, by whom, and whether it is a test source."""

    name: str
    package: str
    version: str
    rules: tuple[tuple[str, str], ...]  # (glob over the path inside the package, kind)
    licence: str
    author: str
    test: bool = False
    only: tuple[str, ...] = ()  # if set: only these members (files whose authors and licences are known singly)


def _listed(package: str) -> tuple[str, ...]:
    """The wallpapers the colouriser already uses, with their own authors and licences (photo_sources.PHOTOS)."""
    return tuple(s.member for s in photo_sources.PHOTOS.values() if s.package == package)


SOURCES: dict[str, Source] = {
    s.name: s
    for s in [
        Source(
            "mate",
            "mate-backgrounds",
            "1.26.0-1",
            (("*/mate/nature/*.jpg", "photo"), ("*", "illustration")),
            "GPL-2+",
            "MATE backgrounds contributors (per file in the package's debian/copyright)",
        ),
        Source(
            "plasma",
            "plasma-workspace-wallpapers",
            "4:5.27.5-2",
            (("*", "photo"),),
            "LGPL-3 / CC-BY-SA-4.0 (per file)",
            "KDE Plasma wallpaper artists (per file)",
            only=_listed("plasma-workspace-wallpapers"),
        ),
        Source(
            "lomiri",
            "lomiri-wallpapers-16.04",
            "20.04.0-2",
            (("*", "photo"),),
            "CC-BY-4.0 / CC-BY-SA-4.0 / CC0-1.0 (per file)",
            "Ubuntu Touch wallpaper contest photographers (per file)",
            only=_listed("lomiri-wallpapers-16.04"),
        ),
        Source(
            "supertuxkart",
            "supertuxkart-data",
            "1.4+dfsg-2",
            (("usr/share/games/supertuxkart/data/textures/*", "texture"), ("*/tracks/*", "texture")),
            "GPL-3+ (Debian); upstream CC-BY-SA per file (data/licenses.txt)",
            "SuperTuxKart Team",
        ),
        Source(
            "wesnoth",
            "wesnoth-1.16-data",
            "1:1.16.9-1",
            (
                ("*/images/portraits/*", "illustration"),
                ("*/images/story/*", "illustration"),
                ("*/images/terrain/*", "illustration"),
                ("*/images/units/*", "illustration"),
            ),
            "GPL-2+",
            "The Battle for Wesnoth Project",
        ),
        Source(
            "oxygen",
            "oxygen-icon-theme",
            "5:5.103.0-1",
            (("usr/share/icons/oxygen/base/256x256/*", "icon"),),
            "LGPL-3+",
            "Oxygen icon team (David Miller et al.)",
        ),
        Source(
            "gimp-help",
            "gimp-help-en",
            "2.10.34-2",
            (("*/images/filters/examples/*", "photo"), ("*", "screenshot")),
            "GFDL-NIV-1.2+",
            "The GIMP Documentation Team",
        ),
        Source(
            "tuxpaint",
            "tuxpaint-data",
            "1:0.9.28-sdl2-1",
            (("usr/share/tuxpaint/templates/*", "photo"), ("usr/share/tuxpaint/starters/*", "line art")),
            "GPL-2+",
            "Bill Kendrick and Tux Paint contributors",
            test=True,
        ),
        Source(
            "tuxpaint-stamps",
            "tuxpaint-stamps-default",
            "2022.06.04-1",
            (
                ("*/cartoon/*", "clip art"),
                ("*/symbols/*", "clip art"),
                ("usr/share/tuxpaint/stamps/*", "photo cut-out"),
            ),
            "GPL-2",
            "Bill Kendrick and Tux Paint contributors",
            test=True,
        ),
        Source(
            "ukui",
            "ukui-wallpapers",
            "20.04.3-1.1",
            (("usr/share/backgrounds/*", "illustration"),),
            "CC-BY-SA-3.0",
            "Ubuntu Kylin community contributors",
            test=True,
        ),
        Source(
            "kstars",
            "kstars-data",
            "5:3.6.2-2",
            (
                ("usr/share/doc/HTML/en/kstars/*", "screenshot"),
                ("usr/share/kstars/skycultures/*", "illustration"),
                ("usr/share/kstars/textures/*", "texture"),
            ),
            "GPL-2+ (manual: GFDL-1.2+)",
            "The KStars team",
            test=True,
        ),
    ]
}
PACKAGED = "skimage+sklearn"  # the nine photographs inside installed PyPI packages (data.photo_arrays): training


@dataclass(frozen=True)
class Item:
    source: str
    member: str  # path inside the package
    sha256: str
    kind: str
    split: str  # train | val | test
    width: int
    height: int

    @property
    def name(self) -> str:
        return f"{self.source}:{self.member}"

    @property
    def path(self) -> Path:
        return cache_dir() / self.source / f"{self.sha256[:24]}{Path(self.member).suffix.lower()}"


class CorpusError(RuntimeError):
    """The corpus cannot be used as asked; the message says what to do."""


def manifest(path: Path | None = None) -> list[Item]:
    rows = json.loads((path or MANIFEST).read_text())["files"]
    return [Item(*row) for row in rows]


def items(split: str | None = None, kinds: tuple[str, ...] | None = None, path: Path | None = None) -> list[Item]:
    """The manifest's files of one split (None: all), optionally only some kinds."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return [i for i in manifest(path) if (split is None or i.split == split) and (kinds is None or i.kind in kinds)]


def missing(chosen: list[Item]) -> list[Item]:
    return [i for i in chosen if not i.path.exists()]


def fetch(chosen: list[Item]) -> dict[str, Path]:
    """The files, fetched once per package into the cache (a recipe's step, never the app's)."""
    todo = missing(chosen)
    for source in sorted({i.source for i in todo}):
        s = SOURCES[source]
        photo_sources.extract(s.package, s.version, {i.member: (i.path, i.sha256) for i in todo if i.source == source})
    return {i.name: i.path for i in chosen}


def require_cached(chosen: list[Item]) -> dict[str, Path]:
    """The files if they are all in the cache; otherwise a CorpusError saying how to fetch them (the app's path)."""
    absent = missing(chosen)
    if absent:
        raise CorpusError(
            f"{len(absent)} of the corpus's {len(chosen)} images are not in the cache ({cache_dir()}); "
            "fetch them once with `python -m unetlab data --fetch` (the app never downloads)"
        )
    return {i.name: i.path for i in chosen}


def credits() -> list[dict]:
    """Per source: package, licence, author and file counts per split (what cards and `data --list` show)."""
    counts = Counter((i.source, i.split) for i in manifest())
    kinds: dict[str, Counter] = {}
    for i in manifest():
        kinds.setdefault(i.source, Counter())[i.kind] += 1
    return [
        {
            "source": s.name,
            "package": f"{s.package}={s.version}",
            "licence": s.licence,
            "author": s.author,
            "split": "test" if s.test else "train + val",
            "files": {split: counts[(s.name, split)] for split in SPLITS if counts[(s.name, split)]},
            "kinds": dict(kinds.get(s.name, {})),
        }
        for s in SOURCES.values()
    ]


def listing() -> str:
    """`python -m unetlab data --list`: one line per source."""
    lines = [f"{'source':<16} {'split':<12} {'files':>6}  {'kinds':<44} licence / package"]
    total = Counter()
    for c in credits():
        n = sum(c["files"].values())
        total.update(c["files"])
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(c["kinds"].items(), key=lambda kv: -kv[1]))
        split = c["split"] if c["split"] == "test" else f"{c['files'].get('train', 0)}+{c['files'].get('val', 0)}"
        lines.append(f"{c['source']:<16} {split:<12} {n:>6}  {kinds:<44} {c['licence']}  [{c['package']}]")
    lines.append(f"{PACKAGED:<16} {'train':<12} {9:>6}  {'photo 9':<44} as shipped in scikit-image/scikit-learn")
    lines.append(f"total: {sum(total.values()) + 9} images ({', '.join(f'{k} {v}' for k, v in total.items())}, +9)")
    lines.append(f"cache: {cache_dir()} ({sum(i.path.exists() for i in manifest())} of {len(manifest())} fetched)")
    return "\n".join(lines)


# --- building the manifest (a maintainer's step) ---------------------------------------------------------------


def kind_of(source: Source, member: str) -> str | None:
    if source.only and member not in source.only:
        return None
    return next((kind for pattern, kind in source.rules if fnmatch.fnmatch(member, pattern)), None)


def thumbnail(data: bytes) -> tuple[np.ndarray, int, int] | None:
    """A 9x8 grey thumbnail (alpha composited on white) and the image's size, or None if it is unusable:
    unreadable, smaller than MIN_SIDE, near-uniform, or a normal map (a 3-D game's lighting data, not a picture)."""
    from PIL import Image

    try:
        im = Image.open(io.BytesIO(data))
        w, h = im.size
        if min(w, h) < MIN_SIDE:
            return None
        im.draft("RGB", (256, 256))
        rgba = np.asarray(im.convert("RGBA").resize((64, 64), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    except Exception:
        return None
    rgb = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])
    if rgb.std() < 0.02:
        return None
    mean = rgb.reshape(-1, 3).mean(0)
    if mean[2] > 0.75 and abs(mean[0] - 0.5) < 0.15 and abs(mean[1] - 0.5) < 0.15:
        return None  # a normal map: (0.5, 0.5, 1) on average
    grey = rgb.mean(-1)
    small = np.asarray(Image.fromarray((grey * 255).astype(np.uint8)).resize((9, 8), Image.Resampling.BILINEAR))
    return small.astype(np.float32), w, h


def difference_hash(thumb: np.ndarray) -> np.ndarray:
    """64 bits: is each pixel of the 9x8 thumbnail brighter than its right neighbour (Krawetz's dHash)."""
    return (thumb[:, 1:] > thumb[:, :-1]).ravel()


def scan(source: Source, deb: Path) -> list[dict]:
    """Every usable image of one package that the source's rules select."""
    out = []
    stream = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    with stream, tarfile.open(fileobj=stream.stdout, mode="r|") as archive:
        for m in archive:
            member = m.name.removeprefix("./")
            if not m.isfile() or not member.lower().endswith((".jpg", ".jpeg", ".png", ".webp")):
                continue
            kind = kind_of(source, member)
            if kind is None:
                continue
            data = archive.extractfile(m).read()
            thumb = thumbnail(data)
            if thumb is None:
                continue
            out.append(
                dict(
                    source=source.name,
                    member=member,
                    sha256=hashlib.sha256(data).hexdigest(),
                    kind=kind,
                    width=thumb[1],
                    height=thumb[2],
                    hash=difference_hash(thumb[0]),
                )
            )
    return out


def deduplicate(found: list[dict]) -> list[dict]:
    """Keep one image of each group of near-duplicates (difference hashes within DUPLICATE_BITS, or the same
    bytes): the largest, and on ties the first by source order and path. Groups are transitive (union-find)."""
    if not found:
        return []
    bits = np.stack([f["hash"] for f in found]).astype(np.float32) * 2 - 1
    distance = (64 - bits @ bits.T) / 2
    parent = list(range(len(found)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_sha: dict[str, int] = {}
    for i, f in enumerate(found):
        if f["sha256"] in by_sha:
            parent[root(i)] = root(by_sha[f["sha256"]])
        by_sha.setdefault(f["sha256"], i)
    for i, j in zip(*np.nonzero(np.triu(distance <= DUPLICATE_BITS, k=1))):
        parent[root(int(i))] = root(int(j))
    best: dict[int, int] = {}
    for i, f in enumerate(found):
        r = root(i)
        if r not in best or f["width"] * f["height"] > found[best[r]]["width"] * found[best[r]]["height"]:
            best[r] = i
    return [found[i] for i in sorted(best.values())]


def split_of(source: Source, member: str) -> str:
    if source.test:
        return "test"
    return "val" if int(hashlib.sha256(member.encode()).hexdigest(), 16) % VAL_EVERY == 0 else "train"


def build(out: Path = MANIFEST, debs: Path | None = None) -> dict:
    """Download every source's pinned package (or take it from `debs`), select, deduplicate, split, and write
    the manifest. Returns the counts per source and split."""
    found = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in SOURCES.values():
            deb = next(iter(sorted(debs.glob(f"{s.package}_*.deb"))), None) if debs else None
            if deb is None:
                folder = Path(tmp) / s.name
                folder.mkdir()
                deb = photo_sources.download(s.package, s.version, folder)
            found += scan(s, deb)
    kept = deduplicate(found)
    rows = [
        [
            f["source"],
            f["member"],
            f["sha256"],
            f["kind"],
            split_of(SOURCES[f["source"]], f["member"]),
            f["width"],
            f["height"],
        ]
        for f in kept
    ]
    rows.sort(key=lambda r: (list(SOURCES).index(r[0]), r[1]))
    doc = {
        "about": "unetlab's image corpus: every file, its source (see corpus.py's SOURCES for package, version, "
        "licence, author), sha256, kind and split. Rebuilt by `python -m unetlab data --build`.",
        "found": len(found),
        "duplicates_dropped": len(found) - len(kept),
        "columns": ["source", "member", "sha256", "kind", "split", "width", "height"],
        "files": rows,
    }
    write(doc, out)
    return dict(Counter(f"{r[0]}/{r[4]}" for r in rows))


def write(doc: dict, out: Path) -> None:
    """The manifest as JSON with one file per line, so that its diffs read line by line."""
    head = {k: v for k, v in doc.items() if k != "files"}
    rows = ",\n".join(json.dumps(row, ensure_ascii=False) for row in doc["files"])
    out.write_text(json.dumps(head, indent=1, ensure_ascii=False)[:-2] + ',\n "files": [\n' + rows + "\n]}\n")
