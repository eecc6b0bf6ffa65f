"""The colouriser's fetched photos: a real .deb built here, served by a stand-in `apt-get` (nothing downloaded)."""

import hashlib
import shutil
import subprocess

import numpy as np
import pytest
import torch
from PIL import Image

from unetlab import cards, data, photo_sources, recipes
from unetlab.train import Report, keep_best

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs Debian's dpkg-deb")


def make_deb(tmp_path, files: dict[str, bytes], package="pics", version="1.0-1"):
    """A Debian package holding `files` (path inside -> bytes), built with dpkg-deb."""
    root = tmp_path / "pkgroot"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: all\nMaintainer: t <t@t>\nDescription: test\n"
    )
    for inside, content in files.items():
        (root / inside).parent.mkdir(parents=True, exist_ok=True)
        (root / inside).write_bytes(content)
    deb = tmp_path / f"{package}_{version}_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)], check=True, capture_output=True)
    return deb


def fake_apt(tmp_path, monkeypatch, deb):
    """An `apt-get` on PATH whose `download` copies `deb` into the current folder and logs its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    script = bin_dir / "apt-get"
    script.write_text(f'#!/bin/sh\necho "$@" >> {log}\ncp {deb} .\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{shutil.os.environ['PATH']}")
    return log


def jpeg(seed: int, size=(40, 30)) -> bytes:
    import io

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
def sources(tmp_path, monkeypatch):
    """Two photos in one package, the cache in tmp_path."""
    a, b = jpeg(1), jpeg(2)
    deb = make_deb(tmp_path, {"usr/share/pics/a.jpg": a, "usr/share/pics/b.jpg": b})
    log = fake_apt(tmp_path, monkeypatch, deb)
    table = {
        "pic-a": photo_sources.Source(
            "pics", "1.0-1", "usr/share/pics/a.jpg", hashlib.sha256(a).hexdigest(), "A", "CC0"
        ),
        "pic-b": photo_sources.Source(
            "pics", "1.0-1", "usr/share/pics/b.jpg", hashlib.sha256(b).hexdigest(), "B", "CC0"
        ),
    }
    monkeypatch.setattr(photo_sources, "PHOTOS", table)
    monkeypatch.setenv("UNETLAB_CACHE", str(tmp_path / "cache"))
    return {"a": a, "b": b, "log": log, "table": table, "tmp": tmp_path}


def test_fetch_reads_the_listed_files_out_of_the_package(sources):
    paths = photo_sources.fetch()
    assert paths["pic-a"].read_bytes() == sources["a"]
    assert paths["pic-b"].read_bytes() == sources["b"]
    assert sources["log"].read_text().split() == ["download", "pics=1.0-1"]  # the pinned version, one download
    assert sorted(p.name for p in (sources["tmp"] / "cache" / "photos").iterdir()) == ["pic-a.jpg", "pic-b.jpg"]


def test_fetch_uses_the_cache_and_rechecks_it(sources):
    photo_sources.fetch(["pic-a"])
    photo_sources.fetch(["pic-a"])
    assert len(sources["log"].read_text().splitlines()) == 1
    photo_sources.cached("pic-a").write_bytes(b"tampered")
    with pytest.raises(photo_sources.FetchError, match="sha256"):
        photo_sources.fetch(["pic-a"])


def test_fetch_refuses_a_package_whose_file_changed(sources, monkeypatch):
    bad = {
        **sources["table"],
        "pic-a": photo_sources.Source("pics", "1.0-1", "usr/share/pics/a.jpg", "0" * 64, "A", "x"),
    }
    monkeypatch.setattr(photo_sources, "PHOTOS", bad)
    with pytest.raises(photo_sources.FetchError, match="does not match its sha256"):
        photo_sources.fetch(["pic-a"])
    assert not photo_sources.cached("pic-a").exists()


def test_fetch_says_what_a_package_lacks(sources, monkeypatch):
    missing = {"pic-c": photo_sources.Source("pics", "1.0-1", "usr/share/pics/c.jpg", "0" * 64, "C", "x")}
    monkeypatch.setattr(photo_sources, "PHOTOS", missing)
    with pytest.raises(photo_sources.FetchError, match=r"lacks .*pics/c.jpg"):
        photo_sources.fetch()


def test_fetch_without_apt_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("UNETLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no apt-get at all
    with pytest.raises(photo_sources.FetchError, match="apt-get update"):
        photo_sources.fetch(["mate-dune"])


def test_every_photo_has_author_licence_and_checksum():
    assert len(photo_sources.PHOTOS) == 35
    for name, s in photo_sources.PHOTOS.items():
        assert s.author and s.licence and len(s.sha256) == 64, name
    credits = photo_sources.credits(list(photo_sources.PHOTOS))
    assert {c["licence"] for c in credits} <= {
        "GPL-2+",
        "LGPL-3",
        "CC-BY-4.0",
        "CC-BY-SA-3.0",
        "CC-BY-SA-4.0",
        "CC0-1.0",
    }
    assert set(data.VALIDATION_PHOTOS) <= set(photo_sources.PHOTOS)


def test_colour_photos_split_scales_and_held_out(sources, monkeypatch):
    monkeypatch.setattr(data, "VALIDATION_PHOTOS", ("pic-b",))
    monkeypatch.setattr(data, "COLOUR_SCALES", (24, 28))
    monkeypatch.setattr(data, "NATURAL_PHOTOS", ())
    d = data.colour_photos(crop=16, epoch_size=8)
    assert [tuple(t.shape) for t in d.train] == [(3, 24, 32), (3, 28, 37)]  # pic-a at both scales (40x30 source)
    assert d.test.shape == (2, 3, 16, 16)  # pic-b at the first scale: 24x32 -> two 16px tiles
    assert not set(data.HELDOUT_PHOTOS) & set(data.colour_photo_arrays("train"))


def test_short_side_never_enlarges():
    img = np.zeros((30, 50, 3), np.uint8)
    assert data.short_side(img, 15).shape == (15, 25, 3)
    assert data.short_side(img, 60) is img


def test_keep_best_restores_the_best_epochs_weights():
    model = torch.nn.Linear(1, 1, bias=False)

    def reports():
        for epoch, (w, loss) in enumerate([(1.0, 3.0), (2.0, 1.0), (3.0, 2.0)], 1):
            model.weight.data.fill_(w)
            yield Report(epoch, 3, loss, loss, 0.0, 0.0, 0.0, np.zeros((1, 1), np.uint8))

    seen = [r.epoch for r in keep_best(reports(), model)]
    assert seen == [1, 2, 3]  # the whole curve is still reported
    assert model.weight.item() == 2.0  # ... but epoch 2's weights are kept
    r = recipes.get("colorize-skip")
    history = [{"epoch": 1, "test_loss": 3.0}, {"epoch": 2, "test_loss": 1.0}, {"epoch": 3, "test_loss": 2.0}]
    assert r.keep_best and cards.kept(r, history)["epoch"] == 2
    assert cards.kept(recipes.get("vae-digits"), history)["epoch"] == 3
