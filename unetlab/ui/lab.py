"""Lab tab: the classic autoencoder experiments. Latent purity (skip x bottleneck), anomaly detection, AE vs PCA."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd

from unetlab import lab
from unetlab.registry import Registry
from unetlab.settings import Settings
from unetlab.ui.common import number, show_on_arrival, user_errors

ZOOM = 4  # digits are 32x32 (PCA: 8x8, zoomed 4x more): each pixel shown as a ZOOM x ZOOM block

PURITY_INTRO = """
### 1. Does the contracting path hurt feature extraction? Latent purity, skip x bottleneck

The original article (“U-Net as an autoencoder (from self-encoding to colourising black-and-white photos)”, in
Japanese) ends with this experiment. Four small U-Nets (blocks of 4/8/16 channels) are trained as autoencoders:
contracting path (skips) on or off, times a dense 16-unit bottleneck on or off. Each one's **latent features** are
clustered with k-means (10 clusters, 10 seeds). With a bottleneck these are its 16 tanh units; without one, they
are the flattened 16-channel middle block (tanh). The score is **weighted purity**: each cluster's majority-digit
share, weighted by cluster size (1 = every cluster holds one digit only; 0.1 = chance for ten equal classes). Raw
pixels are the baseline.

**Our run deviates from the article's where the data forces it.** It uses the 1,797 scikit-learn 8x8 digits (not
MNIST), upsampled to 32x32 (not 28x28). So the middle block is 8x8x16 = 1,024-D (not 7x7x16 = 784-D), and raw
pixels are the native 64. The nets train on the 1,438-image training split with the app's training loop (MSE,
AdamW, warm-up + cosine, 40 epochs, batch 32, lr 3e-3; the article gives none of these). Clustering runs on the 359
held-out digits (`KMeans(10, n_init=10)`, seeds 0-9).
"""

ANOMALY_INTRO = """
### 2. Anomaly detection by reconstruction error

An autoencoder trained on nine digits reconstructs the tenth worse: it never learned that shape. Each model
below is the article's purity net without skips (a plain conv autoencoder with a 16-unit code), trained with one
digit left out (`python -m unetlab train --recipe anomaly-no<d>`). **Normal** images are the held-out images of
the other nine digits. **Anomalies** are every image of the left-out digit. The anomaly score is the per-image
MSE. ROC AUC is the chance that a random anomaly scores higher than a random normal image (1 = perfect, 0.5 =
chance).
"""

PCA_INTRO = """
### 3. A linear autoencoder is PCA

An autoencoder with no activation anywhere (x → W_e x + b_e → W_d z + b_d), trained with MSE, reaches the
same reconstruction error as PCA with the same k. Its decoder spans the same subspace: the top-k principal
directions (Baldi & Hornik 1989). It need not find the principal *axes* themselves, so the two are compared by
the **principal angles** between their subspaces (0° = identical). The linear AE trains on the fly (fp32, 300
epochs, a few seconds) on the digits' native 8x8 pixels, beside scikit-learn's `PCA`.
"""


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
            {
                "contracting path": "raw pixels" if skip is None else ("yes" if skip else "no"),
                "bottleneck": "" if skip is None else ("16 units" if bottleneck else "no"),
                "ours": fmt(ours and ours["purity_mean"]),
                "± std": fmt(ours and ours["purity_std"]),
                "dims": "" if ours is None else str(ours["dims"]),
                "article (MNIST)": fmt(seed["purity_mean"]),
                "± std ": fmt(seed["purity_std"]),
                "dims ": str(seed["dims"]),
            }
        )
    return pd.DataFrame(out)


def purity_curves(history: dict[str, list[dict]]) -> pd.DataFrame:
    """The purity nets' held-out reconstruction loss per epoch, one series per condition."""
    rows = [
        {"epoch": h["epoch"], "held-out MSE": h["test_loss"], "condition": name}
        for name, hs in history.items()
        for h in hs
    ]
    return pd.DataFrame(rows, columns=["epoch", "held-out MSE", "condition"])


def shipped_result(registry: Registry) -> dict | None:
    try:
        return lab.load_purity(registry.weights_dir)
    except FileNotFoundError:
        return None


def reading_markdown(r: lab.Reading | None) -> str:
    """Each of the article's findings, whether its table and ours show it, and the two rankings."""
    if r is None:
        return "The comparison appears when all five rows are in."
    lines = ["| the article's finding | article (MNIST) | ours (digits) |", "|---|:---:|:---:|"]
    for f in r.findings:
        lines.append(f"| {f.text} | {'yes' if f.article else 'no'} | {'yes' if f.ours else '**no**'} |")
    lines += [
        "",
        f"**{r.agree} of {len(r.findings)} findings agree.** Ranking, article: {' > '.join(r.article_ranking)}.  ",
        f"Ranking, ours: {' > '.join(r.our_ranking)}.",
        "",
        "Absolute numbers are not comparable: 359 digits at 8x8 upsampled to 32x32 are far easier to cluster than "
        "10,000 MNIST digits (raw pixels alone reach a higher purity), and the features are 1,024-D here, not 784-D. "
        "The std is over k-means seeds on one trained network, as in the article; it leaves out the variation between "
        "training runs, so gaps of a hundredth or two are within noise (the README compares a second training seed).",
    ]
    return "\n".join(lines)


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


def shipped(registry: Registry) -> tuple[pd.DataFrame, str, pd.DataFrame, str]:
    """The shipped run, shown at once: table, reading, loss curves, provenance line."""
    try:
        result = lab.load_purity(registry.weights_dir)
    except FileNotFoundError as e:
        return purity_table([]), str(e), purity_curves({}), ""
    rows = result["rows"]
    history = {lab.label(r["skip"], r["bottleneck"]): r.get("history", []) for r in rows if "skip" in r}
    note = (
        f"Shipped run: `{result['command']}`, {result['created']}, {result['seconds']:.0f} s on "
        f"{result['environment']['threads']} CPU thread(s). Per-seed purities: `weights/results/purity.json`."
    )
    return purity_table(rows), reading_markdown(lab.reading(rows)), purity_curves(history), note


def build(registry: Registry, demo: gr.Blocks, settings: Settings = Settings()) -> None:
    """The tab's layout and events. demo: the app, whose page load shows the first detector's scores."""
    table0, reading0, curves0, note0 = shipped(registry)
    gr.Markdown("## Lab: the classic autoencoder experiments")
    gr.Markdown(PURITY_INTRO)
    with gr.Row():
        with gr.Column(scale=3):
            label = "Weighted purity of k-means on the latent features"
            table = gr.Dataframe(table0, label=label, elem_id="lab-purity")
            status = gr.Markdown(note0, elem_id="lab-purity-status")
        with gr.Column(scale=2):
            read = gr.Markdown(reading0, elem_id="lab-reading")
    curves = gr.LinePlot(
        curves0,
        x="epoch",
        y="held-out MSE",
        color="condition",
        title="Reconstruction loss per epoch: skips reconstruct well, bottleneck or not",
        height=300,
        elem_id="lab-purity-plot",
    )
    measured = shipped_result(registry)

    def rerun_label(n_epochs: float, n_seeds: float) -> str:
        """The Rerun button says how long the sliders' run takes, scaled from the shipped run's measured speed."""
        cfg = lab.PurityConfig(epochs=int(n_epochs), kmeans_seeds=int(n_seeds))
        need = lab.rerun_seconds(cfg, measured)
        took = "" if need is None else f"about {need / 60:.0f} min at the shipped run's speed; "
        return f"Rerun ({took}stops at the {settings.train_seconds / 60:g}-min cap)"

    cfg0 = lab.PurityConfig(epochs=lab.fitting_epochs(measured, settings.train_seconds))
    with gr.Row():
        epochs = gr.Slider(1, 60, value=cfg0.epochs, step=1, label="Epochs per condition")
        seeds = gr.Slider(1, 10, value=cfg0.kmeans_seeds, step=1, label="k-means seeds")
        rerun = gr.Button(rerun_label(cfg0.epochs, cfg0.kmeans_seeds), variant="primary", elem_id="lab-rerun")
        stop = gr.Button("Stop", elem_id="lab-stop")
        restore = gr.Button("Restore shipped results", elem_id="lab-restore")
    for slider in (epochs, seeds):
        slider.change(rerun_label, [epochs, seeds], rerun, api_name=False, show_progress="hidden")

    @user_errors
    def rerun_purity(n_epochs: float, n_seeds: float):
        """Train the four nets and cluster them afresh, streaming every epoch and every finished row."""
        number(n_epochs, "epochs per condition", 1, 60, whole=True)
        number(n_seeds, "k-means seeds", 1, 10, whole=True)
        cfg = lab.PurityConfig(epochs=int(n_epochs), kmeans_seeds=int(n_seeds))
        for step in lab.run_purity(cfg, seconds=settings.train_seconds):  # shares the CPU like a live job
            yield (
                purity_table(step.rows),
                reading_markdown(lab.reading(step.rows)),
                purity_curves(step.history),
                f"Rerun: {step.message}",
            )

    run_event = rerun.click(
        rerun_purity, [epochs, seeds], [table, read, curves, status], api_name="purity", concurrency_limit=1
    )

    def stopped() -> str:
        return (
            "Rerun stopped: the table shows the conditions it had finished. **Restore shipped results** brings back "
            "the shipped run."
        )

    stop.click(stopped, None, status, cancels=[run_event], api_name=False)

    def restore_shipped():
        """The shipped run again, whatever a rerun left in the table (always one click away during a lecture)."""
        return shipped(registry)

    restore.click(restore_shipped, None, [table, read, curves, status], api_name=False, cancels=[run_event])

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

    gr.Markdown(ANOMALY_INTRO)
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

    def scores_on_arrival():
        """The first detector's scores show when the page opens, like the shipped purity table."""
        try:
            return score_anomaly(first)
        except gr.Error as e:
            return None, str(e), None

    show_on_arrival(demo, scores_on_arrival, [hist, summary, worst])

    gr.Markdown(PCA_INTRO)
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
