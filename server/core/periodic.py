"""Background chores every server runs now and then (sweeping expired rows): each is
idempotent, so any number of servers may run it at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("coderai.periodic")


async def run_periodically(what: str, interval: float, chore: Callable[[], Awaitable[int]]) -> None:
    """Runs `chore` now and every `interval` seconds until cancelled; it returns how many
    things it did (logged when any). A failure is logged and retried at the next interval."""
    while True:
        try:
            done = await chore()
            if done:
                log.info("%s: %d", what, done)
        except Exception as error:  # noqa: BLE001 - retried at the next interval
            log.warning("%s failed: %s", what, error)
        await asyncio.sleep(interval)
