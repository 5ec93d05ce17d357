"""Password hashing off the event loop, a bounded number at once per process.

An argon2 hash (argon2-cffi's default RFC 9106 "low memory" profile: 3 passes over 64 MiB in 4
lanes) takes about 0.2 CPU-seconds; unbounded, a burst of sign-ins takes every core and the
memory of as many hashes, and every other call waits. Here at most `password_hash_concurrency`
hashes run at once, in a thread pool of their own (the default executor stays free for other
work); up to `password_hash_queue` calls wait for a turn for at most
`password_hash_max_wait_seconds`, and the rest are answered RESOURCE_EXHAUSTED with a retry
delay at once. The profile is kept: the bound, not weaker hashes, protects the server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NoReturn, TypeVar

from server.core.config import Settings
from server.core.errors import ResourceExhausted
from server.core.security import hash_password, verify_password

T = TypeVar("T")


class PasswordHashing:
    """Hashes and verifies passwords, `concurrency` at a time in this process."""

    def __init__(self, concurrency: int, max_waiting: int, max_wait_seconds: float) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._max_waiting = max_waiting
        self._max_wait = max_wait_seconds
        self._waiting = 0
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="password-hash")

    @classmethod
    def from_settings(cls, settings: Settings) -> PasswordHashing:
        return cls(
            settings.password_hash_concurrency,
            settings.password_hash_queue,
            settings.password_hash_max_wait_seconds,
        )

    async def hash(self, password: str) -> str:
        return await self._run(hash_password, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """See server.core.security.verify_password: an unknown account (None) costs a hash too."""
        return await self._run(verify_password, password_hash, password)

    async def _run(self, function: Callable[..., T], *args: object) -> T:
        await self._take_slot()
        loop = asyncio.get_running_loop()
        try:
            work = self._executor.submit(function, *args)
        except BaseException:
            self._slots.release()
            raise

        # The slot is given back when the hash is done, not when the caller stops waiting: a
        # cancelled call's hash still runs to its end (a thread cannot be stopped).
        def give_back(_: Future[T]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
                loop.call_soon_threadsafe(self._slots.release)

        work.add_done_callback(give_back)
        return await asyncio.wrap_future(work)

    async def _take_slot(self) -> None:
        if self._slots.locked() and self._waiting >= self._max_waiting:
            self._refuse()
        self._waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), self._max_wait)
        except TimeoutError:
            self._refuse()
        finally:
            self._waiting -= 1

    def _refuse(self) -> NoReturn:
        raise ResourceExhausted(
            f"the server is busy checking other passwords; retry in {self._max_wait:.0f} s",
            retry_after_seconds=self._max_wait,
        )
