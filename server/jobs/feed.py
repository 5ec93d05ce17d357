"""Job events fanned out to watchers inside one server process.

Every watch of a stream in this process shares one reader: one blocking XREAD per watched
stream instead of one per watcher, and each event decoded once into one JobEvent that every
watcher gets (so that its response message is built once too: server.jobs.rpc). A watcher first
registers, then reads what it missed straight from the stream (XRANGE, no blocking), then takes
the reader's events, skipping ids it has seen: nothing is lost between the two. A watcher that
falls behind (its queue is full: a slow client) is not waited for; it catches up from the
stream itself, so it can stall neither the reader nor the other watchers.

An event is appended while its writer still holds the job's row, before its commit (that keeps
the stream in the order of the changes), so a watcher is handed it only once that writer is
done (the `settled` wait): a client that reads the job after an event sees the change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from server.jobs.events import JobEvent, JobEvents, id_key

log = logging.getLogger(__name__)

# Events a watcher may have waiting before it is left to catch up on its own.
_QUEUE_SIZE = 1000
# How long a reader blocks in one XREAD.
_BLOCK_MS = 5000
_CATCH_UP_BATCH = 1000


@dataclass(eq=False)
class _Watcher:
    queue: asyncio.Queue[JobEvent]
    lagging: bool = False


# Waits until the transactions that appended these events have ended.
Settled = Callable[[list[JobEvent]], Awaitable[None]]


@dataclass(eq=False)
class _Reader:
    settled: Settled
    watchers: set[_Watcher] = field(default_factory=set)
    task: asyncio.Task[None] | None = None


class EventFeed:
    def __init__(self, events: JobEvents, queue_size: int = _QUEUE_SIZE) -> None:
        self._events = events
        self._queue_size = queue_size
        self._readers: dict[str, _Reader] = {}

    async def follow(
        self, key: str, after: str, quiet_seconds: float, settled: Settled
    ) -> AsyncIterator[list[JobEvent]]:
        """Batches of the stream's events after `after`, in order, as they come, each once
        `settled` returned for it; an empty batch after each quiet spell of quiet_seconds (for
        the caller's own checks). Every watcher of a stream is its job's owner, so the
        reader waits with the `settled` of the watcher that started it."""
        watcher = _Watcher(asyncio.Queue(self._queue_size))
        reader = self._readers.get(key)
        if reader is None:
            # The reader starts where the stream is now, before any watcher of it catches up,
            # so that the two overlap (ids seen are skipped) instead of leaving a gap. Its
            # start is read before the reader is shared: a watcher that joined while the read
            # was in flight could catch up to an earlier point than the reader's start.
            start = await self._events.last_id(key)
            reader = self._readers.get(key)
            if reader is None:
                reader = self._readers[key] = _Reader(settled)
                reader.task = asyncio.create_task(self._read(key, reader, start))
        reader.watchers.add(watcher)
        try:
            last = after
            catching_up = True
            while True:
                # `while`: a watcher can fall behind again while it catches up.
                while catching_up or watcher.lagging:
                    # From the stream itself: registered first, so the queue holds whatever
                    # comes meanwhile.
                    catching_up = watcher.lagging = False
                    while True:
                        missed = await self._events.range_after(key, last, _CATCH_UP_BATCH)
                        if missed:
                            await _settle(settled, missed)
                            last = missed[-1].id
                            yield missed
                        if len(missed) < _CATCH_UP_BATCH:
                            break
                try:
                    # Not wait_for: it wraps the get in a task of its own, for every batch of
                    # every watcher.
                    async with asyncio.timeout(quiet_seconds):
                        first = await watcher.queue.get()
                except TimeoutError:
                    yield []
                    continue
                batch = [first]
                while not watcher.queue.empty():
                    batch.append(watcher.queue.get_nowait())
                fresh = _after(batch, last)
                if fresh:
                    last = fresh[-1].id
                    yield fresh
        finally:
            reader.watchers.discard(watcher)
            if not reader.watchers and reader.task is not None:
                reader.task.cancel()
                self._readers.pop(key, None)

    async def _read(self, key: str, reader: _Reader, after: str) -> None:
        """Reads the stream after `after` and hands each event to every watcher."""
        while reader.watchers:
            try:
                events = await self._events.read_after(key, after, _BLOCK_MS)
            except asyncio.CancelledError:
                raise
            except Exception:  # a Redis hiccup must not end every watch of the stream
                log.exception("reading %s failed; retrying", key)
                await asyncio.sleep(1)
                continue
            if events:
                await _settle(reader.settled, events)
            for event in events:
                after = event.id
                for watcher in list(reader.watchers):
                    if watcher.lagging:
                        continue
                    try:
                        watcher.queue.put_nowait(event)
                    except asyncio.QueueFull:
                        watcher.lagging = True
                        with contextlib.suppress(asyncio.QueueEmpty):
                            while True:
                                watcher.queue.get_nowait()


async def _settle(settled: Settled, events: list[JobEvent]) -> None:
    """Waits for the events' writers; if that wait fails, the events go out anyway: late
    reads of the job are better than a watch that stalls."""
    try:
        await settled(events)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("waiting for the writers of %d events failed; sending them", len(events))


def _after(events: list[JobEvent], last: str) -> list[JobEvent]:
    """The events after `last`. The queue holds the stream's events in order, so those a
    watcher already read while catching up are a prefix: usually none, and one comparison."""
    last_key = id_key(last)
    for index, event in enumerate(events):
        if id_key(event.id) > last_key:
            return events[index:] if index else events
    return []
