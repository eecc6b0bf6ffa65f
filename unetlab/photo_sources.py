"""Extra colour photographs for training the colouriser, from Debian's wallpaper packages.

scikit-image and scikit-learn ship only a handful of natural colour photos, too few to learn believable colour
from. These 35 photographs come from four Debian packages whose licences allow it (GPL-2+, LGPL-3, CC-BY,
CC-BY-SA, CC0; every file's author and licence is below and goes into the card). They are fetched by the
training recipe, never by the app: `apt-get download PACKAGE=VERSION` into a temporary folder, the listed files
read out of the package's data archive (no path from the archive is ever written to), each checked against its
sha256, and cached in UNETLAB_CACHE (default ~/.cache/unetlab). Nothing here runs when the app serves.
"""

from __future__ import annotations

import hashlib
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from unetlab.settings import data_cache


class FetchError(RuntimeError):
    """A photo that could not be fetched or did not match its checksum; the message says what to do."""


@dataclass(frozen=True)
class Source:
    package: str
    version: str
    member: str  # path inside the package
    sha256: str
    author: str
    licence: str


MATE = ("mate-backgrounds", "1.26.0-1", "usr/share/backgrounds/mate/nature")
PLASMA = ("plasma-workspace-wallpapers", "4:5.27.5-2", "usr/share/wallpapers")
LOMIRI_16 = ("lomiri-wallpapers-16.04", "20.04.0-2", "usr/share/backgrounds")
LOMIRI_20 = ("lomiri-wallpapers-20.04", "20.04.0-2", "usr/share/backgrounds")


def _mate(name: str, sha: str, author: str) -> Source:
    return Source(MATE[0], MATE[1], f"{MATE[2]}/{name}.jpg", sha, author, "GPL-2+")


def _plasma(name: str, size: str, sha: str, author: str, licence: str = "LGPL-3") -> Source:
    return Source(PLASMA[0], PLASMA[1], f"{PLASMA[2]}/{name}/contents/images/{size}.jpg", sha, author, licence)


def _lomiri(pkg: tuple, file: str, sha: str, author: str, licence: str) -> Source:
    return Source(pkg[0], pkg[1], f"{pkg[2]}/{file}.jpg", sha, author, licence)


# name -> source; authors and licences as in each package's debian/copyright (Plasma's from its metadata.json)
PHOTOS: dict[str, Source] = {
    "mate-aqua": _mate("Aqua", "5c30118205982da441bf7e6a1ada636a8a0be879408140b3148280c665ed6bce", "Charles Barbin"),
    "mate-blinds": _mate(
        "Blinds", "f7aac0dcc2e06d0491643e84df3da1d9db7c4610f58806a880d56e074799f600", "Lennart Poettering"
    ),
    "mate-dune": _mate("Dune", "8a67c2cb0be8c46b70c237311a4fa4d2b4ac7d39568135384787801fa5cc9a91", "Marco Cogoni"),
    "mate-freshflower": _mate(
        "FreshFlower", "972b0a0c4e5e3fa93f4f244fc84bc64b121a5eac3aaa5856f1308c1f38a02f8e", "Jens Ansorg"
    ),
    "mate-garden": _mate(
        "Garden", "d3095ee09d425ef23d27155412136cf14fc3c9af76ca58b452f55e23da324e78", "Charles Barbin"
    ),
    "mate-greenmeadow": _mate(
        "GreenMeadow", "8fa0de0aa4089f7319c9fb7a6d006d4cab6023e8c8853731557cff53567b4832", "Timothy Schellhase"
    ),
    "mate-ladybird": _mate(
        "LadyBird", "e35a9a4126ef969c90b29c038058c5a575a20eadd84106a37bf1fa9931e7b61d", "Charles Barbin"
    ),
    "mate-raindrops": _mate(
        "RainDrops", "3e4ea9671c28c90a86cf67b3db9daf18c4741587c596333a7529ca589aaa0c16", "blackcombwhistler07"
    ),
    "mate-storm": _mate("Storm", "77ca53077831d3237f73393a91fc879158abc046d852941c26e90de336356957", "Sergey Nazarov"),
    "mate-twowings": _mate(
        "TwoWings", "665e5abf8a5399070a91a9a8e455fe071e5b61697ff78fdeda4e9843ef545aeb", "Charles Barbin"
    ),
    "mate-wood": _mate(
        "Wood", "19c78500ac00a622e19907ab9cc7d06d46fe08c4a6142759a84195696150ec07", "Jean-François Fortin Tam"
    ),
    "mate-yellowflower": _mate(
        "YellowFlower", "254da96256acb7add685679775a04d1e4a5bc8cd13e5a5a3d61351ce198a5306", "Charles Barbin"
    ),
    "plasma-bythewater": _plasma(
        "BytheWater", "2560x1600", "c272434ef39f2abf1ed48a15a8910088020f3165329a5092f3940ec9464bc05f", "Maciej Wiklo"
    ),
    "plasma-colorfulcups": _plasma(
        "ColorfulCups", "2560x1600", "6e0f3a72feb5a4a9fec191b77e34874c3c69e2d93040deb3f07773e73385023d", "Dmitri Popov"
    ),
    "plasma-eveningglow": _plasma(
        "EveningGlow", "2560x1600", "586682dcb362b9f620068f10138f87d0d3649939aef238adc5807cb951976a7a", "Ian Hex"
    ),
    "plasma-fallenleaf": _plasma(
        "FallenLeaf", "2560x1600", "95603a6560c7e8d50e0e03b3f4adbe39c5258c72528e74e4ecaea1daf4e499de", "Martin Klapetek"
    ),
    "plasma-kite": _plasma(
        "Kite", "2560x1600", "bdca288ce296a981e80659c021cf707caddc702c0c8d4247e60bd618476d47f8", "Risto Saukonpää"
    ),
    "plasma-onestandsout": _plasma(
        "OneStandsOut",
        "2560x1600",
        "cb507baf1dafdcae362264f3aba9483ed4be5f6c9fdd770f0ec0920c6d9e80fd",
        "Risto Saukonpää",
    ),
    "plasma-path": _plasma(
        "Path", "2560x1600", "7477457d7f17b736259f1b021864778ad4ba802cf3214e6728181ff29126bba8", "Risto Saukonpää"
    ),
    "plasma-summer1am": _plasma(
        "summer_1am", "2560x1600", "c868b50789591dd42910153c768053f1ba0a98cb36bbfc2b7a96a1045d0477f8", "Risto Saukonpää"
    ),
    "plasma-volna": _plasma(
        "Volna",
        "5120x2880",
        "abc30b4fc6f6a83b6156e6b59ac283c067de40af820aafac8ac7c4fd83a9607c",
        "Nikita Babin",
        "CC-BY-SA-4.0",
    ),
    "lomiri-kleiber": _lomiri(
        LOMIRI_20,
        "Kleiber_by_Lukas_Baubkus",
        "6572410c09f4492c74ccadde133565a14c0161617d5917d4c820c66d65a44ba7",
        "Lukas Baubkus",
        "CC-BY-SA-3.0",
    ),
}
_LOMIRI_16 = [  # (name, file stem, sha256, author, licence)
    (
        "lomiri-bridge",
        "Bridge_by_Sander_Klootwijk",
        "bd86b081f9975e2b83527f71e49b9271a8ab40885428395969d9f7d834d7f050",
        "Sander Klootwijk",
        "CC-BY-SA-4.0",
    ),  # noqa: E501
    (
        "lomiri-dragonfly",
        "Dragonfly_by_Bolly",
        "af5af17841009732def24b09bb1e669a1b09d2b4bdeee7812c371101c30d2bb3",
        "Bolly",
        "CC-BY-SA-4.0",
    ),
    (
        "lomiri-fig",
        "Picture_0B_by_freespace",
        "c8c0ab18e48d9e0419fe42881112137f3afafc27dfddc29ec3a6d54c56d225ad",
        "Trevor Freespace",
        "CC-BY-4.0",
    ),  # noqa: E501
    (
        "lomiri-brushes",
        "Picture_1A_by_freespace",
        "89e86af38d04daaef975665dc2127e9fa76f0fd68f4eea105a2d0ae3390b010b",
        "Trevor Freespace",
        "CC-BY-4.0",
    ),  # noqa: E501
    (
        "lomiri-wine",
        "Wine_by_Jakkub_Mede",
        "d2e96e6d4da40dd804b3d0ce295e94de04a2d7d9b6785d42cd9d92ba58bced74",
        "Jakub Mede",
        "CC-BY-4.0",
    ),
    (
        "lomiri-aitzgorri",
        "aitzgorri_by_Aitzol_Berasategi",
        "66268e7b48f8854d36a28765fac6e23ec1aee251daa6da1f64715f201020ad36",
        "Aitzol Berasategi",
        "CC-BY-4.0",
    ),  # noqa: E501
    (
        "lomiri-free",
        "free_by_Peter_Nerlich",
        "85a5453c2fed514c75973016f3d862aca62eb7ca087618822469274ac1092373",
        "Peter Nerlich",
        "CC-BY-SA-4.0",
    ),  # noqa: E501
    (
        "lomiri-friends",
        "friends_by_Aitzol_Berasategi",
        "cc40e313c74e421edffe3403def413c16878ce14661cce7ec5915baeab35538d",
        "Aitzol Berasategi",
        "CC-BY-4.0",
    ),  # noqa: E501
    (
        "lomiri-greentock",
        "greentock_by_Peter_Nerlich",
        "e7b20e2db9dcd6e2b278ca55873c2110b35d89cd38b04d0b18728726888e6889",
        "Peter Nerlich",
        "CC-BY-SA-4.0",
    ),  # noqa: E501
    (
        "lomiri-life",
        "life_by_Aitzol_Berasategi",
        "4c119350ead80201fe256850c3d316309ddfb4bdf10b235ce982dcde0c667c05",
        "Aitzol Berasategi",
        "CC-BY-4.0",
    ),  # noqa: E501
    (
        "lomiri-picosdeeuropa",
        "picosdeeuropa_by_Aitzol_Berasategi",
        "414d0072b2f6f2c555deafeaef6e45c4fed6fa9ad26eba6560ca8803959cf97a",
        "Aitzol Berasategi",
        "CC-BY-4.0",
    ),  # noqa: E501
    (
        "lomiri-seeding",
        "seeding_by_Clements_Engelhardt",
        "a5634d1ab5e41a3568e92d4a894a500c92b891f9ff734e50bd224d6e185a605f",
        "Clemens Engelhardt",
        "CC0-1.0",
    ),  # noqa: E501
    (
        "lomiri-sunset",
        "sunset_by_Aitzol_Berasategi",
        "474dab6a4b9f94dc76c29dfe30e9f5db4af0fd2e33fe5d695f8152b371efca18",
        "Aitzol Berasategi",
        "CC-BY-4.0",
    ),  # noqa: E501
]
PHOTOS |= {name: _lomiri(LOMIRI_16, stem, sha, who, lic) for name, stem, sha, who, lic in _LOMIRI_16}


def cached(name: str) -> Path:
    return data_cache() / "photos" / f"{name}.jpg"


def fetch(names: list[str] | None = None) -> dict[str, Path]:
    """The photos' files, fetched once into the cache (checked against their sha256 every time)."""
    names = list(PHOTOS) if names is None else names
    missing = [n for n in names if not cached(n).exists()]
    for package in sorted({PHOTOS[n].package for n in missing}):
        _fetch_package(package, [n for n in missing if PHOTOS[n].package == package])
    from unetlab.registry import sha256  # the project's one file hasher

    out = {}
    for n in names:
        if sha256(cached(n)) != PHOTOS[n].sha256:
            raise FetchError(f"{cached(n)} does not match its sha256; delete it and fetch again")
        out[n] = cached(n)
    return out


def _fetch_package(package: str, names: list[str]) -> None:
    version = PHOTOS[names[0]].version
    extract(package, version, {PHOTOS[n].member: (cached(n), PHOTOS[n].sha256) for n in names})


def download(package: str, version: str, folder: Path) -> Path:
    """`apt-get download PACKAGE=VERSION` into folder; the .deb's path, or a FetchError saying what to do."""
    try:
        subprocess.run(
            ["apt-get", "download", f"{package}={version}"], cwd=folder, check=True, capture_output=True, text=True
        )
    except (OSError, subprocess.CalledProcessError) as e:
        detail = getattr(e, "stderr", "") or str(e)
        raise FetchError(
            f"could not download Debian package {package}={version} ({detail.strip()}); the fetched images "
            "need Debian's apt with its package lists (run `apt-get update` first)"
        ) from e
    return next(folder.glob("*.deb"))


def extract(package: str, version: str, wanted: dict[str, tuple[Path, str]]) -> None:
    """Download one pinned Debian package and write each wanted member (path inside -> (our file, sha256)).

    Only our own file names are ever written, never a path from the archive; a member whose bytes do not match
    its sha256 stops the fetch before it is written."""
    with tempfile.TemporaryDirectory() as tmp:
        deb = download(package, version, Path(tmp))
        stream = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        left = {f"./{member}": target for member, target in wanted.items()}
        try:
            with tarfile.open(fileobj=stream.stdout, mode="r|") as archive:
                for member in archive:
                    target = left.pop(member.name, None)
                    if target is None or not member.isfile():
                        continue
                    dest, sha = target
                    data = archive.extractfile(member).read()
                    if hashlib.sha256(data).hexdigest() != sha:
                        raise FetchError(f"{member.name} in {package}={version} does not match its sha256")
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    part = dest.with_suffix(".part")
                    part.write_bytes(data)
                    part.replace(dest)  # written only under our own name, never the archive's path
        finally:
            stream.stdout.close()
            stream.wait()
        if left:
            missing = sorted(m[2:] for m in left)
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise FetchError(f"{package}={version} lacks {shown}")


def credits(names: list[str]) -> list[dict]:
    """What a card lists for each photo used: source file, author, licence."""
    return [
        {"name": n, "package": f"{s.package}={s.version}", "file": "/" + s.member, "author": s.author,
         "licence": s.licence, "sha256": s.sha256}
        for n in names
        for s in [PHOTOS[n]]
    ]  # fmt: skip
