"""Sign-in cannot be used to guess passwords quickly or to slow the service: wrong passwords
for one account make it wait (in every server process alike), each client address has a rate of
attempts (the gateway's forwarded address believed only from trusted proxies), and a process
hashes a bounded number of passwords at once. Servers of their own with small limits; the
session's server has these limits off (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import grpc
import pytest
from coderai.v1 import auth_pb2, auth_pb2_grpc
from google.rpc import error_details_pb2
from redis.asyncio import Redis

from gateway.proxy import forwarded_for
from server.auth.throttle import SignInThrottle
from server.core.client_address import client_key, forwarded_client
from server.core.config import Settings
from server.core.db import Database
from server.core.errors import ResourceExhausted
from server.main import start_server
from tests.conftest import TEST_REDIS_URL
from tests.factories import PASSWORD, status_details
from tests.gateway.client import GrpcWebClient, base_url, local_gateway

if TYPE_CHECKING:
    from coderai.v1.auth_pb2_grpc import AuthServiceAsyncStub

WRONG = "not the password at all"
LOGIN = "/coderai.v1.AuthService/Login"
RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
# Per-address rates: each test's servers a rate of their own, so that they share no bucket
# with other tests (buckets are keyed by rate and address, and last a minute in Redis).
NO_ADDRESS_LIMIT = {"signin_attempts_per_minute_per_address": 0}


@dataclass(frozen=True)
class Server:
    target: str
    auth: AuthServiceAsyncStub


StartServer = Callable[..., Awaitable[Server]]


@pytest.fixture
async def start(settings: Settings, database: Database) -> AsyncIterator[StartServer]:
    """Starts servers on the session's database and Redis with settings overridden, each
    with a stub on its own connection."""
    stops: list[Callable[[], Awaitable[None]]] = []

    async def start_one(**overrides: Any) -> Server:
        running = await start_server(
            settings.model_copy(update=overrides),
            database,
            Redis.from_url(TEST_REDIS_URL),
            TEST_REDIS_URL,
            port=0,
        )
        stops.append(lambda: running.stop(grace=1))
        target = f"127.0.0.1:{running.port}"
        channel = grpc.aio.insecure_channel(target)
        stops.append(lambda: channel.close(None))
        return Server(target, auth_pb2_grpc.AuthServiceStub(channel))

    yield start_one
    for stop in reversed(stops):
        await stop()


async def outcome(call: Awaitable[Any]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def refusal(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    """The RESOURCE_EXHAUSTED error a call must end with."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    assert caught.value.code() == RESOURCE_EXHAUSTED, caught.value.details()
    return caught.value


def retry_delay(error: grpc.aio.AioRpcError) -> float:
    """The google.rpc.RetryInfo delay of a refused call, in seconds."""
    status = status_details(error)
    assert status is not None, "no google.rpc.Status details"
    for detail in status.details:
        retry = error_details_pb2.RetryInfo()
        if detail.Unpack(retry):
            return float(retry.retry_delay.ToTimedelta().total_seconds())
    raise AssertionError("no RetryInfo in the status details")


async def try_login(
    auth: AuthServiceAsyncStub, email: str, password: str = WRONG, forwarded: str | None = None
) -> grpc.StatusCode:
    """How a Login ends; `forwarded`: the x-forwarded-for header to send."""
    metadata = None if forwarded is None else [("x-forwarded-for", forwarded)]
    request = auth_pb2.LoginRequest(email=email, password=password)
    return await outcome(auth.Login(request, metadata=metadata))


async def registered(auth: AuthServiceAsyncStub) -> str:
    email = f"throttled-{uuid.uuid4().hex[:12]}@example.org"
    await auth.Register(auth_pb2.RegisterRequest(email=email, password=PASSWORD))
    return email


def random_address() -> str:
    """An address of the benchmarking range 198.18.0.0/15 that no other test uses now."""
    return str(ipaddress.IPv4Address("198.18.0.0") + random.randrange(2**17))


# --- per account ---------------------------------------------------------------------------


async def test_wrong_passwords_make_the_account_wait_and_the_right_one_works_after(
    start: StartServer,
) -> None:
    auth = (
        # A delay longer than a hash takes on a busy machine: the wait begins with the third
        # attempt, before its hash.
        await start(signin_free_failures=3, signin_initial_delay_seconds=10.0, **NO_ADDRESS_LIMIT)
    ).auth
    email = await registered(auth)

    first_three = [await try_login(auth, email) for _ in range(3)]
    refused = await refusal(auth.Login(auth_pb2.LoginRequest(email=email, password=PASSWORD)))

    assert first_three == [UNAUTHENTICATED] * 3
    delay = retry_delay(refused)
    assert 0 < delay <= 10.0
    assert "too many failed sign-ins" in (refused.details() or "")
    await asyncio.sleep(delay)
    signed_in = await auth.Login(auth_pb2.LoginRequest(email=email, password=PASSWORD))
    assert signed_in.tokens.access_token
    # The success forgot the failures: a wrong password is just wrong again.
    assert await try_login(auth, email) == UNAUTHENTICATED


async def test_an_unknown_email_is_throttled_like_a_known_one(start: StartServer) -> None:
    """Otherwise the throttle would tell which emails have accounts."""
    auth = (
        await start(signin_free_failures=2, signin_initial_delay_seconds=30.0, **NO_ADDRESS_LIMIT)
    ).auth
    known = await registered(auth)
    unknown = f"nobody-{uuid.uuid4().hex[:12]}@example.org"

    outcomes = {
        email: [await try_login(auth, email) for _ in range(3)] for email in (known, unknown)
    }

    assert outcomes[known] == outcomes[unknown] == [UNAUTHENTICATED] * 2 + [RESOURCE_EXHAUSTED]


async def test_two_servers_share_one_account_throttle_through_redis(start: StartServer) -> None:
    """Attempts on both servers at once count together: exactly the free ones get a password
    check, whichever server they reach."""
    limits = {"signin_free_failures": 3, "signin_initial_delay_seconds": 60.0}
    first = (await start(**limits, **NO_ADDRESS_LIMIT)).auth
    second = (await start(**limits, **NO_ADDRESS_LIMIT)).auth
    email = await registered(first)

    outcomes = await asyncio.gather(*(try_login(server, email) for server in [first, second] * 6))

    assert Counter(outcomes) == {UNAUTHENTICATED: 3, RESOURCE_EXHAUSTED: 9}
    request = auth_pb2.LoginRequest(email=email.upper(), password=PASSWORD)
    assert 0 < retry_delay(await refusal(second.Login(request))) <= 60


async def test_the_delay_doubles_up_to_the_longest_and_a_success_resets_it(
    settings: Settings, redis: Redis
) -> None:
    throttle = SignInThrottle(
        redis,
        settings.model_copy(
            update={
                "signin_free_failures": 2,
                "signin_initial_delay_seconds": 1.0,
                "signin_max_delay_seconds": 2.5,
            }
        ),
    )
    email = f"delays-{uuid.uuid4().hex[:12]}@example.org"

    async def refused_for() -> float:
        with pytest.raises(ResourceExhausted) as caught:
            await throttle.account_attempt(email)
        assert caught.value.retry_after_seconds is not None
        await asyncio.sleep(caught.value.retry_after_seconds)
        return caught.value.retry_after_seconds

    await throttle.account_attempt(email)
    delays = []
    for _ in range(3):
        await throttle.account_attempt(email)  # a failure: the next attempt waits
        delays.append(await refused_for())
    await throttle.account_signed_in(email)
    await throttle.account_attempt(email)

    assert 0.5 < delays[0] <= 1.0
    assert 1.5 < delays[1] <= 2.0
    assert 2.0 < delays[2] <= 2.5  # 4, capped


# --- per client address --------------------------------------------------------------------


async def test_a_trusted_proxy_forwards_the_address_that_is_throttled(start: StartServer) -> None:
    """Calls from loopback (trusted by default) are counted for the address they forward:
    Register and Login together, Refresh apart."""
    auth = (
        await start(signin_attempts_per_minute_per_address=3, refresh_per_minute_per_address=2)
    ).auth
    address, other = random_address(), random_address()
    metadata = [("x-forwarded-for", address)]
    email = f"proxied-{uuid.uuid4().hex[:12]}@example.org"

    await auth.Register(auth_pb2.RegisterRequest(email=email, password=PASSWORD), metadata=metadata)
    answered = [await try_login(auth, email, forwarded=address) for _ in range(2)]
    refused = await refusal(
        auth.Login(auth_pb2.LoginRequest(email=email, password=PASSWORD), metadata=metadata)
    )
    elsewhere = await try_login(auth, email, PASSWORD, forwarded=f"{address}, {other}")
    refreshes = [
        await outcome(auth.Refresh(auth_pb2.RefreshRequest(refresh_token="x"), metadata=metadata))
        for _ in range(3)
    ]

    assert answered == [UNAUTHENTICATED] * 2
    assert 0 < retry_delay(refused) <= 20  # one attempt in 60 s / 3
    assert "from your address" in (refused.details() or "")
    assert elsewhere == grpc.StatusCode.OK  # the right-most untrusted address is the client
    assert refreshes == [UNAUTHENTICATED, UNAUTHENTICATED, RESOURCE_EXHAUSTED]


async def test_the_forwarded_address_of_an_untrusted_peer_is_ignored(start: StartServer) -> None:
    auth = (await start(signin_attempts_per_minute_per_address=7, trusted_proxies=[])).auth

    outcomes = [
        await try_login(auth, f"x-{uuid.uuid4().hex}@example.org", forwarded=random_address())
        for _ in range(8)
    ]

    # Counted for 127.0.0.1 whatever the header says (at most 7 answered: another run of this
    # test within the minute may have used some of the address's attempts).
    assert outcomes[-1] == RESOURCE_EXHAUSTED
    assert set(outcomes) <= {UNAUTHENTICATED, RESOURCE_EXHAUSTED}


async def test_the_gateway_forwards_the_browsers_address(start: StartServer) -> None:
    """Through the grpc-web gateway: the browser (here behind a proxy of its own on loopback,
    which it names in x-forwarded-for) is throttled by its address, not the gateway's."""
    server = await start(signin_attempts_per_minute_per_address=2)
    gateway = await local_gateway(server.target)
    try:
        async with aiohttp.ClientSession() as http:
            browser = GrpcWebClient(http, base_url(gateway))
            address, other = random_address(), random_address()

            async def attempt(forwarded: str) -> grpc.StatusCode:
                reply = await browser.call(
                    LOGIN,
                    auth_pb2.LoginRequest(
                        email=f"g-{uuid.uuid4().hex}@example.org", password=WRONG
                    ),
                    headers={"X-Forwarded-For": forwarded},
                )
                return reply.code

            outcomes = [await attempt(address) for _ in range(3)]
            other_outcome = await attempt(other)
    finally:
        await gateway.stop()

    assert outcomes == [UNAUTHENTICATED, UNAUTHENTICATED, RESOURCE_EXHAUSTED]
    assert other_outcome == UNAUTHENTICATED


def test_the_gateway_appends_the_browsers_address_to_what_it_was_sent() -> None:
    class Browser:
        remote = "192.0.2.10"

    metadata = forwarded_for(
        [("authorization", "Bearer t"), ("x-forwarded-for", "203.0.113.9")],
        Browser(),  # type: ignore[arg-type]
    )

    assert metadata == [
        ("authorization", "Bearer t"),
        ("x-forwarded-for", "203.0.113.9, 192.0.2.10"),
    ]


@pytest.mark.parametrize(
    ("peer", "headers", "client"),
    [
        pytest.param("127.0.0.1", [], "127.0.0.1", id="no-header"),
        pytest.param("127.0.0.1", ["203.0.113.9"], "203.0.113.9", id="forwarded"),
        pytest.param("127.0.0.1", ["198.51.100.1, 203.0.113.9"], "203.0.113.9", id="spoofed-left"),
        pytest.param("127.0.0.1", ["203.0.113.9", "127.0.0.2"], "203.0.113.9", id="two-proxies"),
        pytest.param("127.0.0.1", ["garbage, 203.0.113.9"], "203.0.113.9", id="junk-left"),
        pytest.param("127.0.0.1", ["203.0.113.9, garbage"], "127.0.0.1", id="junk-right"),
        pytest.param("127.0.0.1", ["[2001:db8::1]:443"], "2001:db8::/64", id="ipv6-port"),
        pytest.param("192.0.2.1", ["203.0.113.9"], "192.0.2.1", id="untrusted-peer"),
    ],
)
def test_the_client_is_the_right_most_address_not_a_trusted_proxy(
    peer: str, headers: list[str], client: str
) -> None:
    trusted = [ipaddress.ip_network("127.0.0.0/8")]
    found = ipaddress.ip_address(peer)
    if any(found in network for network in trusted):
        found = forwarded_client(found, headers, trusted)
    assert client_key(found) == client


# --- password hashes at once ---------------------------------------------------------------


async def test_sign_ins_beyond_the_hashing_bound_are_refused_with_a_retry_delay(
    start: StartServer,
) -> None:
    """One hash at a time and one waiting: of 8 sign-ins at once, those that find the queue
    full are refused at once, the others are answered."""
    auth = (
        await start(
            password_hash_concurrency=1,
            password_hash_queue=1,
            password_hash_max_wait_seconds=0.5,
            **NO_ADDRESS_LIMIT,
        )
    ).auth
    calls = [
        auth.Login(auth_pb2.LoginRequest(email=f"h-{uuid.uuid4().hex}@example.org", password=WRONG))
        for _ in range(8)
    ]

    results = await asyncio.gather(*calls, return_exceptions=True)

    errors = [result for result in results if isinstance(result, grpc.aio.AioRpcError)]
    assert len(errors) == 8
    refused = [error for error in errors if error.code() == RESOURCE_EXHAUSTED]
    # The first always finds the slot free; arrivals spread out on a busy machine may find
    # the queue free again.
    assert 4 <= len(refused) <= 7
    assert all(error.code() in {RESOURCE_EXHAUSTED, UNAUTHENTICATED} for error in errors)
    assert "busy checking other passwords" in (refused[0].details() or "")
    assert retry_delay(refused[0]) == pytest.approx(0.5)
    # Once the burst is over, sign-in works again.
    assert await try_login(auth, f"h-{uuid.uuid4().hex}@example.org") == UNAUTHENTICATED
