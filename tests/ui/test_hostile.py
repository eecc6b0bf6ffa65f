"""Hostile uploads sent to the running app the way a user's browser or script sends them (gradio_client).

Each one gets a clear message or a correct conversion; after each, the server still serves the next request;
nothing on disk is overwritten (the weights folder is byte-identical afterwards, whatever the upload's name).
"""

import hashlib
import io
import zlib
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import app
from tests.conftest import TINY, tiny_card
from unetlab import registry

PORT = 7872


def png_bomb(path: Path, w: int, h: int) -> None:
    """A valid PNG header claiming w x h greyscale pixels, with a tiny compressed body: refused before decoding."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    body = zlib.compress(b"\x00" * (w + 1) * 64)  # the first rows only; nobody should get this far
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def exif_rotated(path: Path) -> None:
    im = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    im.save(path, exif=exif)


def animated(path: Path) -> None:
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)


def png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def write(path: Path, content) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, Image.Image):
        content.save(path)
    else:
        content(path)


# name, what the file holds, and either the words of the error or the (width, height) of a correct result
CASES = [
    ("undecodable.png", lambda p: p.write_bytes(png_bytes(Image.effect_noise((64, 64), 60))[:300]), "could not be"),
    ("notes.png", b"I am a text file", "not an image"),
    ("empty.png", b"", "empty"),
    ("dot.png", Image.new("RGB", (1, 1)), "at least 16"),
    ("strip.png", Image.new("L", (20000, 10)), "at least 16"),
    ("ribbon.png", Image.new("L", (2000, 20)), "strip"),
    ("bomb.png", lambda p: png_bomb(p, 10000, 5000), "50 Mpx"),
    ("deep.png", Image.fromarray(np.arange(32 * 48, dtype=np.uint16).reshape(32, 48) * 40, "I;16"), (48, 32)),
    ("print.jpg", Image.new("CMYK", (40, 24), (0, 255, 255, 0)), (40, 24)),
    ("alpha.png", Image.new("RGBA", (24, 24), (255, 0, 0, 0)), (24, 24)),
    ("palette.png", Image.new("RGB", (24, 24), (9, 200, 30)).convert("P"), (24, 24)),
    ("rotated.jpg", exif_rotated, (20, 40)),
    ("animated.gif", animated, (32, 32)),
    ("recon-skip.json", lambda p: p.write_bytes(png_bytes(Image.new("RGB", (20, 20)))), (20, 20)),  # named like a card
]


def folder_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    weights = tmp_path_factory.mktemp("weights")
    for name, skips in (("tiny-noskip", False), ("tiny-skip", True)):
        registry.save(registry.build("unet", {**TINY, "skips": skips}), tiny_card(name, skips), weights)
    demo = app.build_app(registry.Registry(weights))
    app.launch(demo, prevent_thread_lock=True, quiet=True, server_port=PORT)
    yield Client(f"http://127.0.0.1:{PORT}/", verbose=False), weights
    demo.close()


def reconstruct(client: Client, path) -> tuple:
    return client.predict(handle_file(str(path)), "tiny-noskip", "tiny-skip", api_name="/reconstruct")


@pytest.mark.parametrize("name,content,expected", CASES, ids=[c[0] for c in CASES])
def test_hostile_upload(server, tmp_path, name, content, expected):
    client, weights = server
    before = folder_digest(weights)
    path = tmp_path / name
    write(path, content)
    if isinstance(expected, str):
        with pytest.raises(Exception, match=expected):
            reconstruct(client, path)
    else:
        out = reconstruct(client, path)
        assert Image.open(out[1]).size == expected
    # the server keeps serving, and nothing on disk changed
    ok = tmp_path / "ok.png"
    Image.fromarray(np.full((16, 16, 3), 200, np.uint8)).save(ok)
    assert Image.open(reconstruct(client, ok)[0]).size == (16, 16)
    assert folder_digest(weights) == before


def test_upload_size_is_limited(server, tmp_path):
    """app.launch sets max_file_size (UNETLAB_MAX_FILE_SIZE, default 50mb): a larger upload is refused."""
    client, _ = server
    big = tmp_path / "big.png"
    noise = np.random.default_rng(0).integers(0, 256, (4200, 4200, 3), dtype=np.uint8)  # ~53 MB as PNG
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="PNG", compress_level=0)
    big.write_bytes(buf.getvalue())
    assert big.stat().st_size > 50 * 1024 * 1024
    with pytest.raises(Exception, match="(?i)too large|maximum|size"):
        reconstruct(client, big)
