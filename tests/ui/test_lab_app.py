"""The Lab tab's endpoints called through gradio_client: purity (streamed), anomaly, pca; and its purity events as
the page wires them: a rerun writes only to its own outputs."""

import re

import gradio as gr
import pytest
import torch
from gradio_client import Client
from PIL import Image

import app
from unetlab import lab, registry
from unetlab.settings import Settings
from unetlab.ui import lab as lab_ui


def anomaly_card(name: str, left_out: int) -> dict:
    return {
        "name": name,
        "task": lab.ANOMALY_TASK,
        "model": "unet",
        "config": lab.purity_net(skip=False, bottleneck=True).to_dict(),
        "recipe": name,
        "command": f"python -m unetlab train --recipe {name}",
        "data": {"dataset": "digits", "without_class": left_out},
    }


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    for name, c in (("tiny-no3", 3), ("tiny-no5", 5), ("tiny-broken", 5)):  # untrained: scores still well defined
        registry.save(registry.build("unet", anomaly_card(name, c)["config"]), anomaly_card(name, c), folder)
    (folder / "tiny-broken.safetensors").unlink()
    return folder


@pytest.fixture(scope="module")
def client(weights):
    demo = app.build_app(registry.Registry(weights))
    demo.queue().launch(prevent_thread_lock=True, server_port=7895, quiet=True)
    yield Client("http://127.0.0.1:7895/", verbose=False)
    demo.close()


def arrival_scores(weights) -> tuple:
    """What the Lab tab shows on arrival: its page-load event, called as a page load from a plain address (no link
    to a view) calls it; the four controls stay as they are."""
    demo = app.build_app(registry.Registry(weights))
    (event,) = [d for d in demo.fns.values() if ("load" in {t[1] for t in d.targets}) and d.name == "scores_on_arrival"]
    *controls, hist, summary, worst = event.fn(None)
    assert len(controls) == 6 and all(c == gr.skip() for c in controls)
    return hist, summary, worst


def test_the_first_detectors_scores_show_when_the_page_opens(tmp_path):
    registry.save(registry.build("unet", anomaly_card("tiny-no3", 3)["config"]), anomaly_card("tiny-no3", 3), tmp_path)
    hist, summary, worst = arrival_scores(tmp_path)
    assert "ROC AUC" in summary and "digit 3" in summary and "of the 3s are caught" in summary
    assert set(hist["images"]) == {"normal (other digits)", "left-out digit"}
    assert worst.shape == (4 * (8 * 34 - 2), 4 * (2 * 34 - 2), 3)
    (tmp_path / "tiny-no3.safetensors").unlink()
    hist, summary, worst = arrival_scores(tmp_path)  # its weights gone: the tab opens, and says what is missing
    assert hist is None and worst is None and "tiny-no3.safetensors" in summary and "--recipe tiny-no3" in summary
    assert not summary.startswith("'")  # the message itself, not str(gr.Error) (which quotes it)


def test_purity_streams_a_fresh_run(client):
    job = client.submit(1, 1, api_name="/purity")  # 1 epoch per condition, 1 k-means seed; 1 training seed, MNIST
    steps = list(job)
    assert len(steps) >= 10  # the start, an update per epoch and per finished row, 4 conditions + raw pixels
    table, reading, _, status = steps[-1]
    rows = table["data"]
    assert [r[4] for r in rows] == ["784", "16", "784", "16", "784"]  # feature dims: flattened 7x7x16, code, raw
    assert all(0.1 <= float(r[2]) <= 1 for r in rows)  # ten classes: purity is at least about 1/10
    assert [r[5] for r in rows] == ["0.5123", "0.6998", "0.5217", "0.3752", "0.5900"]  # the seed's, beside ours
    assert "findings agree" in reading and status.startswith("**Rerun done** in ")
    assert steps[0][3] == "Rerun: starting."  # at once, before any training (no shipped run here to time it by)
    assert all(r[2] == "" for r in steps[1][0]["data"])  # nothing measured after the first epoch
    # progress: where the run is, how long it has run and (from its own speed) how long it still needs
    progress = [
        re.fullmatch(r"Rerun: condition (\d) of 5 \(.+\), epoch 1 of 1; (\d+) s elapsed, about (\d+) s left\.", s[3])
        for s in steps[1:-1]
    ]
    assert all(progress), [s[3] for s in steps]
    assert [int(m[1]) for m in progress] == [1, 1, 2, 2, 3, 3, 4, 4]  # each condition's epoch, then its row
    elapsed = [int(m[2]) for m in progress]
    assert elapsed == sorted(elapsed) and int(progress[-1][3]) <= int(progress[0][3])


def build(weights, settings: Settings = Settings()) -> gr.Blocks:
    return app.build_app(registry.Registry(weights), settings)


def event(demo: gr.Blocks, name: str):
    """The Lab's event whose function is `name`, as the page wires it (the first, where several triggers share it)."""
    return next(d for d in demo.fns.values() if d.name == name)


SHIPPED_OUTPUTS = {"lab-purity", "lab-reading", "lab-purity-plot", "lab-purity-status"}


def test_a_rerun_writes_only_to_its_own_outputs(weights):
    """The shipped table, reading, curves and provenance line stay while a rerun runs, stops or fails: the rerun
    streams into outputs of its own, and keeps its finished result in this session's State (never a global)."""
    demo = build(weights)
    rerun = event(demo, "rerun_purity")
    ids = {c.elem_id for c in rerun.outputs}
    assert not ids & SHIPPED_OUTPUTS and {"lab-rerun-table", "lab-rerun-status"} <= ids
    assert any(isinstance(c, gr.State) for c in rerun.outputs)
    assert not {c.elem_id for c in event(demo, "ask_stop").outputs} & SHIPPED_OUTPUTS
    # only Show and Restore write to the shipped outputs, and Restore is not tied to a rerun
    writers = {d.name for d in demo.fns.values() if {c.elem_id for c in d.outputs} & SHIPPED_OUTPUTS}
    assert writers == {"show_rerun", "restore_shipped"}


class Visitor:
    """What a gr.Request gives the Lab's events: the browser tab's session."""

    def __init__(self, session_hash: str):
        self.session_hash = session_hash


def test_stop_ends_this_sessions_rerun_and_no_one_elses(weights):
    """Stop asks the rerun to end after its current batch; the rerun then says where it stopped. Another visitor's
    Stop does nothing to it."""
    demo = build(weights)
    run, ask_stop = event(demo, "rerun_purity").fn, event(demo, "ask_stop").fn
    steps = run(1, 1, 1, "mnist", Visitor("mine"))
    assert next(steps)[3] == "Rerun: starting."
    assert isinstance(ask_stop(Visitor("another")), type(gr.skip()))  # nothing of theirs runs
    assert next(steps)[3].startswith("Rerun: condition 1 of 5")  # an epoch later: still running
    assert ask_stop(Visitor("mine")).startswith("**Stopping the rerun**")
    rest = list(steps)  # condition 1's row (its training was over), then the stop, before condition 2 trains
    assert len(rest) == 2 and rest[-1][3].startswith("**Rerun: stopped after 1 of 4 conditions")
    assert rest[-1][4] is None  # no finished rerun to show
    # a rerun still waiting in the queue (another session's holds the one slot) is cancelled by Stop
    event(demo, "rerun_purity").validator(Visitor("mine"), 1, 1, 1, "mnist")  # what Gradio runs as it is submitted
    assert ask_stop(Visitor("mine")).startswith("**Stopping the rerun**")
    (only,) = list(run(1, 1, 1, "mnist", Visitor("mine")))
    assert only[3] == "**Rerun stopped** before it started."


def test_show_a_finished_rerun_then_restore_the_shipped_run():
    demo = build(Settings().weights)
    shipped = lab.load_purity(Settings().weights)
    rerun = {
        **shipped,
        "seconds": 42.0,
        "protocol": {**shipped["protocol"], "epochs": 2, "kmeans_seeds": 1, "seeds": 2},
    }
    rerun["rows"] = [{**r, "purity_mean": 0.1234} for r in shipped["rows"]]
    table, reading, curves, note = event(demo, "show_rerun").fn(rerun)
    assert list(table["ours"]) == ["0.1234"] * 5 and "findings agree" in reading
    assert note.startswith("This session's rerun on mnist: 2 epoch(s) per condition, 2 training seed(s), 1 k-means")
    assert set(curves["condition"]) == {lab.label(*c) for c in lab.CONDITIONS}
    with pytest.raises(gr.Error, match="no finished rerun in this session yet"):
        event(demo, "show_rerun").fn(None)  # its button is disabled until then; an API call gets told why
    table, _, _, note = event(demo, "restore_shipped").fn("mnist")
    assert list(table["ours"]) == [f"{r['purity_mean']:.4f}" for r in shipped["rows"]] and note.startswith("Shipped")
    assert "3 training seed(s)" in note and "purity-mnist.json" in note
    digits = lab.load_purity(Settings().weights, "digits")  # the earlier run, a second data point
    table, reading, _, note = event(demo, "restore_shipped").fn("digits")
    assert list(table["ours"]) == [f"{r['purity_mean']:.4f}" for r in digits["rows"]] and "ours (digits)" in reading
    assert "1 training seed(s)" in note and "/3)" not in reading
    with pytest.raises(gr.Error, match="data must be one of mnist, digits, got 'cifar'"):
        event(demo, "restore_shipped").fn("cifar")


def test_the_rerun_button_says_how_long_the_sliders_take():
    shipped = lab.load_purity(Settings().weights)
    label = event(build(Settings().weights, Settings(train_seconds=600.0)), "rerun_label").fn
    short = lab.rerun_seconds(lab.PurityConfig(epochs=1, kmeans_seeds=1, seeds=1), shipped)
    assert 5 < short < 120 and label(1, 1, 1, "mnist") == f"Rerun: about {short:.0f} s at the shipped run's speed"
    long = lab.rerun_seconds(lab.PurityConfig(epochs=60, kmeans_seeds=10, seeds=2), shipped)
    assert long > 600 and label(60, 10, 2, "mnist") == (
        f"Rerun: about {long / 60:.0f} min at the shipped run's speed (the 10 min cap stops it first)"
    )


def test_the_lecture_note_and_the_explanations_that_fold_away(weights):
    demo = build(weights)
    (note,) = [b for b in demo.blocks.values() if isinstance(b, gr.Accordion) and b.elem_id == "lab-lecture"]
    assert note.label == "How to use this tab in a lecture" and note.open is False
    bullets = [c.value for c in note.children if isinstance(c, gr.Markdown)][0].count("\n- ")
    assert 3 <= bullets <= 6
    intros = {lab_ui.PURITY_INTRO, lab_ui.ANOMALY_INTRO, lab_ui.PCA_INTRO}
    folded = [
        b
        for b in demo.blocks.values()
        if isinstance(b, gr.Markdown) and (b.value or "").strip() in {i.strip() for i in intros}
    ]
    assert len(folded) == 3 and all(b.elem_classes == ["explain"] for b in folded)


def test_anomaly_endpoint(client):
    hist, summary, worst = client.predict("tiny-no3", api_name="/anomaly")
    assert "ROC AUC" in summary and "digit 3" in summary
    assert hist["columns"] == ["MSE", "share", "images"]
    for group in ("normal (other digits)", "left-out digit"):  # each group's shares sum to 1
        assert sum(r[1] for r in hist["data"] if r[2] == group) == pytest.approx(1, abs=1e-3)
    # another detector: the same two series, so the plot's legend (fixed by its first data) draws both
    other, summary, _ = client.predict("tiny-no5", api_name="/anomaly")
    assert {r[2] for r in other["data"]} == {r[2] for r in hist["data"]} and "digit 5" in summary
    assert Image.open(worst).size == (4 * (2 * 34 - 2), 4 * (8 * 34 - 2))  # 8 rows of input | output, zoomed 4x


def test_anomaly_missing_weights_is_a_clear_error(client):
    with pytest.raises(Exception, match="tiny-broken.safetensors.*missing.*--recipe tiny-broken"):
        client.predict("tiny-broken", api_name="/anomaly")


def test_pca_endpoint(client):
    text, angles, grid = client.predict(2, api_name="/pca")
    assert "| training MSE |" in text and "off PCA's" in text
    gap = float(text.split("**")[1].rstrip("%")) / 100  # "The AE's training error is **+0.012%** off PCA's"
    assert abs(gap) < 0.01
    assert Image.open(grid).size == (8 * (3 * 10 - 2), 8 * (8 * 10 - 2))  # 8 rows x 3 columns of 8x8, zoomed 8x


def test_purity_obeys_the_time_cap(weights):
    demo = app.build_app(registry.Registry(weights), Settings(train_seconds=1.0))  # UNETLAB_TRAIN_SECONDS
    demo.queue().launch(prevent_thread_lock=True, server_port=7896, quiet=True)
    try:
        steps = list(Client("http://127.0.0.1:7896/", verbose=False).submit(60, 1, api_name="/purity"))
    finally:
        demo.close()
    assert steps[-1][3].startswith("**Rerun: stopped by the time cap (1 s, UNETLAB_TRAIN_SECONDS)")
    assert steps[-1][3].endswith("The table above is unchanged.")
    assert len(steps) < 30  # not 4 x 60 epochs
