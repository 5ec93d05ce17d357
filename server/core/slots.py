"""Limits on things held open at once (uploads in flight, open streams): per user, shared by
every server process through Redis, and per process.

A user's slots are members of a Redis sorted set scored by when their lease ends; a holder
renews its lease while it holds the slot, so a process that dies without releasing frees its
slots once their leases run out instead of locking the user out for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.asyncio import Redis

from server.core.errors import ResourceExhausted

# Drops expired leases, then takes a slot if one is free. KEYS[1]: the user's set;
# ARGV: now, lease end, limit, member, key expiry (seconds). Returns 1 when taken.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


@dataclass(frozen=True, slots=True)
class SlotLimits:
    """How many of a thing one user (across all processes) and one process may hold."""

    what: str  # plural noun for messages: "uploads in flight", "open streams"
    per_user: int
    per_process: int
    # The settings that set them, named in the refusals so that an operator knows what to raise.
    per_user_setting: str
    per_process_setting: str


class Slots:
    """Slots of one kind (`name`), e.g. uploads in flight."""

    def __init__(
        self,
        redis: Redis,
        name: str,
        limits: SlotLimits,
        *,
        lease_seconds: float = 60.0,
        retry_after_seconds: float = 5.0,
        redis_calls: int = 8,
    ) -> None:
        self._redis = redis
        # Many calls opened at once (a page of watchers) would each take a connection from
        # the client's pool for their round trip and exhaust it (redis-py refuses past 100):
        # a few at a time, each a short round trip.
        self._redis_calls = asyncio.Semaphore(redis_calls)
        self._name = name
        self._limits = limits
        self._lease_seconds = lease_seconds
        self._retry_after = retry_after_seconds
        self._in_process = 0
        self._take = redis.register_script(_TAKE)

    @property
    def in_process(self) -> int:
        """Slots this process holds now."""
        return self._in_process

    async def in_use(self, user_id: uuid.UUID) -> int:
        """Slots the user holds now, in every process."""
        key = self._key(user_id)
        await self._redis.zremrangebyscore(key, "-inf", time.time())
        return int(await self._redis.zcard(key))

    @contextlib.asynccontextmanager
    async def hold(self, user_id: uuid.UUID) -> AsyncIterator[None]:
        """Holds one slot for the block; ResourceExhausted (with a retry delay) when the user or
        this process has every slot taken."""
        limits = self._limits
        if self._in_process >= limits.per_process:
            raise ResourceExhausted(
                f"this server has {limits.per_process:,} {limits.what}, the most it allows "
                f"({limits.per_process_setting} is {limits.per_process:,}); "
                f"retry in {self._retry_after:.0f} s",
                retry_after_seconds=self._retry_after,
            )
        self._in_process += 1
        try:
            member = uuid.uuid4().hex
            key = self._key(user_id)
            async with self._redis_calls:
                taken = await self._take_slot(key, member)
            if not taken:
                raise ResourceExhausted(
                    f"you have {limits.per_user:,} {limits.what}, the most allowed "
                    f"({limits.per_user_setting} is {limits.per_user:,}); "
                    "retry when one has ended",
                    retry_after_seconds=self._retry_after,
                )
            renewal = asyncio.create_task(self._renew(key, member))
            try:
                yield
            finally:
                renewal.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await renewal
                # Shielded: a cancelled call must still give its slot back.
                await asyncio.shield(self._release(key, member))
        finally:
            self._in_process -= 1

    async def _take_slot(self, key: str, member: str) -> bool:
        now = time.time()
        taken = await self._take(
            keys=[key],
            args=[
                now,
                now + self._lease_seconds,
                self._limits.per_user,
                member,
                int(self._lease_seconds * 2) + 1,
            ],
        )
        return bool(taken)

    async def _release(self, key: str, member: str) -> None:
        async with self._redis_calls:
            await self._redis.zrem(key, member)

    async def _renew(self, key: str, member: str) -> None:
        while True:
            await asyncio.sleep(self._lease_seconds / 3)
            async with self._redis_calls:
                await self._redis.zadd(key, {member: time.time() + self._lease_seconds}, xx=True)
                await self._redis.expire(key, int(self._lease_seconds * 2) + 1)

    def _key(self, user_id: uuid.UUID) -> str:
        return f"coderai:slots:{self._name}:{user_id}"
