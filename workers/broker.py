"""The Taskiq broker: Redis Streams (acknowledged, redelivered after a worker dies), JSON.

The queue carries ids only; the state of every job lives in PostgreSQL.
"""

from __future__ import annotations

from taskiq.serializers import JSONSerializer
from taskiq_redis import RedisStreamBroker

from server.core.config import get_settings


def build_broker(redis_url: str, queue_name: str | None = None) -> RedisStreamBroker:
    return RedisStreamBroker(
        url=redis_url,
        queue_name=queue_name or get_settings().task_queue_name,
        consumer_group_name="coderai-workers",
        # A message left unacknowledged this long (its worker died) is handed to another.
        idle_timeout=get_settings().task_redelivery_timeout_ms,
    ).with_serializer(JSONSerializer())


# `coderai worker` sets REDIS_URL (embedded or not) before this module is imported.
broker = build_broker(get_settings().redis_url or "redis://127.0.0.1:6379/0")
