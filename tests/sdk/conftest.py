"""The job stack of tests/jobs (local LLM server, gRPC server, a real worker) for the Python
client and the command line."""

from __future__ import annotations

from tests.jobs.conftest import researcher, stack, stack_channel, worker

# Re-exported: pytest finds fixtures by name in this module.
__all__ = ["researcher", "stack", "stack_channel", "worker"]
