"""Per-thread resources handed on from threads that ended."""

from __future__ import annotations

import gc
import threading

from sara.leases import ThreadLeases


class Made:
    count = 0

    def __init__(self) -> None:
        Made.count += 1
        self.n = Made.count


def in_thread(leases: ThreadLeases[Made], hold: threading.Event | None = None) -> Made:
    got: list[Made] = []
    ready = threading.Event()

    def run() -> None:
        got.append(leases.get(Made))
        assert leases.get(Made) is got[0]  # the same one for the thread's whole life
        ready.set()
        if hold is not None:
            hold.wait()

    thread = threading.Thread(target=run)
    thread.start()
    ready.wait()
    if hold is None:
        thread.join()
        gc.collect()
    return got[0]


def test_a_thread_that_ends_hands_its_resource_to_the_next() -> None:
    Made.count = 0
    leases: ThreadLeases[Made] = ThreadLeases()
    first = in_thread(leases)
    assert [in_thread(leases) for _ in range(20)] == [first] * 20
    assert Made.count == 1


def test_live_threads_never_share_a_resource() -> None:
    Made.count = 0
    leases: ThreadLeases[Made] = ThreadLeases()
    in_thread(leases)  # one idle resource to hand on
    hold = threading.Event()
    held = [in_thread(leases, hold) for _ in range(3)]
    assert len({id(m) for m in held}) == 3 and Made.count == 3
    assert leases.get(Made) not in held  # nor the thread asking here
    hold.set()


def test_after_drop_nothing_comes_back() -> None:
    Made.count = 0
    leases: ThreadLeases[Made] = ThreadLeases()
    hold = threading.Event()
    held = in_thread(leases, hold)
    idle = in_thread(leases)
    assert leases.drop() == [idle]
    hold.set()
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    gc.collect()
    assert in_thread(leases) not in (held, idle)
