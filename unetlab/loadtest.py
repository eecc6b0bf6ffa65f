"""Load on one CPU box: N gradio_client clients on /colorize and /reconstruct while a /train job streams.

Loopback only and bounded: the app is started as a user starts it (`python app.py`, GRADIO_SERVER_PORT set, on
127.0.0.1) in a process of its own, the clients run in another (so their own Python work does not share the
server's interpreter), every client makes a fixed number of requests, and the training job is stopped at the end
(its time cap ends it anyway). Reports errors, requests per
second, p50/p95 latency per endpoint and where a request's time went on the server (waiting for the memory budget,
decoding the upload, the handler, encoding the outputs; the rest is queueing and transfer), the server's CPU time,
its peak RSS, how far the job got meanwhile, and how long Stop took to end it, against the time of one training
epoch. `python -m unetlab load` runs it; the README's load figures come from it.

`image=` sends one (large) image instead of the held-out photos (`--mpx 40`: a 40 Mpx photo, the upload limit);
`pool=True` runs the app with the image pool (UNETLAB_IMAGE_POOL=1: one pool of the cores, one torch thread each)
instead of what the app runs by default (Gradio's 4 per event, torch's
default threads) for comparison; `cost()` measures the peak memory of one request per tab and size, which
budget.COLORIZE and budget.RECONSTRUCT are set from.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent  # where app.py is
EPOCH = re.compile(r"epoch (\d+)/(\d+)")
PHASES = {"preprocess_data": "decode", "call_function": "handler", "postprocess_data": "encode"}


@functools.lru_cache(maxsize=1)
def _tls():
    import ssl

    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def client(url: str, **kwargs):
    """A gradio_client Client for the benchmarks, sharing one SSL context. gradio_client opens a new httpx client for
    every upload, request and download, and httpx builds each one an SSL context from the CA bundle, even for
    http:// (16 ms of CPU each here; a request makes one per upload, queue call and downloaded image): py-spy found
    70 % of the load benchmark's clients' CPU there, on the cores the server needs. One context, built once,
    verifies the same way; a browser pays nothing like it."""
    from gradio_client import Client

    return Client(url, verbose=False, ssl_verify=_tls(), **kwargs)


def _percentiles(xs: list[float]) -> dict:
    if not xs:
        return {"n": 0}
    a = np.array(xs) * 1000
    return {"n": len(xs), "p50_ms": round(float(np.median(a)), 1), "p95_ms": round(float(np.percentile(a, 95)), 1)}


def _status_kb(key: str, pid: int | str = "self") -> int:
    """A line of /proc/<pid>/status in kB (VmRSS: resident now; VmHWM: the peak), 0 where there is none."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    m = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
    return int(m.group(1)) if m else 0


class RssSampler:
    """A process's peak resident memory while the block runs (this one's, or the process `pid`'s): VmRSS sampled
    every `every` s, and the kernel's own peak (VmHWM, reset at the start where /proc/<pid>/clear_refs allows it)."""

    def __init__(self, every: float = 0.05, pid: int | str = "self"):
        self.every, self.pid, self.peak_kb, self.start_kb = every, pid, 0, 0
        self._stop = threading.Event()
        self._hwm = False

    def __enter__(self) -> RssSampler:
        gc.collect()
        self.start_kb = self.peak_kb = _status_kb("VmRSS", self.pid)
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
            self._hwm = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            self.peak_kb = max(self.peak_kb, _status_kb("VmRSS", self.pid))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if self._hwm:
            self.peak_kb = max(self.peak_kb, _status_kb("VmHWM", self.pid))


def _box_busy() -> float:
    """Core-seconds the whole machine has been busy (every process), from /proc/stat; 0 where there is none."""
    try:
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, all threads) the process `pid` has used, from /proc; 0 where there is none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def serve_app(stats: str, pool: int | None = None) -> None:
    """In the app's process: run app.py as `python app.py` runs it, with the phases of every event timed (_timed, on
    the app as it is launched). SIGUSR1 writes the timings and the memory budget's figures to `stats` (JSON), then
    starts them afresh. pool: the image pool's size when the caller (AppProcess) set it, to report."""
    import runpy

    import gradio as gr

    from unetlab.budget import Budget

    timings: dict = defaultdict(lambda: defaultdict(float))
    launch, from_settings, budgets = gr.Blocks.launch, Budget.from_settings, []

    def timed_launch(demo, *args, **kwargs):
        _timed(demo, timings)
        return launch(demo, *args, **kwargs)

    def kept(cls, settings) -> Budget:  # the server's one budget, as app.py makes it
        budgets.append(from_settings(settings))
        return budgets[-1]

    def report(*_) -> None:
        server = budgets[-1]
        figures = {"total": server.total, "peak": server.peak, "waited": server.waited, "refused": server.refused}
        out = {"timings": timings, "budget": figures, "pool": pool}
        Path(stats + ".part").write_text(json.dumps(out))
        os.replace(stats + ".part", stats)
        timings.clear()
        server.peak = server.in_use

    gr.Blocks.launch, Budget.from_settings = timed_launch, classmethod(kept)
    signal.signal(signal.SIGUSR1, report)
    runpy.run_path(str(ROOT / "app.py"), run_name="__main__")


class AppProcess:
    """The app in a process of its own, started as a user starts it (app.py run as the main script, the port and
    the weights folder from the environment), with serve_app's timing hooks; `with` waits until it answers and
    ends it afterwards. pool: with the image pool (UNETLAB_IMAGE_POOL=1: one pool of the cores, one thread each).
    """

    def __init__(self, port: int, weights: str | Path | None = None, pool: bool = False, start_s: float = 300):
        self.port, self.weights, self.pool, self.start_s = port, weights, pool, start_s
        self.url = f"http://127.0.0.1:{port}/"

    def _code(self) -> str:
        from unetlab.hardware import cores

        pool = cores() if self.pool else None
        return f"import sys\nfrom unetlab import loadtest\nloadtest.serve_app(sys.argv[1], {pool})"

    def __enter__(self) -> AppProcess:
        self._dir = tempfile.TemporaryDirectory()
        self._stats = os.path.join(self._dir.name, "stats.json")
        env = os.environ | {"GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(self.port)}
        if self.weights:
            env["UNETLAB_WEIGHTS"] = str(self.weights)
        env["UNETLAB_IMAGE_POOL"] = "1" if self.pool else "0"
        self._log = open(os.path.join(self._dir.name, "app.log"), "wb")  # noqa: SIM115 (closed in __exit__)
        cmd = [sys.executable, "-c", self._code(), self._stats]
        self.process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.pid = self.process.pid
        deadline = time.perf_counter() + self.start_s
        while True:
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.url, timeout=5):
                    return self
            if self.process.poll() is not None or time.perf_counter() > deadline:
                self.__exit__()
                raise RuntimeError(f"the app did not start on {self.url}:\n{self.log()[-3000:]}")
            time.sleep(0.2)

    def log(self) -> str:
        """What the app printed (stdout and stderr)."""
        return Path(self._log.name).read_text(errors="replace")

    def stats(self, timeout: float = 30) -> dict:
        """The app's event timings and memory-budget figures since the last call (or its start)."""
        with contextlib.suppress(FileNotFoundError):
            os.remove(self._stats)
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.perf_counter() + timeout
        while not os.path.exists(self._stats):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"the app did not report its figures:\n{self.log()[-3000:]}")
            time.sleep(0.05)
        return json.loads(Path(self._stats).read_text())

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
        self._dir.cleanup()


def _timed(demo, timings: dict) -> None:
    """Time demo's event phases per endpoint: the whole event (process_api, which includes the memory budget's
    admission), decoding the inputs, the handler, encoding the outputs. Seconds summed into timings[api][phase]."""

    def wrap(name: str, phase: str):
        original = getattr(demo, name)

        @functools.wraps(original)
        async def timed(block_fn, *args, **kwargs):
            fn = demo.fns[block_fn] if isinstance(block_fn, int) else block_fn
            t = time.perf_counter()
            try:
                return await original(block_fn, *args, **kwargs)
            finally:
                timings[fn.api_name][phase] += time.perf_counter() - t

        setattr(demo, name, timed)

    for name, phase in PHASES.items():
        wrap(name, phase)
    wrap("process_api", "event")


def _split(api: str, timings: dict, latency: list[float]) -> dict:
    """Mean ms per request: on the server (admission: the memory budget's wait and Gradio's bookkeeping) and outside
    it (queued behind other requests, the upload and the downloads)."""
    t, n = timings.get(api.strip("/"), {}), len(latency)
    if not n or not t:
        return {}
    ms = {phase: 1000 * t[phase] / n for phase in ("decode", "handler", "encode")}
    ms["admission"] = 1000 * t["event"] / n - sum(ms.values())
    ms["queue_and_transfer"] = 1000 * float(np.mean(latency)) - 1000 * t["event"] / n
    return {k: round(v, 1) for k, v in ms.items()}


def _clients(url: str, clients: int, rounds: int, photos: list[str], calls: dict[str, tuple]) -> dict:
    """In a process of its own: `clients` gradio_client clients, each sending `rounds` requests to every endpoint
    in `calls` (api -> the arguments after the photo), alternating the photos and the order. -> latencies, errors,
    and the clients' own CPU seconds."""
    import tempfile

    from gradio_client import handle_file

    latencies: dict[str, list[float]] = {api: [] for api in calls}
    errors: list[str] = []
    lock = threading.Lock()
    downloads = tempfile.TemporaryDirectory()  # the results, downloaded as a browser would; removed at the end

    def one_client(i: int) -> None:
        # httpx's default 5 s timeout for an upload or a download is shorter than a browser waits on a busy box
        c = client(url, download_files=downloads.name, httpx_kwargs={"timeout": 60})
        for r in range(rounds):
            photo = handle_file(photos[(i + r) % len(photos)])
            order = list(calls.items())
            for api, args in order if i % 2 else order[::-1]:
                t = time.perf_counter()
                try:
                    c.predict(photo, *args, api_name=api)
                except Exception as e:  # counted and reported; the run goes on
                    with lock:
                        errors.append(f"{api}: {e}")
                    continue
                with lock:
                    latencies[api].append(time.perf_counter() - t)

    cpu = os.times()
    t0 = time.perf_counter()
    with downloads, ThreadPoolExecutor(clients) as pool:
        list(pool.map(one_client, range(clients)))
    cpu_after = os.times()
    return {
        "latencies": latencies,
        "errors": errors,
        "seconds": time.perf_counter() - t0,
        "cpu_seconds": cpu_after.user - cpu.user + cpu_after.system - cpu.system,
    }


def _process() -> ProcessPoolExecutor:
    """One fresh Python process (spawned: nothing of this one's threads or memory comes along)."""
    return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))


def large_image(mpx: float, folder: str | Path) -> Path:
    """A JPEG of about `mpx` megapixels, 4:3: a held-out photo enlarged, with sensor-like noise (so its PNG results
    are as large as a real photo's rather than a flat image's)."""
    from PIL import Image

    from unetlab import data

    w = int((mpx * 1e6 * 4 / 3) ** 0.5)
    h = int(mpx * 1e6 / w)
    path = Path(folder) / f"photo-{w}x{h}.jpg"
    if path.exists():
        return path
    big = np.asarray(Image.open(data.heldout_photo_paths()["chelsea"]).convert("RGB").resize((w, h)))
    out = np.empty_like(big)
    rng = np.random.default_rng(0)
    for top in range(0, h, 256):  # in strips: no float copy of the whole image
        part = big[top : top + 256].astype(np.float32) + rng.normal(0, 6, big[top : top + 256].shape)
        out[top : top + 256] = np.clip(part, 0, 255)
    Image.fromarray(out).save(path, quality=90)
    return path


def _stop(trainer, job) -> dict:
    """Stop the training job: how far it got during the load, and how long Stop took against one epoch."""
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
        "streamed_updates_during_load": outputs_during,
        "epochs_done": epoch,
        "epoch_seconds": round(epoch_seconds, 2),
        "stopped": "stopped" in status,
        "stop_seconds": round(stop_seconds, 2),
        "stop_within_one_epoch": stop_seconds <= epoch_seconds,
    }


def run(
    weights=None,
    clients: int = 20,
    rounds: int = 2,
    port: int = 7950,
    reconstruct_models: tuple[str, str] = ("recon-noskip", "recon-skip"),
    colorize_models: tuple[str, str] = ("colorize-skip", "colorize-noskip"),
    train_epochs: int = 50,
    image: str | Path | None = None,
    pool: bool = False,
) -> dict:
    """Start a /train job, fire `clients` x `rounds` requests at each of /colorize and /reconstruct (the held-out
    photos, or `image`), stop the job. pool: with the image pool of the cores and one torch thread per request
    (UNETLAB_IMAGE_POOL=1); train_epochs=0: no training job (to see the requests alone)."""
    from unetlab import budget, data, hardware

    photos = [str(image)] if image else [data.heldout_photo_paths()[p] for p in ("chelsea", "coffee")]
    calls = {"/colorize": (*colorize_models, "[]"), "/reconstruct": reconstruct_models}
    with AppProcess(port, weights, pool) as server:
        trainer = job = None
        if train_epochs:
            trainer = client(server.url)
            variant = ["gaussian", 0.3, 1.0, 0.1, 1.0, 64, 0.25]  # the variant settings the U-Net job ignores
            job = trainer.submit("unet", "digits", [], train_epochs, 64, 3e-3, 8, 0, *variant, api_name="/train")
            first = time.perf_counter()
            while len(job.outputs()) < 2 and not job.done() and time.perf_counter() - first < 120:
                time.sleep(0.1)  # the job is under way: its epoch 0 and first trained epoch are in
        before = server.stats()  # and the timings and the budget's peak start afresh
        with _process() as child, RssSampler(pid=server.pid) as rss:
            cpu, box = _cpu_seconds(server.pid), _box_busy()
            t0 = time.perf_counter()
            clients_done = child.submit(_clients, server.url, clients, rounds, photos, calls).result()
            load_seconds = time.perf_counter() - t0
            cpu_after, box_after = _cpu_seconds(server.pid), _box_busy()
        after = server.stats()
        latencies, errors = clients_done["latencies"], clients_done["errors"]
        done = sum(len(xs) for xs in latencies.values())
        server_cpu = cpu_after - cpu
        memory = after["budget"]
        return {
            "clients": clients,
            "requests_per_endpoint": clients * rounds,
            "image": Path(image).name if image else "held-out photos",
            "baseline": not pool,
            "pool": after["pool"],
            "errors": len(errors),
            "error_samples": errors[:3],
            "latency": {api: _percentiles(xs) for api, xs in latencies.items()},
            "split_ms": {api: _split(api, after["timings"], xs) for api, xs in latencies.items()},
            "load_seconds": round(load_seconds, 1),
            "requests_per_second": round(done / load_seconds, 2),
            "server_cpu_seconds": round(server_cpu, 1),
            "clients_cpu_seconds": round(clients_done["cpu_seconds"], 1),
            "other_cpu_seconds": round(max(0.0, box_after - box - server_cpu - clients_done["cpu_seconds"]), 1),
            "cores": hardware.cores(),
            "rss_mb": {"before": round(rss.start_kb / 1024), "peak": round(rss.peak_kb / 1024)},
            "memory_budget": {
                "budget_gb": round(memory["total"] / budget.GB, 2),
                "peak_in_use_gb": round(memory["peak"] / budget.GB, 2),
                "waited": memory["waited"] - before["budget"]["waited"],
                "refused": memory["refused"] - before["budget"]["refused"],
            },
            "train": _stop(trainer, job) if job else None,
        }


def format(r: dict) -> str:
    setup = "baseline: Gradio's 4 per event, torch's default threads" if r["baseline"] else f"pool of {r['pool']}"
    done = sum(s["n"] for s in r["latency"].values())
    lines = [
        f"{r['clients']} clients, {r['requests_per_endpoint']} requests per endpoint ({r['image']}; {setup}), "
        f"errors: {r['errors']}",
        f"  {r['requests_per_second']:.2f} requests/s ({r['load_seconds']:.1f} s). CPU, of "
        f"{r['load_seconds'] * r['cores']:.0f} core-s: the server {r['server_cpu_seconds']:.0f} "
        f"({r['server_cpu_seconds'] / max(1, done):.2f} per request, the training job's included), the clients "
        f"{r['clients_cpu_seconds']:.0f} (another process), other processes {r['other_cpu_seconds']:.0f}",
    ]
    for api, s in r["latency"].items():
        if s["n"]:
            lines.append(f"  {api:<13} p50 {s['p50_ms']:>8,.0f} ms   p95 {s['p95_ms']:>8,.0f} ms   ({s['n']} ok)")
            split = r["split_ms"].get(api)
            if split:
                lines.append(
                    "                per request: " + ", ".join(f"{k} {v:,.0f}" for k, v in split.items()) + " ms"
                )
    m = r["memory_budget"]
    lines.append(
        f"  memory        peak RSS {r['rss_mb']['peak']:,} MB (from {r['rss_mb']['before']:,}); budget "
        f"{m['budget_gb']:g} GB, at most {m['peak_in_use_gb']:g} GB in use; {m['waited']} waited, "
        f"{m['refused']} refused"
    )
    t = r["train"]
    if t:
        if t["stopped"]:
            within = "within" if t["stop_within_one_epoch"] else "NOT within"
            stop = f"Stop ended it in {t['stop_seconds']:.2f} s ({within} one epoch)"
        else:
            stop = "it had ended before Stop (its time cap)" if t["stop_within_one_epoch"] else "Stop did NOT end it"
        lines.append(
            f"  /train        {t['streamed_updates_during_load']} updates streamed during the load; "
            f"epoch {t['epochs_done']} ({t['epoch_seconds']:.1f} s per epoch of both models); {stop}"
        )
    lines += [f"  error: {e}" for e in r["error_samples"]]
    return "\n".join(lines)


def _one_request(tab: str, path: str, args: tuple, port: int) -> dict:
    """The app started afresh, one warm-up request on a held-out photo, then one request with `path` on /tab.
    -> the app process's peak RSS over its warm state during that request, and the request's seconds."""
    from gradio_client import handle_file

    from unetlab import data

    with AppProcess(port) as server:
        c = client(server.url, httpx_kwargs={"timeout": 600})

        def request(p: str) -> float:
            t = time.perf_counter()
            c.predict(handle_file(p), *args, api_name=f"/{tab}")
            return time.perf_counter() - t

        request(data.heldout_photo_paths()["chelsea"])
        with RssSampler(pid=server.pid) as rss:
            seconds = request(path)
    return {"peak_mb": (rss.peak_kb - rss.start_kb) / 1024, "seconds": seconds}


def cost(sizes=(4, 16, 40), folder: str | Path | None = None, port: int = 7953) -> dict:
    """Peak memory of one request per tab and image size (Mpx), each on a freshly started app: MB and bytes per
    pixel."""
    from PIL import Image

    calls = {
        "colorize": ("colorize-guided-skip", "colorize-guided-noskip", "[]"),
        "reconstruct": ("recon-noskip", "recon-skip"),
    }
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mpx in sizes:
            path = large_image(mpx, folder or tmp)
            w, h = Image.open(path).size
            for tab, args in calls.items():
                r = _one_request(tab, str(path), args, port)
                out.setdefault(tab, {})[f"{w * h / 1e6:.1f} Mpx"] = {
                    "peak_mb": round(r["peak_mb"]),
                    "bytes_per_pixel": round(r["peak_mb"] * 2**20 / (w * h), 1),
                    "seconds": round(r["seconds"], 1),
                }
    return out


def format_cost(costs: dict) -> str:
    lines = [
        "one request's peak RSS over a warm server (upload, decode, handler, outputs encoded), each on a fresh app:"
    ]
    for tab, sizes in costs.items():
        for size, c in sizes.items():
            lines.append(
                f"  /{tab:<12} {size:>9}  {c['peak_mb']:>6,} MB  {c['bytes_per_pixel']:>6.1f} bytes/pixel  "
                f"{c['seconds']:>6.1f} s"
            )
    return "\n".join(lines)
