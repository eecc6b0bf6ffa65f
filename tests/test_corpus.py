"""The image corpus: its manifest, its split by source, fetching and building it from (stand-in) Debian packages."""

import hashlib
import io
import json
import shutil
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from tests.diffusion_fixtures import TINY_VAE
from tests.test_photo_sources import fake_apt, make_deb
from unetlab import corpus, data, ldm, photo_sources, recipes
from unetlab.models.ldm import LatentVAE, LatentVAEConfig

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs Debian's dpkg-deb")


# --- the shipped manifest -------------------------------------------------------------------------------------


def test_manifest_is_big_broad_and_credited():
    files = corpus.manifest()
    assert len(files) >= 1000
    assert len({i.source for i in files}) >= 6
    assert {i.source for i in files} == set(corpus.SOURCES)
    assert len({i.sha256 for i in files}) == len(files)  # no file twice, even under another name
    for s in corpus.SOURCES.values():
        assert s.licence and s.author and s.version, s.name
    for i in files:
        assert len(i.sha256) == 64 and min(i.width, i.height) >= corpus.MIN_SIDE, i.name


def test_test_split_is_whole_sources_with_photos_and_non_photos():
    files = corpus.manifest()
    for i in files:
        assert (i.split == "test") == corpus.SOURCES[i.source].test, i.name
    test_kinds = {i.kind for i in files if i.split == "test"}
    assert test_kinds & set(corpus.PHOTO_KINDS) and test_kinds - set(corpus.PHOTO_KINDS)
    per_source = Counter((i.source, i.split) for i in files)
    for s in corpus.SOURCES.values():  # every training source gives validation images too (one in VAL_EVERY)
        if not s.test and per_source[(s.name, "train")] >= 2 * corpus.VAL_EVERY:
            assert per_source[(s.name, "val")] > 0, s.name


def test_no_test_file_reaches_any_training_recipe(monkeypatch):
    """Every recipe on corpus data asks only for the train and validation splits; none of their files (by name or
    bytes) is a test file; the colouriser's fetched photos are not test files either."""
    asked = []

    def fake_arrays(split, kinds=None, fetch=True, limit=0):
        asked.append(split)
        return {f"x:{k}": np.zeros((80, 80, 3), np.uint8) for k in range(2)}

    monkeypatch.setattr(data, "corpus_arrays", fake_arrays)
    # the latent diffusion recipes encode their crops with a (here toy, untrained) VAE
    monkeypatch.setattr(recipes, "autoencoder", lambda r, reg: LatentVAE(LatentVAEConfig(**TINY_VAE)))
    monkeypatch.setattr(ldm, "CROPS_PER_CLASS", 256)
    corpus_recipes = [r for r in recipes.RECIPES.values() if r.dataset in data.CORPUS_SETS]
    assert {"recon-skip", "recon-noskip", "ldm-vae", "ldm-eps"} <= {r.name for r in corpus_recipes}
    for r in corpus_recipes:
        recipes.load_data(r)
    assert asked and set(asked) <= {"train", "val"}
    test = corpus.items("test")
    test_names, test_shas = {i.name for i in test}, {i.sha256 for i in test}
    for kinds in data.CORPUS_SETS.values():
        seen = corpus.items("train", kinds) + corpus.items("val", kinds)
        assert not {i.name for i in seen} & test_names
        assert not {i.sha256 for i in seen} & test_shas
    assert not {s.sha256 for s in photo_sources.PHOTOS.values()} & test_shas


def test_listing_names_every_source_and_its_licence():
    text = corpus.listing()
    for s in corpus.SOURCES.values():
        assert s.name in text and s.licence in text and s.version in text
    assert f"total: {len(corpus.manifest()) + 9} images" in text


# --- building and fetching, from a package built here ---------------------------------------------------------


def png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    return buf.getvalue()


def picture(seed: int, size: int = 160) -> np.ndarray:
    """A smooth random colour picture (structure at low frequency, so resizing keeps its difference hash)."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    return np.asarray(small.resize((size, size), Image.Resampling.BICUBIC))


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    """One package: two distinct pictures, a near-duplicate (one of them at another size), a recoloured copy,
    a tiny image and a flat one; a source table that uses it as a training and as a test source."""
    a, b = picture(1), picture(2)
    files = {
        "usr/share/pics/a.png": png(a),
        "usr/share/pics/a-big.png": png(np.asarray(Image.fromarray(a).resize((320, 320)))),
        "usr/share/pics/a-blue.png": png(a[..., ::-1].copy()),
        "usr/share/pics/b.png": png(b),
        "usr/share/pics/tiny.png": png(picture(3, 64)),
        "usr/share/pics/flat.png": png(np.full((200, 200, 3), 90, np.uint8)),
        "usr/share/other/ignored.png": png(picture(4)),
    }
    deb = make_deb(tmp_path, files, package="pics", version="1.0-1")
    log = fake_apt(tmp_path, monkeypatch, deb)
    sources = {
        "pics": corpus.Source("pics", "pics", "1.0-1", (("usr/share/pics/*", "photo"),), "CC0-1.0", "Someone"),
    }
    monkeypatch.setattr(corpus, "SOURCES", sources)
    monkeypatch.setenv("UNETLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(corpus, "MANIFEST", tmp_path / "corpus.json")
    return {"files": files, "log": log, "deb": deb, "tmp": tmp_path}


@needs_dpkg
def test_build_selects_drops_duplicates_and_splits(stand_in):
    counts = corpus.build(stand_in["tmp"] / "corpus.json")
    kept = {i.member for i in corpus.manifest()}
    # a, its larger copy and its recoloured copy are one picture: only the largest is kept
    assert kept == {"usr/share/pics/a-big.png", "usr/share/pics/b.png"}
    assert sum(counts.values()) == 2
    doc = json.loads((stand_in["tmp"] / "corpus.json").read_text())
    assert doc["found"] == 4 and doc["duplicates_dropped"] == 2  # tiny, flat and the unlisted folder never counted
    for i in corpus.manifest():
        assert i.sha256 == hashlib.sha256(stand_in["files"][i.member]).hexdigest()
        assert i.split in ("train", "val")


@needs_dpkg
def test_a_test_source_is_test_only(stand_in, monkeypatch):
    s = corpus.SOURCES["pics"]
    monkeypatch.setattr(corpus, "SOURCES", {"pics": corpus.Source(**{**s.__dict__, "test": True})})
    corpus.build(stand_in["tmp"] / "corpus.json")
    assert {i.split for i in corpus.manifest()} == {"test"}


@needs_dpkg
def test_fetch_fills_the_cache_once_and_the_app_path_never_downloads(stand_in):
    corpus.build(stand_in["tmp"] / "corpus.json")
    chosen = corpus.items()
    with pytest.raises(corpus.CorpusError, match="python -m unetlab data --fetch"):
        corpus.require_cached(chosen)  # the app's path: says how, downloads nothing
    builds = len(stand_in["log"].read_text().splitlines())
    paths = corpus.fetch(chosen)
    assert len(stand_in["log"].read_text().splitlines()) == builds + 1  # one download for the package
    for i in chosen:
        assert paths[i.name].read_bytes() == stand_in["files"][i.member]
    corpus.fetch(chosen)
    assert len(stand_in["log"].read_text().splitlines()) == builds + 1  # cached
    assert corpus.require_cached(chosen) == paths


def one_train_one_val(stand_in) -> None:
    """Build the stand-in's manifest (two pictures), then make the first a training and the second a validation
    file (the hash split of two files could put both on one side)."""
    corpus.build(stand_in["tmp"] / "corpus.json")
    rows = json.loads((stand_in["tmp"] / "corpus.json").read_text())
    rows["files"] = [r[:4] + [split] + r[5:] for r, split in zip(rows["files"], ("train", "val"))]
    corpus.write(rows, stand_in["tmp"] / "corpus.json")


@needs_dpkg
def test_corpus_data_crops_uint8_weights_and_validation(stand_in, monkeypatch):
    one_train_one_val(stand_in)
    monkeypatch.setattr(data, "photo_arrays", lambda held_out=False: {"packaged": picture(5, 200)})
    with pytest.raises(data.DataError, match="data --fetch"):
        data.corpus_data("corpus", crop=32, epoch_size=8, fetch=False)
    d = data.corpus_data("corpus", crop=32, epoch_size=8)
    assert [t.dtype for t in d.train] == [torch.uint8, torch.uint8]  # packaged photo + the training file
    assert d.weights.tolist() == [1.0, 1.0]  # one image from each of two sources
    assert d.test.shape[1:] == (3, 32, 32) and len(d.test) == (160 // 32) ** 2  # the validation file's tiles
    batch = next(d.batches(4, torch.Generator().manual_seed(0)))
    assert batch.dtype == torch.float32 and batch.shape == (4, 3, 32, 32) and 0 <= batch.min() <= batch.max() <= 1


def test_kind_rules_first_match_wins_and_only_lists():
    s = corpus.Source("s", "p", "1", (("*/cartoon/*", "clip art"), ("*", "photo")), "x", "y", only=("a/b.png",))
    assert corpus.kind_of(s, "a/b.png") == "photo"
    assert corpus.kind_of(s, "a/c.png") is None  # not listed
    t = corpus.Source("t", "p", "1", (("*/cartoon/*", "clip art"), ("*", "photo")), "x", "y")
    assert corpus.kind_of(t, "stamps/cartoon/cat.png") == "clip art"


def test_live_training_reads_the_corpus_from_the_cache_only(tmp_path, monkeypatch):
    from unetlab import live

    monkeypatch.setenv("UNETLAB_CACHE", str(tmp_path / "empty"))
    assert set(data.CORPUS_SETS) <= set(live.DATASETS)
    with pytest.raises(data.DataError, match="python -m unetlab data --fetch"):
        live.load_data(live.Job(model="unet", dataset="corpus-photos"))


@needs_dpkg
def test_live_training_on_the_cached_corpus(stand_in, monkeypatch):
    from unetlab import live

    one_train_one_val(stand_in)
    corpus.fetch(corpus.items())
    monkeypatch.setattr(data, "photo_arrays", lambda held_out=False: {})
    d, note = live.load_data(live.Job(model="unet", dataset="corpus"))
    assert d.crop == live.CROP and len(d.train) == 1 and "from the cache" in note
    d, _ = live.load_data(live.Job(model="vae", dataset="corpus"))
    assert d.size == live.SIZE  # the fixed-size autoencoders see 32x32 crops
