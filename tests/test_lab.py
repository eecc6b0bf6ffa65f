"""The Lab experiments' pieces on cases with known answers: purity, linear AE vs PCA, anomaly AUC, the reading."""

import json

import numpy as np
import pytest
import torch

from unetlab import data, lab, metrics
from unetlab.__main__ import main
from unetlab.models.autoencoders import LinearAE, LinearAEConfig
from unetlab.models.unet import UNet
from unetlab.settings import Settings


def seed_purity(y: np.ndarray, c: np.ndarray, k: int) -> float:
    """The seed's own code: a K x K matrix (rows clusters), per-row purity, weighted by row size."""
    matrix = np.zeros((k, k))
    for yi, ci in zip(y, c):
        matrix[ci, yi] += 1
    rows = matrix.sum(axis=-1)
    keep = rows > 0  # the seed's code divides by zero for an empty cluster; its weight is 0 anyway
    return float(np.sum(matrix.max(axis=-1)[keep] / rows[keep] * rows[keep] / matrix.sum()))


def test_purity_known_answers():
    y = np.array([0, 0, 1, 1, 2, 2])
    assert metrics.purity(y, y) == 1.0
    assert metrics.purity(y, np.array([5, 5, 9, 9, 7, 7])) == 1.0  # cluster ids are arbitrary names
    assert metrics.purity(y, np.zeros(6, int)) == pytest.approx(2 / 6)  # one cluster: the majority's share
    assert metrics.purity(np.array([3] * 7 + [4] * 3), np.zeros(10, int)) == pytest.approx(0.7)
    # worked example: cluster A = {0,0,0,1} (purity 3/4), cluster B = {1,1,0,0,0,0} (4/6); weighted 4/10*3/4 +
    # 6/10*4/6 = (3 + 4) / 10
    labels = np.array([0, 0, 0, 1, 1, 1, 0, 0, 0, 0])
    clusters = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    assert metrics.purity(labels, clusters) == pytest.approx(0.7)
    assert metrics.purity(labels, np.arange(10)) == 1.0  # singletons are trivially pure


def test_purity_matches_the_seeds_formula():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y, c = rng.integers(0, 10, 200), rng.integers(0, 10, 200)
        assert metrics.purity(y, c) == pytest.approx(seed_purity(y, c, 10))
    with pytest.raises(ValueError, match="one cluster per label"):
        metrics.purity(np.zeros(3), np.zeros(4))


def test_purity_nets_are_the_seeds():
    """Channels 4/8/16; features: 16 tanh units with the bottleneck, else the 8x8x16 middle block (tanh)."""
    x = torch.rand(2, 1, 32, 32)
    for skip in (False, True):
        for bottleneck in (False, True):
            torch.manual_seed(0)
            m = UNet(lab.purity_net(skip, bottleneck)).eval()
            assert [b[0].out_channels for b in m.down] + [m.mid[0].out_channels] == [4, 8, 16]
            assert m(x).shape == x.shape
            z = m.latent(x)
            assert z.shape == ((2, 16) if bottleneck else (2, 16 * 8 * 8))
            assert z.abs().max() < 1  # tanh
            assert isinstance(m.mid[-1], torch.nn.Tanh) != bottleneck  # with a bottleneck the mid block ends in ReLU


def test_linear_ae_reaches_pca():
    """The small case: the digits' native 8x8 pixels, k = 2 (PCA's variances 0.64, 0.54, then 0.51)."""
    c = lab.compare_pca(2, cfg=lab.LinearConfig(epochs=150))
    assert 0 <= c.gap < 0.005 or abs(c.gap) < 1e-4  # the AE's error reaches PCA's, the optimum, within 0.5 %
    assert max(c.angles) < 3.0  # and its subspace is PCA's
    assert c.ae_test_mse == pytest.approx(c.pca_test_mse, rel=0.01)
    assert c.grid.shape == (8 * 10 - 2, 3 * 10 - 2, 3)  # 8 rows of digits | PCA | AE, 8x8 images, 2 px gaps
    short = lab.compare_pca(2, cfg=lab.LinearConfig(epochs=1, lr=1e-4))
    assert short.gap > 0.5 and max(short.angles) > 20  # untrained, it is far away: the test can fail


def test_linear_ae_is_linear_and_checks_k():
    m = LinearAE(LinearAEConfig(dims=8, k=3))
    x, y = torch.randn(4, 1, 2, 4), torch.randn(4, 1, 2, 4)
    b = m(torch.zeros_like(x))
    torch.testing.assert_close(m(x + y) - b, (m(x) - b) + (m(y) - b))
    assert m.basis().shape == (8, 3)
    with pytest.raises(ValueError, match="between 1 and 8"):
        LinearAEConfig(dims=8, k=9)
    with pytest.raises(ValueError, match="k must be between 1 and 64"):
        lab.compare_pca(0)


def test_anomaly_auc_on_an_easy_case():
    """An AE that has learned a line (a 1-D linear AE set to project onto it): points off the line are anomalies."""
    g = torch.Generator().manual_seed(0)
    u = torch.linspace(-1, 1, 8) / torch.linspace(-1, 1, 8).norm()  # the line's unit direction
    normal = 0.5 + 0.3 * torch.randn(60, 1, generator=g) * u + 0.01 * torch.randn(60, 8, generator=g)
    normal = normal.view(60, 1, 2, 4)
    off = (0.5 + 0.1 * torch.randn(40, 8, generator=g)).view(40, 1, 2, 4)
    model = LinearAE(LinearAEConfig(dims=8, k=1))
    with torch.no_grad():  # x -> u u^T (x - 0.5) + 0.5
        model.encoder.weight.copy_(u[None])
        model.encoder.bias.fill_(-0.5 * u.sum())
        model.decoder.weight.copy_(u[:, None])
        model.decoder.bias.fill_(0.5)
    a = lab.anomaly_scores(model, normal, off, np.zeros(60, int), left_out=7, n=4)
    assert a.auc > 0.99
    assert a.worst_labels == [7, 7, 7, 7]  # the worst are all anomalies
    assert a.anomalous.mean() > 10 * a.normal.mean()
    assert a.worst.shape == (4 * 4 - 2, 2 * 6 - 2, 3)  # 4 rows of input | output
    assert a.caught == 1.0  # every anomaly scores above the normals' 95th percentile
    flipped = lab.anomaly_scores(model, off, normal, np.full(40, 7), left_out=0)
    assert flipped.auc < 0.01  # the AUC follows the scores, it is not a constant
    assert flipped.caught == 0.0


def test_detection_rate_at_five_percent_false_alarms():
    """Normals 0..99 put the threshold at their 95th percentile, 94.05: of anomalies 90..99, the 5 above it."""
    a = lab.Anomaly(3, normal=np.arange(100.0), anomalous=np.arange(90.0, 100.0))
    assert a.caught == pytest.approx(0.5)
    assert a.normal_mse == 49.5 and a.anomalous_mse == 94.5


def test_pca_figures_from_known_numbers():
    c = lab.PCAComparison(2, 1.1, 1.0, 1.3, 1.2, angles=[3.0, 1.0], eigenvalues=[4.0, 2.5, 1.0], seconds=0, grid=None)
    assert c.gap == pytest.approx(0.1) and c.mean_angle == 2.0
    assert c.eigen_gap == 2.5  # lambda_2 / lambda_3
    assert lab.PCAComparison(3, 1, 1, 1, 1, [1.0] * 3, [4.0, 2.5, 1.0], 0, None).eigen_gap is None  # no lambda_4


def test_histogram_shares():
    rows = lab.histogram({"a": np.linspace(0, 1, 50), "b": np.full(7, 0.5)}, bins=10)
    for name in "ab":
        assert sum(r["share"] for r in rows if r["images"] == name) == pytest.approx(1.0, abs=1e-3)
    assert len({r["MSE"] for r in rows}) == 10


def test_without_class():
    d = data.load("digits")
    w = data.without_class(d, 3)
    assert 3 not in set(w.train_labels.tolist()) | set(w.test_labels.tolist())
    assert len(w.train) + (d.train_labels == 3).sum() == len(d.train)
    with pytest.raises(data.DataError, match="no class 12"):
        data.without_class(d, 12)


def test_reading_agrees_with_itself_and_notices_differences():
    same = lab.reading(lab.SEED_ROWS)
    assert same.agree == len(same.findings) == 5 and all(f.article and f.ours for f in same.findings)
    best_first = ["no skip, bottleneck", "raw pixels", "skip, no bottleneck", "no skip, no bottleneck"]
    assert same.article_ranking == same.our_ranking == [*best_first, "skip, bottleneck"]
    flipped = [dict(r) for r in lab.SEED_ROWS]
    flipped[1]["purity_mean"], flipped[3]["purity_mean"] = 0.375, 0.70  # bottleneck helps only with skips
    r = lab.reading(flipped)
    assert [f.ours for f in r.findings] == [False, True, True, False, False] and r.agree == 2
    assert r.our_ranking[0] == "skip, bottleneck" and r.article_ranking == same.article_ranking
    assert lab.reading(lab.SEED_ROWS[:2]) is None  # not all five rows in


def seeded(rows: list[dict], per_seed: dict[tuple, list[float]]) -> list[dict]:
    """The rows with per-training-seed means (the table's mean is theirs)."""
    out = []
    for r in rows:
        means = per_seed.get((r.get("skip"), r.get("bottleneck")))
        if means is None:
            out.append(r)
            continue
        seeds = [{"seed": k, "purity_mean": m, "purities": [m]} for k, m in enumerate(means)]
        out.append({**r, "purity_mean": float(np.mean(means)), "training_seeds": seeds})
    return out


def test_the_reading_counts_the_training_seeds_each_finding_holds_in():
    """The article's table, three seeds. In seed 2, skip + bottleneck (0.50) beats no skip + no bottleneck (0.48):
    "the worst of all five" fails there only. Every other finding holds in all three seeds."""
    rows = seeded(
        lab.SEED_ROWS,
        {
            (False, False): [0.51, 0.52, 0.48],
            (False, True): [0.70, 0.69, 0.71],
            (True, False): [0.53, 0.53, 0.52],
            (True, True): [0.37, 0.38, 0.50],
        },
    )
    r = lab.reading(rows)
    assert r.seeds == 3 and [f.seeds_holding for f in r.findings] == [3, 3, 3, 2, 3]
    assert [f.ours for f in r.findings] == [True] * 5  # with the means (0.417 is still the lowest)
    assert len(r.robust) == 4 and r.findings[3] not in r.robust
    assert lab.reading(lab.SEED_ROWS).seeds == 1  # no per-seed results: its own single seed
    summary = lab.seeds_summary([{"purities": [0.5, 0.7]}, {"purities": [0.6, 0.6]}])
    assert summary == {"purity_mean": 0.6, "purity_std": 0.0707, "train_seed_std": 0.0, "kmeans_std": 0.05}


def test_the_reading_as_the_tab_shows_it():
    from unetlab.ui.lab import reading_markdown

    assert "**5 of 5 findings agree.**" in reading_markdown(lab.reading(lab.SEED_ROWS))
    flipped = [dict(r) for r in lab.SEED_ROWS]
    flipped[1]["purity_mean"], flipped[3]["purity_mean"] = 0.375, 0.70
    text = reading_markdown(lab.reading(flipped))
    assert "**2 of 5 findings agree.**" in text and text.count("| **no** |") == 3
    assert "when all five rows" in reading_markdown(None)
    rows = seeded(lab.SEED_ROWS, {(True, True): [0.37, 0.38, 0.50], (False, False): [0.51, 0.52, 0.48]})
    rows = seeded(rows, {c: [lab.find(rows, *c)["purity_mean"]] * 3 for c in [(False, True), (True, False)]})
    text = reading_markdown(lab.reading(rows))
    assert text.count(" (3/3) |") == 4 and text.count(" (2/3) |") == 1
    assert "in how many of the 3 training seeds' own tables" in text and "4 of 5 come out the same in each" in text
    assert "8x8" not in text and "8x8" in reading_markdown(lab.reading(lab.SEED_ROWS), "digits")


def test_cli_purity_shows_the_shipped_results(tmp_path, monkeypatch, capsys):
    rows = [dict(r, purities=[r["purity_mean"]]) for r in lab.SEED_ROWS]
    lab.save_purity({"rows": rows}, tmp_path)
    monkeypatch.setenv("UNETLAB_WEIGHTS", str(tmp_path))  # the folder the CLI reads
    assert main(["purity", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"rows": lab.SEED_ROWS}
    assert main(["purity"]) == 0
    assert "no skip, bottleneck" in capsys.readouterr().out
    digits = [dict(r, purity_mean=0.25) for r in lab.SEED_ROWS]
    lab.save_purity({"rows": digits}, tmp_path, "digits")  # the earlier table, in its own file
    assert (tmp_path / "results" / "purity.json").is_file()
    assert main(["purity", "--dataset", "digits", "--json"]) == 0
    assert [r["purity_mean"] for r in json.loads(capsys.readouterr().out)["rows"]] == [0.25] * 5
    assert main(["purity", "--json"]) == 0  # MNIST's stays the default
    assert json.loads(capsys.readouterr().out) == {"rows": lab.SEED_ROWS}


def test_cli_purity_errors(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("UNETLAB_WEIGHTS", str(tmp_path))  # the folder the CLI reads
    assert main(["purity", "--json"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "python -m unetlab purity --rerun --save" in err
    assert main(["purity", "--save"]) == 1
    assert "add --rerun" in capsys.readouterr().err
    assert main(["purity", "--seeds", "2"]) == 1
    assert "add --rerun" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["purity", "--dataset", "cifar"])
    assert e.value.code == 2 and "invalid choice: 'cifar'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # refused by the parser, before any training
        main(["purity", "--rerun", "--epochs", "0"])
    assert e.value.code == 2 and "--epochs: must be between 1 and 500, got 0" in capsys.readouterr().err


def test_cli_purity_overrides_never_replace_the_shipped_results(tmp_path, monkeypatch, capsys):
    """--epochs or --seed is not the shipped run: --save writes runs/results/purity-mnist.json, not weights/'s."""
    shipped = lab.save_purity({"rows": lab.SEED_ROWS, "command": "shipped"}, tmp_path / "weights")
    before = shipped.read_bytes()

    def fake_run(cfg, stop=None, seconds=None):
        yield lab.PurityProgress("done", lab.SEED_ROWS, {}, {"rows": lab.SEED_ROWS, "epochs": cfg.epochs})

    monkeypatch.setattr(lab, "run_purity", fake_run)
    monkeypatch.chdir(tmp_path)
    assert main(["purity", "--rerun", "--epochs", "1", "--save"]) == 0
    assert shipped.read_bytes() == before
    assert json.loads((tmp_path / "runs" / lab.PURITY_FILES["mnist"]).read_text())["epochs"] == 1
    assert "--epochs differ from the shipped run: writing to runs/, not weights/" in capsys.readouterr().out
    assert main(["purity", "--rerun", "--seed", "2", "--save", "--out", "mine"]) == 0  # --out is obeyed
    assert (tmp_path / "mine" / lab.PURITY_FILES["mnist"]).is_file() and shipped.read_bytes() == before
    assert main(["purity", "--rerun", "--save", "--seeds", "3"]) == 0  # the shipped run's own settings: weights/
    assert json.loads(shipped.read_text())["epochs"] == lab.PurityConfig.epochs
    # the digits run's own settings (40 epochs, one training seed) are its shipped run, and go to its own file
    assert main(["purity", "--dataset", "digits", "--rerun", "--save", "--epochs", "40", "--seeds", "1"]) == 0
    assert json.loads((tmp_path / "weights" / lab.PURITY_FILE).read_text())["epochs"] == 40


def test_purity_stops_at_its_time_cap_and_says_so():
    steps = list(lab.run_purity(lab.PurityConfig(epochs=200, kmeans_seeds=1), seconds=1.0))
    assert (
        steps[-1].message == "stopped by the time cap (1 s, UNETLAB_TRAIN_SECONDS) after 0 of 4 conditions; no "
        "results were saved"
    )
    assert steps[-1].result is None and len(steps) < 50  # not 4 x 200 epochs
    assert steps[-1].stopped and not any(s.stopped for s in steps[:-1])
    assert steps[-1].condition == 1 and steps[-1].seconds >= 1.0  # where it was, and for how long it had run


def timed_run(epochs: int, kmeans_seeds: int, seeds: int = 1) -> dict:
    """A results card with round timings: 100 s of training per condition and seed, 2 s of k-means per clustering."""
    rows = [
        {"skip": s, "bottleneck": b, "train_seconds": 100.0 * seeds, "kmeans_seconds": 2.0 * seeds}
        for s, b in lab.CONDITIONS
    ]
    rows.append({"features": "raw", "kmeans_seconds": 2.0})
    return {"rows": rows, "protocol": {"epochs": epochs, "kmeans_seeds": kmeans_seeds, "seeds": seeds}}


def test_the_pace_of_a_run_with_several_training_seeds():
    """Three training seeds: 4 x 3 trained models and 13 clusterings; the pace per epoch and per k-means seed is the
    same as one seed's, and a rerun's estimate counts its own seeds."""
    one, three = lab.Pace.of(timed_run(10, 2)), lab.Pace.of(timed_run(10, 2, seeds=3))
    assert one == three == lab.Pace(epoch=10.0, kmeans_seed=1.0)
    assert [lab.clusterings(n, 3) for n in (0, 1, 4, 5)] == [0, 3, 12, 13]
    cfg = lab.PurityConfig(epochs=5, kmeans_seeds=1, seeds=2)
    assert lab.rerun_seconds(cfg, timed_run(10, 2)) == pytest.approx(4 * 2 * 5 * 10.0 + 9 * 1.0)
    # condition 2, epoch 3 of its second seed (8 of its 10): condition 1's row in, 2 clusterings
    step = lab.PurityProgress("", [{}], condition=2, epoch=8, seconds=10.0)
    done = (10 + 8) * 10.0 + 2 * 1.0
    assert lab.seconds_left(cfg, step, timed_run(10, 2)) == pytest.approx((409 - done) * 10.0 / done)


def test_time_left_comes_from_the_sliders_then_from_the_runs_own_speed():
    measured = timed_run(epochs=10, kmeans_seeds=2)  # 10 s an epoch, 1 s a k-means seed, per condition
    cfg = lab.PurityConfig(epochs=5, kmeans_seeds=1, seeds=1)
    whole = 4 * 5 * 10.0 + 5 * 1 * 1.0
    assert lab.rerun_seconds(cfg, measured) == pytest.approx(whole)
    assert lab.seconds_left(cfg, lab.PurityProgress("starting"), measured) == pytest.approx(whole)
    # condition 2, epoch 3; condition 1's row is in: 8 epochs and 1 row done, 81 s of work at the measured pace.
    # This machine took twice that, so the remaining 124 s of work take 248 s here.
    step = lab.PurityProgress("", [{}], condition=2, epoch=3, seconds=162.0)
    assert lab.seconds_left(cfg, step, measured) == pytest.approx(2 * (whole - 81))
    done = lab.PurityProgress("done", [{}] * 5, condition=5, seconds=400.0)
    assert lab.seconds_left(cfg, done, measured) == 0
    # nothing measured: no estimate before the first epoch, then the epochs at the run's own speed
    assert lab.seconds_left(cfg, lab.PurityProgress("starting"), None) is None
    step = lab.PurityProgress("", [], condition=1, epoch=2, seconds=10.0)
    assert lab.seconds_left(cfg, step, None) == pytest.approx((20 - 2) * 5.0)


@pytest.mark.parametrize("dataset", ["mnist", "digits"])
def test_the_rerun_estimate_scales_the_shipped_runs_timing(dataset):
    shipped = lab.load_purity(Settings().weights, dataset)
    cfg = lab.PurityConfig.shipped(dataset)
    whole = lab.rerun_seconds(cfg, shipped)
    assert whole == pytest.approx(shipped["seconds"], rel=0.05)  # its own settings: about its own time
    assert lab.rerun_seconds(lab.PurityConfig.shipped(dataset, epochs=cfg.epochs // 2), shipped) < 0.55 * whole
    if cfg.seeds > 1:
        assert lab.rerun_seconds(lab.PurityConfig.shipped(dataset, seeds=1), shipped) < 0.4 * whole
    assert lab.rerun_seconds(cfg, None) is None
    fit = lab.fitting_epochs(shipped, 300.0, cfg)
    assert fit < cfg.epochs and lab.rerun_seconds(lab.PurityConfig.shipped(dataset, epochs=fit), shipped) <= 300
    assert lab.fitting_epochs(shipped, 2 * whole, cfg) == cfg.epochs
    assert lab.fitting_epochs(None, 1.0, cfg) == cfg.epochs  # nothing measured: the shipped run's
