"""The Diffusion tab's endpoints, called through gradio_client as a user's script would."""

import re
import shutil
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import serve
from tests.diffusion_fixtures import save_tiny_classifier, save_tiny_models, tiny_card, tiny_model
from tests.sd_fixtures import save_tiny_sd
from unetlab import registry, sd
from unetlab.settings import Settings
from unetlab.ui import diffusion as tab
from unetlab.ui import links
from unetlab.ui import sd as sd_tab

ZOOM = tab.PANEL_PIXELS // 8  # the tiny digits models' 8x8 samples: each pixel a 16x16 block
ZOOM_MNIST = tab.PANEL_PIXELS // 12  # the tiny "mnist" models' 12x12: 10x10

PORT = 7910
SKIP = gr.skip()


def save_models(folder) -> None:
    """ddpm-eps and ddpm-x0, a second ε-model, ddpm-eps-b (other weights), to switch to; the tiny "mnist" models
    (12x12: ε, x0, v) and their judge, mnist-classifier (the digits have none)."""
    save_tiny_models(folder, mnist=True)
    registry.save(tiny_model("epsilon", seed=2), tiny_card("ddpm-eps-b", "epsilon"), folder, dtype=torch.float16)
    save_tiny_classifier(folder, "mnist-classifier", 12)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    save_models(folder)
    return folder


@pytest.fixture(scope="module")
def client(weights):
    with serve(weights, PORT) as c:
        yield c


def built(weights) -> tuple[dict, dict]:
    """The tab built alone over a weights folder (not launched): its event functions by name, as Gradio holds them,
    and the controls a link sets."""
    with gr.Blocks() as demo:
        controls = tab.build(registry.Registry(weights), demo)
    return {d.fn.__name__: d for d in demo.fns.values() if d.fn is not None}, controls


@pytest.fixture(scope="module")
def tab_built(weights):
    return built(weights)


@pytest.fixture(scope="module")
def events(tab_built):
    return tab_built[0]


class Progress:
    """Stands in for gr.Progress: records what the handler reports."""

    def __init__(self):
        self.calls = []

    def __call__(self, progress, desc=None, total=None, unit="steps"):
        self.calls.append(progress)


ARGS = ("3", "ddim", 4, 1.0, 0, 0.0, "ddpm-eps", "ddpm-x0")  # class, scheduler, steps, guidance, seed, η, models


def test_denoise_endpoint_shows_both_models_from_the_same_noise(client):
    out = client.predict("3", "ddim", 4, 2.0, 0, 0.0, "ddpm-eps", "ddpm-x0", api_name="/denoise")
    eps, x0, scrub, info, bands, spectrum, figures = out
    for path in (eps, x0):  # 4 samples of the tiny 8x8 models: x_t over x0, 1 px apart
        assert Image.open(path).size == ((4 * 9 - 1) * ZOOM, (2 * 9 - 1) * ZOOM)
    assert scrub["maximum"] == scrub["value"] == 4  # the scrubber spans the run's steps, at the last
    assert "Step **4 / 4**" in info
    assert "Made with class 3, DDIM 4 steps, guidance 2, η 0, seed 0, ddpm-eps vs ddpm-x0" in info
    assert {"ε-model: low", "x0-model: low"} <= {row[-1] for row in bands["data"]}
    assert "real digits" in {row[-1] for row in spectrum["data"]}
    # the cards' numbers (tests/diffusion_fixtures.py: accuracy 0.5 and HF ratio 1.0 at guidance 1), then this run's
    assert "| ddpm-eps | noise ε | 50.0% | 1.000 |" in figures and "| ddpm-x0 | clean x0 | 50.0% | 1.000 |" in figures
    assert "From the cards: 1 samples per digit, DDIM 50 steps" in figures
    assert re.search(r"This run's 4 final samples, HF energy ratio: ddpm-eps \d+\.\d{3}, ddpm-x0 \d+\.\d{3}\.", figures)


def test_the_same_seed_gives_the_same_images(client):
    a = client.predict("7", "ddpm", 3, 1.0, 5, 0.0, "ddpm-eps", "ddpm-x0", api_name="/denoise")
    b = client.predict("7", "ddpm", 3, 1.0, 5, 0.0, "ddpm-eps", "ddpm-x0", api_name="/denoise")
    assert np.array_equal(np.asarray(Image.open(a[0])), np.asarray(Image.open(b[0])))


def test_bad_inputs_get_a_message_and_the_server_keeps_serving(client):
    with pytest.raises(Exception, match="steps must be between 1 and 50"):
        client.predict("3", "ddim", 500, 2.0, 0, 0.0, "ddpm-eps", "ddpm-x0", api_name="/denoise")
    with pytest.raises(Exception, match="unknown model .nope.; valid names: "):
        client.predict("3", "ddim", 4, 2.0, 0, 0.0, "ddpm-eps", "nope", api_name="/denoise")
    # two models of different data (8x8 digits vs 12x12 "mnist"): the message names each one's data
    different = "compare models trained on the same data, not ddpm-eps on digits, ddpm-mnist-v on mnist"
    with pytest.raises(Exception, match=different):
        client.predict("3", "ddim", 4, 2.0, 0, 0.0, "ddpm-eps", "ddpm-mnist-v", api_name="/denoise")
    with pytest.raises(Exception, match=different):
        client.predict(2, 2.0, 0, "ddpm-eps", "ddpm-mnist-v", api_name="/grid")
    with pytest.raises(Exception, match="pick two different models: both sides hold ddpm-mnist-v"):
        client.predict("3", "ddim", 4, 2.0, 0, 0.0, "ddpm-mnist-v", "ddpm-mnist-v", api_name="/denoise")
    with pytest.raises(Exception, match="no Stable Diffusion folder is configured"):
        client.predict("/nonexistent", 2, "ddim", 0, api_name="/sd_denoise")
    eps, _, scrub, info, *_ = client.predict("1", "ddim", 2, 1.0, 0, 0.0, "ddpm-eps", "ddpm-x0", api_name="/denoise")
    assert scrub["value"] == 2 and "Step **2 / 2**" in info and "class 1, DDIM 2 steps" in info
    assert Image.open(eps).size == ((4 * 9 - 1) * ZOOM, (2 * 9 - 1) * ZOOM)


def test_grid_endpoint(client):
    eps, x0, note = client.predict(2, 2.0, 0, "ddpm-eps", "ddpm-x0", api_name="/grid")
    zoom = tab.GRID_PIXELS // 8  # 8x8 samples: each pixel 12x12
    assert Image.open(eps).size == ((2 * 9 - 1) * zoom, (10 * 9 - 1) * zoom)  # row = digit, 2 samples each
    assert Image.open(x0).size == Image.open(eps).size
    # the settings that made it; no digits-classifier in this registry: the spectrum's figure only, one line per model
    assert re.fullmatch(
        r"Made with 2 samples per digit, DDIM 20 steps, guidance 2, seed 0, ddpm-eps vs ddpm-x0\.\n\n"
        r"\*\*ε-model ddpm-eps\*\*: HF energy ratio \d+\.\d{3}\n\n\*\*x0-model ddpm-x0\*\*: HF energy ratio \d+\.\d{3}"
        r"\n\nNo `digits-classifier` here to read the digits: python -m unetlab train --recipe digits-classifier",
        note,
    )


def test_the_mnist_models_are_judged_by_their_own_classifier_at_their_size(client):
    """12x12 "mnist" samples: the panels and grids at their size, the v-model named as such, the MNIST classifier
    reading them (the digits have none here), and the cards' table naming it."""
    out = client.predict("5", "ddim", 3, 1.0, 0, 0.0, "ddpm-mnist-eps", "ddpm-mnist-v", api_name="/denoise")
    left, right, scrub, info, bands, spectrum, figures = out
    for path in (left, right):  # 4 samples of 12x12: x_t over x0, 1 px apart, each pixel ZOOM_MNIST wide
        assert Image.open(path).size == ((4 * 13 - 1) * ZOOM_MNIST, (2 * 13 - 1) * ZOOM_MNIST)
    assert "ddpm-mnist-eps vs ddpm-mnist-v" in info
    assert {row[-1] for row in bands["data"]} == {f"{r}: {b}" for r in ("ε-model", "v-model") for b in tab_bands()}
    assert "| ddpm-mnist-v | velocity v | 50.0% | 1.000 |" in figures and "`mnist-classifier`" in figures
    grid_left, grid_right, note = client.predict(2, 1.0, 0, "ddpm-mnist-x0", "ddpm-mnist-v", api_name="/grid")
    assert Image.open(grid_left).size == ((2 * 13 - 1) * 8, (10 * 13 - 1) * 8)  # 96 // 12 = 8 per pixel
    assert re.search(
        r"\*\*x0-model ddpm-mnist-x0\*\*: HF energy ratio \d\.\d{3}, the classifier reads the asked digit "
        r"in \d+% of these 20 samples",
        note,
    )
    assert "**v-model ddpm-mnist-v**" in note and "No `" not in note


def tab_bands() -> list[str]:
    return ["low", "mid", "high"]


def test_the_plots_keep_their_series_when_a_model_changes(client):
    """Gradio's LinePlot keeps the legend and colours of its first data: the series are named by role, so a plot
    drawn for ddpm-eps draws ddpm-eps-b's curves too."""
    runs = [client.predict(*ARGS[:6], eps, "ddpm-x0", api_name="/denoise") for eps in ("ddpm-eps", "ddpm-eps-b")]
    (*_, info_a, bands_a, spectrum_a, _), (*_, info_b, bands_b, spectrum_b, figures_b) = runs
    for plot_a, plot_b in ((bands_a, bands_b), (spectrum_a, spectrum_b)):
        assert {row[-1] for row in plot_a["data"]} == {row[-1] for row in plot_b["data"]}
        assert not any("ddpm" in row[-1] for row in plot_a["data"] + plot_b["data"])
        assert plot_a["data"] != plot_b["data"]  # the new model's curves, under the same names
    assert "ε-model: low" in {row[-1] for row in bands_b["data"]}
    assert "ddpm-eps-b vs ddpm-x0" in info_b and "| ddpm-eps-b | noise ε |" in figures_b


def test_denoise_and_the_grid_report_progress_every_step(events):
    """Gradio finds a gr.Progress parameter by its default value, through user_errors' functools.wraps."""
    for name in ("denoise", "rerun", "sample_grid"):
        assert events[name].tracks_progress, name
    progress = Progress()
    *_, t = events["denoise"].fn(*ARGS, progress)
    assert t.settings["steps"] == 4 and progress.calls == [(i, 8) for i in range(1, 9)]  # 4 steps of 2 models
    progress = Progress()
    events["sample_grid"].fn(1, 1.0, 0, "ddpm-eps", "ddpm-x0", progress)
    assert progress.calls == [(i, 2 * tab.GRID_STEPS) for i in range(1, 2 * tab.GRID_STEPS + 1)]


def test_a_changed_setting_reruns_when_cheap_and_says_what_made_the_panels_when_not(events):
    """rerun's outputs: the 8 of denoise (panels, scrubber, info line, plots, figures, trajectory) and the note."""
    denoise, rerun = events["denoise"].fn, events["rerun"].fn
    *_, t = denoise(*ARGS, Progress())
    assert rerun(t, *ARGS, Progress()) == (*(SKIP,) * 8, "")  # nothing changed (a control set to its own value)
    progress = Progress()
    *_, info, bands, spectrum, figures, t2, note = rerun(t, "3", "ddim", 4, 2.0, 0, 0.0, *ARGS[6:], progress)
    assert "Made with class 3, DDIM 4 steps, guidance 2, η 0, seed 0" in info and t2.settings["guidance"] == 2
    assert progress.calls[-1] == (8, 8) and note == ""
    # a new ε-model: a new run, and the figures table names it
    *_, info, _, _, figures, t3, _ = rerun(t, *ARGS[:6], "ddpm-eps-b", "ddpm-x0", Progress())
    assert t3.names == ["ddpm-eps-b", "ddpm-x0"] and "| ddpm-eps-b | noise ε |" in figures
    assert "ddpm-eps-b vs ddpm-x0" in info
    # DDPM 50 steps with guidance: 100 U-Net passes per model, over AUTO_PASSES: only the note changes
    assert tab.passes(50, 2.0) > tab.AUTO_PASSES >= tab.passes(4, 2.0)
    *kept, note = rerun(t, "3", "ddpm", 50, 2.0, 0, 0.0, *ARGS[6:], Progress())
    assert kept == [SKIP] * 8
    assert re.fullmatch(
        r"These panels were made with class 3, DDIM 4 steps, guidance 1, η 0, seed 0, ddpm-eps vs ddpm-x0\. "
        r"DDPM 50 steps at guidance 2 takes about \d+ s here: press \*\*Denoise\*\* to run it\.",
        note,
    )


def test_missing_weights_name_the_file_and_the_command(tmp_path):
    save_tiny_models(tmp_path)
    shutil.rmtree(tmp_path / "ddpm-x0" / "unet")
    with serve(tmp_path, PORT + 1) as c:
        with pytest.raises(Exception, match="ddpm-x0.*missing.*python -m unetlab train --recipe ddpm-x0"):
            c.predict("3", "ddim", 2, 2.0, 0, 0.0, "ddpm-eps", "ddpm-x0", api_name="/denoise")


def test_sd_denoise_loads_only_the_configured_folder(client, tmp_path):
    """A caller cannot make the server load any folder on its disk: only its own (settings.sd_path, UNETLAB_SD_PATH)."""
    for path in ("", "/usr", str(tmp_path)):  # the client's server has none
        with pytest.raises(Exception, match="no Stable Diffusion folder is configured on this server.*UNETLAB_SD_PATH"):
            client.predict(path, 2, "ddim", 0, api_name="/sd_denoise")
    configured = tmp_path / "sd"
    configured.mkdir()
    save_tiny_models(tmp_path / "weights")
    with serve(tmp_path / "weights", PORT + 2, Settings(sd_path=str(configured))) as c:
        for path in ("/usr", str(tmp_path), "/nonexistent"):
            with pytest.raises(Exception, match="loads only the Stable Diffusion folder it was started with"):
                c.predict(path, 2, "ddim", 0, api_name="/sd_denoise")
        for path in ("", str(configured)):  # the configured folder is the one loaded (here: not an SD folder)
            with pytest.raises(Exception, match=f"{configured} is not a diffusers Stable Diffusion folder"):
                c.predict(path, 2, "ddim", 0, api_name="/sd_denoise")


def test_sd_denoise_follows_a_prompt_and_reports_every_step(tmp_path):
    """With the folder's CLIP: the prompt, the guidance and the prediction_type shown; progress at each step."""
    pytest.importorskip("transformers")
    folder = save_tiny_sd(tmp_path / "sd", prediction_type="v_prediction", vae=True, text=True)
    with gr.Blocks() as demo:
        sd_tab.build(Settings(sd_path=str(folder)), gr.Radio(["ddim", "ddpm"], value="ddim"), gr.Number(0))
    run = next(d for d in demo.fns.values() if d.api_name == "sd_denoise")
    assert run.tracks_progress
    progress = Progress()
    strip, text = run.fn("", 3, "ddim", 0, "a cat", 3.0, progress)
    assert progress.calls == [(1, 3), (2, 3), (3, 3)]
    assert strip.shape == (2 * sd.TILE + 2, 3 * sd.TILE + 2 * 2, 3)
    assert text.startswith("3 DDIM steps of a 8×8×4 latent on cpu in ") and "decoded by the folder VAE" in text
    assert "Prompt 'a cat', guidance 3." in text and "two predictions per step (guidance)" in text
    assert "prediction_type = `v_prediction`: the U-Net predicts the velocity v" in text
    for bad, message in [
        ((3, "ddim", 0, "a cat", float("nan")), "guidance scale must be a number from 0 to 20, got nan"),
        ((3, "ddim", 0, "a cat", 21), "guidance scale must be a number from 0 to 20, got 21"),
        ((3, "ddim", 0, "a" * 1001, 3.0), "the prompt must be text of at most 1000 characters"),
        ((3, "ddim", 0, None, 3.0), "the prompt must be text of at most 1000 characters"),
    ]:
        with pytest.raises(gr.Error, match=message):
            run.fn("", *bad, Progress())


def test_sd_accordion_says_what_the_folder_is_and_how_to_enable_prompts(tmp_path):
    folder = save_tiny_sd(tmp_path / "sd")
    text = sd_tab.folder_markdown(str(folder))
    assert "**prediction_type = `epsilon`**: the U-Net predicts the noise ε (SD 1.x)." in text
    assert (
        "**No prompt**: the folder has no text_encoder/ and no tokenizer/, so the U-Net gets an all-zero prompt."
        in text
    )
    assert "`pip install -r requirements-sd.txt`" in text and "`text_encoder/` and `tokenizer/`" in text
    assert sd_tab.folder_markdown("").startswith("no Stable Diffusion folder is configured on this server")
    r = sd.denoise_folder(folder, steps=1, prompt="a cat")
    assert "All-zero prompt: the folder has no text_encoder/ and no tokenizer/. To follow a prompt" in (
        sd_tab.result_markdown(r)
    )


def test_card_and_grid_markdown():
    from unetlab import diffusion
    from unetlab.ui.diffusion import card_markdown, grid_markdown

    eps = diffusion.CardFigures("ddpm-eps", "epsilon", {"1": 0.931, "2": 0.5}, {"1": 0.8, "2": 1.25})
    bare = diffusion.CardFigures("ddpm-x0", "sample", {}, {})
    sampler = {"per_class": 50, "scheduler": "ddim", "steps": 50}
    text = card_markdown(diffusion.CardTable(["1", "2"], [eps, bare], sampler))
    assert "| ddpm-eps | noise ε | 93.1% | 0.800 | 50.0% | 1.250 |" in text
    assert "| ddpm-x0 | clean x0 | not measured | not measured | not measured | not measured |" in text
    assert "50 samples per digit, DDIM 50 steps" in text
    assert "hold no sample metrics" in card_markdown(diffusion.CardTable([], [bare], None))
    report = diffusion.GridReport(
        [], [diffusion.GridFigures("a", 40, 0.5, 0.875), diffusion.GridFigures("b", 40, 2, None)]
    )
    assert grid_markdown(report) == (
        "**a**: HF energy ratio 0.500, the classifier reads the asked digit in 88% of these 40 samples\n\n"
        "**b**: HF energy ratio 2.000"
    )


MNIST = ["ddpm-mnist-eps", "ddpm-mnist-v", "ddpm-mnist-x0"]


def test_the_data_choice_fills_both_lists_with_its_models(events, tmp_path):
    """MNIST: both lists hold its three models, the sides its ε- and x0-model; a side already of that data keeps
    its model. Data without two models goes back to the sides' data (a warning says how to train them)."""
    pick = events["pick_data"].fn
    data, left, right = pick("mnist", "ddpm-eps", "ddpm-x0")
    assert data == SKIP
    assert left["choices"] == right["choices"] == MNIST
    assert (left["value"], right["value"]) == ("ddpm-mnist-eps", "ddpm-mnist-x0")
    _, left, right = pick("mnist", "ddpm-mnist-v", "ddpm-x0")
    assert (left["value"], right["value"]) == ("ddpm-mnist-v", "ddpm-mnist-x0")
    _, left, right = pick("digits", "ddpm-mnist-v", "ddpm-mnist-x0")
    assert (left["value"], right["value"]) == ("ddpm-eps", "ddpm-x0")
    with pytest.raises(gr.Error, match="data must be one of digits, mnist, got 'cifar'"):
        pick("cifar", "ddpm-eps", "ddpm-x0")
    save_tiny_models(tmp_path)  # the digits models only
    only_digits, _ = built(tmp_path)
    with pytest.warns(UserWarning, match="MNIST 28×28 needs two diffusion models.*--recipe ddpm-mnist-eps"):
        assert only_digits["pick_data"].fn("mnist", "ddpm-eps", "ddpm-x0") == ("digits", SKIP, SKIP)


def test_the_sides_are_named_by_what_their_models_predict(events):
    """The panels' labels and the plots' titles name the roles; a new pair of roles gives new titles (a LinePlot
    redraws its legend on a new title only); two models of one kind are told apart by their side."""
    denoise, relabel = events["denoise"].fn, events["relabel"].fn
    *_, info, bands, _, _, t = denoise("3", "ddim", 2, 1.0, 0, 0.0, "ddpm-mnist-v", "ddpm-mnist-x0", Progress())
    assert {r for r in bands["series"]} == {f"{m}: {b}" for m in ("v-model", "x0-model") for b in tab_bands()}
    left, right, band_title, spectrum_title = relabel(t)
    assert left["label"] == "v-model (ddpm-mnist-v): x_t (top), x̂0 (bottom)"
    assert right["label"] == "x0-model (ddpm-mnist-x0): x_t (top), x̂0 (bottom)"
    assert "v-model vs x0-model" in band_title["title"] and "v-model vs x0-model" in spectrum_title["title"]
    *_, t2 = denoise("3", "ddim", 2, 1.0, 0, 0.0, "ddpm-eps", "ddpm-eps-b", Progress())
    left, right, band_title, _ = relabel(t2)
    assert left["label"].startswith("ε-model (left) (ddpm-eps)") and right["label"].startswith("ε-model (right)")
    assert "ε-model (left) vs ε-model (right)" in band_title["title"]
    assert relabel(None) == (SKIP,) * 4
    assert events["grid_labels"].fn("ddpm-mnist-eps", "ddpm-mnist-v") == (  # the old grids go
        {"__type__": "update", "value": None, "label": "ε-model (ddpm-mnist-eps)"},
        {"__type__": "update", "value": None, "label": "v-model (ddpm-mnist-v)"},
    )
    assert events["grid_labels"].fn("ddpm-eps", "nope") == (SKIP, SKIP)


def test_a_rerun_between_two_lists_of_different_data_keeps_the_panels_and_says_why(events):
    """Switching the data updates both lists: a re-run that sees one list changed and not yet the other keeps the
    panels, and the note says why (the next change runs the pair)."""
    *_, t = events["denoise"].fn(*ARGS, Progress())
    *kept, note = events["rerun"].fn(t, *ARGS[:6], "ddpm-mnist-eps", "ddpm-x0", Progress())
    assert kept == [SKIP] * 8
    assert note.startswith("compare models trained on the same data, not ddpm-mnist-eps on mnist, ddpm-x0 on digits")
    *_, t2, note = events["rerun"].fn(t, *ARGS[:6], "ddpm-mnist-eps", "ddpm-mnist-x0", Progress())
    assert t2.names == ["ddpm-mnist-eps", "ddpm-mnist-x0"] and t2.dataset == "mnist" and note == ""


def test_a_link_to_an_mnist_view(tab_built):
    """A link sets the data and the models (checked as API arguments), and the view's run on arrival is of them; the
    data wins over a side of other data; the lists narrow to the linked data's models at the page's load."""
    events, controls = tab_built
    query = {"diffusion.data": "mnist", "diffusion.left": "ddpm-mnist-v", "diffusion.steps": "3"}
    assert links.read(query, "diffusion", controls) == ({"data": "mnist", "left": "ddpm-mnist-v", "steps": 3}, [])
    bad = {"diffusion.data": "cifar", "diffusion.right": "nope"}
    _, problems = links.read(bad, "diffusion", controls)
    assert problems[0] == "diffusion.data='cifar' was left out: it must be one of digits, mnist"
    assert problems[1].startswith("diffusion.right='nope' was left out: it must be one of ddpm-eps-b, ddpm-eps,")
    request = SimpleNamespace(query_params={"tab": "diffusion", **query}, session_hash=None)
    (on_arrival,) = [d.fn for d in events.values() if d.fn.__name__ == "example_denoised"]
    *set_controls, left, right, scrub, info, bands, spectrum, figures, t = on_arrival(request)
    assert dict(zip(controls, set_controls))["data"] == "mnist"
    assert t.names == ["ddpm-mnist-v", "ddpm-mnist-x0"] and t.dataset == "mnist"  # the right side: MNIST's x0-model
    assert "DDIM 3 steps" in info and np.asarray(left).shape[0] == (2 * 13 - 1) * ZOOM_MNIST
    left_list, right_list = events["narrow"].fn(request)
    assert left_list["choices"] == right_list["choices"] == MNIST
    assert events["narrow"].fn(SimpleNamespace(query_params={}, session_hash=None))[0]["choices"] == [
        "ddpm-eps-b",
        "ddpm-eps",
        "ddpm-x0",
    ]
    assert events["refresh"].fn("mnist")["choices"] == MNIST


def test_without_diffusion_models_the_tab_says_how_to_train_them(tmp_path):
    save_tiny_classifier(tmp_path, "mnist-classifier", 12)  # a model, but no diffusion one
    events, _ = built(tmp_path)
    *_, left, right, scrub, info, bands, spectrum, figures, t = events["example_denoised"].fn(
        SimpleNamespace(query_params={}, session_hash=None)
    )
    assert left is None and t is None
    assert info.startswith("two diffusion models of one dataset are needed; train them: ")
    assert "--recipe ddpm-eps;" in info and "--recipe ddpm-mnist-v" in info


def test_three_objectives_pick_one_model_of_each_kind(weights, tmp_path):
    """ε, x0 and v in that order, one of each: the shipped one where a kind has several (here a second ε-model)."""
    from unetlab.ui import objectives

    for f in weights.iterdir():
        (shutil.copytree if f.is_dir() else shutil.copy)(f, tmp_path / f.name)
    card = tiny_card("ddpm-mnist-a", "epsilon", "mnist")  # sorts before ddpm-mnist-eps by name
    registry.save(tiny_model("epsilon", dataset="mnist"), card, tmp_path, dtype=torch.float16)
    reg = registry.Registry(tmp_path)
    assert objectives.ordered(reg, "mnist") == ["ddpm-mnist-eps", "ddpm-mnist-x0", "ddpm-mnist-v"]
    assert objectives.ordered(reg, "photos") == []


def test_three_objectives_denoise_the_same_noise_side_by_side(client):
    """MNIST's ε-, x0- and v-models (tiny, 12x12) in three panels; photos without latent models say how to train."""
    *panels, info, scrub, bands = client.predict("mnist", "4", 3, 1.0, 2, api_name="/three_denoise")
    zoom = 4  # objectives.DATA["mnist"]: 12x12 samples at 4x4 per pixel, 4 samples, x_t over x0, 2 px apart
    for path in panels:
        assert Image.open(path).size == ((4 * 14 - 2) * zoom, (2 * 14 - 2) * zoom)
    assert scrub["maximum"] == scrub["value"] == 3 and "Step **3 / 3**" in info and "Class 4, DDIM 3 steps" in info
    series = {row[-1] for row in bands["data"]}
    assert {"ε-model (ddpm-mnist-eps): high", "x0-model (ddpm-mnist-x0): low", "v-model (ddpm-mnist-v): mid"} <= series
    again = client.predict("mnist", "4", 3, 1.0, 2, api_name="/three_denoise")
    assert np.array_equal(np.asarray(Image.open(again[0])), np.asarray(Image.open(panels[0])))
    with pytest.raises(Exception, match="no diffusion model of photos is registered; train them: .*ldm-vae"):
        client.predict("photos", "photo", 3, 1.0, 0, api_name="/three_denoise")
    with pytest.raises(Exception, match="class must be one of 0, 1, .* for mnist, got 'photo'"):
        client.predict("mnist", "photo", 3, 1.0, 0, api_name="/three_denoise")
    with pytest.raises(Exception, match="greater than maximum value 200"):
        client.predict("mnist", "4", 900, 1.0, 0, api_name="/three_denoise")
