"""What tokens cost, from the price table in settings (LLM_PRICES)."""

from __future__ import annotations

from collections.abc import Mapping

from server.core.config import ModelPrice

_PER_TOKENS = 1_000_000


def price_for(prices: Mapping[str, ModelPrice], model: str) -> ModelPrice | None:
    """The model's price; a dated snapshot ("gpt-4o-mini-2024-07-18") takes its family's price
    unless the table names the snapshot itself."""
    if model in prices:
        return prices[model]
    family = max((name for name in prices if model.startswith(name + "-")), key=len, default=None)
    return prices[family] if family is not None else None


def cost_usd(
    prices: Mapping[str, ModelPrice],
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    cached_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> float | None:
    """Cost in US dollars; None when the model has no price (unknown, not free). Of the
    prompt tokens, `cached_tokens` were read from the provider's prompt cache and
    `cache_write_tokens` written to it."""
    price = price_for(prices, model)
    if price is None:
        return None
    cached_price = price.input if price.cached_input is None else price.cached_input
    write_price = price.input if price.cache_write is None else price.cache_write
    uncached = max(0, prompt_tokens - cached_tokens - cache_write_tokens)
    return (
        uncached * price.input
        + cached_tokens * cached_price
        + cache_write_tokens * write_price
        + completion_tokens * price.output
    ) / _PER_TOKENS
