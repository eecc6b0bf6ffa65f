"""Gradio's output cache written atomically: the same image for two users never truncates a file being served."""

import numpy as np
from gradio import processing_utils as pu
from PIL import Image

import app  # noqa: F401  (the app installs the writers when it builds)
from unetlab.ui import cache_writes


def test_same_image_is_written_once_and_whole(tmp_path):
    cache_writes.install()
    img = Image.fromarray(np.arange(48 * 64 * 3, dtype=np.uint8).reshape(48, 64, 3))
    first = pu.save_img_array_to_cache(np.asarray(img), str(tmp_path), format="png")
    assert Image.open(first).size == (64, 48)
    marker = b"being served"  # stands for a download in progress: the file must not be rewritten in place
    with open(first, "r+b") as f:
        f.write(marker)
    again = pu.save_img_array_to_cache(np.asarray(img), str(tmp_path), format="png")
    assert again == first and open(again, "rb").read(len(marker)) == marker
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == ["image.png"]  # no temporary file left


def test_bytes_writer(tmp_path):
    cache_writes.install()
    a = pu.save_bytes_to_cache(b"abc", "x.bin", str(tmp_path))
    b = pu.save_bytes_to_cache(b"abc", "x.bin", str(tmp_path))
    assert a == b and open(a, "rb").read() == b"abc"
    assert pu.save_bytes_to_cache(b"abd", "x.bin", str(tmp_path)) != a
