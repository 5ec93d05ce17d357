"""`coderai up`: the whole product on this machine, as `./scripts/run` starts it — a worker,
the gRPC server and the grpc-web gateway serving the web page — started and stopped together.

Each runs as a child process in a session of its own, so that Ctrl-C at the terminal reaches
this process alone and the stop is done in order rather than by every process at once: SIGTERM
to each (the worker hands back a document in flight, the server and the gateway finish the
calls in flight), then, after STOP_SECONDS, SIGKILL to whatever is left of each child's
process group (taskiq's worker processes may linger after SIGTERM: taskiq-python/taskiq#646).
When one child exits by itself, the others are stopped the same way and its status is ours.
A child also gets SIGTERM should this process die without stopping it (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from server.core.config import Settings, is_loopback

# How long a child may take to stop after SIGTERM before its process group is killed.
STOP_SECONDS = 5.0
# The server's grace for calls in flight when `coderai up` sets none: a stream held open by
# the web page would otherwise keep Ctrl-C waiting GRPC_SHUTDOWN_GRACE_SECONDS (10 s).
RUN_SHUTDOWN_GRACE_SECONDS = "3"
_PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


def run(settings: Settings, port: int | None, gateway_port: int | None, static: Path | None) -> int:
    """Starts the three, waits until one exits or a signal asks us to stop, stops them all;
    the exit status (0 after Ctrl-C or SIGTERM)."""
    environment = {"GRPC_SHUTDOWN_GRACE_SECONDS": RUN_SHUTDOWN_GRACE_SECONDS, **os.environ}
    settings = settings.model_copy(
        update={
            "grpc_port": settings.grpc_port if port is None else port,
            "gateway_port": settings.gateway_port if gateway_port is None else gateway_port,
        }
    )
    gateway = ["gateway", "--port", str(settings.gateway_port)]
    if "GATEWAY_BACKEND" not in os.environ:
        gateway += ["--backend", f"{_reachable(settings.grpc_listen_addr)}:{settings.grpc_port}"]
    if static is not None:
        gateway += ["--static", str(static)]
    stop_requested = threading.Event()
    signalled: list[int] = []

    def request_stop(signum: int, _frame: object) -> None:
        signalled.append(signum)
        stop_requested.set()

    previous = {
        signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    children: list[Child] = []
    try:
        for name, arguments in (
            ("worker", ["worker"]),
            ("gateway", gateway),
            ("server", ["serve", "--port", str(settings.grpc_port)]),
        ):
            children.append(Child(name, _start(arguments, environment)))
        _announce(settings, children)
        exited = _wait(children, stop_requested)
    finally:
        _stop(children)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if exited is not None and not signalled:
        status = exited.process.returncode
        print(f"coderai up: the {exited.name} exited with status {status}", file=sys.stderr)
        return status or 1
    return 0


def _reachable(listen_addr: str) -> str:
    """Where a process on this machine reaches a server listening on listen_addr."""
    if listen_addr in ("0.0.0.0", "::", "[::]") or is_loopback(listen_addr):  # noqa: S104
        return "127.0.0.1"
    return listen_addr


def _start(arguments: Sequence[str], environment: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "server.cli", *arguments],
        env=environment,
        stdin=subprocess.DEVNULL,
        # preexec_fn is safe here: this process runs no other thread.
        preexec_fn=_own_session_and_die_with_parent,
    )


def _own_session_and_die_with_parent() -> None:
    """In the child before it execs: a session (and process group) of its own, and SIGTERM
    when the parent dies."""
    os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _announce(settings: Settings, children: Sequence[Child]) -> None:
    processes = ", ".join(f"{child.name} {child.process.pid}" for child in children)
    lines = [
        f"coderai up: {processes}",
        f"  web page: http://{settings.gateway_host}:{settings.gateway_port}/",
        f"  gRPC: {settings.grpc_listen_addr}:{settings.grpc_port}",
    ]
    if settings.embedded_postgres or settings.embedded_redis:
        lines.append(
            f"  embedded PostgreSQL and Redis in {settings.data_dir}: they keep running after "
            "Ctrl-C, so the next start is quick; `coderai embedded status` shows them, "
            "`coderai embedded stop` stops them"
        )
    lines.append("  Ctrl-C stops the server, the gateway and the worker")
    print(*lines, sep="\n", flush=True)


def _wait(children: Sequence[Child], stop_requested: threading.Event) -> Child | None:
    """The child that exited first; None when a stop was requested."""
    while not stop_requested.wait(0.2):
        for child in children:
            if child.process.poll() is not None:
                return child
    return None


def _stop(children: Sequence[Child]) -> None:
    """SIGTERM to every child still running, then SIGKILL to each child's process group
    (its own children too) once it has exited or STOP_SECONDS have passed."""
    for child in children:
        if child.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=max(deadline - time.monotonic(), 0))
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.process.pid, signal.SIGKILL)
        if child.process.poll() is None:
            child.process.wait()
