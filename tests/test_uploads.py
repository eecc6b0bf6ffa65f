"""A user's own training data: zips and image files, through the one validator, with hostile archives refused."""

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from unetlab.data import DataError, from_images
from unetlab.uploads import Limits, read_uploads, unsafe


def png(w=40, h=30, seed=0) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def make_zip(path, entries: dict[str, bytes], method=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def test_zip_images_are_read_and_non_images_counted(tmp_path):
    z = make_zip(
        tmp_path / "set.zip",
        {"a.png": png(seed=1), "sub/b.png": png(seed=2), "notes.txt": b"hello", "c.jpg": b"not a jpeg", "d/": b""},
    )
    up = read_uploads([z])
    assert up.names == ["a.png", "sub/b.png"] and up.images[0].shape == (30, 40, 3)
    assert len(up.skipped) == 2
    assert "notes.txt: not an image" in up.skipped[0] and "c.jpg" in up.skipped[1]
    assert up.summary().startswith("2 image(s), 2 skipped")


def test_zip_and_loose_images_together(tmp_path):
    z = make_zip(tmp_path / "one.zip", {"a.png": png(seed=1)})
    loose = tmp_path / "b.png"
    loose.write_bytes(png(seed=3))
    assert [im.shape for im in read_uploads([z, loose]).images] == [(30, 40, 3), (30, 40, 3)]


@pytest.mark.parametrize("name", ["../evil.png", "/etc/evil.png", "a/../../evil.png", "C:/evil.png", "..\\evil.png"])
def test_zip_slip_is_refused(tmp_path, name):
    assert unsafe(name)
    z = make_zip(tmp_path / "slip.zip", {"ok.png": png(), name: png()})
    with pytest.raises(DataError, match="unsafe path.*outside the archive"):
        read_uploads([z])


def test_safe_names_pass():
    assert not any(unsafe(n) for n in ("a.png", "dir/b.png", "x..y.png", "dir/..hidden/c.png"))


def test_zip_bomb_by_ratio(tmp_path):
    z = make_zip(tmp_path / "bomb.zip", {"zeros.png": b"\0" * 5_000_000})  # 5 MB of zeros: ~1000:1
    with pytest.raises(DataError, match="compressed .*:1.*zip bomb"):
        read_uploads([z])


def test_zip_bomb_by_declared_sizes(tmp_path):
    z = make_zip(tmp_path / "big.zip", {"a.png": png(), "b.png": png(seed=1)}, zipfile.ZIP_STORED)
    with pytest.raises(DataError, match="a.png in big.zip unpacks to .* the limit per file"):
        read_uploads([z], Limits(entry_bytes=1000))
    with pytest.raises(DataError, match="big.zip unpacks to .* MB; the limit is"):
        read_uploads([z], Limits(entry_bytes=10**9, total_bytes=2000))


def test_too_many_entries(tmp_path):
    z = make_zip(tmp_path / "many.zip", {f"{i}.txt": b"x" for i in range(4)})
    with pytest.raises(DataError, match="4 entries; the limit is 3"):
        read_uploads([z], Limits(entries=3))


def test_a_header_that_lies_is_caught(tmp_path):
    z = tmp_path / "liar.zip"
    make_zip(z, {"a.png": png(), "b.png": png(seed=1)}, zipfile.ZIP_STORED)
    raw = bytearray(z.read_bytes())
    raw[raw.index(b"PNG") + 40] ^= 0xFF  # corrupt the data: the CRC no longer matches
    z.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="damaged"):
        read_uploads([z])


def test_pixel_caps(tmp_path):
    z = make_zip(tmp_path / "px.zip", {"a.png": png(40, 30), "b.png": png(80, 60, seed=1), "c.png": png(seed=2)})
    up = read_uploads([z], Limits(image_pixels=2000))  # per image: b (4,800 px) is skipped with the reason
    assert up.names == ["a.png", "c.png"] and "b.png is 80x60" in up.skipped[0] and "0.002 Mpx" in up.skipped[0]
    with pytest.raises(DataError, match="more than 0.003 Mpx in all"):  # in all: refused once exceeded
        read_uploads([z], Limits(image_pixels=10**6, total_pixels=3000))


def test_not_a_zip_and_too_few_images(tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"PK but not really")
    with pytest.raises(DataError, match="fake.zip is not a zip archive"):
        read_uploads([fake])
    z = make_zip(tmp_path / "one.zip", {"a.png": png(), "readme.md": b"#"})
    with pytest.raises(DataError, match="one usable image.*at least two"):
        read_uploads([z])
    with pytest.raises(DataError, match="no usable image"):
        read_uploads([make_zip(tmp_path / "none.zip", {"readme.md": b"#"})])


def test_from_images_crops_or_squares():
    imgs = [np.random.default_rng(i).integers(0, 256, (30 + i, 50, 3), dtype=np.uint8) for i in range(12)]
    squares = from_images("upload", imgs, size=32)
    assert squares.train.shape[1:] == (3, 32, 32) and len(squares.train) + len(squares.test) == 12
    crops = from_images("upload", imgs, crop=64, epoch_size=16)
    assert crops.crop == 64 and len(crops) == 16 and crops.test.shape[1:] == (3, 64, 64)
    assert min(min(p.shape[1:]) for p in crops.train) == 96  # short side scaled to 1.5 x crop
