"""CoderAI's Python SDK: `coderai.Client` for the whole researcher workflow from a notebook or a
script (coderai.client), the messages and gRPC stubs generated from protos/coderai/v1
(coderai.v1), and `coderai.channel.connect` to open a (TLS, API-key) channel to a server."""

from coderai.client import Client, CoderAIError, UploadOutcome

__all__ = ["Client", "CoderAIError", "UploadOutcome"]
