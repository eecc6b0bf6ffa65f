import json
from pathlib import Path

import pytest
import torch

from unetlab import registry
from unetlab.registry import Registry, RegistryError, WeightsError


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
    loaded = Registry(tmp_path).load("m")
    ref = model.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in loaded.state_dict().items())
    x = torch.rand(1, 3, 8, 8)
    torch.testing.assert_close(model.eval()(x), loaded(x))  # loaded channels_last: same maths, other order


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
    assert reg.load("tiny-noskip") is not None  # the rest keeps working


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


def test_resolve_by_path(weights_dir):
    for path in (weights_dir / "tiny-skip.json", weights_dir / "tiny-skip.safetensors"):
        entry, model = registry.resolve(str(path))
        assert entry.name == "tiny-skip"
    with pytest.raises(WeightsError, match="expected a card"):
        registry.resolve(str(weights_dir / "nothing.safetensors"))


def test_unknown_model_class():
    with pytest.raises(
        RegistryError, match="known: ae, classifier, contractive-ae, dae, diffusion, sparse-ae, unet, vae, vq-vae"
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
    assert reg.load("tiny-noskip") is not None  # the others load as usual
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
        registry.resolve(str(other))


# --- nothing invalid is written ------------------------------------------------------------------------------------


def tiny_model_and_card(name: str = "m"):
    torch.manual_seed(1)
    cfg = {"base": 4, "depth": 2}
    return registry.build("unet", cfg), {"name": name, "task": "reconstruct", "model": "unet", "config": cfg}


@pytest.mark.parametrize(
    "value,dtype", [(float("nan"), torch.float32), (float("inf"), torch.float32), (1e5, torch.float16)]
)
def test_non_finite_weights_are_never_written(weights_dir, value, dtype):
    model, card = tiny_model_and_card("tiny-skip")
    before = {p.name: p.read_bytes() for p in weights_dir.iterdir()}
    with torch.no_grad():
        next(model.parameters())[0] = value  # 1e5 is finite in float32, infinite in float16
    with pytest.raises(WeightsError, match="NaN or infinity.*diverged.*nothing was written"):
        registry.save(model, card, weights_dir, dtype=dtype)
    assert {p.name: p.read_bytes() for p in weights_dir.iterdir()} == before  # the old model is untouched


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
