"""The extraction stack of the job tests (local LLM server, gRPC server, real workers), for
exports of datasets that real jobs produced."""

from tests.jobs.conftest import researcher, stack, stack_channel, worker

__all__ = ["researcher", "stack", "stack_channel", "worker"]
