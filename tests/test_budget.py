"""The memory budget: admission in order, waits while full, refusals with a message, releases however a block ends."""

import random
import threading
import time
from dataclasses import replace

import pytest

from unetlab import budget
from unetlab.budget import Budget, BudgetError


def _start(target) -> threading.Thread:
    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t


def _until(cond, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def test_waits_while_full_and_proceeds_when_memory_is_released():
    b = Budget(100, wait=10)
    b.acquire(80)
    admitted = threading.Event()

    def second():
        with b.reserve(30):
            admitted.set()

    t = _start(second)
    time.sleep(0.3)
    assert not admitted.is_set() and b.in_use == 80 and b.waited == 1  # 80 + 30 > 100: it waits
    b.release(80)
    assert admitted.wait(5)
    t.join(5)
    assert b.in_use == 0 and b.peak == 80


def test_a_request_larger_than_the_whole_budget_is_refused_at_once_with_what_to_do():
    b = Budget(int(2e9), wait=10)
    t = time.monotonic()
    with pytest.raises(BudgetError, match=r"colourising this 40\.0 Mpx image needs about 3\.0 GB.*2\.0 GB") as e:
        b.acquire(int(3e9), "colourising this 40.0 Mpx image", "Downscale it to at most 25 Mpx.")
    assert time.monotonic() - t < 1 and "UNETLAB_MEMORY_BUDGET" in str(e.value) and "Downscale" in str(e.value)
    assert b.in_use == 0 and b.refused == 1


def test_a_request_that_waited_too_long_is_refused_and_leaves_nothing_behind():
    b = Budget(100, wait=0.3)
    b.acquire(90)
    with pytest.raises(BudgetError, match="busy.*Try again"):
        b.acquire(20)
    assert b.in_use == 90 and not b._queue  # its place in line is gone: the next request is not held up by it
    b.release(90)
    with b.reserve(100):
        assert b.in_use == 100


def test_released_when_the_block_raises():
    b = Budget(100)
    with pytest.raises(RuntimeError, match="model failed"):
        with b.reserve(60):
            assert b.in_use == 60
            raise RuntimeError("model failed")
    assert b.in_use == 0
    with b.reserve(100):  # the whole budget is there again
        pass


def test_first_come_first_served_a_large_request_is_not_overtaken():
    b = Budget(100, wait=10)
    b.acquire(60)
    order = []

    def request(name, nbytes):
        with b.reserve(nbytes):
            order.append(name)

    big = _start(lambda: request("big", 50))  # does not fit yet: waits
    assert _until(lambda: len(b._queue) == 1)
    small = _start(lambda: request("small", 10))  # would fit now, but the big one came first
    assert _until(lambda: len(b._queue) == 2)
    time.sleep(0.2)
    assert order == []
    b.release(60)
    big.join(5)
    small.join(5)
    assert order == ["big", "small"]


def test_concurrent_threads_never_exceed_the_budget():
    total = 1000
    b = Budget(total, wait=30)
    held = [0]  # what the threads hold by their own count, not the budget's
    most = [0]
    lock = threading.Lock()

    def worker(seed):
        rng = random.Random(seed)
        for _ in range(25):
            n = rng.randint(1, total)
            with b.reserve(n):
                with lock:
                    held[0] += n
                    most[0] = max(most[0], held[0])
                time.sleep(rng.random() * 0.003)
                with lock:
                    held[0] -= n

    threads = [_start(lambda s=s: worker(s)) for s in range(12)]
    for t in threads:
        t.join(60)
    assert most[0] <= total and b.peak <= total and b.in_use == 0
    assert b.waited > 0 and most[0] > total // 2  # it was contended, and not admitted one at a time


def test_cost_estimate_and_the_largest_image_that_fits():
    c = budget.Cost("reconstructing", fixed=100, per_pixel=2, per_work_pixel=10, work_pixels=50)
    assert c(10) == 100 + 20 + 100 and c(1000) == 100 + 2000 + 500
    assert c.max_pixels(c(777)) == 777 and c.max_pixels(99) == 0
    # the shipped estimates: 40 Mpx uploads to both tabs fit twice over in a 16 GB Space's budget (half of it)
    reconstruct = replace(budget.RECONSTRUCT, work_pixels=4_000_000)  # the tab's default
    assert 2 * (budget.COLORIZE(40_000_000) + reconstruct(40_000_000)) < 8e9
    assert budget.COLORIZE(40_000_000) > 857e6 and reconstruct(4_000_000) > 1436e6  # above what was measured
