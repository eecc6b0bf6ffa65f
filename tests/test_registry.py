import copy
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from unetlab import registry
from unetlab.registry import Registry, RegistryError, WeightsError


def same_weights(model: torch.nn.Module, path: Path) -> bool:
    """The model computes what the safetensors file's weights compute (a loaded model's BatchNorms are folded into
    its convolutions, so its tensors are not the file's)."""
    card = json.loads(path.with_suffix(".json").read_text())
    ref = registry.build(card["model"], card["config"])
    ref.load_state_dict(load_file(str(path)))
    x = torch.rand(1, ref.config.in_channels, 16, 16)
    return torch.allclose(model(x), ref.eval()(x), atol=1e-5, rtol=1e-4)


def test_lazy_load_and_cache(weights_dir):
    reg = Registry(weights_dir)
    assert reg.names() == ["tiny-noskip", "tiny-skip"]
    assert reg.names("reconstruct") == ["tiny-noskip", "tiny-skip"]
    assert reg.names("colorize") == []
    assert reg.entry("tiny-skip").module is None  # nothing loaded until asked
    m = reg.load("tiny-skip")
    assert reg.load("tiny-skip") is m
    assert not m.training
    assert reg.entry("tiny-noskip").module is None


def test_round_trip_is_exact_in_float32(tmp_path):
    torch.manual_seed(1)
    model = registry.build("unet", {"base": 4, "depth": 2})
    card = {"name": "m", "task": "reconstruct", "model": "unet", "config": {"base": 4, "depth": 2}}
    path = registry.save(model, card, tmp_path)
    saved = json.loads(path.read_text())
    assert saved["sha256"] == registry.sha256(tmp_path / "m.safetensors")
    ref = model.state_dict()
    stored = load_file(str(tmp_path / "m.safetensors"))
    assert stored.keys() == ref.keys() and all(torch.equal(v, ref[k]) for k, v in stored.items())
    loaded = Registry(tmp_path).load("m")
    x = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(model.eval()(x), loaded(x))  # channels_last, BatchNorms folded: same maths


def test_loaded_models_fold_batchnorm_into_the_convolutions():
    """A loaded model has no BatchNorm left (each folded into the convolution before it) and computes what the
    trained model computes in eval mode, with running statistics far from 0 and 1."""
    torch.manual_seed(2)
    model = registry.build("unet", {"base": 4, "depth": 2})
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-2, 2), m.running_var.uniform_(0.1, 9), m.weight.data.uniform_(0.5, 2)
    model.eval()
    x = torch.rand(2, 3, 16, 16)
    expected = model(x)
    folded = registry.fold_batchnorm(copy.deepcopy(model))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    torch.testing.assert_close(folded(x), expected, atol=1e-5, rtol=1e-4)


def test_unknown_name_lists_valid_names(weights_dir):
    with pytest.raises(RegistryError) as e:
        Registry(weights_dir).load("nope")
    assert "tiny-noskip, tiny-skip" in str(e.value)


def test_sha_mismatch_names_file_and_command(weights_dir):
    w = weights_dir / "tiny-skip.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    reg = Registry(weights_dir)
    with pytest.raises(WeightsError) as e:
        reg.load("tiny-skip")
    assert "tiny-skip.safetensors" in str(e.value)
    assert "python -m unetlab train --recipe tiny-skip" in str(e.value)
    assert same_weights(reg.load("tiny-noskip"), weights_dir / "tiny-noskip.safetensors")  # the rest keeps working


def test_missing_weights(weights_dir):
    (weights_dir / "tiny-noskip.safetensors").unlink()
    reg = Registry(weights_dir)
    with pytest.raises(WeightsError, match="missing.*rebuild it with: python -m unetlab train --recipe tiny-noskip"):
        reg.load("tiny-noskip")
    reg.load("tiny-skip")


def test_truncated_file_without_sha(weights_dir):
    card = weights_dir / "tiny-skip.json"
    c = json.loads(card.read_text())
    del c["sha256"]
    card.write_text(json.dumps(c))
    (weights_dir / "tiny-skip.safetensors").write_bytes(b"\x08\x00")
    with pytest.raises(WeightsError, match="cannot be read"):
        Registry(weights_dir).load("tiny-skip")


def test_runtime_register(weights_dir):
    reg = Registry(weights_dir)
    model = registry.build("unet", {"base": 4, "depth": 2, "skips": False})
    reg.register("mine", "reconstruct", "unet", {"base": 4, "depth": 2, "skips": False}, model, {"history": []})
    assert "mine" in reg.names("reconstruct")
    assert reg.load("mine") is model
    assert reg.entry("mine").card["name"] == "mine"


# --- live models are private to the session that trained them ---------------------------------------------------


def live(reg: Registry, name: str = "live-unet-skip-digits", files: tuple = ()) -> torch.nn.Module:
    model = registry.build("unet", {"base": 4, "depth": 2, "skips": True})
    reg.register(name, "reconstruct", "unet", {"base": 4, "depth": 2, "skips": True}, model, {}, files=files)
    return model


def test_a_session_sees_only_its_own_live_models(weights_dir):
    reg = Registry(weights_dir)
    a, b = reg.for_session("a"), reg.for_session("b")
    mine = live(a)
    assert "live-unet-skip-digits" in a.names("reconstruct") and a.load("live-unet-skip-digits") is mine
    assert b.names() == reg.names() == ["tiny-noskip", "tiny-skip"]  # the shipped ones only
    with pytest.raises(RegistryError, match="unknown model 'live-unet-skip-digits'"):
        b.load("live-unet-skip-digits")
    theirs = live(b)  # the same name in another session replaces nothing of a's
    assert reg.for_session("a").load("live-unet-skip-digits") is mine
    assert reg.for_session("b").load("live-unet-skip-digits") is theirs
    assert reg.for_session("a").load("tiny-skip") is reg.load("tiny-skip")  # shipped models: loaded once, shared


def test_shared_live_models_are_a_setting(weights_dir):
    reg = Registry(weights_dir, share_live=True)
    first = live(reg.for_session("a"))
    assert reg.for_session("b").load("live-unet-skip-digits") is first
    second = live(reg.for_session("b"))  # shared: the newest job of a name replaces the older
    assert reg.for_session("a").load("live-unet-skip-digits") is second


def test_a_session_ends_with_its_models_and_their_files(weights_dir, tmp_path):
    reg = Registry(weights_dir)
    a, b = reg.for_session("a"), reg.for_session("b")
    folder_a, folder_b = tmp_path / "job-a", tmp_path / "job-b"
    for f in (folder_a, folder_b):
        f.mkdir()
        (f / "m.zip").write_bytes(b"x")
    live(a, "live-unet-noskip-digits", files=(folder_a,))
    live(a, files=(folder_a,))  # a U-Net job's two models share its folder
    live(b, files=(folder_b,))
    reg.end_session("a")
    assert reg.for_session("a").names() == ["tiny-noskip", "tiny-skip"]
    assert not folder_a.exists() and folder_b.exists()
    assert "live-unet-skip-digits" in reg.for_session("b").names()


def test_a_new_job_of_the_same_name_deletes_the_old_files_once_unused(weights_dir, tmp_path):
    a = Registry(weights_dir).for_session("a")
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir(), new.mkdir()
    live(a, "live-unet-noskip-digits", files=(old,))
    live(a, files=(old,))
    live(a, "live-unet-noskip-digits", files=(new,))
    assert old.exists()  # live-unet-skip-digits still names it
    live(a, files=(new,))
    assert not old.exists() and new.exists()


def test_idle_sessions_lose_their_models(weights_dir, tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(registry.time, "monotonic", lambda: clock[0])
    reg = Registry(weights_dir, idle_seconds=60)
    folder = tmp_path / "job"
    folder.mkdir()
    live(reg.for_session("a"), files=(folder,))
    shared = live(reg, "live-vae-digits")  # registered outside any session: the server-wide space, never idle
    clock[0] += 30
    assert "live-unet-skip-digits" in reg.for_session("a").names()  # used: its clock restarts
    clock[0] += 59
    reg.for_session("b")
    assert folder.exists()
    clock[0] += 2  # 61 s since a last used it: the next request of anyone ends it
    reg.for_session("b")
    assert not folder.exists() and "live-unet-skip-digits" not in reg.for_session("a").names()
    assert reg.for_session("a").load("live-vae-digits") is shared


def test_resolve_by_path(weights_dir):
    for path in (weights_dir / "tiny-skip.json", weights_dir / "tiny-skip.safetensors"):
        entry, model = registry.resolve(str(path), Registry(weights_dir / "elsewhere"))
        assert entry.name == "tiny-skip" and entry.card_path == weights_dir / "tiny-skip.json"
    with pytest.raises(WeightsError, match="expected a card"):
        registry.resolve(str(weights_dir / "nothing.safetensors"), Registry(weights_dir))


def test_unknown_model_class():
    with pytest.raises(
        RegistryError,
        match="known: ae, classifier, contractive-ae, dae, diffusion, ldm, ldm-vae, sparse-ae, unet, vae, vq-vae",
    ):
        registry.build("transformer", {})


# --- a bad card makes only its own model unavailable ---------------------------------------------------------------


def spoil(weights_dir, name: str, how) -> None:
    """Rewrite <name>'s card: `how` is the new text, or a function changing the card's dict in place."""
    path = weights_dir / f"{name}.json"
    if isinstance(how, str):
        path.write_text(how)
        return
    card = json.loads(path.read_text())
    how(card)
    path.write_text(json.dumps(card))


@pytest.mark.parametrize(
    "how,words",
    [
        ('{\n "name": "tiny-skip",\n "task": "recons', "is not valid JSON"),  # truncated
        (lambda c: c.pop("task"), "lacks task"),
        (lambda c: c.update(config="base 4"), "'config' must be a dict"),
        (lambda c: c.update(model="transformer"), "unknown model class 'transformer'"),
        (lambda c: c.update(weights="../tiny-skip.safetensors"), "must be a file or folder name beside the card"),
        (lambda c: c.update(weights="/etc/passwd"), "must be a file or folder name beside the card"),
        (lambda c: c.update(weights=".."), "must be a file or folder name beside the card"),
        (lambda c: c.update(weights="sub/tiny-skip.safetensors"), "must be a file or folder name beside the card"),
        ("[1, 2]", "is not a JSON object"),
    ],
    ids=["truncated", "missing-key", "config-type", "model-class", "dotdot", "absolute", "parent", "subfolder", "list"],
)
def test_a_bad_card_makes_only_its_model_unavailable(weights_dir, how, words):
    card = weights_dir / "tiny-skip.json"
    spoil(weights_dir, "tiny-skip", how)
    reg = Registry(weights_dir)
    assert reg.names() == ["tiny-noskip"]
    assert same_weights(reg.load("tiny-noskip"), weights_dir / "tiny-noskip.safetensors")  # the others load as usual
    why = reg.unavailable["tiny-skip"]
    assert str(card) in why and words in why
    with pytest.raises(registry.CardError) as e:  # asked for by name: the file and the problem, not "unknown model"
        reg.load("tiny-skip")
    assert str(card) in str(e.value) and words in str(e.value)
    with pytest.raises(registry.CardError, match=words):  # and by path
        registry.resolve(str(card), reg)


def test_a_json_that_is_not_a_card_says_so(tmp_path):
    other = tmp_path / "settings.json"
    other.write_text('{"a": 1}')
    with pytest.raises(registry.CardError, match=r"settings.json lacks name, task, model, config: not a card"):
        registry.resolve(str(other), Registry(tmp_path))


# --- nothing invalid is written ------------------------------------------------------------------------------------


def tiny_model_and_card(name: str = "m"):
    torch.manual_seed(1)
    cfg = {"base": 4, "depth": 2}
    return registry.build("unet", cfg), {"name": name, "task": "reconstruct", "model": "unet", "config": cfg}


@pytest.mark.parametrize(
    "value,dtype", [(float("nan"), torch.float32), (float("inf"), torch.float32), (float("nan"), torch.float16)]
)
def test_non_finite_weights_are_never_written(weights_dir, value, dtype):
    model, card = tiny_model_and_card("tiny-skip")
    before = {p.name: p.read_bytes() for p in weights_dir.iterdir()}
    with torch.no_grad():
        next(model.parameters())[0] = value  # 1e5 is finite in float32, infinite in float16
    with pytest.raises(WeightsError, match="NaN or infinity.*diverged.*nothing was written"):
        registry.save(model, card, weights_dir, dtype=dtype)
    assert {p.name: p.read_bytes() for p in weights_dir.iterdir()} == before  # the old model is untouched


def test_a_finite_value_beyond_float16_is_kept_in_float32_not_refused(tmp_path):
    """A BatchNorm's running variance past float16's 65,504 (colorize-guided-noskip's first 327,680-crop run) is
    not a diverged run: that tensor is stored in float32, named in the card, and loads back exactly."""
    model, card = tiny_model_and_card("tiny-skip")
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    with torch.no_grad():
        bn.running_var[0] = 1e5
    path = registry.save(model, card, tmp_path, dtype=torch.float16)
    saved = json.loads(path.read_text())
    assert saved["dtype"] == "float16" and len(saved["float32_tensors"]) == 1
    assert saved["float32_tensors"][0].endswith("running_var")
    name = saved["float32_tensors"][0]
    stored = load_file(str(tmp_path / "tiny-skip.safetensors"))
    assert stored[name].dtype == torch.float32 and stored[name][0].item() == 1e5
    loaded = registry.load_entry(registry.read_card(path))
    assert torch.isfinite(torch.cat([v.flatten().float() for v in loaded.state_dict().values()])).all()
    assert same_weights(loaded, tmp_path / "tiny-skip.safetensors")


def test_save_replaces_files_whole_and_leaves_no_temporary_files(tmp_path):
    model, card = tiny_model_and_card()
    registry.save(model, card, tmp_path)
    first = (tmp_path / "m.safetensors").read_bytes()
    with torch.no_grad():
        next(model.parameters()).add_(1)
    path = registry.save(model, card, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors"]  # no temporary file left
    assert (tmp_path / "m.safetensors").read_bytes() != first
    assert json.loads(path.read_text())["sha256"] == registry.sha256(tmp_path / "m.safetensors")
    (tmp_path / "plain").write_text("x")  # the card has the mode a plain write gives (the umask's), not mkstemp's 0600
    assert path.stat().st_mode == (tmp_path / "plain").stat().st_mode


def test_save_writes_through_a_temporary_file(tmp_path, monkeypatch):
    """A writer that dies half-way leaves the previous weights and card as they were."""
    model, card = tiny_model_and_card()
    registry.save(model, card, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def half_then_crash(state, filename, metadata=None):
        Path(filename).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(registry, "save_file", half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        registry.save(model, card, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_writable_dir(tmp_path):
    assert registry.writable_dir(tmp_path / "a" / "b").is_dir()  # created
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError, match=r"cannot write to .*file/x"):
        registry.writable_dir(tmp_path / "file" / "x")  # below a file
    with pytest.raises(OSError, match="cannot write to /proc/unetlab"):
        registry.writable_dir("/proc/unetlab")


def test_a_tab_gets_only_models_of_its_task(weights_dir):
    reg = Registry(weights_dir)
    assert reg.load("tiny-skip", task="reconstruct") is reg.load("tiny-skip")
    with pytest.raises(RegistryError, match=r"'tiny-skip' is a reconstruct model, not a colorize one; valid: \(none"):
        reg.load("tiny-skip", task="colorize")
    with pytest.raises(RegistryError, match="unknown model 'nope'; valid names: tiny-noskip, tiny-skip"):
        reg.load("nope", task="reconstruct")


def test_two_cards_with_one_name_leave_the_second_unavailable(weights_dir):
    card = json.loads((weights_dir / "tiny-skip.json").read_text())
    (weights_dir / "tiny-skip-copy.json").write_text(json.dumps(card))  # e.g. a renamed file, its name unchanged
    reg = Registry(weights_dir)
    assert reg.names() == ["tiny-noskip", "tiny-skip"] and reg.entry("tiny-skip").card_path.name == "tiny-skip.json"
    why = reg.unavailable["tiny-skip-copy"]
    assert "tiny-skip-copy.json names 'tiny-skip', as" in why and why.endswith("tiny-skip.json does")
