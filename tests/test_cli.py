import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from unetlab import cards, recipes, registry, tasks
from unetlab.__main__ import main
from unetlab.recipes import Recipe


@pytest.fixture
def default_registry(weights_dir, monkeypatch):
    monkeypatch.setenv("UNETLAB_WEIGHTS", str(weights_dir))  # the folder the CLI's registry reads
    return weights_dir


def write_image(path, w, h, mode="RGB"):
    rng = np.random.default_rng(0)
    shape = (h, w, 3) if mode == "RGB" else (h, w)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    return path


def test_reconstruct_keeps_each_inputs_size(default_registry, tmp_path, capsys):
    a = write_image(tmp_path / "a.png", 37, 23)
    b = write_image(tmp_path / "b.jpg", 64, 48, mode="L")
    out = tmp_path / "out"
    assert main(["reconstruct", "--model", "tiny-skip", str(a), str(b), "--out", str(out)]) == 0
    assert Image.open(out / "a.png").size == (37, 23)
    assert Image.open(out / "b.png").size == (64, 48)
    assert capsys.readouterr().out.split() == [str(out / "a.png"), str(out / "b.png")]


def test_reconstruct_by_card_path(weights_dir, tmp_path):
    a = write_image(tmp_path / "a.png", 20, 20)
    assert main(["reconstruct", "--model", str(weights_dir / "tiny-noskip.json"), str(a), "--out", str(tmp_path)]) == 0
    assert Image.open(tmp_path / "a.png").size == (20, 20)


def test_bad_inputs_give_one_line(default_registry, tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    assert main(["reconstruct", "--model", "tiny-skip", str(bad), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.png is not an image" in err
    assert main(["reconstruct", "--model", "nope", str(bad), "--out", str(tmp_path)]) == 1
    assert "valid names: tiny-noskip, tiny-skip" in capsys.readouterr().err
    assert main(["train", "--recipe", "nope"]) == 1
    assert "valid: recon-skip, recon-noskip" in capsys.readouterr().err


def test_no_traceback_in_a_real_process(tmp_path):
    p = subprocess.run(
        [sys.executable, "-m", "unetlab", "reconstruct", "--model", str(tmp_path / "x.json"), "y.png", "--out", "o"],
        capture_output=True,
        text=True,
    )
    assert p.returncode == 1
    assert p.stderr.startswith("error: ") and "Traceback" not in p.stderr and p.stderr.count("\n") == 1


def test_train_writes_weights_and_card(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "imgs"
    (folder / "sub").mkdir(parents=True)
    for i in range(4):
        write_image(folder / ("sub" if i % 2 else "") / f"{i}.png", 40, 36)
    tiny = Recipe("tiny", "reconstruct", "unet", {"base": 4, "depth": 2}, "photos", 1, 8, 1e-2, crop=16, epoch_size=16)
    monkeypatch.setitem(recipes.RECIPES, "tiny", tiny)
    out = tmp_path / "w"
    args = ["train", "--recipe", "tiny", "--dataset", str(folder), "--epochs", "2", "--seed", "5", "--out", str(out)]
    assert main(args) == 0
    card = json.loads((out / "tiny.json").read_text())
    assert card["command"] == f"python -m unetlab train --recipe tiny --dataset {folder} --epochs 2 --seed 5"
    assert card["seed"] == 5 and card["hyper"]["epochs"] == 2
    assert [h["epoch"] for h in card["history"]] == [1, 2]
    assert card["sha256"] == registry.sha256(out / "tiny.safetensors")
    assert "epoch   2/2" in capsys.readouterr().out
    # the result is a model like any other
    assert main(["reconstruct", "--model", str(out / "tiny.json"), str(folder / "0.png"), "--out", str(tmp_path)]) == 0


def test_models_json(default_registry, capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["tiny-noskip", "tiny-skip"]
    assert rows[0]["task"] == "reconstruct" and rows[0]["metrics"] == {"heldout_psnr": 20.0}


def test_train_colorize_then_cli(tmp_path, monkeypatch, capsys):
    from unetlab.colorize import bins

    cfg = {"in_channels": 1, "out_channels": bins().count, "output": "linear", "base": 4, "depth": 2}
    tiny = Recipe("tiny-color", "colorize", "unet", cfg, "photos", 1, 8, 1e-2, crop=16, epoch_size=16)
    monkeypatch.setitem(recipes.RECIPES, "tiny-color", tiny)
    out = tmp_path / "w"
    assert main(["train", "--recipe", "tiny-color", "--out", str(out)]) == 0
    card = json.loads((out / "tiny-color.json").read_text())
    m = card["metrics"]
    assert card["task"] == "colorize" and "cross-entropy over" in card["hyper"]["loss"]
    assert set(m["heldout"]) == {"chelsea", "coffee"} and 0 <= m["heldout_colourfulness_ratio"] < 5
    assert m["heldout_grey_psnr"] == pytest.approx(16.76, abs=0.05)  # the grey baseline does not depend on the model
    a = write_image(tmp_path / "a.png", 41, 29)
    g = write_image(tmp_path / "g.png", 30, 20, mode="L")
    dest = tmp_path / "o"
    assert main(["colorize", "--model", str(out / "tiny-color.json"), str(a), str(g), "--out", str(dest)]) == 0
    assert Image.open(dest / "a.png").size == (41, 29) and Image.open(dest / "g.png").size == (30, 20)
    assert Image.open(dest / "g.png").mode == "RGB"
    capsys.readouterr()
    assert main(["colorize", "--model", str(out / "tiny-color.json"), str(tmp_path / "nope.png"), "--out", "o"]) == 1
    assert "no such file" in capsys.readouterr().err
    assert (
        main(["colorize", "--model", str(out / "tiny-color.json"), str(a), "--hint", "3,4,#ff0000", "--out", "o"]) == 1
    )
    assert "takes no colour hints" in capsys.readouterr().err  # L* alone: a hint cannot be honoured


def test_train_guided_colorize_then_cli_hints(tmp_path, monkeypatch, capsys):
    from unetlab.colorize import HINT_CHANNELS, bins

    cfg = {"in_channels": HINT_CHANNELS, "out_channels": bins().count, "output": "linear", "base": 4, "depth": 2}
    tiny = Recipe("tiny-guided", "colorize", "unet", cfg, "photos", 1, 8, 1e-2, crop=16, epoch_size=16)
    monkeypatch.setitem(recipes.RECIPES, "tiny-guided", tiny)
    out = tmp_path / "w"
    assert main(["train", "--recipe", "tiny-guided", "--out", str(out)]) == 0
    model = str(out / "tiny-guided.json")
    a = write_image(tmp_path / "a.png", 41, 29)
    b = write_image(tmp_path / "b.png", 30, 20)
    dest = tmp_path / "o"
    hints = ["--hint", "3,4,#ff0000", "--hint", "40,28,#0000ff"]
    assert main(["colorize", "--model", model, str(a), *hints, "--out", str(dest)]) == 0
    assert Image.open(dest / "a.png").size == (41, 29)
    capsys.readouterr()
    for args, message in [
        ([str(a), str(b), *hints], "colourise one image per command"),
        ([str(a), "--hint", "41,4,#ff0000"], "outside the 41x29 image"),
        ([str(a), "--hint", "3,4,red"], "bad colour"),
        ([str(a), "--hint", "3;4;#ff0000"], "expected X,Y,#RRGGBB"),
    ]:
        assert main(["colorize", "--model", model, *args, "--out", str(dest)]) == 1
        assert message in capsys.readouterr().err


def test_accelerate_launch_trains_and_only_the_main_process_saves(tmp_path):
    """`accelerate launch -m unetlab train` runs THE loop through an Accelerator (CPU, one process here)."""
    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "w"
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "1"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    train = ["-m", "unetlab", "train", "--recipe", "dae-digits", "--epochs", "1", "--batch-size", "256"]
    p = subprocess.run([*launch, *train, "--out", str(out)], cwd=root, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "accelerate: 1 process(es) on cpu" in p.stdout and "epoch   1/1" in p.stdout
    card = json.loads((out / "dae-digits.json").read_text())
    assert card["sha256"] == registry.sha256(out / "dae-digits.safetensors")
    assert "corrupted" in card["hyper"]["loss"] and card["metrics"]["psnr"] > 0


def test_seed_recipe_is_the_seed_model_and_names_its_data(capsys, monkeypatch):
    from unetlab.models.unet import count_parameters

    r = recipes.get("seed-colorize-stl10")
    assert (r.epochs, r.size, r.task) == (100, 96, "colorize")
    assert count_parameters(recipes.build_model(r)) == 31_042_499  # the seed's Keras summary
    assert main(["train", "--recipe", "seed-colorize-stl10", "--dataset", "/nowhere/unlabeled_X.bin"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "/nowhere/unlabeled_X.bin does not exist" in err and "UNETLAB_STL10" in err


# --- a bad card: only that model is unavailable ---------------------------------------------------------------------


def test_models_lists_an_unavailable_card_with_its_error(default_registry, capsys):
    (default_registry / "tiny-skip.json").write_text('{\n "name": "tiny-skip",\n "ta')  # truncated
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "tiny-noskip" in out and "unavailable" in out
    assert f"tiny-skip            card {default_registry / 'tiny-skip.json'} is not valid JSON" in out
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["tiny-noskip", "tiny-skip"]
    assert "error" not in rows[0] and "tiny-skip.json is not valid JSON" in rows[1]["error"]
    # using it by name: one line naming the file; the other model works
    img = write_image(default_registry / "a.png", 20, 20)
    assert main(["reconstruct", "--model", "tiny-skip", str(img), "--out", str(default_registry / "o")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model 'tiny-skip' is unavailable: card" in err and "tiny-skip.json" in err
    assert main(["reconstruct", "--model", "tiny-noskip", str(img), "--out", str(default_registry / "o")]) == 0


# --- numbers are checked before any work ----------------------------------------------------------------------------


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a command gets as far as loading data or a model."""

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr(recipes, "load_data", forbidden)
    monkeypatch.setattr(registry, "resolve", forbidden)


@pytest.mark.parametrize(
    "args,words",
    [
        (["train", "--recipe", "anomaly-no0", "--epochs", "0"], "--epochs: must be at least 1, got 0"),
        (["train", "--recipe", "anomaly-no0", "--batch-size", "0"], "--batch-size: must be at least 1, got 0"),
        (["train", "--recipe", "anomaly-no0", "--batch-size", "-1"], "--batch-size: must be at least 1, got -1"),
        (["train", "--recipe", "anomaly-no0", "--lr", "1e9"], "--lr: must be greater than 0 and at most 1"),
        (["train", "--recipe", "anomaly-no0", "--lr", "0"], "--lr: must be greater than 0"),
        (["train", "--recipe", "anomaly-no0", "--lr", "nan"], "--lr: must be a finite number, got nan"),
        (["train", "--recipe", "anomaly-no0", "--lr", "fast"], "--lr: expected a number, got 'fast'"),
        (["train", "--recipe", "anomaly-no0", "--seed", "-3"], "--seed: must be between 0 and 4294967295"),
        (["sample", "--model", "m", "--guidance", "nan", "--out", "o"], "--guidance: must be a finite number"),
        (["sample", "--model", "m", "--guidance", "inf", "--out", "o"], "--guidance: must be a finite number"),
        (["sample", "--model", "m", "--guidance", "-1", "--out", "o"], "--guidance: must be between 0 and 20"),
        (["sample", "--model", "m", "--eta", "nan", "--out", "o"], "--eta: must be a finite number"),
        (["sample", "--model", "m", "--steps", "0", "--out", "o"], "--steps: must be at least 1"),
        (["sample", "--model", "m", "--n", "0", "--out", "o"], "--n: must be at least 1"),
        (["interpolate", "--model", "m", "a", "b", "--steps", "1", "--out", "o"], "--steps: must be at least 2"),
        (["score", "m", "--per-source", "0"], "--per-source: must be at least 1"),
        (["score", "m", "--hints", "-1"], "--hints: must be at least 0"),
        (["purity", "--rerun", "--epochs", "501"], "--epochs: must be between 1 and 500"),
        (["load", "--port", "70000"], "--port: must be between 1 and 65535"),
    ],
)
def test_bad_numbers_are_refused_before_any_work(no_work, capsys, args, words):
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and words in err and err.startswith("usage: ")


# --- train writes nothing invalid, and nothing over a shipped model -------------------------------------------------


@pytest.fixture
def tiny_recipe(tmp_path, monkeypatch):
    """A tiny reconstruct recipe on four small images; the working directory is an empty tmp folder."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(4):
        write_image(folder / f"{i}.png", 40, 36)
    tiny = Recipe(
        "tiny", "reconstruct", "unet", {"base": 4, "depth": 2}, str(folder), 1, 8, 1e-2, crop=16, epoch_size=16
    )
    monkeypatch.setitem(recipes.RECIPES, "tiny", tiny)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def test_overrides_go_to_runs_not_weights(tiny_recipe, capsys):
    assert main(["train", "--recipe", "tiny", "--epochs", "1", "--seed", "3"]) == 0
    assert not (tiny_recipe / "weights").exists()  # the recipe's own model is not replaced
    card = json.loads((tiny_recipe / "runs" / "tiny.json").read_text())
    assert card["overrides"] == {"epochs": 1, "seed": 3}
    assert card["command"] == "python -m unetlab train --recipe tiny --epochs 1 --seed 3"
    out = capsys.readouterr().out
    assert "--epochs, --seed differ from the recipe: writing to runs/, not weights/" in out
    assert f"wrote {Path('runs') / 'tiny.safetensors'}" in out
    # the recipe as it is still goes to weights/, and --out is obeyed either way
    assert main(["train", "--recipe", "tiny"]) == 0
    assert json.loads((tiny_recipe / "weights" / "tiny.json").read_text())["overrides"] == {}
    assert main(["train", "--recipe", "tiny", "--epochs", "1", "--out", "mine"]) == 0
    assert (tiny_recipe / "mine" / "tiny.json").is_file()


def test_an_unwritable_out_fails_before_training(tiny_recipe, monkeypatch, capsys):
    monkeypatch.setattr(recipes, "load_data", lambda r: pytest.fail("training started"))
    (tiny_recipe / "file").write_text("x")
    for out in ("file/x", "/proc/unetlab"):
        assert main(["train", "--recipe", "tiny", "--out", out]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"error: cannot write to {out}" in err


def test_a_diverged_run_writes_nothing(tiny_recipe, monkeypatch, capsys):
    out = tiny_recipe / "w"
    assert main(["train", "--recipe", "tiny", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real_run = recipes.training

    def diverging(r, data, model, **kw):
        yield from real_run(r, data, model, **kw)
        with torch.no_grad():
            next(model.parameters()).fill_(float("nan"))  # as a too-large step leaves them

    monkeypatch.setattr(recipes, "training", diverging)
    assert main(["train", "--recipe", "tiny", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NaN or infinity" in err and "diverged" in err and "nothing was written" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_run_whose_evaluation_fails_replaces_nothing(tiny_recipe, monkeypatch, capsys):
    out = tiny_recipe / "w"
    assert main(["train", "--recipe", "tiny", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert set(before) == {"tiny.json", "tiny.safetensors"} and json.loads(before["tiny.json"])["metrics"]

    def crash(*args, **kwargs):
        raise RuntimeError("out of memory in the evaluation")

    reconstruct = tasks.get("reconstruct")
    monkeypatch.setitem(tasks.TASKS, "reconstruct", replace(reconstruct, card_metrics=crash))
    assert main(["train", "--recipe", "tiny", "--out", str(out), "--seed", "5"]) == 1
    assert "out of memory in the evaluation" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no staging left behind either


def test_finish_refuses_an_empty_or_diverged_history(tiny_recipe, tmp_path):
    r = recipes.get("tiny")
    model, data = recipes.build_model(r), recipes.load_data(r)
    with pytest.raises(ValueError, match="no epoch was trained; nothing was written"):
        cards.finish(r, model, data, [], 0.0, tmp_path / "w", registry.Registry(tmp_path / "none"))
    with pytest.raises(registry.WeightsError, match="held-out loss is nan.*diverged"):
        history = [{"epoch": 1, "test_loss": float("nan"), "psnr": 0.0}]
        cards.finish(r, model, data, history, 0.0, tmp_path / "w", registry.Registry(tmp_path / "none"))
    assert not (tmp_path / "w").exists()
