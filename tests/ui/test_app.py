"""The app launched in-process and called as a user's script would: through gradio_client."""

from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image

from tests.conftest import TINY, serve, tiny_card
from unetlab import data, registry
from unetlab.settings import Settings


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    weights = tmp_path_factory.mktemp("weights")
    for name, skips in (("tiny-noskip", False), ("tiny-skip", True), ("tiny-broken", True)):
        registry.save(registry.build("unet", {**TINY, "skips": skips}), tiny_card(name, skips), weights)
    (weights / "tiny-broken.safetensors").unlink()
    with serve(weights, 7870) as client:
        yield client


def test_reconstruct_endpoint(client):
    photo = data.heldout_photo_paths()["coffee"]
    noskip, skip, err_noskip, err_skip, table = client.predict(
        handle_file(photo), "tiny-noskip", "tiny-skip", api_name="/reconstruct"
    )
    for path in (noskip, skip, err_noskip, err_skip):
        assert Image.open(path).size == (600, 400)  # the input's own size
    assert "without skips (tiny-noskip)" in table and "PSNR" in table


def test_bad_upload_then_keeps_serving(client, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(Exception, match="could not be decoded|not an image"):
        client.predict(handle_file(str(bad)), "tiny-noskip", "tiny-skip", api_name="/reconstruct")
    ok = tmp_path / "ok.png"
    Image.fromarray(np.full((32, 48, 3), 128, np.uint8)).save(ok)
    out = client.predict(handle_file(str(ok)), "tiny-noskip", "tiny-skip", api_name="/reconstruct")
    assert Image.open(out[0]).size == (48, 32)


def test_missing_weights_is_a_clear_error(client):
    photo = data.heldout_photo_paths()["chelsea"]
    expected = "tiny-broken.safetensors.*missing.*python -m unetlab train --recipe tiny-broken"
    with pytest.raises(Exception, match=expected):
        client.predict(handle_file(photo), "tiny-noskip", "tiny-broken", api_name="/reconstruct")
    with pytest.raises(Exception, match="unknown model 'nope'; valid names: tiny-broken, tiny-noskip, tiny-skip"):
        client.predict(handle_file(photo), "nope", "tiny-skip", api_name="/reconstruct")
    out = client.predict(handle_file(photo), "tiny-noskip", "tiny-skip", api_name="/reconstruct")
    assert Image.open(out[1]).size == (451, 300)


def test_large_uploads_are_downscaled_with_a_note(weights_dir, tmp_path):
    from unetlab.settings import Settings

    big = tmp_path / "big.png"
    Image.fromarray(np.full((100, 200, 3), 90, np.uint8)).save(big)
    with serve(weights_dir, 7871, Settings(compare_pixels=10_000)) as small:
        out = small.predict(handle_file(str(big)), "tiny-noskip", "tiny-skip", api_name="/reconstruct")
    w, h = Image.open(out[1]).size
    assert w * h <= 10_000 and abs(w / h - 2) < 0.05
    assert f"downscaled from 200x100 to {w}x{h}" in out[4]


def test_the_app_starts_without_a_model_whose_card_is_broken(tmp_path):
    """A truncated card used to stop the whole app at start-up; now only its model is missing from the choices."""
    import gradio as gr

    import app

    for name, skips in (("tiny-noskip", False), ("tiny-skip", True)):
        registry.save(registry.build("unet", {**TINY, "skips": skips}), tiny_card(name, skips), tmp_path)
    (tmp_path / "tiny-skip.json").write_text('{"name": "tiny-skip", "ta')
    demo = app.build_app(registry.Registry(tmp_path))
    choices = {v for b in demo.blocks.values() if isinstance(b, gr.Dropdown) for _, v in b.choices}
    assert "tiny-noskip" in choices and "tiny-skip" not in choices


def test_gradios_copies_go_with_idle_sessions(tmp_path):
    """Uploads, outputs and download zips that Gradio copies into its cache are deleted once as old as an idle
    session's live models (Gradio's delete_cache), checked a few times in that period."""
    import app

    assert app.build_app(registry.Registry(tmp_path, idle_seconds=3600)).delete_cache == (900, 3600)


def test_no_jargon_a_student_would_not_know():
    """The walk-through found "the seed article", a "seed (MNIST)" column beside the random Seed inputs, and "THE
    loop" in what the tabs show; the text says "the original article" and "the training loop" instead."""
    import gradio as gr

    import app

    demo = app.build_app(registry.Registry(Settings().weights))
    shown = []
    for b in demo.blocks.values():
        if isinstance(b, (gr.Markdown, gr.HTML)):
            shown.append(str(b.value))
        elif isinstance(b, gr.Dataframe):
            shown += [str(h) for h in b.value["headers"]]
    text = "\n".join(shown)
    assert "article (MNIST)" in text and "original article" in text  # the words are there...
    for jargon in ("seed article", "seed (MNIST)", "THE loop", "THE training loop", "the seed's"):
        assert jargon not in text, jargon  # ...and the jargon is not


def test_building_the_app_runs_no_model(monkeypatch):
    """Building the app over the shipped models does no inference: results shown on arrival are computed when a
    page loads (the Lab's first detector, the Latent tab's preset walk) or when asked, not at start-up. Every forward
    pass goes through nn.Module.__call__."""
    import torch

    import app

    calls = []
    forward = torch.nn.Module.__call__

    def counted(module, *args, **kwargs):
        calls.append(type(module).__name__)
        return forward(module, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "__call__", counted)
    demo = app.build_app(registry.Registry(Settings().weights))
    assert calls == []
    on_load = [d.fn.__name__ for d in demo.fns.values() for t in d.targets if t[1] == "load"]
    arrival = ["example_colourised", "example_denoised", "example_reconstructed", "narrow", "nothing_yet", "open_view"]
    # nothing_yet: Live training's; narrow: the Diffusion tab's model lists, to the chosen data's models
    assert sorted(on_load) == [*arrival, "preset_walk", "scores_on_arrival"]
    torch.nn.Linear(2, 2)(torch.zeros(1, 2))
    assert calls == ["Linear"]  # the count sees a forward pass


def test_only_the_app_imports_the_ui():
    """The library (unetlab/*.py, not ui/) imports neither the tabs nor the root script: the UI sits on the library,
    and bench and loadtest start the app as a user would (a process of its own)."""
    import ast
    from pathlib import Path

    import unetlab

    library = Path(unetlab.__file__).parent
    offenders = []
    for path in library.rglob("*.py"):
        if "ui" in path.relative_to(library).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            offenders += [f"{path.name}: {n}" for n in names if n == "app" or n.startswith("unetlab.ui")]
    assert offenders == []


def test_the_image_tabs_show_their_example_on_arrival():
    """Reconstruction and Colorize open with the held-out photo coffee (600x400) in their input and its results
    beside it, computed at the first page load and then handed to every visitor as they are."""
    import app

    demo = app.build_app(registry.Registry(Settings().weights))
    events = {d.fn.__name__: d.fn for d in demo.fns.values() if any(t[1] == "load" for t in d.targets)}
    no_link = None  # the page's request: a plain address, no link to a view
    kept_noskip, kept_skip, noskip, skip, err_noskip, err_skip, table = events["example_reconstructed"](no_link)
    assert kept_noskip == kept_skip == gr.skip()  # the model lists stay as they are
    assert noskip.shape == skip.shape == err_skip.shape == (400, 600, 3)
    assert "on this 600x400 image" in table and "with skips (recon-skip)" in table
    _, _, hints, selected, palette, suggestions, canvas, main, other, L, a, b, info = events["example_colourised"](
        no_link
    )
    assert hints == "[]" and main.shape == other.shape == (400, 600, 3)
    assert info.startswith("600x400 upload") and "Left: colorize-guided-skip" in info
    assert events["example_reconstructed"](no_link)[2] is noskip  # the second visitor: the same result, not a rerun


def test_a_link_to_a_view_sets_its_controls_and_computes_for_them():
    """?tab=colorize&colorize.other=colorize-mse: the arrival sets the second model and colourises with it."""
    import app

    demo = app.build_app(registry.Registry(Settings().weights))
    events = {d.fn.__name__: d.fn for d in demo.fns.values() if any(t[1] == "load" for t in d.targets)}
    link = SimpleNamespace(query_params={"tab": "colorize", "colorize.other": "colorize-mse"})
    model, other, *_, info = events["example_colourised"](link)
    assert model == gr.skip() and other == "colorize-mse" and "right: colorize-mse" in info
    tabs, projector = events["open_view"](SimpleNamespace(query_params={"tab": "colorize", "projector": "1"}))
    assert tabs.selected == "colorize" and projector is True


def test_the_diffusion_tab_shows_its_opening_run_on_arrival():
    import app

    demo = app.build_app(registry.Registry(Settings().weights))
    (event,) = [d.fn for d in demo.fns.values() if getattr(d.fn, "__name__", "") == "example_denoised"]
    *controls, eps, x0, scrub, info, bands, spectrum, figures, trajectory = event(None)
    assert len(controls) == 10 and all(c == gr.skip() for c in controls)
    assert eps.ndim == 3 and x0.shape == eps.shape and trajectory.names == ["ddpm-eps", "ddpm-x0"]
    assert info.startswith("Made with class") and "HF energy ratio" in figures


def test_reconstruction_says_when_an_upload_is_unlike_a_models_data():
    """A grey digits model given a colour photo gets its luma and is scored against that: the table says so."""
    from unetlab.ui.reconstruct import mismatch_notes

    entries = {
        "live-grey": SimpleNamespace(config={"in_channels": 1}, card={"data": {"dataset": "digits"}}),
        "recon-skip": SimpleNamespace(config={"in_channels": 3}, card={"data": {"dataset": "corpus-train"}}),
    }
    reg = SimpleNamespace(entry=entries.__getitem__)
    photo = np.zeros((8, 8, 3), np.uint8)
    photo[..., 0] = 200  # red
    grey_photo = np.full((8, 8, 3), 90, np.uint8)
    notes = mismatch_notes(reg, photo, ["live-grey", "recon-skip"])
    assert len(notes) == 2 and "grey model" in notes[0] and "luma" in notes[0] and "small digits" in notes[1]
    assert mismatch_notes(reg, grey_photo, ["live-grey"]) == [notes[1]]  # no colour to lose
    assert mismatch_notes(reg, photo, ["recon-skip"]) == []


def test_loss_plots_name_series_by_role_and_tick_whole_epochs():
    """A LinePlot keeps the colour legend of its first data: the Reconstruction curves are named by side, not by
    model (a live model's curves were never drawn), and every plot over epochs or steps ticks whole numbers."""
    import app
    from unetlab.ui.reconstruct import loss_curves

    reg = registry.Registry(Settings().weights)
    df = loss_curves(reg, {"without skips": "recon-noskip", "with skips": "recon-skip"})
    assert set(df["model"]) == {f"{s}: {c}" for s in ("without skips", "with skips") for c in ("train", "held-out")}
    demo = app.build_app(reg)
    plots = [b for b in demo.blocks.values() if isinstance(b, gr.LinePlot) and b.x in ("epoch", "step")]
    # Reconstruction, the Lab's shipped and rerun purity curves, Diffusion's bands and the ε/x0/v trio's, Live
    # training's losses and its diffusion samples' accuracy
    assert len(plots) == 7
    assert all(p.x_axis_format == "d" for p in plots)
