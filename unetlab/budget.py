"""A memory budget for work on large images: bytes in flight across every request of the server, admitted in order.

An image costs memory in proportion to its pixels: decoded, converted to floats, its results and their PNGs. Each
request reserves its estimate (`Budget.reserve`) before it starts and gives it back when it ends, however it ends.
While the budget is full, requests wait in arrival order (a large one is not overtaken forever by small ones). A
request that alone needs more than the whole budget, or that has waited WAIT_SECONDS, is refused with a message
that says what to do. The web app admits every event that takes an upload this way (`ui/admission.py`); the
per-pixel costs it charges were measured, see `COLORIZE` and `RECONSTRUCT`.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from unetlab.settings import Settings

GB = 1e9


def machine_memory() -> int:
    """Bytes of memory this process may use: the machine's, or its container's (cgroup) limit if lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):  # cgroup v2, v1
        try:
            text = Path(limit).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


WAIT_SECONDS = 600.0  # a request that cannot be admitted within this is refused: the server is overloaded


class BudgetError(ValueError):
    """A request the budget refused; the message says why and what to do, and is shown to the user as is."""


@dataclass(frozen=True)
class Cost:
    """Estimated peak bytes of one request on an image of `pixels`: fixed + per_pixel * pixels, plus per_work_pixel
    for each of at most work_pixels pixels (a tab that downscales large uploads before its heavy work)."""

    work: str  # what the request does, for messages: "colourising"
    fixed: float
    per_pixel: float
    per_work_pixel: float = 0.0
    work_pixels: int = 0

    def __call__(self, pixels: int) -> int:
        return int(self.fixed + self.per_pixel * pixels + self.per_work_pixel * min(pixels, self.work_pixels))

    def max_pixels(self, nbytes: float) -> int:
        """The largest image whose estimate fits in nbytes (0 if none)."""
        lo, hi = 0, 1 << 34
        while lo < hi:  # the estimate grows with the pixels: bisect
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if self(mid) <= nbytes else (lo, mid - 1)
        return lo


# Peak RSS of one request over a warm server, through the whole event (the upload decoded, the handler, its outputs
# PNG-encoded into Gradio's cache), each in a fresh process: `python -m unetlab load --cost` on the 2-core development
# machine. Colorize (two models at the upload's full resolution, the teaching views, the hint canvas): 366 MB at
# 4 Mpx, 537 MB at 16, 857 MB at 40; about 300 MB for the models at the working size, then ~14 bytes per pixel once
# the full-resolution steps ran in strips (58 bytes per pixel, 2.3 GB, before). Reconstruction (the upload decoded
# and downscaled to settings.compare_pixels, then two models in tiles, PSNR, SSIM and the error maps at that
# size): 1.44 GB at 4 Mpx, 0.97 at 16, 1.51 at 40, mostly the 4 Mpx work (the allocator makes it vary by ~0.5 GB).
# The estimates lie ~20 % above the measurements.
COLORIZE = Cost("colourising", fixed=400e6, per_pixel=16)
RECONSTRUCT = Cost("reconstructing", fixed=300e6, per_pixel=10, per_work_pixel=300)  # work_pixels: the tab's


class Budget:
    """Bytes in flight, admitted first come, first served. Thread-safe; `reserve` is the way to use it."""

    def __init__(self, total: int, wait: float = WAIT_SECONDS):
        self.total = int(total)
        self.wait = wait
        self.in_use = 0
        self.peak = 0  # the most ever in use at once
        self.waited = 0  # requests that had to wait
        self.refused = 0
        self._queue: collections.deque[object] = collections.deque()  # tickets of waiting requests, oldest first
        self._cond = threading.Condition()

    @classmethod
    def from_settings(cls, s: Settings) -> Budget:
        """The server's budget: settings.memory_budget GB (UNETLAB_MEMORY_BUDGET), or by default half the machine's
        memory (8 GB on a 16 GB Space): the other half holds the process itself (0.6 GB with every model loaded),
        live training jobs, and what the allocator keeps after a large image is freed."""
        return cls(int(s.memory_budget * GB) if s.memory_budget > 0 else machine_memory() // 2)

    def acquire(self, nbytes: int, what: str = "this request", advice: str = "") -> None:
        """Take nbytes, waiting in line while they do not fit; raise BudgetError if they never can or the wait is too
        long. what: the request, for the message ("colourising this 40 Mpx image"); advice: what a user can do."""
        nbytes = int(nbytes)
        if nbytes > self.total:
            with self._cond:
                self.refused += 1
            raise BudgetError(
                f"{what} needs about {nbytes / GB:.1f} GB of memory, more than the {self.total / GB:.1f} GB this "
                f"server lets all image work use at once (UNETLAB_MEMORY_BUDGET). {advice}".strip()
            )
        ticket = object()
        deadline = time.monotonic() + self.wait
        with self._cond:
            self._queue.append(ticket)
            try:
                if self._queue[0] is not ticket or self.in_use + nbytes > self.total:
                    self.waited += 1
                while self._queue[0] is not ticket or self.in_use + nbytes > self.total:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self.refused += 1
                        raise BudgetError(
                            f"the server is busy: {what} needs about {nbytes / GB:.1f} GB of memory, and other "
                            f"requests' images have used {self.in_use / GB:.1f} of its {self.total / GB:.1f} GB for "
                            f"the last {self.wait:g} s. Try again in a minute. {advice}".strip()
                        )
                    self._cond.wait(left)
                self.in_use += nbytes
                self.peak = max(self.peak, self.in_use)
            finally:
                self._queue.remove(ticket)
                self._cond.notify_all()  # the next in line may fit now, or be first now

    def release(self, nbytes: int) -> None:
        with self._cond:
            self.in_use -= int(nbytes)
            self._cond.notify_all()

    @contextmanager
    def reserve(self, nbytes: int, what: str = "this request", advice: str = "") -> Iterator[None]:
        """Hold nbytes of the budget for the block (see acquire); given back however the block ends."""
        self.acquire(nbytes, what, advice)
        try:
            yield
        finally:
            self.release(nbytes)
