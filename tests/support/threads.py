"""Running one function in several threads at once, as several Lambda containers would."""

from __future__ import annotations

import threading
from collections.abc import Callable


def in_threads(target: Callable[[int], object], count: int, *, timeout: float = 60) -> None:
    """Start ``target(0)`` … ``target(count - 1)`` together, each in its own thread, and wait for all of them."""
    threads = [threading.Thread(target=target, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
