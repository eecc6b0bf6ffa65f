"""Live training tab: train a model in the browser and watch it learn, epoch by epoch; then use it in every tab."""

from __future__ import annotations

import gradio as gr

from unetlab import diffusion, images, live, tasks
from unetlab.registry import Registry
from unetlab.settings import Settings
from unetlab.ui.common import SEEDS, noting_queued, number, session_registry, show_on_arrival, user_errors

ZOOM = 3  # grids of 32x32 samples: each pixel shown as a 3x3 block

EXPLANATION = """
**What happens when you press Start.** The model is built from the random seed, then the training loop (the same one
`python -m unetlab train` prints) runs epoch by epoch: AdamW with warm-up + cosine decay, bf16 autocast. After
every epoch the fixed held-out samples are passed through the model and shown (input | output; for the
denoising AE noisy | clean | output), and both losses join the plot. Epoch 0 is the untrained model.

**With vs without skips.** The U-Net choice trains two models side by side, alternating one epoch each, with the
same seed (the same initial weights where their layers match) and the same batches in the same order. The only
difference is the contracting path. Watch the held-out curves separate.

**Diffusion: ε vs x0 vs v.** The DDPM choice (digits or MNIST) trains three of the Diffusion tab's U-Nets side by
side, alternating one epoch each, as Diffusion Explorer (Helbling & Chau, 2025) does with 2-D points. They differ
only in what the U-Net predicts: the noise ε, the clean image x0, or the velocity v. The same seed gives them the
same initial weights, the same batches and the same noise and timesteps. After every epoch each model samples
{per_class} of every digit (row = digit) from the same fixed noise, deterministic DDIM in {steps} steps, so that
the grids of successive epochs and of the three models are comparable; the dataset's classifier, trained on real
digits only, says which share of them it reads as the digit asked for. **The losses are not comparable across the
three**: each is a mean squared error on its own target (ε, x0 or v), of different size at the same quality. The
classifier's accuracy is comparable: it is measured the same way on all three. "Digits at" is the first epoch whose
samples reach {threshold:.0%}, and the minutes of that model's own training until then (the three take turns, so
the job's clock runs about three times as fast). The models use the shipped diffusion models' U-Net shape (the
width setting does not apply) and appear in this browser tab's Diffusion tab once the job ends (open its model
lists).

**Stop** ends the job after the current batch and keeps the partly trained model. **Reset** stops it and starts
again with the same settings and seed: the curve repeats exactly. A finished or stopped model is registered
under the name shown below and can be picked at once in the other tabs (open their model list), or downloaded
as safetensors + card.

**Your models are yours.** They are listed only in this browser tab (or, through the API, for the same client
session): no other visitor sees them, and nobody else's job can replace them. They go, with their files, when you
close the tab or after {idle_minutes:g} minutes unused (`UNETLAB_LIVE_IDLE`); download them to
keep them. A server can share live models with every visitor instead (`UNETLAB_SHARE_LIVE=1`).

**Sharing the CPU.** One training job runs at a time (others wait in the queue); each stops after
{settings.train_seconds:g} s (`UNETLAB_TRAIN_SECONDS`) and uses {settings.threads} torch thread(s)
(`UNETLAB_TRAIN_THREADS`), so the other tabs stay responsive.

**Your own data.** Upload a zip of images or several image files. Zips are read in memory, never extracted;
unsafe paths, zip bombs and oversized images are refused, and files that are not images are skipped and counted.
The U-Nets train on random 64x64 crops (each image scaled to a short side of 96); the other models on each
image's centre square at 32x32.
"""


def digits_at(step: live.JobStep, job: live.Job) -> str:
    """When each diffusion model's samples first read as digits, or how near they are."""
    if not step.judge:
        judge = diffusion.classifier_for(job.dataset)
        return (
            f"<p>No <code>{judge}</code> here to read the samples, so the time to digits cannot be measured: "
            f"python -m unetlab train --recipe {judge}</p>"
        )
    parts = []
    for name, s in step.samples.items():
        first = step.digits_at.get(name)
        if first is not None:
            parts.append(
                f"<b>{step.labels[name]}</b> at epoch {first.epoch}, after {first.minutes:.1f} min of its own training "
                f"({first.job_minutes:.1f} min on the job's clock)"
            )
        else:
            parts.append(f"<b>{step.labels[name]}</b> not yet ({s.accuracy:.0%} at epoch {s.epoch})")
    head = f"Samples read as digits (≥ {live.DIGITS_AT:.0%} by <code>{step.judge}</code>)"
    return f"<p>{head}: {'; '.join(parts)}.</p>"


# the grids' labels: diffusion's three models, else the U-Net pair's (a one-model job shows in the first)
GRID_LABELS = {
    "diffusion": [f"{role}: samples of every digit (row = digit), from the same noise" for role in ("ε", "x0", "v")],
    "other": ["Held-out samples (U-Net: without skips)", "U-Net with skips", ""],
}


def status(step: live.JobStep, job: live.Job) -> str:
    """Progress bar, per-model numbers, and (once done) the hand-off."""
    epochs = job.epochs
    lines = [
        f'<progress value="{step.epoch}" max="{epochs}" style="width:100%"></progress>',
        f"<p><b>epoch {step.epoch}/{epochs}</b>, {step.elapsed:.1f} s, data: {step.data_note}. Grids: "
        f"{live.columns(job)}.</p><ul>",
    ]
    for name, r in step.reports.items():
        speed = f", {r.images_per_s:,.0f} images/s" if r.images_per_s else (" (untrained)" if not r.epoch else "")
        train = "" if r.train_loss != r.train_loss else f"train {r.train_loss:.4g}, "  # NaN: epoch 0
        samples = step.samples.get(name)
        read = (
            "" if samples is None or samples.accuracy is None else f"; samples read as digits: {samples.accuracy:.0%}"
        )
        numbers = f"{train}held-out {r.test_loss:.4g}, PSNR {r.psnr:.2f} dB{speed}{read}"
        lines.append(f"<li>{name} ({step.labels[name]}): {numbers}</li>")
    lines.append("</ul>")
    if step.samples:
        lines.append(digits_at(step, job))
    if step.done and not step.names:
        lines.append(f"<p>Ended: {step.stopped}. Nothing was trained or registered.</p>")
    elif step.done:
        why = f"Ended early ({step.stopped}); the partly trained model is kept. " if step.stopped else "Done. "
        tab = tasks.get(live.job_task(job)).tab
        names = ", ".join(f"<code>{n}</code>" for n in step.names)
        lines.append(
            f"<p>{why}Registered as {names}, for this browser tab only: pick it in the {tab} tab, or download "
            "it below to keep it.</p>"
        )
    return "\n".join(lines)


LECTURE = """
- Pick **U-Net: with vs without skips** on digits and press **Start**: both train side by side, and the held-out
  grids sharpen epoch by epoch. With skips they are sharp within one or two epochs; without, they stay blurry.
- Watch the loss plot while it runs: the with-skips held-out curve falls far faster.
- When it is done, switch to the Reconstruction tab and pick the live models from its model lists: the models
  the class just saw being trained now run on any photo.
- Try a VAE or a denoising AE next (Model list), or train on photos; each job stops at a time cap.
- Pick **DDPM: ε vs x0 vs v** on digits: three diffusion models learn side by side, and after every epoch each
  samples every digit from the same noise. Ask which will read as digits first; the accuracy plot answers it (the
  loss curves cannot: each is on its own target). Then compare them step by step in the Diffusion tab.
- Live models belong to this browser tab only; nobody else sees them, and they go when the tab closes.
"""


def build(
    registry: Registry, demo: gr.Blocks, stops: live.Stops, settings: Settings = Settings()
) -> dict[str, gr.components.Component]:
    """The tab. demo: the app (a link to the view sets the controls at page load); stops: the app's Stop bookkeeping
    (app.py forgets a session's when its browser tab closes). Returns the controls a link to the view sets."""
    gr.Markdown("## Live training: watch an autoencoder or a diffusion model learn, then use it in every tab")
    with gr.Row():
        with gr.Column(scale=1):
            model = gr.Dropdown(
                [(label, key) for key, label in live.CHOICES.items()], value="unet", label="Model", elem_id="live-model"
            )
            dataset = gr.Radio(list(live.DATASETS), value="digits", label="Data", elem_id="live-dataset")
            with gr.Row():  # near the top: a lecture needs only model, data and Start
                start = gr.Button("Start", variant="primary", elem_id="live-start")
                stop = gr.Button("Stop", variant="stop", elem_id="live-stop")
                reset = gr.Button("Reset", elem_id="live-reset")
            files = gr.File(
                label="Your images: a zip, or several image files (Data: upload)",
                file_count="multiple",
                file_types=[".zip", "image"],
                type="filepath",
                elem_id="live-files",
            )
            with gr.Row():
                epochs = gr.Slider(1, 100, value=10, step=1, label="Epochs", elem_id="live-epochs")
                batch_size = gr.Slider(8, 256, value=64, step=8, label="Batch size")
            with gr.Row():
                lr = gr.Number(3e-3, label="Learning rate", minimum=0)
                width = gr.Slider(4, 32, value=8, step=4, label="Width (first layer's channels)")
                seed = gr.Number(0, precision=0, label="Seed")
            with gr.Accordion("Variant settings", open=False):
                with gr.Row():
                    noise = gr.Radio(list(live.NOISES), value="gaussian", label="Denoising AE: noise")
                    noise_level = gr.Slider(0, 1, value=0.3, step=0.05, label="Noise level (std or masked share)")
                with gr.Row():
                    beta = gr.Number(1.0, label="VAE: β", minimum=0)
                    l1 = gr.Number(0.1, label="Sparse AE: L1 weight", minimum=0)
                    contraction = gr.Number(1.0, label="Contractive AE: λ", minimum=0)
                with gr.Row():
                    codebook = gr.Slider(4, 512, value=64, step=4, label="VQ-VAE: codebook size")
                    commitment = gr.Number(0.25, label="VQ-VAE: commitment cost", minimum=0)
        with gr.Column(scale=2):
            info = gr.HTML(elem_id="live-status")
            with gr.Row():
                grid_a = gr.Image(
                    label=GRID_LABELS["other"][0],
                    format="png",
                    interactive=False,
                    height=420,
                    elem_id="live-grid-a",
                )
                grid_b = gr.Image(
                    label=GRID_LABELS["other"][1], format="png", interactive=False, height=420, elem_id="live-grid-b"
                )
                grid_c = gr.Image(  # diffusion's third model (v); shown when that is the model chosen
                    format="png", interactive=False, height=420, visible=False, elem_id="live-grid-c"
                )
            plot = gr.LinePlot(
                None,  # no empty frame: the plot's colour legend is set up from the first data it gets
                x="epoch",
                y="loss",
                color="curve",
                title="Loss per epoch (train and held-out)",
                x_axis_format="d",  # whole epochs: ticks at 1, 2, 3, not 1.0, 1.1, ...
                height=320,
                elem_id="live-plot",
            )
            accuracy = gr.LinePlot(  # diffusion only: the one curve on which ε, x0 and v compare
                None,
                x="epoch",
                y="accuracy (%)",
                color="model",
                title="Samples read as their digit by the classifier (%): comparable across ε, x0 and v",
                x_axis_format="d",
                y_lim=[0, 100],
                height=280,
                visible=False,
                elem_id="live-accuracy",
            )
            # usable once a job has ended: before that there is nothing to download
            download = gr.DownloadButton(
                "Download weights + card (.zip): after a job", interactive=False, elem_id="live-download"
            )
    with gr.Accordion("How live training works", open=False, elem_classes=["explain"]):
        sampling = dict(per_class=live.PER_CLASS, steps=live.SAMPLE_STEPS, threshold=live.DIGITS_AT)
        gr.Markdown(EXPLANATION.format(settings=settings, idle_minutes=registry.idle_seconds / 60, **sampling))
    with gr.Accordion("How to use this tab in a lecture", open=False, elem_classes=["explain"]):
        gr.Markdown(LECTURE)

    inputs = [model, dataset, files, epochs, batch_size, lr, width, seed]
    inputs += [noise, noise_level, beta, l1, contraction, codebook, commitment]
    outputs = [info, grid_a, grid_b, grid_c, plot, accuracy, download]

    @user_errors
    def train(m, d, fs, ep, bs, rate, w, s, nz, level, b, sparsity, lam, k, commit, request: gr.Request):
        """Stream one job: status, grids, curves; the download once it ends."""
        number(ep, "epochs", 1, 100, whole=True)
        number(bs, "batch size", 8, 256, whole=True)
        number(rate, "learning rate", 0, 1)
        number(w, "width", 4, 32, whole=True)
        number(s or 0, "seed", *SEEDS, whole=True)
        number(level, "noise level", 0, 1)
        for value, name in ((b, "β"), (sparsity, "L1 weight"), (lam, "λ"), (commit, "commitment cost")):
            number(value, name, 0, live.LOSS_WEIGHT_MAX)
        number(k, "codebook size", 4, 512, whole=True)
        job = live.Job(
            model=m,
            dataset=d,
            files=list(fs or []),
            epochs=int(ep),
            batch_size=int(bs),
            lr=float(rate if rate is not None else 0),
            width=int(w),
            seed=int(s or 0),
            noise=nz,
            noise_level=float(level),
            beta=float(b if b is not None else -1),
            l1=float(sparsity if sparsity is not None else -1),
            contraction=float(lam if lam is not None else -1),
            codebook=int(k),
            commitment=float(commit if commit is not None else -1),
        )
        session = request.session_hash if request is not None else ""
        for step in live.train_job(job, session_registry(registry, request), stops, session, settings):
            shown = [images.enlarge(g, ZOOM) for g in live.grids(step)]  # none if it never started
            grids = (shown + [None] * 3)[:3]
            accuracies = step.accuracies() if step.accuracy_history else None  # none without a classifier
            yield status(step, job), *grids, step.curves(), accuracies, step.download if step.done else None

    def layout(m: str) -> list:
        """A new model choice: the third grid and the accuracy plot show for diffusion only, and the grids' labels
        say what they will show."""
        labels = GRID_LABELS["diffusion" if m == "diffusion" else "other"]
        third = m == "diffusion"
        grids = [gr.update(label=labels[0]), gr.update(label=labels[1]), gr.update(label=labels[2], visible=third)]
        return [*grids, gr.update(visible=third)]

    model.change(layout, model, [grid_a, grid_b, grid_c, accuracy], api_name=False, show_progress="hidden")

    def ask_stop(request: gr.Request) -> None:
        """Stop this session's training job after the current batch (the model so far is kept), or cancel it while
        it waits in the queue."""
        if stops.request(request.session_hash if request is not None else ""):
            gr.Info("Stopping after the current batch (the model so far is kept), or before the job starts.")

    queued = noting_queued(stops)  # a job waiting for its slot can be stopped too

    slot = dict(concurrency_limit=1, concurrency_id="live-train", validator=queued)

    def enable_download(path: str | None):
        """The download button is usable once a job has left a zip (a greyed button says it is not there yet)."""
        ready = path is not None
        label = "Download weights + card (.zip)" if ready else "Download weights + card (.zip): after a job"
        return gr.update(interactive=ready, label=label)

    for event in (
        start.click(train, inputs, outputs, api_name="train", **slot),
        reset.click(ask_stop, None, None, api_name=False).then(train, inputs, outputs, api_name=False, **slot),
    ):
        event.then(enable_download, download, download, api_name=False)
    stop.click(ask_stop, None, None, api_name="stop_training")

    def nothing_yet(**_) -> list:
        """The tab trains nothing on arrival; a link to it only sets its controls."""
        return []

    shared = {"model": model, "data": dataset, "epochs": epochs, "batch": batch_size, "lr": lr, "width": width}
    shared |= {"seed": seed, "noise": noise, "noise_level": noise_level, "beta": beta, "l1": l1}
    shared |= {"contraction": contraction, "codebook": codebook, "commitment": commitment}
    show_on_arrival(demo, nothing_yet, [], "training", shared)
    return shared
