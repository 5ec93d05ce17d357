"""Background tasks. Each calls a service; none runs SQL of its own."""

from __future__ import annotations

from workers.broker import broker


@broker.task(task_name="coderai.ping")
async def ping(message: str) -> str:
    """Answers its message back: a worker's liveness check through the real queue."""
    return f"pong: {message}"
