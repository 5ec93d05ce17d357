"""The Taskiq broker: Redis Streams (acknowledged, redelivered after a worker dies), JSON.

The queue carries ids only; the state of every job lives in PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from redis.asyncio import Redis
from taskiq import AckableMessage, BrokerMessage
from taskiq.serializers import JSONSerializer
from taskiq_redis import RedisStreamBroker

from server.core.config import get_settings

# Messages kicked inside `ReclaimingStreamBroker.batched()`, as (stream, data).
_batch: ContextVar[list[tuple[str, bytes]] | None] = ContextVar("coderai_kick_batch", default=None)
# XADDs per pipeline when a batch is sent.
_PIPELINE_SIZE = 500


class ReclaimingStreamBroker(RedisStreamBroker):
    """taskiq-redis's stream broker with a recovery that works after a hard kill.

    In taskiq-redis 1.2.4, `listen()` reclaims messages left unacknowledged by a dead worker
    only right after new messages arrived, and under a lock without a timeout
    (taskiq-redis#129, #131): once a killed worker's prefetched tasks were the last ones,
    they stayed pending for ever. Here every pass (at least every `xread_block` ms) claims
    what has been idle past `idle_timeout`, with no lock: XAUTOCLAIM is atomic, and claiming
    resets a message's idle time, so two workers cannot take the same one at once. A task
    redelivered while its first worker still runs it is harmless: the job's work list lets
    one worker at a time hold a document.
    """

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        async with Redis(connection_pool=self.connection_pool) as redis:
            while True:
                fetched: Any = await redis.xreadgroup(
                    self.consumer_group_name,
                    self.consumer_name,
                    {self.queue_name: ">"},
                    block=self.block,
                    noack=False,
                    count=self.count,
                )
                for _stream, messages in fetched or []:
                    for message_id, fields in messages:
                        yield self._ackable(message_id, fields)
                claimed: Any = await redis.xautoclaim(
                    name=self.queue_name,
                    groupname=self.consumer_group_name,
                    consumername=self.consumer_name,
                    min_idle_time=self.idle_timeout,
                    count=self.unacknowledged_batch_size,
                )
                for message_id, fields in claimed[1]:
                    yield self._ackable(message_id, fields)

    async def kick(self, message: BrokerMessage) -> None:
        batch = _batch.get()
        if batch is None:
            await super().kick(message)
        else:
            batch.append((message.labels.get("queue_name") or self.queue_name, message.message))

    @asynccontextmanager
    async def batched(self) -> AsyncIterator[None]:
        """Tasks kicked inside the block are sent when it ends, in pipelines: a job's ten
        thousand tasks in a few round trips instead of ten thousand. Nothing is sent if the
        block raises."""
        batch: list[tuple[str, bytes]] = []
        token = _batch.set(batch)
        try:
            yield
        finally:
            _batch.reset(token)
        async with Redis(connection_pool=self.connection_pool) as redis:
            for start in range(0, len(batch), _PIPELINE_SIZE):
                async with redis.pipeline(transaction=False) as pipe:
                    for stream, data in batch[start : start + _PIPELINE_SIZE]:
                        pipe.xadd(
                            stream,
                            {b"data": data},
                            maxlen=self.maxlen,
                            approximate=self.approximate,
                        )
                    await pipe.execute()

    def _ackable(self, message_id: bytes, fields: dict[bytes, bytes]) -> AckableMessage:
        return AckableMessage(data=fields[b"data"], ack=self._acknowledge(message_id))

    def _acknowledge(self, message_id: bytes) -> Callable[[], Awaitable[None]]:
        async def acknowledge() -> None:
            async with Redis(connection_pool=self.connection_pool) as redis:
                await redis.xack(self.queue_name, self.consumer_group_name, message_id)

        return acknowledge


def build_broker(redis_url: str, queue_name: str | None = None) -> ReclaimingStreamBroker:
    settings = get_settings()
    broker = ReclaimingStreamBroker(
        url=redis_url,
        queue_name=queue_name or settings.task_queue_name,
        consumer_group_name="coderai-workers",
        # A message left unacknowledged this long (its worker died) is handed to another.
        idle_timeout=settings.task_redelivery_timeout_ms,
        # Each worker fetches no more than it runs at once, so that the others share the
        # work, and a killed worker strands few messages.
        xread_count=settings.worker_concurrency,
    )
    broker.with_serializer(JSONSerializer())
    return broker
