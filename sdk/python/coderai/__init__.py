"""CoderAI's Python SDK: the messages and gRPC stubs generated from protos/coderai/v1."""
