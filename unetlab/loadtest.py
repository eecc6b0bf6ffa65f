"""Load on one CPU box: N gradio_client clients on /colorize and /reconstruct while a /train job streams.

Loopback only and bounded: the app is launched in this process on 127.0.0.1, every client makes a fixed number
of requests, and the training job is stopped at the end (its time cap ends it anyway). Reports errors, p50/p95
latency per endpoint, how far the job got meanwhile, and how long Stop took to end it, against the time of one
training epoch. `python -m unetlab load` runs it; the README's load figures come from it.
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

EPOCH = re.compile(r"epoch (\d+)/(\d+)")


def _percentiles(xs: list[float]) -> dict:
    if not xs:
        return {"n": 0}
    a = np.array(xs) * 1000
    return {"n": len(xs), "p50_ms": round(float(np.median(a)), 1), "p95_ms": round(float(np.percentile(a, 95)), 1)}


def run(
    weights=None,
    clients: int = 20,
    rounds: int = 2,
    port: int = 7950,
    reconstruct_models: tuple[str, str] = ("recon-noskip", "recon-skip"),
    colorize_models: tuple[str, str] = ("colorize-skip", "colorize-noskip"),
    train_epochs: int = 50,
) -> dict:
    """Start a /train job, fire `clients` x `rounds` requests at each of /colorize and /reconstruct, stop the job."""
    from gradio_client import Client, handle_file

    import app
    from unetlab import data, registry

    demo = app.build_app(registry.Registry(weights) if weights else registry.default())
    app.launch(demo, server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{port}/"
    photos = data.heldout_photo_paths()
    try:
        trainer = Client(url, verbose=False)
        settings = ["gaussian", 0.3, 1.0, 0.1, 1.0, 64, 0.25]  # the variant settings the U-Net job ignores
        job = trainer.submit("unet", "digits", [], train_epochs, 64, 3e-3, 8, 0, *settings, api_name="/train")
        first = time.perf_counter()
        while len(job.outputs()) < 2 and not job.done() and time.perf_counter() - first < 120:
            time.sleep(0.1)  # the job is under way: its epoch 0 and first trained epoch are in
        latencies: dict[str, list[float]] = {"/colorize": [], "/reconstruct": []}
        errors: list[str] = []
        lock = threading.Lock()

        def one_client(i: int) -> None:
            c = Client(url, verbose=False)
            for r in range(rounds):
                photo = handle_file(photos["coffee" if (i + r) % 2 else "chelsea"])
                calls = [
                    ("/colorize", (photo, *colorize_models, "[]")),
                    ("/reconstruct", (photo, *reconstruct_models)),
                ]
                for api, args in calls if i % 2 else calls[::-1]:
                    t = time.perf_counter()
                    try:
                        c.predict(*args, api_name=api)
                    except Exception as e:  # counted and reported; the run goes on
                        with lock:
                            errors.append(f"{api}: {e}")
                        continue
                    with lock:
                        latencies[api].append(time.perf_counter() - t)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(one_client, range(clients)))
        load_seconds = time.perf_counter() - t0
        outputs_during = len(job.outputs())
        stop_at = time.perf_counter()
        trainer.predict(api_name="/stop_training")
        final = list(job)[-1] if not job.done() else job.outputs()[-1]
        stop_seconds = time.perf_counter() - stop_at
        status = final[0]
        epoch = int(EPOCH.search(status).group(1)) if EPOCH.search(status) else 0
        elapsed = float(re.search(r"</b>, ([\d.]+) s", status).group(1)) if "</b>, " in status else float("nan")
        epoch_seconds = elapsed / max(1, epoch)  # one epoch of both models, as the job measured it
        return {
            "clients": clients,
            "requests_per_endpoint": clients * rounds,
            "errors": len(errors),
            "error_samples": errors[:3],
            "latency": {api: _percentiles(xs) for api, xs in latencies.items()},
            "load_seconds": round(load_seconds, 1),
            "train": {
                "streamed_updates_during_load": outputs_during,
                "epochs_done": epoch,
                "epoch_seconds": round(epoch_seconds, 2),
                "stopped": "stopped" in status,
                "stop_seconds": round(stop_seconds, 2),
                "stop_within_one_epoch": stop_seconds <= epoch_seconds,
            },
        }
    finally:
        with contextlib.redirect_stdout(io.StringIO()):  # gradio prints "Closing server..." to stdout
            demo.close()


def format(r: dict) -> str:
    lines = [f"{r['clients']} clients, {r['requests_per_endpoint']} requests per endpoint, errors: {r['errors']}"]
    for api, s in r["latency"].items():
        if s["n"]:
            lines.append(f"  {api:<13} p50 {s['p50_ms']:>8,.0f} ms   p95 {s['p95_ms']:>8,.0f} ms   ({s['n']} ok)")
    t = r["train"]
    lines.append(
        f"  /train        {t['streamed_updates_during_load']} updates streamed during the load; "
        f"epoch {t['epochs_done']} ({t['epoch_seconds']:.1f} s per epoch of both models); "
        f"Stop ended it in {t['stop_seconds']:.2f} s "
        f"({'within' if t['stop_within_one_epoch'] else 'NOT within'} one epoch)"
    )
    lines += [f"  error: {e}" for e in r["error_samples"]]
    return "\n".join(lines)
