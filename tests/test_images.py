"""unetlab.images: the upload validator load_image (every bad input it refuses, every odd format it accepts) and
the small array helpers. Every test writes its own tiny files into tmp_path."""

import io
import time

import numpy as np
import pytest
from PIL import Image, ImageFile

from unetlab import images

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def save(tmp_path, name: str, im: Image.Image, **kwargs) -> str:
    path = tmp_path / name
    im.save(path, **kwargs)
    return str(path)


def refused(source, *words: str, **kwargs) -> str:
    """load_image must raise ImageError whose message holds every word; returns the message."""
    with pytest.raises(images.ImageError) as info:
        images.load_image(source, **kwargs)
    msg = str(info.value)
    for word in words:
        assert word in msg, f"{word!r} not in {msg!r}"
    return msg


# --- refused ----------------------------------------------------------------------------------------------------


def test_image_error_is_a_value_error():
    assert issubclass(images.ImageError, ValueError)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    assert refused(str(path), "empty", "0 bytes").startswith("empty.png")


def test_missing_file(tmp_path):
    refused(str(tmp_path / "nope.png"), "nope.png", "no such file")


def test_directory_is_not_a_file(tmp_path):
    refused(tmp_path, "no such file")


def test_text_file_is_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("hello, I am text pretending to be a PNG\n")
    refused(str(path), "notes.png", "not an image")


def test_png_header_then_garbage(tmp_path):
    path = tmp_path / "garbage.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    msg = refused(str(path), "garbage.png")
    assert "could not be decoded" in msg or "not an image" in msg


def test_truncated_jpeg(tmp_path):
    buf = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buf, format="JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    refused(str(path), "cut.jpg", "could not be decoded", "truncated")


def test_truncated_png(tmp_path):
    buf = io.BytesIO()
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buf, format="PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    refused(str(path), "cut.png", "could not be decoded", "truncated")


def test_one_pixel_image_is_too_small(tmp_path):
    path = save(tmp_path, "dot.png", Image.new("RGB", (1, 1), RED))
    refused(path, "1x1", "at least", str(images.MIN_SIDE))


def test_smallest_accepted_side(tmp_path):
    side = images.MIN_SIDE
    assert images.load_image(save(tmp_path, "ok.png", Image.new("RGB", (side, side)))).shape == (side, side, 3)
    refused(save(tmp_path, "small.png", Image.new("RGB", (side, side - 1))), "at least")


def test_thin_strip_is_refused(tmp_path):
    # 10 px high: refused, by the minimum-side rule which comes first
    refused(save(tmp_path, "strip.png", Image.new("L", (20000, 10))), "20000x10", "at least")


def test_wide_strip_is_refused_as_a_strip(tmp_path):
    side = images.MIN_SIDE
    refused(save(tmp_path, "strip.png", Image.new("L", (images.MAX_ASPECT * side + 1, side))), "strip")
    refused(save(tmp_path, "tall.png", Image.new("L", (side, images.MAX_ASPECT * side + 1))), "strip")
    ok = images.load_image(save(tmp_path, "ok.png", Image.new("L", (images.MAX_ASPECT * side, side))))
    assert ok.shape == (side, images.MAX_ASPECT * side, 3)


def test_decompression_bomb_refused_from_header(tmp_path, monkeypatch):
    t0 = time.perf_counter()
    path = save(tmp_path, "bomb.png", Image.new("1", (8000, 6250)))  # 50 Mpx, a few kB on disk
    assert time.perf_counter() - t0 < 5
    assert (tmp_path / "bomb.png").stat().st_size < 100_000
    assert 8000 * 6250 > images.MAX_PIXELS

    def no_decoding(self):
        raise AssertionError("load_image decoded a bomb instead of refusing it from the header")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    t0 = time.perf_counter()
    refused(path, "bomb.png", "8000x6250", "50 Mpx", "limit", "Downscale")
    assert time.perf_counter() - t0 < 1


def test_huge_bomb_reports_megapixels(tmp_path):
    path = save(tmp_path, "huge.png", Image.new("1", (10000, 10000)))  # 100 Mpx > PIL.Image.MAX_IMAGE_PIXELS
    refused(path, "huge.png", "100 Mpx", "Downscale")


def test_a_size_just_over_the_limit_reads_over_it(tmp_path):
    """Rounded to whole Mpx, 4000x4001 and a 16,000,000-pixel limit both read "16 Mpx"; the message must not."""
    path = save(tmp_path, "big.png", Image.new("1", (4000, 4001)))
    msg = refused(path, "4000x4001 = 16,004,000 pixels", "the limit is 16,000,000 pixels", max_pixels=16_000_000)
    assert "16 Mpx; the limit is 16 Mpx" not in msg


def test_empty_bytes():
    refused(b"", "empty", "0 bytes")


def test_garbage_bytes():
    refused(b"not an image at all", "upload", "not an image")


# --- accepted ---------------------------------------------------------------------------------------------------


def test_rgb_png_round_trip(tmp_path):
    a = np.random.default_rng(1).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    out = images.load_image(save(tmp_path, "rgb.png", Image.fromarray(a)))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, a)


def test_path_object_accepted(tmp_path):
    save(tmp_path, "rgb.png", Image.new("RGB", (16, 16), GREEN))
    out = images.load_image(tmp_path / "rgb.png")
    assert out.shape == (16, 16, 3)
    assert tuple(out[0, 0]) == GREEN


def test_png_bytes():
    a = np.random.default_rng(2).integers(0, 256, (18, 17, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    out = images.load_image(buf.getvalue())
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, a)


def test_16bit_png_is_rescaled_not_clipped(tmp_path):
    values = np.array([0, 32768, 65535, 1000], dtype=np.uint16)
    a = np.tile(values, (16, 4))  # (16, 16)
    im = Image.fromarray(a)
    assert im.mode == "I;16"
    path = save(tmp_path, "deep.png", im)
    grey = images.load_image(path, mode="L")
    assert grey.dtype == np.uint8 and grey.shape == (16, 16)
    np.testing.assert_array_equal(grey[0, :4], [0, 128, 255, 4])  # 1000 -> 4, not clipped to 255
    rgb = images.load_image(path)
    assert rgb.shape == (16, 16, 3)
    np.testing.assert_array_equal(rgb[0, :4], np.repeat([[0], [128], [255], [4]], 3, axis=1))


def test_float_tiff_in_unit_range(tmp_path):
    a = np.tile(np.array([0.0, 0.5, 1.0, 0.25], dtype=np.float32), (16, 4))
    im = Image.fromarray(a, mode="F")
    out = images.load_image(save(tmp_path, "float.tif", im), mode="L")
    np.testing.assert_array_equal(out[0, :4], [0, 128, 255, 64])


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    im = Image.new("CMYK", (32, 24), (255, 0, 0, 0))  # pure cyan ink
    path = save(tmp_path, "cmyk.jpg", im, quality=95)
    assert Image.open(path).mode == "CMYK"
    out = images.load_image(path)
    assert out.shape == (24, 32, 3) and out.dtype == np.uint8
    np.testing.assert_allclose(out[12, 16].astype(int), [0, 255, 255], atol=6)


def test_rgba_transparent_pixels_composited_on_white(tmp_path):
    a = np.zeros((16, 16, 4), dtype=np.uint8)
    a[...] = (255, 0, 0, 0)  # fully transparent red
    a[0, 0] = (0, 0, 255, 255)  # opaque blue
    a[0, 1] = (0, 0, 0, 128)  # half-transparent black
    out = images.load_image(save(tmp_path, "alpha.png", Image.fromarray(a, "RGBA")))
    assert out.shape == (16, 16, 3)
    assert tuple(out[5, 5]) == WHITE
    assert tuple(out[0, 0]) == BLUE
    np.testing.assert_allclose(out[0, 1].astype(int), [127, 127, 127], atol=1)
    grey = images.load_image(str(tmp_path / "alpha.png"), mode="L")
    assert grey.shape == (16, 16) and grey[5, 5] == 255


def test_la_image_composited_on_white(tmp_path):
    a = np.zeros((16, 16, 2), dtype=np.uint8)  # black, fully transparent
    a[0, 0] = (0, 255)  # black, opaque
    out = images.load_image(save(tmp_path, "la.png", Image.fromarray(a, "LA")), mode="L")
    assert out.shape == (16, 16)
    assert out[3, 3] == 255 and out[0, 0] == 0


def test_palette_png_gives_palette_colours(tmp_path):
    im = Image.new("P", (16, 16), 0)
    im.putpalette([*RED, *GREEN, *BLUE] + [0] * (256 - 3) * 3)
    im.putpixel((1, 0), 1)
    im.putpixel((2, 0), 2)
    path = save(tmp_path, "pal.png", im)
    assert Image.open(path).mode == "P"
    out = images.load_image(path)
    assert out.shape == (16, 16, 3)
    assert [tuple(p) for p in out[0, :3]] == [RED, GREEN, BLUE]
    assert tuple(out[8, 8]) == RED


def test_palette_png_with_transparent_index_is_white(tmp_path):
    im = Image.new("P", (16, 16), 1)
    im.putpalette([*RED, *BLUE] + [0] * (256 - 2) * 3)
    im.putpixel((0, 0), 0)
    out = images.load_image(save(tmp_path, "palt.png", im, transparency=1))
    assert tuple(out[0, 0]) == RED
    assert tuple(out[5, 5]) == WHITE


def test_exif_rotated_jpeg_is_turned_upright(tmp_path):
    a = np.full((20, 40, 3), 255, dtype=np.uint8)  # stored 40 wide x 20 high
    a[:8, :8] = RED  # marker in the stored top-left corner
    im = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = save(tmp_path, "rotated.jpg", im, exif=exif, quality=95)
    assert Image.open(path).size == (40, 20)
    out = images.load_image(path)
    assert out.shape == (40, 20, 3)
    # turning clockwise moves the stored top-left corner to the top-right
    np.testing.assert_allclose(out[2:6, 14:18].reshape(-1, 3).mean(0), RED, atol=12)
    np.testing.assert_allclose(out[2:6, 2:6].reshape(-1, 3).mean(0), WHITE, atol=12)
    np.testing.assert_allclose(out[34:38, 14:18].reshape(-1, 3).mean(0), WHITE, atol=12)


def test_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 16), c) for c in (RED, BLUE, GREEN)]
    path = save(tmp_path, "anim.gif", frames[0], save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(path).n_frames == 3
    out = images.load_image(path)
    assert out.shape == (16, 16, 3)
    assert (out.reshape(-1, 3) == RED).all()


def test_grey_png_in_mode_l(tmp_path):
    a = np.arange(16 * 20, dtype=np.uint8).reshape(16, 20)
    path = save(tmp_path, "grey.png", Image.fromarray(a, "L"))
    grey = images.load_image(path, mode="L")
    assert grey.shape == (16, 20) and grey.dtype == np.uint8
    np.testing.assert_array_equal(grey, a)
    rgb = images.load_image(path)
    assert rgb.shape == (16, 20, 3)
    np.testing.assert_array_equal(rgb, np.repeat(a[..., None], 3, axis=2))


def test_rgb_png_in_mode_l(tmp_path):
    a = np.zeros((16, 18, 3), dtype=np.uint8)
    a[0, 0], a[0, 1], a[0, 2], a[0, 3] = RED, GREEN, BLUE, WHITE
    grey = images.load_image(save(tmp_path, "rgb.png", Image.fromarray(a)), mode="L")
    assert grey.shape == (16, 18) and grey.dtype == np.uint8
    np.testing.assert_allclose(grey[0, :4].astype(int), [76, 150, 29, 255], atol=1)  # ITU-R 601 weights


# --- helpers ----------------------------------------------------------------------------------------------------


def test_luma_known_pixels():
    rgb = np.array([[RED, GREEN, BLUE, WHITE, (0, 0, 0), (100, 150, 200)]], dtype=np.uint8)
    y = images.luma(rgb)
    assert y.shape == (1, 6) and y.dtype == np.uint8
    expected = np.rint(rgb.astype(np.float64) @ [0.299, 0.587, 0.114])
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(y[0], [76, 150, 29, 255, 0, 141])


@pytest.mark.parametrize(("shape", "m"), [((3, 17, 30), 16), ((1, 33, 8), 8), ((2, 5, 7), 16), ((3, 40, 13), 4)])
def test_pad_to_multiple(shape, m):
    x = np.random.default_rng(3).random(shape).astype(np.float32)
    y = images.pad_to_multiple(x, m)
    c, h, w = shape
    assert y.shape[0] == c and y.shape[1] % m == 0 and y.shape[2] % m == 0
    assert h <= y.shape[1] < h + m and w <= y.shape[2] < w + m
    assert y.dtype == x.dtype
    np.testing.assert_array_equal(y[:, :h, :w], x)


def test_pad_to_multiple_reflects_and_keeps_multiples():
    x = np.arange(17 * 30, dtype=np.float32).reshape(1, 17, 30)
    y = images.pad_to_multiple(x, 16)
    assert y.shape == (1, 32, 32)
    np.testing.assert_array_equal(y[0, 17, :30], x[0, 15])  # reflected about the last row, which is not repeated
    np.testing.assert_array_equal(y[0, :17, 30], x[0, :, 28])
    z = np.zeros((3, 32, 48), dtype=np.float32)
    assert images.pad_to_multiple(z, 16) is z


def test_grid_shape_and_layout():
    a = np.zeros((2, 1, 8, 8), dtype=np.float32)  # grey, black
    b = np.full((2, 3, 8, 8), 0.5, dtype=np.float32)
    c = np.ones((2, 3, 8, 8), dtype=np.float32)
    out = images.grid([a, b, c], pad=2)
    assert out.shape == (2 * 10 - 2, 3 * 10 - 2, 3) and out.dtype == np.uint8
    assert (out[:8, :8] == 0).all()
    assert (out[:8, 10:18] == 128).all()
    assert (out[:8, 8:10] == 255).all()  # white gap between columns
    assert (out[8:10, :8] == 255).all()  # and between rows
    assert images.grid([a], pad=0).shape == (16, 8, 3)


def test_heat_map_ends():
    err = np.array([[0.0, 0.5, 1.0, 3.0]], dtype=np.float32)
    hm = images.heat_map(err, vmax=1.0)
    assert hm.shape == (1, 4, 3) and hm.dtype == np.uint8
    assert tuple(hm[0, 0]) == (0, 0, 4)  # inferno's black
    assert tuple(hm[0, 2]) == tuple(hm[0, 3]) == (252, 255, 164)  # brightest, for vmax and above
    brightness = hm[0].astype(int).sum(1)
    assert brightness[0] < brightness[1] < brightness[2]
    assert tuple(images.heat_map(np.zeros((2, 2)), vmax=0.0)[1, 1]) == (0, 0, 4)  # vmax 0 does not divide by 0


def test_to_float_to_uint8_round_trip():
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    f = images.to_float(rgb)
    assert f.shape == (3, 5, 7) and f.dtype == np.float32
    assert f.min() >= 0 and f.max() <= 1
    np.testing.assert_array_equal(f[:, 2, 3], rgb[2, 3] / np.float32(255))
    np.testing.assert_array_equal(images.to_uint8(f), rgb)

    grey = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    g = images.to_float(grey)
    assert g.shape == (1, 5, 7)
    back = images.to_uint8(g)
    assert back.shape == (5, 7)
    np.testing.assert_array_equal(back, grey)


def test_to_uint8_clips():
    out = images.to_uint8(np.array([[[-1.0, 0.5, 2.0]]], dtype=np.float32))
    np.testing.assert_array_equal(out, [[0, 128, 255]])


def test_save_png_is_lossless(tmp_path):
    a = np.random.default_rng(5).integers(0, 256, (16, 17, 3), dtype=np.uint8)
    images.save_png(a, tmp_path / "out.png")
    np.testing.assert_array_equal(images.load_image(tmp_path / "out.png"), a)


def test_downscale_to_keeps_aspect_and_small_images():
    img = np.zeros((300, 400, 3), np.uint8)
    assert images.downscale_to(img, 300 * 400) is img
    small = images.downscale_to(img, 30_000)
    assert small.shape == (150, 200, 3) and small.dtype == np.uint8
    assert images.downscale_to(np.zeros((50, 80), np.uint8), 1000).shape == (25, 40)
