"""Things built once per process (the analyser, the pattern lexicons, the place index, the
machine) and shared by every thread: the first caller builds, the others wait for it."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def once(build: Callable[[], T]) -> Callable[[], T]:
    """A getter that builds its value on the first call (under a lock) and returns it ever after."""
    lock = threading.Lock()
    box: list[T] = []

    def get() -> T:
        if not box:
            with lock:
                if not box:
                    box.append(build())
        return box[0]

    get.__doc__ = build.__doc__
    return get
