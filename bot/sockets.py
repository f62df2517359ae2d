"""One check shared by the kept-alive connections (to LINE, and the threads' own to Redis)."""
from __future__ import annotations

import select


def idle_but_readable(sock) -> bool:
    """An idle kept-alive connection that reads as ready has been closed by the other side
    (or holds bytes nobody asked for): either way, not to be used again. One poll, no wait."""
    try:
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True
