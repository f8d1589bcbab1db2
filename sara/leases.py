"""Per-thread resources (database connections) that outlive their thread.

A server's thread pool grows under load and lets idle threads go; a resource kept in plain
thread-local storage is made again for every new thread and dropped with every old one, and
that churn keeps a long-running process growing. Here a thread that ends hands its resource
back, and the next new thread takes it instead of making one: once warm, none is made."""

from __future__ import annotations

import threading
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(eq=False)
class _Lease(Generic[T]):
    """A resource held by one thread (kept in its thread-local storage)."""

    value: T


class ThreadLeases(Generic[T]):
    """One resource per live thread, recycled when its thread ends. A resource is only ever
    used by one thread at a time, but not always by the thread that made it."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._idle: deque[T] = deque()

    def get(self, make: Callable[[], T]) -> T:
        """This thread's resource: one handed back by a thread that ended, else ``make()``."""
        lease = getattr(self._local, "lease", None)
        if lease is None:
            try:
                value = self._idle.pop()
            except IndexError:
                value = make()
            lease = _Lease(value)
            # Runs when the thread's locals go, i.e. when the thread ends.
            weakref.finalize(lease, _hand_back, weakref.ref(self), value, self._local)
            self._local.lease = lease
        return lease.value

    def drop(self) -> list[T]:
        """Forget every resource (for a close): the idle ones are returned, for the caller to
        close; those still held by threads are not handed back when the threads end."""
        self._local = threading.local()
        idle = list(self._idle)
        self._idle.clear()
        return idle


def _hand_back(owner: weakref.ref[ThreadLeases[T]], value: T, local: threading.local) -> None:
    leases = owner()
    if leases is not None and leases._local is local:
        leases._idle.append(value)
