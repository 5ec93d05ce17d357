"""The LLM gateway: the one path every model call takes (models, structured output, retries,
circuit breaker, rate limit, usage and cost), plus prompt fencing and offline token counts."""
