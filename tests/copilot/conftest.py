"""The extraction stack of the job tests (local LLM server, gRPC server, real workers): the
values measured here come from real jobs."""

from tests.jobs.conftest import researcher, stack, stack_channel, worker

__all__ = ["researcher", "stack", "stack_channel", "worker"]
