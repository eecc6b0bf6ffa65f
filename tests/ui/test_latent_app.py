"""The Latent tab's endpoints, called through gradio_client as a user's script would."""

from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

import app
from tests.latent_fixtures import save_tiny_latent_models
from unetlab import data, images, latent, registry
from unetlab.settings import Settings
from unetlab.ui.latent import ZOOM

PORT = 7893


def small(path) -> np.ndarray:
    """An output image back at the model's resolution."""
    return np.asarray(Image.open(path).convert("L"))[::ZOOM, ::ZOOM]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    weights = tmp_path_factory.mktemp("weights")
    save_tiny_latent_models(weights)
    demo = app.build_app(registry.Registry(weights))
    demo.queue().launch(prevent_thread_lock=True, server_port=PORT, quiet=True, max_file_size="5mb")
    yield demo
    demo.close()


@pytest.fixture(scope="module")
def client(demo):
    return Client(f"http://127.0.0.1:{PORT}/", verbose=False)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return {p.stem: str(p) for p in latent.example_files(tmp_path_factory.mktemp("examples"))}


def test_interpolate_endpoint(client, digits, tmp_path):
    big = tmp_path / "seven.png"  # any size and colour: fitted to the model's 16x16 grey
    Image.open(digits["digit-7"]).convert("RGB").resize((90, 120)).save(big)
    out = client.predict(
        handle_file(digits["digit-0"]), handle_file(str(big)), "tiny-vae", "tiny-ae", "spherical", 5, 0.25,
        api_name="/interpolate",
    )  # fmt: skip
    frame_vae, frame_ae, strip_vae, strip_ae, lmap, recon_a, recon_b, note, inputs = out
    for path in (frame_vae, frame_ae, recon_a, recon_b):
        assert Image.open(path).size == (16 * ZOOM, 16 * ZOOM)  # each pixel of the 16x16 model's output as a block
    for path in (strip_vae, strip_ae):
        assert Image.open(path).size == ((5 * 16 + 4 * 2) * ZOOM, 16 * ZOOM)  # 5 frames, 2 px apart
    strip = np.asarray(Image.open(strip_vae).convert("L"))[::ZOOM, ::ZOOM]
    assert np.abs(strip[:, :16].astype(int) - small(recon_a)).max() <= 1  # A first
    assert np.abs(strip[:, -16:].astype(int) - small(recon_b)).max() <= 1  # B last
    assert np.asarray(Image.open(lmap)).std() > 10
    assert "held-out images" in note and "PCA of mu" in note and "spherical path" in note
    assert inputs.split("\n\n")[1] == (  # how each end was fitted, in words
        "**B**: cropped to its ink and centred, reduced to the digits' 8×8 grid and scaled to 16×16 (it was 90×120)."
    )


def test_a_drawing_given_to_an_mnist_vae_is_framed_as_mnist_was(client, digits, tmp_path):
    drawn = tmp_path / "one.png"  # a dark stroke on a light canvas, off centre
    canvas = np.full((256, 256), 255, np.uint8)
    canvas[30:200, 20:45] = 0
    Image.fromarray(canvas).save(drawn)
    out = client.predict(
        handle_file(str(drawn)), handle_file(digits["mnist-7"]), "tiny-vae-mnist", "tiny-ae-mnist", "linear", 3, 0.5,
        api_name="/interpolate",
    )  # fmt: skip
    assert Image.open(out[0]).size == (32 * ZOOM, 32 * ZOOM)  # the MNIST models take 32x32
    a_line, b_line = out[8].split("\n\n")
    assert a_line.startswith("**A**: inverted") and "centred by its mass in a 28×28 frame" in a_line
    assert "(it was 256×256)" in a_line and b_line == "**B**: used as it is."  # a held-out MNIST 7, as it is
    assert "PCA of mu" in out[7] and "1000 held-out images" in out[7]  # the map: MNIST's held-out split


def test_interpolate_errors_then_keeps_serving(client, digits):
    with pytest.raises(Exception, match="choose both endpoints"):
        client.predict(handle_file(digits["digit-0"]), None, "tiny-vae", "tiny-ae", "linear", 4, 0.5,
                       api_name="/interpolate")  # fmt: skip
    with pytest.raises(Exception, match="model 'tiny-ae' is not a VAE"):
        client.predict(handle_file(digits["digit-0"]), handle_file(digits["digit-1"]), "tiny-ae", "tiny-ae", "linear",
                       4, 0.5, api_name="/interpolate")  # fmt: skip
    out = client.predict(handle_file(digits["digit-3"]), handle_file(digits["digit-1"]), "tiny-vae", "tiny-ae",
                         "linear", 4, 1.0, api_name="/interpolate")  # fmt: skip
    assert np.array_equal(np.asarray(Image.open(out[0])), np.asarray(Image.open(out[6])))  # t = 1 is B


def test_vae_sample_endpoint(client):
    grid = client.predict("tiny-vae", 1.0, 16, 3, api_name="/vae_sample")
    assert Image.open(grid).size == (2 * (8 * 16 + 7 * 2), 2 * (2 * 16 + 2))  # 16 samples, 8 per row, at 2x
    again = client.predict("tiny-vae", 1.0, 16, 3, api_name="/vae_sample")
    assert np.array_equal(np.asarray(Image.open(grid)), np.asarray(Image.open(again)))  # the seed fixes them
    with pytest.raises(Exception, match="sampling needs a VAE"):
        client.predict("tiny-ae", 1.0, 8, 0, api_name="/vae_sample")


def test_each_vae_gets_the_plain_ae_of_its_own_data():
    """vae-faces used to keep ae-digits beside it (digits next to faces); now a VAE gets an AE trained on its data,
    or none, and its own prior samples on arrival."""
    from unetlab.ui import latent as tab

    reg = registry.Registry(Settings().weights)
    assert tab.matching_ae(reg, "vae-digits", "ae-digits") == "ae-digits"
    assert tab.matching_ae(reg, "vae-digits", None) == "ae-digits"
    assert tab.matching_ae(reg, "vae-faces", "ae-digits") is None  # no plain AE was trained on faces
    assert tab.matching_ae(reg, "vae-mnist", "ae-digits") == "ae-mnist"  # real MNIST beside real MNIST
    assert tab.matching_ae(reg, "vae-mnist-2d", None) == "ae-mnist"
    assert tab.matching_ae(reg, "vae-digits-2d", "ae-mnist") == "ae-digits"
    samples = [tab.prior_samples(reg, name) for name in ("vae-digits", "vae-faces", "vae-mnist", "vae-mnist-2d")]
    assert all(s is not None for s in samples)
    assert all(not np.array_equal(p, q) for i, p in enumerate(samples) for q in samples[i + 1 :])


def blocks_by_id(demo) -> dict:
    return {b.elem_id: b for b in demo.blocks.values() if getattr(b, "elem_id", None)}


def is_blocky(path, k: int) -> bool:
    """Every k x k block of the image is one colour: small frames enlarged with nearest neighbour, not smoothed."""
    a = np.asarray(Image.open(path).convert("RGB")).astype(int)
    return a.shape[0] % k == 0 and a.shape[1] % k == 0 and np.array_equal(a, a[::k, ::k].repeat(k, 0).repeat(k, 1))


def test_frames_reconstructions_and_samples_stay_crisp(client, digits):
    """The 16x16 (32x32 shipped) frames reach the browser enlarged with exact blocks, so they stay crisp on a
    projector; a smoothing resize would blur them."""
    out = client.predict(handle_file(digits["digit-2"]), handle_file(digits["digit-5"]), "tiny-vae", "tiny-ae",
                         "linear", 4, 0.3, api_name="/interpolate")  # fmt: skip
    for path in (*out[:4], out[5], out[6]):  # frames at t, strips, reconstructions
        assert is_blocky(path, ZOOM), path
    assert is_blocky(client.predict("tiny-vae", 1.0, 8, 0, api_name="/vae_sample"), 2)


def test_a_colour_photo_gets_a_warning_that_says_how_it_was_converted(client, digits):
    import skimage.data

    coffee = data.heldout_photo_paths()["coffee"]
    out = client.predict(handle_file(coffee), handle_file(digits["digit-5"]), "tiny-vae", "tiny-ae", "linear", 4, 0.5,
                         api_name="/interpolate")  # fmt: skip
    a_line = out[8].split("\n\n")[0]
    assert a_line.startswith("⚠️ **A does not look like the images tiny-vae was trained on** (grey digits")
    assert "it is in colour (colourfulness" in a_line and "It was reduced to grey" in a_line
    assert "(it was 600×400)" in a_line and skimage.data.coffee().shape == (400, 600, 3)


def test_the_note_on_the_shipped_digit_vae():
    """A colour photo given to vae-digits is flagged, with the conversion; a held-out digit is not."""
    from unetlab.ui import latent as tab

    reg = registry.Registry(Settings().weights)
    files = {p.stem: p for p in tab.latent.example_files(tab.EXAMPLES_DIR)}
    coffee, seven = (images.load_image(p) for p in (data.heldout_photo_paths()["coffee"], files["digit-7"]))
    note = tab.walk_outputs(reg, coffee, seven, "vae-digits", "ae-digits", "linear", 3, 0.5)[8]
    a_line, b_line = note.split("\n\n")
    assert a_line.startswith("⚠️ **A does not look like the images vae-digits was trained on**")
    assert "vae-digits reconstructs it" in a_line and "worse than its worst held-out image" in a_line
    assert b_line == "**B**: used as it is."


def test_the_note_on_the_shipped_mnist_vae():
    """Held-out MNIST digits given to vae-mnist are used as they are and pass; the 2-D model maps them on its plane."""
    from unetlab.ui import latent as tab

    reg = registry.Registry(Settings().weights)
    files = {p.stem: p for p in tab.latent.example_files(tab.EXAMPLES_DIR)}
    zero, seven = (images.load_image(files[f"mnist-{k}"]) for k in (0, 7))
    out = tab.walk_outputs(reg, zero, seven, "vae-mnist-2d", "ae-mnist", "linear", 3, 0.5)
    assert out[8] == "**A**: used as it is.\n\n**B**: used as it is."
    assert out[7].startswith("Map: 1000 held-out images in the 2-D latent space itself, coloured by class")
    assert out[3] is not None  # the plain AE's strip: ae-mnist beside it


def arrival(demo, query: dict | None) -> list:
    (event,) = [d.fn for d in demo.fns.values() if getattr(d.fn, "__name__", "") == "preset_walk"]
    return event(SimpleNamespace(query_params=query) if query is not None else None)


def test_the_preset_walk_is_between_digits_of_the_vaes_own_kind(demo):
    """The tiny registry's first VAE is tiny-vae-mnist (cards sort by name): the page opens with a held-out MNIST 0
    and 7. A link to a digits VAE (?tab=latent&latent.vae=tiny-vae&latent.ae=tiny-ae) sets the VAE and its AE and
    puts sklearn's 0 and 7 at the ends; an MNIST digit given to tiny-vae would be a walk of the wrong kind."""
    ids = blocks_by_id(demo)
    assert ids["latent-vae"].value == "tiny-vae-mnist"
    assert ids["latent-a"].value["path"].endswith("mnist-0.png") and ids["latent-b"].value["path"].endswith(
        "mnist-7.png"
    )
    *_, note, walk, samples, a, b = arrival(demo, None)  # no link: the page's own ends stay
    assert (
        a == b == gr.skip()
        and walk.vae == "tiny-vae-mnist"
        and note == "**A**: used as it is.\n\n**B**: used as it is."
    )
    *controls, note, walk, samples, a, b = arrival(
        demo, {"tab": "latent", "latent.vae": "tiny-vae", "latent.ae": "tiny-ae", "latent.t": "0.3"}
    )
    assert controls[:2] == ["tiny-vae", "tiny-ae"] and controls[4] == 0.3
    assert (a.name, b.name) == ("digit-0.png", "digit-7.png")
    assert walk.vae == "tiny-vae" and walk.ae == "tiny-ae" and samples is not None
    *_, walk, _, _, _ = arrival(demo, {"tab": "latent", "latent.vae": "tiny-vae"})  # the VAE only: its own AE
    assert walk.vae == "tiny-vae" and walk.ae == "tiny-ae"
    assert note.startswith("**A**: cropped to its ink and centred, reduced to the digits' 8×8 grid")  # a 16x16 VAE


def test_lecture_note_explanation_and_examples(demo):
    ids = blocks_by_id(demo)
    lecture = ids["latent-lecture"]
    assert lecture.label == "How to use this tab in a lecture" and lecture.open is False
    (text,) = [b.value for b in lecture.children if hasattr(b, "value")]
    assert 3 <= sum(line.startswith("- ") for line in text.splitlines()) <= 6
    explain = [b for b in demo.blocks.values() if isinstance(b, gr.Markdown) and "trick**" in (b.value or "")]
    assert len(explain) == 1 and explain[0].elem_classes == ["explain"]
    for key in ("a", "b"):  # every example on one page: the faces used to be on page 2
        examples = ids[f"latent-{key}-examples"]
        assert examples.samples_per_page == len(examples.samples) == 14
        mnist = ids[f"latent-{key}-mnist-examples"]  # real MNIST digits, a gallery of their own, one page
        assert mnist.samples_per_page == len(mnist.samples) == 10 and "MNIST" in mnist.label
