"""Sign-in throttles, shared by every server process through Redis, so that guessing passwords
is slow and cannot be used to load the servers.

- Per account (the lower-cased email, known or not, so that the throttle does not tell which
  emails have accounts): the first `signin_free_failures` wrong passwords pass; from then on
  each attempt makes the next one wait, the wait doubling from `signin_initial_delay_seconds`
  up to `signin_max_delay_seconds`. A refused attempt computes no hash and does not lengthen
  the wait. Short, growing delays rather than a lockout: an attacker cannot lock the owner out
  for longer than the longest delay beyond their own last attempt, and the per-address rate
  bounds how often one address can renew it. A successful sign-in, or
  `signin_failure_window_seconds` without an attempt, forgets the failures.
- Per client address (server.core.client_address): Login and Register calls, which each compute
  a password hash, and Refresh calls, at most so many per minute (GCRA, with a burst of one
  minute's worth), through the LLM gateway's rate limiter.

Attempts are counted when they start, atomically in Redis (a Lua script), so that concurrent
attempts in any number of processes cannot all slip past the threshold before one has failed.
"""

from __future__ import annotations

import hashlib

from redis.asyncio import Redis

from server.core.config import Settings
from server.core.errors import ResourceExhausted
from server.llm.ratelimit import RateLimiter, RateLimitTimeout

KEY_PREFIX = "coderai:auth:throttle:"

# KEYS[1]: the account's hash. ARGV: free failures, initial delay ms, longest delay ms, window
# ms. Returns the milliseconds to wait (the attempt was not counted), or 0: go ahead, counted.
_ACCOUNT_ATTEMPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local blocked_until = tonumber(redis.call('HGET', KEYS[1], 'blocked_until') or '0')
if blocked_until > now then
  return blocked_until - now
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local free = tonumber(ARGV[1])
local delay = 0
if failures >= free then
  delay = math.min(tonumber(ARGV[2]) * 2 ^ (failures - free), tonumber(ARGV[3]))
  redis.call('HSET', KEYS[1], 'blocked_until', math.floor(now + delay))
end
redis.call('PEXPIRE', KEYS[1], math.ceil(math.max(tonumber(ARGV[4]), delay)))
return 0
"""


class SignInThrottle:
    """The throttles of one deployment; every server process builds its own on the same Redis."""

    def __init__(self, redis: Redis, settings: Settings) -> None:
        self._redis = redis
        self._settings = settings
        self._account_attempt = redis.register_script(_ACCOUNT_ATTEMPT)

    async def password_attempt(self, client: str) -> None:
        """A Login or Register from `client`; ResourceExhausted when it has made too many."""
        per_minute = self._settings.signin_attempts_per_minute_per_address
        await self._per_minute("signin", "sign-in attempts", client, per_minute)

    async def refresh_attempt(self, client: str) -> None:
        per_minute = self._settings.refresh_per_minute_per_address
        await self._per_minute("refresh", "token refreshes", client, per_minute)

    async def account_attempt(self, email: str) -> None:
        """Counts a sign-in attempt for the account; ResourceExhausted, with the time left,
        while its failures make it wait."""
        settings = self._settings
        wait_ms = int(
            await self._account_attempt(
                keys=[self._account_key(email)],
                args=[
                    settings.signin_free_failures,
                    settings.signin_initial_delay_seconds * 1000,
                    settings.signin_max_delay_seconds * 1000,
                    settings.signin_failure_window_seconds * 1000,
                ],
            )
        )
        if wait_ms > 0:
            raise ResourceExhausted(
                f"too many failed sign-ins for this account; retry in {wait_ms / 1000:.1f} s",
                retry_after_seconds=wait_ms / 1000,
            )

    async def account_signed_in(self, email: str) -> None:
        """Forgets the account's failures."""
        await self._redis.delete(self._account_key(email))

    async def _per_minute(self, action: str, what: str, client: str, per_minute: int) -> None:
        if per_minute == 0:
            return
        limiter = RateLimiter(
            self._redis,
            # The limit is part of the name: processes configured differently must not share
            # one bucket (the limiter's state assumes one rate).
            f"{action}:{per_minute}:{client}",
            requests_per_minute=per_minute,
            tokens_per_minute=None,
            burst_seconds=60.0,
            key_prefix=KEY_PREFIX,
        )
        try:
            await limiter.acquire(max_wait=0)
        except RateLimitTimeout as refused:
            raise ResourceExhausted(
                f"too many {what} from your address; retry in {refused.retry_after_seconds:.1f} s",
                retry_after_seconds=refused.retry_after_seconds,
            ) from None

    @staticmethod
    def _account_key(email: str) -> str:
        # A digest: Redis need not hold the addresses of everyone who tried to sign in.
        digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
        return f"{KEY_PREFIX}account:{digest}"
