"""Client streams that cannot hold the server for ever: each message must arrive in time."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

T = TypeVar("T")


async def idle_limited(
    messages: AsyncIterator[T], idle_seconds: float, stalled: Callable[[], Exception]
) -> AsyncIterator[T]:
    """The messages, each awaited at most idle_seconds; when one is late, the read is cancelled
    and `stalled()` is raised instead, so the call ends and frees what it holds."""
    while True:
        try:
            async with asyncio.timeout(idle_seconds):
                message = await anext(messages)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise stalled() from None
        yield message
