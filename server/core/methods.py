"""Which RPCs change data, told from their names: the one place that decides what a read-only
API key may call. The proto methods follow AIP naming, so the verb says it; a test checks
every method of every service against this rule, so a new one cannot slip through unclassified.
"""

from __future__ import annotations

# Methods whose names start with these change nothing (they may still be expensive to run).
READ_VERBS = ("Get", "List", "Watch", "Download", "Estimate", "Preview", "Suggest", "Compare")


def changes_data(method: str) -> bool:
    """Whether the method may change data; `method` is a full gRPC path or a bare name."""
    name = method.rsplit("/", 1)[-1]
    return not name.startswith(READ_VERBS)
