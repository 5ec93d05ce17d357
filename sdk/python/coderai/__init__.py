"""CoderAI's Python SDK: the messages and gRPC stubs generated from protos/coderai/v1, and
`coderai.channel.connect` to open a (TLS, API-key) channel to a server."""
