"""The command line: one sub-command per job a tab does.

  python -m unetlab models [--json]
  python -m unetlab train --recipe NAME [--dataset D] [--epochs N] [--batch-size B] [--lr X] [--seed S]
                          [--augment A] [--out DIR]
  python -m unetlab data [--list | --fetch | --build]
  python -m unetlab score MODEL... [--per-source N] [--hints N] [--grid PNG] [--json]
  python -m unetlab reconstruct --model NAME_OR_PATH INPUT... --out DIR
  python -m unetlab colorize --model NAME_OR_PATH INPUT... --out DIR [--hint X,Y,#RRGGBB ...]
  python -m unetlab interpolate --model NAME A B [--steps N] [--method linear|spherical] --out DIR
  python -m unetlab sample --model NAME --label {0-9|all} [--n N] [--steps S] [--scheduler ddpm|ddim] [--guidance G]
                           [--eta E] [--seed X] --out DIR [--timeline]
  python -m unetlab purity [--dataset mnist|digits] [--rerun [--epochs N] [--seed S] [--seeds K] [--save]
                           [--out DIR]] [--json]
  python -m unetlab bench [--json]

Bad input gives one line on stderr and a non-zero exit, never a traceback. Numbers are checked (finite, in range)
before any work starts.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path


def registry_of(args: argparse.Namespace):
    """The command's one registry, built on first use from its settings (commands that need none import no torch)."""
    if getattr(args, "registry", None) is None:
        from unetlab.registry import Registry

        args.registry = Registry.from_settings(args.settings)
    return args.registry


def cmd_models(args: argparse.Namespace) -> None:
    """The usable models, then the unavailable ones (a card that cannot be read) with the reason."""
    reg = registry_of(args)
    rows = [
        {"name": e.name, "task": e.task, "params": e.params, "metrics": e.card.get("metrics", {})}
        for e in reg.entries.values()
    ]
    broken = [
        {"name": name, "task": None, "params": None, "metrics": {}, "error": why}
        for name, why in reg.unavailable.items()
    ]
    if args.json:
        print(json.dumps(rows + broken, indent=1))
        return
    print(f"{'name':<20} {'task':<12} {'params':>10}  metrics")
    for r in rows:
        m = {k: v for k, v in r["metrics"].items() if isinstance(v, (int, float))}
        print(f"{r['name']:<20} {r['task']:<12} {r['params']:>10,}  " + ", ".join(f"{k}={v}" for k, v in m.items()))
    if broken:
        print("\nunavailable (fix the card, or rebuild it with python -m unetlab train --recipe NAME):")
        for b in broken:
            print(f"{b['name']:<20} {b['error']}")


def progress_line(r) -> str:
    bar = "#" * round(20 * r.epoch / r.epochs)
    return (
        f"epoch {r.epoch:>3}/{r.epochs} [{bar:<20}] train {r.train_loss:.5f}  held-out {r.test_loss:.5f}  "
        f"PSNR {r.psnr:5.2f} dB  {r.images_per_s:6.0f} img/s  {r.elapsed:6.0f} s"
    )


def cmd_train(args: argparse.Namespace) -> None:
    """Train a recipe. Under `accelerate launch` it runs data parallel; only the main process prints and saves."""
    from unetlab import cards, recipes, registry
    from unetlab.train import launched_accelerator

    r = recipes.get(args.recipe, stl10=args.settings.stl10).with_overrides(
        dataset=args.dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        augment=args.augment,
    )
    # a run with overrides is not the recipe: it never replaces the shipped model unless --out says so
    out = Path(args.out or ("runs" if r.overrides else "weights"))
    registry.writable_dir(out)  # now, not after the last epoch
    reg = registry_of(args)  # a latent model's VAE comes from it, and the diffusion task's judge
    data = recipes.load_data(r, reg)
    model = recipes.build_model(r, reg)
    accelerator = launched_accelerator(args.settings)
    main = accelerator is None or accelerator.is_main_process
    if main:
        print(f"{r.name}: {r.description}\n{len(data)} samples/epoch from {r.dataset}, {len(data.test)} held out")
        if data.adapted:
            print(f"{r.dataset} adapted to the model's input: {data.adapted}")
        if accelerator is not None:
            print(f"accelerate: {accelerator.num_processes} process(es) on {accelerator.device}")
        if r.overrides and args.out is None:
            flags = ", ".join(f"--{k.replace('_', '-')}" for k in r.overrides)
            print(f"{flags} differ from the recipe: writing to {out}/, not weights/ (--out DIR to choose)")
    history, start = [], time.perf_counter()
    for report in recipes.training(r, data, model, accelerator=accelerator):
        history.append(report.row())
        if main:
            print(progress_line(report), flush=True)
    if accelerator is not None:
        accelerator.wait_for_everyone()
    if not main:
        return
    path = cards.finish(r, model.cpu(), data, history, time.perf_counter() - start, out, reg)
    card = json.loads(path.read_text())
    print(f"wrote {path.with_name(card['weights'])} and {path}")
    print("metrics: " + json.dumps(card["metrics"]))


def cmd_data(args: argparse.Namespace) -> None:
    """The image corpus: list its sources, fetch it into the cache, or rebuild its manifest."""
    from unetlab import corpus

    if args.build:
        counts = corpus.build()
        print(f"wrote {corpus.MANIFEST}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if args.fetch:
        chosen = corpus.items()
        todo = len(corpus.missing(chosen))
        print(f"fetching {todo} of {len(chosen)} files into {corpus.cache_dir()} ...", flush=True)
        corpus.fetch(chosen)
        print(f"done: all {len(chosen)} files are in the cache and match their sha256")
    if args.list or not (args.build or args.fetch):
        print(corpus.listing())


def cmd_score(args: argparse.Namespace) -> None:
    """Score reconstruction or colorize models on the corpus's test sources (per source, mean and worst) and on
    chelsea and coffee, at full size in fp32: the figures the cards and the README give, for any model file."""
    from unetlab import registry

    resolved = [(name, *registry.resolve(name, registry_of(args))) for name in args.models]
    tasks = {entry.task for _, entry, _ in resolved}
    if not tasks <= {"reconstruct", "colorize"} or len(tasks) > 1:
        raise ValueError("score takes reconstruction models or colorize models (one task per call)")
    if tasks == {"colorize"}:
        score_colorize(args, resolved)
    else:
        score_reconstruct(args, resolved)


def score_colorize(args: argparse.Namespace, resolved: list) -> None:
    from unetlab import colorize, data
    from unetlab.corpus import PHOTO_KINDS

    groups = data.corpus_test(args.per_source, fetch=True, kinds=PHOTO_KINDS)
    rows = {}
    for name, entry, model in resolved:
        model.eval()
        decode = colorize.Decode.from_card(entry.card)
        report = colorize.test_report(model, groups, args.hints, decode)
        report["chelsea_coffee"] = colorize.heldout_metrics(model, data.photo_arrays(held_out=True), decode)
        rows[name] = report
        if not args.json:
            m, w = report["mean"], report["worst"]
            print(
                f"{name}: test split PSNR {m['psnr']:.2f} dB (grey {m['grey_psnr']:.2f}), a*b* error "
                f"{m['ab_ratio']:.3f}x grey's (worst source {w['ab_ratio']:.3f}x), colourfulness "
                f"{m['colourfulness_ratio']:.3f}x the truth"
            )
            if "hints_psnr" in m:
                print(
                    f"  {report['hints']} hints: PSNR {m['hints_psnr']:.2f} dB, "
                    f"a*b* {m['hints_ab_ratio']:.3f}x grey's; "
                    f"nearest-hint fill {m['nearest_psnr']:.2f} dB, {m['nearest_ab_ratio']:.3f}x; "
                    f"edge-aware fill {m['edges_psnr']:.2f} dB, {m['edges_ab_ratio']:.3f}x"
                )
            for source, r in report["per_source"].items():
                print(
                    f"  {source:<16} PSNR {r['psnr']:6.2f} (grey {r['grey_psnr']:6.2f})  a*b* {r['ab_ratio']:.3f}x  "
                    f"colourful {r['colourfulness_ratio']:.3f}x  ({r['images']} images)"
                )
    if args.grid:
        from unetlab import images

        pick = [img for imgs in groups.values() for img in list(imgs.values())[:: max(1, len(imgs) // 2)][:2]]
        models = {n: (m, colorize.Decode.from_card(e.card)) for n, e, m in resolved}
        images.save_png(colorize.test_grid(models, pick, args.hints), args.grid)
        print(f"grid of {len(pick)} test images: {args.grid}", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=1))


def score_reconstruct(args: argparse.Namespace, resolved: list) -> None:
    from unetlab import data
    from unetlab.reconstruct import heldout_report, score

    groups = data.corpus_test(args.per_source, fetch=True)
    rows = {}
    for name, _, model in resolved:
        model.eval()
        report = heldout_report(model, groups)
        report["chelsea_coffee"] = {k: score(model, v) for k, v in data.photo_arrays(held_out=True).items()}
        rows[name] = report
        if not args.json:
            print(
                f"{name}: test split mean {report['psnr_mean']:.2f} dB, worst {report['psnr_worst']:.2f} dB, "
                f"SSIM {report['ssim_mean']:.4f}, grid error worst {report['grid_worst']:.2f} levels "
                f"({report['n']} images)"
            )
            for source, r in report["per_source"].items():
                print(
                    f"  {source:<16} mean {r['psnr_mean']:6.2f}  worst {r['psnr_worst']:6.2f}  "
                    f"SSIM {r['ssim_mean']:.4f}  grid {r['grid_worst']:.2f}  ({r['n']} images)"
                )
            held = report["chelsea_coffee"]
            print("  chelsea / coffee " + " / ".join(f"{v['psnr']:.2f}" for v in held.values()) + " dB")
    if args.json:
        strip = lambda r: {k: v for k, v in r.items() if k != "images"}  # noqa: E731
        print(
            json.dumps(
                {n: r | {"per_source": {s: strip(v) for s, v in r["per_source"].items()}} for n, r in rows.items()},
                indent=1,
            )
        )


def image_to_image(args: argparse.Namespace, task: str, run) -> None:
    """Apply a model of `task` to every input (run(entry, model, image)); write <out>/<input stem>.png at the
    input's size. Each PNG is written on a second thread while the next input is decoded and run (zlib releases
    the GIL): at most one write is pending, and a failed write stops the command."""
    from concurrent.futures import ThreadPoolExecutor

    from unetlab import images, registry

    entry, model = registry.resolve(args.model, registry_of(args))
    if entry.task != task:
        valid = ", ".join(registry_of(args).names(task))
        raise ValueError(f"model {entry.name!r} is a {entry.task} model; pick a {task} model ({valid})")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    mode = "L" if getattr(model.config, "in_channels", 3) == 1 and task == "reconstruct" else "RGB"
    written = []  # (the pending write, its path)

    def done() -> None:
        write, dest = written.pop()
        write.result()  # raises what the write raised
        print(dest)

    with ThreadPoolExecutor(max_workers=1) as writer:
        for src in args.inputs:
            result = run(entry, model, images.load_image(src, mode=mode))
            if written:
                done()
            dest = out / f"{Path(src).stem}.png"
            written.append((writer.submit(images.save_png, result, dest), dest))
        if written:
            done()


def cmd_reconstruct(args: argparse.Namespace) -> None:
    from unetlab.reconstruct import reconstruct

    image_to_image(args, "reconstruct", lambda entry, model, img: reconstruct(model, img))


def cmd_colorize(args: argparse.Namespace) -> None:
    from unetlab import colorize as C

    raw = [C.parse_hint(h) for h in args.hint or []]
    if raw and len(args.inputs) > 1:
        raise ValueError(
            f"--hint places colours at pixels of one image, and {len(args.inputs)} inputs were given; "
            "colourise one image per command when you give hints"
        )

    def run(entry, model, img):
        hints = C.make_hints(raw, *img.shape[:2])  # a grey file decodes to R = G = B: the same L* as the grey
        return C.colorize(model, img, views=False, hints=hints, decode=C.Decode.from_card(entry.card)).image

    image_to_image(args, "colorize", run)


def cmd_interpolate(args: argparse.Namespace) -> None:
    from unetlab import images, latent, registry

    entry, model = registry.resolve(args.model, registry_of(args))
    if not hasattr(model, "embed"):
        raise ValueError(f"model {entry.name!r} is a {entry.task} model; pick a VAE or plain AE (vae-digits, ...)")
    dataset = latent.dataset_of(entry)  # a drawing is framed as the model's digits were (latent.fit)
    a, b = (latent.encode(model, images.load_image(src, mode="L"), dataset) for src in (args.a, args.b))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(latent.frames(model, a, b, args.steps, args.method)):
        dest = out / f"{i:03d}.png"
        images.save_png(frame, dest)
        print(dest)


def cmd_sample(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from unetlab import diffusion, images, ldm, registry

    reg = registry_of(args)
    entry, model = registry.resolve(args.model, reg)
    if entry.task not in ("diffusion", "ldm"):
        valid = ", ".join(reg.names("diffusion") + reg.names("ldm"))
        raise ValueError(f"model {entry.name!r} is a {entry.task} model; pick a diffusion model ({valid})")
    names = list(ldm.CLASSES) if entry.task == "ldm" else [str(d) for d in range(10)]  # class index -> its name
    if args.label != "all" and args.label not in names:
        raise ValueError(f"--label for {entry.name} must be one of {', '.join(names)} or all, got {args.label!r}")
    classes = range(len(names)) if args.label == "all" else [names.index(args.label)]
    labels = torch.tensor(classes).repeat_interleave(args.n)
    kw = dict(steps=args.steps, scheduler=args.scheduler, guidance=args.guidance, eta=args.eta, seed=args.seed)
    x_t, x0 = [], []
    for step in diffusion.sample(model, labels, **kw):
        if args.timeline:  # a latent model's x_t and x0 are latents: decoded by its VAE, as the images they stand for
            x_t.append(model.decode(step.x_t).numpy())
            x0.append(model.decode(step.x0).numpy())
    if not torch.isfinite(step.x_t).all():
        raise ValueError("sampling gave NaN or infinite pixels; nothing was written")
    final = model.decode(step.x_t).numpy()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for k, label in enumerate(labels.tolist()):
        i = k % args.n
        dest = out / f"{names[label]}_{i}.png"
        images.save_png(images.to_uint8(final[k]), dest)
        print(dest)
        if args.timeline:  # top row: x_t after each step; bottom row: the predicted x0 at that step
            strip = images.grid([np.stack([a[k], b[k]]) for a, b in zip(x_t, x0)], pad=1)
            dest = out / f"{names[label]}_{i}_timeline.png"
            images.save_png(strip, dest)
            print(dest)


def cmd_purity(args: argparse.Namespace) -> None:
    from unetlab import lab, registry

    asked = {k: getattr(args, k) for k in ("epochs", "seed", "seeds") if getattr(args, k) is not None}
    if not args.rerun:
        if args.save or asked:
            raise ValueError("--save, --epochs, --seed and --seeds apply to a fresh run; add --rerun")
        result = lab.load_purity(args.settings.weights, args.dataset)
    else:
        shipped = lab.PurityConfig.shipped(args.dataset)
        overrides = {k: v for k, v in asked.items() if v != getattr(shipped, k)}
        # a run with overrides is not the shipped experiment: it never replaces the shipped results unless --out says so
        out = Path(args.out or ("runs" if overrides else "weights"))
        if args.save:
            registry.writable_dir((out / lab.PURITY_FILES[args.dataset]).parent)  # now, not after the runs
        cfg = lab.PurityConfig.shipped(args.dataset, **overrides)
        log = sys.stderr if args.json else sys.stdout
        for step in lab.run_purity(cfg):
            print(step.message, file=log, flush=True)
            result = step.result
        if args.save:
            if overrides and args.out is None:
                flags = ", ".join(f"--{k}" for k in overrides)
                print(
                    f"{flags} differ from the shipped run: writing to {out}/, not weights/ (--out DIR to choose)",
                    file=log,
                )
            print(f"wrote {lab.save_purity(result, out, args.dataset)}", file=log)
    rows = lab.public_rows(result["rows"])
    if args.json:
        print(json.dumps({"rows": rows}, indent=1))
        return
    print(f"{'features':<28} {'purity':>8} {'std':>7} {'dims':>6}   article (MNIST)")
    for r in rows:
        name = lab.label(r.get("skip"), r.get("bottleneck"))
        s = lab.find(lab.SEED_ROWS, r.get("skip"), r.get("bottleneck"))
        print(f"{name:<28} {r['purity_mean']:>8.4f} {r['purity_std']:>7.4f} {r['dims']:>6}   {s['purity_mean']:.4f}")


def cmd_bench(args: argparse.Namespace) -> None:
    from unetlab import bench

    results = bench.measure(registry_of(args))
    print(json.dumps(results, indent=1) if args.json else bench.format(results))


def cmd_load(args: argparse.Namespace) -> None:
    import tempfile

    from unetlab import loadtest

    if args.cost:
        costs = loadtest.cost()
        print(json.dumps(costs, indent=1) if args.json else loadtest.format_cost(costs))
        return
    with tempfile.TemporaryDirectory() as tmp:
        image = loadtest.large_image(args.mpx, tmp) if args.mpx else None
        results = loadtest.run(
            clients=args.clients,
            rounds=args.rounds,
            port=args.port,
            image=image,
            pool=args.pool,
            train_epochs=0 if args.no_train else 50,
        )
    print(json.dumps(results, indent=1) if args.json else loadtest.format(results))
    if results["errors"] or (results["train"] and not results["train"]["stop_within_one_epoch"]):
        sys.exit(1)


def span(lo: float, hi: float | None, above: bool = False) -> str:
    low = f"greater than {lo}" if above else f"at least {lo}"
    if hi is None:
        return low
    return f"{low} and at most {hi}" if above else f"between {lo} and {hi}"


def whole(lo: int, hi: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer from lo to hi (inclusive; no upper bound when hi is None)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be {span(lo, hi)}, got {value}")
        return value

    return parse


def real(lo: float, hi: float | None = None, above: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number from lo (or above lo, when `above`) to hi."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if value < lo or (above and value == lo) or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"must be {span(lo, hi, above)}, got {text}")
        return value

    return parse


SEED = whole(0, 2**32 - 1)  # what numpy and torch both accept


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m unetlab", description="U-Net as an autoencoder, runnable.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("models", help="list the registry: name, task, params, metrics")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_models)

    s = sub.add_parser("train", help="train a recipe; writes <name>.safetensors + <name>.json")
    s.add_argument("--recipe", required=True)
    s.add_argument(
        "--dataset",
        help="digits, faces, photos, colour-photos, corpus, corpus-photos, corpus-other, or a path (image folder, "
        "STL-10 *_X.bin, MNIST idx); grey data is repeated into RGB for an RGB model, and colour data becomes "
        "its luma for a grey one, where the task's target is its input",
    )
    s.add_argument("--epochs", type=whole(1))
    s.add_argument("--batch-size", type=whole(1))
    s.add_argument("--lr", type=real(0, 1, above=True), help="learning rate, in (0, 1]")
    s.add_argument("--seed", type=SEED)
    s.add_argument("--augment", help="crop datasets: none, colour, synthetic or colour+synthetic")
    s.add_argument(
        "--out",
        help="folder for the weights and card (created if missing); default weights/, or runs/ when any of "
        "--dataset, --epochs, --batch-size, --lr, --seed, --augment is given (such a run is not the recipe)",
    )
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("data", help="the image corpus: its sources and licences, fetching it, its manifest")
    s.add_argument("--list", action="store_true", help="each source: split, file counts, kinds, licence (default)")
    s.add_argument("--fetch", action="store_true", help="download the pinned packages once; fill the cache")
    s.add_argument("--build", action="store_true", help="maintainers: rebuild unetlab/corpus.json from the packages")
    s.set_defaults(func=cmd_data)

    s = sub.add_parser(
        "score", help="reconstruction or colorize models on the corpus's test sources and chelsea/coffee"
    )
    s.add_argument("models", nargs="+", metavar="MODEL", help="registry names, or card/weights files")
    s.add_argument("--per-source", type=whole(1), default=40, help="test images per source, evenly spaced (default 40)")
    s.add_argument(
        "--hints", type=whole(0), default=16, help="colorize: hints from the true colours per image (default 16)"
    )
    s.add_argument("--grid", metavar="PNG", help="colorize: also write a picture of results on a few test images")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_score)

    s = sub.add_parser("reconstruct", help="reconstruct images with a U-Net autoencoder at their own size")
    s.add_argument("--model", required=True, help="a registry name, or a card/weights file written by train")
    s.add_argument("inputs", nargs="+", metavar="INPUT")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_reconstruct)

    s = sub.add_parser("colorize", help="colourise images from their luminance, at their full resolution")
    s.add_argument("--model", required=True, help="a colorize model: a registry name, or a card/weights file")
    s.add_argument("inputs", nargs="+", metavar="INPUT")
    s.add_argument("--out", required=True, help="folder for <stem>.png")
    s.add_argument(
        "--hint",
        action="append",
        metavar="X,Y,#RRGGBB",
        help="a colour hint at pixel (X, Y) of INPUT, in its own size (repeatable; one INPUT only; a guided model)",
    )
    s.set_defaults(func=cmd_colorize)

    s = sub.add_parser("interpolate", help="frames decoded along the latent path from image A to image B")
    s.add_argument("--model", required=True, help="a VAE or plain AE: a registry name, or a card/weights file")
    s.add_argument("a", metavar="A", help="the first frame's image (any size or colour; resized to fit)")
    s.add_argument("b", metavar="B", help="the last frame's image")
    s.add_argument("--steps", type=whole(2), default=10, help="frames, A and B included (default 10)")
    s.add_argument("--method", choices=["linear", "spherical"], default="linear")
    s.add_argument("--out", required=True, help="folder for 000.png, 001.png, ... (A first)")
    s.set_defaults(func=cmd_interpolate)

    s = sub.add_parser("sample", help="generate images with a diffusion model; writes DIR/<label>_<i>.png")
    s.add_argument(
        "--model", required=True, help="a diffusion model: a registry name (ddpm-eps, ddpm-mnist-v, ldm-eps) or a card"
    )
    s.add_argument("--label", default="all", help="the class: a digit (digit models), photo or texture (ldm-*), or all")
    s.add_argument("--n", type=whole(1), default=4, help="samples per label (default 4)")
    s.add_argument("--steps", type=whole(1), default=50, help="denoising steps (default 50)")
    s.add_argument("--scheduler", choices=["ddpm", "ddim"], default="ddim")
    s.add_argument(
        "--guidance", type=real(0, 20), default=1.0, help="classifier-free guidance scale, 0 to 20 (default 1: none)"
    )
    s.add_argument("--eta", type=real(0, 1), default=0.0, help="DDIM's eta: 0 deterministic, 1 DDPM-like")
    s.add_argument("--seed", type=SEED, default=0)
    s.add_argument("--timeline", action="store_true", help="also <label>_<i>_timeline.png: x_t over x0, every step")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_sample)

    s = sub.add_parser("purity", help="the seed's latent-purity table (skip x bottleneck, k-means on MNIST)")
    s.add_argument(
        "--dataset",
        choices=("mnist", "digits"),  # lab.PURITY_DATA (not imported here: the CLI starts without torch)
        default="mnist",
        help="mnist (the seed's data, 28x28; default) or digits (scikit-learn's 8x8, the earlier table)",
    )
    s.add_argument("--rerun", action="store_true", help="train and cluster afresh instead of showing the shipped run")
    s.add_argument(
        "--epochs", type=whole(1, 500), help="training epochs per condition and seed (default: the shipped run's)"
    )
    s.add_argument("--seed", type=SEED, help="the first training seed (default 0)")
    s.add_argument("--seeds", type=whole(1, 10), help="training seeds per condition (default: the shipped run's)")
    s.add_argument(
        "--save",
        action="store_true",
        help="write DIR/results/purity-mnist.json (digits: purity.json), the shipped results",
    )
    s.add_argument(
        "--out",
        help="folder for --save: default weights/, or runs/ when a flag changes the shipped run's settings",
    )
    s.add_argument("--json", action="store_true", help="print {rows: [...]} as JSON (progress goes to stderr)")
    s.set_defaults(func=cmd_purity)

    s = sub.add_parser("bench", help="performance figures, as ratios against baselines run in the same process")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("load", help="N clients on /colorize and /reconstruct while /train streams (loopback)")
    s.add_argument("--clients", type=whole(1), default=20)
    s.add_argument("--rounds", type=whole(1), default=2, help="requests per client and endpoint")
    s.add_argument("--port", type=whole(1, 65535), default=7950)
    s.add_argument("--mpx", type=real(0, 40, above=True), help="send one photo of this many Mpx (40: the limit)")
    s.add_argument(
        "--pool", action="store_true", help="the pool experiment: one pool of the cores, one torch thread each"
    )
    s.add_argument("--no-train", action="store_true", help="no training job alongside: the requests alone")
    s.add_argument("--cost", action="store_true", help="instead: one request's peak memory per tab at 4, 16, 40 Mpx")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_load)
    return p


def main(argv: list[str] | None = None) -> int:
    from unetlab.settings import Settings

    args = parser().parse_args(argv)
    try:
        args.settings = Settings.from_env()  # the command's settings, read once; a bad value is one line on stderr
        args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, KeyError, OSError, RuntimeError) as e:  # our errors all derive from these
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
