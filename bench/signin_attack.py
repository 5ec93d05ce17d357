"""Sign-in attack benchmark: does a flood of wrong-password logins slow everyone else down?

The script starts its own server (a fresh database on the local PostgreSQL, `coderai serve` as a
subprocess, the local Redis; see bench/crud_latency.py), registers a victim account and an
unrelated researcher, then measures the researcher's GetMe latency (one call after another,
`--pause` apart) first while nothing else happens and then during each attack:

  one account      --attempts wrong-password Logins for the victim's email, --concurrency at a
                   time, all from this machine's address (what issue 13 reported);
  many accounts    the same number of wrong-password Logins, each for a different email and
                   forwarded for a different client address (x-forwarded-for, which the server
                   trusts from loopback by default), so that no per-account or per-address limit
                   applies and only the bound on password hashes at once protects the server.

For each attack it prints how many attempts ended with each status (RESOURCE_EXHAUSTED,
UNAUTHENTICATED, ...), how long the attack took, and GetMe's median, p95 and max.

`--server-root PATH` runs the server from another checkout (e.g. a `git worktree` of the code
before a change) with this virtualenv; the script itself only uses RPCs every version has.

    .venv/bin/python -m bench.signin_attack [--attempts 1000] [--concurrency 16] [--server-root DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import grpc
from coderai.v1 import auth_pb2, auth_pb2_grpc

if TYPE_CHECKING:
    from coderai.v1.auth_pb2_grpc import AuthServiceAsyncStub

from bench.crud_latency import (
    REPOSITORY,
    free_port,
    fresh_database,
    patiently,
    process_cpu_seconds,
    server_environment,
    serving,
    wait_until_serving,
)

PASSWORD = "benchmark password 0123"
WRONG_PASSWORD = "not the password at all"
CALL_TIMEOUT_SECONDS = 60.0
QUIET_SECONDS = 5.0


@dataclass
class Latencies:
    """GetMe latencies (ms) over one stretch of time."""

    samples: list[float] = field(default_factory=list)

    def summary(self) -> str:
        if not self.samples:
            return "no GetMe call completed"
        data = sorted(self.samples)
        p95 = (
            statistics.quantiles(data, n=100, method="inclusive")[94] if len(data) > 1 else data[0]
        )
        return (
            f"GetMe n={len(data)} median {statistics.median(data):.1f} ms, "
            f"p95 {p95:.1f} ms, max {data[-1]:.1f} ms"
        )


@dataclass
class Attack:
    name: str
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    seconds: float = 0.0
    server_cpu_seconds: float | None = None
    latencies: Latencies = field(default_factory=Latencies)


async def measure_get_me(
    auth: AuthServiceAsyncStub,
    metadata: tuple[tuple[str, str], ...],
    latencies: Latencies,
    stop: asyncio.Event,
    pause: float,
) -> None:
    """GetMe one call after another until `stop` is set."""
    while not stop.is_set():
        started = time.perf_counter()
        await auth.GetMe(auth_pb2.GetMeRequest(), metadata=metadata, timeout=CALL_TIMEOUT_SECONDS)
        latencies.samples.append((time.perf_counter() - started) * 1000)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)


async def attack(
    attack_run: Attack,
    login: Callable[[int], Awaitable[object]],
    attempts: int,
    concurrency: int,
    measured: Callable[[Latencies, asyncio.Event], Coroutine[Any, Any, None]],
    server_pid: int | None,
) -> None:
    """`attempts` calls of `login(i)`, `concurrency` at a time, while GetMe is measured."""
    numbers = iter(range(attempts))
    stop = asyncio.Event()

    async def attacker() -> None:
        for number in numbers:
            try:
                await login(number)
                attack_run.statuses["OK"] += 1
            except grpc.aio.AioRpcError as error:
                attack_run.statuses[error.code().name] += 1

    cpu_before = process_cpu_seconds(server_pid)
    started = time.perf_counter()
    measuring = asyncio.create_task(measured(attack_run.latencies, stop))
    await asyncio.gather(*(attacker() for _ in range(concurrency)))
    attack_run.seconds = time.perf_counter() - started
    stop.set()
    await measuring
    cpu_after = process_cpu_seconds(server_pid)
    if cpu_before is not None and cpu_after is not None:
        attack_run.server_cpu_seconds = cpu_after - cpu_before


async def sign_up(auth: AuthServiceAsyncStub, email: str) -> auth_pb2.LoginResponse:
    """Registers (a no-op when the email is taken) and signs in, waiting out throttles (other
    programs on this machine sign in from 127.0.0.1 too)."""
    await patiently(
        lambda: auth.Register(
            auth_pb2.RegisterRequest(email=email, password=PASSWORD), timeout=CALL_TIMEOUT_SECONDS
        )
    )
    response: auth_pb2.LoginResponse = await patiently(
        lambda: auth.Login(
            auth_pb2.LoginRequest(email=email, password=PASSWORD), timeout=CALL_TIMEOUT_SECONDS
        )
    )
    return response


async def benchmark(
    target: str, options: argparse.Namespace, server_pid: int | None
) -> list[Attack]:
    run_id = uuid.uuid4().hex[:8]
    async with (
        grpc.aio.insecure_channel(target) as researcher_channel,
        grpc.aio.insecure_channel(
            target, options=[("grpc.use_local_subchannel_pool", 1)]
        ) as attacker_channel,
    ):
        researcher: AuthServiceAsyncStub = auth_pb2_grpc.AuthServiceStub(researcher_channel)
        attacker: AuthServiceAsyncStub = auth_pb2_grpc.AuthServiceStub(attacker_channel)
        victim_email = f"victim-{run_id}@example.org"
        await sign_up(attacker, victim_email)
        signed_in = await sign_up(researcher, f"researcher-{run_id}@example.org")
        metadata = (("authorization", f"Bearer {signed_in.tokens.access_token}"),)

        def measured(latencies: Latencies, stop: asyncio.Event) -> Coroutine[Any, Any, None]:
            return measure_get_me(researcher, metadata, latencies, stop, options.pause)

        quiet = Attack("no-attack")
        stop = asyncio.Event()
        measuring = asyncio.create_task(measured(quiet.latencies, stop))
        await asyncio.sleep(QUIET_SECONDS)
        stop.set()
        await measuring
        quiet.seconds = QUIET_SECONDS

        def one_account(number: int) -> Awaitable[object]:
            return attacker.Login(
                auth_pb2.LoginRequest(email=victim_email, password=WRONG_PASSWORD),
                timeout=CALL_TIMEOUT_SECONDS,
            )

        def many_accounts(number: int) -> Awaitable[object]:
            address = f"198.18.{number // 250}.{number % 250 + 1}"  # RFC 2544 benchmarking range
            return attacker.Login(
                auth_pb2.LoginRequest(
                    email=f"guess-{run_id}-{number}@example.org", password=WRONG_PASSWORD
                ),
                metadata=(("x-forwarded-for", address),),
                timeout=CALL_TIMEOUT_SECONDS,
            )

        runs = [quiet]
        attacks = {"one-account": one_account, "many-accounts": many_accounts}
        for name in options.attacks:
            run = Attack(name)
            await attack(
                run, attacks[name], options.attempts, options.concurrency, measured, server_pid
            )
            print(f"  {name}: done in {run.seconds:.1f} s", file=sys.stderr, flush=True)
            runs.append(run)
        return runs


@contextlib.contextmanager
def server_process(
    owner_url: str, port: int, log: IO[bytes], scratch: str, root: Path
) -> Iterator[subprocess.Popen[bytes]]:
    environment = server_environment(owner_url)
    # The checkout's own `server` package ahead of the installed one.
    environment["PYTHONPATH"] = str(root)
    with serving(environment, port, log, scratch, (sys.executable, "-m", "server.cli")) as server:
        yield server


async def main(options: argparse.Namespace) -> None:
    root: Path = options.server_root
    load_before = " ".join(f"{value:.2f}" for value in os.getloadavg())
    with tempfile.TemporaryDirectory(prefix="coderai-bench-") as scratch:
        log_path = Path(scratch) / "server.log"
        async with fresh_database() as owner_url:
            port = free_port()
            target = f"127.0.0.1:{port}"
            with (
                log_path.open("wb") as log,
                server_process(owner_url, port, log, scratch, root) as server,
            ):
                try:
                    await wait_until_serving(target, server)
                    runs = await benchmark(target, options, server.pid)
                except BaseException:
                    print(log_path.read_text(errors="replace")[-4000:], file=sys.stderr)
                    raise
    load_after = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"server: {root} (coderai serve, default settings); nproc {os.cpu_count()}")
    print(f"load average before {load_before}, after {load_after} (1/5/15 min)")
    print(
        f"attacks: {options.attempts} wrong-password Logins, {options.concurrency} at a time; "
        f"GetMe every {options.pause * 1000:.0f} ms on its own connection"
    )
    for run in runs:
        statuses = ", ".join(f"{name} {count}" for name, count in sorted(run.statuses.items()))
        cpu = (
            "" if run.server_cpu_seconds is None else f", server CPU {run.server_cpu_seconds:.1f} s"
        )
        took = f"{run.seconds:.1f} s{cpu}"
        print(f"- {run.name}: {took}; {statuses or '-'}; {run.latencies.summary()}")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--pause", type=float, default=0.02, help="seconds between GetMe calls (default 0.02)"
    )
    parser.add_argument(
        "--attacks",
        nargs="+",
        choices=["one-account", "many-accounts"],
        default=["one-account", "many-accounts"],
    )
    parser.add_argument(
        "--server-root", type=Path, default=REPOSITORY, help="checkout to run the server from"
    )
    options = parser.parse_args()
    options.server_root = options.server_root.resolve()
    return options


if __name__ == "__main__":
    asyncio.run(main(parse_arguments()))
