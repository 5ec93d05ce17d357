"""CoderAI's Python SDK: `coderai.Client` for the whole researcher workflow from a notebook or a
script (coderai.client), the messages and gRPC stubs generated from protos/coderai/v1
(coderai.v1), `coderai.channel.connect` to open a (TLS, API-key) channel to a server, and
`coderai.dollars` and `coderai.usd` to read and write a Money field's exact amount."""

from coderai.client import Client, CoderAIError, UploadOutcome
from coderai.money import dollars, usd

__all__ = ["Client", "CoderAIError", "UploadOutcome", "dollars", "usd"]
