"""What a long-running process (the gRPC server, a worker) does once it has started."""

from __future__ import annotations

import gc


def freeze_what_startup_built() -> None:
    """What the process has built by now (modules, clients, services) lives as long as it
    does: frozen, it is left out of the garbage collector's full passes. Walking its 350,000
    objects took 0.2 s here, a stall of the event loop, and of every call in flight, that came
    back every few thousand allocations' worth of work."""
    gc.collect()
    gc.freeze()
